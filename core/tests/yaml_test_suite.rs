//! The stream splitter (`postwire_core::stream`) on the yaml-test-suite cases of
//! `../shared/corpus/yaml-edge/yaml-test-suite` (read in place; see its `INDEX.md`):
//!
//! - joining the split stream without changes gives back every input byte for byte, valid or
//!   not;
//! - for every valid case, the documents the splitter finds are the suite's documents: as many
//!   as `+DOC` events in `test.event`, each opened by `---` exactly when the event says
//!   `+DOC ---` and closed by `...` exactly when it says `-DOC ...`.
//!
//! A splitter document is a segment opened by `---` or holding content (anything but blank
//! lines, comments and directives); the other segments are the gaps between `...` and the next
//! `---`, which hold no document.

use std::path::{Path, PathBuf};

use postwire_core::stream::{join, Replacement, Stream};

mod common;

/// Valid cases where the splitter's documents differ from the suite's, each with the reason.
/// Empty today: every valid case agrees.
const EXCEPTIONS: &[(&str, &str)] = &[];

/// One case: its directory (`data/<ID>` or `data/<ID>/<NN>`), name and files.
struct Case {
    id: String,
    dir: PathBuf,
}

fn cases(root: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut ids: Vec<PathBuf> = std::fs::read_dir(root.join("data")).unwrap().map(|e| e.unwrap().path()).collect();
    ids.sort();
    for dir in ids {
        let id = dir.file_name().unwrap().to_string_lossy().to_string();
        if dir.join("in.yaml").is_file() {
            out.push(Case { id, dir });
            continue;
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        subs.sort();
        for sub in subs.into_iter().filter(|s| s.join("in.yaml").is_file()) {
            let n = sub.file_name().unwrap().to_string_lossy().to_string();
            out.push(Case { id: format!("{id}/{n}"), dir: sub });
        }
    }
    out
}

/// (opened by `---`, closed by `...`) for each document of the suite's event stream.
fn suite_documents(events: &str) -> Vec<(bool, bool)> {
    let mut docs = Vec::new();
    for line in events.lines() {
        if let Some(rest) = line.strip_prefix("+DOC") {
            docs.push((rest.trim() == "---", false));
        } else if let Some(rest) = line.strip_prefix("-DOC") {
            docs.last_mut().expect("-DOC after +DOC").1 = rest.trim() == "...";
        }
    }
    docs
}

/// The same for the splitter's documents.
fn split_documents(stream: &Stream<'_>) -> Vec<(bool, bool)> {
    stream
        .segments
        .iter()
        .filter(|s| s.after_marker || s.has_content)
        .map(|s| (s.after_marker, stream.text[s.end..].starts_with("...")))
        .collect()
}

#[test]
fn yaml_test_suite_documents_split_and_join() {
    const TEST: &str = "yaml_test_suite_documents_split_and_join";
    let Some(shared) = common::shared(TEST) else { return };
    let root = shared.join("corpus/yaml-edge/yaml-test-suite");
    let cases = cases(&root);
    assert!(cases.len() >= 200, "the suite looks incomplete: {} cases under {}", cases.len(), root.display());
    let (mut valid, mut invalid, mut excepted) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let bytes = std::fs::read(case.dir.join("in.yaml")).unwrap();
        let Ok(text) = String::from_utf8(bytes) else {
            failures.push(format!("{}: in.yaml is not UTF-8", case.id));
            continue;
        };
        let stream = Stream::split(&text);
        let keep = vec![Replacement::Keep; stream.segments.len()];
        if join(&stream, &keep, &[]) != text {
            failures.push(format!("{}: joining the split stream changes it", case.id));
        }
        if case.dir.join("error").exists() {
            invalid += 1;
            continue;
        }
        valid += 1;
        let events = std::fs::read_to_string(case.dir.join("test.event")).unwrap();
        let want = suite_documents(&events);
        let got = split_documents(&stream);
        let exception = EXCEPTIONS.iter().find(|(id, _)| *id == case.id);
        match (want == got, exception) {
            (true, None) => {}
            (true, Some(_)) => failures.push(format!("{}: listed as an exception but agrees now", case.id)),
            (false, Some(_)) => excepted += 1,
            (false, None) => failures.push(format!(
                "{}: documents (opened by ---, closed by ...): suite {want:?}, splitter {got:?}\n{text:?}",
                case.id
            )),
        }
    }
    eprintln!("yaml-test-suite: {valid} valid cases agree ({excepted} listed exceptions), {invalid} error cases, all join back");
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
