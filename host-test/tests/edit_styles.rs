//! The edit layer (`postwire_core::edit::edit_document`) on every generated style and every edit
//! a wiring uses: annotation and label (Set), env entry (Merge by `name`, at the back and at
//! the front, new and existing), volume (Merge by `name`), volume mount (Merge by `mountPath`),
//! node replace (Set of a scalar, of a mapping, of a new mapping), node remove (Remove, also
//! of an absent node), Insert at an index and at the end; one op per plan, then all of them in
//! one plan.
//!
//! For each case, unless the style is one to refuse (see [`Edit::expect`]):
//! - PyYAML and Go's yaml.v2 read the output as exactly the value they read from the input with
//!   the op applied ([`Edit::apply`]), and the outcome is the one that implies;
//! - only lines the change adds or replaces differ: every other input line stays, in order
//!   ([`styles::check_lines`]), with the input's line breaks;
//! - deterministic (two runs agree), and idempotent for Set, Remove and Merge: editing the
//!   output again returns it unchanged with every outcome `Unchanged`;
//! - `Uneditable::Skip` gives the same result as `Uneditable::Error`.
//!
//! A case to refuse must fail with `is_uneditable()`, and with `Uneditable::Skip` come back as
//! the input with every outcome `Unchanged`. A proptest property checks the reader-free part on
//! random styles (and shrinks a failure to a small style); the rest batches every case through
//! both readers in one oracle run.

use postwire_core::edit::{edit_document, Op, Outcome, PathSeg, Uneditable, Value as EditValue};
use proptest::prelude::*;
use serde_json::Value;

use crate::styles::{self, Did, Edit, Expect, Seg, Styled};
use crate::util::Oracle;

const TEST: &str = "edit_styles";

/// The engine's op for a test edit.
pub fn op(edit: &Edit) -> Op {
    let path = |p: &[Seg]| -> Vec<PathSeg> {
        p.iter()
            .map(|s| match s {
                Seg::Key(k) => PathSeg::Key(k.clone()),
                Seg::Index(i) => PathSeg::Index(*i),
            })
            .collect()
    };
    match edit {
        Edit::Set { path: p, value } => Op::Set { path: path(p), value: EditValue::from_json(value) },
        Edit::Remove { path: p } => Op::Remove { path: path(p) },
        Edit::Insert { path: p, index, item } => {
            Op::Insert { path: path(p), index: *index, item: EditValue::from_json(item) }
        }
        Edit::Merge { path: p, key, item, front } => {
            Op::Merge { path: path(p), key: key.clone(), item: EditValue::from_json(item), front: *front }
        }
    }
}

fn did(o: Outcome) -> Did {
    match o {
        Outcome::Unchanged => Did::Unchanged,
        Outcome::Added => Did::Added,
        Outcome::Updated => Did::Updated,
        Outcome::Removed => Did::Removed,
    }
}

type Edited = postwire_core::error::Result<(String, Vec<Outcome>)>;

/// What one plan did to one document, before any reader looked at it.
struct Run {
    /// `Uneditable::Error`.
    result: Edited,
    /// Problems found without a reader: determinism, Skip vs Error, idempotence.
    problems: Vec<String>,
}

/// Run `ops` on `text`: twice with `Uneditable::Error`, once with `Skip`, and again on the
/// output when every op is idempotent.
fn run(text: &str, ops: &[Op], idempotent: bool) -> Run {
    let result = edit_document(text, ops, Uneditable::Error);
    let mut problems = Vec::new();
    if edit_document(text, ops, Uneditable::Error) != result {
        problems.push("two runs of the same plan differ".to_string());
    }
    let skip = edit_document(text, ops, Uneditable::Skip);
    match &result {
        Err(e) if e.is_uneditable() => {
            if skip != Ok((text.to_string(), vec![Outcome::Unchanged; ops.len()])) {
                problems.push(format!("refused ({e}), but Uneditable::Skip gives {skip:?}"));
            }
        }
        other => {
            if &skip != other {
                problems.push(format!("Uneditable::Skip gives {skip:?}, Uneditable::Error {other:?}"));
            }
        }
    }
    if let (Ok((out, _)), true) = (&result, idempotent) {
        match edit_document(out, ops, Uneditable::Error) {
            Ok((again, outcomes)) if &again == out && outcomes.iter().all(|o| *o == Outcome::Unchanged) => {}
            Ok((again, outcomes)) => problems.push(format!(
                "not idempotent: the second run gives {outcomes:?}\n--- first output\n{out}\n--- second output\n{again}"
            )),
            Err(e) => problems.push(format!("the second run fails: {e}\n--- first output\n{out}")),
        }
    }
    Run { result, problems }
}

/// One style with one plan.
struct Case {
    styled: std::rc::Rc<Styled>,
    label: String,
    edits: Vec<Edit>,
    run: Run,
}

impl Case {
    fn new(styled: &std::rc::Rc<Styled>, label: String, edits: Vec<Edit>) -> Case {
        let ops: Vec<Op> = edits.iter().map(op).collect();
        let idempotent = edits.iter().all(Edit::idempotent);
        let run = run(&styled.text, &ops, idempotent);
        Case { styled: styled.clone(), label, edits, run }
    }

    fn name(&self) -> String {
        format!("{} / {}", self.styled.style.name, self.label)
    }

    fn expect(&self) -> Expect {
        let all: Vec<Expect> = self.edits.iter().map(|e| e.expect(&self.styled)).collect();
        if all.contains(&Expect::Refuse) {
            Expect::Refuse
        } else if all.contains(&Expect::EditOrRefuse) {
            Expect::EditOrRefuse
        } else {
            Expect::Edit
        }
    }

    /// Checks that need the input's value; the output text when the case must be read.
    fn check(&self, input: &Value) -> Result<Option<String>, String> {
        if let Some(p) = self.run.problems.first() {
            return Err(p.clone());
        }
        let (out, outcomes) = match (&self.run.result, self.expect()) {
            (Err(e), Expect::Edit) if e.is_uneditable() => return Err(format!("refused an edit it can make: {e}")),
            (Err(e), _) if e.is_uneditable() => return Ok(None),
            (Err(e), _) => return Err(format!("failed: {e}")),
            (Ok((out, _)), Expect::Refuse) if out != &self.styled.text => {
                return Err(format!("edited a document it must refuse:\n{out}"))
            }
            (Ok((out, outcomes)), _) => (out, outcomes),
        };
        let mut want = input.clone();
        let dids: Vec<Did> = self.edits.iter().map(|e| e.apply(&mut want)).collect();
        let got: Vec<Did> = outcomes.iter().copied().map(did).collect();
        if got != dids {
            return Err(format!("outcomes {got:?}, expected {dids:?}\n--- output\n{out}"));
        }
        let mut allowed = std::collections::BTreeSet::new();
        for e in &self.edits {
            allowed.extend(e.allowed_lines(&self.styled, input));
        }
        styles::check_lines(&self.styled.text, out, &allowed).map_err(|e| format!("{e}\n--- output\n{out}"))?;
        Ok(Some(out.clone()))
    }
}

fn cases_for(styled: &std::rc::Rc<Styled>, input: Option<&Value>) -> Vec<Case> {
    let edits = styles::edits(&styled.template);
    match input {
        // One op per plan, every edit that applies.
        None => edits.into_iter().map(|(label, e)| Case::new(styled, label.to_string(), vec![e])).collect(),
        // Every edit that applies, in one plan.
        Some(value) => {
            let mut state = value.clone();
            let mut all = Vec::new();
            for (_, e) in edits {
                if e.applies(&state) {
                    e.apply(&mut state);
                    all.push(e);
                }
            }
            vec![Case::new(styled, format!("all {} edits in one plan", all.len()), all)]
        }
    }
}

#[test]
fn every_edit_on_every_style() {
    let Some(oracle) = Oracle::find(TEST) else { return };
    let started = std::time::Instant::now();
    let mut styles = styles::named();
    styles.extend(styles::sampled(150));
    let styled: Vec<std::rc::Rc<Styled>> = styles.iter().map(|s| std::rc::Rc::new(s.render())).collect();
    let inputs = styles::read_all(&oracle, &styled.iter().map(|s| s.text.clone()).collect::<Vec<_>>());
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut values = Vec::new();
    for (s, reading) in styled.iter().zip(&inputs) {
        match styles::agreed(reading) {
            Ok(v) => values.push(Some(v)),
            Err(e) if s.style.refuse_all().is_some() => {
                // YAML 1.1 readers see more keys than YAML 1.2 here; only the refusal is checked.
                values.push(None);
                let _ = e;
            }
            Err(e) => {
                failures.push((s.style.name.clone(), format!("generator: {e}")));
                values.push(None);
            }
        }
    }

    // Two rounds: single ops on every style, then every op in one plan.
    let (mut total, mut read, mut refused) = (0, 0, 0);
    for round in 0..2 {
        let mut cases = Vec::new();
        for (s, value) in styled.iter().zip(&values) {
            let round_cases = match (round, value) {
                (0, _) => cases_for(s, None),
                (_, Some(v)) => cases_for(s, Some(v)),
                (_, None) => Vec::new(),
            };
            for c in round_cases {
                // An edit whose path the document does not have (a scalar where a mapping
                // should be) is not a case; documents the readers disagree on only check refusal.
                if let Some(v) = value {
                    if !c.edits.iter().all(|e| e.applies(v)) && round == 0 {
                        continue;
                    }
                }
                cases.push((c, value.clone()));
            }
        }
        total += cases.len();
        let mut to_read = Vec::new();
        for (c, value) in &cases {
            let checked = match value {
                Some(v) => c.check(v),
                None => match (&c.run.result, c.run.problems.first()) {
                    (_, Some(p)) => Err(p.clone()),
                    (Err(e), None) if e.is_uneditable() => Ok(None),
                    (r, None) => Err(format!("must refuse, got {r:?}")),
                },
            };
            match checked {
                Ok(Some(out)) => to_read.push((c, value.as_ref().unwrap(), out)),
                Ok(None) => refused += 1,
                Err(e) => failures.push((c.name(), format!("{e}\n--- input\n{}", c.styled.text))),
            }
        }
        read += to_read.len();
        let outputs = styles::read_all(&oracle, &to_read.iter().map(|(_, _, o)| o.clone()).collect::<Vec<_>>());
        for ((c, input, out), reading) in to_read.iter().zip(&outputs) {
            let mut want = (*input).clone();
            for e in &c.edits {
                e.apply(&mut want);
            }
            if let Err(e) = styles::check_value(&want, reading) {
                failures.push((c.name(), format!("{e}\n--- input\n{}\n--- output\n{out}", c.styled.text)));
            }
        }
    }
    let failed: std::collections::BTreeSet<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!(
        "edit styles: {} styles, {total} cases, {read} edited and read by both readers, {refused} refused, {} failing, {:.1} s",
        styles.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} cases fail:\n{}\n\n{}",
        failed.len(),
        failed.iter().map(|n| format!("  {n}")).collect::<Vec<_>>().join("\n"),
        failures.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>().join("\n\n")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Without a reader, on random styles: no panic, deterministic, Skip agrees with Error,
    /// idempotent, refusals only where the style calls for one and edits never where it forbids.
    #[test]
    fn edits_are_deterministic_idempotent_and_refuse_as_documented(style in styles::arb_style(), which in 0usize..17) {
        let styled = std::rc::Rc::new(style.render());
        let (label, edit) = styles::edits(&styled.template).swap_remove(which % styles::edits(&styled.template).len());
        let case = Case::new(&styled, label.to_string(), vec![edit]);
        prop_assert!(case.run.problems.is_empty(), "{}: {}\n--- input\n{}", case.name(), case.run.problems[0], styled.text);
        match (&case.run.result, case.expect()) {
            // Every generated edit applies to every generated document, so an error is a refusal or a bug.
            (Err(e), _) if !e.is_uneditable() => prop_assert!(false, "{}: failed: {e}\n{}", case.name(), styled.text),
            (Err(e), Expect::Edit) if e.is_uneditable() => {
                prop_assert!(false, "{}: refused an edit it can make: {e}\n{}", case.name(), styled.text)
            }
            (Ok((out, _)), Expect::Refuse) => {
                prop_assert!(out == &styled.text, "{}: edited a document it must refuse:\n{out}", case.name())
            }
            _ => {}
        }
    }
}
