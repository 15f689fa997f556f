//! `postwire_core::edit::edit_document` on any UTF-8 document with plans of the ops wirings
//! use: it never panics; an edited document parses and, for plans of idempotent ops (Set,
//! Remove, Merge), editing it again changes nothing; the tree built from the changed regions
//! alone is the whole parse's. The first byte picks the ops (one bit each), the rest is the
//! document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::edit::{edit_document, parse_pointer, Op, Outcome, Uneditable, Value};
use postwire_core::yaml::Tree;

fn ops() -> Vec<Op> {
    let p = |s: &str| parse_pointer(s).expect("pointer");
    let s = |v: &str| Value::Str(v.to_string());
    let map = |e: Vec<(&str, Value)>| Value::Map(e.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    vec![
        Op::Set { path: p("/spec/template/metadata/annotations/checksum~1config"), value: s("abc") },
        Op::Set { path: p("/spec/template/metadata/labels/tier"), value: s("on") },
        Op::Merge {
            path: p("/spec/template/spec/containers/0/env"),
            key: "name".into(),
            item: map(vec![("name", s("A")), ("value", s("1"))]),
            front: true,
        },
        Op::Merge {
            path: p("/spec/template/spec/volumes"),
            key: "name".into(),
            item: map(vec![("name", s("v")), ("emptyDir", map(vec![]))]),
            front: false,
        },
        Op::Merge {
            path: p("/spec/template/spec/containers/0/volumeMounts"),
            key: "mountPath".into(),
            item: map(vec![("name", s("v")), ("mountPath", s("/v")), ("readOnly", Value::Bool(true))]),
            front: false,
        },
        Op::Set { path: p("/metadata/labels"), value: map(vec![("app", s("x")), ("n", Value::Int(1))]) },
        Op::Remove { path: p("/spec/template/spec/containers/0/ports") },
        Op::Insert { path: p("/spec/template/spec/containers/0/args"), index: Some(0), item: s("--x") },
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let all = ops();
    let plan: Vec<Op> = all.iter().enumerate().filter(|(i, _)| pick & (1 << i) != 0).map(|(_, o)| o.clone()).collect();
    // `edit_document` also builds the edited tree from the changed regions alone and compares
    // it with a whole parse: a difference is a bug, whatever the input.
    let (out, outcomes) = match edit_document(text, &plan, Uneditable::Error) {
        Ok(edited) => edited,
        Err(e) if e.to_string().contains("changed regions") => panic!("{e}\n--- input\n{text}"),
        Err(_) => return,
    };
    assert_eq!(outcomes.len(), plan.len());
    if let Err(e) = Tree::parse(&out, 0) {
        panic!("the edited document does not parse: {e}\n--- input\n{text}\n--- output\n{out}");
    }
    if plan.iter().all(|o| !matches!(o, Op::Insert { .. })) {
        match edit_document(&out, &plan, Uneditable::Error) {
            Ok((again, outcomes)) => assert!(
                again == out && outcomes.iter().all(|o| *o == Outcome::Unchanged),
                "not idempotent: {outcomes:?}\n--- input\n{text}\n--- first\n{out}\n--- second\n{again}"
            ),
            Err(e) => panic!("editing the output fails: {e}\n--- input\n{text}\n--- output\n{out}"),
        }
    }
});
