//! Checksum annotations: roll pods when the ConfigMaps and Secrets they use change.
//!
//! For every workload, find the ConfigMaps and Secrets its pod spec uses (volumes, projected
//! sources, `envFrom`, `env[].valueFrom`; all containers) that are part of the same render,
//! hash their content, and annotate the pod template. A content change changes the template,
//! which rolls the pods — Helm's "automatically roll deployments" without editing the chart.
//!
//! ```yaml
//! # before                                # after (mode: perObject)
//! spec:                                   spec:
//!   template:                               template:
//!     metadata:                               metadata:
//!       labels: {app: web}                      annotations:
//!     spec:                                       checksum/configmap-web: "5d41402abc4b2a76…"
//!       volumes:                                labels: {app: web}
//!       - name: config                        spec:
//!         configMap: {name: web}                volumes: …
//! ```
//!
//! The hash is the SHA-256 of the canonical JSON of `binaryData`, `data` and `stringData`
//! (keys sorted, values as written), so metadata that Helm or Argo CD change does not roll
//! pods. Secret values never reach the report.

use std::collections::{BTreeMap, HashMap};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::digest::{hex, sha256_hex};

use crate::edit::Value;
use crate::error::Result;
use crate::report::{Level, Report};
use crate::resource::{namespaces_match, pod_references, Object, RefKind, WorkloadKind};
use crate::wire::ContextV1;
use crate::workload::{self, Workload};
use crate::workspace::Workspace;
use crate::yaml::{NodeId, PathSeg, Tree};

use super::changes::Changes;
use super::Wiring;

mod config;
pub use config::{
    pattern_matches, patterns, ChecksumConfig, ChecksumMode, JobPolicy, OnExisting, SecretKey, SECRET_KEY_MIN_BYTES,
};

const NAME: &str = "checksum";
/// The per-workload switch: `"false"` opts a workload out, `"true"` opts a Job in.
pub const OPT_ANNOTATION: &str = "postwire.dev/checksum";

/// The checksum wiring, built from its config.
pub struct Checksum {
    config: ChecksumConfig,
    workloads: Vec<WorkloadKind>,
    namespace: Option<String>,
}

/// The ConfigMaps and Secrets of the render by kind and name.
type Contents<'c> = BTreeMap<(RefKind, &'c str), Vec<&'c Content>>;

/// A ConfigMap or Secret of the render and its content hash.
#[derive(Debug, Clone)]
struct Content {
    kind: RefKind,
    name: String,
    namespace: Option<String>,
    hash: String,
}

impl Checksum {
    /// Build the wiring.
    pub fn new(config: &ChecksumConfig, workloads: Vec<WorkloadKind>, context: &ContextV1) -> Self {
        Checksum { config: config.clone(), workloads, namespace: context.namespace.clone() }
    }

    fn namespace_of<'a>(&'a self, obj: &'a Object) -> Option<&'a str> {
        obj.namespace.as_deref().or(self.namespace.as_deref())
    }

    fn counts(&self, kind: RefKind, name: &str) -> bool {
        let k = kind.kind();
        (self.config.include.is_empty() || self.config.include.iter().any(|p| pattern_matches(p, k, name)))
            && !self.config.exclude.iter().any(|p| pattern_matches(p, k, name))
    }

    fn annotation_key(&self, kind: RefKind, name: &str) -> String {
        let mut suffix = format!("{}-{name}", kind.kind().to_ascii_lowercase());
        if suffix.len() > 63 {
            // Annotation names are at most 63 characters: keep a readable head and make it
            // unique with a hash of the full name.
            let mut cut = 54;
            while !suffix.is_char_boundary(cut) {
                cut -= 1;
            }
            suffix = format!("{}-{}", &suffix[..cut], &sha256_hex(name.as_bytes())[..8]);
        }
        format!("{}{suffix}", self.config.annotation_prefix)
    }
}

/// SHA-256 of the canonical content (`binaryData`, `data`, `stringData`) of a ConfigMap or Secret.
pub fn content_hash(tree: &Tree, object: NodeId) -> String {
    sha256_hex(content_json(tree, object).as_bytes())
}

/// HMAC-SHA256 (RFC 2104) of the canonical content under `key`: a checksum that cannot be
/// tested against guessed values without the key.
pub fn keyed_content_hash(key: &[u8], tree: &Tree, object: NodeId) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(content_json(tree, object).as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// The canonical JSON of the content of a ConfigMap or Secret.
fn content_json(tree: &Tree, object: NodeId) -> String {
    let mut content = serde_json::Map::new();
    for field in ["binaryData", "data", "stringData"] {
        let Some(node) = tree.get(object, field) else {
            continue;
        };
        if tree.is_null(node) || (tree.is_mapping(node) && tree.entries(node).is_empty()) {
            continue;
        }
        content.insert(field.to_string(), crate::model::written_json(tree, node));
    }
    serde_json::to_string(&serde_json::Value::Object(content)).expect("JSON of strings serializes")
}

fn aggregate_hash(used: &[(&Content, Vec<String>)]) -> String {
    let mut lines: Vec<String> = used.iter().map(|(c, _)| format!("{}={}\n", c.name, c.hash)).collect();
    lines.sort();
    sha256_hex(lines.concat().as_bytes())
}

impl Wiring for Checksum {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.workloads.iter().map(|w| w.kind.clone()).collect();
        kinds.extend(["ConfigMap".to_string(), "Secret".to_string()]);
        kinds
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let objects = ws.objects();
        let contents: Vec<Content> = objects.iter().filter_map(|obj| self.content(ws, obj)).collect();
        let mut by_name: Contents<'_> = BTreeMap::new();
        for c in &contents {
            by_name.entry((c.kind, c.name.as_str())).or_default().push(c);
        }
        // Where each kind and name is, for `workloadRef`s, without a scan per workload. Not the
        // workspace's index: that is keyed by group too, and a `workloadRef` is matched by kind.
        let mut present: Present<'_> = HashMap::new();
        for o in &objects {
            present.entry((o.kind.as_str(), o.name.as_str())).or_default().push(self.namespace_of(o));
        }
        for (workload, kind) in workload::find(ws, &objects, &self.workloads) {
            let mut changes = Changes::new(NAME, &workload.object);
            self.plan_workload(ws, &workload, &kind, &present, &by_name, &mut changes)?;
            changes.apply(ws, report)?;
        }
        Ok(())
    }
}

/// The namespaces (None: not known) of the render's objects, by kind and name.
type Present<'o> = HashMap<(&'o str, &'o str), Vec<Option<&'o str>>>;

/// Every ConfigMap or Secret of the render a pod uses, once, with every way the pod uses it.
type Used<'c> = Vec<(&'c Content, Vec<String>)>;

/// The annotations to write: key to (hash, reason).
type Wanted = BTreeMap<String, (String, String)>;

impl Checksum {
    /// A core ConfigMap or Secret of the render with its hash (keyed for Secrets when a secret
    /// key is set, so the annotation cannot be tested against guessed values).
    fn content(&self, ws: &Workspace<'_>, obj: &Object) -> Option<Content> {
        let kind = match (obj.group().is_empty(), obj.kind.as_str()) {
            (true, "ConfigMap") => RefKind::ConfigMap,
            (true, "Secret") => RefKind::Secret,
            _ => return None,
        };
        let tree = ws.tree(obj.segment);
        let hash = match (&self.config.secret_key, kind) {
            (Some(key), RefKind::Secret) => keyed_content_hash(key.0.as_bytes(), tree, obj.node),
            _ => content_hash(tree, obj.node),
        };
        Some(Content { kind, name: obj.name.clone(), namespace: self.namespace_of(obj).map(String::from), hash })
    }

    /// The ConfigMaps or Secrets of the render a reference can mean: the one in the workload's
    /// namespace, or, when that namespace is not known, every namespace's (all of them are hashed).
    fn candidates<'c>(&self, contents: &Contents<'c>, kind: RefKind, name: &str, ns: Option<&str>) -> Vec<&'c Content> {
        let same: &[&Content] = contents.get(&(kind, name)).map_or(&[], Vec::as_slice);
        if let Some(exact) = same.iter().find(|c| c.namespace.is_some() && c.namespace.as_deref() == ns) {
            return vec![exact];
        }
        same.iter().copied().filter(|c| namespaces_match(c.namespace.as_deref(), ns)).collect()
    }

    /// Plan one workload's checksum annotations, or the note saying why it gets none.
    fn plan_workload(
        &self,
        ws: &Workspace<'_>,
        workload: &Workload,
        kind: &WorkloadKind,
        present: &Present<'_>,
        contents: &Contents<'_>,
        changes: &mut Changes<'_>,
    ) -> Result<()> {
        let obj = &workload.object;
        let tree = ws.tree(obj.segment);
        if let Some(why) = self.skipped(ws, obj)? {
            changes.note(Level::Info, format!("skipped: {why}"));
            return Ok(());
        }
        if workload.template.is_none() && !kind.template_path.is_empty() {
            self.note_workload_ref(tree, obj, present, changes);
            return Ok(());
        }
        let Some(pod_spec) = workload.pod_spec else {
            return Ok(());
        };
        let used = self.used(tree, pod_spec, obj, contents, changes);
        if used.is_empty() {
            return Ok(());
        }
        let wanted = match self.config.mode {
            ChecksumMode::PerObject => self.per_object(&used),
            ChecksumMode::Aggregate => self.aggregate(&used),
        };
        let annotations = workload.template_child(&["metadata", "annotations"]);
        if !self.beside_own(tree, obj.node, &annotations, &wanted, changes) {
            return Ok(());
        }
        for (key, (hash, reason)) in wanted {
            changes.set(&annotations, &key, Value::str(hash), reason);
        }
        Ok(())
    }

    /// Why a workload gets no checksums: opted out by annotation, or a Job the job policy
    /// leaves out (a Job's pod template is immutable) unless the annotation opts it in.
    fn skipped(&self, ws: &Workspace<'_>, obj: &Object) -> Result<Option<String>> {
        let forced = match workload::switch(ws, obj, OPT_ANNOTATION)? {
            Some(false) => return Ok(Some(format!("annotation {OPT_ANNOTATION}: \"false\""))),
            Some(true) => true,
            None => false,
        };
        if !obj.is("batch", "Job") || forced {
            return Ok(None);
        }
        let tree = ws.tree(obj.segment);
        let is_hook = ["helm.sh/hook", "argocd.argoproj.io/hook"]
            .iter()
            .any(|k| tree.path(obj.node, &["metadata", "annotations", k]).is_some());
        let why = match self.config.jobs {
            JobPolicy::All => None,
            JobPolicy::None => Some("checksum.jobs is `none`"),
            JobPolicy::Hooks if is_hook => None,
            JobPolicy::Hooks => Some("a Job's pod template is immutable, so a changed checksum would make the upgrade fail; only hook Jobs are annotated (set checksum.jobs: all, or annotate the Job with postwire.dev/checksum: \"true\")"),
        };
        Ok(why.map(String::from))
    }

    /// A workload without a pod template of its own (an Argo Rollout's `workloadRef`): say
    /// where its checksums go, or that they cannot be set.
    fn note_workload_ref(&self, tree: &Tree, obj: &Object, present: &Present<'_>, changes: &mut Changes<'_>) {
        let Some(target) = tree.path(obj.node, &["spec", "workloadRef"]) else {
            return;
        };
        let ref_kind = tree.str_at(target, &["kind"]).unwrap_or("Deployment");
        let name = tree.str_at(target, &["name"]).unwrap_or_default();
        let ns = self.namespace_of(obj);
        let found = present
            .get(&(ref_kind, name))
            .is_some_and(|namespaces| namespaces.iter().any(|&o| namespaces_match(o, ns)));
        if found {
            changes.note(
                Level::Info,
                format!("pod template comes from workloadRef {ref_kind}/{name}; its checksums are set there"),
            );
        } else {
            changes.note(Level::Warning, format!("workloadRef {ref_kind}/{name} is not part of this render, so no checksum can be set on its pod template"));
        }
    }

    /// The counted ConfigMaps and Secrets of the render the pod spec uses; a name found in
    /// several namespaces while the workload's is not known is noted, and all of them count.
    fn used<'c>(
        &self,
        tree: &Tree,
        pod_spec: NodeId,
        obj: &Object,
        contents: &Contents<'c>,
        changes: &mut Changes<'_>,
    ) -> Used<'c> {
        let ns = self.namespace_of(obj);
        let mut used: Used<'c> = Vec::new();
        let mut ambiguous: Vec<String> = Vec::new();
        for r in pod_references(tree, pod_spec).into_iter().filter(|r| self.counts(r.kind, &r.name)) {
            let candidates = self.candidates(contents, r.kind, &r.name, ns);
            if candidates.len() > 1 {
                let mut namespaces: Vec<&str> =
                    candidates.iter().map(|c| c.namespace.as_deref().unwrap_or("(none)")).collect();
                namespaces.dedup();
                let what = format!("{} {} is in namespaces {}", r.kind.kind(), r.name, namespaces.join(", "));
                if !ambiguous.contains(&what) {
                    ambiguous.push(what);
                }
            }
            for content in candidates {
                match used.iter_mut().find(|(c, _)| std::ptr::eq(*c, content)) {
                    Some((_, vias)) if !vias.contains(&r.via) => vias.push(r.via.clone()),
                    Some(_) => {}
                    None => used.push((content, vec![r.via.clone()])),
                }
            }
        }
        let display = obj.display();
        for what in ambiguous {
            changes.note(Level::Warning, format!("{what} and the namespace of {display} is not known (pass --namespace); the checksum covers all of them"));
        }
        used
    }

    /// `perObject`: one annotation per name; the same name in several namespaces is hashed
    /// together.
    fn per_object(&self, used: &Used<'_>) -> Wanted {
        let mut by_key: BTreeMap<String, Vec<&(&Content, Vec<String>)>> = BTreeMap::new();
        for u in used {
            by_key.entry(self.annotation_key(u.0.kind, &u.0.name)).or_default().push(u);
        }
        let mut wanted = Wanted::new();
        for (key, group) in by_key {
            let (content, vias) = (group[0].0, &group[0].1);
            let hash = if group.len() == 1 {
                content.hash.clone()
            } else {
                let mut lines: Vec<String> = group
                    .iter()
                    .map(|(c, _)| format!("{}/{}={}\n", c.namespace.as_deref().unwrap_or(""), c.name, c.hash))
                    .collect();
                lines.sort();
                sha256_hex(lines.concat().as_bytes())
            };
            let reason = format!("{} {} is used by {}", content.kind.kind(), content.name, vias.join(", "));
            wanted.insert(key, (hash, reason));
        }
        wanted
    }

    /// `aggregate`: one annotation for all ConfigMaps and one for all Secrets.
    fn aggregate(&self, used: &Used<'_>) -> Wanted {
        let mut wanted = Wanted::new();
        for (kind, suffix) in [(RefKind::ConfigMap, "config"), (RefKind::Secret, "secret")] {
            let of_kind: Used<'_> = used.iter().filter(|(c, _)| c.kind == kind).cloned().collect();
            if of_kind.is_empty() {
                continue;
            }
            let mut names: Vec<&str> = of_kind.iter().map(|(c, _)| c.name.as_str()).collect();
            names.dedup();
            let reason = format!("hash of {} {} used by the pod", kind.kind(), names.join(", "));
            wanted.insert(format!("{}{suffix}", self.config.annotation_prefix), (aggregate_hash(&of_kind), reason));
        }
        wanted
    }

    /// Whether postwire's annotations go on a pod template that has checksum annotations of
    /// its own (Bitnami and Grafana charts write theirs): per `checksum.onExisting`, skipped,
    /// or added beside them with a warning (two hashes of the same content on one template).
    fn beside_own(
        &self,
        tree: &Tree,
        node: NodeId,
        annotations: &[PathSeg],
        wanted: &Wanted,
        changes: &mut Changes<'_>,
    ) -> bool {
        let own: Vec<&str> = tree
            .resolve(node, annotations)
            .map(|ann| tree.entries(ann).iter().filter_map(|&(k, _)| tree.scalar(k)).collect())
            .unwrap_or_default();
        let own: Vec<&str> = own
            .into_iter()
            .filter(|k| k.starts_with(&self.config.annotation_prefix) && !wanted.contains_key(*k))
            .collect();
        if own.is_empty() {
            return true;
        }
        if self.config.on_existing == OnExisting::Skip {
            changes.note(Level::Info, format!("skipped: the pod template already has checksum annotations of its own ({}); checksum.onExisting: add adds postwire's too", own.join(", ")));
            return false;
        }
        changes.note(Level::Warning, format!("the pod template already has the chart's checksum annotations ({}) and postwire adds its own beside them; set checksum.onExisting: skip to keep only the chart's, or drop the chart's", own.join(", ")));
        true
    }
}
