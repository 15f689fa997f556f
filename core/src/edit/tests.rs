//! Table tests of the edit layer: each case is input, ops and the exact output text.

use super::*;

fn p(ptr: &str) -> Vec<PathSeg> {
    parse_pointer(ptr).unwrap()
}

fn set(ptr: &str, v: &str) -> Op {
    Op::Set { path: p(ptr), value: Value::str(v) }
}

fn env(name: &str, value: &str) -> Value {
    Value::map([("name", Value::str(name)), ("value", Value::str(value))])
}

fn merge_env(ptr: &str, name: &str, value: &str, front: bool) -> Op {
    Op::Merge { path: p(ptr), key: "name".into(), item: env(name, value), front }
}

fn run(text: &str, ops: &[Op]) -> String {
    let (out, _) = edit_document(text, ops, Uneditable::Error).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    // Idempotent for ops that are: a second plan changes nothing.
    let idempotent = |o: &&Op| match o {
        Op::Insert { .. } => false,
        Op::Remove { path } => !matches!(path.last(), Some(PathSeg::Index(_))),
        _ => true,
    };
    let again: Vec<Op> = ops.iter().filter(idempotent).cloned().collect();
    if again.len() == ops.len() {
        let (twice, outcomes) = edit_document(&out, &again, Uneditable::Error).unwrap();
        assert_eq!(twice, out, "not idempotent");
        assert!(outcomes.iter().all(|o| *o == Outcome::Unchanged), "{outcomes:?}");
    }
    out
}

fn refusal(text: &str, ops: &[Op]) -> String {
    let err = edit_document(text, ops, Uneditable::Error).unwrap_err();
    assert!(err.is_uneditable(), "{err}");
    let (same, outcomes) = edit_document(text, ops, Uneditable::Skip).unwrap();
    assert_eq!(same, text);
    assert!(outcomes.iter().all(|o| *o == Outcome::Unchanged));
    err.to_string()
}

const ANN: &str = "/spec/template/metadata/annotations/k";

/// An empty value (`value:`) is parsed as a scalar at its key's `:`; what comes after it goes
/// after the colon, not between the key and its colon. Appending an env var after one, or a
/// container after a container whose last line is one, gave invalid YAML (an internal error).
#[test]
fn appends_after_an_empty_last_value() {
    let text = "c:\n  env:\n  - name: A\n    value:\n";
    let append = Op::Insert { path: p("/c/env"), index: None, item: env("B", "b") };
    assert_eq!(run(text, &[append]), "c:\n  env:\n  - name: A\n    value:\n  - name: \"B\"\n    value: \"b\"\n");
    let nested = "s:\n- a: 1\n  b:\nt: 2\n";
    let append = Op::Insert { path: p("/s"), index: None, item: Value::Int(7) };
    assert_eq!(run(nested, &[append]), "s:\n- a: 1\n  b:\n- 7\nt: 2\n");
    let flow = "m: {a: 1, b: }\n";
    // New entries go first (see `block_entries_at`).
    assert_eq!(run(flow, &[set("/m/c", "x")]), "m: {\"c\": \"x\", a: 1, b: }\n");
    let removed = "m:\n  a:\n  b: 1\n";
    assert_eq!(run(removed, &[Op::Remove { path: p("/m/b") }]), "m:\n  a:\n");
}

#[test]
fn fills_an_empty_value_without_touching_its_key() {
    // Helm renders `checksum/config: {{ .Values.unset }}` as an empty value.
    let text = "spec:\n  template:\n    metadata:\n      annotations:\n        checksum/config:\n";
    let out = run(text, &[set("/spec/template/metadata/annotations/checksum~1config", "h")]);
    assert_eq!(out, "spec:\n  template:\n    metadata:\n      annotations:\n        checksum/config: \"h\"\n");
    let (_, outcomes) =
        edit_document(text, &[set("/spec/template/metadata/annotations/checksum~1config", "h")], Uneditable::Error)
            .unwrap();
    // The key was there (with a null value): its value is updated.
    assert_eq!(outcomes, vec![Outcome::Updated]);
}

#[test]
fn fills_empty_values_in_flow_mappings() {
    let text = "metadata: {name: p, annotations: }\n";
    assert_eq!(
        run(text, &[set("/metadata/annotations/k", "v")]),
        "metadata: {name: p, annotations: {\"k\": \"v\"} }\n"
    );
    let text = "metadata: {name: p, annotations: }\n";
    assert_eq!(
        run(text, &[set("/metadata/labels/a", "b")]),
        "metadata: {\"labels\": {\"a\": \"b\"}, name: p, annotations: }\n"
    );
}

#[test]
fn replaces_a_block_scalar_at_the_end_of_the_text() {
    let text = "metadata:\n  annotations:\n    checksum/configmap-c: |\n      old";
    assert_eq!(
        run(text, &[set("/metadata/annotations/checksum~1configmap-c", "new")]),
        "metadata:\n  annotations:\n    checksum/configmap-c: \"new\""
    );
    let text = "metadata:\n  annotations:\n    k: |+\n      old\n\n    z: y\n";
    assert_eq!(
        run(text, &[set("/metadata/annotations/k", "new")]),
        "metadata:\n  annotations:\n    k: \"new\"\n\n    z: y\n"
    );
}

#[test]
fn two_ops_creating_one_mapping_share_one_block() {
    let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers: []\n";
    let out = run(text, &[set("/metadata/labels/app", "web"), set("/metadata/annotations/a", "1")]);
    assert_eq!(
        out,
        "metadata:\n  labels:\n    app: \"web\"\n  annotations:\n    a: \"1\"\napiVersion: v1\nkind: Pod\nspec:\n  containers: []\n"
    );
}

#[test]
fn edits_unused_anchors_and_standard_tags_like_any_node() {
    let text = "spec:\n  template: &t\n    metadata:\n      labels: {a: b}\n";
    assert_eq!(
        run(text, &[set(ANN, "v")]),
        "spec:\n  template: &t\n    metadata:\n      annotations:\n        k: \"v\"\n      labels: {a: b}\n"
    );
    let text = "spec:\n  template: !!map\n    spec: {}\n";
    assert_eq!(
        run(text, &[set(ANN, "v")]),
        "spec:\n  template: !!map\n    metadata:\n      annotations:\n        k: \"v\"\n    spec: {}\n"
    );
}

#[test]
fn refuses_shared_nodes_merge_keys_and_yaml11_breaks() {
    let shared = "x: &m\n  a: 1\nspec:\n  template:\n    metadata: *m\n";
    assert!(refusal(shared, &[set(ANN, "v")]).contains("alias"));
    let anchored = "spec:\n  template: &t\n    metadata: {}\nother: *t\n";
    assert!(refusal(anchored, &[set(ANN, "v")]).contains("anchor"));
    let merge = "spec:\n  template:\n    <<: {metadata: {labels: {app: web}}}\n    spec: {}\n";
    let why = refusal(merge, &[set(ANN, "v")]);
    assert!(why.contains("merge key") && why.contains("onUneditable"), "{why}");
    let ls = "spec:\n  template:\n    metadata: {} # \u{2028}annotations: {}\n";
    assert!(refusal(ls, &[set(ANN, "v")]).contains("LS (U+2028)"));
    let explicit = "spec:\n  template:\n    ? metadata\n    : {labels: {}}\n";
    assert!(refusal(explicit, &[set("/spec/template/spec/x", "v")]).contains("explicit"));
    // A block scalar (or block collection) as a key follows `?` on an earlier line: its span
    // starts at its content, which looked like a key starting its own line, so new entries
    // went inside the key (found by the `edit` fuzz target).
    for key in ["? |\n    kind: Service\n", "? - a\n  - b\n", "? >\n  folded\n  key\n"] {
        let doc = format!("{key}: v\nmetadata:\n  name: cache\n");
        refusal(&doc, &[set("/spec/template/spec/x", "v")]);
    }
}

#[test]
fn merges_env_entries_in_every_sequence_style() {
    let cases = [
        // block, indented
        (
            "c:\n  env:\n    - name: A\n      value: a\n",
            "c:\n  env:\n    - name: \"B\"\n      value: \"b\"\n    - name: A\n      value: a\n",
        ),
        // block, indentless
        (
            "c:\n  env:\n  - name: A\n    value: a\n",
            "c:\n  env:\n  - name: \"B\"\n    value: \"b\"\n  - name: A\n    value: a\n",
        ),
        // flow
        (
            "c:\n  env: [{name: A, value: a}]\n",
            "c:\n  env: [{\"name\": \"B\", \"value\": \"b\"}, {name: A, value: a}]\n",
        ),
        // empty, null, ~ and missing
        ("c:\n  env: []\n", "c:\n  env: [{\"name\": \"B\", \"value\": \"b\"}]\n"),
        ("c:\n  env:\n  x: 1\n", "c:\n  env:\n    - name: \"B\"\n      value: \"b\"\n  x: 1\n"),
        ("c:\n  env: ~\n", "c:\n  env: [{\"name\": \"B\", \"value\": \"b\"}]\n"),
        ("c: {env: null}\n", "c: {env: [{\"name\": \"B\", \"value\": \"b\"}]}\n"),
        ("c:\n  x: 1\n", "c:\n  env:\n    - name: \"B\"\n      value: \"b\"\n  x: 1\n"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, &[merge_env("/c/env", "B", "b", true)]), want, "{text:?}");
    }
}

#[test]
fn merge_updates_the_matching_item_and_appends_at_the_back() {
    let text = "env:\n- name: A\n  value: old # keep\n- name: C\n  value: c\n";
    assert_eq!(
        run(text, &[merge_env("/env", "A", "new", false)]),
        "env:\n- name: A\n  value: \"new\" # keep\n- name: C\n  value: c\n"
    );
    assert_eq!(
        run(text, &[merge_env("/env", "B", "b", false)]),
        "env:\n- name: A\n  value: old # keep\n- name: C\n  value: c\n- name: \"B\"\n  value: \"b\"\n"
    );
    // At the very end of a text without a final line break.
    assert_eq!(
        run("env:\n- name: A", &[merge_env("/env", "B", "b", false)]),
        "env:\n- name: A\n- name: \"B\"\n  value: \"b\""
    );
}

#[test]
fn inserts_and_removes_items_and_entries() {
    let text = "s:\n- a\n- b\n- c\nm:\n  x: 1\n  y: 2\n  z: 3\n";
    let insert = Op::Insert { path: p("/s"), index: Some(1), item: Value::Int(7) };
    assert_eq!(run(text, &[insert]), "s:\n- a\n- 7\n- b\n- c\nm:\n  x: 1\n  y: 2\n  z: 3\n");
    let ops = [Op::Remove { path: p("/s/0") }, Op::Remove { path: p("/s/1") }, Op::Remove { path: p("/m/z") }];
    // Indices refer to the list as earlier ops of the plan left it.
    assert_eq!(run(text, &ops[..1]), "s:\n- b\n- c\nm:\n  x: 1\n  y: 2\n  z: 3\n");
    let (out, outcomes) = edit_document(text, &ops, Uneditable::Error).unwrap();
    assert_eq!(out, "s:\n- b\nm:\n  x: 1\n  y: 2\n");
    assert_eq!(outcomes, vec![Outcome::Removed; 3]);
    assert_eq!(
        run(text, &[Op::Remove { path: p("/m/x") }, Op::Remove { path: p("/m/y") }]),
        "s:\n- a\n- b\n- c\nm:\n  z: 3\n"
    );
    assert_eq!(
        run(text, &[Op::Remove { path: p("/m/x") }, Op::Remove { path: p("/m/y") }, Op::Remove { path: p("/m/z") }]),
        "s:\n- a\n- b\n- c\nm: {}\n"
    );
    assert_eq!(run("m: {a: 1, b: 2}\n", &[Op::Remove { path: p("/m/b") }]), "m: {a: 1}\n");
    assert_eq!(run("m: {a: 1, b: 2}\n", &[Op::Remove { path: p("/m/a") }]), "m: {b: 2}\n");
    assert_eq!(run("m: {a: 1}\n", &[Op::Remove { path: p("/absent") }]), "m: {a: 1}\n");
}

#[test]
fn several_items_inserted_before_an_indented_item_keep_their_indentation() {
    let text = "c:\n  env:\n  - name: A\n";
    let ops = [
        Op::Insert { path: p("/c/env"), index: Some(0), item: env("X", "x") },
        Op::Insert { path: p("/c/env"), index: Some(1), item: env("Y", "y") },
    ];
    assert_eq!(
        run(text, &ops),
        "c:\n  env:\n  - name: \"X\"\n    value: \"x\"\n  - name: \"Y\"\n    value: \"y\"\n  - name: A\n"
    );
}

#[test]
fn replaces_nodes_with_structured_values() {
    let text = "spec:\n  replicas: 1 # two soon\n  selector:\n    app: a\n";
    let ops = [
        Op::Set { path: p("/spec/replicas"), value: Value::Int(2) },
        Op::Set {
            path: p("/spec/selector"),
            value: Value::map([("matchLabels", Value::map([("app", Value::str("a"))]))]),
        },
        Op::Set { path: p("/spec/paused"), value: Value::Bool(false) },
    ];
    assert_eq!(
        run(text, &ops),
        "spec:\n  paused: false\n  replicas: 2 # two soon\n  selector:\n    matchLabels:\n      app: \"a\"\n"
    );
}

#[test]
fn keeps_crlf_and_edits_json_as_json() {
    let text = "spec:\r\n  template:\r\n    metadata:\r\n      name: x\r\n";
    assert_eq!(
        run(text, &[set(ANN, "v")]),
        "spec:\r\n  template:\r\n    metadata:\r\n      annotations:\r\n        k: \"v\"\r\n      name: x\r\n"
    );
    let json = r#"{"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"a"}]}}}}"#;
    let out = run(json, &[set(ANN, "v"), merge_env("/spec/template/spec/containers/0/env", "B", "b", true)]);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["spec"]["template"]["metadata"]["annotations"]["k"], "v");
    assert_eq!(value["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"], "B");
}

#[test]
fn errors_name_the_path_and_line() {
    let err = edit_document("spec:\n  template: 3\n", &[set(ANN, "v")], Uneditable::Error).unwrap_err();
    assert_eq!(err.to_string(), "line 2, column 13: cannot wire: spec.template: a scalar is not a mapping");
    let err = edit_document(
        "s: [a]\n",
        &[Op::Insert { path: p("/s"), index: Some(5), item: Value::Null }],
        Uneditable::Error,
    )
    .unwrap_err();
    assert!(err.to_string().contains("s: has 1 items; cannot insert at 5"), "{err}");
}

#[test]
fn pointers_unescape_and_number() {
    assert_eq!(p("/a~1b/0/c~0d"), vec![PathSeg::from("a/b"), PathSeg::Index(0), PathSeg::from("c~d")]);
    assert_eq!(p("/01"), vec![PathSeg::from("01")]);
    assert!(parse_pointer("a/b").is_err());
    // A numeric token on a mapping is a key.
    assert_eq!(run("m:\n  x: 1\n", &[set("/m/0", "z")]), "m:\n  \"0\": \"z\"\n  x: 1\n");
}

/// Node properties (`&anchor`, `!tag`) stand in front of a flow entry's or item's content, outside
/// the parser's span: removals and insertions take or keep them with their own entry.
#[test]
fn flow_entries_keep_their_anchors_and_tags() {
    let remove = |ptr: &str| Op::Remove { path: p(ptr) };
    // The anchor goes with the entry it is on, and the neighbour keeps its own.
    assert_eq!(run("m: {&x a: 1, b: 2}\n", &[remove("/m/a")]), "m: {b: 2}\n");
    assert_eq!(run("m: {a: 1, &x b: 2, c: *x}\n", &[remove("/m/a")]), "m: {&x b: 2, c: *x}\n");
    assert_eq!(run("m: {a: 1, !!str b: 2}\n", &[remove("/m/a")]), "m: {!!str b: 2}\n");
    assert_eq!(run("s: [a, &x b, *x]\n", &[remove("/s/0")]), "s: [&x b, *x]\n");
    // An anchor an alias still uses cannot go (c would read "b" with the anchor moved, or
    // nothing at all with it removed).
    let why = refusal("m: {&x a: 1, b: 2, c: *x}\n", &[remove("/m/a")]);
    assert!(why.contains("anchor"), "{why}");
    // New items go in front of an anchored first item, not between its anchor and it.
    let front = Op::Insert { path: p("/s"), index: Some(0), item: Value::str("n") };
    assert_eq!(run("s: [&x a, *x]\n", &[front]), "s: [\"n\", &x a, *x]\n");
}

/// Edits whose tree the commit builds from the changed regions alone, where that tree once
/// differed from a whole parse (`edit_document` compares the two and fails on a difference):
/// an indentless sequence whose first item is tagged or starts on a later line, an empty item
/// at the insertion point, a block scalar ending the text without a line break, a byte order
/// mark before a region's line.
#[test]
fn trees_built_from_regions_are_those_of_a_whole_parse() {
    let insert = |ptr: &str, index: Option<usize>| Op::Insert { path: p(ptr), index, item: Value::str("x") };
    let remove = |ptr: &str| Op::Remove { path: p(ptr) };
    let cases: Vec<(&str, Op)> = vec![
        ("s:\n-   !!str a\n- b\n", insert("/s", Some(0))),
        ("s:\n-   !!str a\n- b\n", remove("/s/1")),
        ("m:\n  s:\n  - !!map\n    a: 1\n  - b\n", remove("/m/s/1")),
        ("m:\n  s:\n  -\n    a: 1\n  - b\n", remove("/m/s/1")),
        ("m:\n  s:\n  -\n    a: 1\n  - b\n", insert("/m/s", Some(0))),
        ("m:\n  s:\n  - # c\n    a: 1\n  - b\n", remove("/m/s/1")),
        ("s:\n- a\n-\n", insert("/s", None)),
        ("s:\n- a\n-", insert("/s", None)),
        ("s:\n- a: |\n    x", set("/s/0/b", "v")),
        ("s:\n- a: >\n    x", set("/s/0/b", "v")),
        ("s:\n- a: |+\n    x", set("/s/0/b", "v")),
        ("\u{feff}a: [x]\nb: 1\n", insert("/a", None)),
        ("\u{feff}a: [x]\nb: 1\n", set("/a", "y")),
    ];
    for (text, op) in cases {
        if let Err(e) = edit_document(text, std::slice::from_ref(&op), Uneditable::Error) {
            assert!(!e.to_string().contains("changed regions"), "{text:?} {op:?}: {e}");
        }
    }
    // A region inside a region inside a third (the container's, inside the pod template's,
    // which a null `metadata:` made a region): all are taken in by the outermost (found by
    // the `edit` fuzz target).
    let text = "spec:\n  template:\n    metadata:\n    spec:\n      containers:\n        - name: web\n          \
                image: nginx\n          ports:\n            - containerPort: 80\n          env:\n       \n        \
                - name: config\n";
    let mount = Value::map([("name", Value::str("v")), ("mountPath", Value::str("/v"))]);
    let ops = [
        set(ANN, "abc"),
        merge_env("/spec/template/spec/containers/0/env", "A", "1", true),
        Op::Merge {
            path: p("/spec/template/spec/containers/0/volumeMounts"),
            key: "mountPath".into(),
            item: mount,
            front: false,
        },
        Op::Remove { path: p("/spec/template/spec/containers/0/ports") },
    ];
    edit_document(text, &ops, Uneditable::Error).unwrap();
    // An explicit key with no value (`? name: c` on the last line): its empty value sits at
    // the next token after it, which lines added after it move (fuzz/findings/
    // edit-regions-explicit-key-without-value, all eight of the target's ops). Such a
    // document is parsed whole.
    let found = include_bytes!("../../../fuzz/findings/edit-regions-explicit-key-without-value");
    let text = std::str::from_utf8(&found[1..]).unwrap();
    let volume = Value::map([("name", Value::str("v")), ("emptyDir", Value::Map(Vec::new()))]);
    let ops = [Op::Merge { path: p("/spec/template/spec/volumes"), key: "name".into(), item: volume, front: false }];
    if let Err(e) = edit_document(text, &ops, Uneditable::Error) {
        assert!(!e.to_string().contains("changed regions"), "{e}");
    }
    // The input the fuzz target found with an empty block scalar (`conf: |` and no content):
    // such a document is parsed whole (fuzz/findings/edit-regions-empty-block-scalar).
    let found = include_bytes!("../../../fuzz/findings/edit-regions-empty-block-scalar");
    let text = std::str::from_utf8(&found[1..]).unwrap();
    let all = [
        set(ANN, "abc"),
        set("/spec/template/metadata/labels/tier", "on"),
        merge_env("/spec/template/spec/containers/0/env", "A", "1", true),
        Op::Remove { path: p("/spec/template/spec/containers/0/ports") },
    ];
    for mask in 1..16u32 {
        let ops: Vec<Op> = (0..4).filter(|i| mask & (1 << i) != 0).map(|i| all[i].clone()).collect();
        if let Err(e) = edit_document(text, &ops, Uneditable::Error) {
            assert!(!e.to_string().contains("changed regions"), "{ops:?}: {e}");
        }
    }
}
