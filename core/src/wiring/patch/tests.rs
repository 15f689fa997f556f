use serde_json::json;

use super::*;

const DEPLOY: &str = "# Source: web/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-api
  labels:
    tier: frontend   # keep me
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: 'web:1.0'
        env:
        - name: A
          value: \"on\"
        - name: B
          value: '0755'
      - name: sidecar
        image: proxy
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
";

fn stream() -> String {
    format!("{DEPLOY}---\n{SERVICE}")
}

fn render_config(input: &str, config: &str) -> Result<crate::RenderOutput> {
    let mut request = crate::wiring::test_support::request(input, config);
    request.set = vec!["checksum.enabled=false".into()];
    crate::render(&request)
}

fn docs(text: &str) -> Vec<Json> {
    let stream = crate::stream::Stream::split(text);
    (0..stream.segments.len())
        .filter(|&i| stream.segments[i].has_content)
        .map(|i| {
            let tree = crate::yaml::Tree::parse(stream.segment_text(i), 0).unwrap();
            model::json(&tree, tree.root().unwrap())
        })
        .collect()
}

/// Apply `ops` (JSON) to the Deployment through postwire and through the `json-patch` crate;
/// the Deployment must read the same, the Service must be byte-identical, and the diff only
/// the lines of the change.
fn oracle(ops: Json) -> String {
    let config = format!("patches:\n- target: {{kind: Deployment}}\n  patch: {ops}\n");
    let out = render_config(&stream(), &config).unwrap_or_else(|e| panic!("{ops}: {e}"));
    let mut want = docs(&stream())[0].clone();
    let patch: json_patch::Patch = serde_json::from_value(ops.clone()).unwrap();
    json_patch::patch(&mut want, &patch).unwrap();
    let got = docs(&out.manifests);
    assert_eq!(got[0], want, "{ops}\n{}", out.manifests);
    assert!(out.manifests.ends_with(&format!("---\n{SERVICE}")), "{}", out.manifests);
    out.manifests
}

#[test]
fn every_operation_matches_the_json_patch_crate() {
    let cases = [
        json!([{"op": "add", "path": "/spec/template/spec/priorityClassName", "value": "high"}]),
        json!([{"op": "add", "path": "/spec/minReadySeconds", "value": 5}]),
        json!([{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "C", "value": "yes"}}]),
        json!([{"op": "add", "path": "/spec/template/spec/containers/0/env/0", "value": {"name": "Z", "value": "1"}}]),
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"a/b": "0.5", "ratio": 0.5, "tiny": 1e-7}}]),
        json!([{"op": "add", "path": "/spec/replicas", "value": 3}]),
        json!([{"op": "remove", "path": "/spec/template/spec/containers/1"}]),
        json!([{"op": "remove", "path": "/metadata/labels/tier"}]),
        json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]),
        json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "web:2.0"}]),
        json!([{"op": "replace", "path": "/spec/template/metadata/labels", "value": {"app": "web", "v": "2"}}]),
        json!([{"op": "move", "from": "/spec/template/spec/containers/0/env/1", "path": "/spec/template/spec/containers/1/env"}]),
        json!([{"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/labels/layer"}]),
        json!([{"op": "copy", "from": "/spec/template/metadata/labels", "path": "/metadata/annotations"}]),
        json!([{"op": "copy", "from": "/spec/template/spec/containers/0/env/0", "path": "/spec/template/spec/containers/0/env/-"}]),
        json!([{"op": "test", "path": "/spec/replicas", "value": 2}, {"op": "replace", "path": "/spec/replicas", "value": 1}]),
        json!([{"op": "test", "path": "/spec/template/spec/containers/0/env/0/value", "value": "on"}]),
        json!([{"op": "add", "path": "/metadata/labels/a~1b", "value": "x"}, {"op": "add", "path": "/metadata/labels/c~0d", "value": "y"}]),
        // Later operations see what earlier ones did.
        json!([
            {"op": "add", "path": "/spec/template/spec/volumes", "value": []},
            {"op": "add", "path": "/spec/template/spec/volumes/-", "value": {"name": "v", "emptyDir": {}}},
            {"op": "add", "path": "/spec/template/spec/volumes/0/emptyDir/medium", "value": "Memory"},
            {"op": "remove", "path": "/spec/template/spec/containers/0/env/0"},
            {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/name", "value": "B2"}
        ]),
    ];
    for ops in cases {
        oracle(ops);
    }
}

#[test]
fn the_diff_is_only_the_patched_lines() {
    let out = oracle(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]));
    assert_eq!(out, stream().replace("  replicas: 2\n", "  replicas: 4\n"));
    let out = oracle(
        json!([{"op": "add", "path": "/spec/template/spec/tolerations", "value": [{"key": "X", "operator": "Exists"}]}]),
    );
    assert_eq!(
        out,
        stream().replace(
            "    spec:\n      containers:\n",
            "    spec:\n      tolerations:\n        - key: \"X\"\n          operator: \"Exists\"\n      containers:\n"
        )
    );
    let out = oracle(json!([{"op": "remove", "path": "/spec/template/spec/containers/0/env/1"}]));
    assert_eq!(out, stream().replace("        - name: B\n          value: '0755'\n", ""));
}

#[test]
fn merge_patches_follow_rfc_7386() {
    let config = "patches:\n- target: {kind: Deployment}\n  merge:\n    metadata:\n      labels: {tier: null, team: payments}\n      annotations: {example.com/owner: payments}\n    spec: {replicas: 3, template: {metadata: {labels: {app: null}}}}\n";
    let out = render_config(&stream(), config).unwrap();
    let mut want = docs(&stream())[0].clone();
    json_patch::merge(
        &mut want,
        &json!({"metadata": {"labels": {"tier": null, "team": "payments"}, "annotations": {"example.com/owner": "payments"}},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": null}}}}}),
    );
    assert_eq!(docs(&out.manifests)[0], want, "{}", out.manifests);
    assert!(out.manifests.contains("      image: 'web:1.0'\n") || out.manifests.contains("        image: 'web:1.0'\n"));
    // A merge that changes nothing changes no byte.
    let same =
        render_config(&stream(), "patches:\n- target: {kind: Service}\n  merge: {spec: {ports: [{port: 80}]}}\n")
            .unwrap();
    assert_eq!(same.manifests, stream());
}

#[test]
fn selectors_pick_documents_in_config_order() {
    let other = DEPLOY.replace("name: web-api", "name: worker").replace("tier: frontend", "tier: backend");
    let input = format!("{DEPLOY}---\n{other}---\n{SERVICE}");
    let config = "patches:\n- target: {kind: Deployment, name: \"web*\", labelSelector: \"tier=frontend\"}\n  patch: [{op: replace, path: /spec/replicas, value: 5}]\n- target: {labelSelector: \"tier in (frontend, backend)\"}\n  patch: [{op: test, path: /spec/replicas, value: 5}]\n  onTestFailure: skip\n- target: {kind: Service, nameRegex: \"w.b\"}\n  merge: {metadata: {labels: {seen: \"yes\"}}}\n";
    let out = render_config(&input, config).unwrap();
    let got = docs(&out.manifests);
    assert_eq!(got[0]["spec"]["replicas"], json!(5));
    assert_eq!(got[1]["spec"]["replicas"], json!(2));
    assert_eq!(got[2]["metadata"]["labels"]["seen"], json!("yes"));
    // The second patch's test held for web-api and was skipped for worker, with a note.
    let notes: Vec<&str> =
        out.report.documents.iter().flat_map(|d| d.notes.iter().map(|n| n.message.as_str())).collect();
    assert!(notes.iter().any(|n| n.contains("patches[1] skipped: operation 0 (test) failed")), "{notes:?}");
}

#[test]
fn templated_patches_compute_their_values() {
    let config = "values: {team: payments}\npatches:\n- target: {kind: Deployment}\n  template: |\n    - op: add\n      path: /metadata/annotations\n      value:\n        owner: {{ values.team | quote }}\n        replicas-twice: {{ (object.spec.replicas * 2) | quote }}\n- target: {kind: Service}\n  template: \"metadata: {labels: {port: {{ object.spec.ports[0].port | quote }}}}\"\n";
    let out = render_config(&stream(), config).unwrap();
    let got = docs(&out.manifests);
    assert_eq!(got[0]["metadata"]["annotations"], json!({"owner": "payments", "replicas-twice": "4"}));
    assert_eq!(got[1]["metadata"]["labels"], json!({"port": "80"}));
}

#[test]
fn errors_name_the_document_the_patch_and_the_operation() {
    let cases = [
        (
            "[{op: add, path: /spec/x, value: 1}, {op: remove, path: /spec/nothere}]",
            "patches[0] operation 1 (remove): /spec/nothere: /spec/nothere does not exist",
        ),
        ("[{op: add, path: /spec/a/b, value: 1}]", "operation 0 (add): /spec/a/b: /spec/a does not exist"),
        (
            "[{op: add, path: /spec/template/spec/containers/5, value: {}}]",
            "index 5 is out of range (the list has 2 items)",
        ),
        ("[{op: replace, path: /spec/template/spec/containers/01, value: {}}]", "`01` is not a list index"),
        (
            "[{op: test, path: /spec/replicas, value: \"2\"}]",
            "operation 0 (test) failed: /spec/replicas is 2, not \"2\"",
        ),
        ("[{op: move, from: /spec, path: /spec/x}]", "cannot move /spec into its own child /spec/x"),
        ("[{op: copy, path: /spec/x}]", "`copy` needs a `from` pointer"),
        ("[{op: add, path: /spec/replicas/x, value: 1}]", "the parent is a number"),
        ("[{op: remove, path: \"\"}]", "the whole object cannot be removed"),
    ];
    for (ops, want) in cases {
        let config = format!("patches:\n- target: {{kind: Deployment}}\n  patch: {ops}\n");
        let err = render_config(&stream(), &config).unwrap_err().to_string();
        assert!(err.starts_with("document 1 (Deployment/web-api) from web/templates/deploy.yaml"), "{err}");
        assert!(err.contains(want), "{ops}: {err}");
    }
}

#[test]
fn config_errors_have_file_and_line() {
    let cases = [
        (
            "patches:\n- target: {kind: Deployment}\n  patch: [{op: add, path: spec/x, value: 1}]\n",
            "line 3",
            "is not a JSON pointer",
        ),
        (
            "patches:\n- target: {kind: Deployment}\n  patch: [{op: add, path: /a~2b, value: 1}]\n",
            "line 3",
            "`~` must be followed by 0",
        ),
        (
            "patches:\n- target: {kind: Deployment}\n  patch: [{op: mutate, path: /a}]\n",
            "line 3",
            "unknown value `mutate`",
        ),
        ("patches:\n- target: {kind: Deployment}\n", "line 2", "needs one of `patch`"),
        ("patches:\n- target: {kind: Deployment}\n  patch: []\n  merge: {}\n", "line 2", "exactly one of"),
        (
            "patches:\n- target: {kind: Deployment}\n  patch: []\n  onTestFailure: ignore\n",
            "line 4",
            "expected `error` or `skip`",
        ),
    ];
    for (config, line, want) in cases {
        let err = render_config(&stream(), config).unwrap_err().to_string();
        assert!(err.starts_with(&format!("postwire.yaml {line}")) && err.contains(want), "{config}: {err}");
    }
}

#[test]
fn a_target_that_matches_nothing_is_an_error_unless_optional() {
    let config = "patches:\n- target: {kind: Deployment, name: api}\n  merge: {metadata: {labels: {a: b}}}\n";
    let err = render_config(&stream(), config).unwrap_err().to_string();
    assert!(err.contains("patches[0].target: the target Deployment api matches no object"), "{err}");
    let optional = config.replace("name: api}", "name: api, optional: true}");
    assert_eq!(render_config(&stream(), &optional).unwrap().manifests, stream());
}

#[test]
fn template_patch_failures_are_clear() {
    let cases = [
        ("\"{{ object.spec.nope }}\"", "template `patches[0]` line 1: undefined value"),
        ("\"{% for x in %}\"", "syntax error"),
        ("\"just a string\"", "writes a string, not a list of operations or a mapping"),
        ("\"[{op: jump}]\"", "not RFC 6902 operations"),
    ];
    for (template, want) in cases {
        let config = format!("patches:\n- target: {{kind: Service}}\n  template: {template}\n");
        let err = render_config(&stream(), &config).unwrap_err().to_string();
        assert!(err.contains(want) && err.contains("Service/web"), "{template}: {err}");
    }
}

#[test]
fn a_second_run_changes_nothing() {
    let config = "patches:\n- target: {kind: Deployment}\n  patch: [{op: add, path: /spec/template/spec/priorityClassName, value: high}, {op: replace, path: /spec/replicas, value: 0.5}]\n- target: {kind: Service}\n  merge: {metadata: {annotations: {a: \"1\"}}}\n";
    let once = render_config(&stream(), config).unwrap().manifests;
    assert!(once.contains("  replicas: 0.5\n"), "{once}");
    let twice = render_config(&once, config).unwrap();
    assert_eq!(twice.manifests, once);
    assert!(twice.report.documents.iter().all(|d| d.changes.is_empty()));
}

#[test]
fn pointers_parse_per_rfc_6901() {
    let p = Pointer::parse("/a~1b/c~0d/0/").unwrap();
    assert_eq!(p.tokens, vec!["a/b", "c~d", "0", ""]);
    assert!(Pointer::parse("").unwrap().tokens.is_empty());
    assert!(Pointer::parse("a").is_err());
    assert!(Pointer::parse("/a~").is_err());
}
