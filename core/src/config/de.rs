//! A serde deserializer over [`Spanned`] config values whose errors name the field path, the
//! source and line, and the closest valid key or value.

use std::fmt;

use serde::de::{self, DeserializeSeed, Error as _, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::value::{plain_kind, PlainKind, Spanned, Value};

/// A deserialization error with the path built up as it bubbles out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    /// Path segments, outermost first.
    pub path: Vec<String>,
    /// Source and line of the offending value.
    pub source: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// A suggestion.
    pub hint: Option<String>,
}

impl DeError {
    fn located(mut self, v: &Spanned) -> Self {
        if self.source.is_none() {
            self.source = Some(v.origin.source.clone());
            self.line = v.origin.line;
            self.column = v.origin.column;
            // An unknown key at its key's line; a bad value at the value itself.
            match named_node(&self.message, v) {
                Some((at, true)) => (self.line, self.column) = (at.origin.key_line.or(at.origin.line), None),
                Some((at, false)) => (self.line, self.column) = (at.origin.line, at.origin.column),
                None => {}
            }
        }
        self
    }

    fn in_field(mut self, key: &str) -> Self {
        self.path.insert(0, key.to_string());
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

/// The node inside `v` that the message of a check over a free-form block names (a Rollouts
/// strategy: `canary.steps[0]: unknown field `setWieght``), down to the unknown key itself:
/// such checks know the path in the block, not the line.
/// Also says whether the node is an unknown key's value (to be reported at the key).
fn named_node<'v>(message: &str, v: &'v Spanned) -> Option<(&'v Spanned, bool)> {
    let (path, rest) = if message.starts_with("unknown field `") { ("", message) } else { message.split_once(": ")? };
    if path.contains(' ') {
        return None;
    }
    let mut node = v;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (key, indices) = seg.split_once('[').unwrap_or((seg, ""));
        if !key.is_empty() {
            node = node.get(key)?;
        }
        for index in indices.split('[').map(|i| i.trim_end_matches(']')).filter(|i| !i.is_empty()) {
            node = node.item(index.parse().ok()?)?;
        }
    }
    let unknown = rest.strip_prefix("unknown field `").and_then(|r| r.split('`').next()).and_then(|f| node.get(f));
    if let Some(value) = unknown {
        return Some((value, true));
    }
    (!std::ptr::eq(node, v)).then_some((node, false))
}

fn closest(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

fn one_of(expected: &[&str]) -> String {
    let quoted: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
    match quoted.len() {
        0 => "none".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { path: Vec::new(), source: None, line: None, column: None, message: msg.to_string(), hint: None }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::custom(format!("unknown field `{field}`, expected {}", one_of(expected)));
        e.hint = closest(field, expected);
        e
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::custom(format!("unknown value `{variant}`, expected {}", one_of(expected)));
        e.hint = closest(variant, expected);
        e
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::custom(format!("missing required field `{field}`"))
    }
}

/// Deserialize from a spanned value.
pub struct Deserializer<'a>(pub &'a Spanned);

type R<T> = Result<T, DeError>;

impl<'a> Deserializer<'a> {
    fn invalid(&self, expected: &str) -> DeError {
        let found = match &self.0.value {
            Value::Null => "null".to_string(),
            Value::Scalar { text, .. } => format!("`{text}`"),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        };
        DeError::custom(format!("expected {expected}, found {found}")).located(self.0)
    }

    fn plain(&self) -> Option<(&'a str, PlainKind)> {
        match &self.0.value {
            Value::Scalar { text, plain: true } => Some((text, plain_kind(text))),
            _ => None,
        }
    }
}

impl<'de, 'a> de::Deserializer<'de> for Deserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        let v = self.0;
        let result = match &v.value {
            Value::Null => visitor.visit_unit(),
            Value::Scalar { text, plain: false } => visitor.visit_str(text),
            Value::Scalar { text, plain: true } => match plain_kind(text) {
                PlainKind::Null => visitor.visit_unit(),
                PlainKind::Bool => visitor.visit_bool(text.eq_ignore_ascii_case("true")),
                PlainKind::Int => visitor.visit_i64(text.parse().expect("checked")),
                PlainKind::Float => visitor.visit_f64(text.parse().expect("checked")),
                PlainKind::Str => visitor.visit_str(text),
            },
            Value::Seq(items) => visitor.visit_seq(Seq { items: items.iter(), index: 0 }),
            Value::Map(entries) => visitor.visit_map(Map { entries: entries.iter(), value: None }),
        };
        result.map_err(|e| e.located(v))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match self.plain() {
            Some((text, PlainKind::Bool)) => visitor.visit_bool(text.eq_ignore_ascii_case("true")),
            _ => Err(self.invalid("a boolean (true or false)")),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match self.plain().and_then(|(t, _)| t.parse::<u64>().ok()) {
            Some(n) => visitor.visit_u64(n),
            None => Err(self.invalid("a non-negative integer")),
        }
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        // Any scalar is a string where a string is wanted: `--set x=true` or `exclude: [no]`
        // must not turn into a bool on the way.
        match &self.0.value {
            Value::Scalar { text, .. } => visitor.visit_str(text).map_err(|e: DeError| e.located(self.0)),
            _ => Err(self.invalid("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match &self.0.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match &self.0.value {
            Value::Seq(items) => visitor.visit_seq(Seq { items: items.iter(), index: 0 }),
            Value::Null => visitor.visit_seq(Seq { items: [].iter(), index: 0 }),
            _ => Err(self.invalid("a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        match &self.0.value {
            // A missing required field is found only at the end of the mapping: name the mapping.
            Value::Map(entries) => {
                visitor.visit_map(Map { entries: entries.iter(), value: None }).map_err(|e| e.located(self.0))
            }
            Value::Null => visitor.visit_map(Map { entries: [].iter(), value: None }).map_err(|e| e.located(self.0)),
            _ => Err(self.invalid("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> R<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> R<V::Value> {
        match &self.0.value {
            Value::Scalar { text, .. } => {
                let de: de::value::StrDeserializer<'_, DeError> = text.as_str().into_deserializer();
                visitor.visit_enum(de).map_err(|e| e.located(self.0))
            }
            _ => Err(self.invalid("one of the listed values")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> R<V::Value> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Spanned>,
    index: usize,
}

impl<'de, 'a> SeqAccess<'de> for Seq<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> R<Option<T::Value>> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        // An error of the item's own conversion (`try_from`) is located at the item.
        seed.deserialize(Deserializer(item)).map(Some).map_err(|e| e.located(item).in_field(&format!("[{index}]")))
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (String, Spanned)>,
    value: Option<(&'a str, &'a Spanned)>,
}

impl<'de, 'a> MapAccess<'de> for Map<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> R<Option<K::Value>> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        let de: de::value::StrDeserializer<'_, DeError> = key.as_str().into_deserializer();
        // Name the key's line (a block value starts below it), not a column.
        seed.deserialize(de).map(Some).map_err(|e| {
            let mut e = e.in_field(key).located(value);
            e.line = value.origin.key_line.or(e.line);
            e.column = None;
            e
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> R<V::Value> {
        let (key, value) = self.value.take().expect("value after key");
        seed.deserialize(Deserializer(value)).map_err(|e| e.located(value).in_field(key))
    }
}
