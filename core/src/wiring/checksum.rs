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

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::config::{pattern_matches, ChecksumConfig, ChecksumMode, JobPolicy, PostwireConfig};
use crate::engine::Workspace;
use crate::error::{Error, ErrorKind, Result};
use crate::inject::{self, Doc, Outcome, Splice};
use crate::report::{Action, Change, Level, Note, Report};
use crate::resource::{namespaces_match, object_node, pod_references, Object, Place, RefKind, WorkloadKind};
use crate::wire::ContextV1;
use crate::yaml::{NodeId, NodeKind, Tree};

use super::Wiring;

const NAME: &str = "checksum";
/// The per-workload switch: `"false"` opts a workload out, `"true"` opts a Job in.
pub const OPT_ANNOTATION: &str = "postwire.dev/checksum";

/// The checksum wiring, built from its config.
pub struct Checksum {
    config: ChecksumConfig,
    workloads: Vec<WorkloadKind>,
    namespace: Option<String>,
}

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
    pub fn new(config: &PostwireConfig, context: &ContextV1) -> Self {
        Checksum {
            config: config.checksum.clone(),
            workloads: config.workload_kinds(),
            namespace: context.namespace.clone(),
        }
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

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit((b >> 4) as u32, 16).unwrap());
        out.push(char::from_digit((b & 15) as u32, 16).unwrap());
    }
    out
}

/// The canonical JSON of a node: mappings with sorted keys, scalars as their written value.
fn canonical(tree: &Tree, id: NodeId) -> serde_json::Value {
    match &tree.node(id).kind {
        NodeKind::Scalar { value, .. } => serde_json::Value::String(value.clone()),
        NodeKind::Sequence { items, .. } => items.iter().map(|&i| canonical(tree, i)).collect(),
        NodeKind::Mapping { entries, .. } => {
            let map: serde_json::Map<String, serde_json::Value> = entries
                .iter()
                .map(|&(k, v)| (tree.scalar(k).unwrap_or_default().to_string(), canonical(tree, v)))
                .collect();
            serde_json::Value::Object(map)
        }
        NodeKind::Alias => serde_json::Value::Null,
    }
}

/// SHA-256 of the canonical content (`binaryData`, `data`, `stringData`) of a ConfigMap or Secret.
pub fn content_hash(tree: &Tree, object: NodeId) -> String {
    let mut content = serde_json::Map::new();
    for field in ["binaryData", "data", "stringData"] {
        let Some(node) = tree.get(object, field) else {
            continue;
        };
        if tree.is_null(node) || (tree.is_mapping(node) && tree.entries(node).is_empty()) {
            continue;
        }
        content.insert(field.to_string(), canonical(tree, node));
    }
    let json = serde_json::to_string(&serde_json::Value::Object(content)).expect("JSON of strings serializes");
    sha256_hex(json.as_bytes())
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
        let mut contents = Vec::new();
        for obj in objects.iter().filter(|o| o.group().is_empty()) {
            let kind = match obj.kind.as_str() {
                "ConfigMap" => RefKind::ConfigMap,
                "Secret" => RefKind::Secret,
                _ => continue,
            };
            let (tree, _) = ws.doc(obj.segment);
            let node = object_node(tree, obj.place).expect("object node");
            contents.push(Content {
                kind,
                name: obj.name.clone(),
                namespace: self.namespace_of(obj).map(String::from),
                hash: content_hash(tree, node),
            });
        }

        let mut edits: BTreeMap<usize, Vec<Splice>> = BTreeMap::new();
        for obj in &objects {
            let Some(workload) = self.workloads.iter().find(|w| w.kind == obj.kind && w.group == obj.group()) else {
                continue;
            };
            let splices = self.wire_workload(ws, obj, workload, &objects, &contents, report)?;
            edits.entry(obj.segment).or_default().extend(splices);
        }
        for (segment, splices) in edits {
            ws.edit(segment, &splices)?;
        }
        Ok(())
    }
}

impl Checksum {
    fn wire_workload(
        &self,
        ws: &Workspace<'_>,
        obj: &Object,
        workload: &WorkloadKind,
        objects: &[Object],
        contents: &[Content],
        report: &mut Report,
    ) -> Result<Vec<Splice>> {
        let (tree, text) = ws.doc(obj.segment);
        let node = object_node(tree, obj.place).expect("object node");
        let display = obj.display();
        let source = ws.source(obj.segment);
        let note = |report: &mut Report, level, message: String| {
            report.document(obj.doc_number, &display, source.as_deref()).notes.push(Note {
                wiring: NAME.into(),
                level,
                message,
            });
        };

        let opt = tree.path(node, &["metadata", "annotations", OPT_ANNOTATION]);
        let forced = match opt.map(|id| tree.scalar(id).unwrap_or_default()) {
            None => false,
            Some("true") => true,
            Some("false") => {
                note(report, Level::Info, format!("skipped: annotation {OPT_ANNOTATION}: \"false\""));
                return Ok(Vec::new());
            }
            Some(other) => {
                let n = tree.node(opt.expect("present"));
                return Err(Error::new(ErrorKind::Config, format!("`{other}` is not a valid value"))
                    .with_path(format!("metadata.annotations.{OPT_ANNOTATION}"))
                    .with_hint("use \"true\" or \"false\"")
                    .at(n.line, n.col + 1)
                    .in_document(ws.location(obj.segment, Some(display.clone()))));
            }
        };

        if obj.kind == "Job" && obj.group() == "batch" && !forced {
            let is_hook = ["helm.sh/hook", "argocd.argoproj.io/hook"]
                .iter()
                .any(|k| tree.path(node, &["metadata", "annotations", k]).is_some());
            let skip = match self.config.jobs {
                JobPolicy::All => None,
                JobPolicy::None => Some("checksum.jobs is `none`"),
                JobPolicy::Hooks if is_hook => None,
                JobPolicy::Hooks => Some("a Job's pod template is immutable, so a changed checksum would make the upgrade fail; only hook Jobs are annotated (set checksum.jobs: all, or annotate the Job with postwire.dev/checksum: \"true\")"),
            };
            if let Some(why) = skip {
                note(report, Level::Info, format!("skipped: {why}"));
                return Ok(Vec::new());
            }
        }

        let path: Vec<&str> = workload.template_path.iter().map(String::as_str).collect();
        let Some(template) = tree.path(node, &path) else {
            if let Some(target) = tree.path(node, &["spec", "workloadRef"]) {
                let kind = tree.str_at(target, &["kind"]).unwrap_or("Deployment");
                let name = tree.str_at(target, &["name"]).unwrap_or_default();
                let ns = self.namespace_of(obj);
                let found = objects
                    .iter()
                    .any(|o| o.kind == kind && o.name == name && namespaces_match(self.namespace_of(o), ns));
                if found {
                    note(
                        report,
                        Level::Info,
                        format!("pod template comes from workloadRef {kind}/{name}; its checksums are set there"),
                    );
                } else {
                    note(report, Level::Warning, format!("workloadRef {kind}/{name} is not part of this render, so no checksum can be set on its pod template"));
                }
            }
            return Ok(Vec::new());
        };
        let Some(pod_spec) = tree.get(template, "spec").filter(|&s| tree.is_mapping(s)) else {
            return Ok(Vec::new());
        };

        // Every referenced object of the render, once, with every way the pod uses it.
        let ns = self.namespace_of(obj);
        let mut used: Vec<(&Content, Vec<String>)> = Vec::new();
        for r in pod_references(tree, pod_spec) {
            if !self.counts(r.kind, &r.name) {
                continue;
            }
            let candidates = contents.iter().filter(|c| c.kind == r.kind && c.name == r.name);
            let exact = candidates.clone().find(|c| c.namespace.is_some() && c.namespace.as_deref() == ns);
            let Some(content) =
                exact.or_else(|| candidates.clone().find(|c| namespaces_match(c.namespace.as_deref(), ns)))
            else {
                continue;
            };
            match used.iter_mut().find(|(c, _)| std::ptr::eq(*c, content)) {
                Some((_, vias)) => vias.push(r.via),
                None => used.push((content, vec![r.via])),
            }
        }
        if used.is_empty() {
            return Ok(Vec::new());
        }

        let mut wanted: BTreeMap<String, (String, String)> = BTreeMap::new();
        match self.config.mode {
            ChecksumMode::PerObject => {
                for (c, vias) in &used {
                    wanted.insert(
                        self.annotation_key(c.kind, &c.name),
                        (c.hash.clone(), format!("{} {} is used by {}", c.kind.kind(), c.name, vias.join(", "))),
                    );
                }
            }
            ChecksumMode::Aggregate => {
                for (kind, suffix) in [(RefKind::ConfigMap, "config"), (RefKind::Secret, "secret")] {
                    let of_kind: Vec<(&Content, Vec<String>)> =
                        used.iter().filter(|(c, _)| c.kind == kind).cloned().collect();
                    if of_kind.is_empty() {
                        continue;
                    }
                    let names: Vec<&str> = of_kind.iter().map(|(c, _)| c.name.as_str()).collect();
                    wanted.insert(
                        format!("{}{suffix}", self.config.annotation_prefix),
                        (
                            aggregate_hash(&of_kind),
                            format!("hash of {} {} used by the pod", kind.kind(), names.join(", ")),
                        ),
                    );
                }
            }
        }

        let entries: Vec<(String, String)> = wanted.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
        let mut full_path = path.clone();
        full_path.extend(["metadata", "annotations"]);
        let doc = Doc { text, tree, newline: ws.newline() };
        let (splices, outcomes) = inject::ensure_string_entries(&doc, node, None, &full_path, &entries)
            .map_err(|e| e.in_document(ws.location(obj.segment, Some(display.clone()))))?;
        let mut prefix = match obj.place {
            Place::Root => String::new(),
            Place::ListItem(i) => format!("items[{i}]."),
        };
        prefix.push_str(&full_path.join("."));
        for ((key, (_, reason)), outcome) in wanted.iter().zip(outcomes) {
            let action = match outcome {
                Outcome::Unchanged => continue,
                Outcome::Added => Action::Added,
                Outcome::Updated => Action::Updated,
            };
            report.document(obj.doc_number, &display, source.as_deref()).changes.push(Change {
                wiring: NAME.into(),
                path: prefix.clone(),
                key: key.clone(),
                action,
                reason: reason.clone(),
            });
        }
        Ok(splices)
    }
}
