//! Inputs the fuzz targets (`fuzz/`, `cargo fuzz run render|edit`) found, kept as tests.

use postwire_core::edit::{edit_document, parse_pointer, Op, Outcome, Uneditable};
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
