//! Normalized ranges of nodes in the document text: where a value starts and ends for a
//! replacement, where an entry or item starts for a removal, where a sequence item's dash is.
//!
//! The parser's spans are not uniform (an empty value is a zero-width span at its key, a block
//! scalar's span covers only its content lines, a block sequence starts at its first item's
//! content), so every edit goes through these few functions instead of reading spans directly.

use crate::yaml::{NodeId, NodeKind, Style, Tree};

/// Byte offset of the start of the line holding `pos`.
pub fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// The position of the `:` that follows a mapping key ending at `key_end`.
pub fn colon_after(text: &str, key_end: usize) -> Option<usize> {
    let rest = &text[key_end..];
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    (rest[skipped..].starts_with(':')).then_some(key_end + skipped)
}

/// Where a node's written content ends: after the last character of its last scalar or the
/// closing bracket of a flow collection; never a line break or trailing blank lines. An empty
/// value (`key:`) is parsed as a scalar at its key's `:`; it ends after that colon.
pub fn content_end(text: &str, tree: &Tree, id: NodeId) -> usize {
    let node = tree.node(id);
    match &node.kind {
        NodeKind::Scalar { .. } if tree.is_empty_scalar(id) && text[node.end..].starts_with(':') => node.end + 1,
        NodeKind::Scalar { style: Style::Literal | Style::Folded, .. } => {
            let trimmed = text[node.start..node.end].trim_end_matches([' ', '\t', '\r', '\n']);
            if !trimmed.is_empty() {
                return node.start + trimmed.len();
            }
            // No content lines: the scalar ends with its header (`key: |`), before the break.
            let before = text[..node.start].trim_end_matches([' ', '\t', '\r', '\n']);
            let header_line_end = text[before.len()..].find(['\r', '\n']).map_or(text.len(), |i| before.len() + i);
            header_line_end.max(before.len())
        }
        NodeKind::Mapping { flow: false, entries } => match entries.last() {
            Some(&(_, v)) => content_end(text, tree, v),
            None => node.end,
        },
        NodeKind::Sequence { flow: false, items } => match items.last() {
            Some(&i) => content_end(text, tree, i),
            None => node.end,
        },
        _ => node.end,
    }
}

/// Strip a trailing comment (a `#` at the start or after white space).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t')) {
            return &line[..i];
        }
    }
    line
}

/// The offset (within `line`) of a sequence dash that `line` ends with, allowing node
/// properties (`&anchor`, `!tag`) after it: `  - `, `- &a`, `- - `.
fn trailing_dash(line: &str) -> Option<usize> {
    let mut s = strip_comment(line).trim_end();
    loop {
        match s.rfind([' ', '\t']) {
            Some(i) if s[i + 1..].starts_with(['&', '!']) => s = s[..i].trim_end(),
            _ => break,
        }
    }
    if s.ends_with('-') && (s.len() == 1 || s.as_bytes()[s.len() - 2].is_ascii_whitespace()) {
        let dash = s.len() - 1;
        let before = &s[..dash];
        // Only indentation and other dashes may come before it.
        if before.bytes().all(|b| matches!(b, b' ' | b'-' | b'\t')) {
            return Some(dash);
        }
    }
    None
}

/// The `-` of a block sequence item: on the item's own line, or on an earlier line with only
/// comments or blank lines between (`-\n  name: a`).
pub fn dash_of(text: &str, tree: &Tree, item: NodeId) -> Option<usize> {
    let start = tree.node(item).start;
    let ls = line_start(text, start);
    if let Some(d) = trailing_dash(&text[ls..start]) {
        return Some(ls + d);
    }
    if !text[ls..start].trim().is_empty() {
        return None;
    }
    let mut end = ls;
    while end > 0 {
        let prev_start = line_start(text, end - 1);
        let line = text[prev_start..end].trim_end_matches(['\r', '\n']);
        if let Some(d) = trailing_dash(line) {
            return Some(prev_start + d);
        }
        let t = line.trim();
        if !(t.is_empty() || t.starts_with('#')) {
            return None;
        }
        end = prev_start;
    }
    None
}

/// The column (in bytes from the line start) of a position.
pub fn column(text: &str, pos: usize) -> usize {
    pos - line_start(text, pos)
}

/// Whether only indentation and sequence dashes precede `pos` on its line, so that new lines
/// can be inserted in front of it at its column. Explicit `? key` layouts fail this.
pub fn starts_line(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos].bytes().all(|b| matches!(b, b' ' | b'-'))
}

/// Whether a mapping key is written explicitly (`? key`) or is empty: new lines in front of it,
/// or a removal up to it, would land inside the key.
pub fn is_explicit_key(text: &str, tree: &Tree, key: NodeId) -> bool {
    let node = tree.node(key);
    let before = text[..node.start].trim_end();
    let explicit = before.ends_with('?')
        && before[..before.len() - 1].chars().next_back().is_none_or(|c| c.is_whitespace() || c == '-');
    // An implicit key is one line of a scalar or flow collection: a block scalar, a block
    // collection or several lines can only follow `?`, which their spans leave out of sight
    // (`? |` then the key's lines, whose start looks like a key of its own).
    let block = matches!(
        node.kind,
        NodeKind::Scalar { style: Style::Literal | Style::Folded, .. }
            | NodeKind::Mapping { flow: false, .. }
            | NodeKind::Sequence { flow: false, .. }
    );
    explicit || block || text[node.start..node.end].contains('\n') || tree.is_empty_scalar(key)
}

/// Where a flow collection's entry or item whose content starts at `content_start` really
/// starts: in front of its node properties (`&anchor`, `!tag`), which the parser's span leaves
/// out. Text removed or inserted at the content start would otherwise leave them behind or move
/// them onto a neighbour (`{&x a: 1, b: 2, c: *x}` minus `a` made `c` read "b"; `{ &a }` plus
/// an entry read with a mapping as its key).
pub fn flow_properties_start(text: &str, content_start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut start = content_start;
    loop {
        let mut p = start;
        while p > 0 && matches!(bytes[p - 1], b' ' | b'\t' | b'\r' | b'\n') {
            p -= 1;
        }
        let token_end = p;
        while p > 0 && !matches!(bytes[p - 1], b' ' | b'\t' | b'\r' | b'\n' | b',' | b'{' | b'[') {
            p -= 1;
        }
        // A token in front of a node that starts with `&` or `!` can only be its property, unless
        // it is on an earlier line behind a `#`: then it may be a comment's end.
        let line = &text[text[..p].rfind('\n').map_or(0, |i| i + 1)..p];
        let earlier_line = text[token_end..start].contains('\n');
        if p < token_end && matches!(bytes[p], b'&' | b'!') && !(earlier_line && line.contains('#')) {
            start = p;
        } else {
            return start;
        }
    }
}

/// The indentation step to use for children of the mapping entry whose key is `key`: the
/// distance from the key that owns its mapping, else 2.
pub fn step_at(tree: &Tree, key: NodeId) -> usize {
    let col = tree.node(key).col;
    let owner = tree.node(key).parent.and_then(|m| tree.node(m).key);
    owner.map(|k| tree.node(k).col).filter(|&c| col > c).map_or(2, |c| col - c)
}

/// Why a document cannot be edited as a whole, if it cannot: YAML 1.1 line breaks (NEL, LS, PS)
/// outside quoted scalars, which PyYAML and yaml.v2 read as line breaks and the YAML 1.2 parser
/// does not (so a "comment" could hide a key), and lone carriage returns.
pub fn document_hazard(text: &str, tree: &Tree) -> Option<String> {
    let bytes = text.as_bytes();
    if memchr::memchr(b'\r', bytes).is_some() {
        for i in memchr::memchr_iter(b'\r', bytes) {
            if bytes.get(i + 1) != Some(&b'\n') {
                return Some(format!(
                    "line {} ends with a lone carriage return (CR without LF)",
                    text[..i].matches('\n').count() + 1
                ));
            }
        }
    }
    let suspicious = memchr::memchr(0xC2, bytes).is_some() || memchr::memchr(0xE2, bytes).is_some();
    if !suspicious {
        return None;
    }
    let quoted: Vec<(usize, usize)> = (0..tree.len())
        .filter_map(|id| {
            let n = tree.node(id);
            matches!(n.kind, NodeKind::Scalar { style: Style::SingleQuoted | Style::DoubleQuoted, .. })
                .then_some((n.start, n.end))
        })
        .collect();
    for (pos, c) in text.char_indices() {
        let name = match c {
            '\u{85}' => "NEL (U+0085)",
            '\u{2028}' => "LS (U+2028)",
            '\u{2029}' => "PS (U+2029)",
            _ => continue,
        };
        if !quoted.iter().any(|&(s, e)| s <= pos && pos < e) {
            return Some(format!(
                "line {} holds {name} outside a quoted string; YAML 1.1 readers (PyYAML, Go's yaml.v2 in kubectl and Helm) read it as a line break and YAML 1.2 does not",
                text[..pos].matches('\n').count() + 1
            ));
        }
    }
    None
}

/// Whether a node is a flow collection (`{...}`, `[...]`).
pub fn is_flow(tree: &Tree, id: NodeId) -> bool {
    matches!(tree.node(id).kind, NodeKind::Mapping { flow: true, .. } | NodeKind::Sequence { flow: true, .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_end_skips_breaks_and_handles_block_scalars() {
        let text = "a: |\n  x\n\nb: >-\n  y\nc:\n  - 1\n  - 2\nd: |\ne: 1";
        let tree = Tree::parse(text, 0).unwrap();
        let root = tree.root().unwrap();
        let at = |k| content_end(text, &tree, tree.get(root, k).unwrap());
        assert_eq!(&text[..at("a")], "a: |\n  x");
        assert!(text[..at("b")].ends_with("  y"));
        assert!(text[..at("c")].ends_with("- 2"));
        assert!(text[..at("d")].ends_with("d: |"));
    }

    #[test]
    fn finds_dashes_of_every_item_layout() {
        let text = "s:\n- a\n-   b\n- # c\n  k: v\n-\n  # c\n  m: n\n- &x q\n";
        let tree = Tree::parse(text, 0).unwrap();
        let s = tree.get(tree.root().unwrap(), "s").unwrap();
        let dashes: Vec<usize> = tree.items(s).iter().map(|&i| dash_of(text, &tree, i).unwrap()).collect();
        for d in dashes {
            assert_eq!(&text[d..d + 1], "-");
            assert_eq!(column(text, d), 0);
        }
    }

    #[test]
    fn hazards_name_the_line() {
        let ok = "a: \"x\u{2028}y\"\n";
        assert_eq!(document_hazard(ok, &Tree::parse(ok, 0).unwrap()), None);
        let bad = "a: 1 # x\u{2028}b: 2\n";
        let why = document_hazard(bad, &Tree::parse(bad, 0).unwrap()).unwrap();
        assert!(why.contains("line 1") && why.contains("LS (U+2028)"), "{why}");
        let cr = "a: 1\rb: 2\n";
        assert!(document_hazard(cr, &Tree::parse(cr, 0).unwrap()).unwrap().contains("lone carriage return"));
    }
}
