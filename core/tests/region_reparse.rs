//! Edited documents get their trees by parsing only the regions an edit changed
//! (`postwire_core::edit::regions`); a whole parse of the edited text is the reference.
//!
//! What is checked, over every corpus stream and every example's expected output, as they
//! are and rendered with every wiring on: after each edit the tree built from regions is the
//! tree a whole parse gives (compared at once, not only at the end of the render); and the
//! render's manifests and report are those of a render that parses every edited document
//! whole. Generated documents take their trees from the writer (`emit::block_document_tree`):
//! with each edit compared, each such tree is compared with a parse of its text too, and the
//! render parsing whole parses them instead. On generated apps with every wiring on, nearly every edit takes the regions path.
//! (The edit layer's own table and style tests compare the two trees on every edit too, in
//! `edit_document`.)

mod common;

use std::path::PathBuf;

use postwire_core::edit::regions::{counts, set_compare_each, set_whole_only};
use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

fn request(stream: &str, config: Option<&str>) -> RenderRequestV1 {
    let mut request = RenderRequestV1::new(stream);
    request.config = config.map(|c| ConfigFileV1 { name: "config.yaml".into(), content: c.to_string() });
    request.context.namespace = Some("default".into());
    request
}

/// The render through regions, each edit compared with a whole parse, and the render
/// parsing whole: the same result, and no tree that differed.
fn same_as_whole(name: &str, stream: &str, config: Option<&str>) {
    let before = counts();
    set_compare_each(true);
    let by_regions = postwire_core::render(&request(stream, config));
    set_compare_each(false);
    let after = counts();
    assert_eq!(after.differed, before.differed, "{name}: a tree built from regions differs from a whole parse");
    set_whole_only(true);
    let whole = postwire_core::render(&request(stream, config));
    set_whole_only(false);
    match (by_regions, whole) {
        (Ok(a), Ok(b)) => assert!(a == b, "{name}: the render differs from one parsing whole"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{name}"),
        (a, b) => panic!("{name}: through regions {:?}, parsing whole {:?}", a.map(|_| ()), b.map(|_| ())),
    }
}

fn examples() -> Vec<(PathBuf, Option<String>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        let config = std::fs::read_to_string(dir.join("postwire.yaml")).ok();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("expected") && name.ends_with(".yaml") {
                out.push((path, config.clone()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_example_edits_through_regions_as_a_whole_parse_would() {
    let before = counts();
    for (path, config) in examples() {
        let stream = std::fs::read_to_string(&path).unwrap();
        same_as_whole(&path.display().to_string(), &stream, config.as_deref());
    }
    assert!(counts().regions > before.regions, "no example took the regions path");
}

#[test]
fn every_corpus_stream_edits_through_regions_as_a_whole_parse_would() {
    let Some(shared) = common::shared("every_corpus_stream_edits_through_regions_as_a_whole_parse_would") else {
        return;
    };
    let every_wiring = std::fs::read_to_string(shared.join("bench/every-wiring.yaml")).unwrap();
    let before = counts();
    let mut streams = 0;
    for path in common::corpus_files(&shared) {
        let stream = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        same_as_whole(&name, &stream, Some(&every_wiring));
        same_as_whole(&format!("{name} (checksums)"), &stream, Some("checksum: {enabled: true}\n"));
        streams += 1;
    }
    let after = counts();
    assert!(streams >= 10, "{streams} streams");
    assert!(after.regions - before.regions > 100, "{} edits took the regions path", after.regions - before.regions);
}

/// `n` apps as the benchmark generates them: a Deployment, Service, ConfigMap and Secret each.
fn apps(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app{i}-config\ndata:\n  LOG_LEVEL: info\n\
                 ---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app{i}-secret\nstringData:\n  token: t{i}\n\
                 ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{i}\n  labels: {{app: app{i}}}\nspec:\n  \
                 selector: {{app: app{i}}}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n\
                 ---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  labels: {{app: app{i}}}\nspec:\n  \
                 replicas: 2\n  selector:\n    matchLabels: {{app: app{i}}}\n  template:\n    metadata:\n      \
                 labels: {{app: app{i}}}\n    spec:\n      containers:\n      - name: app\n        image: example/app:1.0\n        \
                 ports:\n        - name: http\n          containerPort: 8080\n        envFrom:\n        \
                 - configMapRef: {{name: app{i}-config}}\n        - secretRef: {{name: app{i}-secret}}\n"
            )
        })
        .collect()
}

#[test]
fn nearly_every_edit_of_generated_apps_takes_the_regions_path() {
    let Some(shared) = common::shared("nearly_every_edit_of_generated_apps_takes_the_regions_path") else {
        return;
    };
    let every_wiring = std::fs::read_to_string(shared.join("bench/every-wiring.yaml")).unwrap();
    let stream = apps(20);
    same_as_whole("20 apps", &stream, Some(&every_wiring));
    let before = counts();
    postwire_core::render(&request(&stream, Some(&every_wiring))).unwrap();
    let after = counts();
    let (regions, whole) = (after.regions - before.regions, after.whole - before.whole);
    assert!(regions >= 20 * 5 && regions >= 10 * whole, "{regions} edits through regions, {whole} parsed whole");
}
