//! The stream being rendered: its documents, their trees, and one edit plan per document.
//!
//! Wirings read objects and trees here and hand their edits to [`Workspace::edit`], which
//! records them in the document's [`Plan`]; [`Workspace::commit`] turns every plan into text
//! once per wiring, so the next wiring sees the result and no document is re-parsed per edit.
//!
//! The objects of parsed documents are listed once per document, when its tree is set, and
//! indexed by (group, kind, name): looking one up, as every generated object does to find a
//! conflict, costs the same on a stream of ten objects as on one of a hundred thousand.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap};

use crate::edit::{self, regions, DocRef, Op, Outcome, Plan, Uneditable};
use crate::error::{DocLocation, Error, ErrorKind, Result};
use crate::parsed::Parsed;
use crate::report::{Level, Note, Report};
use crate::resource::{self, objects_of, Object, Peek};
use crate::stream::{self, Replacement, Stream, FILENAME_ANNOTATION};
use crate::yaml::{NodeId, NodeKind, Tree};

/// One document of the stream (or one postwire generated) as the wirings see it.
#[derive(Debug)]
struct DocState<'a> {
    text: Cow<'a, str>,
    tree: Option<Tree>,
    peek: Peek,
    /// 1-based number among non-empty documents (0 for empty segments).
    number: usize,
    removed: bool,
    /// A document postwire added (appended after the input's documents).
    generated: bool,
    /// Removed because a generated document takes its place.
    regenerated: bool,
    plan: Plan,
    /// The objects of its tree (the root, or the items of a `*List`), in document order.
    objects: Vec<Object>,
    /// Why the document is left unchanged (`onUneditable: skip`).
    skipped: Option<String>,
    /// Whether the report already says so.
    warned: bool,
    source: OnceCell<Option<String>>,
    /// The first line of the document in the stream, minus one.
    line_offset: usize,
    /// How many keys the tree repeats ([`Tree::duplicate_keys`]), once counted.
    duplicate_keys: Option<usize>,
    /// Whether a tree of this document was built from the regions an edit changed.
    by_regions: bool,
    /// Whether its current tree was, so it is compared with a whole parse at the end
    /// ([`Workspace::check_reparsed`]) or before a later edit parses the document whole.
    tree_by_regions: bool,
    /// Whether a tree built from regions was found to differ from a whole parse.
    regions_differed: bool,
}

impl<'a> DocState<'a> {
    fn new(text: Cow<'a, str>, peek: Peek, number: usize, line_offset: usize) -> Self {
        DocState {
            text,
            tree: None,
            peek,
            number,
            removed: false,
            generated: false,
            regenerated: false,
            plan: Plan::default(),
            objects: Vec::new(),
            skipped: None,
            warned: false,
            source: OnceCell::new(),
            line_offset,
            duplicate_keys: None,
            by_regions: false,
            tree_by_regions: false,
            regions_differed: false,
        }
    }
}

/// An object's group, kind and name: with its namespace, what identifies it in a cluster. The
/// index leaves the namespace out because a post-renderer is not always told the release
/// namespace, so callers decide how namespaces match (see [`resource::namespaces_match`]).
type ObjectKey = (String, String, String);

fn key_of(o: &Object) -> ObjectKey {
    (o.group().to_string(), o.kind.clone(), o.name.clone())
}

/// The stream being rendered.
pub struct Workspace<'a> {
    stream: Stream<'a>,
    docs: Vec<DocState<'a>>,
    /// The segments whose objects (in documents still in the output) have each key.
    index: HashMap<ObjectKey, Vec<usize>>,
    /// Kinds whose every document that could hold one has been parsed ([`Workspace::parse_kind`]).
    parsed_kinds: BTreeSet<String>,
    /// The segments [`Workspace::commit`] has to look at: those edited since the last commit
    /// (their plan may not be empty) and those left unchanged under `onUneditable: skip`.
    to_commit: BTreeSet<usize>,
    /// The number the next generated document gets.
    next_number: usize,
    on_uneditable: Uneditable,
    targets_must_match: bool,
    /// Whether edited documents get their trees by parsing only what changed (else whole).
    reparse_regions: bool,
}

impl<'a> Workspace<'a> {
    /// Split `text` and peek at every document.
    pub fn new(text: &'a str) -> Workspace<'a> {
        let stream = Stream::split(text);
        let mut number = 0;
        let docs = stream
            .segments
            .iter()
            .enumerate()
            .map(|(i, seg)| {
                let text = stream.segment_text(i);
                let (peek, n) = if seg.has_content {
                    number += 1;
                    (resource::peek(text, seg.after_marker), number)
                } else {
                    (Peek::default(), 0)
                };
                DocState::new(Cow::Borrowed(text), peek, n, seg.line - 1)
            })
            .collect();
        Workspace {
            stream,
            docs,
            index: HashMap::new(),
            parsed_kinds: BTreeSet::new(),
            to_commit: BTreeSet::new(),
            next_number: number + 1,
            on_uneditable: Uneditable::default(),
            targets_must_match: true,
            reparse_regions: !regions::whole_only(),
        }
    }

    /// Choose what happens to documents that cannot be edited safely.
    pub fn set_on_uneditable(&mut self, policy: Uneditable) {
        self.on_uneditable = policy;
    }

    /// Parse every edited document whole, never only the regions an edit changed (the
    /// reference [`Workspace::check_reparsed`] falls back to).
    pub fn set_reparse_whole(&mut self) {
        self.reparse_regions = false;
    }

    /// Whether every tree built from an edit's regions is the tree a parse of the document's
    /// text gives. Documents whose last edit left them unchanged or skipped are parsed whole
    /// already; a false here means the render must run again with [`Workspace::set_reparse_whole`].
    ///
    /// A document left unchanged under `onUneditable: skip` after an edit built from regions
    /// counts as a difference: the refusal may come from a tree the whole parse would not give.
    pub fn check_reparsed(&self) -> bool {
        self.docs.iter().filter(|d| d.by_regions).all(|d| {
            let same = !d.regions_differed
                && d.skipped.is_none()
                && (d.removed || !d.tree_by_regions || {
                    let whole = Tree::parse(&d.text, d.line_offset);
                    matches!((&whole, &d.tree), (Ok(whole), Some(tree)) if whole == tree)
                });
            if !same && !d.regions_differed {
                regions::count_difference();
            }
            same
        })
    }

    /// The values of the input's Secrets ([`crate::redact::SecretValues::collect`] of the
    /// input), read from the scans made of every document and the trees of those parsed and
    /// left as they were, rather than scanning and parsing the input again.
    pub fn secret_values(&self) -> crate::redact::SecretValues {
        if !crate::redact::mentions_secret(self.stream.text) {
            return crate::redact::SecretValues::default();
        }
        let documents = self.stream.segments.iter().enumerate().map(|(i, segment)| {
            let doc = &self.docs[i];
            let unedited = matches!(doc.text, Cow::Borrowed(_)) && !doc.by_regions;
            crate::redact::Document {
                text: self.stream.segment_text(i),
                after_marker: segment.after_marker,
                // Only documents with content were scanned.
                peek: segment.has_content.then_some(&doc.peek),
                tree: doc.tree.as_ref().filter(|_| unedited),
            }
        });
        crate::redact::SecretValues::of_documents(documents)
    }

    /// Check the config without a render (`postwire validate`): a target, Service or workload
    /// the config names and the (empty) stream lacks is then not an error.
    pub fn set_config_check(&mut self) {
        self.targets_must_match = false;
    }

    /// Whether a config entry that matches nothing in the stream is an error (it is, unless
    /// marked `optional`, in every render; not when only the config is checked).
    pub fn targets_must_match(&self) -> bool {
        self.targets_must_match
    }

    /// Number of non-empty input documents.
    pub fn document_count(&self) -> usize {
        self.docs.iter().filter(|d| d.number > 0 && !d.generated).count()
    }

    /// The line break the stream uses.
    pub fn newline(&self) -> &'static str {
        self.stream.newline()
    }

    /// Whether the input carries Helm 4's filename annotation (generated documents then do too).
    pub fn uses_filename_annotation(&self) -> bool {
        self.stream.uses_filename_annotation()
    }

    /// The 1-based document number of a segment.
    pub fn number(&self, segment: usize) -> usize {
        self.docs[segment].number
    }

    /// Where document `segment` is, for messages.
    pub fn location(&self, segment: usize, object: Option<String>) -> DocLocation {
        DocLocation { index: self.docs[segment].number, object, source: self.source(segment) }
    }

    /// The peeked `kind` of a document.
    pub fn peeked_kind(&self, segment: usize) -> Option<&str> {
        self.docs[segment].peek.kind.as_deref()
    }

    /// Segments holding documents with content that are still in the output.
    pub fn segments(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.docs.len()).filter(|&i| self.docs[i].number > 0 && !self.docs[i].removed)
    }

    /// Whether the peek could not tell what a document is (only a parse can).
    pub fn needs_parse_to_know(&self, segment: usize) -> bool {
        !self.docs[segment].peek.simple
    }

    /// Parse a document (once). A null document (`~`, `null`: Helm renders one for
    /// `{{ toYaml .Values.x }}` when x is nil) parses to a tree with no object.
    pub fn parse(&mut self, segment: usize) -> Result<()> {
        if self.docs[segment].tree.is_some() {
            return Ok(());
        }
        let doc = &self.docs[segment];
        crate::progress::step(|| {
            let kind = doc.peek.kind.as_deref().unwrap_or("unknown kind");
            format!("parsing document {} ({kind}, line {})", doc.number, self.template_first_line(segment))
        });
        let tree = Tree::parse(&doc.text, doc.line_offset).map_err(|e| {
            let object = doc.peek.kind.clone();
            e.in_document(self.location(segment, object))
        })?;
        let Some(root) = tree.root() else {
            // Nothing but comments and breaks after all (lone CRs): no object, original bytes.
            self.set_tree(segment, Some(tree));
            return Ok(());
        };
        if !tree.is_mapping(root) && !tree.is_null(root) {
            let what = match tree.node(root).kind {
                NodeKind::Sequence { .. } => "a list",
                NodeKind::Alias => "an alias",
                _ => "a scalar",
            };
            let node = tree.node(root);
            return Err(Error::new(
                ErrorKind::Document,
                format!("the document is {what}, not a Kubernetes object (a mapping)"),
            )
            .at(node.line, node.col + 1)
            .in_document(self.location(segment, None)));
        }
        self.set_tree(segment, Some(tree));
        Ok(())
    }

    /// Set (or clear) a document's tree, and list and index its objects anew.
    fn set_tree(&mut self, segment: usize, tree: Option<Tree>) {
        self.unindex(segment);
        let d = &mut self.docs[segment];
        d.tree = tree;
        d.duplicate_keys = None;
        d.tree_by_regions = false;
        d.objects = d.tree.as_ref().map(|t| objects_of(t, segment, d.number)).unwrap_or_default();
        if !d.removed {
            for o in &d.objects {
                let segments = self.index.entry(key_of(o)).or_default();
                if segments.last() != Some(&segment) {
                    segments.push(segment);
                }
            }
        }
    }

    /// Take a document's objects out of the index.
    fn unindex(&mut self, segment: usize) {
        for o in &self.docs[segment].objects {
            let key = key_of(o);
            if let Some(segments) = self.index.get_mut(&key) {
                segments.retain(|&s| s != segment);
                if segments.is_empty() {
                    self.index.remove(&key);
                }
            }
        }
    }

    /// Parse every document that could hold an object of `kind` (the peek cannot rule it
    /// out), once per kind: later documents are parsed as they are generated.
    pub fn parse_kind(&mut self, kind: &str) -> Result<()> {
        if self.parsed_kinds.contains(kind) {
            return Ok(());
        }
        let segments: Vec<usize> =
            self.segments().filter(|&i| self.needs_parse_to_know(i) || self.peeked_kind(i) == Some(kind)).collect();
        for i in segments {
            self.parse(i)?;
        }
        self.parsed_kinds.insert(kind.to_string());
        Ok(())
    }

    /// Parse every document whose peeked kind is in `kinds` or is a typed list (`*List`), and
    /// every document the peek could not read. The rest stay unparsed original bytes.
    pub fn parse_needed(&mut self, kinds: &BTreeSet<String>) -> Result<()> {
        for i in 0..self.docs.len() {
            let d = &self.docs[i];
            if d.number == 0 || d.tree.is_some() || d.removed {
                continue;
            }
            let needed =
                !d.peek.simple || d.peek.kind.as_ref().is_none_or(|k| kinds.contains(k) || k.ends_with("List"));
            if needed {
                self.parse(i)?;
            }
        }
        Ok(())
    }

    /// Drop a document from the output (an in-stream `PostwireConfig`).
    pub fn remove(&mut self, segment: usize) {
        self.unindex(segment);
        self.docs[segment].removed = true;
    }

    /// Drop a document that a generated one takes the place of (postwire's own from an earlier
    /// run, or a chart object under a `replace` conflict policy); not counted as removed.
    pub fn regenerate(&mut self, segment: usize) {
        self.remove(segment);
        self.docs[segment].regenerated = true;
    }

    /// The objects of all parsed documents (items of `*List` documents included), in stream order.
    ///
    /// A copy, so that a wiring may edit the workspace while it walks them; one that only
    /// reads them, or keeps a few, walks [`Workspace::object_refs`] instead.
    pub fn objects(&self) -> Vec<Object> {
        let count = self.docs.iter().filter(|d| !d.removed).map(|d| d.objects.len()).sum();
        let mut out = Vec::with_capacity(count);
        out.extend(self.object_refs().cloned());
        out
    }

    /// The objects of [`Workspace::objects`], in the same order, without copying them.
    pub fn object_refs(&self) -> impl Iterator<Item = &Object> + '_ {
        self.docs.iter().filter(|d| !d.removed).flat_map(|d| d.objects.iter())
    }

    /// The objects of one document (none when it is removed or not parsed).
    pub fn objects_in(&self, segment: usize) -> &[Object] {
        let d = &self.docs[segment];
        if d.removed {
            &[]
        } else {
            &d.objects
        }
    }

    /// The objects of `group` and `kind` named `name`, in any namespace, in stream order (among
    /// parsed documents still in the output).
    pub fn named<'w>(&'w self, group: &str, kind: &str, name: &str) -> impl Iterator<Item = &'w Object> + 'w {
        let key = (group.to_string(), kind.to_string(), name.to_string());
        let mut segments = self.index.get(&key).cloned().unwrap_or_default();
        segments.sort_unstable();
        let (group, kind, name) = key;
        segments
            .into_iter()
            .flat_map(move |s| self.docs[s].objects.iter())
            .filter(move |o| o.name == name && o.kind == kind && o.group() == group)
    }

    /// The first object, in stream order, of `group` and `kind` named `name` in `namespace` (as
    /// written: `None` is an object without `metadata.namespace`).
    pub fn find(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Object> {
        self.named(group, kind, name).find(|o| o.namespace.as_deref() == namespace)
    }

    /// The tree of a parsed document.
    pub fn tree(&self, segment: usize) -> &Tree {
        self.docs[segment].tree.as_ref().expect("parsed document")
    }

    /// The text of a document.
    pub fn text(&self, segment: usize) -> &str {
        &self.docs[segment].text
    }

    /// Plan `ops` on the object at `base` of a document: one outcome per op. A document that
    /// cannot be edited safely stops the render, or under `onUneditable: skip` is left
    /// unchanged from then on (every outcome `Unchanged`).
    pub fn edit(&mut self, segment: usize, base: NodeId, ops: &[Op], object: &str) -> Result<Vec<Outcome>> {
        if self.docs[segment].skipped.is_some() {
            return Ok(vec![Outcome::Unchanged; ops.len()]);
        }
        crate::progress::step(|| format!("editing document {} ({object})", self.docs[segment].number));
        self.to_commit.insert(segment);
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let d = &mut self.docs[segment];
            let doc = DocRef { text: &d.text, tree: d.tree.as_ref().expect("parsed document") };
            match d.plan.apply(doc, base, op) {
                Ok(o) => outcomes.push(o),
                Err(e) => {
                    let e = e.in_document(self.location(segment, Some(object.to_string())));
                    if e.is_uneditable() && self.on_uneditable == Uneditable::Skip {
                        let d = &mut self.docs[segment];
                        d.skipped = Some(e.to_string());
                        d.plan = Plan::default();
                        return Ok(vec![Outcome::Unchanged; ops.len()]);
                    }
                    return Err(e);
                }
            }
        }
        Ok(outcomes)
    }

    /// Carry out every document's plan, re-parse what changed, and turn skipped documents back
    /// into their original bytes (their earlier changes leave the report; a warning says why).
    ///
    /// Only the documents edited since the last commit and the skipped ones are looked at, in
    /// stream order: every other document has an empty plan.
    pub fn commit(&mut self, report: &mut Report) -> Result<()> {
        let newline = self.newline();
        let segments: Vec<usize> = self.to_commit.iter().copied().collect();
        for segment in segments {
            if let Some(why) = self.docs[segment].skipped.clone() {
                if !self.docs[segment].generated && matches!(self.docs[segment].text, Cow::Owned(_)) {
                    self.docs[segment].text = Cow::Borrowed(self.stream.segment_text(segment));
                    self.set_tree(segment, None);
                    self.parse(segment)?;
                }
                let number = self.docs[segment].number;
                report.forget_changes(number);
                if !self.docs[segment].warned {
                    self.docs[segment].warned = true;
                    let object = self.docs[segment].peek.kind.clone().unwrap_or_default();
                    let source = self.source(segment);
                    report.document(number, &object, source.as_deref()).notes.push(Note {
                        wiring: "edit".into(),
                        level: Level::Warning,
                        message: format!("left unchanged (onUneditable: skip): {why}"),
                        rule: None,
                        line: None,
                    });
                }
                continue;
            }
            self.to_commit.remove(&segment);
            let d = &mut self.docs[segment];
            if d.plan.is_empty() {
                continue;
            }
            let plan = std::mem::take(&mut d.plan);
            crate::progress::step(|| format!("writing the edits of document {}", d.number));
            let tree = d.tree.as_ref().expect("a planned document is parsed");
            // The count of the tree as it is was taken when it was verified (else now).
            let before = *d.duplicate_keys.get_or_insert_with(|| tree.duplicate_keys());
            let doc = DocRef { text: &d.text, tree };
            let edited = plan
                .render_owned(doc, newline)
                .and_then(|edits| edit::apply_owned_splices(&d.text, &edits).map(|text| (edits, text)));
            let edited = match edited {
                // The same bytes are the same tree: nothing to verify or list anew. The text
                // still counts as written (it is the plan's output, as `finish` reports).
                Ok((_, text)) if text == *d.text => {
                    d.text = Cow::Owned(text);
                    continue;
                }
                Ok((edits, text)) => {
                    let rebuild = self.reparse_regions.then(|| regions::reparse(&plan, doc, &edits, &text)).flatten();
                    regions::count(rebuild.is_some());
                    match rebuild {
                        Some(rebuild) => {
                            // The old tree becomes the new one (its nodes are moved, not copied).
                            let tree = rebuild.apply(d.tree.take().expect("a planned document is parsed"));
                            edit::verify_regions(before, tree, &text, d.line_offset).map(|v| (text, v, true))
                        }
                        None => {
                            // The tree the edits were planned on was built from regions: it
                            // must be the whole parse of the text they were planned on.
                            if d.tree_by_regions && Tree::parse(&d.text, d.line_offset).ok().as_ref() != d.tree.as_ref()
                            {
                                regions::count_difference();
                                d.regions_differed = true;
                            }
                            edit::verify_counted(before, &text, d.line_offset).map(|v| (text, v, false))
                        }
                    }
                }
                Err(e) => Err(e),
            };
            match edited {
                Ok((text, (tree, duplicate_keys), by_regions)) => {
                    d.text = Cow::Owned(text);
                    self.set_tree(segment, Some(tree));
                    let d = &mut self.docs[segment];
                    d.duplicate_keys = Some(duplicate_keys);
                    d.by_regions |= by_regions;
                    d.tree_by_regions = by_regions;
                }
                Err(e) => {
                    let object = d.peek.kind.clone();
                    let e = e.in_document(self.location(segment, object));
                    if !(e.is_uneditable() && self.on_uneditable == Uneditable::Skip) {
                        return Err(e);
                    }
                    // A tree given to the regions' rebuild is gone; the text is the old one.
                    self.parse(segment)?;
                    self.docs[segment].skipped = Some(e.to_string());
                    self.to_commit.insert(segment);
                    // Warn and restore the original bytes on the next pass of this loop's logic.
                    return self.commit(report);
                }
            }
        }
        Ok(())
    }

    /// Append a document postwire generated (already validated YAML text); returns its segment.
    pub fn append(&mut self, text: String) -> Result<usize> {
        let number = self.next_number;
        crate::progress::step(|| format!("adding generated document {number}"));
        let tree = Tree::parse(&text, 0).map_err(|e| {
            Error::new(ErrorKind::Wiring, format!("internal error: a generated document is invalid ({e})"))
        })?;
        Ok(self.push_generated(text, tree))
    }

    /// [`Workspace::append`] with the tree the writer built beside the text
    /// ([`crate::emit::block_document_tree`]), instead of parsing it. A render that parses
    /// edited documents whole (the reference) parses this one too; with each edit compared
    /// ([`regions::set_compare_each`]), the tree is compared with a parse of the text.
    pub fn append_written(&mut self, text: String, tree: Tree) -> Result<usize> {
        if !self.reparse_regions {
            return self.append(text);
        }
        let number = self.next_number;
        crate::progress::step(|| format!("adding generated document {number}"));
        if regions::compare_each() && Tree::parse(&text, 0).ok().as_ref() != Some(&tree) {
            regions::count_difference();
        }
        Ok(self.push_generated(text, tree))
    }

    fn push_generated(&mut self, text: String, tree: Tree) -> usize {
        let mut doc = DocState::new(Cow::Owned(text), Peek::default(), self.next_number, 0);
        doc.generated = true;
        self.docs.push(doc);
        self.next_number += 1;
        let segment = self.docs.len() - 1;
        self.set_tree(segment, Some(tree));
        segment
    }

    /// Whether a document was generated by postwire.
    pub fn is_generated(&self, segment: usize) -> bool {
        self.docs[segment].generated
    }

    /// The stream line where the document's chart template starts: the line after Helm 3's
    /// `# Source:` comment, else the document's first line.
    pub fn template_first_line(&self, segment: usize) -> usize {
        let first = self.docs[segment].line_offset + 1;
        let text = &self.docs[segment].text;
        let after_marker = self.stream.segments.get(segment).is_some_and(|s| s.after_marker);
        for (i, line) in text.lines().enumerate().take(8) {
            if line.trim_start().starts_with("# Source: ") {
                return first + i + 1;
            }
        }
        // The rest of a `---` line is not part of the template.
        first + usize::from(after_marker && text.starts_with(['\n', '\r']))
    }

    /// The source template of a document, for reports (computed once per document).
    pub fn source(&self, segment: usize) -> Option<String> {
        let d = &self.docs[segment];
        d.source.get_or_init(|| source_of(&d.text)).clone()
    }

    /// The output stream, and the counts of changed and removed documents.
    pub fn finish(self) -> (String, usize, usize) {
        let (out, changed, removed, _) = self.finish_with(false);
        (out, changed, removed)
    }

    /// [`Workspace::finish`], and the trees of the documents it writes, each with the text it
    /// was parsed from, so that the check reads them instead of parsing them again.
    pub fn finish_parsed(self) -> (String, usize, usize, Parsed<'a>) {
        self.finish_with(true)
    }

    fn finish_with(self, keep_trees: bool) -> (String, usize, usize, Parsed<'a>) {
        let Workspace { stream, docs, index, .. } = self;
        drop(index);
        let (mut changed, mut removed) = (0, 0);
        let mut replacements = Vec::with_capacity(stream.segments.len());
        let mut appended = Vec::new();
        let mut parsed = Parsed::default();
        for (i, d) in docs.into_iter().enumerate() {
            // Every tree is the parse of the document's current text (see `set_tree`'s callers).
            let keep = keep_trees && d.number > 0 && !d.removed;
            let (text, tree) = (d.text, d.tree);
            if d.generated {
                let text = text.into_owned();
                if let (true, Some(tree)) = (keep, tree) {
                    parsed.push(Cow::Owned(text.clone()), tree, d.line_offset, true);
                }
                appended.push(text);
                continue;
            }
            replacements.push(match text {
                _ if d.removed => {
                    removed += usize::from(!d.regenerated);
                    Replacement::Remove
                }
                Cow::Owned(text) => {
                    changed += 1;
                    if let (true, Some(tree)) = (keep, tree) {
                        parsed.push(Cow::Owned(text.clone()), tree, d.line_offset, false);
                    }
                    Replacement::Text(text)
                }
                Cow::Borrowed(text) => {
                    match (keep, tree) {
                        (true, Some(tree)) => parsed.push(Cow::Borrowed(text), tree, d.line_offset, false),
                        // A document of the input left unparsed: its scan is the check's too.
                        (true, None) => parsed.push_unparsed(text, d.peek, stream.segments[i].after_marker),
                        _ => {}
                    }
                    Replacement::Keep
                }
            });
        }
        (stream::join(&stream, &replacements, &appended), changed, removed, parsed)
    }
}

/// The chart template a document came from: Helm 3's `# Source:` comment or Helm 4's
/// filename annotation.
pub fn source_of(text: &str) -> Option<String> {
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("# Source: ") {
            return Some(rest.trim().to_string());
        }
        if let Some(rest) = trimmed.strip_prefix(FILENAME_ANNOTATION).and_then(|r| r.strip_prefix(':')) {
            return Some(rest.trim().trim_matches(['\'', '"']).to_string());
        }
    }
    None
}
