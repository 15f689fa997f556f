//! The one selector every wiring uses to pick objects: group, version, kind, name (exact, glob
//! or regular expression), namespace, Kubernetes label and annotation selectors.
//!
//! ```yaml
//! target: {kind: Deployment, name: "web*", labelSelector: "tier=frontend,env in (prod,stage)"}
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
pub use crate::names::is_label_value;
use crate::resource::Object;
use crate::workspace::Workspace;
use crate::yaml::{NodeId, Tree};

/// Which objects a wiring, patch or template applies to. Every field given must match; an empty
/// selector matches every object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// API group: `apps`, `networking.istio.io`; `""` for the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version within the group: `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind: `Deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name, exact or a glob with `*` and `?`: `web`, `web-*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Name as a regular expression that must match the whole name: `web-(api|ui)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_regex: Option<NameRegex>,
    /// Namespace, exact or a glob. An object without a namespace matches only when the render's
    /// namespace (`--namespace`) matches, or when it is not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A Kubernetes label selector: `app=web,tier!=db,env in (prod,stage),!legacy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// The same syntax over annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<LabelSelector>,
    /// A selector that matches nothing is an error (a typo would otherwise do nothing
    /// silently) unless it is optional.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl Selector {
    /// A selector for one kind (and optionally one name).
    pub fn kind(kind: &str) -> Selector {
        Selector { kind: Some(kind.to_string()), ..Selector::default() }
    }

    /// Whether `obj` (whose mapping is `obj.node` in `tree`) is selected. `namespace` is the
    /// render's namespace, when known.
    pub fn matches(&self, tree: &Tree, obj: &Object, namespace: Option<&str>) -> bool {
        let (group, version) = match obj.api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", obj.api_version.as_str()),
        };
        let glob = |pattern: &Option<String>, value: &str| {
            pattern.as_deref().is_none_or(|p| glob_matches(p.as_bytes(), value.as_bytes()))
        };
        self.group.as_deref().is_none_or(|g| g == group)
            && self.version.as_deref().is_none_or(|v| v == version)
            && self.kind.as_deref().is_none_or(|k| k == obj.kind)
            && glob(&self.name, &obj.name)
            && self.name_regex.as_ref().is_none_or(|r| r.0.is_match(&obj.name))
            && self.namespace.as_deref().is_none_or(|ns| match obj.namespace.as_deref().or(namespace) {
                Some(actual) => glob_matches(ns.as_bytes(), actual.as_bytes()),
                None => true,
            })
            && self.label_selector.as_ref().is_none_or(|s| s.matches(tree, obj.node, "labels"))
            && self.annotation_selector.as_ref().is_none_or(|s| s.matches(tree, obj.node, "annotations"))
    }
}

impl Selector {
    /// The objects it selects (each object's document parsed). One that matches nothing is an
    /// error naming the selector at its config `path` (`patches[2].target`), unless it is optional.
    pub fn pick<'o>(
        &self,
        ws: &Workspace<'_>,
        objects: &'o [Object],
        namespace: Option<&str>,
        path: &str,
    ) -> Result<Vec<&'o Object>> {
        let hits: Vec<&Object> = objects.iter().filter(|o| self.matches(ws.tree(o.segment), o, namespace)).collect();
        if hits.is_empty() && !self.optional && ws.targets_must_match() {
            return Err(Error::new(ErrorKind::Config, format!("the target {self} matches no object"))
                .with_path(path)
                .with_hint("check the kind, name and selectors, or mark the target `optional: true`"));
        }
        Ok(hits)
    }
}

impl fmt::Display for Selector {
    /// `Deployment web-* (tier=frontend)`, for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(g) = &self.group {
            parts.push(if g.is_empty() { "core group".to_string() } else { format!("group {g}") });
        }
        parts.push(self.kind.clone().unwrap_or_else(|| "any kind".into()));
        if let Some(n) = &self.name {
            parts.push(n.clone());
        }
        if let Some(r) = &self.name_regex {
            parts.push(format!("/{}/", r.0.as_str().trim_start_matches("^(?:").trim_end_matches(")$")));
        }
        if let Some(ns) = &self.namespace {
            parts.push(format!("in {ns}"));
        }
        if let Some(l) = &self.label_selector {
            parts.push(format!("({l})"));
        }
        if let Some(a) = &self.annotation_selector {
            parts.push(format!("(annotations {a})"));
        }
        f.write_str(&parts.join(" "))
    }
}

/// A regular expression over the whole name.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct NameRegex(regex_lite::Regex);

impl PartialEq for NameRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl TryFrom<String> for NameRegex {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        regex_lite::Regex::new(&format!("^(?:{s})$"))
            .map(NameRegex)
            .map_err(|e| format!("`{s}` is not a regular expression: {e}"))
    }
}

impl From<NameRegex> for String {
    fn from(r: NameRegex) -> String {
        r.0.as_str().trim_start_matches("^(?:").trim_end_matches(")$").to_string()
    }
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A Kubernetes label selector in its string form (`kubectl get -l`): requirements joined by
/// commas, each `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)` or
/// `key notin (a,b)`. An empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct LabelSelector {
    text: String,
    requirements: Vec<Requirement>,
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<LabelSelector> for String {
    fn from(s: LabelSelector) -> String {
        s.text
    }
}

impl TryFrom<String> for LabelSelector {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        LabelSelector::parse(&text)
    }
}

/// Whether `s` is a valid label key (an optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 characters: alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric).
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(crate::generate::is_dns_subdomain) && is_label_value(name) && !name.is_empty()
}

impl LabelSelector {
    /// Parse the string form; the error names the requirement that is wrong.
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        let mut parts = Vec::new();
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        for part in parts {
            let p = part.trim();
            if p.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(format!("label selector `{text}` has an empty requirement"));
            }
            requirements.push(parse_requirement(p).map_err(|why| format!("label selector `{text}`: `{p}`: {why}"))?);
        }
        Ok(LabelSelector { text: text.to_string(), requirements })
    }

    /// Whether the labels (or annotations, `field`) of the object at `node` satisfy it.
    pub fn matches(&self, tree: &Tree, node: NodeId, field: &str) -> bool {
        let value = |key: &str| tree.path(node, &["metadata", field, key]).and_then(|v| tree.string(v));
        self.requirements.iter().all(|r| match r {
            Requirement::Exists(k) => value(k).is_some(),
            Requirement::NotExists(k) => value(k).is_none(),
            Requirement::In(k, vs) => value(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            Requirement::NotIn(k, vs) => value(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
        })
    }
}

fn key(k: &str) -> Result<String, String> {
    let k = k.trim();
    if is_label_key(k) {
        Ok(k.to_string())
    } else {
        Err(format!("`{k}` is not a valid label key"))
    }
}

fn value(v: &str) -> Result<String, String> {
    let v = v.trim();
    if is_label_value(v) {
        Ok(v.to_string())
    } else {
        Err(format!("`{v}` is not a valid label value"))
    }
}

fn parse_requirement(p: &str) -> Result<Requirement, String> {
    if let Some(k) = p.strip_prefix('!') {
        return Ok(Requirement::NotExists(key(k)?));
    }
    if let Some((k, v)) = p.split_once("!=") {
        return Ok(Requirement::NotIn(key(k)?, vec![value(v)?]));
    }
    if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
        return Ok(Requirement::In(key(k)?, vec![value(v)?]));
    }
    for (op, negate) in [(" notin ", true), (" in ", false)] {
        if let Some((k, set)) = p.split_once(op) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("the values after `{}` go in parentheses", op.trim()))?;
            let values = inner.split(',').map(value).collect::<Result<Vec<_>, _>>()?;
            let k = key(k)?;
            return Ok(if negate { Requirement::NotIn(k, values) } else { Requirement::In(k, values) });
        }
    }
    Ok(Requirement::Exists(key(p)?))
}

/// Whether `text` matches a glob with `*` (any run) and `?` (any one byte).
pub fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_matches(&pattern[1..], text) || (!text.is_empty() && glob_matches(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => glob_matches(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob_matches(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Place;

    fn object(text: &str) -> (Tree, Object) {
        let tree = Tree::parse(text, 0).unwrap();
        let root = tree.root().unwrap();
        let obj = Object {
            segment: 0,
            doc_number: 1,
            place: Place::Root,
            node: root,
            api_version: tree.str_at(root, &["apiVersion"]).unwrap().into(),
            kind: tree.str_at(root, &["kind"]).unwrap().into(),
            name: tree.str_at(root, &["metadata", "name"]).unwrap().into(),
            namespace: tree.str_at(root, &["metadata", "namespace"]).map(String::from),
        };
        (tree, obj)
    }

    const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-api\n  namespace: shop\n  labels: {tier: frontend, env: prod}\n  annotations: {owner: payments}\n";

    #[test]
    fn every_field_narrows_the_match() {
        let (tree, obj) = object(WEB);
        let sel = |yaml: &str| -> Selector { serde_json::from_str(yaml).unwrap() };
        let cases = [
            (r#"{}"#, true),
            (r#"{"kind": "Deployment", "name": "web-*"}"#, true),
            (r#"{"kind": "Deployment", "name": "web"}"#, false),
            (r#"{"group": "apps", "version": "v1"}"#, true),
            (r#"{"group": ""}"#, false),
            (r#"{"nameRegex": "web-(api|ui)"}"#, true),
            (r#"{"nameRegex": "web"}"#, false),
            (r#"{"namespace": "sh*"}"#, true),
            (r#"{"namespace": "other"}"#, false),
            (r#"{"labelSelector": "tier=frontend,env in (prod, stage)"}"#, true),
            (r#"{"labelSelector": "tier!=frontend"}"#, false),
            (r#"{"labelSelector": "!legacy,env notin (dev)"}"#, true),
            (r#"{"labelSelector": "legacy"}"#, false),
            (r#"{"annotationSelector": "owner==payments"}"#, true),
        ];
        for (json, want) in cases {
            assert_eq!(sel(json).matches(&tree, &obj, None), want, "{json}");
        }
    }

    #[test]
    fn namespaceless_objects_take_the_render_namespace() {
        let (tree, obj) = object(&WEB.replace("  namespace: shop\n", ""));
        let sel = Selector { namespace: Some("shop".into()), ..Selector::default() };
        assert!(sel.matches(&tree, &obj, None));
        assert!(sel.matches(&tree, &obj, Some("shop")));
        assert!(!sel.matches(&tree, &obj, Some("other")));
    }

    #[test]
    fn a_target_that_matches_nothing_is_an_error_unless_optional() {
        let mut ws = Workspace::new(WEB);
        ws.parse(0).unwrap();
        let objects = ws.objects();
        let sel = Selector { kind: Some("Service".into()), ..Selector::default() };
        let err = sel.pick(&ws, &objects, None, "patches[1].target").unwrap_err().to_string();
        assert!(
            err.contains("patches[1].target: the target Service matches no object") && err.contains("optional"),
            "{err}"
        );
        let optional = Selector { optional: true, ..sel };
        assert!(optional.pick(&ws, &objects, None, "patches[1]").unwrap().is_empty());
        assert_eq!(Selector::kind("Deployment").pick(&ws, &objects, None, "x").unwrap().len(), 1);
    }

    #[test]
    fn bad_selectors_say_which_requirement() {
        for (text, why) in [
            ("a=b,,c", "empty requirement"),
            ("env in prod", "parentheses"),
            ("tier=front end", "not a valid label value"),
            ("-x", "not a valid label key"),
        ] {
            let err = LabelSelector::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(serde_json::from_str::<Selector>(r#"{"nameRegex": "("}"#)
            .unwrap_err()
            .to_string()
            .contains("regular expression"));
        assert_eq!(
            serde_json::from_str::<Selector>(r#"{"kind": "Deployment", "name": "web*", "labelSelector": "a=b"}"#)
                .unwrap()
                .to_string(),
            "Deployment web* (a=b)"
        );
    }
}
