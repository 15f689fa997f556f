//! Before/after fixtures: `tests/cases/<wiring>/<case>/` holds `input.yaml`, an optional
//! `config.yaml` (a PostwireConfig) and either `expected.yaml` (the output) or, for cases named
//! `err_*`, `error.txt` (the error message). `report.json` (optional) pins the report.
//! `POSTWIRE_BLESS=1 cargo test -p postwire-core --test cases` rewrites the expectations from
//! the actual output; review the diff before committing it.

use std::path::{Path, PathBuf};

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

fn cases() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut out = Vec::new();
    for wiring in std::fs::read_dir(&root).unwrap() {
        for case in std::fs::read_dir(wiring.unwrap().path()).unwrap() {
            out.push(case.unwrap().path());
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[test]
fn fixtures() {
    let bless = std::env::var("POSTWIRE_BLESS").as_deref() == Ok("1");
    let mut failures = Vec::new();
    for case in cases() {
        let name = case.strip_prefix(case.parent().unwrap().parent().unwrap()).unwrap().display().to_string();
        let input = read(&case.join("input.yaml")).unwrap_or_else(|| panic!("{name}: input.yaml missing"));
        let mut request = RenderRequestV1::new(input);
        if let Some(config) = read(&case.join("config.yaml")) {
            request.config = Some(ConfigFileV1 { name: "config.yaml".into(), content: config });
        }
        if let Some(ns) = read(&case.join("namespace.txt")) {
            request.context.namespace = Some(ns.trim().to_string());
        }
        let result = postwire_core::render(&request);
        let is_error_case = case.file_name().unwrap().to_string_lossy().starts_with("err_");
        let (file, actual) = match (&result, is_error_case) {
            (Ok(out), false) => ("expected.yaml", out.manifests.clone()),
            (Err(e), true) => ("error.txt", format!("{e}\n")),
            (Ok(_), true) => {
                failures.push(format!("{name}: expected an error, got output"));
                continue;
            }
            (Err(e), false) => {
                failures.push(format!("{name}: unexpected error: {e}"));
                continue;
            }
        };
        let expected_path = case.join(file);
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
        } else if read(&expected_path).as_deref() != Some(actual.as_str()) {
            failures.push(format!(
                "{name}: {file} differs\n--- expected\n{}\n--- actual\n{actual}",
                read(&expected_path).unwrap_or_default()
            ));
        }
        if let Ok(out) = &result {
            // Every case is idempotent: its output renders to itself (with the same config; an
            // in-stream config is gone from the output, so those cases cannot be re-run as is).
            let mut again = request.clone();
            again.manifests = out.manifests.clone();
            let second = postwire_core::render(&again).unwrap();
            if out.report.summary.removed == 0 && second.manifests != out.manifests {
                failures.push(format!("{name}: not idempotent"));
            }
            let report = serde_json::to_string_pretty(&out.report).unwrap() + "\n";
            let report_path = case.join("report.json");
            if bless && report_path.exists() {
                std::fs::write(&report_path, &report).unwrap();
            } else if let Some(expected) = read(&report_path) {
                if expected != report {
                    failures
                        .push(format!("{name}: report.json differs\n--- expected\n{expected}\n--- actual\n{report}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
