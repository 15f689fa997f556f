//! Config values with their origin (file, line, column), merged from several sources.

use crate::error::{Error, ErrorKind, Result};
use crate::yaml::{NodeId, NodeKind, Style, Tree};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `postwire.yaml`, `--set checksum.mode=aggregate`, `document 3 (PostwireConfig)`.
    pub source: String,
    /// 1-based line, when the source has lines.
    pub line: Option<usize>,
    /// 1-based column, with the line.
    pub column: Option<usize>,
    /// 1-based line of the key, for a mapping's value: a block value starts below its key, and
    /// an unknown key is reported where it is written.
    pub key_line: Option<usize>,
}

/// A config value as written, before typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// A scalar's text and whether it was written plain (quoted text is always a string).
    Scalar {
        /// The text.
        text: String,
        /// Plain (untyped) rather than quoted.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Spanned>),
    /// A mapping with string keys, in written order.
    Map(Vec<(String, Spanned)>),
}

/// A value and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The value.
    pub value: Value,
    /// Its origin.
    pub origin: Origin,
}

impl Spanned {
    /// An empty mapping from `source`.
    pub fn empty_map(source: &str) -> Spanned {
        Spanned {
            value: Value::Map(Vec::new()),
            origin: Origin { source: source.to_string(), line: None, column: None, key_line: None },
        }
    }

    /// Convert a parsed YAML node.
    pub fn from_tree(tree: &Tree, id: NodeId, source: &str) -> Result<Spanned> {
        let node = tree.node(id);
        let origin =
            Origin { source: source.to_string(), line: Some(node.line), column: Some(node.col + 1), key_line: None };
        let value = match &node.kind {
            NodeKind::Scalar { .. } if tree.is_null(id) => Value::Null,
            NodeKind::Scalar { value, style } => {
                Value::Scalar { text: value.to_string(), plain: *style == Style::Plain }
            }
            NodeKind::Sequence { items, .. } => {
                Value::Seq(items.iter().map(|&i| Spanned::from_tree(tree, i, source)).collect::<Result<_>>()?)
            }
            NodeKind::Mapping { entries, .. } => {
                let mut map: Vec<(String, Spanned)> = Vec::with_capacity(entries.len());
                for &(k, v) in entries {
                    let Some(key) = tree.scalar(k) else {
                        return Err(Error::new(ErrorKind::Config, "mapping keys must be strings")
                            .with_origin(source)
                            .at(tree.node(k).line, tree.node(k).col + 1));
                    };
                    if map.iter().any(|(existing, _)| existing == key) {
                        return Err(Error::new(ErrorKind::Config, format!("duplicate key `{key}`"))
                            .with_origin(source)
                            .at(tree.node(k).line, tree.node(k).col + 1));
                    }
                    let mut value = Spanned::from_tree(tree, v, source)?;
                    value.origin.key_line = Some(tree.node(k).line);
                    map.push((key.to_string(), value));
                }
                Value::Map(map)
            }
            NodeKind::Alias => {
                return Err(Error::new(ErrorKind::Config, "YAML aliases are not supported in config")
                    .with_origin(source)
                    .at(node.line, node.col + 1))
            }
        };
        Ok(Spanned { value, origin })
    }

    /// Deep-merge `over` into `self`: mappings merge key by key, anything else is replaced.
    pub fn merge(&mut self, over: Spanned) {
        match (&mut self.value, over.value) {
            (Value::Map(base), Value::Map(entries)) => {
                for (key, value) in entries {
                    match base.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, existing)) => existing.merge(value),
                        None => base.push((key, value)),
                    }
                }
            }
            (_, value) => {
                self.value = value;
                self.origin = over.origin;
            }
        }
    }

    /// The value at a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Spanned> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The item at an index of a sequence.
    pub fn item(&self, index: usize) -> Option<&Spanned> {
        match &self.value {
            Value::Seq(items) => items.get(index),
            _ => None,
        }
    }

    /// Subtract `lines` from every line number (to count lines from a document's start).
    pub fn rebase_lines(&mut self, lines: usize) {
        for line in [self.origin.line.as_mut(), self.origin.key_line.as_mut()].into_iter().flatten() {
            *line = line.saturating_sub(lines).max(1);
        }
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|i| i.rebase_lines(lines)),
            Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| v.rebase_lines(lines)),
            Value::Null | Value::Scalar { .. } => {}
        }
    }

    /// The string at a top-level key, if it is a scalar.
    pub fn top_str(&self, key: &str) -> Option<&str> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).and_then(|(_, v)| match &v.value {
                Value::Scalar { text, .. } => Some(text.as_str()),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// Parse a Helm-style `--set` override: `a.b=value`, `a.list={x,y}`, `a.list[1]=x`, `a.b=null`.
/// `\.` keeps a dot inside a key.
pub fn parse_set(set: &str) -> Result<Spanned> {
    let source = format!("--set {set}");
    let origin = Origin { source: source.clone(), line: None, column: None, key_line: None };
    let err = |msg: &str| Error::new(ErrorKind::Config, msg.to_string()).with_origin(source.clone());
    let Some((path, raw)) = split_unescaped(set, '=') else {
        return Err(err("expected path=value, e.g. --set checksum.mode=aggregate"));
    };
    let value = if raw == "null" {
        Value::Null
    } else if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        let items = if inner.is_empty() { Vec::new() } else { inner.split(',').collect() };
        Value::Seq(
            items
                .into_iter()
                .map(|s| Spanned { value: Value::Scalar { text: s.to_string(), plain: true }, origin: origin.clone() })
                .collect(),
        )
    } else {
        Value::Scalar { text: raw.to_string(), plain: true }
    };
    let mut node = Spanned { value, origin: origin.clone() };
    let segments = split_path(path);
    if segments.iter().any(|s| s.is_empty()) {
        return Err(err("empty key in path"));
    }
    for segment in segments.into_iter().rev() {
        let (key, index) = match segment.strip_suffix(']').and_then(|s| s.split_once('[')) {
            Some((key, idx)) => {
                let idx: usize = idx.parse().map_err(|_| err("list index must be a number, e.g. exclude[0]=name"))?;
                (key.to_string(), Some(idx))
            }
            None => (segment, None),
        };
        if let Some(idx) = index {
            let mut items: Vec<Spanned> =
                (0..idx).map(|_| Spanned { value: Value::Null, origin: origin.clone() }).collect();
            items.push(node);
            node = Spanned { value: Value::Seq(items), origin: origin.clone() };
            // Indexed lists merge item by item only in Helm; here the index fills a new list.
        }
        node = Spanned { value: Value::Map(vec![(key, node)]), origin: origin.clone() };
    }
    Ok(node)
}

fn split_unescaped(s: &str, sep: char) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == sep && !escaped => return Some((&s[..i], &s[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => out.last_mut().unwrap().push(chars.next().unwrap()),
            '.' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Plain scalars typed like YAML 1.2's core schema (what a config reader expects of `true`, `3`).
pub fn plain_kind(text: &str) -> PlainKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => PlainKind::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => PlainKind::Bool,
        _ if text.parse::<i64>().is_ok() => PlainKind::Int,
        _ if text.parse::<f64>().is_ok() && text.bytes().any(|b| b.is_ascii_digit()) => PlainKind::Float,
        _ => PlainKind::Str,
    }
}

/// The type a plain scalar resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainKind {
    /// null
    Null,
    /// bool
    Bool,
    /// integer
    Int,
    /// float
    Float,
    /// string
    Str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn keys(v: &Spanned) -> BTreeMap<&str, &Spanned> {
        match &v.value {
            Value::Map(entries) => entries.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            _ => BTreeMap::new(),
        }
    }

    fn scalar(v: &Spanned) -> &str {
        match &v.value {
            Value::Scalar { text, .. } => text,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn set_builds_nested_values() {
        let v = parse_set("checksum.mode=aggregate").unwrap();
        assert_eq!(scalar(keys(keys(&v)["checksum"])["mode"]), "aggregate");
        let v = parse_set("checksum.exclude={a,b}").unwrap();
        let Value::Seq(items) = &keys(keys(&v)["checksum"])["exclude"].value else { panic!() };
        assert_eq!(items.len(), 2);
        let v = parse_set(r"a\.b.c=x=y").unwrap();
        assert_eq!(scalar(keys(keys(&v)["a.b"])["c"]), "x=y");
        assert!(parse_set("novalue").is_err());
    }

    #[test]
    fn merge_is_deep_for_maps_and_replaces_the_rest() {
        let mut base = parse_set("checksum.mode=aggregate").unwrap();
        base.merge(parse_set("checksum.enabled=false").unwrap());
        base.merge(parse_set("checksum.mode=perObject").unwrap());
        let cs = keys(&base)["checksum"];
        assert_eq!(scalar(keys(cs)["mode"]), "perObject");
        assert_eq!(scalar(keys(cs)["enabled"]), "false");
    }
}
