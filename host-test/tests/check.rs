//! `postwire check` as tools call it: one stderr line per finding (level, rule id, object,
//! document and line, message), exit 0 without errors and 7 with one, `--strict` for warnings,
//! `--report` with the findings as notes of the `check` wiring; and a render that carries the
//! same findings in its report without changing its output. Every bundled example's expected
//! output passes `--strict`.

use std::process::Output;

use crate::util::{self, describe, TempDir};

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx\n";

/// A PodDisruptionBudget that never allows an eviction: node drains block (an error).
const PDB_NEVER: &str = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  maxUnavailable: 0\n  selector:\n    matchLabels:\n      app: web\n";

/// A PodDisruptionBudget that selects no pod of the stream (a warning: the pods may come from
/// elsewhere).
const PDB_NOTHING: &str = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: other\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: other\n";

fn check(dir: &TempDir, input: &str, args: &[&str]) -> Output {
    let file = dir.join("in.yaml");
    std::fs::write(&file, input).unwrap();
    let mut cmd = util::postwire(&dir.join("cache"));
    cmd.args(["check", "-f", file.to_str().unwrap()]).args(args);
    util::run(&mut cmd, b"")
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr).lines().map(String::from).collect()
}

#[test]
fn check_reports_each_finding_on_one_line_with_a_distinct_exit_code() {
    let dir = TempDir::new("check_contract");
    let clean = check(&dir, DEPLOY, &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", describe(&clean));
    assert!(clean.stdout.is_empty() && clean.stderr.is_empty(), "{}", describe(&clean));

    let stream = format!("{DEPLOY}---\n{PDB_NEVER}");
    let out = check(&dir, &stream, &[]);
    assert_eq!(out.status.code(), Some(7), "an error-level finding exits 7\n{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    // The PDB is document 2 and starts on line 19 of the stream (17 lines, then `---`).
    let lines = stderr_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error pdb-blocks-eviction PodDisruptionBudget/web (document 2, line 19): ")),
        "{}",
        describe(&out)
    );

    // A warning alone passes, unless --strict.
    let stream = format!("{DEPLOY}---\n{PDB_NOTHING}");
    let warned = check(&dir, &stream, &[]);
    assert_eq!(warned.status.code(), Some(0), "{}", describe(&warned));
    assert!(stderr_lines(&warned).iter().any(|l| l.starts_with("warning selects-nothing PodDisruptionBudget/other ")));
    let strict = check(&dir, &stream, &["--strict"]);
    assert_eq!(strict.status.code(), Some(7), "--strict fails on a warning\n{}", describe(&strict));
}

#[test]
fn check_report_holds_the_findings_as_notes_with_their_rule() {
    let dir = TempDir::new("check_report");
    let report = dir.join("report.json");
    let stream = format!("{DEPLOY}---\n{PDB_NEVER}");
    let out = check(&dir, &stream, &["--report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let found = json["documents"].as_array().unwrap().iter().any(|d| {
        d["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["wiring"] == "check" && n["rule"] == "pdb-blocks-eviction" && n["level"] == "error")
    });
    assert!(found, "report: {json:#}");
}

#[test]
fn a_render_reports_findings_without_changing_its_output() {
    let dir = TempDir::new("check_render");
    let stream = format!("{DEPLOY}---\n{PDB_NEVER}");
    let report = dir.join("report.json");
    let mut plain = util::postwire(&dir.join("cache"));
    plain.args(["--set", "checksum.enabled=false"]);
    let without = util::run(&mut plain, stream.as_bytes());
    let mut cmd = util::postwire(&dir.join("cache"));
    cmd.args(["--set", "checksum.enabled=false", "--report", report.to_str().unwrap()]);
    let out = util::run(&mut cmd, stream.as_bytes());
    assert_eq!(out.status.code(), Some(0), "findings do not fail a render by default\n{}", describe(&out));
    assert_eq!(out.stdout, stream.as_bytes(), "the output is the input: nothing to wire");
    assert_eq!(out.stdout, without.stdout);
    assert!(std::fs::read_to_string(&report).unwrap().contains("pdb-blocks-eviction"));
    // check.failOn makes them fatal: exit 7, nothing on stdout.
    let mut cmd = util::postwire(&dir.join("cache"));
    cmd.args(["--set", "check.failOn=error"]);
    let failed = util::run(&mut cmd, stream.as_bytes());
    assert_eq!(failed.status.code(), Some(7), "{}", describe(&failed));
    assert!(failed.stdout.is_empty(), "{}", describe(&failed));
}

#[test]
fn every_example_output_passes_check_strict() {
    let dir = TempDir::new("check_examples");
    let mut n = 0;
    for entry in std::fs::read_dir(util::workspace().join("examples")).unwrap() {
        let example = entry.unwrap().path();
        for file in std::fs::read_dir(&example).into_iter().flatten() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !(name.starts_with("expected") && name.ends_with(".yaml")) {
                continue;
            }
            n += 1;
            let mut cmd = util::postwire(&dir.join("cache"));
            cmd.args(["check", "--strict", "-f", path.to_str().unwrap()]);
            let out = util::run(&mut cmd, b"");
            assert_eq!(out.status.code(), Some(0), "{}\n{}", path.display(), describe(&out));
        }
    }
    assert!(n >= 6, "found {n} example outputs");
}
