//! A render collects the values of the input's Secrets from the scans and trees it already made
//! (`Workspace::secret_values`) instead of scanning and parsing the input again: the values are
//! exactly those a fresh collection finds, whichever documents were parsed or edited.

mod common;

use postwire_core::edit::{Op, Value};
use postwire_core::redact::SecretValues;
use postwire_core::report::Report;
use postwire_core::workspace::Workspace;

/// Parse every `parse_every`-th document, add a `stringData` value to every other parsed one,
/// commit:
/// the workspace's values against a fresh collection of `text`.
fn same_values(name: &str, text: &str, parse_every: usize) -> usize {
    let mut ws = Workspace::new(text);
    let segments: Vec<usize> = ws.segments().collect();
    let parsed: Vec<usize> = segments.iter().copied().step_by(parse_every).filter(|&i| ws.parse(i).is_ok()).collect();
    for &i in parsed.iter().step_by(2) {
        let Some(object) = ws.objects_in(i).first().cloned() else { continue };
        // A value the input does not hold: only the input's values may be collected.
        let path = vec!["stringData".into(), "added".into()];
        let _ = ws.edit(i, object.node, &[Op::Set { path, value: Value::str("Added-After-Reading") }], "object");
    }
    let _ = ws.commit(&mut Report::default());
    let fresh = SecretValues::collect(text);
    assert_eq!(ws.secret_values().values(), fresh.values(), "{name}, parsing every {parse_every}th document");
    fresh.values().len()
}

const SECRETS: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  password: Zebra-77-value\n\
---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n  data: {k: WmVicmEtODg=}\n\
---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: c\nspec:\n  description: a Secret\n\
---\n{kind: Secret, metadata: {name: d}, stringData: {t: Zebra-99-value}}\n---\n# a Secret in a comment only\n";

#[test]
fn a_render_collects_the_secret_values_a_fresh_collection_finds() {
    let mut found = 0;
    for every in [1, 2, 3] {
        found += same_values("the crafted stream", SECRETS, every);
    }
    assert!(found > 0, "no Secret value found in the crafted stream");
    let Some(shared) = common::shared("a_render_collects_the_secret_values_a_fresh_collection_finds") else {
        return;
    };
    for path in common::corpus_files(&shared) {
        let text = std::fs::read_to_string(&path).unwrap();
        for every in [1, 2] {
            same_values(&path.display().to_string(), &text, every);
        }
    }
}
