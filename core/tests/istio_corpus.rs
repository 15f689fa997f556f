//! Fidelity over the real third-party manifests in `../shared/corpus` with the `istio` wiring
//! on for every Service (`name: "*"`): documents it does not target come out byte-identical,
//! Services and the workloads behind them change only by the lines the wiring adds (or the
//! `- key:` line whose dash moves to the new first key), a second run is byte-identical, and
//! two runs agree.

use std::path::PathBuf;

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const CONFIG: &str = "istio:\n  enabled: true\n  onConflict: skip\n  proxy:\n    holdApplicationUntilProxyStarts: true\n  services:\n    - name: \"*\"\n      mtls: true\n      optional: true\n";

fn corpus_files() -> Option<Vec<PathBuf>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if !root.is_dir() {
        eprintln!("skipped: {} is absent", root.display());
        return None;
    }
    let mut files = Vec::new();
    for dir in ["streams", "rendered"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    Some(files)
}

fn render(manifests: &str) -> postwire_core::RenderOutput {
    let mut req = RenderRequestV1::new(manifests);
    req.config = Some(ConfigFileV1 { name: "istio.yaml".into(), content: CONFIG.into() });
    req.set = vec!["checksum.enabled=false".into()];
    postwire_core::render(&req).unwrap_or_else(|e| panic!("render failed: {e}"))
}

/// Lines removed from `before` must come back with their dash moved (`- name: x` → `  name: x`
/// after a new first key) or inside a flow mapping that gained entries.
fn check_changed(before: &str, after: &str, what: &str) {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let (mut i, mut j) = (0, 0);
    while i < b.len() {
        if j < a.len() && a[j] == b[i] {
            i += 1;
            j += 1;
            continue;
        }
        if j >= a.len() {
            panic!("{what}: line {:?} was lost", b[i]);
        }
        let indent = &b[i][..b[i].len() - b[i].trim_start().len()];
        let moved = b[i].trim_start().strip_prefix("- ").map(|rest| format!("{indent}  {rest}"));
        let flow =
            b[i].split_once('{').is_some_and(|(head, tail)| a[j].starts_with(head) && a[j].ends_with(tail.trim_end()));
        if moved.as_deref() == Some(a[j]) || flow {
            i += 1;
            j += 1;
            continue;
        }
        // An added line.
        j += 1;
    }
}

fn documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (pos, _) in text.match_indices("\n---") {
        let end = pos + 1;
        let line_end = text[end..].find('\n').map_or(text.len(), |n| end + n);
        if text[end..line_end].trim_end() == "---" {
            out.push(&text[start..end]);
            start = line_end + 1;
        }
    }
    out.push(&text[start.min(text.len())..]);
    out
}

#[test]
fn istio_on_every_service_changes_only_services_and_their_workloads() {
    let Some(files) = corpus_files() else { return };
    let mut wired = 0;
    for file in files {
        let input = std::fs::read_to_string(&file).unwrap();
        let out = render(&input);
        let name = file.display().to_string();
        assert_eq!(render(&out.manifests).manifests, out.manifests, "{name}: not idempotent");
        assert_eq!(render(&input).manifests, out.manifests, "{name}: not deterministic");
        let before = documents(&input);
        let after = documents(&out.manifests);
        assert!(after.len() >= before.len(), "{name}: documents lost");
        for (b, a) in before.iter().zip(&after) {
            if b == a {
                continue;
            }
            let kind = b.lines().find_map(|l| l.strip_prefix("kind: ")).unwrap_or_default().trim().to_string();
            assert!(
                ["Service", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout", "Job", "CronJob", "Pod"]
                    .contains(&kind.as_str()),
                "{name}: a {kind} changed"
            );
            check_changed(b, a, &format!("{name} {kind}"));
            wired += 1;
        }
        // Everything generated comes after the input's documents and is marked.
        for extra in &after[before.len()..] {
            assert!(extra.contains("postwire.dev/generated-by: \"istio\""), "{name}: unmarked extra document");
        }
    }
    assert!(wired > 50, "only {wired} documents wired");
}
