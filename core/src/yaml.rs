//! A positioned YAML tree of one document, built from granit-parser events.
//!
//! Every node keeps its byte span in the document text, its line and column, and its style, so
//! that [`crate::inject`] can splice new text next to it. Scalars keep their value after escape
//! processing; nothing is resolved to a type here (a wiring asks for what it needs).

use granit_parser::{Event, Parser, ScalarStyle, StructureStyle};

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
        value: String,
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
#[derive(Debug, Clone, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    root: Option<NodeId>,
    /// For each alias node, the node it refers to.
    alias_targets: Vec<(NodeId, NodeId)>,
    /// Anchor ids some alias refers to (an anchored node no alias uses is an ordinary node).
    used_anchors: Vec<usize>,
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
        let mut tree = Tree::default();
        let mut stack: Vec<NodeId> = Vec::new();
        // A mapping under construction alternates key and value; a pending key waits here.
        let mut pending_key: Vec<Option<NodeId>> = Vec::new();
        let mut documents = 0;
        let parser = Parser::new_from_str(text);
        for item in parser {
            let (event, span) = item.map_err(|e| {
                let mark = e.marker();
                Error::new(ErrorKind::Yaml, e.info()).at(mark.line() + line_offset, mark.col() + 1)
            })?;
            let start = span.start.byte_offset().unwrap_or(0);
            let end = span.end.byte_offset().unwrap_or(start);
            let line = span.start.line() + line_offset;
            let col = span.start.col();
            let new_node = |kind, anchor: usize, tag: Option<String>| Node {
                kind,
                start,
                end,
                line,
                col,
                anchor,
                tag,
                parent: None,
                key: None,
            };
            let id = match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(Error::new(ErrorKind::Yaml, "more than one document where one was expected")
                            .at(line, col + 1));
                    }
                    continue;
                }
                Event::Scalar(value, style, anchor, tag) => {
                    tree.nodes.push(new_node(
                        NodeKind::Scalar { value: value.into_owned(), style: style_of(style) },
                        anchor,
                        tag_text(tag.as_deref()),
                    ));
                    tree.nodes.len() - 1
                }
                Event::Alias(anchor) => {
                    tree.nodes.push(new_node(NodeKind::Alias, 0, None));
                    let id = tree.nodes.len() - 1;
                    // Aliases refer to the most recent definition of their anchor.
                    if let Some(target) = tree.nodes[..id].iter().rposition(|n| n.anchor == anchor) {
                        tree.alias_targets.push((id, target));
                    }
                    if !tree.used_anchors.contains(&anchor) {
                        tree.used_anchors.push(anchor);
                    }
                    id
                }
                Event::MappingStart(style, anchor, tag) => {
                    let flow = style == StructureStyle::Flow;
                    tree.nodes.push(new_node(
                        NodeKind::Mapping { flow, entries: Vec::new() },
                        anchor,
                        tag_text(tag.as_deref()),
                    ));
                    let id = tree.nodes.len() - 1;
                    stack.push(id);
                    pending_key.push(None);
                    continue_after_open(&mut tree, &stack, &mut pending_key, id);
                    continue;
                }
                Event::SequenceStart(style, anchor, tag) => {
                    let flow = style == StructureStyle::Flow;
                    tree.nodes.push(new_node(
                        NodeKind::Sequence { flow, items: Vec::new() },
                        anchor,
                        tag_text(tag.as_deref()),
                    ));
                    let id = tree.nodes.len() - 1;
                    stack.push(id);
                    pending_key.push(None);
                    continue_after_open(&mut tree, &stack, &mut pending_key, id);
                    continue;
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    let id = stack.pop().expect("parser balances collections");
                    pending_key.pop();
                    let node = &mut tree.nodes[id];
                    node.end = node.end.max(end);
                    continue;
                }
                _ => continue,
            };
            attach(&mut tree, &stack, &mut pending_key, id);
        }
        Ok(tree)
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
            NodeKind::Alias => self.alias_targets.iter().find(|(a, _)| *a == id).map_or(id, |&(_, t)| t),
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
        for node in &self.nodes {
            if let NodeKind::Mapping { entries, .. } = &node.kind {
                let mut keys: Vec<&str> = entries.iter().filter_map(|&(k, _)| self.scalar(k)).collect();
                keys.sort_unstable();
                count += keys.windows(2).filter(|w| w[0] == w[1]).count();
            }
        }
        count
    }
}

fn continue_after_open(tree: &mut Tree, stack: &[NodeId], pending_key: &mut [Option<NodeId>], id: NodeId) {
    // Attach the new collection to its parent (the stack holds it on top now).
    let parent_stack = &stack[..stack.len() - 1];
    let len = pending_key.len();
    attach(tree, parent_stack, &mut pending_key[..len - 1], id);
}

fn attach(tree: &mut Tree, stack: &[NodeId], pending_key: &mut [Option<NodeId>], id: NodeId) {
    let Some(&parent) = stack.last() else {
        tree.root.get_or_insert(id);
        return;
    };
    let pending = pending_key.last_mut().expect("one pending slot per open collection");
    let mut key_of = None;
    match &mut tree.nodes[parent].kind {
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
    tree.nodes[id].parent = Some(parent);
    tree.nodes[id].key = key_of;
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
}
