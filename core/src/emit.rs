//! YAML text for values postwire writes.
//!
//! PyYAML (YAML 1.1) and Go's yaml.v2 (the decoder behind kubectl and Helm) disagree on many
//! plain spellings (`y`, `0o7`, `1e3`, `190:20:30`…), so postwire writes a key plain only when
//! it is unambiguous to every reader, and writes every string value double-quoted.

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
    out
}

/// A mapping key: plain when safe (block context only), double-quoted otherwise.
pub fn key(s: &str, flow: bool) -> String {
    if !flow && is_plain_safe(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
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
    /// A number that is not an integer, as the text of a JSON number that every YAML reader
    /// takes for a float (a `.` before any exponent, the exponent signed: `0.5`, `1.0e+21`).
    Float(String),
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
            Value::Float(f) => f.parse::<f64>().ok().map_or(serde_json::Value::Null, serde_json::Value::from),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// From JSON (numbers that are not integers are written as strings of their JSON text).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) if n.is_f64() => Value::Float(float_text(&n.to_string())),
            serde_json::Value::Number(n) => n.as_i64().map_or_else(|| Value::Str(n.to_string()), Value::Int),
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

/// The text of a JSON float as YAML 1.1 and 1.2 readers both read a float: YAML 1.1 needs a `.`
/// and a signed exponent (`1e21` would be a string to PyYAML and yaml.v2).
pub fn float_text(json: &str) -> String {
    let (mantissa, exponent) = match json.find(['e', 'E']) {
        Some(i) => (&json[..i], Some(&json[i + 1..])),
        None => (json, None),
    };
    let mut out = mantissa.to_string();
    if !out.contains('.') {
        out.push_str(".0");
    }
    if let Some(e) = exponent {
        out.push('e');
        if !e.starts_with(['+', '-']) {
            out.push('+');
        }
        out.push_str(e);
    }
    out
}

/// A value in flow notation on one line (valid JSON when every scalar is: keys are quoted).
pub fn flow(value: &Value) -> String {
    let mut out = String::new();
    write_flow(value, &mut out);
    out
}

fn write_flow(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(f),
        Value::Str(s) => out.push_str(&double_quoted(s)),
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&key(k, true));
                out.push_str(": ");
                write_flow(v, out);
            }
            out.push('}');
        }
    }
}

/// Block lines (without line breaks) for the entries of a mapping, the first at column `col`.
/// Nested mappings and sequences are indented by `step`.
pub fn block_entries(entries: &[(String, Value)], col: usize, step: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for (k, v) in entries {
        write_block_entry(k, v, col, step, &mut lines);
    }
    lines
}

/// Block lines for one sequence item (`- ...`) with its dash at column `col`.
pub fn block_item(value: &Value, col: usize, step: usize) -> Vec<String> {
    let mut lines = Vec::new();
    write_block_item(value, col, step, &mut lines);
    lines
}

/// Block lines for the body of a collection under a key at column `key_col`: the entries or
/// items, indented by `step`. Scalars and empty collections have no block body (use [`flow`]).
pub fn block_body(value: &Value, key_col: usize, step: usize) -> Vec<String> {
    match value {
        Value::Map(entries) => block_entries(entries, key_col + step, step),
        Value::Seq(items) => {
            let mut lines = Vec::new();
            for item in items {
                write_block_item(item, key_col + step, step, &mut lines);
            }
            lines
        }
        _ => Vec::new(),
    }
}

fn write_block_entry(k: &str, v: &Value, col: usize, step: usize, lines: &mut Vec<String>) {
    let head = format!("{}{}:", " ".repeat(col), key(k, false));
    if v.is_collection() {
        lines.push(head);
        lines.extend(block_body(v, col, step));
    } else {
        lines.push(format!("{head} {}", flow(v)));
    }
}

fn write_block_item(v: &Value, col: usize, step: usize, lines: &mut Vec<String>) {
    match v {
        Value::Map(entries) if !entries.is_empty() => {
            // The first entry shares the dash's line; the rest line up under it.
            let inner = block_entries(entries, col + 2, step);
            for (i, line) in inner.into_iter().enumerate() {
                if i == 0 {
                    lines.push(format!("{}- {}", " ".repeat(col), &line[col + 2..]));
                } else {
                    lines.push(line);
                }
            }
        }
        _ => lines.push(format!("{}- {}", " ".repeat(col), flow(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings that a YAML 1.1 or 1.2 reader turns into something else when written plain.
    pub const TRAPS: &[&str] = &[
        "on",
        "off",
        "yes",
        "no",
        "y",
        "n",
        "Y",
        "N",
        "On",
        "OFF",
        "~",
        "=",
        "<<",
        "0755",
        "0o755",
        "1e3",
        ".inf",
        "-.inf",
        ".nan",
        "1_000",
        "2001-01-01",
        "12:30:45",
        "190:20:30",
        "0x1F",
        "+1",
        "-",
        "",
        " lead",
        "a: b",
        "#x",
        "true",
        "null",
        "NULL",
        "a\u{2028}b",
        "a\u{85}b",
        "tab\there",
        "quote\"back\\slash",
        "08",
        "3e3",
        "0b101",
        "\u{fffe}",
        "\u{ffff}",
        "\u{85}",
    ];

    #[test]
    fn traps_are_never_plain() {
        for t in TRAPS {
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
    fn double_quoted_escapes_are_json_compatible() {
        for t in TRAPS {
            let q = double_quoted(t);
            let back: String = serde_json::from_str(&q).expect("valid JSON string");
            assert_eq!(&back, t);
        }
    }

    #[test]
    fn floats_read_as_floats_in_yaml_1_1_and_1_2() {
        for (json, yaml) in
            [("0.5", "0.5"), ("100.0", "100.0"), ("1e21", "1.0e+21"), ("2.5E-7", "2.5e-7"), ("-3", "-3.0")]
        {
            assert_eq!(float_text(json), yaml);
        }
        let v = Value::from_json(&serde_json::json!({"a": 0.25, "b": 3}));
        assert_eq!(flow(&v), "{\"a\": 0.25, \"b\": 3}");
    }
}
