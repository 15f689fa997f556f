//! Inputs the fuzz targets (`fuzz/`, `cargo fuzz run render|edit`) found, kept as tests.

use postwire_core::edit::{edit_document, parse_pointer, Op, Outcome, Uneditable};
use postwire_core::testing;
use postwire_core::wire::RenderRequestV1;
use postwire_core::yaml::{NodeKind, Tree};

/// fuzz target `render`: a stream of lone carriage returns panicked ("a segment with content
/// has a root node") instead of passing through or failing with a message.
#[test]
fn lone_carriage_returns_do_not_panic() {
    for input in ["\r\r", "\r", "a: 1\r\r", "\r\n\r", "---\r\r"] {
        let rendered = std::panic::catch_unwind(|| postwire_core::render(&RenderRequestV1::new(input)));
        assert!(rendered.is_ok(), "render panicked on {input:?}");
    }
}

/// fuzz target `edit`: with a key written twice, Remove took out one occurrence per run, so a
/// second run removed the other one. Removing must be idempotent (or the document refused).
#[test]
fn remove_is_idempotent_with_duplicate_keys() {
    let text = "spec:\n  ports: 1\n  image: x\n  ports: 2\n";
    let ops = [Op::Remove { path: parse_pointer("/spec/ports").unwrap() }];
    match edit_document(text, &ops, Uneditable::Error) {
        Ok((once, _)) => {
            let (twice, outcomes) = edit_document(&once, &ops, Uneditable::Error).expect("the output edits again");
            assert!(
                twice == once && outcomes == [Outcome::Unchanged],
                "not idempotent ({outcomes:?}):\n--- once\n{once}\n--- twice\n{twice}"
            );
        }
        Err(e) => assert!(e.is_uneditable(), "failed instead of refusing: {e}"),
    }
}

/// fuzz target `edit`: a Merge into `containers/0/env` of a document without `containers`
/// created a mapping `containers: {"0": {env: ...}}`. A sequence index on a missing path
/// cannot be created: the edit must fail (or be refused), never invent a key `"0"`.
#[test]
fn an_index_into_a_missing_sequence_creates_no_mapping() {
    let text = "spec:\n  replicas: 1\n";
    let ops = [Op::Merge {
        path: parse_pointer("/spec/containers/0/env").unwrap(),
        key: "name".into(),
        item: postwire_core::edit::Value::Map(vec![("name".into(), postwire_core::edit::Value::Str("A".into()))]),
        front: false,
    }];
    if let Ok((out, _)) = edit_document(text, &ops, Uneditable::Error) {
        let tree = Tree::parse(&out, 0).unwrap();
        let containers = tree.path(tree.root().unwrap(), &["spec", "containers"]);
        assert!(
            containers.is_none_or(|c| matches!(tree.node(c).kind, NodeKind::Sequence { .. })),
            "containers is not a sequence:\n{out}"
        );
    }
}

/// fuzz target `edit`: a document whose only key is a complex (`? `) mapping key had its edits
/// written into that key. Such a document is not an object to edit: refuse or fail.
#[test]
fn a_complex_key_is_not_edited() {
    let text = "?\n  containers:\n    - name: web\n";
    let ops = [Op::Set {
        path: parse_pointer("/metadata/labels/app").unwrap(),
        value: postwire_core::edit::Value::Str("x".into()),
    }];
    if let Ok((out, _)) = edit_document(text, &ops, Uneditable::Error) {
        panic!("edited a document whose key is a mapping:\n{out}");
    }
}

/// fuzz target `edit`: a document `?` (an explicit empty key) had new entries written into its
/// key, and the output could then not be edited again. Explicit and empty keys are refused.
#[test]
fn an_explicit_empty_key_is_refused() {
    for text in ["?\n \n", "? a\n: 1\n", ": v\n"] {
        let ops = [Op::Set {
            path: parse_pointer("/metadata/labels/app").unwrap(),
            value: postwire_core::edit::Value::Str("x".into()),
        }];
        match edit_document(text, &ops, Uneditable::Error) {
            Ok((out, _)) => {
                edit_document(&out, &ops, Uneditable::Error)
                    .unwrap_or_else(|e| panic!("{text:?}: the output cannot be edited again: {e}\n{out}"));
            }
            Err(e) => assert!(e.is_uneditable(), "{text:?}: failed instead of refusing: {e}"),
        }
    }
}

/// fuzz target `wirings` (`fuzz/findings/wirings-irsa-service-account-order`, reduced): two
/// workloads named alike, one without a namespace and one in `shop`, each get a dedicated
/// ServiceAccount. Rendering the output again paired the namespaced workload with the
/// namespace-less ServiceAccount (a missing namespace matches any), so the accounts swapped
/// places: the render was not idempotent.
#[test]
fn irsa_pairs_a_workload_with_the_service_account_of_its_own_namespace() {
    let deployment = |ns: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n{ns}spec:\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n      - name: api\n        image: api:2\n"
        )
    };
    let input = format!("{}---\n{}", deployment(""), deployment("  namespace: shop\n"));
    let config = "irsa:\n  enabled: true\n  accountId: \"123456789012\"\n  roleName: \"r-{serviceAccount}\"\n  createServiceAccount: true\n  serviceAccountName: \"{workload}\"\n";
    let render = |text: &str| {
        let mut request = RenderRequestV1::new(text);
        request.config =
            Some(postwire_core::wire::ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
        postwire_core::render(&request).expect("renders").manifests
    };
    let first = render(&input);
    assert_eq!(first.matches("kind: \"ServiceAccount\"").count(), 2, "{first}");
    assert_eq!(render(&first), first, "rendering the output again changes it");
}

/// fuzz target `edit` (`fuzz/findings/edit-flow-mapping-empty-key-with-properties*`, first byte
/// 0x20: Set `/metadata/labels`): a flow mapping whose first entry is an empty key with an
/// anchor or a tag (`{ &a }`) got the new entry written between those properties and the empty
/// key, so the output read with a mapping as a key and a second edit refused it. A first key
/// with content lost its anchor or tag to the new key the same way (`{ &a k: 1, b: *a }`).
#[test]
fn a_flow_mapping_with_a_propertied_empty_key_is_not_mis_edited() {
    use postwire_core::edit::Value;
    let ops = [Op::Set {
        path: parse_pointer("/metadata/labels").unwrap(),
        value: Value::Map(vec![("app".into(), Value::Str("x".into())), ("n".into(), Value::Int(1))]),
    }];
    for text in [" {!-labsa:: &nawww/wwwwwwapbluons}\n", " { &fffe}\n", "{ &a }\n", "{ !!str , a: 1}\n"] {
        match edit_document(text, &ops, Uneditable::Error) {
            Ok((out, _)) => {
                let tree =
                    Tree::parse(&out, 0).unwrap_or_else(|e| panic!("{text:?}: output does not parse: {e}\n{out}"));
                let root = tree.root().unwrap();
                let app = tree.path(root, &["metadata", "labels", "app"]).and_then(|n| tree.scalar(n));
                assert_eq!(app, Some("x"), "{text:?}: the intended entry is not there:\n{out}");
                let (again, outcomes) = edit_document(&out, &ops, Uneditable::Error)
                    .unwrap_or_else(|e| panic!("{text:?}: the output cannot be edited again: {e}\n{out}"));
                assert!(
                    again == out && outcomes == [Outcome::Unchanged],
                    "{text:?}: not idempotent ({outcomes:?}):\n--- once\n{out}\n--- twice\n{again}"
                );
            }
            Err(e) => assert!(e.is_uneditable(), "{text:?}: failed instead of refusing: {e}"),
        }
    }
    let (out, _) = edit_document("{ &a k: 1, b: *a }\n", &ops, Uneditable::Error).expect("edits");
    let tree = Tree::parse(&out, 0).unwrap();
    let b = tree.path(tree.root().unwrap(), &["b"]).map(|n| tree.resolved(n));
    assert_eq!(b.and_then(|n| tree.scalar(n)), Some("k"), "the anchor moved off its key:\n{out}");
}

fn render_wirings(text: &str, pick: u8) -> postwire_core::RenderOutput {
    let mut request = RenderRequestV1::new(text);
    request.config = Some(postwire_core::wire::ConfigFileV1 {
        name: "postwire.yaml".into(),
        content: testing::wirings_config(pick),
    });
    postwire_core::render(&request).unwrap_or_else(|e| panic!("{e}\n--- input\n{text}"))
}

/// The properties fuzz target `wirings` asserts of a render that succeeds (for a stream
/// postwire has not rendered before): documents the report does not name come out byte for
/// byte, and rendering the output again changes nothing.
fn assert_wirings_properties(text: &str, pick: u8) -> postwire_core::RenderOutput {
    let first = render_wirings(text, pick);
    let changed = testing::untouched_but_changed(text, &first);
    assert!(
        changed.is_empty(),
        "documents {changed:?} untouched but changed\n--- input\n{text}\n--- output\n{}",
        first.manifests
    );
    let second = render_wirings(&first.manifests, pick);
    assert!(
        second.manifests == first.manifests,
        "not idempotent\n--- first\n{}\n--- second\n{}",
        first.manifests,
        second.manifests
    );
    first
}

/// `spec.replicas` of each generated Rollout, in output order.
fn rollout_replicas(manifests: &str) -> Vec<Option<String>> {
    manifests
        .split("\n---\n")
        .filter(|d| d.contains("kind: \"Rollout\""))
        .map(|d| {
            let spec = &d[d.find("\nspec:\n").expect("a spec")..];
            spec.lines().find_map(|l| l.strip_prefix("  replicas: ")).map(String::from)
        })
        .collect()
}

/// fuzz target `wirings` (`fuzz/findings/wirings-rollouts-replicas-ambiguous-namespace-{1,2,3}`
/// and `wirings-rollouts-replicas-duplicate-deployment`, reduced): a Deployment written twice
/// (same namespace and name; in the findings both in `shop`, or both without a namespace) gets
/// one Rollout per copy, and the copies are held at `replicas: 0`. Rendering the output again
/// took the replicas of every copy from the first of those Rollouts, so the second Rollout's
/// replicas changed: the render was not idempotent.
#[test]
fn rollouts_pair_each_copy_of_a_deployment_with_its_own_rollout() {
    let service = |ns: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: admin\n{ns}spec:\n  ports:\n  - name: http-admin\n    port: 80\n  selector:\n    app: admin\n")
    };
    let deployment = |ns: &str, replicas: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: admin\n{ns}spec:\n{replicas}  selector:\n    matchLabels: {{app: admin}}\n  template:\n    metadata:\n      labels: {{app: admin}}\n    spec:\n      containers:\n      - name: admin\n        image: admin:2\n"
        )
    };
    let shop = "  namespace: shop\n";
    let cases = [
        // -1 and -2: both in `shop`.
        (shop, ["  replicas: 0\n", "  replicas: 1\n"], vec![Some("0"), Some("1")]),
        (shop, ["  replicas: 1\n", "  replicas: 2\n"], vec![Some("1"), Some("2")]),
        // -3: the second without replicas (its key misspelt in the finding).
        (shop, ["  replicas: 0\n", ""], vec![Some("0"), None]),
        // duplicate-deployment: both without a namespace.
        ("", ["  replicas: 2\n", "  replicas: 1\n"], vec![Some("2"), Some("1")]),
    ];
    for (ns, [a, b], replicas) in cases {
        let input = format!("{}---\n{}---\n{}", service(ns), deployment(ns, a), deployment(ns, b));
        for pick in [0xff, 0x04] {
            let out = assert_wirings_properties(&input, pick);
            let expected: Vec<Option<String>> = replicas.iter().map(|r| r.map(String::from)).collect();
            assert_eq!(rollout_replicas(&out.manifests), expected, "{}", out.manifests);
        }
    }
}

/// The same with the render's namespace given: a Deployment without a namespace and one in
/// `shop` are then the same object, and a third copy follows. Each copy keeps the Rollout made
/// from it over a second render.
#[test]
fn rollouts_pair_copies_in_the_renders_namespace_in_stream_order() {
    let deployment = |ns: &str, replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n{ns}spec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n      - name: api\n        image: api:2\n"
        )
    };
    let input = format!("{}---\n{}---\n{}", deployment("", 3), deployment("  namespace: shop\n", 2), deployment("", 1));
    let render = |text: &str| {
        let mut request = RenderRequestV1::new(text);
        request.context.namespace = Some("shop".into());
        request.config = Some(postwire_core::wire::ConfigFileV1 {
            name: "postwire.yaml".into(),
            content: testing::wirings_config(0x04),
        });
        postwire_core::render(&request).expect("renders").manifests
    };
    let first = render(&input);
    let replicas: Vec<Option<String>> = ["3", "2", "1"].iter().map(|r| Some(r.to_string())).collect();
    assert_eq!(rollout_replicas(&first), replicas, "{first}");
    assert_eq!(render(&first), first, "rendering the output again changes it");
}

/// fuzz target `wirings` (`fuzz/findings/wirings-untouched-document-changed`, reduced): the
/// stream does not end with a line break, and the last document, which no wiring touches,
/// came out with one, written so that the `---` of the generated documents after it starts a
/// line. When that document ends in a block scalar the line break is part of its value: Go's
/// yaml.v2 (kubectl, Helm) reads `note: |` + `x` at the end of a stream as "x", and as "x\n"
/// once a line break follows (YAML 1.2 section 8.1.1.2, clip chomping keeps the final line
/// break only when there is one). Generated documents now go before such a last document, which
/// stays last and byte for byte.
#[test]
fn a_last_document_without_a_final_line_break_stays_last_byte_for_byte() {
    let last = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  note: |\n    admin S";
    let input = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports:\n  - name: http\n    port: 8080\n  selector:\n    app: api\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n      - name: api\n        image: api:2\n---\n{last}"
    );
    let out = assert_wirings_properties(&input, 0xff);
    assert!(out.report.documents.iter().all(|d| d.document != 3), "{:?}", out.report.documents);
    assert!(out.report.summary.changed > 0 && out.manifests.matches("\n---\n").count() > 3, "nothing generated");
    assert!(out.manifests.ends_with(&format!("\n---\n{last}")), "{}", out.manifests);
}
