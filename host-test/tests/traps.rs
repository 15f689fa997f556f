//! YAML 1.1 traps (DESIGN invariant 5): strings such as `on`, `y`, `~`, `=`, `0755`, `1e3` or
//! `2001-01-01` that a YAML 1.1 reader (PyYAML, Go's yaml.v2 behind kubectl and Helm) turns into
//! booleans, nulls, numbers or dates when they are written plain.
//!
//! - Through plugin.wasm: documents whose annotation mappings (block, flow, single- and
//!   double-quoted, plain) have trap keys and values get checksum annotations added; the trap
//!   text survives byte for byte and both readers load every output document to the input plus
//!   exactly the predicted annotations.
//! - The emitter: `postwire_core::emit::{key, string_value}` and
//!   `postwire_core::edit::edit_document` write each trap as a key and as a value in
//!   every shape an edit can take (new line in a block mapping, new nested block mappings,
//!   flow members, filled nulls, JSON, replaced values); both readers must read back a string
//!   key and a string value with the same text.
//!
//! The traps are the engine's one test list, `postwire_core::testing::{TRAPS, MORE}`.

use std::collections::BTreeMap;

use postwire::runner::Runner;
use postwire_core::edit::{edit_document, Op, Outcome, PathSeg, Uneditable, Value as EditValue};
use postwire_core::emit;
use postwire_core::testing::{all_traps, TRAPS};
use postwire_core::wire::RenderRequestV1;
use serde_json::{json, Value};

use crate::fidelity::{first_difference, only_added_annotations, parse_expected};
use crate::util::{describe, Oracle, TempDir};

/// `s` double-quoted for the test's own inputs (the traps are plain ASCII).
fn dq(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `s` single-quoted.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The traps that can be plain keys of one mapping: `<<` is the merge key, and `~`
/// and `null` are both the null key.
fn plain_keys() -> impl Iterator<Item = &'static str> {
    TRAPS.iter().copied().filter(|t| !matches!(*t, "<<" | "~" | "null"))
}

/// A chart-like stream with trap keys and values around every place the checksum wiring writes.
fn trap_stream() -> Vec<String> {
    let block = |indent: usize, quote: &dyn Fn(&str) -> String| {
        TRAPS.iter().map(|t| format!("{}{}: {}\n", " ".repeat(indent), quote(t), quote(t))).collect::<String>()
    };
    let config = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: traps\ndata:\n{}{}",
        block(2, &|t| dq(t)),
        plain_keys()
            .map(|t| format!("  plain-{}: {t}\n", t.replace(['~', '=', '<', ':', '+', '.'], "x")))
            .collect::<String>()
    );
    let secret =
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: traps\nstringData:\n{}", block(2, &|t| sq(t)));
    let volume = "    spec:\n      volumes:\n      - name: c\n        configMap:\n          name: traps\n";
    let env_from = "    spec:\n      containers:\n      - name: c\n        envFrom:\n        - secretRef:\n            name: traps\n        - configMapRef: {name: traps}\n";
    let deployment = |name: &str, template_metadata: &str, spec: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    metadata:\n{template_metadata}{spec}"
        )
    };
    let flow_members = |quote: &dyn Fn(&str) -> String| {
        TRAPS.iter().map(|t| format!("{}: {}", quote(t), quote(t))).collect::<Vec<_>>().join(", ")
    };
    vec![
        config,
        secret,
        // Block annotations, double-quoted traps; the first key is a trap.
        deployment(
            "double",
            &format!("      annotations:\n{}      labels:\n        app: web\n", block(8, &|t| dq(t))),
            volume,
        ),
        // Single-quoted traps at another indentation step, with comments.
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n    name: single\nspec:\n    template:\n        metadata:\n            annotations:\n                # traps follow\n{}            labels: {{app: web}}\n        spec:\n            volumes:\n            -   name: c\n                configMap: {{name: traps}}\n",
            block(16, &|t| sq(t))
        ),
        // A flow mapping of traps.
        deployment(
            "flow",
            &format!("      annotations: {{{}}}\n", flow_members(&|t| dq(t))),
            env_from,
        ),
        // Plain trap keys and values: booleans, nulls and numbers to a YAML 1.1 reader, which
        // they must stay.
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n{}{}  name: plain\nspec:\n  volumes:\n  - name: c\n    configMap:\n      name: traps\n",
            plain_keys().map(|t| format!("    {t}: {}\n", dq(t))).collect::<String>(),
            TRAPS
                .iter()
                .enumerate()
                .map(|(i, t)| format!("    v{i}: {t}\n"))
                .collect::<String>()
        ),
        // No annotations yet: postwire creates them in front of trap-keyed labels.
        format!(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cron\nspec:\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels:\n{}        spec:\n          volumes:\n          - name: c\n            configMap:\n              name: traps\n",
            block(12, &|t| dq(t))
        ),
        // Null annotations next to flow-mapped trap labels.
        deployment(
            "null",
            &format!(
                "      annotations: ~\n      labels: {{{}}}\n",
                flow_members(&|t| sq(t))
            ),
            volume,
        ),
        // A stale checksum written as a plain trap: replaced by the hash, quoted.
        deployment(
            "stale",
            "      annotations:\n        checksum/configmap-traps: yes\n        \"no\": \"off\"\n",
            volume,
        ),
        // A List whose item has trap annotations.
        format!(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: DaemonSet\n  metadata:\n    name: listed\n  spec:\n    template:\n      metadata:\n        annotations:\n{}      spec:\n        volumes:\n        - name: c\n          configMap:\n            name: traps\n",
            block(10, &|t| dq(t))
        ),
    ]
}

#[test]
fn trap_keys_and_values_survive_checksum_edits() {
    const TEST: &str = "traps_through_plugin_wasm";
    let Some(oracle) = Oracle::find(TEST) else {
        return;
    };
    let tmp = TempDir::new(TEST);
    let docs = trap_stream();
    let input = docs.join("---\n");
    let input_path = tmp.join("in.yaml");
    std::fs::write(&input_path, &input).unwrap();

    let mut runner = Runner::embedded().expect("plugin.wasm loads");
    let response = runner
        .render(&RenderRequestV1::new(input.clone()))
        .unwrap_or_else(|e| panic!("render failed (code {}): {e}\n--- input\n{input}", e.code));
    let output = response.manifests;
    let output_path = tmp.join("out.yaml");
    std::fs::write(&output_path, &output).unwrap();
    let context = || format!("--- input\n{input}\n--- output\n{output}");

    // The independent prediction, then both readers on input vs output.
    let expected_out = oracle.run([std::path::Path::new("expect"), &input_path]);
    assert!(expected_out.status.success(), "oracle expect:\n{}", describe(&expected_out));
    let expected_path = tmp.join("expected.json");
    std::fs::write(&expected_path, &expected_out.stdout).unwrap();
    let expected: Value = serde_json::from_slice(&expected_out.stdout).unwrap();
    let additions = parse_expected(&expected);
    let changed: Vec<usize> = additions.keys().copied().collect();
    assert_eq!(
        changed,
        vec![3, 4, 5, 6, 7, 8, 9, 10],
        "the oracle should expect checksums on every workload: {expected}"
    );
    let cmp = oracle.run([
        "compare".to_string(),
        input_path.display().to_string(),
        output_path.display().to_string(),
        format!("@{}", expected_path.display()),
    ]);
    assert!(
        cmp.status.success(),
        "PyYAML or yaml.v2 reads the output as something other than input + checksums:\n{}\n{}",
        describe(&cmp),
        context()
    );

    // The text: every trap line kept byte for byte; only checksum lines added.
    let outputs: Vec<&str> = split_docs(&output);
    assert_eq!(outputs.len(), docs.len(), "{}", context());
    for (k, (before, after)) in docs.iter().zip(&outputs).enumerate() {
        let n = k + 1;
        match additions.get(&n) {
            None => assert_eq!(before, after, "document {n} should be untouched: {}", first_difference(before, after)),
            Some(adds) if before.contains("checksum/configmap-traps: yes") => {
                assert_eq!(adds.len(), 1, "document {n}: {expected}");
                let want = before.replace(
                    "checksum/configmap-traps: yes",
                    &format!("checksum/configmap-traps: \"{}\"", adds[0].value),
                );
                assert_eq!(
                    &want,
                    after,
                    "document {n}: the stale value must be replaced in place: {}",
                    first_difference(&want, after)
                );
                let report_doc = response.report.documents.iter().find(|d| d.document == n);
                assert!(
                    report_doc.is_some_and(|d| d
                        .changes
                        .iter()
                        .any(|c| c.key == "checksum/configmap-traps"
                            && c.action == postwire_core::report::Action::Updated)),
                    "document {n}: the report should say the stale checksum was updated: {report_doc:?}"
                );
            }
            Some(adds) => only_added_annotations(before, after, adds, false)
                .unwrap_or_else(|e| panic!("document {n}: {e}\n{}", context())),
        }
    }
}

/// Documents of a stream this test built with `---` lines between them.
fn split_docs(stream: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in stream.split_inclusive('\n') {
        if line == "---\n" {
            out.push(&stream[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    out.push(&stream[start..]);
    out
}

/// One emitter case: an edited document and where the mapping that must hold the trap entry is.
struct EmitCase {
    label: String,
    trap: &'static str,
    text: String,
    /// Path to the mapping that must hold `trap: trap` after the edit.
    at: Vec<&'static str>,
}

fn emit_cases() -> Vec<EmitCase> {
    let mut cases = Vec::new();
    for trap in all_traps() {
        let mut edit = |label: &str, input: &str, path: Vec<&'static str>, outcome: Outcome| {
            let mut full: Vec<PathSeg> = path.iter().map(|&k| PathSeg::from(k)).collect();
            full.push(PathSeg::from(trap));
            let ops = [Op::Set { path: full, value: EditValue::str(trap) }];
            let (text, outcomes) = edit_document(input, &ops, Uneditable::Error)
                .unwrap_or_else(|e| panic!("{label} with trap {trap:?}: {e}\n{input}"));
            assert_eq!(outcomes, vec![outcome], "{label} with trap {trap:?}");
            // postwire's own parser reads back what it wrote: a second edit changes nothing.
            let (again, outcomes2) = edit_document(&text, &ops, Uneditable::Error).unwrap_or_else(|e| {
                panic!("{label} with trap {trap:?}: postwire cannot re-read its output: {e}\n{text}")
            });
            assert!(
                again == text && outcomes2 == vec![Outcome::Unchanged],
                "{label} with trap {trap:?}: not idempotent, postwire reads its own output differently:\n{text}"
            );
            cases.push(EmitCase { label: label.to_string(), trap, text, at: path });
        };
        let ann = vec!["metadata", "annotations"];
        edit(
            "block mapping, new line before the first key",
            "metadata:\n  annotations:\n    x: \"y\"\n  name: n\n",
            ann.clone(),
            Outcome::Added,
        );
        edit("new block mappings along the path", "metadata:\n  name: n\n", ann.clone(), Outcome::Added);
        edit("empty flow mapping", "metadata:\n  annotations: {}\n", ann.clone(), Outcome::Added);
        edit("flow mapping with members", "metadata: {annotations: {x: y}, name: n}\n", ann.clone(), Outcome::Added);
        edit("new mappings inside a flow mapping", "metadata: {name: n}\n", ann.clone(), Outcome::Added);
        edit("null value `~`", "metadata:\n  annotations: ~\n", ann.clone(), Outcome::Added);
        edit("empty value", "metadata:\n  annotations:\n  name: n\n", ann.clone(), Outcome::Added);
        edit("JSON document", "{\"metadata\": {\"annotations\": {\"x\": \"y\"}}}\n", ann.clone(), Outcome::Added);
        edit(
            "stale plain value replaced",
            &format!("metadata:\n  annotations:\n    {}: 1\n", emit::key(trap, false)),
            ann.clone(),
            Outcome::Updated,
        );
        edit(
            "stale block scalar replaced",
            &format!("metadata:\n  annotations:\n    {}: |\n      old\n    z: y\n", emit::key(trap, false)),
            ann.clone(),
            Outcome::Updated,
        );
        // The trap as a mapping name on the path, too.
        edit("trap as a created path key (block)", "metadata:\n  name: n\n", vec!["metadata", trap], Outcome::Added);
        edit("trap as a created path key (flow)", "metadata: {name: n}\n", vec!["metadata", trap], Outcome::Added);
    }
    cases
}

#[test]
fn emitter_writes_traps_as_strings_for_both_yaml_1_1_readers() {
    const TEST: &str = "traps_emitter";
    let Some(oracle) = Oracle::find(TEST) else {
        return;
    };
    let tmp = TempDir::new(TEST);

    // emit::key and emit::string_value directly, block and flow.
    let mut direct = String::new();
    for (i, t) in all_traps().enumerate() {
        if i > 0 {
            direct.push_str("---\n");
        }
        direct.push_str(&format!(
            "block:\n  {}: {}\nflow: {{{}: {}}}\n",
            emit::key(t, false),
            emit::string_value(t),
            emit::key(t, true),
            emit::string_value(t)
        ));
    }
    let cases = emit_cases();
    let mut stream = direct.clone();
    for c in &cases {
        stream.push_str("---\n");
        stream.push_str(&c.text);
    }
    let path = tmp.join("emitted.yaml");
    std::fs::write(&path, &stream).unwrap();
    let rows = oracle.json([std::path::Path::new("strings"), &path]);
    let rows = rows.as_array().expect("one row per document");
    let n_direct = all_traps().count();
    assert_eq!(rows.len(), n_direct + cases.len(), "document count");

    let mut failures = Vec::new();
    let mut check = |label: &str, trap: &str, doc: &str, row: &Value, path: &[&str]| {
        for reader in ["pyyaml", "yamlv2"] {
            let Some(mut node) = row[reader].get("ok") else {
                failures.push(format!("{label}, trap {trap:?}, {reader}: does not load: {}\n{doc}", row[reader]));
                continue;
            };
            for p in path {
                node = &node[format!("str:{p}")];
            }
            let got = &node[format!("str:{trap}")];
            if *got != json!({ "!str": trap }) {
                let keys: Vec<&String> = node.as_object().map(|m| m.keys().collect()).unwrap_or_default();
                failures.push(format!(
                    "{label}, trap {trap:?}, {reader}: expected string key and value {trap:?}, got value {got} among keys {keys:?}\n{doc}"
                ));
            }
        }
    };
    let direct_docs = split_docs(&direct);
    for (i, t) in all_traps().enumerate() {
        check("emit::key/string_value, block", t, direct_docs[i], &rows[i], &["block"]);
        check("emit::key/string_value, flow", t, direct_docs[i], &rows[i], &["flow"]);
    }
    for (c, row) in cases.iter().zip(&rows[n_direct..]) {
        let label = format!("inject ({})", c.label);
        check(&label, c.trap, &c.text, row, &c.at);
    }
    let by_label: BTreeMap<&str, usize> = cases.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.label.as_str()).or_default() += 1;
        m
    });
    assert!(failures.is_empty(), "{} trap(s) not read back as strings:\n\n{}", failures.len(), failures.join("\n\n"));
    eprintln!(
        "traps: {} traps x ({} inject shapes + 2 direct) read back as strings by PyYAML and yaml.v2",
        n_direct,
        by_label.len()
    );
}
