//! YAML text for values postwire writes.
//!
//! PyYAML (YAML 1.1) and Go's yaml.v2 (the decoder behind kubectl and Helm) disagree on many
//! plain spellings (`y`, `0o7`, `1e3`, `190:20:30`…), so postwire writes a key plain only when
//! it is unambiguous to every reader, and writes every string value double-quoted.

use crate::yaml::{Node, NodeId, NodeKind, Style, Tree};

/// Whether `s` reads as the same string under YAML 1.1 and 1.2 when written plain.
///
/// Deliberately conservative: a letter first, then only letters, digits and `._/-`, and not
/// one of the YAML 1.1 boolean or null words.
pub fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !first.is_ascii_alphabetic() {
        return false;
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    !matches!(lower.as_str(), "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null")
}

/// `s` as a YAML double-quoted scalar, valid for YAML 1.1 and 1.2 readers and as JSON.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_double_quoted(s, &mut out);
    out
}

fn write_double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // C0 and C1 controls, DEL, the characters YAML 1.1 treats as line breaks or a BOM, and
            // the non-characters U+FFFE and U+FFFF, which no YAML stream may contain.
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}') =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A mapping key: plain when safe (block context only), double-quoted otherwise.
pub fn key(s: &str, flow: bool) -> String {
    let mut w = Writer::text("\n");
    w.key(s, flow, None);
    w.out
}

/// A string value: always double-quoted, so no reader takes it for a bool, number or date.
pub fn string_value(s: &str) -> String {
    double_quoted(s)
}

/// A value postwire writes: what an edit sets, inserts or generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number that is not an integer (`0.5`), as canonical text both YAML 1.1 readers take
    /// for a float.
    Float(Float),
    /// A string (always written double-quoted).
    Str(String),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping, in the order its entries are written.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// A mapping from `(key, value)` pairs.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The JSON equivalent.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(f.get()),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// From JSON. Integers that fit an `i64` stay integers; every other number is a float
    /// (`2.0` stays `2.0`, a float to every reader, as in the JSON).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64().and_then(Float::new)) {
                (Some(i), _) if !n.is_f64() => Value::Int(i),
                (_, Some(f)) => Value::Float(f),
                // JSON numbers are finite; an integer beyond i64 reads as its float.
                _ => Value::Str(n.to_string()),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => Value::Seq(items.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(map) => {
                Value::Map(map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// The value of a mapping entry.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn is_collection(&self) -> bool {
        matches!(self, Value::Map(m) if !m.is_empty()) || matches!(self, Value::Seq(s) if !s.is_empty())
    }
}

/// A finite float as the text postwire writes for it: Rust's shortest round-trip digits, always
/// with a `.` in the mantissa and a signed exponent when there is one (`0.5`, `2.0`, `1.0e-7`,
/// `1.5e+300`). PyYAML's YAML 1.1 float needs both (`1e-7` is a string to it); Go's yaml.v2 and
/// YAML 1.2 readers read the same text as the same float. The text is canonical, so two equal
/// floats compare equal as text (`-0.0` stays distinct from `0.0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Float(String);

impl Float {
    /// The float, or None when it is not finite (JSON and most readers have no NaN or infinity).
    pub fn new(f: f64) -> Option<Float> {
        if !f.is_finite() {
            return None;
        }
        // `{:?}` is the shortest text that reads back to the same f64: `0.5`, `2.0`, `1e-7`, `1e21`.
        let text = format!("{f:?}");
        let text = match text.split_once('e') {
            Some((mantissa, exp)) => {
                let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
                let exp = if exp.starts_with('-') { exp.to_string() } else { format!("+{exp}") };
                format!("{mantissa}e{exp}")
            }
            None if text.contains('.') => text,
            None => format!("{text}.0"),
        };
        Some(Float(text))
    }

    /// The text written for it.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The float.
    pub fn get(&self) -> f64 {
        self.0.parse().expect("canonical float text parses")
    }
}

/// A value in flow notation on one line (valid JSON when every scalar is: keys are quoted).
pub fn flow(value: &Value) -> String {
    let mut w = Writer::text("\n");
    w.flow(value, None, None);
    w.out
}

/// Block lines (without line breaks) for the entries of a mapping, the first at column `col`.
/// Nested mappings and sequences are indented by `step`.
pub fn block_entries(entries: &[(String, Value)], col: usize, step: usize) -> Vec<String> {
    let mut w = Writer::text("\n");
    for (k, v) in entries {
        w.block_entry(k, v, col, step, Indent::Write, None);
    }
    lines(&w.out)
}

/// Block lines for one sequence item (`- ...`) with its dash at column `col`.
pub fn block_item(value: &Value, col: usize, step: usize) -> Vec<String> {
    let mut w = Writer::text("\n");
    w.block_item(value, col, step, None);
    lines(&w.out)
}

/// Block lines for the body of a collection under a key at column `key_col`: the entries or
/// items, indented by `step`. Scalars and empty collections have no block body (use [`flow`]).
pub fn block_body(value: &Value, key_col: usize, step: usize) -> Vec<String> {
    let mut w = Writer::text("\n");
    w.block_body(value, key_col, step, None, None);
    lines(&w.out)
}

/// A whole document of mapping `entries` in block notation, indented by 2, every line ended
/// by `newline`: written into one string, not line by line.
pub fn block_document(entries: &[(String, Value)], newline: &str) -> String {
    let mut w = Writer::text(newline);
    w.block_mapping(entries, 0, 2, Indent::Write, None, None);
    w.out
}

/// [`block_document`] and the tree a parse of its text gives ([`Tree::parse`] with no line
/// offset), built as the text is written: a generated document is not parsed again.
pub fn block_document_tree(entries: &[(String, Value)], newline: &str) -> (String, Tree) {
    let mut w = Writer { out: String::new(), newline, nodes: Some(NodeLog { line: 1, ..NodeLog::default() }) };
    w.block_mapping(entries, 0, 2, Indent::Write, None, None);
    let end = w.out.len();
    let log = w.nodes.take().expect("nodes are recorded");
    let mut nodes = log.nodes;
    for id in log.open_ends {
        nodes[id].end = end;
    }
    // A kept tree costs its nodes' memory: no spare capacity (as a parse leaves it).
    nodes.shrink_to_fit();
    let root = (!nodes.is_empty()).then_some(0);
    (w.out, Tree::from_parts(nodes, root))
}

/// The lines of text written with `\n` after each (no scalar postwire writes holds a line break:
/// strings are double-quoted with `\n` escaped).
fn lines(text: &str) -> Vec<String> {
    text.split_terminator('\n').map(str::to_string).collect()
}

/// Whether an entry's line starts with its indentation, or after a sequence item's `- `.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Indent {
    Write,
    AfterDash,
}

/// YAML text being written and, when a tree is wanted, its nodes.
struct Writer<'a> {
    out: String,
    newline: &'a str,
    nodes: Option<NodeLog>,
}

/// The nodes of the text written so far, in the order and with the spans, lines and columns
/// the parser gives them ([`crate::yaml`]'s builder): a scalar or flow collection spans its
/// text; a block collection starts at its first key or dash and ends where the next token
/// starts (the next line's key or dash, or the end of the text).
#[derive(Default)]
struct NodeLog {
    nodes: Vec<Node>,
    /// The 1-based line being written, and the offset where it starts.
    line: usize,
    line_start: usize,
    /// Block collections written to their last entry, waiting for the next token.
    open_ends: Vec<NodeId>,
}

impl Writer<'_> {
    fn text(newline: &str) -> Writer<'_> {
        Writer { out: String::new(), newline, nodes: None }
    }

    fn spaces(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    fn line_break(&mut self) {
        self.out.push_str(self.newline);
        if let Some(log) = &mut self.nodes {
            log.line += 1;
            log.line_start = self.out.len();
        }
    }

    /// A token starts here: the block collections waiting for one end here.
    fn token(&mut self) {
        if let Some(log) = &mut self.nodes {
            for id in log.open_ends.drain(..) {
                log.nodes[id].end = self.out.len();
            }
        }
    }

    /// A node whose first token starts here, as a key of `parent` (`key` None) or its value
    /// for `key`, or an item; None when no tree is being built.
    fn begin(&mut self, kind: NodeKind, parent: Option<NodeId>, key: Option<NodeId>) -> Option<NodeId> {
        self.token();
        let log = self.nodes.as_mut()?;
        let start = self.out.len();
        let col = self.out[log.line_start..].chars().count();
        let id = log.nodes.len();
        log.nodes.push(Node { kind, start, end: start, line: log.line, col, anchor: 0, tag: None, parent, key });
        if let Some(p) = parent {
            match &mut log.nodes[p].kind {
                NodeKind::Mapping { entries, .. } => {
                    if let Some(k) = key {
                        entries.push((k, id));
                    }
                }
                NodeKind::Sequence { items, .. } => items.push(id),
                _ => unreachable!("only collections hold nodes"),
            }
        }
        Some(id)
    }

    /// A scalar or flow collection ends here.
    fn end(&mut self, id: Option<NodeId>) {
        if let (Some(log), Some(id)) = (&mut self.nodes, id) {
            log.nodes[id].end = self.out.len();
        }
    }

    /// A block collection's last entry is written: it ends at the next token.
    fn end_block(&mut self, id: Option<NodeId>) {
        if let (Some(log), Some(id)) = (&mut self.nodes, id) {
            log.open_ends.push(id);
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        value: &str,
        style: Style,
        parent: Option<NodeId>,
        key: Option<NodeId>,
    ) -> Option<NodeId> {
        let id = self.begin(NodeKind::Scalar { value: value.into(), style }, parent, key);
        self.out.push_str(text);
        self.end(id);
        id
    }

    fn string(&mut self, s: &str, parent: Option<NodeId>, key: Option<NodeId>) -> Option<NodeId> {
        let id = self.begin(NodeKind::Scalar { value: s.into(), style: Style::DoubleQuoted }, parent, key);
        write_double_quoted(s, &mut self.out);
        self.end(id);
        id
    }

    /// A mapping key of `map`: plain when safe (block context only), double-quoted otherwise.
    fn key(&mut self, k: &str, flow: bool, map: Option<NodeId>) -> Option<NodeId> {
        if !flow && is_plain_safe(k) {
            self.scalar(k, k, Style::Plain, map, None)
        } else {
            self.string(k, map, None)
        }
    }

    fn flow(&mut self, value: &Value, parent: Option<NodeId>, key: Option<NodeId>) {
        match value {
            Value::Null => _ = self.scalar("null", "null", Style::Plain, parent, key),
            Value::Bool(b) => {
                let text = if *b { "true" } else { "false" };
                self.scalar(text, text, Style::Plain, parent, key);
            }
            Value::Int(i) => {
                let text = i.to_string();
                self.scalar(&text, &text, Style::Plain, parent, key);
            }
            Value::Float(f) => _ = self.scalar(f.text(), f.text(), Style::Plain, parent, key),
            Value::Str(s) => _ = self.string(s, parent, key),
            Value::Seq(items) => {
                let seq = self.begin(NodeKind::Sequence { flow: true, items: Vec::new() }, parent, key);
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.flow(item, seq, None);
                }
                self.out.push(']');
                self.end(seq);
            }
            Value::Map(entries) => {
                let map = self.begin(NodeKind::Mapping { flow: true, entries: Vec::new() }, parent, key);
                self.out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    let k = self.key(k, true, map);
                    self.out.push_str(": ");
                    self.flow(v, map, k);
                }
                self.out.push('}');
                self.end(map);
            }
        }
    }

    /// The entries of a block mapping, the first at `col` (after a dash when `first` says so).
    fn block_mapping(
        &mut self,
        entries: &[(String, Value)],
        col: usize,
        step: usize,
        first: Indent,
        parent: Option<NodeId>,
        key: Option<NodeId>,
    ) {
        let mut map = None;
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 || first == Indent::Write {
                self.spaces(col);
            }
            if i == 0 {
                map = self.begin(NodeKind::Mapping { flow: false, entries: Vec::new() }, parent, key);
            }
            self.block_entry(k, v, col, step, Indent::AfterDash, map);
        }
        self.end_block(map);
    }

    fn block_body(&mut self, value: &Value, key_col: usize, step: usize, parent: Option<NodeId>, key: Option<NodeId>) {
        match value {
            Value::Map(entries) => self.block_mapping(entries, key_col + step, step, Indent::Write, parent, key),
            Value::Seq(items) => {
                let mut seq = None;
                for (i, item) in items.iter().enumerate() {
                    if i == 0 {
                        self.spaces(key_col + step);
                        seq = self.begin(NodeKind::Sequence { flow: false, items: Vec::new() }, parent, key);
                        self.block_item_after_indent(item, key_col + step, step, seq);
                    } else {
                        self.block_item(item, key_col + step, step, seq);
                    }
                }
                self.end_block(seq);
            }
            _ => {}
        }
    }

    fn block_entry(&mut self, k: &str, v: &Value, col: usize, step: usize, indent: Indent, map: Option<NodeId>) {
        if indent == Indent::Write {
            self.spaces(col);
        }
        let key = self.key(k, false, map);
        self.out.push(':');
        if v.is_collection() {
            self.line_break();
            self.block_body(v, col, step, map, key);
        } else {
            self.out.push(' ');
            self.flow(v, map, key);
            self.line_break();
        }
    }

    fn block_item(&mut self, v: &Value, col: usize, step: usize, seq: Option<NodeId>) {
        self.spaces(col);
        self.block_item_after_indent(v, col, step, seq);
    }

    fn block_item_after_indent(&mut self, v: &Value, col: usize, step: usize, seq: Option<NodeId>) {
        self.token();
        self.out.push_str("- ");
        match v {
            // The first entry shares the dash's line; the rest line up under it.
            Value::Map(entries) if !entries.is_empty() => {
                self.block_mapping(entries, col + 2, step, Indent::AfterDash, seq, None)
            }
            _ => {
                self.flow(v, seq, None);
                self.line_break();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::all_traps;

    #[test]
    fn traps_are_never_plain() {
        for t in all_traps() {
            assert!(!is_plain_safe(t), "{t:?} must be quoted");
            assert!(key(t, false).starts_with('"'));
        }
    }

    #[test]
    fn ordinary_keys_stay_plain() {
        for k in ["checksum/config", "app.kubernetes.io/name", "checksum/secret-db-1"] {
            assert_eq!(key(k, false), k);
            assert_eq!(key(k, true), format!("\"{k}\""));
        }
    }

    #[test]
    fn floats_have_a_dot_and_a_signed_exponent() {
        let cases = [
            (0.5, "0.5"),
            (2.0, "2.0"),
            (-0.25, "-0.25"),
            (1e-7, "1.0e-7"),
            (1.5e-7, "1.5e-7"),
            (1e21, "1.0e+21"),
            (1.5e300, "1.5e+300"),
            (123456.789, "123456.789"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0.0"),
        ];
        for (f, text) in cases {
            let float = Float::new(f).unwrap();
            assert_eq!(float.text(), text, "{f}");
            assert_eq!(float.get().to_bits(), f.to_bits(), "{f} round-trips");
            // PyYAML's YAML 1.1 float: `[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?`.
            let (mantissa, exp) = text.split_once('e').unwrap_or((text, ""));
            let digits = mantissa.trim_start_matches('-');
            assert!(digits.contains('.') && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.'), "{text}");
            assert!(exp.is_empty() || (exp.starts_with(['-', '+']) && exp[1..].bytes().all(|b| b.is_ascii_digit())));
            // Valid JSON, reading back as the same number.
            assert_eq!(serde_json::from_str::<f64>(text).unwrap().to_bits(), f.to_bits());
            assert_eq!(flow(&Value::Float(float)), text);
        }
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(Float::new(f).is_none());
        }
    }

    #[test]
    fn json_numbers_keep_their_type() {
        let v = Value::from_json(&serde_json::json!({"i": 3, "f": 0.5, "w": 2.0, "big": 18446744073709551615u64}));
        assert_eq!(v.get("i"), Some(&Value::Int(3)));
        assert_eq!(v.get("f"), Some(&Value::Float(Float::new(0.5).unwrap())));
        assert_eq!(v.get("w"), Some(&Value::Float(Float::new(2.0).unwrap())));
        assert!(matches!(v.get("big"), Some(Value::Float(_))));
        assert_eq!(v.to_json()["f"], serde_json::json!(0.5));
    }

    #[test]
    fn double_quoted_escapes_are_json_compatible() {
        for t in all_traps() {
            let q = double_quoted(t);
            let back: String = serde_json::from_str(&q).expect("valid JSON string");
            assert_eq!(back, t);
        }
    }

    /// YAML 1.1 and 1.2 allow only printable characters in a stream (tab, LF, CR, NEL and
    /// U+0020..U+D7FF, U+E000..U+FFFD, U+10000 and up); everything else, and the characters
    /// YAML 1.1 reads as line breaks or a BOM, must be escaped.
    #[test]
    fn double_quoted_escapes_what_yaml_forbids_or_breaks_on() {
        let must_escape = |c: char| {
            let printable =
                matches!(c, '\t' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}') || c >= '\u{10000}';
            !printable || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
        };
        let chars = (0u32..0x110000).filter_map(char::from_u32).filter(|&c| must_escape(c) && c != '\n');
        for c in chars {
            let q = double_quoted(&format!("a{c}b"));
            assert!(!q.contains(c), "U+{:04X} is written unescaped: {q:?}", c as u32);
        }
        for t in all_traps() {
            let q = double_quoted(t);
            assert!(!q.chars().any(|c| must_escape(c) || c == '\n'), "{t:?} is written as {q:?}");
        }
    }

    /// A document written in one piece reads back, by the parser, as the value written; with
    /// either line break, and the same lines the line-by-line forms give.
    #[test]
    fn documents_read_back_as_their_value() {
        let nested = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Thing",
            "metadata": {"name": "a", "labels": {"on": "yes", "app.kubernetes.io/name": "ü"}},
            "spec": {
                "empty": {}, "none": [], "null": null, "n": -3, "f": 0.5, "t": true,
                "items": [{"name": "x", "ports": [{"port": 80}, 443]}, "s", [1, [2, {}]], {"a": {"b": []}}],
                "text": "line one\nline \"two\"\t\u{7f}",
                "deep": {"a": {"b": {"c": [{"d": {"e": "f"}}]}}}
            }
        });
        let Value::Map(entries) = Value::from_json(&nested) else { unreachable!() };
        for newline in ["\n", "\r\n"] {
            let text = block_document(&entries, newline);
            let tree = crate::yaml::Tree::parse(&text, 0).unwrap();
            assert_eq!(crate::model::json(&tree, tree.root().unwrap()), nested, "{text}");
            let mut lines = block_entries(&entries, 0, 2).join(newline);
            lines.push_str(newline);
            assert_eq!(text, lines);
        }
    }

    /// The tree written beside a document is the tree the parser reads from its text: the
    /// same nodes in the same order, with the same spans, lines, columns, parents and keys.
    #[test]
    fn written_trees_are_the_parsed_trees() {
        let strings = [
            "",
            "a",
            "on",
            "app.kubernetes.io/name",
            "ü",
            "𝄞 x",
            "a: b",
            "- x",
            "#c",
            " lead",
            "trail ",
            "q\"uote",
            "back\\slash",
            "line\nbreak",
            "\r\t",
            "\u{7f}\u{85}\u{2028}\u{feff}",
            "{[",
            "1e3",
            "-1",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        fn value(depth: usize, next: &mut dyn FnMut(usize) -> usize, strings: &[&str]) -> Value {
            let leaf = depth > 3;
            match next(if leaf { 5 } else { 8 }) {
                0 => Value::Null,
                1 => Value::Bool(next(2) == 0),
                2 => Value::Int(next(2000) as i64 - 1000),
                3 => Value::Float(Float::new(next(1000) as f64 / 8.0 - 3.0).unwrap()),
                4 => Value::str(strings[next(strings.len())]),
                5 | 6 => Value::Map(
                    (0..next(4))
                        .map(|_| (strings[next(strings.len())].to_string(), value(depth + 1, next, strings)))
                        .collect(),
                ),
                _ => Value::Seq((0..next(4)).map(|_| value(depth + 1, next, strings)).collect()),
            }
        }
        for round in 0..3000 {
            let entries: Vec<(String, Value)> = (0..1 + next(5))
                .map(|i| (format!("{}{i}", strings[next(strings.len())]), value(0, &mut next, &strings)))
                .collect();
            let newline = if round % 2 == 0 { "\n" } else { "\r\n" };
            let (text, tree) = block_document_tree(&entries, newline);
            assert_eq!(text, block_document(&entries, newline));
            let parsed = Tree::parse(&text, 0).unwrap();
            if let Some(i) = (0..tree.len().max(parsed.len())).find(|&i| tree.node_checked(i) != parsed.node_checked(i))
            {
                panic!(
                    "round {round}, node {i}:\n{text}\nwritten {:?}\nparsed {:?}",
                    tree.node_checked(i),
                    parsed.node_checked(i)
                );
            }
            assert!(tree == parsed, "round {round}:\n{text}");
        }
    }

    #[test]
    fn json_floats_stay_floats() {
        let v = Value::from_json(&serde_json::json!({"a": 0.25, "b": 3, "c": 1e21}));
        assert_eq!(flow(&v), "{\"a\": 0.25, \"b\": 3, \"c\": 1.0e+21}");
    }
}
