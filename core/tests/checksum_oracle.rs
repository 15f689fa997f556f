//! An independent check of the checksum values: the golden cases only bless postwire's own
//! output. Every checksum annotation postwire writes, in both modes (`perObject`, `aggregate`),
//! must equal what the Python oracle (`host-test/oracle/oracle.py`, which shares no code with
//! postwire) computes from the same input, and nothing else may change.
//!
//! Inputs: the checksum example streams under `tests/cases/checksum` and, when `../shared`
//! sits beside the repository, the rendered charts of its corpus. The comparison runs in
//! `checksum_oracle.py` beside this file, with `python3` and PyYAML.

use std::path::{Path, PathBuf};
use std::process::Command;

use postwire_core::wire::RenderRequestV1;

mod common;

const MODES: [&str; 2] = ["perObject", "aggregate"];

/// Whether `python3` with PyYAML is there, or None after saying that `test` is skipped and why
/// (a failure with `POSTWIRE_REQUIRE_ALL=1`, as for the shared corpus).
fn python(test: &str) -> Option<()> {
    let ok = Command::new("python3").args(["-c", "import yaml"]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(());
    }
    let why = "python3 with PyYAML is not available";
    if std::env::var("POSTWIRE_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{test}: required (POSTWIRE_REQUIRE_ALL=1) but cannot run: {why}");
    }
    eprintln!("skipped {test} because {why}");
    None
}

/// The checksum example streams that render with the default config: no error cases, and no
/// stream carrying its own PostwireConfig (it would change the mode, and its document is
/// dropped from the output).
fn case_inputs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/checksum");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("err_"))
        .map(|p| p.join("input.yaml"))
        .filter(|p| {
            let chart_config = std::fs::read_to_string(p).unwrap().contains("kind: PostwireConfig");
            if chart_config {
                eprintln!("{}: left out, it carries its own PostwireConfig", p.display());
            }
            !chart_config
        })
        .collect();
    inputs.sort();
    inputs
}

/// Render `input` with checksums in `mode` and check the output with the oracle; the number of
/// annotations checked.
fn check(input: &Path, mode: &str, scratch: &Path) -> usize {
    let manifests = std::fs::read_to_string(input).unwrap();
    let mut req = RenderRequestV1::new(&manifests);
    req.set = vec![format!("checksum.mode={mode}")];
    let out = postwire_core::render(&req).unwrap_or_else(|e| panic!("{}: render failed: {e}", input.display()));
    let output = scratch.join("output.yaml");
    std::fs::write(&output, &out.manifests).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/checksum_oracle.py");
    let run = Command::new("python3").arg(script).arg(mode).arg(input).arg(&output).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{} ({mode}): postwire's checksums differ from the oracle's:\n{stdout}{}",
        input.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let checked = stdout.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a count");
    eprintln!("{} ({mode}): {checked} annotations agree", input.display());
    checked
}

/// Check every input in both modes; the annotations checked per mode.
fn check_all(inputs: &[PathBuf], test: &str) -> [usize; 2] {
    let scratch = std::env::temp_dir().join(format!("postwire-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let counts = MODES.map(|mode| inputs.iter().map(|input| check(input, mode, &scratch)).sum());
    std::fs::remove_dir_all(&scratch).unwrap();
    counts
}

#[test]
fn checksum_cases_agree_with_the_oracle() {
    let test = "checksum_cases_agree_with_the_oracle";
    if python(test).is_none() {
        return;
    }
    let counts = check_all(&case_inputs(), test);
    assert!(counts.iter().all(|&n| n > 0), "no annotation was checked: {counts:?}");
}

#[test]
fn corpus_checksums_agree_with_the_oracle() {
    let test = "corpus_checksums_agree_with_the_oracle";
    let Some(shared) = common::shared(test) else { return };
    if python(test).is_none() {
        return;
    }
    let dir = shared.join("corpus/rendered");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    inputs.sort();
    let counts = check_all(&inputs, test);
    assert!(counts.iter().all(|&n| n > 0), "no annotation was checked: {counts:?}");
}
