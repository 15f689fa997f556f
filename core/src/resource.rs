//! Kubernetes objects in the stream: a cheap peek at each document, the objects of parsed
//! documents, where each workload kind keeps its pod template, and what a pod spec references.

use crate::yaml::{NodeId, PathSeg, Tree};

/// What a cheap line scan learned about a document without parsing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peek {
    /// The top-level `kind`, if the scan found exactly one written simply.
    pub kind: Option<String>,
    /// The top-level `apiVersion`, likewise.
    pub api_version: Option<String>,
    /// Whether the document is a plain block mapping whose every top-level line the scan
    /// understood. When false, only a full parse can tell what the document is.
    pub simple: bool,
}

/// Scan the top-level lines of a document (those starting in column 0).
///
/// Top-level keys of a block mapping start in column 0 and nothing else can: block scalar and
/// nested content is indented. Anything the scan does not understand makes it give up
/// (`simple: false`), so the caller parses the document instead of guessing.
pub fn peek(text: &str, starts_after_marker: bool) -> Peek {
    let mut peek = Peek { simple: true, ..Peek::default() };
    // A lone CR is a line break to the parser but not to this scan: let the parser decide.
    let bytes = text.as_bytes();
    // NEL, LS and PS are line breaks to YAML 1.1 readers only: such a document is parsed, and
    // the edit layer refuses to change it.
    let yaml11_breaks = has_yaml11_line_break(bytes);
    if yaml11_breaks || memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n')) {
        peek.simple = false;
        return peek;
    }
    let mut kinds = 0;
    let mut versions = 0;
    let bytes = text.as_bytes();
    // Only lines that start in column 0 matter: hop from line start to line start.
    let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    for (i, start) in starts.enumerate() {
        if start >= bytes.len() {
            break;
        }
        let after_marker = i == 0 && starts_after_marker;
        if !after_marker && !may_be_top_level_key(&bytes[start..]) {
            continue;
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |e| start + e);
        let line = &text[start..end];
        if after_marker {
            // The rest of the `---` line: only a comment may follow the marker.
            let rest = line.trim();
            if !(rest.is_empty() || rest.starts_with('#')) {
                peek.simple = false;
            }
            continue;
        }
        let Some((key, rest)) = split_plain_key(line) else {
            peek.simple = false;
            continue;
        };
        let slot = match key {
            "kind" => {
                kinds += 1;
                &mut peek.kind
            }
            "apiVersion" => {
                versions += 1;
                &mut peek.api_version
            }
            _ => continue,
        };
        match simple_value(rest) {
            Some(v) => *slot = Some(v.to_string()),
            None => peek.simple = false,
        }
    }
    if kinds != 1 || versions > 1 {
        peek.simple = false;
    }
    peek
}

/// Whether `bytes` hold NEL (C2 85), LS (E2 80 A8) or PS (E2 80 A9), in one pass over the lead
/// bytes rather than one search per character.
fn has_yaml11_line_break(bytes: &[u8]) -> bool {
    memchr::memchr2_iter(0xC2, 0xE2, bytes).any(|i| match bytes[i] {
        0xC2 => bytes.get(i + 1) == Some(&0x85),
        _ => bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)),
    })
}

/// Whether a line (given from its first byte) can hold a top-level key. Skipped: blank lines,
/// indented content, comments, and block sequence entries of the key above (a sequence may sit
/// at the same indentation as its key: `subjects:\n- kind: User`).
fn may_be_top_level_key(line: &[u8]) -> bool {
    !matches!(line, [] | [b' ' | b'\t' | b'\r' | b'\n' | b'#', ..] | [b'-'] | [b'-', b' ' | b'\t' | b'\r' | b'\n', ..])
}

/// `key: rest` where key is a plain word; None for anything else.
fn split_plain_key(line: &str) -> Option<(&str, &str)> {
    let colon = line.find(':')?;
    let key = &line[..colon];
    let ok = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'));
    let rest = &line[colon + 1..];
    let sep_ok = rest.is_empty() || rest.starts_with([' ', '\t', '\r']);
    (ok && sep_ok).then_some((key, rest))
}

/// A one-line plain or simply quoted value with an optional trailing comment.
fn simple_value(rest: &str) -> Option<&str> {
    let rest = rest.trim();
    let rest = match rest.find(" #") {
        Some(i) => rest[..i].trim_end(),
        None => rest,
    };
    let unquoted = if rest.len() >= 2
        && ((rest.starts_with('"') && rest.ends_with('"')) || (rest.starts_with('\'') && rest.ends_with('\'')))
    {
        &rest[1..rest.len() - 1]
    } else {
        rest
    };
    let ok = !unquoted.is_empty()
        && unquoted.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-' | b'_'));
    ok.then_some(unquoted)
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Where an object sits in a parsed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// The document root.
    Root,
    /// Item `i` of a `kind: List` document.
    ListItem(usize),
}

/// A Kubernetes object found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The segment index of its document.
    pub segment: usize,
    /// 1-based number of the document among non-empty documents.
    pub doc_number: usize,
    /// Where in the document.
    pub place: Place,
    /// Its mapping node in the document's tree.
    pub node: NodeId,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if written and not empty.
    pub namespace: Option<String>,
}

impl Object {
    /// The API group.
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }

    /// Whether the object is of `group` and `kind` (`""` is the core group).
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.kind == kind && self.group() == group
    }

    /// `Kind/name` or `Kind/namespace/name`, as kubectl prints references.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Whether two objects can be in the same namespace. An object without a namespace takes the
/// release namespace, which a post-renderer is not always told, so it matches any.
pub fn namespaces_match(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// The mapping node of an object in its document's tree.
pub fn object_node(tree: &Tree, place: Place) -> Option<NodeId> {
    let root = tree.root()?;
    match place {
        Place::Root => Some(root),
        Place::ListItem(i) => tree.get(root, "items").and_then(|items| tree.items(items).get(i).copied()),
    }
}

/// A workload kind and the path of its pod template (empty: the object is the pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadKind {
    /// API group (`apps`, `` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Mapping keys from the object to the pod template.
    pub template_path: Vec<String>,
}

/// The built-in workload kinds (Kubernetes' own, Argo Rollouts). Config can add more.
pub fn builtin_workloads() -> Vec<WorkloadKind> {
    builtin_workload_table().to_vec()
}

/// [`builtin_workloads`], made once: for callers that look a kind up per object.
pub fn builtin_workload_table() -> &'static [WorkloadKind] {
    static TABLE: std::sync::OnceLock<Vec<WorkloadKind>> = std::sync::OnceLock::new();
    TABLE.get_or_init(make_builtin_workloads)
}

fn make_builtin_workloads() -> Vec<WorkloadKind> {
    const TEMPLATE: &[&str] = &["spec", "template"];
    let table: &[(&str, &str, &[&str])] = &[
        ("apps", "Deployment", TEMPLATE),
        ("apps", "StatefulSet", TEMPLATE),
        ("apps", "DaemonSet", TEMPLATE),
        ("apps", "ReplicaSet", TEMPLATE),
        ("", "ReplicationController", TEMPLATE),
        ("batch", "Job", TEMPLATE),
        ("batch", "CronJob", &["spec", "jobTemplate", "spec", "template"]),
        ("argoproj.io", "Rollout", TEMPLATE),
        ("", "PodTemplate", &["template"]),
        ("", "Pod", &[]),
    ];
    table
        .iter()
        .map(|(g, k, p)| WorkloadKind {
            group: g.to_string(),
            kind: k.to_string(),
            template_path: p.iter().map(|s| s.to_string()).collect(),
        })
        .collect()
}

/// The kind of object a pod spec references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefKind {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
}

impl RefKind {
    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            RefKind::ConfigMap => "ConfigMap",
            RefKind::Secret => "Secret",
        }
    }
}

/// One reference from a pod spec to a ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// What is referenced.
    pub kind: RefKind,
    /// Its name.
    pub name: String,
    /// How, for the report: `volume config`, `envFrom of container app`, `env DB_URL of container app`.
    pub via: String,
}

/// The container lists of a pod spec, in the order Kubernetes starts them.
pub const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// One container of a pod spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `initContainers`, `containers` or `ephemeralContainers`.
    pub list: &'static str,
    /// Its index in that list.
    pub index: usize,
    /// Its mapping node.
    pub node: NodeId,
    /// Its `name`.
    pub name: String,
}

impl Container {
    /// `container app`, `initContainer migrate`, for reports.
    pub fn describe(&self) -> String {
        let what = if self.list == "containers" { "container" } else { &self.list[..self.list.len() - 1] };
        format!("{what} {}", self.name)
    }

    /// The path of the container under the pod spec (`containers[0]`).
    pub fn path(&self) -> Vec<PathSeg> {
        vec![PathSeg::from(self.list), PathSeg::Index(self.index)]
    }
}

/// Every container of a pod spec: init, regular, then ephemeral.
pub fn containers(tree: &Tree, pod_spec: NodeId) -> Vec<Container> {
    let mut out = Vec::new();
    for list in CONTAINER_LISTS {
        let Some(items) = tree.get(pod_spec, list) else {
            continue;
        };
        for (index, &node) in tree.items(items).iter().enumerate() {
            let node = tree.resolved(node);
            if !tree.is_mapping(node) {
                continue;
            }
            let name = tree.str_at(node, &["name"]).unwrap_or("?").to_string();
            out.push(Container { list, index, node, name });
        }
    }
    out
}

/// Every ConfigMap and Secret a pod spec uses for its content (what kubelet mounts or injects):
/// volumes (also projected sources), `envFrom` and `env[].valueFrom` of all containers, init
/// containers and ephemeral containers. Image pull secrets and volume-plugin credentials are not
/// content the pod sees, so a change to them does not need a restart.
pub fn pod_references(tree: &Tree, pod_spec: NodeId) -> Vec<Reference> {
    let mut refs = Vec::new();
    let mut push = |kind, name: Option<&str>, via: String| {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            refs.push(Reference { kind, name: name.to_string(), via });
        }
    };
    if let Some(volumes) = tree.get(pod_spec, "volumes") {
        for &vol in tree.items(volumes) {
            let vol_name = tree.str_at(vol, &["name"]).unwrap_or("?");
            push(RefKind::ConfigMap, tree.str_at(vol, &["configMap", "name"]), format!("volume {vol_name}"));
            push(RefKind::Secret, tree.str_at(vol, &["secret", "secretName"]), format!("volume {vol_name}"));
            if let Some(sources) = tree.path(vol, &["projected", "sources"]) {
                for &src in tree.items(sources) {
                    let via = format!("projected volume {vol_name}");
                    push(RefKind::ConfigMap, tree.str_at(src, &["configMap", "name"]), via.clone());
                    push(RefKind::Secret, tree.str_at(src, &["secret", "name"]), via);
                }
            }
        }
    }
    for c in containers(tree, pod_spec) {
        let what = c.describe();
        if let Some(env_from) = tree.get(c.node, "envFrom") {
            for &e in tree.items(env_from) {
                let via = format!("envFrom of {what}");
                push(RefKind::ConfigMap, tree.str_at(e, &["configMapRef", "name"]), via.clone());
                push(RefKind::Secret, tree.str_at(e, &["secretRef", "name"]), via);
            }
        }
        if let Some(env) = tree.get(c.node, "env") {
            for &e in tree.items(env) {
                let var = tree.str_at(e, &["name"]).unwrap_or("?");
                let via = format!("env {var} of {what}");
                push(RefKind::ConfigMap, tree.str_at(e, &["valueFrom", "configMapKeyRef", "name"]), via.clone());
                push(RefKind::Secret, tree.str_at(e, &["valueFrom", "secretKeyRef", "name"]), via);
            }
        }
    }
    refs
}

/// The objects of a document's tree: its root, or the items of a `*List`; those without
/// `apiVersion` and `kind` are not objects.
pub fn objects_of(tree: &Tree, segment: usize, doc_number: usize) -> Vec<Object> {
    let Some(root) = tree.root().filter(|&r| tree.is_mapping(r)) else {
        return Vec::new();
    };
    let mut places = vec![(Place::Root, root)];
    if tree.str_at(root, &["kind"]).is_some_and(|k| k.ends_with("List")) {
        if let Some(items) = tree.get(root, "items") {
            places = tree.items(items).iter().enumerate().map(|(i, &n)| (Place::ListItem(i), n)).collect();
        }
    }
    places
        .into_iter()
        .filter(|&(_, node)| tree.is_mapping(node))
        .filter_map(|(place, node)| {
            let api_version = tree.str_at(node, &["apiVersion"])?;
            let kind = tree.str_at(node, &["kind"])?;
            Some(Object {
                segment,
                doc_number,
                place,
                node,
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                name: tree.str_at(node, &["metadata", "name"]).unwrap_or_default().to_string(),
                // An empty namespace is none: the API server gives such an object the request's
                // (k8s.io/apiserver `rest.EnsureObjectNamespaceMatchesRequestNamespace`,
                // staging/src/k8s.io/apiserver/pkg/registry/rest/create.go, kubernetes/kubernetes
                // commit 3e4a7900d75552087b6d82edb80ac44be8f71d67), as for an absent one.
                namespace: tree.str_at(node, &["metadata", "namespace"]).filter(|ns| !ns.is_empty()).map(String::from),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_reads_simple_documents() {
        let p = peek("\n# Source: x\napiVersion: apps/v1\nkind: Deployment # c\nmetadata:\n  kind: nested\n", true);
        assert_eq!(p, Peek { kind: Some("Deployment".into()), api_version: Some("apps/v1".into()), simple: true });
        assert_eq!(peek("kind: 'Secret'\n", false).kind.as_deref(), Some("Secret"));
    }

    #[test]
    fn yaml11_line_breaks_are_found_in_one_pass() {
        for (text, found) in [
            ("a: b\n", false),
            ("a: \u{85}\n", true),
            ("a: \u{2028}\n", true),
            ("a: \u{2029}\n", true),
            // Other characters with the same lead bytes.
            ("a: \u{a0} \u{2020} \u{20ac}\n", false),
            ("a: \u{a0}\u{85}", true),
        ] {
            assert_eq!(has_yaml11_line_break(text.as_bytes()), found, "{text:?}");
            let reference = ["\u{85}", "\u{2028}", "\u{2029}"].iter().any(|b| text.contains(b));
            assert_eq!(found, reference, "{text:?}");
        }
    }

    #[test]
    fn peek_gives_up_on_anything_unusual() {
        for text in [
            "{\"kind\": \"Deployment\"}",
            "- a\n- b\n",
            "- kind: Secret\n",
            "kind: A\nkind: B\n",
            "metadata: {}\n",
            "\"kind\": Secret\n",
            "kind: &k Secret\n",
            "kind: Secret\n? complex\n",
            "plain scalar\n",
        ] {
            assert!(!peek(text, false).simple, "{text:?}");
        }
        assert!(!peek(" {\"kind\": \"Secret\"}\n", true).simple);
    }

    #[test]
    fn finds_every_pod_reference() {
        let text = r#"
volumes:
- name: cfg
  configMap: {name: app-config}
- name: creds
  secret: {secretName: app-secret}
- name: all
  projected:
    sources:
    - configMap: {name: proj-cm}
    - secret: {name: proj-secret}
    - serviceAccountToken: {path: token}
imagePullSecrets: [{name: pull}]
initContainers:
- name: init
  envFrom: [{configMapRef: {name: init-env}}]
containers:
- name: app
  envFrom: [{secretRef: {name: app-env}}]
  env:
  - name: A
    valueFrom: {configMapKeyRef: {name: cm-key, key: a}}
  - name: B
    valueFrom: {secretKeyRef: {name: sec-key, key: b}}
  - name: C
    value: plain
"#;
        let tree = Tree::parse(text, 0).unwrap();
        let refs = pod_references(&tree, tree.root().unwrap());
        let got: Vec<(RefKind, &str, &str)> = refs.iter().map(|r| (r.kind, r.name.as_str(), r.via.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (RefKind::ConfigMap, "app-config", "volume cfg"),
                (RefKind::Secret, "app-secret", "volume creds"),
                (RefKind::ConfigMap, "proj-cm", "projected volume all"),
                (RefKind::Secret, "proj-secret", "projected volume all"),
                (RefKind::ConfigMap, "init-env", "envFrom of initContainer init"),
                (RefKind::Secret, "app-env", "envFrom of container app"),
                (RefKind::ConfigMap, "cm-key", "env A of container app"),
                (RefKind::Secret, "sec-key", "env B of container app"),
            ]
        );
    }
}
