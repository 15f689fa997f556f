//! Fidelity over the real corpus (DESIGN invariants 1-5), through plugin.wasm.
//!
//! Every file of `corpus/streams` and `corpus/rendered`, plus CRLF, BOM and Helm-4-style
//! variants of a few of them, goes through the embedded plugin.wasm (one [`Runner`] for all):
//!
//! - `checksum.enabled=false`: the output is the input, byte for byte;
//! - defaults: the report's changes (document, path, key) are exactly what the independent
//!   re-implementation `oracle.py expect` predicts; `oracle.py compare` proves that PyYAML and
//!   Go's yaml.v2 load every output document to the input plus exactly those annotations; the
//!   textual diff of each changed document is only added annotation lines (or an empty or null
//!   mapping filled as a flow mapping), with the input's line endings; unchanged documents and
//!   unchanged files are byte-identical;
//! - idempotent (rendering the output changes nothing) and deterministic (two renders agree).
//!
//! The Rust side renders everything first (fast); the Python/Go oracles then run once per file
//! on two worker threads. All failures are collected and reported together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use postwire::runner::Runner;
use postwire_core::report::{Action, Report};
use postwire_core::wire::RenderRequestV1;
use serde_json::Value;

use crate::util::{self, describe, Oracle, TempDir};

const TEST: &str = "fidelity";
/// Helm 4's filename annotation (also `postwire_core::stream::FILENAME_ANNOTATION`, spelled
/// out here so the test does not trust the engine's constant).
const HELM4_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";
/// Files that get CRLF and BOM variants.
const VARIANT_FILES: &[&str] =
    &["rendered/grafana.yaml", "streams/istio-bookinfo.yaml", "rendered/postgresql-replication-metrics.yaml"];

/// One input to check.
struct Case {
    /// For messages: `rendered/grafana.yaml`, `rendered/grafana.yaml (crlf)`, ...
    name: String,
    /// The input file (the oracles read files).
    path: PathBuf,
    input: String,
    /// The case whose oracle expectation this one must share (variants), if any.
    base: Option<String>,
    /// Whether the input uses CRLF line breaks.
    crlf: bool,
    /// Helm 4 variant: every reported document must name its source from the annotation.
    helm4: bool,
}

/// What the Rust side produced for a case.
struct Rendered {
    output_path: PathBuf,
    output: String,
    report: Report,
}

/// What the oracle side found for a case.
struct Checked {
    expected: Value,
    failures: Vec<String>,
}

#[test]
fn corpus_fidelity_through_plugin_wasm() {
    let started = Instant::now();
    let Some(shared) = util::shared(TEST) else {
        return;
    };
    let Some(oracle) = Oracle::find(TEST) else {
        return;
    };
    let tmp = TempDir::new(TEST);
    let cases = cases(&shared, &tmp);
    assert!(cases.len() >= 18 + 7, "corpus looks incomplete: {} cases", cases.len());

    // Phase 1: render every case through plugin.wasm, one runner for all.
    let mut runner = Runner::embedded().expect("plugin.wasm loads");
    let mut failures: Vec<String> = Vec::new();
    let mut rendered: Vec<Option<Rendered>> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut fail = |msg: String| failures.push(format!("{}: {msg}", case.name));
        match render_case(&mut runner, case, &tmp.join(format!("{i}.out.yaml"))) {
            Ok((r, problems)) => {
                problems.into_iter().for_each(&mut fail);
                rendered.push(Some(r));
            }
            Err(msg) => {
                fail(msg);
                rendered.push(None);
            }
        }
    }
    let render_time = started.elapsed();

    // Phase 2: the independent oracles, once per file, two at a time.
    let mut order: Vec<usize> = (0..cases.len()).filter(|&i| rendered[i].is_some()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cases[i].input.len()));
    let queue = Mutex::new(order.into_iter());
    let results: Mutex<BTreeMap<usize, Checked>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(i) = queue.lock().unwrap().next() else {
                    break;
                };
                let r = rendered[i].as_ref().expect("rendered");
                let checked = check_with_oracle(&oracle, &tmp, i, &cases[i], r);
                results.lock().unwrap().insert(i, checked);
            });
        }
    });
    let results = results.into_inner().unwrap();

    // Variants must be predicted exactly like their base file: same documents, same hashes.
    let by_name: BTreeMap<&str, &Checked> = results.iter().map(|(&i, c)| (cases[i].name.as_str(), c)).collect();
    for (&i, checked) in &results {
        failures.extend(checked.failures.iter().map(|f| format!("{}: {f}", cases[i].name)));
        if let Some(base) = &cases[i].base {
            match by_name.get(base.as_str()) {
                Some(b) if b.expected == checked.expected => {}
                Some(b) => failures.push(format!(
                    "{}: oracle expects other annotations than for {base}:\n  variant: {}\n  base:    {}",
                    cases[i].name, checked.expected, b.expected
                )),
                None => failures.push(format!("{}: base case {base} was not checked", cases[i].name)),
            }
        }
    }
    let changed_docs: usize = rendered.iter().flatten().map(|r| r.report.summary.changed).sum();
    eprintln!(
        "fidelity: {} inputs, {changed_docs} changed documents; render {:.1?}, total {:.1?}",
        cases.len(),
        render_time,
        started.elapsed()
    );
    assert!(failures.is_empty(), "{} fidelity failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
    assert!(changed_docs > 20, "the corpus should exercise the checksum wiring, got {changed_docs} changed documents");
}

/// Every corpus file, then the variants, written into `tmp`.
fn cases(shared: &Path, tmp: &TempDir) -> Vec<Case> {
    let mut cases = Vec::new();
    for dir in ["streams", "rendered"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("corpus").join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for path in files {
            let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            let input = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            cases.push(Case { crlf: input.contains("\r\n"), name, path, input, base: None, helm4: false });
        }
    }
    let mut variants = Vec::new();
    let mut write = |name: String, base: &str, text: String, helm4: bool| {
        let path = tmp.join(format!("variant-{}.yaml", variants.len()));
        std::fs::write(&path, &text).unwrap();
        variants.push(Case {
            crlf: text.contains("\r\n"),
            name,
            path,
            input: text,
            base: Some(base.to_string()),
            helm4,
        });
    };
    for file in VARIANT_FILES {
        let base = cases.iter().find(|c| c.name == *file).unwrap_or_else(|| panic!("corpus file {file} is missing"));
        assert!(!base.input.contains('\r'), "{file} already has CR characters");
        write(format!("{file} (CRLF)"), file, base.input.replace('\n', "\r\n"), false);
        write(format!("{file} (BOM)"), file, format!("\u{feff}{}", base.input), false);
    }
    let grafana = &cases.iter().find(|c| c.name == "rendered/grafana.yaml").expect("grafana.yaml").input;
    let helm4 = helm4_variant(grafana);
    write("rendered/grafana.yaml (Helm 4 filename annotations)".into(), "rendered/grafana.yaml", helm4.clone(), true);
    write(
        "rendered/grafana.yaml (Helm 4, CRLF + BOM)".into(),
        "rendered/grafana.yaml",
        format!("\u{feff}{}", helm4.replace('\n', "\r\n")),
        true,
    );
    cases.extend(variants);
    cases
}

/// What Helm 4 hands a post-renderer for a Helm 3 style stream: no `# Source:` comments, no
/// leading `---`, and `postrenderer.helm.sh/postrender-filename: '<path>'` in every document's
/// `metadata.annotations` (added to an existing annotations block, or as a new one).
fn helm4_variant(helm3: &str) -> String {
    let mut docs: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in helm3.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(annotate(&current));
            current.clear();
        } else {
            current.push(line);
        }
    }
    docs.push(annotate(&current));
    let docs: Vec<String> = docs.into_iter().filter(|d| !d.trim().is_empty()).collect();
    assert!(docs.len() >= 7, "grafana.yaml should have 7 documents");
    docs.join("---\n")
}

fn annotate(lines: &[&str]) -> String {
    let source = lines.iter().find_map(|l| l.strip_prefix("# Source: ")).map(|s| s.trim().to_string());
    let mut out: Vec<String> = lines.iter().filter(|l| !l.starts_with("# Source: ")).map(|l| l.to_string()).collect();
    let Some(source) = source else {
        return out.concat();
    };
    let entry = |indent: usize| format!("{}{HELM4_ANNOTATION}: '{source}'\n", " ".repeat(indent));
    let meta = out
        .iter()
        .position(|l| l.trim_end() == "metadata:")
        .unwrap_or_else(|| panic!("{source}: no top-level metadata"));
    let child_indent = indent_of(&out[meta + 1]);
    assert!(child_indent > 0, "{source}: metadata is not a block mapping");
    let children_end =
        (meta + 1..out.len()).find(|&i| indent_of(&out[i]) == 0 && !out[i].trim().is_empty()).unwrap_or(out.len());
    let existing = (meta + 1..children_end).find(|&i| {
        indent_of(&out[i]) == child_indent && out[i].trim_end() == format!("{}annotations:", " ".repeat(child_indent))
    });
    match existing {
        Some(i) => {
            let indent = indent_of(&out[i + 1]);
            assert!(indent > child_indent, "{source}: annotations is not a block mapping");
            out.insert(i + 1, entry(indent));
        }
        None => {
            out.insert(meta + 1, entry(child_indent * 2));
            out.insert(meta + 1, format!("{}annotations:\n", " ".repeat(child_indent)));
        }
    }
    out.concat()
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn request(manifests: &str, set: &[&str]) -> RenderRequestV1 {
    let mut req = RenderRequestV1::new(manifests);
    req.set = set.iter().map(|s| s.to_string()).collect();
    req
}

/// Render a case four ways; returns the default render and the problems found, or the error
/// of a render that failed outright.
fn render_case(runner: &mut Runner, case: &Case, output_path: &Path) -> Result<(Rendered, Vec<String>), String> {
    let mut problems = Vec::new();
    let render = |runner: &mut Runner, text: &str, set: &[&str], what: &str| {
        runner.render(&request(text, set)).map_err(|e| format!("{what} failed (code {}): {}", e.code, e.message))
    };

    let disabled = render(runner, &case.input, &["checksum.enabled=false"], "render with checksum.enabled=false")?;
    if disabled.manifests != case.input {
        problems.push(format!(
            "with checksum.enabled=false the output differs from the input: {}",
            first_difference(&case.input, &disabled.manifests)
        ));
    }
    if !disabled.report.documents.iter().all(|d| d.changes.is_empty()) {
        problems.push(format!(
            "with checksum.enabled=false the report still lists changes: {:?}",
            disabled.report.documents
        ));
    }

    let first = render(runner, &case.input, &[], "render")?;
    let second = render(runner, &case.input, &[], "second render")?;
    if second.manifests != first.manifests {
        problems.push(format!(
            "not deterministic: two renders of the same input differ: {}",
            first_difference(&first.manifests, &second.manifests)
        ));
    }
    if second.report != first.report {
        problems.push("not deterministic: two renders give different reports".into());
    }
    let again = render(runner, &first.manifests, &[], "render of the output")?;
    if again.manifests != first.manifests {
        problems.push(format!(
            "not idempotent: rendering the output changes it: {}",
            first_difference(&first.manifests, &again.manifests)
        ));
    }
    let changes_again: Vec<String> = again
        .report
        .documents
        .iter()
        .flat_map(|d| d.changes.iter().map(move |c| format!("document {} {}: {}", d.document, c.path, c.key)))
        .collect();
    if !changes_again.is_empty() {
        problems.push(format!("not idempotent: rendering the output reports changes: {changes_again:?}"));
    }

    let out = &first.manifests;
    if case.crlf && out.match_indices('\n').any(|(i, _)| i == 0 || out.as_bytes()[i - 1] != b'\r') {
        let line = out[..out.match_indices('\n').find(|&(i, _)| i == 0 || out.as_bytes()[i - 1] != b'\r').unwrap().0]
            .matches('\n')
            .count()
            + 1;
        problems.push(format!(
            "the input uses CRLF but output line {line} ends with a bare LF: {:?}",
            out.lines().nth(line - 1)
        ));
    }
    if case.input.starts_with('\u{feff}') != out.starts_with('\u{feff}') {
        problems.push("the byte order mark was not kept as it was".into());
    }
    if case.helm4 {
        for doc in &first.report.documents {
            let annotated =
                doc.source.as_ref().is_some_and(|s| case.input.contains(&format!("{HELM4_ANNOTATION}: '{s}'")));
            if !annotated {
                problems.push(format!(
                    "report document {} ({}) should name its source from the {HELM4_ANNOTATION} annotation, got {:?}",
                    doc.document, doc.object, doc.source
                ));
            }
        }
    }
    std::fs::write(output_path, out).unwrap();
    Ok((Rendered { output_path: output_path.to_path_buf(), output: first.manifests, report: first.report }, problems))
}

/// The oracle checks of one case.
fn check_with_oracle(oracle: &Oracle, tmp: &TempDir, i: usize, case: &Case, r: &Rendered) -> Checked {
    let mut failures = Vec::new();
    let out = oracle.run([Path::new("expect"), &case.path]);
    if !out.status.success() {
        failures.push(format!("oracle.py expect failed:\n{}", describe(&out)));
        return Checked { expected: Value::Null, failures };
    }
    let expected_path = tmp.join(format!("{i}.expected.json"));
    std::fs::write(&expected_path, &out.stdout).unwrap();
    let expected: Value = serde_json::from_slice(&out.stdout).expect("oracle expect prints JSON");
    let additions = parse_expected(&expected);

    // The report's changes against the oracle's prediction.
    let mut predicted: Vec<(usize, String, String)> =
        additions.iter().flat_map(|(&n, adds)| adds.iter().map(move |a| (n, a.path.clone(), a.key.clone()))).collect();
    predicted.sort();
    let mut reported: Vec<(usize, String, String)> = Vec::new();
    for d in &r.report.documents {
        for c in &d.changes {
            if c.action != Action::Added {
                failures.push(format!(
                    "report: document {} ({}) {}: {} is {:?}, expected an addition",
                    d.document, d.object, c.path, c.key, c.action
                ));
            }
            reported.push((d.document, c.path.clone(), c.key.clone()));
        }
    }
    reported.sort();
    if reported != predicted {
        let missing: Vec<_> = predicted.iter().filter(|p| !reported.contains(p)).collect();
        let extra: Vec<_> = reported.iter().filter(|p| !predicted.contains(p)).collect();
        failures.push(format!(
            "report changes differ from oracle.py expect:\n  expected but not reported: {missing:?}\n  reported but not expected: {extra:?}"
        ));
    }
    if r.report.summary.changed != additions.len() {
        failures.push(format!(
            "report summary says {} changed documents, the oracle expects {}",
            r.report.summary.changed,
            additions.len()
        ));
    }

    // Both YAML 1.1 readers: output == input + exactly the additions, values included.
    let expected_arg = format!("@{}", expected_path.display());
    let cmp = oracle.run([
        std::ffi::OsStr::new("compare"),
        case.path.as_os_str(),
        r.output_path.as_os_str(),
        std::ffi::OsStr::new(&expected_arg),
    ]);
    let stdout = String::from_utf8_lossy(&cmp.stdout);
    if !cmp.status.success() {
        failures.push(format!("oracle.py compare failed:\n{}", describe(&cmp)));
    } else {
        // "oracle: N documents, M changed, both readers agree"
        let counts: Vec<usize> = stdout.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
        if counts.first() != Some(&r.report.summary.documents) {
            failures.push(format!(
                "the readers count other documents than the report ({}): {stdout}",
                r.report.summary.documents
            ));
        }
    }

    // The text: unchanged files byte-identical, changed documents only gain annotation lines.
    if additions.is_empty() {
        if r.output != case.input {
            failures
                .push(format!("nothing to wire, yet the output differs: {}", first_difference(&case.input, &r.output)));
        }
    } else {
        failures.extend(check_text_diff(oracle, case, r, &additions));
    }
    Checked { expected, failures }
}

/// One predicted annotation.
#[derive(Debug, Clone)]
pub(crate) struct Addition {
    /// In the report's notation: `spec.template.metadata.annotations`, `items[0].spec...`.
    pub(crate) path: String,
    /// The mapping names along the path, which a wiring may have to create.
    pub(crate) names: Vec<String>,
    pub(crate) key: String,
    pub(crate) value: String,
}

pub(crate) fn parse_expected(expected: &Value) -> BTreeMap<usize, Vec<Addition>> {
    let mut out = BTreeMap::new();
    for (n, adds) in expected.as_object().expect("EXPECTED is an object") {
        let n: usize = n.parse().expect("document number");
        let list = adds
            .as_array()
            .expect("additions")
            .iter()
            .map(|a| {
                let segments = a[0].as_array().expect("path");
                let mut path = String::new();
                let mut names = Vec::new();
                for s in segments {
                    match s {
                        Value::Number(i) => path.push_str(&format!("[{i}]")),
                        Value::String(k) => {
                            if !path.is_empty() {
                                path.push('.');
                            }
                            path.push_str(k);
                            names.push(k.clone());
                        }
                        other => panic!("unexpected path segment {other}"),
                    }
                }
                Addition {
                    path,
                    names,
                    key: a[1].as_str().expect("key").to_string(),
                    value: a[2].as_str().expect("value").to_string(),
                }
            })
            .collect();
        out.insert(n, list);
    }
    out
}

/// Document byte ranges from the oracle's parser-event splitter (not postwire's).
fn split(oracle: &Oracle, path: &Path) -> Result<Vec<(usize, usize)>, String> {
    let out = oracle.run([Path::new("split"), path]);
    if !out.status.success() {
        return Err(format!("oracle.py split {} failed:\n{}", path.display(), describe(&out)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("oracle.py split: {e}"))
}

fn check_text_diff(
    oracle: &Oracle,
    case: &Case,
    r: &Rendered,
    additions: &BTreeMap<usize, Vec<Addition>>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let (ins, outs) = match (split(oracle, &case.path), split(oracle, &r.output_path)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return [a.err(), b.err()].into_iter().flatten().collect(),
    };
    if ins.len() != outs.len() {
        return vec![format!("input has {} documents, output {}", ins.len(), outs.len())];
    }
    let (input, output) = (case.input.as_bytes(), r.output.as_bytes());
    for (k, (&(a0, a1), &(b0, b1))) in ins.iter().zip(&outs).enumerate() {
        let n = k + 1;
        let before = String::from_utf8_lossy(&input[a0..a1]);
        let after = String::from_utf8_lossy(&output[b0..b1]);
        match additions.get(&n) {
            None if before != after => failures.push(format!(
                "document {n} changed although nothing was to be wired: {}",
                first_difference(&before, &after)
            )),
            None => {}
            Some(adds) => {
                if let Err(e) = only_added_annotations(&before, &after, adds, case.crlf) {
                    failures.push(format!("document {n}: {e}"));
                }
            }
        }
    }
    failures
}

/// A YAML key as postwire may write it: plain or double-quoted.
fn key_spellings(key: &str) -> [String; 2] {
    [key.to_string(), serde_json::to_string(key).unwrap()]
}

/// Check that `after` is `before` plus exactly `adds`, written as new block lines or as members
/// filled into a flow mapping, and nothing else.
pub(crate) fn only_added_annotations(before: &str, after: &str, adds: &[Addition], crlf: bool) -> Result<(), String> {
    let nl = if crlf { "\r\n" } else { "\n" };
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    // Each addition must be written exactly once.
    let mut pending: Vec<&Addition> = adds.iter().collect();
    let take = |key: &str, value: &str, pending: &mut Vec<&Addition>| {
        pending.iter().position(|p| p.key == key && p.value == value).map(|i| pending.remove(i)).is_some()
    };
    let names: Vec<&str> = adds.iter().flat_map(|a| a.names.iter().map(String::as_str)).collect();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        let context = || {
            format!(
                "input line {} {:?}, output line {} {:?}",
                i + 1,
                a.get(i).copied().unwrap_or("(end)"),
                j + 1,
                b.get(j).copied().unwrap_or("(end)")
            )
        };
        let Some(line) = b.get(j) else {
            return Err(format!("the output lost input lines: {}", context()));
        };
        // An added block line: `<indent>key: "value"` or a created `<indent>annotations:`.
        if let Some(body) = line.strip_suffix(nl).filter(|l| crlf || !l.ends_with('\r')) {
            let body = body.trim_start_matches(' ');
            {
                let added = adds.iter().find(|add| {
                    key_spellings(&add.key)
                        .iter()
                        .any(|k| body == format!("{k}: {}", serde_json::to_string(&add.value).unwrap()))
                });
                if let Some(add) = added {
                    if !take(&add.key, &add.value, &mut pending) {
                        return Err(format!("annotation {} written twice: {}", add.key, context()));
                    }
                    j += 1;
                    continue;
                }
                if names.iter().any(|n| key_spellings(n).iter().any(|k| body == format!("{k}:"))) {
                    j += 1;
                    continue;
                }
            }
        }
        // A flow or null mapping on this line filled with members.
        if let Some(old) = a.get(i) {
            let mut stripped = line.to_string();
            let mut filled = Vec::new();
            for add in &pending {
                for k in key_spellings(&add.key) {
                    let member = format!("{k}: {}", serde_json::to_string(&add.value).unwrap());
                    for pattern in [format!("{member}, "), format!(", {member}"), member.clone()] {
                        if stripped.contains(&pattern) {
                            stripped = stripped.replacen(&pattern, "", 1);
                            filled.push((add.key.clone(), add.value.clone()));
                            break;
                        }
                    }
                }
            }
            for n in &names {
                for k in key_spellings(n) {
                    for pattern in [format!("{k}: {{}}, "), format!(", {k}: {{}}")] {
                        stripped = stripped.replacen(&pattern, "", 1);
                    }
                }
            }
            let null_filled = ["~", "null", "Null", "NULL"].iter().any(|null| {
                old.trim_end().strip_suffix(null).is_some_and(|head| {
                    stripped.trim_end() == format!("{head}{{}}") && old.ends_with(nl) == stripped.ends_with(nl)
                })
            });
            if !filled.is_empty() && (stripped == *old || null_filled) {
                for (k, v) in filled {
                    take(&k, &v, &mut pending);
                }
                i += 1;
                j += 1;
                continue;
            }
        }
        return Err(format!(
            "the diff is more than added annotations ({} line endings): {}",
            if crlf { "CRLF" } else { "LF" },
            context()
        ));
    }
    if !pending.is_empty() {
        let keys: Vec<&str> = pending.iter().map(|p| p.key.as_str()).collect();
        return Err(format!("annotations not found in the text: {keys:?}"));
    }
    Ok(())
}

/// Where two texts first differ, for messages.
pub(crate) fn first_difference(a: &str, b: &str) -> String {
    let (mut line, mut a_lines, mut b_lines) = (1, a.split_inclusive('\n'), b.split_inclusive('\n'));
    loop {
        match (a_lines.next(), b_lines.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (None, None) => {
                return format!("same lines, lengths {} vs {} bytes", a.len(), b.len());
            }
            (x, y) => {
                return format!(
                    "first difference at line {line}:\n  expected {:?}\n  actual   {:?}",
                    x.unwrap_or("(end)"),
                    y.unwrap_or("(end)")
                )
            }
        }
    }
}

fn addition(key: &str, value: &str) -> Addition {
    Addition {
        path: "spec.template.metadata.annotations".into(),
        names: ["spec", "template", "metadata", "annotations"].map(String::from).to_vec(),
        key: key.into(),
        value: value.into(),
    }
}

/// The diff checker itself must be able to fail: it accepts exactly the edits postwire may make.
#[test]
fn diff_checker_accepts_only_added_annotations() {
    let before = "spec:\n  template:\n    metadata:\n      labels: {}\n";
    let adds = [addition("checksum/configmap-a", "1f")];
    let ok = |after: &str, crlf: bool| {
        only_added_annotations(&before.replace('\n', if crlf { "\r\n" } else { "\n" }), after, &adds, crlf)
    };
    ok("spec:\n  template:\n    metadata:\n      annotations:\n        checksum/configmap-a: \"1f\"\n      labels: {}\n", false).unwrap();
    ok("spec:\r\n  template:\r\n    metadata:\r\n      annotations:\r\n        checksum/configmap-a: \"1f\"\r\n      labels: {}\r\n", true).unwrap();
    // A bare LF in a CRLF document, a wrong value, an unquoted value, a lost or extra line.
    let bad = [
        ("spec:\r\n  template:\r\n    metadata:\r\n      annotations:\n        checksum/configmap-a: \"1f\"\r\n      labels: {}\r\n", true),
        ("spec:\n  template:\n    metadata:\n      annotations:\n        checksum/configmap-a: \"2f\"\n      labels: {}\n", false),
        ("spec:\n  template:\n    metadata:\n      annotations:\n        checksum/configmap-a: 1f\n      labels: {}\n", false),
        ("spec:\n  template:\n    metadata:\n      annotations:\n        checksum/configmap-a: \"1f\"\n", false),
        ("spec:\n  template:\n    metadata:\n      labels: {}\n", false),
        ("spec:\n  template:\n    metadata:\n      annotations:\n        checksum/configmap-a: \"1f\"\n        x: \"1f\"\n      labels: {}\n", false),
        ("spec:\n  template:\n    metadata:\n      annotations:\n        checksum/configmap-a: \"1f\"\n      labels: {a: b}\n", false),
    ];
    for (after, crlf) in bad {
        assert!(ok(after, crlf).is_err(), "accepted {after:?}");
    }
    // Flow mappings and nulls filled in place.
    let flow = "metadata: {labels: {a: b}}\n";
    only_added_annotations(
        flow,
        "metadata: {\"annotations\": {\"checksum/configmap-a\": \"1f\"}, labels: {a: b}}\n",
        &adds,
        false,
    )
    .expect("a mapping created inside a flow mapping");
    only_added_annotations("  annotations: {}\n", "  annotations: {\"checksum/configmap-a\": \"1f\"}\n", &adds, false)
        .unwrap();
    only_added_annotations("  annotations: ~\n", "  annotations: {\"checksum/configmap-a\": \"1f\"}\n", &adds, false)
        .unwrap();
    only_added_annotations(
        "  annotations: {a: b}\n",
        "  annotations: {\"checksum/configmap-a\": \"1f\", a: b}\n",
        &adds,
        false,
    )
    .unwrap();
    only_added_annotations(
        "  annotations: ~\n",
        "  annotations: {\"checksum/configmap-a\": \"1f\", x: y}\n",
        &adds,
        false,
    )
    .expect_err("extra member");
}

#[test]
fn helm4_variant_moves_sources_into_annotations() {
    let helm3 = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n---\n# Source: c/templates/b.yaml\nkind: Deployment\nmetadata:\n  annotations:\n    x: y\n  name: b\n";
    let mut text = helm3.to_string();
    for _ in 0..5 {
        text.push_str("---\n# Source: c/templates/s.yaml\nkind: Service\nmetadata:\n  name: s\n");
    }
    let out = helm4_variant(&text);
    assert!(out.starts_with("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    postrenderer.helm.sh/postrender-filename: 'c/templates/a.yaml'\n  name: a\ndata:\n  k: v\n---\nkind: Deployment\nmetadata:\n  annotations:\n    postrenderer.helm.sh/postrender-filename: 'c/templates/b.yaml'\n    x: y\n  name: b\n---\n"), "{out}");
    assert!(!out.contains("# Source"));
}
