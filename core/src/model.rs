//! A document's value as Kubernetes reads it: the JSON that Go's yaml.v2 (the decoder behind
//! kubectl and Helm) makes of a node. User patches test and copy values in this model, and
//! templates see objects through it; edits still go through [`crate::edit`] on the text.
//!
//! Plain scalars are typed with yaml.v2's YAML 1.1 rules: `y`/`yes`/`on`… are booleans, `~` and
//! `null` are null, `0x1F`, `0755` and `1_000` are integers, `1.5` and `1e3` are floats;
//! timestamps stay strings (yaml.v2 reads them so into untyped values). Quoted and block
//! scalars are strings; `!!str`, `!!int`, `!!float`, `!!bool` and `!!null` tags are honoured,
//! and a scalar with any other tag is the string it is written as.
//! Aliases are resolved and merge keys (`<<`) merged (explicit keys win).

use serde_json::{Map, Number, Value as Json};

use crate::edit::Value;
use crate::yaml::{NodeId, NodeKind, Style, Tree};

/// The JSON value of a node.
pub fn json(tree: &Tree, id: NodeId) -> Json {
    walk(tree, id, Reading::Typed)
}

/// The JSON of a node with every scalar as the string it is written as, and keys as their
/// text: what checksums hash, so that `1.0` and `1.00` (or `yes` and `true`) are different
/// content, as they are to an application reading the file.
pub fn written_json(tree: &Tree, id: NodeId) -> Json {
    walk(tree, id, Reading::Written)
}

/// How [`walk`] reads scalars and keys.
#[derive(Clone, Copy)]
enum Reading {
    /// As yaml.v2 types them (see the module's comment).
    Typed,
    /// As written.
    Written,
}

/// One walk for both readings: aliases resolved, merge keys (`<<`) merged with explicit keys
/// winning and, among merged mappings, the first.
fn walk(tree: &Tree, id: NodeId, reading: Reading) -> Json {
    let id = tree.resolved(id);
    let node = tree.node(id);
    match &node.kind {
        NodeKind::Scalar { value, .. } if matches!(reading, Reading::Written) => Json::String(value.to_string()),
        NodeKind::Scalar { value, style } => {
            // A tag outside the core schema (`!custom`, the non-specific `!`) keeps the text as
            // a string: yaml.v2's `resolve` returns the value as it is for a tag it cannot
            // resolve (resolve.go, `if !resolvableTag(tag) { return tag, in }`, at
            // github.com/go-yaml/yaml branch v2; the same line in v3 at commit
            // 0d383ff995a5c6f47dd6148a6d01cc195d47af78), so `namespace: !x` is "", not null.
            let tag = node.tag.as_deref().map(|t| t.strip_prefix("tag:yaml.org,2002:").unwrap_or(t));
            match (tag, style) {
                (Some("str"), _) => Json::String(value.to_string()),
                (Some("int" | "float" | "bool" | "null"), _) => plain(value),
                (Some(_), _) => Json::String(value.to_string()),
                (None, Style::Plain) => plain(value),
                (None, _) => Json::String(value.to_string()),
            }
        }
        NodeKind::Sequence { items, .. } => items.iter().map(|&i| walk(tree, i, reading)).collect(),
        NodeKind::Mapping { entries, .. } => {
            let mut map = Map::new();
            let mut merged = Map::new();
            for &(k, v) in entries {
                if tree.is_merge_key(k) {
                    let sources = match &tree.node(tree.resolved(v)).kind {
                        NodeKind::Sequence { items, .. } => items.clone(),
                        _ => vec![v],
                    };
                    for src in sources {
                        if let Json::Object(m) = walk(tree, src, reading) {
                            for (mk, mv) in m {
                                merged.entry(mk).or_insert(mv);
                            }
                        }
                    }
                    continue;
                }
                let key = match reading {
                    Reading::Typed => key(tree, k),
                    Reading::Written => tree.scalar(k).unwrap_or_default().to_string(),
                };
                map.insert(key, walk(tree, v, reading));
            }
            for (k, v) in merged {
                map.entry(k).or_insert(v);
            }
            Json::Object(map)
        }
        // An alias whose anchor is missing does not parse.
        NodeKind::Alias => Json::Null,
    }
}

/// `json(tree, map)[key]`, without building the JSON of the mapping's other keys (that of the
/// whole mapping when it has a merge key, whose sources [`json`] merges): null when `map` is
/// not a mapping or lacks `key`. Keys compare as [`json`] writes them; a repeated key's last
/// value wins.
pub fn field(tree: &Tree, map: NodeId, wanted: &str) -> Json {
    let map = tree.resolved(map);
    if !tree.is_mapping(map) {
        return Json::Null;
    }
    let entries = tree.entries(map);
    if entries.iter().any(|&(k, _)| tree.is_merge_key(k)) {
        return json(tree, map)[wanted].take();
    }
    entries.iter().rev().find(|&&(k, _)| key(tree, k) == wanted).map_or(Json::Null, |&(_, v)| json(tree, v))
}

/// The value of a node to write again, typed like [`json`] but keeping the written key order.
pub fn value(tree: &Tree, id: NodeId) -> Value {
    let id = tree.resolved(id);
    match &tree.node(id).kind {
        NodeKind::Sequence { items, .. } => Value::Seq(items.iter().map(|&i| value(tree, i)).collect()),
        NodeKind::Mapping { entries, .. } if !entries.iter().any(|&(k, _)| tree.is_merge_key(k)) => {
            let mut out: Vec<(String, Value)> = Vec::new();
            for &(k, v) in entries {
                let key = key(tree, k);
                // A repeated key: the last one wins, as for every reader.
                out.retain(|(existing, _)| *existing != key);
                out.push((key, value(tree, v)));
            }
            Value::Map(out)
        }
        _ => Value::from_json(&json(tree, id)),
    }
}

/// A mapping key as a JSON object key: a scalar's text, anything else its JSON.
fn key(tree: &Tree, id: NodeId) -> String {
    match tree.scalar(tree.resolved(id)) {
        Some(s) => s.to_string(),
        None => json(tree, id).to_string(),
    }
}

/// A plain scalar typed as yaml.v2 types it.
pub fn plain(s: &str) -> Json {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => return Json::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Json::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => return Json::Null,
        _ => {}
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Json::String(s.to_string());
    }
    let digits = s.replace('_', "");
    if let Some(n) = parse_int(&digits) {
        return Json::Number(n);
    }
    if is_float(&digits) {
        if let Some(n) = digits.parse::<f64>().ok().and_then(Number::from_f64) {
            return Json::Number(n);
        }
    }
    Json::String(s.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: sign, `0x`/`0o`/`0b` prefixes, a
/// leading `0` for octal.
fn parse_int(s: &str) -> Option<Number> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let v = i64::try_from(magnitude).ok().map(|m| -m).or((magnitude == 1 << 63).then_some(i64::MIN))?;
        Some(Number::from(v))
    } else {
        Some(Number::from(magnitude))
    }
}

/// yaml.v2's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => all_digits(frac),
        Some((int, frac)) => all_digits(int) && (frac.is_empty() || all_digits(frac)),
        None => all_digits(mantissa),
    };
    mantissa_ok && exp.is_none_or(|e| all_digits(e.strip_prefix(['-', '+']).unwrap_or(e)))
}

/// JSON equality as RFC 6902's `test` defines it: numbers are equal when their values are.
pub fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_is_the_field_of_the_whole_mapping() {
        let docs = [
            "a: 1\nb: [x]\n",
            "a: 1\na: 2\n",
            "k: &k b\nm: {*k : 3, c: 4}\n",
            "base: &base {a: 1, b: 2}\nm:\n  <<: *base\n  a: 5\n",
            "base: &base {a: 1}\nm:\n  <<: [*base, {b: 7}]\n",
            "m: &m {a: {x: 1}}\nn: *m\n",
            "m: {? [a] : 1, ? {b: 1} : 2}\n",
            "m: scalar\n",
        ];
        for doc in docs {
            let tree = Tree::parse(doc, 0).unwrap();
            let root = tree.root().unwrap();
            let mut maps = vec![root];
            maps.extend(["m", "n"].iter().filter_map(|k| tree.get(root, k)));
            for map in maps {
                let whole = json(&tree, map);
                for key in ["a", "b", "c", "b", "x", "[\"a\"]", "{\"b\":1}", "missing"] {
                    assert_eq!(field(&tree, map, key), whole[key], "{key} of {doc}");
                }
            }
        }
    }

    fn doc(text: &str) -> Json {
        let tree = Tree::parse(text, 0).unwrap();
        json(&tree, tree.root().unwrap())
    }

    #[test]
    fn plain_scalars_are_typed_like_yaml_v2() {
        let cases = [
            ("yes", json!(true)),
            ("Off", json!(false)),
            ("~", json!(null)),
            ("", json!(null)),
            ("12", json!(12)),
            ("-12", json!(-12)),
            ("0x1F", json!(31)),
            ("0755", json!(493)),
            ("0o17", json!(15)),
            ("0b101", json!(5)),
            ("1_000", json!(1000)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            // Not an octal integer, but yaml.v2's float pattern (PyYAML reads a string).
            ("08", json!(8.0)),
            ("2001-01-01", json!("2001-01-01")),
            ("12:30:45", json!("12:30:45")),
            ("1.2.3", json!("1.2.3")),
            ("web", json!("web")),
            (".inf", json!(".inf")),
        ];
        for (text, want) in cases {
            assert_eq!(plain(text), want, "{text:?}");
        }
    }

    #[test]
    fn documents_resolve_quotes_tags_aliases_and_merge_keys() {
        let v = doc("a: \"1\"\nb: !!str 2\nc: |\n  x\nd: &d {k: on}\ne: *d\nf:\n  <<: *d\n  k: off\n  z: [1, '2']\n");
        assert_eq!(
            v,
            json!({"a": "1", "b": "2", "c": "x\n", "d": {"k": true}, "e": {"k": true}, "f": {"k": false, "z": [1, "2"]}})
        );
    }

    #[test]
    fn scalars_with_a_tag_outside_the_core_schema_are_strings() {
        let v = doc("a: !hop\nb: !custom 12\nc: ! yes\nd: !!str 7\ne: !!int 7\n");
        assert_eq!(v, json!({"a": "", "b": "12", "c": "yes", "d": "7", "e": 7}));
    }

    #[test]
    fn values_keep_key_order() {
        let tree = Tree::parse("b: 1\na: [x, 0.5]\nb: on\n", 0).unwrap();
        let v = value(&tree, tree.root().unwrap());
        assert_eq!(crate::emit::flow(&v), r#"{"a": ["x", 0.5], "b": true}"#);
    }

    #[test]
    fn equality_compares_numbers_by_value() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(equal(&json!({"a": [1, {"b": 2.5}]}), &json!({"a": [1.0, {"b": 2.5}]})));
        assert!(!equal(&json!(1), &json!("1")));
        assert!(!equal(&json!([1, 2]), &json!([2, 1])));
        assert!(!equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }
}
