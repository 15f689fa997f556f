//! The edit layer: one plan of edits per document, turned into splices of the original text.
//!
//! Wirings describe what they want as [`Op`]s on paths (mapping keys and sequence indices, like
//! JSON pointers) relative to an object. A [`Plan`] records them against the document's tree as
//! an overlay — new entries per existing mapping, a virtual item list per existing sequence,
//! replacement values per existing node — so two ops that both create `metadata` build one
//! `metadata:` block, and later ops see what earlier ones planned. [`Plan::render`] turns the
//! overlay into non-overlapping splices: the diff of the document is only the lines the change
//! adds or replaces; comments, quoting and order elsewhere survive.
//!
//! Documents the layer cannot edit so that both YAML 1.1 readers (PyYAML, Go's yaml.v2) and
//! YAML 1.2 see exactly the intended change — a node shared through aliases, merge keys on the
//! path, explicit `? key` layouts, YAML 1.1-only line breaks — are refused with an
//! [`Error::uneditable`] error; the `onUneditable` setting decides what the engine does then.

pub mod ranges;
pub mod regions;
mod render;

use std::collections::BTreeMap;

pub use crate::emit::Value;
pub use crate::yaml::PathSeg;

use crate::error::{Error, ErrorKind, Result};
use crate::yaml::{display_path, NodeId, NodeKind, Style, Tree, CORE_TAG_PREFIX};

/// One edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set the node at `path` to `value`. Missing or null mappings on the way are created.
    Set {
        /// Where.
        path: Vec<PathSeg>,
        /// The new value.
        value: Value,
    },
    /// Remove the mapping entry or sequence item at `path` (nothing to do when absent).
    Remove {
        /// Where.
        path: Vec<PathSeg>,
    },
    /// Insert `item` into the sequence at `path` (created when missing, null or `[]`), before
    /// item `index`, or at the end when `index` is None.
    Insert {
        /// The sequence.
        path: Vec<PathSeg>,
        /// Position; None appends.
        index: Option<usize>,
        /// The new item.
        item: Value,
    },
    /// In the sequence at `path`, the first item whose field `key` equals `item`'s gets every
    /// field of `item` set; without one, `item` is inserted at the front or the back.
    Merge {
        /// The sequence.
        path: Vec<PathSeg>,
        /// The identifying field (`name`, `mountPath`).
        key: String,
        /// A mapping with field `key`.
        item: Value,
        /// Insert a new item first rather than last.
        front: bool,
    },
}

/// What an op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was already so.
    Unchanged,
    /// Something new was added.
    Added,
    /// An existing value was replaced.
    Updated,
    /// Something was removed.
    Removed,
}

/// What to do with a document that cannot be edited safely (config `onUneditable`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "OnUneditable")]
pub enum Uneditable {
    /// Stop the render with an error that names the document and why.
    #[default]
    Error,
    /// Leave the document unchanged and warn.
    Skip,
}

/// Replace `text[start..end]` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// Byte offset where the replaced range starts.
    pub start: usize,
    /// Byte offset where it ends (equal to `start` for an insertion).
    pub end: usize,
    /// The new text.
    pub text: String,
}

/// Apply non-overlapping splices to a text; insertions at one offset keep their order.
pub fn apply_splices(text: &str, splices: &[Splice]) -> Result<String> {
    apply_splice_refs(text, splices.iter().collect())
}

/// [`apply_splices`] of the splices [`Plan::render_owned`] gives.
pub fn apply_owned_splices(text: &str, edits: &[(NodeId, Splice)]) -> Result<String> {
    apply_splice_refs(text, edits.iter().map(|(_, s)| s).collect())
}

fn apply_splice_refs(text: &str, splices: Vec<&Splice>) -> Result<String> {
    let mut sorted = splices;
    sorted.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len() + sorted.iter().map(|s| s.text.len()).sum::<usize>());
    let mut cursor = 0;
    for s in sorted {
        if s.start < cursor {
            return Err(internal("two edits overlap"));
        }
        out.push_str(&text[cursor..s.start]);
        out.push_str(&s.text);
        cursor = s.end;
    }
    out.push_str(&text[cursor..]);
    Ok(out)
}

fn internal(what: &str) -> Error {
    Error::new(ErrorKind::Wiring, format!("internal error: {what}; please report this"))
}

/// Parse an RFC 6901 JSON pointer (`/spec/template/spec/containers/0`). Numeric tokens become
/// indices; on a mapping they are read back as keys.
pub fn parse_pointer(ptr: &str) -> Result<Vec<PathSeg>> {
    if ptr.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = ptr.strip_prefix('/') else {
        return Err(Error::new(ErrorKind::Config, format!("`{ptr}` is not a JSON pointer"))
            .with_hint("a JSON pointer starts with `/`, e.g. /metadata/labels"));
    };
    rest.split('/')
        .map(|token| {
            let token = token.replace("~1", "/").replace("~0", "~");
            let numeric = !token.is_empty()
                && token.bytes().all(|b| b.is_ascii_digit())
                && (token == "0" || !token.starts_with('0'));
            Ok(match numeric.then(|| token.parse::<usize>().ok()).flatten() {
                Some(i) => PathSeg::Index(i),
                None => PathSeg::Key(token),
            })
        })
        .collect()
}

/// Pending changes to one existing node.
#[derive(Debug, Clone)]
enum Change {
    /// New entries of an existing mapping, and the keys of entries to remove.
    Map { added: Vec<(String, Value)>, removed: Vec<NodeId> },
    /// The virtual item list of an existing sequence.
    Seq(Vec<Slot>),
    /// The node is replaced by a new value.
    Replace(Value),
}

#[derive(Debug, Clone)]
enum Slot {
    Old(NodeId),
    New(Value),
}

/// Where a path leads: an existing node, or somewhere inside a planned value.
#[derive(Debug, Clone)]
enum Loc {
    Node(NodeId),
    Val(Root, Vec<PathSeg>),
}

/// A planned value that ops can descend into.
#[derive(Debug, Clone, Copy)]
enum Root {
    Replace(NodeId),
    Added(NodeId, usize),
    Slot(NodeId, usize),
}

/// A document to edit: its text and tree.
#[derive(Clone, Copy)]
pub struct DocRef<'a> {
    /// The text.
    pub text: &'a str,
    /// Its tree.
    pub tree: &'a Tree,
}

/// The edits planned for one document.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    changes: BTreeMap<NodeId, Change>,
    checked: bool,
}

impl Plan {
    /// Whether nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Plan `op` on the object at `base`; errors carry the path and position, not the document.
    pub fn apply(&mut self, doc: DocRef<'_>, base: NodeId, op: &Op) -> Result<Outcome> {
        if !self.checked {
            if let Some(why) = ranges::document_hazard(doc.text, doc.tree) {
                return Err(Error::uneditable(why));
            }
            self.checked = true;
        }
        let mut up = doc.tree.node(base).parent;
        while let Some(p) = up {
            if doc.tree.is_shared(p) {
                return Err(Error::uneditable("the object is inside a node that a YAML alias shares"));
            }
            up = doc.tree.node(p).parent;
        }
        let mut w = Walk { plan: self, doc, base };
        match op {
            Op::Set { path, value } => {
                let (parent, last) = split(path)?;
                let loc = w.locate(parent, true)?.expect("created");
                w.set(loc, parent, last, value.clone())
            }
            Op::Remove { path } => {
                let (parent, last) = split(path)?;
                match w.locate(parent, false)? {
                    Some(loc) => w.remove(loc, path, last),
                    None => Ok(Outcome::Unchanged),
                }
            }
            Op::Insert { path, index, item } => {
                let seq = w.sequence(path)?;
                w.insert(seq, path, *index, item.clone())?;
                Ok(Outcome::Added)
            }
            Op::Merge { path, key, item, front } => {
                let Some(id) = item.get(key) else {
                    return Err(internal("a merged item lacks its key field"));
                };
                let seq = w.sequence(path)?;
                let items = w.items(&seq, path)?;
                match items.iter().position(|slot| w.slot_field_is(slot, key, id)) {
                    Some(i) => {
                        let mut at = path.clone();
                        at.push(PathSeg::Index(i));
                        let Value::Map(fields) = item else { unreachable!("has a key field") };
                        let mut outcome = Outcome::Unchanged;
                        for (k, v) in fields {
                            let loc = w.locate(&at, true)?.expect("exists");
                            if w.set(loc, &at, &PathSeg::Key(k.clone()), v.clone())? != Outcome::Unchanged {
                                outcome = Outcome::Updated;
                            }
                        }
                        Ok(outcome)
                    }
                    None => {
                        w.insert(seq, path, if *front { Some(0) } else { None }, item.clone())?;
                        Ok(Outcome::Added)
                    }
                }
            }
        }
    }

    /// The splices that carry out the plan.
    pub fn render(&self, doc: DocRef<'_>, newline: &str) -> Result<Vec<Splice>> {
        Ok(render::splices(&self.changes, doc, newline)?.into_iter().map(|(_, s)| s).collect())
    }

    /// [`Plan::render`], each splice with the node whose change it carries out (for
    /// [`regions::reparse`]).
    pub fn render_owned(&self, doc: DocRef<'_>, newline: &str) -> Result<Vec<(NodeId, Splice)>> {
        render::splices(&self.changes, doc, newline)
    }

    /// Whether the change planned at `id` replaces the node (rather than adding to or
    /// removing from a collection).
    fn replaces(&self, id: NodeId) -> bool {
        matches!(self.changes.get(&id), Some(Change::Replace(_)))
    }
}

fn split(path: &[PathSeg]) -> Result<(&[PathSeg], &PathSeg)> {
    match path.split_last() {
        Some((last, parent)) => Ok((parent, last)),
        None => Err(internal("an edit with an empty path")),
    }
}

fn key_of(seg: &PathSeg) -> String {
    match seg {
        PathSeg::Key(k) => k.clone(),
        PathSeg::Index(i) => i.to_string(),
    }
}

struct Walk<'p, 'd> {
    plan: &'p mut Plan,
    doc: DocRef<'d>,
    base: NodeId,
}

impl Walk<'_, '_> {
    fn tree(&self) -> &Tree {
        self.doc.tree
    }

    fn error_at(&self, id: NodeId, path: &[PathSeg], message: String) -> Error {
        let n = self.tree().node(id);
        Error::new(ErrorKind::Wiring, message).with_path(display_path(path)).at(n.line, n.col + 1)
    }

    fn uneditable_at(&self, id: NodeId, path: &[PathSeg], why: &str) -> Error {
        let n = self.tree().node(id);
        let at = if path.is_empty() { "the object".to_string() } else { display_path(path) };
        Error::uneditable(format!("{at} {why}")).at(n.line, n.col + 1)
    }

    /// Refuse nodes an edit cannot change safely.
    fn check(&self, id: NodeId, path: &[PathSeg]) -> Result<()> {
        let tree = self.tree();
        let n = tree.node(id);
        if matches!(n.kind, NodeKind::Alias) {
            return Err(self.uneditable_at(id, path, "is a YAML alias of a node used elsewhere too"));
        }
        if tree.is_shared(id) {
            return Err(self.uneditable_at(id, path, "has a YAML anchor that an alias uses"));
        }
        if let Some(tag) = n.tag.as_deref().filter(|t| !t.starts_with(CORE_TAG_PREFIX)) {
            return Err(self.uneditable_at(id, path, &format!("has the tag `{tag}`")));
        }
        if tree.entries(id).iter().any(|&(k, _)| tree.scalar(k).is_none()) {
            return Err(self.uneditable_at(id, path, "has a mapping or sequence as a key"));
        }
        if tree.entries(id).iter().any(|&(k, _)| tree.is_merge_key(k)) {
            return Err(self.uneditable_at(
                id,
                path,
                "uses a YAML merge key (`<<`), which YAML 1.1 readers resolve differently from each other",
            ));
        }
        Ok(())
    }

    /// Refuse to replace or remove a subtree that holds an anchor some alias uses.
    fn check_subtree(&self, id: NodeId, path: &[PathSeg]) -> Result<()> {
        if self.tree().subtree(id).into_iter().any(|n| self.tree().is_shared(n)) {
            return Err(self.uneditable_at(id, path, "holds a YAML anchor that an alias elsewhere uses"));
        }
        Ok(())
    }

    fn value_mut(&mut self, root: Root, sub: &[PathSeg]) -> &mut Value {
        let mut v = match root {
            Root::Replace(n) => match self.plan.changes.get_mut(&n) {
                Some(Change::Replace(v)) => v,
                _ => unreachable!("a replace root is planned"),
            },
            Root::Added(n, i) => match self.plan.changes.get_mut(&n) {
                Some(Change::Map { added, .. }) => &mut added[i].1,
                _ => unreachable!("an added root is planned"),
            },
            Root::Slot(n, i) => match self.plan.changes.get_mut(&n) {
                Some(Change::Seq(slots)) => match &mut slots[i] {
                    Slot::New(v) => v,
                    Slot::Old(_) => unreachable!("a slot root is new"),
                },
                _ => unreachable!("a slot root is planned"),
            },
        };
        for seg in sub {
            v = match (v, seg) {
                (Value::Map(entries), seg) => {
                    let k = key_of(seg);
                    let i = entries.iter().rposition(|(key, _)| *key == k).expect("walked");
                    &mut entries[i].1
                }
                (Value::Seq(items), PathSeg::Index(i)) => &mut items[*i],
                _ => unreachable!("walked path"),
            };
        }
        v
    }

    fn added_index(&self, map: NodeId, key: &str) -> Option<usize> {
        match self.plan.changes.get(&map) {
            Some(Change::Map { added, .. }) => added.iter().position(|(k, _)| k == key),
            _ => None,
        }
    }

    fn is_removed(&self, map: NodeId, key: NodeId) -> bool {
        matches!(self.plan.changes.get(&map), Some(Change::Map { removed, .. }) if removed.contains(&key))
    }

    fn map_change(&mut self, map: NodeId) -> (&mut Vec<(String, Value)>, &mut Vec<NodeId>) {
        let change =
            self.plan.changes.entry(map).or_insert_with(|| Change::Map { added: Vec::new(), removed: Vec::new() });
        match change {
            Change::Map { added, removed } => (added, removed),
            _ => unreachable!("a mapping's change is a map change"),
        }
    }

    fn slots(&mut self, seq: NodeId) -> &mut Vec<Slot> {
        let items: Vec<NodeId> = self.doc.tree.items(seq).to_vec();
        let change =
            self.plan.changes.entry(seq).or_insert_with(|| Change::Seq(items.into_iter().map(Slot::Old).collect()));
        match change {
            Change::Seq(slots) => slots,
            _ => unreachable!("a sequence's change is a sequence change"),
        }
    }

    /// The existing entry `key` of mapping `map` that is not planned for removal.
    fn entry(&self, map: NodeId, key: &str) -> Option<(NodeId, NodeId)> {
        let tree = self.tree();
        tree.entries(map).iter().rev().find(|&&(k, _)| tree.scalar(k) == Some(key) && !self.is_removed(map, k)).copied()
    }

    /// Drop planned changes inside a subtree that is being replaced or removed.
    fn forget_inside(&mut self, id: NodeId) {
        for n in self.doc.tree.subtree(id) {
            self.plan.changes.remove(&n);
        }
    }

    /// Follow `path` from the base; with `create`, missing and null mappings are planned.
    fn locate(&mut self, path: &[PathSeg], create: bool) -> Result<Option<Loc>> {
        let mut loc = Loc::Node(self.base);
        for depth in 0..path.len() {
            let Some(next) = self.step(loc, &path[..depth], &path[depth], create)? else {
                return Ok(None);
            };
            loc = next;
        }
        if let Loc::Node(n) = loc {
            self.check(n, path)?;
        }
        Ok(Some(loc))
    }

    fn step(&mut self, loc: Loc, here: &[PathSeg], seg: &PathSeg, create: bool) -> Result<Option<Loc>> {
        let n = match loc {
            Loc::Val(root, sub) => return self.step_value(root, sub, here, seg, create),
            Loc::Node(n) => n,
        };
        if matches!(self.plan.changes.get(&n), Some(Change::Replace(_))) {
            return self.step_value(Root::Replace(n), Vec::new(), here, seg, create);
        }
        self.check(n, here)?;
        let tree = self.doc.tree;
        match &tree.node(n).kind {
            NodeKind::Mapping { .. } => {
                let key = key_of(seg);
                if let Some(i) = self.added_index(n, &key) {
                    return Ok(Some(Loc::Val(Root::Added(n, i), Vec::new())));
                }
                if matches!(seg, PathSeg::Index(_)) && self.entry(n, &key).is_none() {
                    // A number in a path means a list item; never invent a key `"0"` for it.
                    return if create {
                        Err(self.error_at(n, here, format!("is a mapping; there is no item {key}")))
                    } else {
                        Ok(None)
                    };
                }
                match self.entry(n, &key) {
                    Some((_, v)) if tree.is_null(v) && !self.plan.changes.contains_key(&v) => {
                        if !create {
                            return Ok(None);
                        }
                        self.plan.changes.insert(v, Change::Replace(Value::Map(Vec::new())));
                        Ok(Some(Loc::Val(Root::Replace(v), Vec::new())))
                    }
                    Some((_, v)) => Ok(Some(Loc::Node(v))),
                    None if create => {
                        let (added, _) = self.map_change(n);
                        added.push((key, Value::Map(Vec::new())));
                        let i = added.len() - 1;
                        Ok(Some(Loc::Val(Root::Added(n, i), Vec::new())))
                    }
                    None => Ok(None),
                }
            }
            NodeKind::Sequence { .. } => {
                let PathSeg::Index(i) = seg else {
                    return Err(self.error_at(n, here, "a sequence is not a mapping".to_string()));
                };
                let i = *i;
                let slot = match self.plan.changes.get(&n) {
                    Some(Change::Seq(slots)) => slots.get(i).map(|s| match s {
                        Slot::Old(id) => Loc::Node(*id),
                        Slot::New(_) => Loc::Val(Root::Slot(n, i), Vec::new()),
                    }),
                    _ => tree.items(n).get(i).map(|&id| Loc::Node(id)),
                };
                match slot {
                    Some(loc) => Ok(Some(loc)),
                    None if create => {
                        Err(self.error_at(n, here, format!("has {} items; there is no item {i}", tree.items(n).len())))
                    }
                    None => Ok(None),
                }
            }
            _ if !create => Ok(None),
            _ => Err(self.error_at(n, here, format!("{} is not a mapping", describe(tree, n)))),
        }
    }

    fn step_value(
        &mut self,
        root: Root,
        mut sub: Vec<PathSeg>,
        here: &[PathSeg],
        seg: &PathSeg,
        create: bool,
    ) -> Result<Option<Loc>> {
        let base = self.base;
        let v = self.value_mut(root, &sub);
        if matches!(v, Value::Null) && create {
            *v = Value::Map(Vec::new());
        }
        let found = match (v, seg) {
            (Value::Map(entries), seg) => {
                let key = key_of(seg);
                if !entries.iter().any(|(k, _)| *k == key) {
                    if !create {
                        return Ok(None);
                    }
                    if matches!(seg, PathSeg::Index(_)) {
                        return Err(self.error_at(
                            base,
                            here,
                            format!("does not exist; there is no item {key} to edit"),
                        ));
                    }
                    entries.push((key.clone(), Value::Map(Vec::new())));
                }
                PathSeg::Key(key)
            }
            (Value::Seq(items), PathSeg::Index(i)) if *i < items.len() => PathSeg::Index(*i),
            _ if !create => return Ok(None),
            (Value::Seq(_), _) => return Err(self.error_at(base, here, format!("has no item `{seg}`"))),
            _ => return Err(self.error_at(base, here, "a scalar is not a mapping".to_string())),
        };
        sub.push(found);
        Ok(Some(Loc::Val(root, sub)))
    }

    /// Set child `seg` of the container at `loc` (reached by `path`).
    fn set(&mut self, loc: Loc, path: &[PathSeg], seg: &PathSeg, value: Value) -> Result<Outcome> {
        let mut there = path.to_vec();
        there.push(seg.clone());
        let n = match loc {
            Loc::Val(root, sub) => return Ok(set_in_value(self.value_mut(root, &sub), seg, value)),
            Loc::Node(n) => n,
        };
        if matches!(self.plan.changes.get(&n), Some(Change::Replace(_))) {
            return Ok(set_in_value(self.value_mut(Root::Replace(n), &[]), seg, value));
        }
        let tree = self.doc.tree;
        let target = match &tree.node(n).kind {
            NodeKind::Mapping { .. } => {
                let key = key_of(seg);
                if let Some(i) = self.added_index(n, &key) {
                    // Planned by an earlier op: still an addition to the document.
                    let planned = self.value_mut(Root::Added(n, i), &[]);
                    if *planned == value {
                        return Ok(Outcome::Unchanged);
                    }
                    *planned = value;
                    return Ok(Outcome::Added);
                }
                match self.entry(n, &key) {
                    Some((_, v)) => v,
                    None => {
                        self.map_change(n).0.push((key, value));
                        return Ok(Outcome::Added);
                    }
                }
            }
            NodeKind::Sequence { .. } => {
                let PathSeg::Index(i) = seg else {
                    return Err(self.error_at(n, path, "a sequence is not a mapping".to_string()));
                };
                let slots = self.slots(n);
                match slots.get_mut(*i) {
                    Some(Slot::New(v)) => {
                        let changed = *v != value;
                        *v = value;
                        return Ok(if changed { Outcome::Updated } else { Outcome::Unchanged });
                    }
                    Some(Slot::Old(id)) => *id,
                    None => {
                        return Err(self.error_at(n, path, format!("has no item {i}")));
                    }
                }
            }
            _ => return Err(self.error_at(n, path, format!("{} is not a mapping", describe(tree, n)))),
        };
        if let Some(Change::Replace(planned)) = self.plan.changes.get_mut(&target) {
            let changed = *planned != value;
            *planned = value;
            return Ok(if changed { Outcome::Updated } else { Outcome::Unchanged });
        }
        if node_equals(tree, target, &value) {
            return Ok(Outcome::Unchanged);
        }
        self.check_subtree(target, &there)?;
        self.forget_inside(target);
        self.plan.changes.insert(target, Change::Replace(value));
        Ok(Outcome::Updated)
    }

    fn remove(&mut self, loc: Loc, path: &[PathSeg], seg: &PathSeg) -> Result<Outcome> {
        let n = match loc {
            Loc::Val(root, sub) => return Ok(remove_in_value(self.value_mut(root, &sub), seg)),
            Loc::Node(n) => n,
        };
        if matches!(self.plan.changes.get(&n), Some(Change::Replace(_))) {
            return Ok(remove_in_value(self.value_mut(Root::Replace(n), &[]), seg));
        }
        let tree = self.doc.tree;
        match &tree.node(n).kind {
            NodeKind::Mapping { .. } => {
                let key = key_of(seg);
                if let Some(i) = self.added_index(n, &key) {
                    self.map_change(n).0.remove(i);
                    return Ok(Outcome::Removed);
                }
                // A key written twice goes entirely: removing only the last one would make the
                // earlier one visible, and a second run would remove that too.
                let mut removed = false;
                while let Some((k, v)) = self.entry(n, &key) {
                    // The key may carry the anchor (`{&x a: 1, c: *x}`): it leaves with its entry.
                    self.check_subtree(k, path)?;
                    self.check_subtree(v, path)?;
                    self.forget_inside(v);
                    self.map_change(n).1.push(k);
                    removed = true;
                }
                Ok(if removed { Outcome::Removed } else { Outcome::Unchanged })
            }
            NodeKind::Sequence { .. } => {
                let PathSeg::Index(i) = *seg else {
                    return Ok(Outcome::Unchanged);
                };
                let len = self.slots(n).len();
                if i >= len {
                    return Ok(Outcome::Unchanged);
                }
                if let Slot::Old(id) = self.slots(n)[i] {
                    self.check_subtree(id, path)?;
                    self.forget_inside(id);
                }
                self.slots(n).remove(i);
                Ok(Outcome::Removed)
            }
            _ => Ok(Outcome::Unchanged),
        }
    }

    /// The sequence at `path`, planned as a new one when it is missing or null.
    fn sequence(&mut self, path: &[PathSeg]) -> Result<Loc> {
        let (parent, last) = split(path)?;
        let loc = self.locate(parent, true)?.expect("created");
        let n = match loc {
            Loc::Val(root, mut sub) => {
                let v = self.value_mut(root, &sub);
                let key = key_of(last);
                match v {
                    Value::Map(entries) => {
                        let i = match entries.iter().rposition(|(k, _)| *k == key) {
                            Some(i) => i,
                            None => {
                                entries.push((key.clone(), Value::Seq(Vec::new())));
                                entries.len() - 1
                            }
                        };
                        if matches!(entries[i].1, Value::Null) {
                            entries[i].1 = Value::Seq(Vec::new());
                        }
                        if !matches!(entries[i].1, Value::Seq(_)) {
                            return Err(self.error_at(self.base, path, "is not a sequence".into()));
                        }
                    }
                    _ => return Err(self.error_at(self.base, parent, "is not a mapping".into())),
                }
                sub.push(PathSeg::Key(key));
                return Ok(Loc::Val(root, sub));
            }
            Loc::Node(n) => n,
        };
        if matches!(self.plan.changes.get(&n), Some(Change::Replace(_))) {
            let v = self.value_mut(Root::Replace(n), &[]);
            if let Value::Map(entries) = v {
                let key = key_of(last);
                if !entries.iter().any(|(k, _)| *k == key) {
                    entries.push((key.clone(), Value::Seq(Vec::new())));
                }
                return Ok(Loc::Val(Root::Replace(n), vec![PathSeg::Key(key)]));
            }
            return Err(self.error_at(n, parent, "is not a mapping".into()));
        }
        let tree = self.doc.tree;
        if !tree.is_mapping(n) {
            return Err(self.error_at(n, parent, format!("{} is not a mapping", describe(tree, n))));
        }
        let key = key_of(last);
        if let Some(i) = self.added_index(n, &key) {
            let v = self.value_mut(Root::Added(n, i), &[]);
            if matches!(v, Value::Null) {
                *v = Value::Seq(Vec::new());
            }
            return Ok(Loc::Val(Root::Added(n, i), Vec::new()));
        }
        match self.entry(n, &key) {
            None => {
                let (added, _) = self.map_change(n);
                added.push((key, Value::Seq(Vec::new())));
                let i = added.len() - 1;
                Ok(Loc::Val(Root::Added(n, i), Vec::new()))
            }
            Some((_, v)) => {
                if let Some(Change::Replace(_)) = self.plan.changes.get(&v) {
                    return Ok(Loc::Val(Root::Replace(v), Vec::new()));
                }
                if tree.is_null(v) {
                    self.plan.changes.insert(v, Change::Replace(Value::Seq(Vec::new())));
                    return Ok(Loc::Val(Root::Replace(v), Vec::new()));
                }
                self.check(v, path)?;
                match tree.node(v).kind {
                    NodeKind::Sequence { .. } => Ok(Loc::Node(v)),
                    _ => Err(self.error_at(v, path, format!("{} is not a sequence", describe(tree, v)))),
                }
            }
        }
    }

    /// The current items of the sequence at `seq`, for matching.
    fn items(&mut self, seq: &Loc, path: &[PathSeg]) -> Result<Vec<Slot>> {
        match seq {
            Loc::Node(n) => Ok(self.slots(*n).clone()),
            Loc::Val(root, sub) => match self.value_mut(*root, sub) {
                Value::Seq(items) => Ok(items.iter().cloned().map(Slot::New).collect()),
                _ => Err(self.error_at(self.base, path, "is not a sequence".into())),
            },
        }
    }

    fn slot_field_is(&self, slot: &Slot, key: &str, want: &Value) -> bool {
        match slot {
            Slot::New(v) => v.get(key) == Some(want),
            Slot::Old(id) => {
                let tree = self.tree();
                let id = tree.resolved(*id);
                match self.plan.changes.get(&id) {
                    Some(Change::Replace(v)) => v.get(key) == Some(want),
                    _ => tree.get(id, key).is_some_and(|f| node_equals(tree, f, want)),
                }
            }
        }
    }

    fn insert(&mut self, seq: Loc, path: &[PathSeg], index: Option<usize>, item: Value) -> Result<()> {
        match seq {
            Loc::Node(n) => {
                let slots = self.slots(n);
                let at = index.unwrap_or(slots.len());
                if at > slots.len() {
                    let len = slots.len();
                    return Err(self.error_at(n, path, format!("has {len} items; cannot insert at {at}")));
                }
                slots.insert(at, Slot::New(item));
            }
            Loc::Val(root, sub) => {
                let base = self.base;
                let Value::Seq(items) = self.value_mut(root, &sub) else {
                    return Err(self.error_at(base, path, "is not a sequence".into()));
                };
                let at = index.unwrap_or(items.len());
                if at > items.len() {
                    let len = items.len();
                    return Err(self.error_at(base, path, format!("has {len} items; cannot insert at {at}")));
                }
                items.insert(at, item);
            }
        }
        Ok(())
    }
}

/// Set child `seg` of a planned value.
fn set_in_value(v: &mut Value, seg: &PathSeg, value: Value) -> Outcome {
    if matches!(v, Value::Null) {
        *v = Value::Map(Vec::new());
    }
    match (v, seg) {
        (Value::Seq(items), PathSeg::Index(i)) if *i < items.len() => {
            let changed = items[*i] != value;
            items[*i] = value;
            if changed {
                Outcome::Updated
            } else {
                Outcome::Unchanged
            }
        }
        (Value::Map(entries), seg) => {
            let key = key_of(seg);
            match entries.iter_mut().rev().find(|(k, _)| *k == key) {
                Some((_, old)) if *old == value => Outcome::Unchanged,
                Some((_, old)) => {
                    *old = value;
                    Outcome::Updated
                }
                None => {
                    entries.push((key, value));
                    Outcome::Added
                }
            }
        }
        _ => Outcome::Unchanged,
    }
}

fn remove_in_value(v: &mut Value, seg: &PathSeg) -> Outcome {
    match (v, seg) {
        (Value::Seq(items), PathSeg::Index(i)) if *i < items.len() => {
            items.remove(*i);
            Outcome::Removed
        }
        (Value::Map(entries), seg) => {
            let key = key_of(seg);
            let before = entries.len();
            entries.retain(|(k, _)| *k != key);
            if entries.len() < before {
                Outcome::Removed
            } else {
                Outcome::Unchanged
            }
        }
        _ => Outcome::Unchanged,
    }
}

fn describe(tree: &Tree, id: NodeId) -> &'static str {
    match tree.node(id).kind {
        NodeKind::Scalar { .. } if tree.is_null(id) => "null",
        NodeKind::Scalar { .. } => "a scalar",
        NodeKind::Sequence { .. } => "a sequence",
        NodeKind::Mapping { .. } => "a mapping",
        NodeKind::Alias => "an alias",
    }
}

/// Whether an existing node reads as `value` to every YAML reader postwire cares about.
pub fn node_equals(tree: &Tree, id: NodeId, value: &Value) -> bool {
    let id = tree.resolved(id);
    let node = tree.node(id);
    let tagged = node.tag.is_some();
    match (&node.kind, value) {
        (NodeKind::Scalar { .. }, Value::Null) => tree.is_null(id),
        (NodeKind::Scalar { value: s, style }, Value::Str(want)) => {
            s == want
                && (!matches!(style, Style::Plain)
                    || node.tag.as_deref() == Some("tag:yaml.org,2002:str")
                    || (!tagged && crate::emit::is_plain_safe(want)))
        }
        (NodeKind::Scalar { value: s, style: Style::Plain }, Value::Bool(b)) => {
            !tagged && s == if *b { "true" } else { "false" }
        }
        (NodeKind::Scalar { value: s, style: Style::Plain }, Value::Int(i)) => !tagged && *s == i.to_string(),
        (NodeKind::Scalar { value: s, style: Style::Plain }, Value::Float(f)) => !tagged && s == f.text(),
        (NodeKind::Sequence { items, .. }, Value::Seq(want)) => {
            items.len() == want.len() && items.iter().zip(want).all(|(&i, w)| node_equals(tree, i, w))
        }
        (NodeKind::Mapping { entries, .. }, Value::Map(want)) => {
            let mut keys: Vec<&str> = entries.iter().filter_map(|&(k, _)| tree.scalar(k)).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut want_keys: Vec<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
            want_keys.sort_unstable();
            want_keys.dedup();
            keys == want_keys
                && want.iter().all(|(k, w)| tree.get(id, k).is_some_and(|v| node_equals(tree, v, w)))
                && !entries.iter().any(|&(k, _)| tree.is_merge_key(k))
        }
        _ => false,
    }
}

/// Edit one YAML document's text with one plan: the new text and one outcome per op.
///
/// With [`Uneditable::Skip`], a document the layer refuses comes back unchanged with every
/// outcome [`Outcome::Unchanged`].
pub fn edit_document(text: &str, ops: &[Op], on_uneditable: Uneditable) -> Result<(String, Vec<Outcome>)> {
    let tree = Tree::parse(text, 0)?;
    let Some(root) = tree.root() else {
        return Err(Error::new(ErrorKind::Document, "the document is empty"));
    };
    let doc = DocRef { text, tree: &tree };
    let edited = (|| -> Result<(String, Vec<Outcome>)> {
        let mut plan = Plan::default();
        let outcomes = ops.iter().map(|op| plan.apply(doc, root, op)).collect::<Result<Vec<_>>>()?;
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let edits = plan.render_owned(doc, newline)?;
        let out = apply_owned_splices(text, &edits)?;
        let whole = verify(&tree, &out, 0)?;
        // The tree a render would build from the changed regions must be this one.
        if let Some(by_regions) = regions::reparse(&plan, doc, &edits, &out).map(|r| r.apply(tree.clone())) {
            same_as_whole(&whole, &by_regions)?;
        }
        Ok((out, outcomes))
    })();
    match edited {
        Err(e) if e.is_uneditable() && on_uneditable == Uneditable::Skip => {
            Ok((text.to_string(), vec![Outcome::Unchanged; ops.len()]))
        }
        other => other,
    }
}

/// Check an edited document: it parses, and it repeats no key more often than before (two
/// keys of one mapping would make both YAML readers silently keep only the last). Returns the
/// new tree, its lines counted from `line_offset`.
pub fn verify(before: &Tree, after: &str, line_offset: usize) -> Result<Tree> {
    verify_counted(before.duplicate_keys(), after, line_offset).map(|(tree, _)| tree)
}

/// [`verify`], given the number of keys the tree before repeats ([`Tree::duplicate_keys`]):
/// the new tree and its own count, for the next edit's check.
pub fn verify_counted(duplicate_keys_before: usize, after: &str, line_offset: usize) -> Result<(Tree, usize)> {
    let tree =
        Tree::parse(after, line_offset).map_err(|e| internal(&format!("an edit produced invalid YAML ({e})")))?;
    let duplicate_keys = tree.duplicate_keys();
    if duplicate_keys > duplicate_keys_before {
        return Err(internal("an edit produced a duplicate key"));
    }
    Ok((tree, duplicate_keys))
}

/// [`verify_counted`] for a tree built from the regions an edit changed
/// ([`regions::reparse`]): the count of repeated keys, and with [`regions::set_compare_each`]
/// a whole parse that must give the same tree.
pub fn verify_regions(
    duplicate_keys_before: usize,
    tree: Tree,
    after: &str,
    line_offset: usize,
) -> Result<(Tree, usize)> {
    let duplicate_keys = tree.duplicate_keys();
    if duplicate_keys > duplicate_keys_before {
        return Err(internal("an edit produced a duplicate key"));
    }
    if regions::compare_each() {
        let (whole, _) = verify_counted(duplicate_keys_before, after, line_offset)?;
        same_as_whole(&whole, &tree)?;
    }
    Ok((tree, duplicate_keys))
}

/// A tree built from the changed regions must be the whole parse's: else an internal error
/// naming the first node that differs (and counted, see [`regions::counts`]).
fn same_as_whole(whole: &Tree, by_regions: &Tree) -> Result<()> {
    if whole == by_regions {
        return Ok(());
    }
    regions::count_difference();
    Err(internal(&format!(
        "the tree of the changed regions differs from a whole parse: {}",
        first_difference(whole, by_regions)
    )))
}

/// The first node where two trees differ, for the message of a failed comparison.
fn first_difference(a: &Tree, b: &Tree) -> String {
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (a.node_checked(i), b.node_checked(i));
        if x != y {
            return format!("node {i}: whole {x:?}, regions {y:?}");
        }
    }
    "roots differ".to_string()
}

#[cfg(test)]
mod tests;
