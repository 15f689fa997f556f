//! The edit layer's regressions through the runner: each shape that once corrupted a document,
//! stopped a render or was silently misread. Every successful output is checked by both YAML 1.1
//! readers (PyYAML, yaml.v2) against the independent checksum rule (`oracle.py expect`): the
//! output is exactly the input plus the predicted annotations. A second run changes nothing.

use std::process::Output;

use crate::util::{describe, postwire, run, Oracle, TempDir};

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n---\n";

/// A Deployment using ConfigMap `c`, with `meta` as its pod template's metadata lines.
fn deployment(meta: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n{meta}    spec:\n      volumes:\n      - name: c\n        configMap:\n          name: c\n"
    )
}

fn render(dir: &TempDir, input: &str, args: &[&str]) -> Output {
    run(postwire(&dir.join("cache")).args(args), input.as_bytes())
}

/// Render, then prove the output with both readers and a second run. With `args`, the expected
/// addition is the one `checksum/configmap-c` annotation of document `doc` (what the output holds).
fn assert_wired(oracle: &Oracle, dir: &TempDir, label: &str, input: &str, args: &[&str], doc: usize) -> String {
    let out = render(dir, input, args);
    assert!(out.status.success(), "{label}: {}", describe(&out));
    let output = String::from_utf8(out.stdout.clone()).unwrap();
    assert_ne!(output, input, "{label}: nothing changed");
    let (inp, outp) = (dir.join("in.yaml"), dir.join("out.yaml"));
    std::fs::write(&inp, input).unwrap();
    std::fs::write(&outp, &output).unwrap();
    let expected = if args.is_empty() {
        oracle.json(["expect".as_ref(), inp.as_os_str()])
    } else {
        let key = if output.contains("checksum/config: ") { "checksum/config" } else { "checksum/configmap-c" };
        let hash = &output.split(&format!("{key}: \"")).nth(1).expect("annotation written")[..64];
        serde_json::json!({ doc.to_string(): [[["spec", "template", "metadata", "annotations"], key, hash]] })
    };
    let check = oracle.run(["compare".as_ref(), inp.as_os_str(), outp.as_os_str(), expected.to_string().as_ref()]);
    assert!(check.status.success(), "{label}: readers disagree:\n{}\n{output}", describe(&check));
    let again = render(dir, &output, args);
    assert!(again.status.success(), "{label}: second run: {}", describe(&again));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), output, "{label}: not idempotent");
    output
}

fn assert_refused(dir: &TempDir, label: &str, input: &str, why: &str) {
    let out = render(dir, input, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{label}: {}", describe(&out));
    assert!(out.stdout.is_empty(), "{label}: partial output");
    assert!(stderr.contains(why) && stderr.contains("onUneditable: skip"), "{label}: {stderr}");
    assert!(stderr.contains("document 2 (Deployment/d)"), "{label}: {stderr}");
    let skipped = render(dir, input, &["--set", "onUneditable=skip"]);
    assert!(skipped.status.success(), "{label}: {}", describe(&skipped));
    assert_eq!(skipped.stdout, input.as_bytes(), "{label}: a skipped document must stay byte-identical");
    let warning = String::from_utf8_lossy(&skipped.stderr);
    assert!(warning.contains("warning") && warning.contains("onUneditable: skip"), "{label}: {warning}");
}

#[test]
fn shapes_that_once_broke_edits_are_wired_exactly() {
    let Some(oracle) = Oracle::find("edit_defects") else { return };
    let dir = TempDir::new("edit-defects");
    let cases: &[(&str, String)] = &[
        // 1. Helm renders `checksum/configmap-c: {{ .Values.unset }}` as an empty value.
        (
            "empty annotation value",
            format!("{CONFIG_MAP}{}", deployment("    metadata:\n      annotations:\n        checksum/configmap-c:\n")),
        ),
        // 2. An empty value inside a flow mapping.
        ("flow mapping with an empty value", format!("{CONFIG_MAP}{}", deployment("    metadata: {labels: {a: b}, annotations: }\n"))),
        // 3. A block scalar as the last value of the stream, no final line break.
        (
            "block scalar at the end of the stream",
            format!(
                "{CONFIG_MAP}{}    metadata:\n      annotations:\n        checksum/configmap-c: |\n          old",
                deployment("")
            ),
        ),
        // 5. An anchor no alias uses, and a standard tag.
        ("unused anchor", format!("{CONFIG_MAP}{}", deployment("    metadata: &m\n      labels: {a: b}\n"))),
        ("standard tag", format!("{CONFIG_MAP}{}", deployment("    metadata: !!map\n      labels: {a: b}\n"))),
        // 6. `~` and `null` documents.
        ("null documents", format!("~\n---\nnull\n---\n{CONFIG_MAP}{}", deployment(""))),
        // 7. A block-style typed list.
        (
            "block ConfigMapList",
            format!(
                "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n  data:\n    k: v\n---\n{}",
                deployment("")
            ),
        ),
    ];
    for (label, input) in cases {
        if *label == "block ConfigMapList" {
            // The oracle's checksum rule knows `kind: List` only: the addition is stated here.
            assert_wired(&oracle, &dir, label, input, &["--set", "checksum.enabled=true"], 2);
            continue;
        }
        assert_wired(&oracle, &dir, label, input, &[], 0);
    }

    // 1, aggregate mode: the chart's own empty `checksum/config:` gets postwire's hash in place.
    let input = format!("{CONFIG_MAP}{}", deployment("    metadata:\n      annotations:\n        checksum/config:\n"));
    let out = assert_wired(&oracle, &dir, "aggregate", &input, &["--set", "checksum.mode=aggregate"], 2);
    assert!(out.contains("        checksum/config: \"") && !out.contains("checksum/config\""), "{out}");
    assert_eq!(out.matches("checksum/config").count(), 1, "{out}");
}

#[test]
fn shapes_postwire_cannot_edit_safely_are_refused_or_skipped() {
    let dir = TempDir::new("edit-refusals");
    // 4. A merge key on the path: PyYAML and yaml.v2 would disagree about the edited mapping.
    let merge = format!("{CONFIG_MAP}{}", deployment("    <<: {metadata: {labels: {app: web}}}\n"));
    assert_refused(&dir, "merge key", &merge, "merge key");
    // 5. A node shared through an alias.
    let shared = format!(
        "{CONFIG_MAP}{}",
        deployment("    metadata:\n      annotations: *a\n")
            .replace("  name: d\n", "  name: d\n  annotations: &a {team: x}\n")
    );
    assert_refused(&dir, "alias", &shared, "alias");
    // 8. LS inside a comment: a YAML 1.1 reader sees an `annotations:` key there.
    let ls =
        format!("{CONFIG_MAP}{}", deployment("    metadata: # \u{2028}annotations: {x: y}\n      labels: {a: b}\n"));
    assert_refused(&dir, "line separator", &ls, "LS (U+2028)");
    // 8. A lone CR ends a line for every reader but not for postwire's line-based edits.
    let cr = format!("{CONFIG_MAP}{}", deployment("").replacen("metadata:\n  name: d\n", "metadata:\r  name: d\r", 1));
    assert_refused(&dir, "lone carriage return", &cr, "lone carriage return");
}

#[test]
fn ambiguous_references_warn_on_stderr() {
    let dir = TempDir::new("edit-ambiguous");
    let cm = |ns: &str| CONFIG_MAP.replace("  name: c\n", &format!("  name: c\n  namespace: {ns}\n"));
    let input = format!("{}{}{}", cm("a"), cm("b"), deployment(""));
    let out = render(&dir, &input, &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ConfigMap c is in namespaces a, b") && stderr.contains("--namespace"), "{stderr}");
    let known = render(&dir, &input, &["--namespace", "a"]);
    assert!(known.stderr.is_empty(), "{}", describe(&known));
}
