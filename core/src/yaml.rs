//! A positioned YAML tree of one document, built from granit-parser events.
//!
//! Every node keeps its byte span in the document text, its line and column, and its style, so
//! that [`crate::edit`] can splice new text next to it. Scalars keep their value after escape
//! processing; nothing is resolved to a type here (a wiring asks for what it needs).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use compact_str::CompactString;
use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle};

use crate::error::{Error, ErrorKind, Result};

/// Index of a node in a [`Tree`].
pub type NodeId = usize;

/// Scalar notation, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `plain`
    Plain,
    /// `'single'`
    SingleQuoted,
    /// `"double"`
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar with its value after escape processing.
    Scalar {
        /// The value.
        value: CompactString,
        /// How it was written.
        style: Style,
    },
    /// A mapping; entries are (key, value) in source order.
    Mapping {
        /// `{...}` rather than block notation.
        flow: bool,
        /// Key and value node ids.
        entries: Vec<(NodeId, NodeId)>,
    },
    /// A sequence.
    Sequence {
        /// `[...]` rather than block notation.
        flow: bool,
        /// Item node ids.
        items: Vec<NodeId>,
    },
    /// An alias (`*name`).
    Alias,
}

/// One node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Byte offset of the start of the node's content.
    pub start: usize,
    /// Byte offset one past its end.
    pub end: usize,
    /// 1-based line of `start` in the stream (the document's line offset is added).
    pub line: usize,
    /// 0-based column of `start` (in characters).
    pub col: usize,
    /// The anchor id defined on the node (`&name`), 0 for none.
    pub anchor: usize,
    /// The resolved tag written on the node (`!!map` is `tag:yaml.org,2002:map`), if any.
    pub tag: Option<String>,
    /// The collection that holds the node (None for the root and for mapping keys' owners' keys).
    pub parent: Option<NodeId>,
    /// For a mapping value: its key node.
    pub key: Option<NodeId>,
}

/// One step of a path into a tree: a mapping key or a sequence index (a JSON pointer token).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl From<&str> for PathSeg {
    fn from(key: &str) -> Self {
        PathSeg::Key(key.to_string())
    }
}

impl From<usize> for PathSeg {
    fn from(index: usize) -> Self {
        PathSeg::Index(index)
    }
}

impl std::fmt::Display for PathSeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathSeg::Key(k) => f.write_str(k),
            PathSeg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as users read it: `spec.template.spec.containers[0].env`.
pub fn display_path(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The tree of one document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
    root: Option<NodeId>,
    /// For each alias node, the node it refers to.
    alias_targets: HashMap<NodeId, NodeId>,
    /// Anchor ids some alias refers to (an anchored node no alias uses is an ordinary node).
    used_anchors: HashSet<usize>,
}

fn style_of(s: ScalarStyle) -> Style {
    match s {
        ScalarStyle::Plain => Style::Plain,
        ScalarStyle::SingleQuoted => Style::SingleQuoted,
        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
        ScalarStyle::Literal => Style::Literal,
        _ => Style::Folded,
    }
}

impl Tree {
    /// Parse one document. `line_offset` is added to reported lines (the document's first line
    /// in the stream, minus one). More than one document in `text` is an error.
    pub fn parse(text: &str, line_offset: usize) -> Result<Tree> {
        let mut builder = Builder { line_offset, ..Builder::default() };
        // About one node per 16 bytes of Kubernetes YAML: few regrowths while building, and
        // the spare capacity is given back in `finish`.
        builder.tree.nodes.reserve(text.len() / 16);
        for item in Parser::new_from_str(text) {
            let (event, span) = item.map_err(|e| {
                let mark = e.marker();
                Error::new(ErrorKind::Yaml, e.info()).at(mark.line() + line_offset, mark.col() + 1)
            })?;
            builder.event(event, Place::of(&span, line_offset))?;
        }
        builder.finish(text.len())
    }

    /// The root node, if the document is not empty.
    pub fn root(&self) -> Option<NodeId> {
        self.root
    }

    /// A node by id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The entries of a mapping node (empty for other nodes).
    pub fn entries(&self, id: NodeId) -> &[(NodeId, NodeId)] {
        match &self.nodes[id].kind {
            NodeKind::Mapping { entries, .. } => entries,
            _ => &[],
        }
    }

    /// The items of a sequence node (empty for other nodes).
    pub fn items(&self, id: NodeId) -> &[NodeId] {
        match &self.nodes[id].kind {
            NodeKind::Sequence { items, .. } => items,
            _ => &[],
        }
    }

    /// Whether a node is a mapping.
    pub fn is_mapping(&self, id: NodeId) -> bool {
        matches!(self.nodes[id].kind, NodeKind::Mapping { .. })
    }

    /// The value of a scalar node.
    pub fn scalar(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[id].kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of a scalar node unless it is a YAML null.
    pub fn string(&self, id: NodeId) -> Option<&str> {
        if self.is_null(id) {
            None
        } else {
            self.scalar(id)
        }
    }

    /// Whether a node is a YAML null (an empty node, `~` or `null` written plain).
    pub fn is_null(&self, id: NodeId) -> bool {
        let n = &self.nodes[id];
        let untagged = n.tag.as_deref().is_none_or(|t| t == "tag:yaml.org,2002:null");
        untagged
            && matches!(&n.kind,
            NodeKind::Scalar { value, style: Style::Plain } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value node for `key` in a mapping (the last one if the key repeats).
    pub fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        self.entries(map).iter().rev().find(|(k, _)| self.scalar(*k) == Some(key)).map(|&(_, v)| v)
    }

    /// Follow a path of mapping keys.
    pub fn path(&self, from: NodeId, keys: &[&str]) -> Option<NodeId> {
        keys.iter().try_fold(from, |node, key| self.get(node, key))
    }

    /// The string at a path of mapping keys.
    pub fn str_at(&self, from: NodeId, keys: &[&str]) -> Option<&str> {
        self.path(from, keys).and_then(|id| self.string(id))
    }

    /// Follow a path of mapping keys and sequence indices (a JSON pointer).
    pub fn resolve(&self, from: NodeId, path: &[PathSeg]) -> Option<NodeId> {
        path.iter().try_fold(from, |node, seg| match seg {
            PathSeg::Key(k) => self.get(node, k),
            PathSeg::Index(i) => self.items(node).get(*i).copied(),
        })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no nodes (an empty document).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node an alias refers to; other nodes are themselves.
    pub fn resolved(&self, id: NodeId) -> NodeId {
        match self.nodes[id].kind {
            NodeKind::Alias => self.alias_targets.get(&id).copied().unwrap_or(id),
            _ => id,
        }
    }

    /// Whether an alias elsewhere refers to this node, so an edit of it would show up there too.
    pub fn is_shared(&self, id: NodeId) -> bool {
        let anchor = self.nodes[id].anchor;
        anchor != 0 && self.used_anchors.contains(&anchor)
    }

    /// Whether the document uses aliases at all.
    pub fn has_aliases(&self) -> bool {
        !self.alias_targets.is_empty()
    }

    /// A node by id, to change (a region parsed alone, given what its context adds).
    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id]
    }

    /// Move the end of every block collection that ends at `at` to `to` (a fragment parsed
    /// alone ends where its text does; in its document, at the next token after it).
    pub(crate) fn extend_open_ends(&mut self, at: usize, to: usize) {
        for n in &mut self.nodes {
            if n.end == at
                && matches!(n.kind, NodeKind::Mapping { flow: false, .. } | NodeKind::Sequence { flow: false, .. })
            {
                n.end = to;
            }
        }
    }

    /// A node by id, if there is one.
    pub(crate) fn node_checked(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Whether any node defines an anchor (`&name`), used or not.
    pub fn has_anchors(&self) -> bool {
        self.nodes.iter().any(|n| n.anchor != 0)
    }

    /// Parse `text[start..end]` alone, as the node it holds at column `col` of line `line` (in
    /// the stream): every node gets the offset, line and column it has in `text`. The text is
    /// padded with `col` spaces so that columns, and so block indentation, are as written.
    pub(crate) fn parse_region(text: &str, start: usize, end: usize, line: usize, col: usize) -> Result<Tree> {
        let mut padded = String::with_capacity(col + end - start);
        padded.extend(std::iter::repeat_n(' ', col));
        padded.push_str(&text[start..end]);
        let mut tree = Tree::parse(&padded, line.saturating_sub(1))?;
        for n in &mut tree.nodes {
            if n.start < col || n.end < col {
                return Err(Error::new(ErrorKind::Yaml, "a region's node starts in its padding"));
            }
            n.start = n.start - col + start;
            n.end = n.end - col + start;
        }
        Ok(tree)
    }

    /// The nodes and the root, to rebuild a tree without aliases from (see
    /// [`crate::edit::regions`]).
    pub(crate) fn into_parts(self) -> (Vec<Node>, Option<NodeId>) {
        (self.nodes, self.root)
    }

    /// A tree without aliases from its nodes in document order and its root.
    pub(crate) fn from_parts(nodes: Vec<Node>, root: Option<NodeId>) -> Tree {
        Tree { nodes, root, ..Tree::default() }
    }

    /// The nodes of the subtree at `id` (itself first).
    pub fn subtree(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            let n = out[i];
            match &self.nodes[n].kind {
                NodeKind::Mapping { entries, .. } => {
                    for &(k, v) in entries {
                        out.push(k);
                        out.push(v);
                    }
                }
                NodeKind::Sequence { items, .. } => out.extend(items),
                _ => {}
            }
            i += 1;
        }
        out
    }

    /// Whether a mapping key is YAML's merge key: `<<` written plain and untagged (a quoted
    /// `"<<"` is an ordinary string key).
    pub fn is_merge_key(&self, id: NodeId) -> bool {
        let n = &self.nodes[id];
        n.tag.is_none() && matches!(&n.kind, NodeKind::Scalar { value, style: Style::Plain } if value == "<<")
    }

    /// Whether an empty plain scalar (`key:` with nothing after it) is what `id` is.
    pub fn is_empty_scalar(&self, id: NodeId) -> bool {
        let n = &self.nodes[id];
        matches!(n.kind, NodeKind::Scalar { style: Style::Plain, .. }) && n.start == n.end
    }

    /// The number of repeated keys in the document's mappings (same scalar key twice in one mapping).
    pub fn duplicate_keys(&self) -> usize {
        let mut count = 0;
        let mut keys: Vec<&str> = Vec::new();
        for node in &self.nodes {
            if let NodeKind::Mapping { entries, .. } = &node.kind {
                if entries.len() < 2 {
                    continue;
                }
                keys.clear();
                keys.extend(entries.iter().filter_map(|&(k, _)| self.scalar(k)));
                keys.sort_unstable();
                count += keys.windows(2).filter(|w| w[0] == w[1]).count();
            }
        }
        count
    }
}

/// What a node stands for once its aliases are expanded: how many nodes and scalar bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Expanded {
    nodes: u64,
    bytes: u64,
}

impl Expanded {
    fn add(&mut self, other: Expanded) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// Resolves aliases while parsing (a map from anchor to its latest node, so each alias costs
/// O(1)) and adds up what every node expands to, so that an alias bomb is refused before any
/// reader expands it. The bound is Go's: go-yaml's `allowedAliasRatio` and the check in
/// `decoder.unmarshal` (github.com/go-yaml/yaml, decode.go, commit
/// 00aeb2c63b7cd89d82eeb66ffcebae066eeb8092; yaml.v2's decode.go has the same constants), which
/// kubectl and Helm apply: more than 100 alias-driven nodes in more than 1000 may be at most
/// 99% of them, falling to 10% between 400k and 4M nodes. Go shares aliased strings; readers
/// here copy them, so expanded scalar bytes are bounded too.
#[derive(Debug, Default)]
struct AliasBudget {
    /// The latest node defining each anchor (aliases refer to the most recent definition).
    anchors: HashMap<usize, NodeId>,
    /// Expanded size per node id, indexed by id (filled for leaves at once, for collections
    /// when they close): ids are given in order, so a vector needs no hashing per node.
    sizes: Vec<Expanded>,
    /// Per node id: a collection still open (an alias to one of them would contain itself).
    open: Vec<bool>,
}

/// Alias-driven nodes become suspect above this many, in a document of at least `MIN_NODES`.
const MIN_ALIAS_NODES: u64 = 100;
const MIN_NODES: u64 = 1000;
const RATIO_RANGE_LOW: u64 = 400_000;
const RATIO_RANGE_HIGH: u64 = 4_000_000;
/// Expanded scalar bytes allowed: this many times the document's size, and at least
/// `MIN_EXPANDED_BYTES`.
const EXPANDED_BYTES_FACTOR: u64 = 16;
const MIN_EXPANDED_BYTES: u64 = 16 << 20;

fn allowed_alias_ratio(nodes: u64) -> f64 {
    match nodes {
        n if n <= RATIO_RANGE_LOW => 0.99,
        n if n >= RATIO_RANGE_HIGH => 0.10,
        n => 0.99 - 0.89 * ((n - RATIO_RANGE_LOW) as f64 / (RATIO_RANGE_HIGH - RATIO_RANGE_LOW) as f64),
    }
}

impl AliasBudget {
    fn define(&mut self, id: NodeId, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, id);
        }
    }

    /// Record the size of node `id`, the next id in order.
    fn size(&mut self, id: NodeId, size: Expanded, open: bool) {
        debug_assert_eq!(id, self.sizes.len(), "node ids are given in order");
        self.sizes.push(size);
        self.open.push(open);
    }

    fn leaf(&mut self, id: NodeId, anchor: usize, stack: &[NodeId], size: Expanded) {
        self.define(id, anchor);
        self.size(id, size, false);
        self.add_to_parent(stack, size);
    }

    fn open(&mut self, id: NodeId, anchor: usize) {
        self.define(id, anchor);
        self.size(id, Expanded { nodes: 1, bytes: 0 }, true);
    }

    fn close(&mut self, id: NodeId, stack: &[NodeId]) {
        self.open[id] = false;
        let size = self.sizes[id];
        self.add_to_parent(stack, size);
    }

    fn add_to_parent(&mut self, stack: &[NodeId], size: Expanded) {
        if let Some(&parent) = stack.last() {
            self.sizes[parent].add(size);
        }
    }

    /// The node an alias refers to (None when its anchor is unknown: the parser reports that).
    fn alias(&mut self, id: NodeId, anchor: usize, stack: &[NodeId]) -> Result<Option<NodeId>> {
        let Some(&target) = self.anchors.get(&anchor) else {
            // The parser reports the unknown anchor; the node still takes its slot.
            self.size(id, Expanded { nodes: 0, bytes: 0 }, false);
            return Ok(None);
        };
        if self.open[target] {
            return Err(Error::new(
                ErrorKind::Yaml,
                "an alias refers to a node that contains it (its anchor's value contains itself)",
            ));
        }
        let size = self.sizes[target];
        self.size(id, size, false);
        self.add_to_parent(stack, size);
        Ok(Some(target))
    }

    /// Refuse a document whose aliases expand it far beyond its own size.
    fn check(&self, root: Option<NodeId>, nodes: usize, text_len: usize) -> Result<()> {
        let Some(total) = root.and_then(|r| self.sizes.get(r)) else {
            return Ok(());
        };
        let written = nodes as u64;
        let alias_driven = total.nodes.saturating_sub(written);
        let too_many_nodes = alias_driven > MIN_ALIAS_NODES
            && total.nodes > MIN_NODES
            && alias_driven as f64 / total.nodes as f64 > allowed_alias_ratio(total.nodes);
        let byte_budget = MIN_EXPANDED_BYTES.max((text_len as u64).saturating_mul(EXPANDED_BYTES_FACTOR));
        if too_many_nodes || total.bytes > byte_budget {
            return Err(Error::new(
                ErrorKind::Yaml,
                format!(
                    "excessive aliasing: the document's {written} nodes ({text_len} bytes) expand to {} nodes and {} bytes of scalars through aliases",
                    total.nodes, total.bytes
                ),
            )
            .with_hint("write the repeated values out, or share fewer of them: Go's YAML decoder (kubectl, Helm) refuses such documents too"));
        }
        Ok(())
    }
}

/// Where an event's text is: every node made from the event keeps this span and position.
#[derive(Debug, Clone, Copy)]
struct Place {
    start: usize,
    end: usize,
    line: usize,
    col: usize,
}

impl Place {
    /// The place of a parser span, its line counted in the whole stream.
    fn of(span: &Span, line_offset: usize) -> Place {
        let start = span.start.byte_offset().unwrap_or(0);
        let end = span.end.byte_offset().unwrap_or(start);
        Place { start, end, line: span.start.line() + line_offset, col: span.start.col() }
    }

    /// A node written here, not yet attached to a parent.
    fn node(self, kind: NodeKind, anchor: usize, tag: Option<String>) -> Node {
        let Place { start, end, line, col } = self;
        Node { kind, start, end, line, col, anchor, tag, parent: None, key: None }
    }
}

/// A tree under construction, fed one parser event at a time.
#[derive(Debug, Default)]
struct Builder {
    tree: Tree,
    /// The collections still open, innermost last.
    stack: Vec<NodeId>,
    /// One slot per open collection: a mapping alternates key and value, so a key waits here
    /// for its value.
    pending_key: Vec<Option<NodeId>>,
    /// Documents started so far: this tree holds one.
    documents: usize,
    aliases: AliasBudget,
    /// Added to reported lines (see [`Tree::parse`]).
    line_offset: usize,
}

impl Builder {
    /// Add what one event says to the tree (stream and document ends add nothing).
    fn event(&mut self, event: Event<'_>, at: Place) -> Result<()> {
        match event {
            Event::DocumentStart(..) => return self.document_start(at),
            Event::Scalar(value, style, anchor, tag) => self.scalar(value, style, anchor, tag_text(tag.as_deref()), at),
            Event::Alias(anchor) => return self.alias(anchor, at),
            Event::MappingStart(style, anchor, tag) => {
                let kind = NodeKind::Mapping { flow: style == StructureStyle::Flow, entries: Vec::new() };
                self.open(kind, anchor, tag_text(tag.as_deref()), at);
            }
            Event::SequenceStart(style, anchor, tag) => {
                let kind = NodeKind::Sequence { flow: style == StructureStyle::Flow, items: Vec::new() };
                self.open(kind, anchor, tag_text(tag.as_deref()), at);
            }
            Event::MappingEnd | Event::SequenceEnd => self.close(at.end),
            _ => {}
        }
        Ok(())
    }

    /// Count a document: a second one in the text is an error, as the caller split the stream.
    fn document_start(&mut self, at: Place) -> Result<()> {
        self.documents += 1;
        if self.documents > 1 {
            return Err(
                Error::new(ErrorKind::Yaml, "more than one document where one was expected").at(at.line, at.col + 1)
            );
        }
        Ok(())
    }

    /// Store a node; its id is its index.
    fn push(&mut self, node: Node) -> NodeId {
        self.tree.nodes.push(node);
        self.tree.nodes.len() - 1
    }

    /// A scalar: a leaf whose expanded size is its own value's.
    fn scalar(&mut self, value: Cow<'_, str>, style: ScalarStyle, anchor: usize, tag: Option<String>, at: Place) {
        let bytes = value.len() as u64;
        let kind = NodeKind::Scalar { value: CompactString::from(value), style: style_of(style) };
        let id = self.push(at.node(kind, anchor, tag));
        self.aliases.leaf(id, anchor, &self.stack, Expanded { nodes: 1, bytes });
        self.attach(id);
    }

    /// An alias, resolved at once to the latest node defining its anchor; the budget refuses
    /// one inside the node it names.
    fn alias(&mut self, anchor: usize, at: Place) -> Result<()> {
        let id = self.push(at.node(NodeKind::Alias, 0, None));
        if let Some(target) = self.aliases.alias(id, anchor, &self.stack).map_err(|e| e.at(at.line, at.col + 1))? {
            self.tree.alias_targets.insert(id, target);
        }
        self.tree.used_anchors.insert(anchor);
        self.attach(id);
        Ok(())
    }

    /// A collection starts: it joins its parent now and receives children until it closes.
    fn open(&mut self, kind: NodeKind, anchor: usize, tag: Option<String>, at: Place) {
        let id = self.push(at.node(kind, anchor, tag));
        self.aliases.open(id, anchor);
        self.attach(id);
        self.stack.push(id);
        self.pending_key.push(None);
    }

    /// A collection ends: its span reaches the end of the closing event (a flow `]` or `}`).
    fn close(&mut self, end: usize) {
        let id = self.stack.pop().expect("parser balances collections");
        self.aliases.close(id, &self.stack);
        self.pending_key.pop();
        let node = &mut self.tree.nodes[id];
        node.end = node.end.max(end);
    }

    /// Attach a new node to the innermost open collection (as a mapping key, a value or an
    /// item), or make it the root.
    fn attach(&mut self, id: NodeId) {
        let Some(&parent) = self.stack.last() else {
            self.tree.root.get_or_insert(id);
            return;
        };
        let pending = self.pending_key.last_mut().expect("one pending slot per open collection");
        let mut key_of = None;
        match &mut self.tree.nodes[parent].kind {
            NodeKind::Mapping { entries, .. } => match pending.take() {
                None => *pending = Some(id),
                Some(key) => {
                    entries.push((key, id));
                    key_of = Some(key);
                }
            },
            NodeKind::Sequence { items, .. } => items.push(id),
            _ => unreachable!("only collections are on the stack"),
        }
        self.tree.nodes[id].parent = Some(parent);
        self.tree.nodes[id].key = key_of;
    }

    /// The finished tree, unless its aliases expand it far beyond its own size.
    fn finish(self, text_len: usize) -> Result<Tree> {
        let mut tree = self.tree;
        // Every tree the render keeps costs its nodes' memory: no spare capacity.
        tree.nodes.shrink_to_fit();
        self.aliases.check(tree.root, tree.nodes.len(), text_len).map_err(|e| e.at(1 + self.line_offset, 1))?;
        Ok(tree)
    }
}

fn tag_text(tag: Option<&granit_parser::Tag>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.handle(), t.suffix()))
}

/// The YAML core schema's tags, which every reader resolves the same way as the untagged node.
pub const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

#[cfg(test)]
mod tests {
    use super::*;

    fn slice<'a>(text: &'a str, tree: &Tree, id: NodeId) -> &'a str {
        let n = tree.node(id);
        &text[n.start..n.end]
    }

    #[test]
    fn builds_paths_and_spans() {
        let text =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"cfg\"\n  labels: {a: b}\ndata:\n  k: |\n    line\n";
        let tree = Tree::parse(text, 0).unwrap();
        let root = tree.root().unwrap();
        assert_eq!(tree.str_at(root, &["metadata", "name"]), Some("cfg"));
        let name = tree.path(root, &["metadata", "name"]).unwrap();
        assert_eq!(slice(text, &tree, name), "\"cfg\"");
        let labels = tree.path(root, &["metadata", "labels"]).unwrap();
        assert_eq!(slice(text, &tree, labels), "{a: b}");
        assert_eq!(tree.str_at(root, &["data", "k"]), Some("line\n"));
        let metadata = tree.path(root, &["metadata"]).unwrap();
        assert_eq!(tree.node(metadata).col, 2);
    }

    #[test]
    fn nulls_and_non_ascii_offsets() {
        let text = "a: ~\nb:\nc: 'ü'\nd: \"ü\"\n";
        let tree = Tree::parse(text, 0).unwrap();
        let root = tree.root().unwrap();
        assert!(tree.is_null(tree.get(root, "a").unwrap()));
        assert!(tree.is_null(tree.get(root, "b").unwrap()));
        let d = tree.get(root, "d").unwrap();
        assert_eq!(slice(text, &tree, d), "\"ü\"");
    }

    #[test]
    fn errors_carry_absolute_lines() {
        let err = Tree::parse("a: 1\nb: [1, 2\n", 10).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Yaml);
        assert!(err.line().unwrap() > 10, "{err}");
    }
    /// 25k anchor/alias pairs parse and resolve in linear time (each alias used to scan every
    /// earlier node).
    #[test]
    fn many_aliases_parse_in_linear_time() {
        let mut text = String::from("data:\n");
        for i in 0..25_000 {
            text.push_str(&format!("  a{i}: &x{i} v\n  b{i}: *x{i}\n"));
        }
        let started = std::time::Instant::now();
        let tree = Tree::parse(&text, 0).unwrap();
        let data = tree.get(tree.root().unwrap(), "data").unwrap();
        for &(_, v) in tree.entries(data) {
            assert_eq!(tree.scalar(tree.resolved(v)), Some("v"));
            assert!(tree.is_shared(tree.resolved(v)));
        }
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    }

    /// Billion laughs: ten levels of ten aliases each expand 1 KB to 10^10 nodes.
    #[test]
    fn alias_bombs_are_refused_with_the_cause() {
        let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  l0: &l0 [lol]\n");
        for i in 1..=10 {
            let prev = format!("*l{}", i - 1);
            text.push_str(&format!("  l{i}: &l{i} [{}]\n", [prev.as_str(); 10].join(", ")));
        }
        let err = Tree::parse(&text, 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Yaml);
        assert!(err.to_string().contains("excessive aliasing"), "{err}");
    }

    /// One big scalar aliased many times: few nodes, but far more bytes than the document.
    #[test]
    fn aliases_of_a_big_scalar_are_bounded_by_bytes() {
        let big = "x".repeat(1 << 20);
        let mut text = format!("data:\n  big: &big {big}\n  refs: [");
        text.push_str(&["*big"; 40].join(", "));
        text.push_str("]\n");
        let err = Tree::parse(&text, 0).unwrap_err();
        assert!(err.to_string().contains("excessive aliasing"), "{err}");
    }

    /// Modest sharing, as in real charts, stays allowed.
    #[test]
    fn ordinary_aliases_and_merge_keys_are_allowed() {
        let text = "base: &base {a: 1, b: [x, y]}\none: {<<: *base, c: 2}\ntwo: *base\nthree: [*base, *base]\n";
        let tree = Tree::parse(text, 0).unwrap();
        assert!(tree.has_aliases());
    }

    /// An alias inside the node its anchor names would expand forever.
    #[test]
    fn an_alias_to_its_own_ancestor_is_refused() {
        for text in ["a: &a [1, *a]\n", "a: &a {b: *a}\n"] {
            match Tree::parse(text, 0) {
                Err(err) => assert!(err.to_string().contains("contains itself"), "{err}"),
                Ok(tree) => panic!("parsed a recursive alias: {tree:?}"),
            }
        }
    }
}
