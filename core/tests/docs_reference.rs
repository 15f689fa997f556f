//! The reference pages `docs/reference/config.md` and `docs/reference/report.md` are generated
//! from the JSON Schemas `postwire schema config` and `postwire schema report` print, so they
//! cannot drift from what postwire accepts and writes. `scripts/docs-reference.sh` rewrites them
//! (`POSTWIRE_BLESS=1`); this test fails while a committed page differs from the generated one.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// One table row: a key path and what the schema says about it.
struct Row {
    path: String,
    kind: String,
    default: String,
    meaning: String,
}

struct Walker<'a> {
    root: &'a Value,
    rows: Vec<Row>,
}

impl<'a> Walker<'a> {
    /// `#/$defs/Name` → the definition.
    fn resolve(&self, node: &'a Value) -> (&'a Value, Option<String>) {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap().to_string();
                let def = self.root.pointer(&r[1..]).unwrap_or_else(|| panic!("dangling {r}"));
                (def, Some(name))
            }
            None => (node, None),
        }
    }

    /// The alternatives of `anyOf`/`oneOf`, less `null` (an optional field).
    fn alternatives(&self, node: &'a Value) -> Vec<&'a Value> {
        let alts = node.get("anyOf").or_else(|| node.get("oneOf")).and_then(Value::as_array);
        alts.map(|a| a.iter().filter(|s| s.get("type").and_then(Value::as_str) != Some("null")).collect())
            .unwrap_or_default()
    }

    fn walk(&mut self, node: &'a Value, path: &str, seen: &BTreeSet<String>) {
        let (resolved, name) = self.resolve(node);
        if let Some(name) = &name {
            if seen.contains(name) {
                return; // a recursive type: its keys are listed where it first appears
            }
        }
        let mut seen = seen.clone();
        seen.extend(name);
        let alts = self.alternatives(resolved);
        let body = if alts.len() == 1 { self.resolve(alts[0]).0 } else { resolved };
        let constants = constants(&alts).or_else(|| constants(&self.alternatives(body)));
        if !path.is_empty() {
            let description = [node, resolved, body].iter().find_map(|n| n.get("description")?.as_str());
            // A mapping's default is the sum of its keys' defaults, listed on their rows.
            let default = [node, resolved, body].iter().find_map(|n| n.get("default")).filter(|d| !d.is_object());
            let mut meaning = meaning(description, body);
            if let Some(constants) = &constants {
                for (value, doc) in constants {
                    let _ = write!(meaning, "<br>`{value}`: {doc}");
                }
            }
            self.rows.push(Row {
                path: path.to_string(),
                kind: match &constants {
                    Some(c) => c.iter().map(|(v, _)| format!("`{v}`")).collect::<Vec<_>>().join(" \\| "),
                    None => self.kind(body),
                },
                default: default.map(|d| format!("`{d}`")).unwrap_or_default(),
                meaning,
            });
        }
        if constants.is_some() {
            return;
        }
        if alts.len() > 1 {
            for alt in alts {
                self.walk(alt, path, &seen);
            }
            return;
        }
        self.children(body, path, &seen);
    }

    fn children(&mut self, body: &'a Value, path: &str, seen: &BTreeSet<String>) {
        let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
        if let Some(props) = body.get("properties").and_then(Value::as_object) {
            for (key, prop) in props {
                self.walk(prop, &join(key), seen);
            }
        }
        if let Some(extra @ Value::Object(_)) = body.get("additionalProperties") {
            self.walk(extra, &join("<name>"), seen);
        }
        if let Some(items) = body.get("items") {
            if has_keys(self.resolve(items).0) {
                self.walk(items, &format!("{path}[]"), seen);
            }
        }
    }

    fn kind(&self, body: &Value) -> String {
        if let Some(values) = body.get("enum").and_then(Value::as_array) {
            return values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" \\| ");
        }
        let alts = self.alternatives(body);
        if alts.len() > 1 {
            return alts.iter().map(|a| self.kind(self.resolve(a).0)).collect::<Vec<_>>().join(" or ");
        }
        let types: Vec<&str> = match body.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
            _ => vec![],
        };
        let types: Vec<String> = types
            .iter()
            .map(|t| match *t {
                "array" => match body.get("items") {
                    Some(items) => format!("list of {}", self.kind(self.resolve(items).0)),
                    None => "list".into(),
                },
                "object" if body.get("properties").is_none() => match body.get("additionalProperties") {
                    Some(v @ Value::Object(_)) => format!("map of {}", self.kind(self.resolve(v).0)),
                    _ => "mapping".into(),
                },
                "object" => "mapping".into(),
                other => other.into(),
            })
            .collect();
        if types.is_empty() {
            "any".into()
        } else {
            types.join(" or ")
        }
    }
}

/// Alternatives that are each one constant (a documented string enum): value and description.
fn constants(alts: &[&Value]) -> Option<Vec<(Value, String)>> {
    if alts.len() < 2 {
        return None;
    }
    alts.iter()
        .map(|a| {
            let value = a.get("const").or_else(|| a.get("enum")?.as_array().filter(|e| e.len() == 1)?.first())?;
            let doc = a.get("description").and_then(Value::as_str).unwrap_or_default();
            Some((value.clone(), doc.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")))
        })
        .collect()
}

fn has_keys(node: &Value) -> bool {
    node.get("properties").is_some() || node.get("anyOf").is_some() || node.get("oneOf").is_some()
}

/// The description and the constraints a reader needs (pattern, bounds).
fn meaning(description: Option<&str>, body: &Value) -> String {
    let mut out = description.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
    let mut limits = Vec::new();
    if let Some(p) = body.get("pattern").and_then(Value::as_str) {
        limits.push(format!("matches `{p}`"));
    }
    for (key, word) in [("minimum", "at least"), ("maximum", "at most"), ("maxLength", "at most (characters)")] {
        // An unsigned integer's `minimum: 0` says nothing a reader needs.
        if let Some(n) = body.get(key).filter(|n| !(key == "minimum" && n.as_f64() == Some(0.0))) {
            limits.push(format!("{word} {n}"));
        }
    }
    if body.get("required").is_some() {
        let required: Vec<String> = body["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|r| format!("`{r}`"))
            .collect();
        if !required.is_empty() {
            limits.push(format!("requires {}", required.join(", ")));
        }
    }
    if !limits.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "({})", limits.join("; "));
    }
    out.replace('|', "\\|")
}

fn page(title: &str, command: &str, schema: &Value) -> String {
    let mut walker = Walker { root: schema, rows: Vec::new() };
    walker.walk(schema, "", &BTreeSet::new());
    let obj: &Map<String, Value> = schema.as_object().unwrap();
    let mut out = format!("# {title}\n\n");
    out.push_str("<!-- Generated from the JSON Schema by core/tests/docs_reference.rs (`scripts/docs-reference.sh` rewrites it); do not edit. -->\n\n");
    if let Some(d) = obj.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{d}\n");
    }
    let id = obj.get("$id").and_then(Value::as_str).unwrap_or_default();
    let _ = writeln!(out, "`{command}` prints the schema (`$id` `{id}`). `<name>` stands for a key you choose.\n");
    out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
    for row in walker.rows {
        let _ = writeln!(out, "| `{}` | {} | {} | {} |", row.path, row.kind, row.default, row.meaning);
    }
    out
}

fn check_or_bless(path: &Path, text: &str) {
    if std::env::var_os("POSTWIRE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == text, "{} is stale: run scripts/docs-reference.sh", path.display());
}

#[test]
fn config_reference_is_generated_from_the_schema() {
    let schema: Value = serde_json::from_str(&postwire_core::pipeline::json_schema()).unwrap();
    let text = page("Config reference", "postwire schema config", &schema);
    for key in ["checksum.mode", "istio.gateways.<name>.hosts", "workloads[].podTemplatePath"] {
        assert!(text.contains(&format!("| `{key}` |")), "no row for {key}:\n{text}");
    }
    check_or_bless(&workspace().join("docs/reference/config.md"), &text);
}

#[test]
fn report_reference_is_generated_from_the_schema() {
    let schema = std::fs::read_to_string(workspace().join("host/src/report.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&schema).unwrap();
    let text = page("Report reference", "postwire schema report", &schema);
    for key in ["summary.changed", "documents[].changes[].reason"] {
        assert!(text.contains(&format!("| `{key}` |")), "no row for {key}:\n{text}");
    }
    check_or_bless(&workspace().join("docs/reference/report.md"), &text);
}
