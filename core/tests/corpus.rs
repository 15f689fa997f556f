//! Fidelity over the real third-party manifests in `../shared/corpus` (read in place, never
//! copied): with every wiring off the output is the input byte for byte; with checksums on,
//! only workloads change, only by added lines, idempotently and deterministically.
//!
//! The YAML 1.1 / yaml.v2 meaning checks of the same outputs run in host-test (they need
//! PyYAML and Go), see `host-test/tests/fidelity.rs`.

use std::path::PathBuf;

use postwire_core::wire::RenderRequestV1;

mod common;

fn corpus_files(test: &str) -> Option<Vec<PathBuf>> {
    let root = common::shared(test)?.join("corpus");
    let mut files = Vec::new();
    for dir in ["streams", "rendered"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    Some(files)
}

fn render(manifests: &str, set: &[&str]) -> postwire_core::engine::RenderOutput {
    let mut req = RenderRequestV1::new(manifests);
    req.set = set.iter().map(|s| s.to_string()).collect();
    postwire_core::render(&req).unwrap_or_else(|e| panic!("render failed: {e}"))
}

#[test]
fn every_wiring_off_is_byte_identical() {
    let Some(files) = corpus_files("every_wiring_off_is_byte_identical") else { return };
    for file in files {
        let input = std::fs::read_to_string(&file).unwrap();
        let out = render(&input, &["checksum.enabled=false"]);
        assert!(out.manifests == input, "{} changed with every wiring off", file.display());
        assert_eq!(out.report.summary.changed, 0);
    }
}

/// Lines of `after` that are not in `before`. `after` may only insert lines, or replace an
/// empty flow mapping (`{}`) with a filled one.
fn added_lines<'a>(before: &str, after: &'a str) -> Vec<&'a str> {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let (mut i, mut j) = (0, 0);
    let mut added = Vec::new();
    while j < a.len() {
        if i < b.len() && a[j] == b[i] {
            i += 1;
        } else if i < b.len() && b[i].trim_end().ends_with("{}") && a[j].trim_end().ends_with('}') {
            let (old, new) = (b[i].trim_end(), a[j].trim_end());
            assert!(new.starts_with(&old[..old.len() - 2]), "{old:?} replaced by {new:?}");
            added.push(
                a[j].trim_start()
                    .trim_start_matches(&old.trim_start()[..old.trim_start().len() - 2])
                    .trim_start_matches('{'),
            );
            i += 1;
        } else {
            added.push(a[j]);
        }
        j += 1;
    }
    assert_eq!(i, b.len(), "lines of the input were removed or reordered");
    added
}

#[test]
fn checksums_only_add_annotation_lines_to_workloads() {
    let Some(files) = corpus_files("checksums_only_add_annotation_lines_to_workloads") else { return };
    for file in files {
        let input = std::fs::read_to_string(&file).unwrap();
        let first = render(&input, &[]);
        let second = render(&first.manifests, &[]);
        assert!(second.manifests == first.manifests, "{}: not idempotent", file.display());
        let again = render(&input, &[]);
        assert!(again.manifests == first.manifests, "{}: not deterministic", file.display());
        let workloads = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Rollout", "Pod"];
        for doc in &first.report.documents {
            if doc.changes.is_empty() {
                continue;
            }
            let kind = doc.object.split('/').next().unwrap();
            assert!(workloads.contains(&kind), "{}: {} changed", file.display(), doc.object);
        }
        for line in added_lines(&input, &first.manifests) {
            let t = line.trim_start();
            assert!(
                t.starts_with("checksum/") || t.starts_with("\"checksum/") || t == "annotations:" || t == "metadata:",
                "{}: unexpected added line {line:?}",
                file.display()
            );
        }
        eprintln!(
            "{}: {} documents, {} changed",
            file.file_name().unwrap().to_string_lossy(),
            first.report.summary.documents,
            first.report.summary.changed
        );
    }
}
