//! Idempotent, in-place edits of a document's text.
//!
//! Wirings never re-serialize a document. They ask for a string entry in a mapping at a path
//! (creating the missing mappings on the way) and get back [`Splice`]s: byte ranges of the
//! original text with their new text. Existing entries with the wanted value are left alone, so
//! running a wiring twice is the same as running it once.
//!
//! New entries in a block mapping are inserted before its first key, at that key's column, so
//! the text around them (comments, block scalars, trailing content) never moves; in a flow
//! mapping (including JSON documents) they are inserted as JSON members.

use crate::emit;
use crate::error::{Error, ErrorKind, Result};
use crate::yaml::{NodeId, NodeKind, Style, Tree};

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

/// What happened to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It was already there with the wanted value.
    Unchanged,
    /// It was added.
    Added,
    /// It was there with another value, which was replaced.
    Updated,
}

/// Apply splices to a text. Splices must not overlap; insertions at the same offset keep their
/// order.
pub fn apply(text: &str, splices: &[Splice]) -> String {
    let mut sorted: Vec<&Splice> = splices.iter().collect();
    sorted.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len() + splices.iter().map(|s| s.text.len()).sum::<usize>());
    let mut cursor = 0;
    for s in sorted {
        debug_assert!(s.start >= cursor, "overlapping splices");
        out.push_str(&text[cursor..s.start]);
        out.push_str(&s.text);
        cursor = s.end;
    }
    out.push_str(&text[cursor..]);
    out
}

/// Everything an edit needs to know about a document.
pub struct Doc<'a> {
    /// The document text.
    pub text: &'a str,
    /// Its tree.
    pub tree: &'a Tree,
    /// The line break to use for new lines.
    pub newline: &'a str,
}

/// Ensure that the mapping at `path` under `at` has each `(key, value)` string entry.
///
/// `at_key_col` is the column of the key that owns `at` (None for a document root or sequence
/// item); it helps pick the indentation step of new nested mappings.
pub fn ensure_string_entries(
    doc: &Doc<'_>,
    at: NodeId,
    at_key_col: Option<usize>,
    path: &[&str],
    entries: &[(String, String)],
) -> Result<(Vec<Splice>, Vec<Outcome>)> {
    let tree = doc.tree;
    let mut node = at;
    let mut owner_col = at_key_col;
    for (depth, segment) in path.iter().enumerate() {
        let here = || path[..=depth].join(".");
        check_editable(tree, node, &path[..depth].join("."))?;
        let Some((key, value)) = find_entry(tree, node, segment) else {
            let splice = insert_new(doc, node, owner_col, &path[depth..], entries)?;
            return Ok((vec![splice], vec![Outcome::Added; entries.len()]));
        };
        if tree.is_null(value) {
            let splice = replace_null(doc, key, value, &path[depth + 1..], entries);
            return Ok((vec![splice], vec![Outcome::Added; entries.len()]));
        }
        if !tree.is_mapping(value) {
            return Err(Error::new(ErrorKind::Wiring, format!("{} is not a mapping", describe(tree, value)))
                .with_path(here())
                .at(tree.node(value).line, tree.node(value).col + 1));
        }
        owner_col = Some(tree.node(key).col);
        node = value;
    }
    check_editable(tree, node, &path.join("."))?;

    let mut splices = Vec::new();
    let mut outcomes = Vec::with_capacity(entries.len());
    let mut missing = Vec::new();
    for (k, v) in entries {
        match find_entry(tree, node, k) {
            Some((_, existing)) if tree.string(existing) == Some(v.as_str()) => outcomes.push(Outcome::Unchanged),
            Some((key, existing)) => {
                let old = tree.node(existing);
                if !matches!(old.kind, NodeKind::Scalar { .. }) || old.decorated {
                    return Err(Error::new(
                        ErrorKind::Wiring,
                        format!("{k} is {}, expected a string", describe(tree, existing)),
                    )
                    .with_path(path.join("."))
                    .at(old.line, old.col + 1));
                }
                let mut text = emit::string_value(v);
                let (mut start, mut end) = (old.start, old.end);
                if matches!(old.kind, NodeKind::Scalar { style: Style::Literal | Style::Folded, .. }) {
                    // A block scalar's span covers its content lines only: start at the `|` or
                    // `>` indicator, and keep the line break that ends the span.
                    let key_end = tree.node(key).end;
                    start = doc.text[key_end..old.start].find(['|', '>']).map_or(start, |i| key_end + i);
                    if let Some(last_break) = doc.text[start..end].rfind('\n') {
                        end = start + last_break + 1;
                        text.push_str(doc.newline);
                    }
                }
                splices.push(Splice { start, end, text });
                outcomes.push(Outcome::Updated);
            }
            None => {
                missing.push((k.clone(), v.clone()));
                outcomes.push(Outcome::Added);
            }
        }
    }
    if !missing.is_empty() {
        splices.push(insert_new(doc, node, owner_col, &[], &missing)?);
    }
    Ok((splices, outcomes))
}

fn find_entry(tree: &Tree, map: NodeId, key: &str) -> Option<(NodeId, NodeId)> {
    tree.entries(map).iter().rev().find(|(k, _)| tree.scalar(*k) == Some(key)).copied()
}

fn describe(tree: &Tree, id: NodeId) -> &'static str {
    match tree.node(id).kind {
        NodeKind::Scalar { .. } => "a scalar",
        NodeKind::Sequence { .. } => "a sequence",
        NodeKind::Mapping { .. } => "a mapping",
        NodeKind::Alias => "an alias",
    }
}

fn check_editable(tree: &Tree, node: NodeId, path: &str) -> Result<()> {
    let n = tree.node(node);
    if n.decorated || matches!(n.kind, NodeKind::Alias) {
        return Err(Error::new(
            ErrorKind::Wiring,
            "uses a YAML anchor, alias or tag; postwire does not edit shared or tagged nodes",
        )
        .with_path(if path.is_empty() { "(document root)".to_string() } else { path.to_string() })
        .at(n.line, n.col + 1));
    }
    Ok(())
}

/// A nested structure `path: {path: {k: v}}` in flow (JSON) notation.
fn flow_structure(path: &[&str], entries: &[(String, String)]) -> String {
    let mut inner = String::from("{");
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            inner.push_str(", ");
        }
        inner.push_str(&emit::key(k, true));
        inner.push_str(": ");
        inner.push_str(&emit::string_value(v));
    }
    inner.push('}');
    path.iter().rev().fold(inner, |acc, p| format!("{{{}: {acc}}}", emit::key(p, true)))
}

/// Block lines for `path` and `entries`, starting at column `col`, each line after the first
/// preceded by a line break and indentation.
fn block_lines(path: &[&str], entries: &[(String, String)], col: usize, step: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut indent = col;
    for p in path {
        lines.push(format!("{}{}:", " ".repeat(indent), emit::key(p, false)));
        indent += step;
    }
    for (k, v) in entries {
        lines.push(format!("{}{}: {}", " ".repeat(indent), emit::key(k, false), emit::string_value(v)));
    }
    lines
}

/// Insert `path` + `entries` as new members of mapping `map`.
fn insert_new(
    doc: &Doc<'_>,
    map: NodeId,
    owner_col: Option<usize>,
    path: &[&str],
    entries: &[(String, String)],
) -> Result<Splice> {
    let tree = doc.tree;
    let node = tree.node(map);
    let NodeKind::Mapping { flow, entries: existing } = &node.kind else {
        unreachable!("callers pass mappings");
    };
    if *flow {
        let body = flow_structure(path, entries);
        let body = &body[1..body.len() - 1]; // members without the braces
        return Ok(match existing.first() {
            Some(&(first_key, _)) => {
                let at = tree.node(first_key).start;
                Splice { start: at, end: at, text: format!("{body}, ") }
            }
            None => Splice { start: node.start, end: node.end, text: format!("{{{body}}}") },
        });
    }
    let &(first_key, _) = existing.first().expect("a block mapping has at least one entry");
    let key = tree.node(first_key);
    check_editable(tree, first_key, "")?;
    // Insert at the first key's column: only indentation or a sequence dash may precede it.
    let before = &doc.text[..key.start];
    let line_prefix = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    if !line_prefix.chars().all(|c| c == ' ' || c == '-') {
        return Err(Error::new(
            ErrorKind::Wiring,
            "mapping layout is not supported for editing (explicit `?` keys or keys after other content)",
        )
        .at(key.line, key.col + 1));
    }
    let col = key.col;
    let step = owner_col.filter(|&c| col > c).map_or(2, |c| col - c);
    let lines = block_lines(path, entries, col, step);
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        // The first line reuses the indentation already in front of the first key.
        text.push_str(if i == 0 { line.trim_start_matches(' ') } else { line });
        text.push_str(doc.newline);
    }
    text.push_str(&" ".repeat(col));
    Ok(Splice { start: key.start, end: key.start, text })
}

/// Replace a null value (`key:`, `key: ~`, `key: null`) with a mapping.
fn replace_null(doc: &Doc<'_>, key: NodeId, value: NodeId, path: &[&str], entries: &[(String, String)]) -> Splice {
    let tree = doc.tree;
    let v = tree.node(value);
    let k = tree.node(key);
    let written = &doc.text[v.start..v.end];
    if written.trim().is_empty() {
        // `key:` with nothing after it: open a block on the following lines.
        let line_end = doc.text[k.end..].find(['\r', '\n']).map_or(doc.text.len(), |i| k.end + i);
        let mut text = String::new();
        for line in block_lines(path, entries, k.col + 2, 2) {
            text.push_str(doc.newline);
            text.push_str(&line);
        }
        return Splice { start: line_end, end: line_end, text };
    }
    Splice { start: v.start, end: v.end, text: flow_structure(path, entries) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, path: &[&str], entries: &[(&str, &str)]) -> (String, Vec<Outcome>) {
        let tree = Tree::parse(text, 0).unwrap();
        let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let doc = Doc { text, tree: &tree, newline: nl };
        let entries: Vec<(String, String)> = entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (splices, outcomes) = ensure_string_entries(&doc, tree.root().unwrap(), None, path, &entries).unwrap();
        (apply(text, &splices), outcomes)
    }

    const ANN: &[&str] = &["spec", "template", "metadata", "annotations"];

    #[test]
    fn adds_to_existing_block_mapping_before_first_key() {
        let input = "spec:\n  template:\n    metadata:\n      annotations:\n        # keep me\n        a: b\n      labels:\n        x: y\n";
        let (out, outcomes) = run(input, ANN, &[("checksum/config", "abc")]);
        assert_eq!(
            out,
            "spec:\n  template:\n    metadata:\n      annotations:\n        # keep me\n        checksum/config: \"abc\"\n        a: b\n      labels:\n        x: y\n"
        );
        assert_eq!(outcomes, vec![Outcome::Added]);
    }

    #[test]
    fn creates_missing_mappings_with_the_document_indentation() {
        let input = "spec:\n    template:\n        spec:\n            containers: []\n";
        let (out, _) = run(input, ANN, &[("k", "v")]);
        assert_eq!(
            out,
            "spec:\n    template:\n        metadata:\n            annotations:\n                k: \"v\"\n        spec:\n            containers: []\n"
        );
    }

    #[test]
    fn is_idempotent_and_updates_stale_values() {
        let input = "spec:\n  template:\n    metadata:\n      labels: {a: b}\n    spec: {}\n";
        let (once, _) = run(input, ANN, &[("k", "v")]);
        let (twice, outcomes) = run(&once, ANN, &[("k", "v")]);
        assert_eq!(once, twice);
        assert_eq!(outcomes, vec![Outcome::Unchanged]);
        let (updated, outcomes) = run(&once, ANN, &[("k", "w")]);
        assert_eq!(updated, once.replace("\"v\"", "\"w\""));
        assert_eq!(outcomes, vec![Outcome::Updated]);
    }

    #[test]
    fn edits_json_documents_as_json() {
        let input = r#"{"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{}}}}"#;
        let (out, _) = run(input, ANN, &[("k", "v")]);
        assert_eq!(
            out,
            r#"{"spec":{"template":{"metadata":{"annotations": {"k": "v"}, "labels":{"a":"b"}},"spec":{}}}}"#
        );
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
        let input = r#"{"spec":{"template":{"metadata":{"annotations":{}}}}}"#;
        let (out, _) = run(input, ANN, &[("k", "v")]);
        assert_eq!(out, r#"{"spec":{"template":{"metadata":{"annotations":{"k": "v"}}}}}"#);
    }

    #[test]
    fn fills_null_values() {
        let (out, _) =
            run("spec:\n  template:\n    metadata:\n      annotations: # none\n    spec: {}\n", ANN, &[("k", "v")]);
        assert_eq!(
            out,
            "spec:\n  template:\n    metadata:\n      annotations: # none\n        k: \"v\"\n    spec: {}\n"
        );
        let (out, _) = run("spec:\n  template:\n    metadata:\n      annotations: ~\n", ANN, &[("k", "v")]);
        assert_eq!(out, "spec:\n  template:\n    metadata:\n      annotations: {\"k\": \"v\"}\n");
    }

    #[test]
    fn keeps_crlf_line_endings() {
        let input = "spec:\r\n  template:\r\n    metadata:\r\n      name: x\r\n";
        let (out, _) = run(input, ANN, &[("k", "v")]);
        assert_eq!(
            out,
            "spec:\r\n  template:\r\n    metadata:\r\n      annotations:\r\n        k: \"v\"\r\n      name: x\r\n"
        );
    }

    #[test]
    fn replaces_block_scalar_values_keeping_the_line_break() {
        let input = "metadata:\n  annotations:\n    k: |\n      old\n    z: y\n";
        let (out, _) = run(input, &["metadata", "annotations"], &[("k", "new")]);
        assert_eq!(out, "metadata:\n  annotations:\n    k: \"new\"\n    z: y\n");
    }

    fn error_of(text: &str) -> String {
        let tree = Tree::parse(text, 0).unwrap();
        let doc = Doc { text, tree: &tree, newline: "\n" };
        let entries = [("k".to_string(), "v".to_string())];
        ensure_string_entries(&doc, tree.root().unwrap(), None, ANN, &entries).unwrap_err().to_string()
    }

    #[test]
    fn refuses_anchors_and_non_mappings() {
        let err = error_of("spec:\n  template: &t\n    metadata: {}\n");
        assert!(err.contains("anchor"), "{err}");
        let err = error_of("spec:\n  template: 3\n");
        assert!(err.contains("spec.template: a scalar is not a mapping"), "{err}");
    }
}
