//! The stream being rendered: its documents, their trees, and one edit plan per document.
//!
//! Wirings read objects and trees here and hand their edits to [`Workspace::edit`], which
//! records them in the document's [`Plan`]; [`Workspace::commit`] turns every plan into text
//! once per wiring, so the next wiring sees the result and no document is re-parsed per edit.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeSet;

use crate::edit::{self, DocRef, Op, Outcome, Plan, Uneditable};
use crate::error::{DocLocation, Error, ErrorKind, Result};
use crate::report::{Level, Note, Report};
use crate::resource::{self, Object, Peek, Place};
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
    /// Why the document is left unchanged (`onUneditable: skip`).
    skipped: Option<String>,
    /// Whether the report already says so.
    warned: bool,
    source: OnceCell<Option<String>>,
    /// The first line of the document in the stream, minus one.
    line_offset: usize,
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
            skipped: None,
            warned: false,
            source: OnceCell::new(),
            line_offset,
        }
    }
}

/// The stream being rendered.
pub struct Workspace<'a> {
    stream: Stream<'a>,
    docs: Vec<DocState<'a>>,
    on_uneditable: Uneditable,
    targets_must_match: bool,
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
        Workspace { stream, docs, on_uneditable: Uneditable::default(), targets_must_match: true }
    }

    /// Choose what happens to documents that cannot be edited safely.
    pub fn set_on_uneditable(&mut self, policy: Uneditable) {
        self.on_uneditable = policy;
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
        let tree = Tree::parse(&doc.text, doc.line_offset).map_err(|e| {
            let object = doc.peek.kind.clone();
            e.in_document(self.location(segment, object))
        })?;
        let Some(root) = tree.root() else {
            // Nothing but comments and breaks after all (lone CRs): no object, original bytes.
            self.docs[segment].tree = Some(tree);
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
        self.docs[segment].tree = Some(tree);
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
        self.docs[segment].removed = true;
    }

    /// Drop a document that a generated one takes the place of (postwire's own from an earlier
    /// run, or a chart object under a `replace` conflict policy); not counted as removed.
    pub fn regenerate(&mut self, segment: usize) {
        self.docs[segment].removed = true;
        self.docs[segment].regenerated = true;
    }

    /// The objects of all parsed documents (items of `*List` documents included), in stream order.
    pub fn objects(&self) -> Vec<Object> {
        let mut out = Vec::new();
        for (segment, doc) in self.docs.iter().enumerate() {
            let Some(tree) = doc.tree.as_ref().filter(|_| !doc.removed) else {
                continue;
            };
            let Some(root) = tree.root().filter(|&r| tree.is_mapping(r)) else {
                continue;
            };
            let mut places = vec![(Place::Root, root)];
            if tree.str_at(root, &["kind"]).is_some_and(|k| k.ends_with("List")) {
                if let Some(items) = tree.get(root, "items") {
                    places = tree.items(items).iter().enumerate().map(|(i, &n)| (Place::ListItem(i), n)).collect();
                }
            }
            for (place, node) in places {
                if !tree.is_mapping(node) {
                    continue;
                }
                let (Some(api_version), Some(kind)) =
                    (tree.str_at(node, &["apiVersion"]), tree.str_at(node, &["kind"]))
                else {
                    continue;
                };
                out.push(Object {
                    segment,
                    doc_number: doc.number,
                    place,
                    node,
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    name: tree.str_at(node, &["metadata", "name"]).unwrap_or_default().to_string(),
                    namespace: tree.str_at(node, &["metadata", "namespace"]).map(String::from),
                });
            }
        }
        out
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
    pub fn commit(&mut self, report: &mut Report) -> Result<()> {
        let newline = self.newline();
        for segment in 0..self.docs.len() {
            if let Some(why) = self.docs[segment].skipped.clone() {
                if !self.docs[segment].generated && matches!(self.docs[segment].text, Cow::Owned(_)) {
                    self.docs[segment].text = Cow::Borrowed(self.stream.segment_text(segment));
                    self.docs[segment].tree = None;
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
            let d = &mut self.docs[segment];
            if d.plan.is_empty() {
                continue;
            }
            let plan = std::mem::take(&mut d.plan);
            let tree = d.tree.as_ref().expect("a planned document is parsed");
            let doc = DocRef { text: &d.text, tree };
            let edited = plan
                .render(doc, newline)
                .and_then(|splices| edit::apply_splices(&d.text, &splices))
                .and_then(|text| edit::verify(tree, &text, d.line_offset).map(|tree| (text, tree)));
            match edited {
                Ok((text, tree)) => {
                    d.text = Cow::Owned(text);
                    d.tree = Some(tree);
                }
                Err(e) => {
                    let object = d.peek.kind.clone();
                    let e = e.in_document(self.location(segment, object));
                    if !(e.is_uneditable() && self.on_uneditable == Uneditable::Skip) {
                        return Err(e);
                    }
                    self.docs[segment].skipped = Some(e.to_string());
                    // Warn and restore the original bytes on the next pass of this loop's logic.
                    return self.commit(report);
                }
            }
        }
        Ok(())
    }

    /// Append a document postwire generated (already validated YAML text); returns its segment.
    pub fn append(&mut self, text: String) -> Result<usize> {
        let number = self.docs.iter().map(|d| d.number).max().unwrap_or(0) + 1;
        let tree = Tree::parse(&text, 0).map_err(|e| {
            Error::new(ErrorKind::Wiring, format!("internal error: a generated document is invalid ({e})"))
        })?;
        let mut doc = DocState::new(Cow::Owned(text), Peek::default(), number, 0);
        doc.tree = Some(tree);
        doc.generated = true;
        self.docs.push(doc);
        Ok(self.docs.len() - 1)
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
        let Workspace { stream, docs, .. } = self;
        let (mut changed, mut removed) = (0, 0);
        let mut replacements = Vec::with_capacity(stream.segments.len());
        let mut appended = Vec::new();
        for d in docs {
            if d.generated {
                appended.push(d.text.into_owned());
                continue;
            }
            replacements.push(match d.text {
                _ if d.removed => {
                    removed += usize::from(!d.regenerated);
                    Replacement::Remove
                }
                Cow::Owned(text) => {
                    changed += 1;
                    Replacement::Text(text)
                }
                Cow::Borrowed(_) => Replacement::Keep,
            });
        }
        (stream::join(&stream, &replacements, &appended), changed, removed)
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
