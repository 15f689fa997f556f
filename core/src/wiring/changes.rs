//! One way for a wiring to change an object: plan its edits and notes in a [`Changes`], then
//! [`Changes::apply`] them, which edits the workspace once and records each outcome in the report.
//!
//! Every wiring reports the same way: a change is listed only when its edit added or updated
//! something (a value that was already so is no change), under the path of the mapping or list
//! it went into and the key it wrote, with the reason in words.

use crate::edit::{Op, Outcome, Value};
use crate::error::Result;
use crate::report::{Action, Change, Level, Note, Report};
use crate::resource::Object;
use crate::workload::report_path;
use crate::workspace::Workspace;
use crate::yaml::PathSeg;

/// The edits and notes one wiring plans on one object.
pub struct Changes<'o> {
    wiring: &'static str,
    object: &'o Object,
    ops: Vec<Op>,
    /// For each op: the report path of where it went, the key it wrote, and why.
    reasons: Vec<(String, String, String)>,
    notes: Vec<(Level, String)>,
}

impl<'o> Changes<'o> {
    /// Plan changes to `object` on behalf of `wiring` (its name in reports).
    pub fn new(wiring: &'static str, object: &'o Object) -> Self {
        Changes { wiring, object, ops: Vec::new(), reasons: Vec::new(), notes: Vec::new() }
    }

    /// The object being changed.
    pub fn object(&self) -> &'o Object {
        self.object
    }

    /// Plan `op`, reported as `key` under `at` (a path from the object) with `reason`.
    pub fn plan(&mut self, op: Op, at: &[PathSeg], key: impl Into<String>, reason: impl Into<String>) {
        self.reasons.push((report_path(self.object, at), key.into(), reason.into()));
        self.ops.push(op);
    }

    /// Plan setting `key` in the mapping at `at` (created when missing) to `value`.
    pub fn set(&mut self, at: &[PathSeg], key: &str, value: Value, reason: impl Into<String>) {
        let mut path = at.to_vec();
        path.push(PathSeg::from(key));
        self.plan(Op::Set { path, value }, at, key, reason);
    }

    /// Plan inserting `item` into the list at `at` (created when missing) before item `index`,
    /// or at the end; reported under `key`.
    pub fn insert(
        &mut self,
        at: &[PathSeg],
        index: Option<usize>,
        item: Value,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.plan(Op::Insert { path: at.to_vec(), index, item }, at, key, reason);
    }

    /// Add a note about the object.
    pub fn note(&mut self, level: Level, message: impl Into<String>) {
        self.notes.push((level, message.into()));
    }

    /// Record the notes, carry out the edits on the object, and record what each changed.
    pub fn apply(self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let Changes { wiring, object, ops, reasons, notes } = self;
        let display = object.display();
        let source = ws.source(object.segment);
        for (level, message) in notes {
            report.document(object.doc_number, &display, source.as_deref()).notes.push(Note {
                wiring: wiring.into(),
                level,
                message,
                rule: None,
                line: None,
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        let outcomes = ws.edit(object.segment, object.node, &ops, &display)?;
        for ((path, key, reason), outcome) in reasons.into_iter().zip(outcomes) {
            let action = match outcome {
                Outcome::Unchanged | Outcome::Removed => continue,
                Outcome::Added => Action::Added,
                Outcome::Updated => Action::Updated,
            };
            report.document(object.doc_number, &display, source.as_deref()).changes.push(Change {
                wiring: wiring.into(),
                path,
                key,
                action,
                reason,
            });
        }
        Ok(())
    }
}
