//! One index of a stream's objects for every rule: by kind, by (kind, name), and the pod
//! templates of its workloads by label, each object as the JSON Kubernetes reads.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;

use super::{Finding, IGNORE_ANNOTATION};
use crate::error::Result;
use crate::model;
use crate::resource::objects_of;
use crate::resource::{self, builtin_workload_table, group_of, namespaces_match};
use crate::stream::Stream;
use crate::yaml::Tree;

use crate::parsed::{Known, Parsed};

/// Labels or annotations.
pub type Labels = BTreeMap<String, String>;

/// One object of the stream.
#[derive(Debug, Clone)]
pub struct Obj {
    /// API group (`` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, else the namespace the stream goes to, when known.
    pub namespace: Option<String>,
    /// Whether the namespace was written on the object.
    written_namespace: bool,
    /// 1-based document number.
    pub document: usize,
    /// 1-based line of the object in the stream.
    pub line: usize,
    /// The object as JSON. A workload's pod spec is not in it: it is moved to the workload's
    /// [`Template`] (rules read pod specs there).
    pub value: Json,
}

impl Obj {
    /// `Kind/name` or `Kind/namespace/name` (the namespace as written).
    pub fn display(&self) -> String {
        match (&self.namespace, self.written_namespace) {
            (Some(ns), true) => format!("{}/{}/{}", self.kind, ns, self.name),
            _ => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The value at a path of keys.
    pub fn at(&self, keys: &[&str]) -> &Json {
        at(&self.value, keys)
    }

    /// `metadata.labels`.
    pub fn labels(&self) -> Labels {
        string_map(self.at(&["metadata", "labels"]))
    }

    /// `metadata.annotations`.
    pub fn annotations(&self) -> Labels {
        string_map(self.at(&["metadata", "annotations"]))
    }

    /// Whether `other` (in namespace `ns`) can be in this object's namespace.
    pub fn same_namespace(&self, ns: Option<&str>) -> bool {
        namespaces_match(self.namespace.as_deref(), ns)
    }
}

/// The value at a path of keys, `null` when absent.
pub fn at<'a>(value: &'a Json, keys: &[&str]) -> &'a Json {
    static NULL: Json = Json::Null;
    keys.iter().try_fold(value, |v, k| v.get(*k)).unwrap_or(&NULL)
}

/// A JSON mapping of scalars as strings (labels, annotations, a Service selector).
pub fn string_map(value: &Json) -> Labels {
    value
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| scalar_string(v).map(|s| (k.clone(), s))).collect())
        .unwrap_or_default()
}

/// A scalar as Kubernetes would read it into a string field.
pub fn scalar_string(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integer field (a number, or a string of digits).
pub fn int(v: &Json) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A label selector: `matchLabels` and `matchExpressions`, or a plain map (a Service's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    /// Labels that must be equal.
    pub labels: Labels,
    /// (key, operator, values).
    pub expressions: Vec<(String, String, Vec<String>)>,
}

impl Selector {
    /// A `metav1.LabelSelector`.
    pub fn label_selector(v: &Json) -> Selector {
        let expressions = v
            .get("matchExpressions")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let s = |k: &str| e.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
                let values = e.get("values").and_then(Json::as_array).into_iter().flatten();
                (s("key"), s("operator"), values.filter_map(scalar_string).collect())
            })
            .collect();
        Selector { labels: string_map(at(v, &["matchLabels"])), expressions }
    }

    /// A plain map selector (Service `spec.selector`, Istio `selector.matchLabels`).
    pub fn map(v: &Json) -> Selector {
        Selector { labels: string_map(v), expressions: Vec::new() }
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.expressions.is_empty()
    }

    /// Whether `labels` satisfy it.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|(k, op, values)| match op.as_str() {
                "In" => labels.get(k).is_some_and(|v| values.contains(v)),
                "NotIn" => labels.get(k).is_none_or(|v| !values.contains(v)),
                "Exists" => labels.contains_key(k),
                "DoesNotExist" => !labels.contains_key(k),
                _ => false,
            })
    }
}

/// The pod template of a workload (or a Pod itself).
#[derive(Debug, Clone)]
pub struct Template {
    /// Index of the owning object in [`Index::objects`].
    pub owner: usize,
    /// Pod labels.
    pub labels: Labels,
    /// Pod annotations.
    pub annotations: Labels,
    /// The pod spec.
    pub spec: Json,
}

/// The index of a stream.
#[derive(Debug, Default)]
pub struct Index {
    objects: Vec<Obj>,
    by_kind: HashMap<(String, String), Vec<usize>>,
    by_name: HashMap<(String, String, String), Vec<usize>>,
    templates: Vec<Template>,
    /// Template indexes by one of their labels (`key=value`).
    templates_by_label: HashMap<(String, String), Vec<usize>>,
    /// Services by one of their labels, for the monitors that select them.
    services_by_label: HashMap<(String, String), Vec<usize>>,
    /// HorizontalPodAutoscalers by the kind and name of what they scale.
    autoscalers_by_target: HashMap<(String, String), Vec<usize>>,
    /// Rollouts by the name of the Deployment their `workloadRef` names.
    rollouts_by_workload: HashMap<String, Vec<usize>>,
    /// Objects by document number, for the findings about one.
    by_document: HashMap<usize, Vec<usize>>,
}

/// Kinds no rule reads, by API group: often most of a stream's bytes (CRDs with their
/// schemas, dashboards in ConfigMaps), so the check neither parses nor indexes them. A rule
/// that comes to read one of these must take it off this list; `rules_read_no_unread_kind`
/// (below) fails until it does.
pub const UNREAD_KINDS: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "Secret"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("apiregistration.k8s.io", "APIService"),
];

fn is_unread(api_version: &str, kind: &str) -> bool {
    let group = group_of(api_version);
    UNREAD_KINDS.iter().any(|&(g, k)| g == group && k == kind)
}

/// Which objects an index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Those of kinds some rule reads.
    RuleKinds,
    /// All of them.
    Everything,
}

impl Index {
    /// Parse every document of `text` and index its objects.
    pub fn build(text: &str, namespace: Option<&str>) -> Result<Index> {
        Index::build_parsed(text, namespace, Parsed::default())
    }

    /// Index the objects of every document of `text`, reading the tree `parsed` holds for a
    /// document of equal text (its lines shifted to the document's place) and parsing the
    /// rest: the same objects, lines and values as [`Index::build`] finds. Objects of a kind no
    /// rule reads ([`UNREAD_KINDS`]) are left out, and a document a scan of its top-level lines
    /// shows to be one is not parsed at all.
    pub fn build_parsed(text: &str, namespace: Option<&str>, parsed: Parsed<'_>) -> Result<Index> {
        Index::build_reading(text, namespace, parsed, Reading::RuleKinds)
    }

    /// [`Index::build`] with every object, whatever its kind: the reference the tests hold
    /// the skipping of [`UNREAD_KINDS`] to.
    #[doc(hidden)]
    pub fn build_everything(text: &str, namespace: Option<&str>) -> Result<Index> {
        Index::build_reading(text, namespace, Parsed::default(), Reading::Everything)
    }

    fn build_reading(text: &str, namespace: Option<&str>, mut parsed: Parsed<'_>, reading: Reading) -> Result<Index> {
        let read = |api_version: &str, kind: &str| reading == Reading::Everything || !is_unread(api_version, kind);
        let stream = Stream::split(text);
        let mut index = Index::default();
        let mut number = 0;
        for (segment, seg) in stream.segments.iter().enumerate() {
            if !seg.has_content {
                continue;
            }
            number += 1;
            let doc = stream.segment_text(segment);
            let line_offset = seg.line - 1;
            let (taken, peeked) = match parsed.take(doc, line_offset, seg.after_marker) {
                Some(Known::Tree(taken)) => (Some(taken), None),
                Some(Known::Peek(peek)) => (None, Some(peek)),
                None => (None, None),
            };
            // A document that does not parse is not the check's to judge (a render leaves
            // documents no wiring needs unparsed, and must not fail because of them); nor has
            // one whose root is not a mapping any object.
            let fresh;
            let (tree, add, sub) = match &taken {
                Some(t) => (&t.tree, t.line_offset, t.parsed_offset),
                None => {
                    let peek = peeked.unwrap_or_else(|| resource::peek(doc, seg.after_marker));
                    if let (true, Some(api_version), Some(kind)) = (peek.simple, &peek.api_version, &peek.kind) {
                        // A `List`'s objects are its items, whose kinds only a parse tells.
                        if !kind.ends_with("List") && !read(api_version, kind) {
                            continue;
                        }
                    }
                    crate::progress::step(|| {
                        let kind = peek.kind.as_deref().unwrap_or("unknown kind");
                        format!("parsing document {number} ({kind}, line {})", seg.line)
                    });
                    match Tree::parse(doc, line_offset) {
                        Ok(tree) => {
                            fresh = tree;
                            (&fresh, 0, 0)
                        }
                        Err(_) => continue,
                    }
                }
            };
            for o in objects_of(tree, segment, number).into_iter().filter(|o| read(&o.api_version, &o.kind)) {
                index.add(Obj {
                    group: group_of(&o.api_version).to_string(),
                    written_namespace: o.namespace.is_some(),
                    namespace: o.namespace.clone().or_else(|| namespace.map(String::from)),
                    kind: o.kind,
                    name: o.name,
                    document: o.doc_number,
                    line: tree.node(o.node).line + add - sub,
                    value: model::json(tree, o.node),
                });
            }
        }
        Ok(index)
    }

    /// An index of objects given as JSON, for tests.
    #[cfg(test)]
    pub fn from_objects(objects: Vec<Obj>) -> Index {
        let mut index = Index::default();
        for o in objects {
            index.add(o);
        }
        index
    }

    fn add(&mut self, mut obj: Obj) {
        let i = self.objects.len();
        self.by_kind.entry((obj.group.clone(), obj.kind.clone())).or_default().push(i);
        self.by_name.entry((obj.group.clone(), obj.kind.clone(), obj.name.clone())).or_default().push(i);
        self.by_document.entry(obj.document).or_default().push(i);
        self.add_references(i, &obj);
        if let Some(w) = builtin_workload_table().iter().find(|w| w.group == obj.group && w.kind == obj.kind) {
            let path: Vec<&str> = w.template_path.iter().map(String::as_str).collect();
            let template = path.iter().try_fold(&mut obj.value, |v, k| v.get_mut(*k)).filter(|t| t.is_object());
            if let Some(template) = template {
                let t = self.templates.len();
                let labels = string_map(at(template, &["metadata", "labels"]));
                for (k, v) in &labels {
                    self.templates_by_label.entry((k.clone(), v.clone())).or_default().push(t);
                }
                self.templates.push(Template {
                    owner: i,
                    labels,
                    annotations: string_map(at(template, &["metadata", "annotations"])),
                    // Moved, not copied: a pod spec is most of a workload's JSON.
                    spec: template.get_mut("spec").map(Json::take).unwrap_or(Json::Null),
                });
            }
        }
        self.objects.push(obj);
    }

    /// Index what `obj` selects or names, so that rules look it up instead of scanning.
    fn add_references(&mut self, i: usize, obj: &Obj) {
        match (obj.group.as_str(), obj.kind.as_str()) {
            ("", "Service") => {
                for pair in obj.labels() {
                    self.services_by_label.entry(pair).or_default().push(i);
                }
            }
            ("autoscaling", "HorizontalPodAutoscaler") => {
                let target = obj.at(&["spec", "scaleTargetRef"]);
                let field = |k: &str| target.get(k).and_then(Json::as_str).map(String::from);
                if let (Some(kind), Some(name)) = (field("kind"), field("name")) {
                    self.autoscalers_by_target.entry((kind, name)).or_default().push(i);
                }
            }
            ("argoproj.io", "Rollout") => {
                let workload = obj.at(&["spec", "workloadRef"]);
                if workload.get("kind").and_then(Json::as_str) == Some("Deployment") {
                    if let Some(name) = workload.get("name").and_then(Json::as_str) {
                        self.rollouts_by_workload.entry(name.to_string()).or_default().push(i);
                    }
                }
            }
            _ => {}
        }
    }

    /// The Services `selector` matches (any namespace: callers filter). A selector with labels
    /// looks up the rarest of them; one with only expressions looks at every Service.
    pub fn services_matching<'a>(&'a self, selector: &Selector) -> Vec<&'a Obj> {
        let candidates: Vec<usize> = if selector.labels.is_empty() {
            self.by_kind.get(&(String::new(), "Service".to_string())).cloned().unwrap_or_default()
        } else {
            let lists = selector.labels.iter().map(|(k, v)| {
                self.services_by_label.get(&(k.clone(), v.clone())).map(Vec::as_slice).unwrap_or_default()
            });
            lists.min_by_key(|l| l.len()).unwrap_or_default().to_vec()
        };
        candidates.into_iter().map(|i| &self.objects[i]).filter(|s| selector.matches(&s.labels())).collect()
    }

    /// The HorizontalPodAutoscalers in namespace `ns` that scale `kind` `name`.
    pub fn autoscalers_of<'a>(
        &'a self,
        kind: &str,
        name: &str,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Obj> + 'a {
        let ids = self.autoscalers_by_target.get(&(kind.to_string(), name.to_string()));
        ids.map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|&i| &self.objects[i])
            .filter(move |h| h.same_namespace(ns))
    }

    /// The Rollouts in namespace `ns` whose `workloadRef` names Deployment `name`.
    pub fn rollouts_taking<'a>(&'a self, name: &str, ns: Option<&'a str>) -> impl Iterator<Item = &'a Obj> + 'a {
        let ids = self.rollouts_by_workload.get(name).map(Vec::as_slice).unwrap_or_default();
        ids.iter().map(|&i| &self.objects[i]).filter(move |r| r.same_namespace(ns))
    }

    /// Every object, in stream order.
    pub fn objects(&self) -> &[Obj] {
        &self.objects
    }

    /// The object at `i`.
    pub fn object(&self, i: usize) -> &Obj {
        &self.objects[i]
    }

    /// Objects of a group and kind.
    pub fn of_kind<'a>(&'a self, group: &str, kind: &str) -> impl Iterator<Item = &'a Obj> + 'a {
        let ids = self.by_kind.get(&(group.to_string(), kind.to_string())).map(Vec::as_slice).unwrap_or_default();
        ids.iter().map(move |&i| &self.objects[i])
    }

    /// The object of a group, kind and name that can be in namespace `ns`.
    pub fn find(&self, group: &str, kind: &str, ns: Option<&str>, name: &str) -> Option<&Obj> {
        let key = (group.to_string(), kind.to_string(), name.to_string());
        let ids = self.by_name.get(&key)?;
        ids.iter().map(|&i| &self.objects[i]).find(|o| o.same_namespace(ns))
    }

    /// Whether the stream has any object of `group`.
    pub fn has_group(&self, group: &str) -> bool {
        self.by_kind.keys().any(|(g, _)| g == group)
    }

    /// Every pod template.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// Pod templates in namespace `ns` whose labels `selector` matches. An empty selector
    /// matches every template of the namespace.
    pub fn templates_matching<'a>(&'a self, ns: Option<&str>, selector: &Selector) -> Vec<&'a Template> {
        let candidates: Box<dyn Iterator<Item = usize>> = match selector.labels.iter().next() {
            Some((k, v)) => {
                Box::new(self.templates_by_label.get(&(k.clone(), v.clone())).into_iter().flatten().copied())
            }
            None => Box::new(0..self.templates.len()),
        };
        candidates
            .map(|t| &self.templates[t])
            .filter(|t| self.objects[t.owner].same_namespace(ns) && selector.matches(&t.labels))
            .collect()
    }

    /// Whether the object a finding is about silences its rule.
    pub fn silenced(&self, f: &Finding) -> bool {
        let in_document = self.by_document.get(&f.document).map(Vec::as_slice).unwrap_or_default();
        in_document.iter().map(|&i| &self.objects[i]).filter(|o| o.display() == f.object).any(|o| {
            o.annotations()
                .get(IGNORE_ANNOTATION)
                .is_some_and(|v| v.split(',').map(str::trim).any(|r| r == f.rule || r == "*"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::UNREAD_KINDS;

    /// Every rule's source, where a rule that reads a kind names it as a string.
    const RULES: &[(&str, &str)] = &[
        ("availability.rs", include_str!("availability.rs")),
        ("callers.rs", include_str!("callers.rs")),
        ("identity.rs", include_str!("identity.rs")),
        ("istio.rs", include_str!("istio.rs")),
        ("istio_mtls.rs", include_str!("istio_mtls.rs")),
        ("network.rs", include_str!("network.rs")),
        ("rollouts.rs", include_str!("rollouts.rs")),
        ("mod.rs", include_str!("mod.rs")),
    ];

    #[test]
    fn rules_read_no_unread_kind() {
        for (file, source) in RULES {
            for (_, kind) in UNREAD_KINDS {
                assert!(
                    !source.contains(&format!("\"{kind}\"")),
                    "check/{file} names {kind}, which the index leaves out (UNREAD_KINDS)"
                );
            }
        }
    }
}
