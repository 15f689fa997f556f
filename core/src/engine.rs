//! The render pipeline: split, peek, parse what is needed, resolve config, run the wirings in
//! order, emit.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::config::{self, PostwireConfig, Source, Spanned};
use crate::error::{DocLocation, Error, ErrorKind, Result};
use crate::inject::{self, Splice};
use crate::report::{Action, Change, Report};
use crate::resource::{self, object_node, Object, Peek, Place};
use crate::stream::{self, Replacement, Stream, FILENAME_ANNOTATION};
use crate::wire::{RenderRequestV1, RenderResponseV1};
use crate::wiring;
use crate::yaml::{NodeKind, Tree};

/// One segment of the stream as the wirings see it.
#[derive(Debug)]
struct DocState<'a> {
    text: Cow<'a, str>,
    tree: Option<Tree>,
    peek: Peek,
    /// 1-based number among non-empty documents (0 for empty segments).
    number: usize,
    removed: bool,
}

/// The stream being rendered: documents with their current text and, when parsed, their tree.
pub struct Workspace<'a> {
    stream: Stream<'a>,
    docs: Vec<DocState<'a>>,
    config_docs: Vec<usize>,
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
                DocState { text: Cow::Borrowed(text), tree: None, peek, number: n, removed: false }
            })
            .collect();
        Workspace { stream, docs, config_docs: Vec::new() }
    }

    /// Number of non-empty documents.
    pub fn document_count(&self) -> usize {
        self.docs.iter().filter(|d| d.number > 0).count()
    }

    /// The line break the stream uses.
    pub fn newline(&self) -> &'static str {
        self.stream.newline()
    }

    /// Where document `segment` is, for messages.
    pub fn location(&self, segment: usize, object: Option<String>) -> DocLocation {
        DocLocation { index: self.docs[segment].number, object, source: source_of(&self.docs[segment].text) }
    }

    fn parse(&mut self, segment: usize) -> Result<()> {
        if self.docs[segment].tree.is_some() {
            return Ok(());
        }
        let line_offset = self.stream.segments[segment].line - 1;
        let doc = &self.docs[segment];
        let tree = Tree::parse(&doc.text, line_offset).map_err(|e| {
            let object = doc.peek.kind.clone();
            e.in_document(self.location(segment, object))
        })?;
        let root = tree.root().expect("a segment with content has a root node");
        if !tree.is_mapping(root) {
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

    /// Parse every document whose peeked kind is in `kinds`, and every document the peek could
    /// not read. The rest stay unparsed and are emitted as their original bytes.
    pub fn parse_needed(&mut self, kinds: &BTreeSet<String>) -> Result<()> {
        for i in 0..self.docs.len() {
            let d = &self.docs[i];
            if d.number == 0 || d.tree.is_some() {
                continue;
            }
            let needed = !d.peek.simple || d.peek.kind.as_ref().is_none_or(|k| kinds.contains(k));
            if needed {
                self.parse(i)?;
            }
        }
        Ok(())
    }

    /// Take `PostwireConfig` documents out of the stream, returning them as config sources.
    fn take_config_documents(&mut self) -> Result<Vec<Source>> {
        let candidates: Vec<usize> = (0..self.docs.len())
            .filter(|&i| {
                let p = &self.docs[i].peek;
                self.docs[i].number > 0 && (!p.simple || p.kind.as_deref() == Some(config::KIND))
            })
            .collect();
        let mut sources = Vec::new();
        for i in candidates {
            self.parse(i)?;
            let tree = self.docs[i].tree.as_ref().expect("parsed");
            let root = tree.root().expect("mapping");
            let is_config = tree.str_at(root, &["kind"]) == Some(config::KIND)
                && tree.str_at(root, &["apiVersion"]).is_some_and(|v| resource::group_of(v) == "postwire.dev");
            if !is_config {
                continue;
            }
            let name = format!("document {} (PostwireConfig)", self.docs[i].number);
            let loc = self.location(i, Some(config::KIND.to_string()));
            let mut value = Spanned::from_tree(tree, root, &name).map_err(|e| e.in_document(loc.clone()))?;
            // Helm 4 stamps every document with its filename; that is not config.
            strip_helm_annotation(&mut value);
            config::check_type_meta(&value, &name)?;
            sources.push(Source { name, value });
            self.config_docs.push(i);
            self.docs[i].removed = true;
        }
        if self.config_docs.len() > 1 {
            let numbers: Vec<String> = self.config_docs.iter().map(|&i| self.docs[i].number.to_string()).collect();
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the stream has {} PostwireConfig documents ({}); postwire reads one",
                    numbers.len(),
                    numbers.join(", ")
                ),
            )
            .with_hint("merge them into one, or pass the settings with --config / --set"));
        }
        Ok(sources)
    }

    /// The objects of all parsed documents (List items included), in stream order.
    pub fn objects(&self) -> Vec<Object> {
        let mut out = Vec::new();
        for (segment, doc) in self.docs.iter().enumerate() {
            let Some(tree) = doc.tree.as_ref().filter(|_| !doc.removed) else {
                continue;
            };
            let root = tree.root().expect("mapping");
            let mut places = vec![Place::Root];
            if tree.str_at(root, &["kind"]).is_some_and(|k| k.ends_with("List")) {
                if let Some(items) = tree.get(root, "items") {
                    places = (0..tree.items(items).len()).map(Place::ListItem).collect();
                }
            }
            for place in places {
                let Some(node) = object_node(tree, place).filter(|&n| tree.is_mapping(n)) else {
                    continue;
                };
                let (Some(api_version), Some(kind)) =
                    (tree.str_at(node, &["apiVersion"]), tree.str_at(node, &["kind"]))
                else {
                    continue;
                };
                out.push(Object {
                    segment,
                    doc_number: doc.number,
                    place,
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    name: tree.str_at(node, &["metadata", "name"]).unwrap_or_default().to_string(),
                    namespace: tree.str_at(node, &["metadata", "namespace"]).map(String::from),
                });
            }
        }
        out
    }

    /// The tree and text of a parsed document.
    pub fn doc(&self, segment: usize) -> (&Tree, &str) {
        let d = &self.docs[segment];
        (d.tree.as_ref().expect("parsed document"), &d.text)
    }

    /// Apply splices to a document and re-parse it so later wirings see the new text.
    pub fn edit(&mut self, segment: usize, splices: &[Splice]) -> Result<()> {
        if splices.is_empty() {
            return Ok(());
        }
        let new_text = inject::apply(&self.docs[segment].text, splices);
        self.docs[segment].text = Cow::Owned(new_text);
        self.docs[segment].tree = None;
        // A failure here is a postwire bug (an edit produced invalid YAML): say so.
        self.parse(segment).map_err(|e| {
            Error::new(
                ErrorKind::Wiring,
                format!("internal error: an edit produced invalid YAML ({e}); please report this"),
            )
        })
    }

    /// The source template of a document, for reports.
    pub fn source(&self, segment: usize) -> Option<String> {
        source_of(&self.docs[segment].text)
    }

    fn finish(self) -> (String, usize, usize) {
        let Workspace { stream, docs, config_docs } = self;
        let mut changed = 0;
        let replacements: Vec<Replacement> = docs
            .into_iter()
            .map(|d| match d.text {
                _ if d.removed => Replacement::Remove,
                Cow::Owned(text) => {
                    changed += 1;
                    Replacement::Text(text)
                }
                Cow::Borrowed(_) => Replacement::Keep,
            })
            .collect();
        (stream::join(&stream, &replacements, &[]), changed, config_docs.len())
    }
}

fn strip_helm_annotation(value: &mut Spanned) {
    use config::Value;
    let Value::Map(top) = &mut value.value else {
        return;
    };
    let Some((_, meta)) = top.iter_mut().find(|(k, _)| k == "metadata") else {
        return;
    };
    let Value::Map(meta) = &mut meta.value else {
        return;
    };
    if let Some((_, ann)) = meta.iter_mut().find(|(k, _)| k == "annotations") {
        if let Value::Map(entries) = &mut ann.value {
            entries.retain(|(k, _)| k != FILENAME_ANNOTATION);
        }
    }
}

/// The chart template a document came from: Helm 3's `# Source:` comment or Helm 4's
/// filename annotation.
fn source_of(text: &str) -> Option<String> {
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

/// The result of a render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOutput {
    /// The post-rendered stream.
    pub manifests: String,
    /// What changed and why.
    pub report: Report,
}

/// Render a request: the one entry point every host uses.
pub fn render(request: &RenderRequestV1) -> Result<RenderOutput> {
    request.validate()?;
    let mut ws = Workspace::new(&request.manifests);

    let mut sources = ws.take_config_documents()?;
    if let Some(file) = &request.config {
        sources.push(config::file_source(&file.name, &file.content)?);
    }
    for set in &request.set {
        sources.push(Source { name: format!("--set {set}"), value: config::parse_set(set)? });
    }
    let config: PostwireConfig = config::resolve(sources)?;

    let pipeline = wiring::pipeline(&config, &request.context);
    let mut kinds = BTreeSet::new();
    for w in &pipeline {
        kinds.extend(w.kinds());
    }
    kinds.insert("List".to_string());
    ws.parse_needed(&kinds)?;

    let mut report = Report::default();
    for w in &pipeline {
        w.apply(&mut ws, &mut report)?;
    }

    let documents = ws.document_count();
    let removed_docs: Vec<(usize, Option<String>)> =
        ws.config_docs.iter().map(|&i| (ws.docs[i].number, ws.source(i))).collect();
    for (number, source) in removed_docs {
        report.document(number, "PostwireConfig", source.as_deref()).changes.push(Change {
            wiring: "config".into(),
            path: String::new(),
            key: String::new(),
            action: Action::Removed,
            reason: "PostwireConfig is read by postwire and not applied to the cluster".into(),
        });
    }
    let (manifests, changed, removed) = ws.finish();
    report.summary.documents = documents;
    report.summary.changed = changed;
    report.summary.removed = removed;
    Ok(RenderOutput { manifests, report })
}

/// Render and wrap the result for the wire.
pub fn render_response(request: &RenderRequestV1) -> Result<RenderResponseV1> {
    let out = render(request)?;
    Ok(RenderResponseV1::new(out.manifests, out.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKLOAD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      volumes:\n      - name: c\n        configMap:\n          name: c\n";

    fn render_str(text: &str) -> RenderOutput {
        render(&RenderRequestV1::new(text)).unwrap()
    }

    #[test]
    fn keeps_bom_markers_empty_and_comment_only_documents() {
        let input = format!("\u{feff}---\n# only a comment\n---\n---\n{WORKLOAD}...\n# trailing\n");
        let out = render_str(&input);
        assert!(out.manifests.starts_with("\u{feff}---\n# only a comment\n---\n---\napiVersion: v1"));
        assert!(out.manifests.ends_with("          name: c\n...\n# trailing\n"));
        assert!(out.manifests.contains("      annotations:\n        checksum/configmap-c: \""));
        // Document numbers count only documents with content.
        assert_eq!(out.report.summary.documents, 2);
        assert_eq!(out.report.documents[0].document, 2);
    }

    #[test]
    fn handles_very_long_lines_and_non_ascii() {
        let long = "ü".repeat(1 << 20);
        let input = WORKLOAD.replace("  k: v\n", &format!("  k: \"{long}\"\n  Ω: ✓\n"));
        let out = render_str(&input);
        let before = input.len();
        assert_eq!(
            out.manifests.len(),
            before + "    metadata:\n      annotations:\n        checksum/configmap-c: \"\"\n".len() + 64
        );
        assert!(out.manifests.contains(&long));
    }

    #[test]
    fn empty_and_comment_only_streams_pass_through() {
        for input in ["", "\n", "# nothing here\n", "---\n", "---\n...\n"] {
            let out = render_str(input);
            assert_eq!(out.manifests, input);
            assert_eq!(out.report.summary.documents, 0);
        }
    }

    #[test]
    fn unparsed_documents_keep_their_bytes_even_when_odd() {
        // A CRD is never parsed: odd but valid formatting is kept exactly.
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:   {name: x}   # c\nspec:\n    versions: [ ]\n";
        let input = format!("{crd}---\n{WORKLOAD}");
        let out = render_str(&input);
        assert!(out.manifests.starts_with(crd));
    }
}
