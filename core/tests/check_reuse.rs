//! A render's check reads the trees the render already holds (see `check::Parsed`): over the
//! shared corpus and the examples, with every wiring on and with each example's own config, the
//! findings in the report are exactly those of `postwire check` on the rendered output.

mod common;

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

fn findings_agree(name: &str, manifests: &str, config: &std::path::Path) -> usize {
    let mut request = RenderRequestV1::new(manifests);
    request.config =
        Some(ConfigFileV1 { name: config.display().to_string(), content: std::fs::read_to_string(config).unwrap() });
    request.context.namespace = Some("default".into());
    let Ok(out) = postwire_core::render(&request) else {
        return 0;
    };
    let mut reported = out.report.findings();
    let mut fresh: Vec<String> = postwire_core::check::check(&out.manifests, Some("default"))
        .unwrap()
        .iter()
        .map(postwire_core::check::Finding::line)
        .collect();
    reported.sort();
    fresh.sort();
    assert_eq!(reported, fresh, "{name} with {}", config.display());
    fresh.len()
}

#[test]
fn render_findings_are_those_of_a_fresh_check() {
    let Some(shared) = common::shared("render_findings_are_those_of_a_fresh_check") else {
        return;
    };
    let every = shared.join("bench/every-wiring.yaml");
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut configs = vec![every];
    for e in ["livechat", "robot-shop", "fastapi-gitops-starter"] {
        configs.push(examples.join(e).join("postwire.yaml"));
    }
    let (mut streams, mut findings) = (0, 0);
    for path in common::corpus_files(&shared) {
        let text = std::fs::read_to_string(&path).unwrap();
        for config in configs.iter().filter(|c| c.exists()) {
            findings += findings_agree(&path.display().to_string(), &text, config);
        }
        streams += 1;
    }
    assert!(streams >= 10, "the corpus has {streams} streams");
    assert!(findings > 0, "no finding to compare");
}
