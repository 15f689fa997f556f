//! `PostwireConfig`: the one configuration document, its sources and their precedence.
//!
//! Sources, lowest precedence first, deep-merged (mappings merge, lists and scalars replace):
//! 1. a `PostwireConfig` document inside the stream (a chart can ship one; it is removed
//!    from the output),
//! 2. the config file (`--config`),
//! 3. `--set path=value` overrides, in order.
//!
//! Unknown keys and wrong types are errors that name the source, line, field path and the
//! closest valid key.

mod de;
mod value;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use value::{parse_set, Origin, Spanned, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::resource::{builtin_workloads, WorkloadKind};
use crate::yaml::Tree;

/// The config apiVersion this build reads.
pub const API_VERSION: &str = "postwire.dev/v1alpha1";
/// The config kind.
pub const KIND: &str = "PostwireConfig";

fn default_api_version() -> String {
    API_VERSION.to_string()
}
fn default_kind() -> String {
    KIND.to_string()
}
fn yes() -> bool {
    true
}
fn default_checksum_prefix() -> String {
    "checksum/".to_string()
}

/// Configuration of a postwire render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "PostwireConfig")]
pub struct PostwireConfig {
    /// Always `postwire.dev/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Always `PostwireConfig`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Optional object metadata (ignored; lets the config live in a chart as a manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ConfigMetadata>,
    /// Extra workload kinds (CRDs) and where their pod template is, added to the built-in
    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob,
    /// Argo Rollout, PodTemplate and Pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<WorkloadKindConfig>,
    /// Checksum annotations that roll pods when the ConfigMaps and Secrets they use change.
    #[serde(default)]
    pub checksum: ChecksumConfig,
    /// AWS IAM roles for service accounts, as the EKS pod-identity webhook wires them.
    #[serde(default)]
    pub irsa: crate::wiring::irsa::IrsaConfig,
    /// Datadog unified service tagging, agent connection, APM, logs and Autodiscovery, as the
    /// Datadog Cluster Agent admission controller wires them.
    #[serde(default)]
    pub datadog: crate::wiring::datadog::DatadogConfig,
    /// Istio service-mesh wiring: Gateways, VirtualServices, DestinationRules, sidecar
    /// injection, protocol selection.
    #[serde(default)]
    pub istio: crate::wiring::istio::IstioConfig,
    /// Argo Rollouts progressive delivery: canary and blue-green Rollouts wired to Istio,
    /// Deployments converted through `workloadRef`, AnalysisTemplates.
    #[serde(default)]
    pub rollouts: crate::wiring::istio::RolloutsConfig,
    /// What to do with a document that cannot be edited so that every YAML reader sees exactly
    /// the intended change (a node shared through YAML aliases, merge keys on the edited path,
    /// explicit `? key` layouts, YAML 1.1-only line breaks): `error` (default) stops the render
    /// naming the document; `skip` leaves it byte-identical and warns.
    #[serde(default)]
    pub on_uneditable: OnUneditable,
    /// Free-form values for templates and templated patches (`{{ values.team }}`).
    #[serde(default = "empty_values", skip_serializing_if = "is_empty_values")]
    pub values: serde_json::Value,
    /// User patches (RFC 6902 `patch`, RFC 7386 `merge`, or a `template` writing either), applied
    /// in order to the objects each `target` selects, after the built-in wirings and before
    /// checksums.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<crate::wiring::patch::PatchConfig>,
    /// minijinja templates that generate objects, once or once per object `forEach` selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<crate::wiring::template::TemplateConfig>,
    /// Built-in, tested recipes, each on by name with an optional `target`.
    #[serde(default, skip_serializing_if = "crate::wiring::recipes::RecipesConfig::is_empty")]
    pub recipes: crate::wiring::recipes::RecipesConfig,
    /// The cross-object check of the finished stream: which findings fail the render.
    #[serde(default, skip_serializing_if = "crate::check::CheckConfig::is_default")]
    pub check: crate::check::CheckConfig,
}

fn empty_values() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn is_empty_values(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
}

/// What to do with a document that cannot be edited safely.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnUneditable {
    /// Stop the render with an error that names the document and why.
    #[default]
    Error,
    /// Leave the document unchanged and warn.
    Skip,
}

impl Default for PostwireConfig {
    fn default() -> Self {
        PostwireConfig {
            api_version: default_api_version(),
            kind: default_kind(),
            metadata: None,
            workloads: Vec::new(),
            checksum: ChecksumConfig::default(),
            irsa: Default::default(),
            datadog: Default::default(),
            istio: Default::default(),
            rollouts: Default::default(),
            on_uneditable: OnUneditable::default(),
            values: empty_values(),
            patches: Vec::new(),
            templates: Vec::new(),
            recipes: Default::default(),
            check: Default::default(),
        }
    }
}

/// Metadata of an in-stream `PostwireConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMetadata {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A workload kind postwire should treat like a Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadKindConfig {
    /// API group, e.g. `apps.kruise.io` (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind, e.g. `CloneSet`.
    pub kind: String,
    /// Dotted path from the object to its pod template, e.g. `spec.template`.
    pub pod_template_path: String,
}

/// How checksum annotations are named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ChecksumMode {
    /// One annotation per object: `checksum/configmap-<name>`, `checksum/secret-<name>`.
    #[default]
    PerObject,
    /// Two annotations in Helm's convention: `checksum/config` over all ConfigMaps and
    /// `checksum/secret` over all Secrets the pod uses.
    Aggregate,
}

/// Which Jobs get checksum annotations. A Job's pod template is immutable once created, so a
/// changed checksum makes `kubectl apply` or `helm upgrade` fail unless the Job is recreated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum JobPolicy {
    /// Only Helm hooks and Argo CD hooks, which are recreated on every release or sync.
    #[default]
    Hooks,
    /// Every Job (use when Jobs are always recreated, e.g. with Argo CD `Replace=true`).
    All,
    /// No Job.
    None,
}

/// What to do with a pod template that already carries checksum annotations of its own (the
/// chart's, e.g. Bitnami's `checksum/configmap` or Grafana's `checksum/config`): annotations
/// under `annotationPrefix` that postwire would not write itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnExisting {
    /// Add postwire's annotations beside the chart's (default). postwire hashes the final,
    /// post-rendered content, which the chart's own checksums (computed from its templates
    /// before post-rendering) cannot see; the extra keys roll pods no more often than the chart's.
    #[default]
    Add,
    /// Leave such a pod template as it is; the report says which keys it already has.
    Skip,
}

/// Checksum annotation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChecksumConfig {
    /// Add checksum annotations (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `perObject` (default) or `aggregate`.
    #[serde(default)]
    pub mode: ChecksumMode,
    /// Prefix of the annotation keys (default `checksum/`).
    #[serde(default = "default_checksum_prefix")]
    pub annotation_prefix: String,
    /// Only these ConfigMaps and Secrets count (all when empty). Each entry is a name glob
    /// (`*`, `?`), optionally prefixed with `configmap/` or `secret/`.
    #[serde(default)]
    pub include: Vec<String>,
    /// These ConfigMaps and Secrets never count; same syntax as `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Which Jobs get checksums: `hooks` (default), `all` or `none`.
    #[serde(default)]
    pub jobs: JobPolicy,
    /// Pod templates that already carry checksum annotations of their own (the chart's):
    /// `add` postwire's beside them (default) or `skip` them.
    #[serde(default)]
    pub on_existing: OnExisting,
}

impl Default for ChecksumConfig {
    fn default() -> Self {
        ChecksumConfig {
            enabled: true,
            mode: ChecksumMode::default(),
            annotation_prefix: default_checksum_prefix(),
            include: Vec::new(),
            exclude: Vec::new(),
            jobs: JobPolicy::default(),
            on_existing: OnExisting::default(),
        }
    }
}

impl PostwireConfig {
    /// The built-in workload kinds plus the configured ones.
    pub fn workload_kinds(&self) -> Vec<WorkloadKind> {
        let mut kinds = builtin_workloads();
        for w in &self.workloads {
            kinds.push(WorkloadKind {
                group: w.group.clone(),
                kind: w.kind.clone(),
                template_path: w.pod_template_path.split('.').filter(|s| !s.is_empty()).map(String::from).collect(),
            });
        }
        kinds
    }
}

/// The `$id` of the config schema (`postwire schema`).
pub const SCHEMA_ID: &str = "https://postwire.dev/schemas/v1alpha1/postwire-config.json";

/// JSON Schema (ECMA 262) patterns of the rules [`resolve`] checks after parsing; the schema
/// and the engine must agree on every one (a table test over good and bad configs checks it).
pub mod patterns {
    /// `checksum.annotationPrefix`: a DNS subdomain (at most 253 characters) and `/`.
    pub const ANNOTATION_PREFIX: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/$";
    /// Longest `checksum.annotationPrefix`: 253 for the subdomain plus the `/`.
    pub const ANNOTATION_PREFIX_MAX: usize = 254;
    /// `checksum.include[]` / `checksum.exclude[]`: a name glob, optionally after `configmap/`
    /// or `secret/` (any case).
    pub const NAME_PATTERN: &str = r"^(([cC][oO][nN][fF][iI][gG][mM][aA][pP]|[sS][eE][cC][rR][eE][tT])/)?[^/]+$";
    /// `workloads[].kind`: a Kubernetes kind such as `CloneSet`.
    pub const KIND: &str = r"^[A-Za-z][A-Za-z0-9]*$";
    /// `workloads[].group`: empty (the core group) or a DNS subdomain.
    pub const GROUP: &str = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*)?$";
    /// `workloads[].podTemplatePath`: dotted keys, e.g. `spec.template` (empty: the object itself).
    pub const POD_TEMPLATE_PATH: &str = r"^([^.]+(\.[^.]+)*)?$";
}

/// The JSON Schema of `PostwireConfig`, generated from the Rust types, plus the rules checked
/// after parsing (`apiVersion`, `kind`, patterns) so that editors and CI reject what postwire
/// rejects.
pub fn json_schema() -> String {
    use serde_json::{json, Value as Json};
    let schema = schemars::schema_for!(PostwireConfig);
    let mut v: Json = serde_json::to_value(&schema).expect("schema serializes");
    let obj = v.as_object_mut().expect("schema object");
    // `$schema` first, then `$id`, then the rest, as JSON Schema documents usually read.
    let mut out = serde_json::Map::new();
    if let Some(s) = obj.remove("$schema") {
        out.insert("$schema".into(), s);
    }
    out.insert("$id".into(), json!(SCHEMA_ID));
    out.extend(std::mem::take(obj));
    let mut v = Json::Object(out);
    let set = |v: &mut Json, path: &[&str], key: &str, value: Json| {
        let mut node = &mut *v;
        for p in path {
            node = node.get_mut(*p).unwrap_or_else(|| panic!("schema lacks {path:?}"));
        }
        node.as_object_mut().expect("schema node").insert(key.to_string(), value);
    };
    for (field, value) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        let p = ["properties", field];
        set(&mut v, &p, "enum", json!([value]));
        set(&mut v, &p, "default", json!(value));
    }
    let prefix = ["$defs", "ChecksumConfig", "properties", "annotationPrefix"];
    set(&mut v, &prefix, "pattern", json!(patterns::ANNOTATION_PREFIX));
    set(&mut v, &prefix, "maxLength", json!(patterns::ANNOTATION_PREFIX_MAX));
    for list in ["include", "exclude"] {
        set(
            &mut v,
            &["$defs", "ChecksumConfig", "properties", list, "items"],
            "pattern",
            json!(patterns::NAME_PATTERN),
        );
    }
    let w = ["$defs", "WorkloadKindConfig", "properties"];
    set(&mut v, &[w[0], w[1], w[2], "kind"], "pattern", json!(patterns::KIND));
    set(&mut v, &[w[0], w[1], w[2], "group"], "pattern", json!(patterns::GROUP));
    set(&mut v, &[w[0], w[1], w[2], "group"], "maxLength", json!(253));
    set(&mut v, &[w[0], w[1], w[2], "podTemplatePath"], "pattern", json!(patterns::POD_TEMPLATE_PATH));
    serde_json::to_string_pretty(&v).expect("schema serializes")
}

/// A config source: its name for messages and its value.
#[derive(Debug, Clone)]
pub struct Source {
    /// `postwire.yaml`, `document 4 (PostwireConfig)`…
    pub name: String,
    /// The parsed value.
    pub value: Spanned,
}

/// Parse a config file's text into a source. `apiVersion` and `kind` may be left out (a
/// file given with `--config` can only be a `PostwireConfig`); when present they must be
/// `postwire.dev/v1alpha1` and `PostwireConfig`.
pub fn file_source(name: &str, text: &str) -> Result<Source> {
    let tree = Tree::parse(text, 0).map_err(|e| e.with_origin(name.to_string()))?;
    let Some(root) = tree.root().filter(|&r| !tree.is_null(r)) else {
        return Err(Error::new(ErrorKind::Config, "the config file is empty")
            .with_origin(name.to_string())
            .with_hint("a minimal config is `checksum: {}`; `postwire schema` lists every key"));
    };
    if !tree.is_mapping(root) {
        let n = tree.node(root);
        return Err(Error::new(ErrorKind::Config, "the config must be a mapping")
            .with_origin(name.to_string())
            .at(n.line, n.col + 1));
    }
    let value = Spanned::from_tree(&tree, root, name)?;
    check_type_meta(&value, name)?;
    Ok(Source { name: name.to_string(), value })
}

/// A `PostwireConfig` document of the stream as a config source, named after the chart
/// template it came from (`# Source:` or Helm 4's filename annotation) with lines counted in
/// that document, so a message reads `chart/templates/postwire.yaml line 4 (document 7)`.
/// `first_line` is the stream line of the document's first line.
pub fn document_source(
    tree: &Tree,
    root: crate::yaml::NodeId,
    number: usize,
    template: Option<&str>,
    first_line: usize,
) -> Result<Source> {
    let name = match template {
        Some(t) => format!("{t} (document {number}, PostwireConfig)"),
        None => format!("document {number} (PostwireConfig)"),
    };
    let mut value = Spanned::from_tree(tree, root, &name)?;
    if template.is_some() {
        value.rebase_lines(first_line.saturating_sub(1));
    }
    Ok(Source { name, value })
}

/// Check `apiVersion` and `kind` of a file or in-stream config: absent is fine, anything
/// else than `postwire.dev/v1alpha1` / `PostwireConfig` is an error at its line.
pub fn check_type_meta(value: &Spanned, name: &str) -> Result<()> {
    let hint = format!("a config file starts with `apiVersion: {API_VERSION}` and `kind: {KIND}`, or leaves both out");
    let at = |err: Error, key: &str| match value.get(key).and_then(|v| v.origin.line.map(|l| (l, v.origin.column))) {
        Some((line, Some(column))) => err.at(line, column),
        Some((line, None)) => err.at_line(line),
        None => err,
    };
    if value.get("kind").is_some() && value.top_str("kind") != Some(KIND) {
        let found = value.top_str("kind").map_or("not a string".to_string(), |k| format!("`{k}`"));
        return Err(at(
            Error::new(ErrorKind::Config, format!("kind is {found}, expected `{KIND}`"))
                .with_origin(name.to_string())
                .with_path("kind")
                .with_hint(hint),
            "kind",
        ));
    }
    if value.get("apiVersion").is_some() && value.top_str("apiVersion") != Some(API_VERSION) {
        let found = value.top_str("apiVersion").map_or("not a string".to_string(), |v| format!("`{v}`"));
        return Err(at(
            Error::new(
                ErrorKind::Config,
                format!("unsupported apiVersion {found}; this postwire ({}) reads `{API_VERSION}`", crate::VERSION),
            )
            .with_origin(name.to_string())
            .with_path("apiVersion"),
            "apiVersion",
        ));
    }
    Ok(())
}

/// Merge the sources (lowest precedence first) and type-check the result.
pub fn resolve(sources: Vec<Source>) -> Result<PostwireConfig> {
    let mut merged = Spanned::empty_map("defaults");
    for source in sources {
        merged.merge(source.value);
    }
    let config = PostwireConfig::deserialize(de::Deserializer(&merged)).map_err(|e| {
        let mut path = String::new();
        for segment in &e.path {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        let mut hint = e.hint;
        // `--set checksum.exclude=a` is a string; Helm writes lists in braces.
        if let Some(set) = e.source.as_deref().and_then(|s| s.strip_prefix("--set ")) {
            if e.message.starts_with("expected a list") {
                if let Some((key, value)) = set.split_once('=') {
                    hint = Some(format!("write a list in braces: --set {key}={{{value}}}"));
                }
            }
        }
        let mut err = Error::new(ErrorKind::Config, e.message);
        if let Some(source) = e.source {
            err = err.with_origin(source);
        }
        if let Some(line) = e.line {
            err = match e.column {
                Some(column) => err.at(line, column),
                None => err.at_line(line),
            };
        }
        if !path.is_empty() {
            err = err.with_path(path);
        }
        if let Some(hint) = hint {
            err = err.with_hint(hint);
        }
        err
    })?;
    validate(&config).map_err(|(err, path)| locate(err, &merged, &path))?;
    Ok(config)
}

/// Give a check's error the source, line and column of the value at `path`.
fn locate(err: Error, merged: &Spanned, path: &[PathSegment]) -> Error {
    let mut node = Some(merged);
    for segment in path {
        node = node.and_then(|n| match segment {
            PathSegment::Key(k) => n.get(k),
            PathSegment::Name(k) => n.get(k),
            PathSegment::Index(i) => n.item(*i),
        });
    }
    let Some(node) = node else { return err };
    let err = err.with_origin(node.origin.source.clone());
    match (node.origin.line, node.origin.column) {
        (Some(line), Some(column)) => err.at(line, column),
        (Some(line), None) => err.at_line(line),
        _ => err,
    }
}

enum PathSegment {
    Key(&'static str),
    /// A key the user chose (a map entry's name).
    Name(String),
    Index(usize),
}

fn validate(config: &PostwireConfig) -> std::result::Result<(), (Error, Vec<PathSegment>)> {
    use PathSegment::{Index, Key};
    let prefix = &config.checksum.annotation_prefix;
    let valid_prefix =
        prefix.len() <= patterns::ANNOTATION_PREFIX_MAX && prefix.strip_suffix('/').is_some_and(is_dns_subdomain);
    if !valid_prefix {
        return Err((
            Error::new(ErrorKind::Config, format!("`{prefix}` is not an annotation key prefix"))
                .with_path("checksum.annotationPrefix")
                .with_hint("use a DNS subdomain followed by `/`, e.g. `checksum/` or `checksum.example.com/`"),
            vec![Key("checksum"), Key("annotationPrefix")],
        ));
    }
    for (field, patterns) in [("include", &config.checksum.include), ("exclude", &config.checksum.exclude)] {
        for (i, p) in patterns.iter().enumerate() {
            let (kind, name) = match p.split_once('/') {
                Some((kind, name)) => (Some(kind), name),
                None => (None, p.as_str()),
            };
            let kind_ok = kind.is_none_or(|k| k.eq_ignore_ascii_case("configmap") || k.eq_ignore_ascii_case("secret"));
            if !kind_ok || name.is_empty() || name.contains('/') {
                return Err((
                    Error::new(ErrorKind::Config, format!("`{p}` is not a name pattern"))
                        .with_path(format!("checksum.{field}[{i}]"))
                        .with_hint("use `name`, `configmap/name` or `secret/name`; `*` and `?` match any characters"),
                    vec![Key("checksum"), Key(field), Index(i)],
                ));
            }
        }
    }
    for (name, t) in &config.rollouts.analysis_templates {
        let at = |field: &'static str| {
            let mut path = vec![Key("rollouts"), Key("analysisTemplates"), PathSegment::Name(name.clone())];
            path.extend((!field.is_empty()).then_some(Key(field)));
            path
        };
        let error = |message: &str, field: &'static str, hint: &str| {
            let dotted = if field.is_empty() { String::new() } else { format!(".{field}") };
            Err((
                Error::new(ErrorKind::Config, message.to_string())
                    .with_path(format!("rollouts.analysisTemplates.{name}{dotted}"))
                    .with_hint(hint.to_string()),
                at(field),
            ))
        };
        match (&t.prometheus, &t.job) {
            (None, None) | (Some(_), Some(_)) => {
                return error(
                    "give one provider: a `prometheus` query or a `job`",
                    "",
                    "prometheus: {address: ..., query: ...} with a successCondition, or job: {spec: <JobSpec>}",
                )
            }
            (Some(_), None) if t.success_condition.is_none() => {
                return error(
                    "a Prometheus analysis needs a `successCondition`",
                    "prometheus",
                    "e.g. successCondition: result[0] >= 0.95",
                )
            }
            (None, Some(_)) if t.success_condition.is_some() || t.failure_condition.is_some() => {
                let field = if t.success_condition.is_some() { "successCondition" } else { "failureCondition" };
                return error(
                    "a Job analysis succeeds when its Job does and takes no condition",
                    field,
                    "remove the condition; make the Job exit non-zero to fail the measurement",
                );
            }
            _ => {}
        }
    }
    config.irsa.validate().map_err(|(e, path)| (e, path.into_iter().map(Key).collect()))?;
    config.datadog.validate().map_err(|(e, path)| (e, path.into_iter().map(Key).collect()))?;
    for (i, w) in config.workloads.iter().enumerate() {
        let kind_ok = w.kind.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && w.kind.bytes().all(|b| b.is_ascii_alphanumeric());
        if !kind_ok {
            return Err((
                Error::new(ErrorKind::Config, format!("`{}` is not a Kubernetes kind", w.kind))
                    .with_path(format!("workloads[{i}].kind"))
                    .with_hint("a kind is letters and digits, e.g. `CloneSet`"),
                vec![Key("workloads"), Index(i), Key("kind")],
            ));
        }
        if !(w.group.is_empty() || is_dns_subdomain(&w.group)) {
            return Err((
                Error::new(ErrorKind::Config, format!("`{}` is not an API group", w.group))
                    .with_path(format!("workloads[{i}].group"))
                    .with_hint("use a DNS subdomain such as `apps.kruise.io`, or leave it empty for the core group"),
                vec![Key("workloads"), Index(i), Key("group")],
            ));
        }
        if !w.pod_template_path.is_empty() && w.pod_template_path.split('.').any(str::is_empty) {
            return Err((
                Error::new(ErrorKind::Config, format!("`{}` is not a dotted path", w.pod_template_path))
                    .with_path(format!("workloads[{i}].podTemplatePath"))
                    .with_hint("use keys joined by dots, such as `spec.template`"),
                vec![Key("workloads"), Index(i), Key("podTemplatePath")],
            ));
        }
    }
    Ok(())
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether a `include`/`exclude` pattern matches a ConfigMap or Secret.
pub fn pattern_matches(pattern: &str, kind: &str, name: &str) -> bool {
    let (want_kind, glob) = match pattern.split_once('/') {
        Some((k, g)) => (Some(k), g),
        None => (None, pattern),
    };
    want_kind.is_none_or(|k| k.eq_ignore_ascii_case(kind)) && glob_matches(glob.as_bytes(), name.as_bytes())
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

    fn resolve_file(text: &str) -> Result<PostwireConfig> {
        resolve(vec![file_source("postwire.yaml", text)?])
    }

    const HEAD: &str = "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\n";

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = resolve(vec![]).unwrap();
        assert_eq!(c, PostwireConfig::default());
        assert!(c.checksum.enabled);
        assert_eq!(c.checksum.mode, ChecksumMode::PerObject);
    }

    #[test]
    fn unknown_keys_name_the_path_line_and_closest_key() {
        let err = resolve_file(&format!("{HEAD}checksum:\n  enabled: true\n  mdoe: aggregate\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "postwire.yaml line 5: invalid config: checksum.mdoe: unknown field `mdoe`, expected `enabled`, `mode`, `annotationPrefix`, `include`, `exclude`, `jobs` or `onExisting` (did you mean `mode`?)"
        );
        let err = resolve_file(&format!("{HEAD}chekcsum: {{}}\n")).unwrap_err();
        assert!(err.to_string().contains("(did you mean `checksum`?)"), "{err}");
    }

    /// A typo inside a Rollouts strategy (a free-form block checked against Argo Rollouts'
    /// schema) is reported at the typo's line, not at `canary:`.
    #[test]
    fn rollouts_strategy_typo_names_its_own_line() {
        let rollouts = "rollouts:\n  enabled: true\n  workloads:\n    - name: web\n      strategy:\n        canary:\n";
        let err = resolve_file(&format!("{HEAD}{rollouts}          maxSurge: 1\n          stesp: []\n")).unwrap_err();
        assert!(err.to_string().starts_with("postwire.yaml line 10: "), "{err}");
        assert!(err.to_string().contains("unknown field `stesp`"), "{err}");
        let err = resolve_file(&format!(
            "{HEAD}{rollouts}          steps:\n            - setWeight: 5\n            - setWieght: 10\n"
        ))
        .unwrap_err();
        assert!(err.to_string().starts_with("postwire.yaml line 11: "), "{err}");
    }

    /// An unknown key whose value is a block (a mapping or list on the lines below) is reported
    /// at the key's line, not at the first line of its value.
    #[test]
    fn unknown_key_with_a_block_value_names_the_key_line() {
        let err = resolve_file(&format!("{HEAD}checksum:\n  enabled: true\n  modes:\n    a: b\n")).unwrap_err();
        assert!(
            err.to_string().starts_with("postwire.yaml line 5: invalid config: checksum.modes: unknown field"),
            "{err}"
        );
        let err = resolve_file(&format!("{HEAD}istoi:\n\n  # comment\n  enabled: true\n")).unwrap_err();
        assert!(err.to_string().starts_with("postwire.yaml line 3: invalid config: istoi: unknown field"), "{err}");
    }

    #[test]
    fn wrong_types_and_values_are_errors() {
        let err = resolve_file(&format!("{HEAD}checksum:\n  enabled: yes\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "postwire.yaml line 4, column 12: invalid config: checksum.enabled: expected a boolean (true or false), found `yes`"
        );
        let err = resolve_file(&format!("{HEAD}checksum:\n  mode: agregate\n")).unwrap_err();
        assert!(err.to_string().contains("checksum.mode: unknown value `agregate`, expected `perObject` or `aggregate` (did you mean `aggregate`?)"), "{err}");
        let err = resolve_file(&format!("{HEAD}checksum:\n  exclude: {{a: b}}\n")).unwrap_err();
        assert!(err.to_string().contains("checksum.exclude: expected a list, found a mapping"), "{err}");
        let err = resolve_file(&format!("{HEAD}checksum:\n  annotationPrefix: Bad_Prefix\n")).unwrap_err();
        assert!(err.to_string().contains("checksum.annotationPrefix"), "{err}");
    }

    #[test]
    fn type_meta_may_be_left_out_but_must_be_right_when_given() {
        let c = resolve_file("checksum:\n  mode: aggregate\n").unwrap();
        assert_eq!(c.checksum.mode, ChecksumMode::Aggregate);
        let err = resolve_file("apiVersion: postwire.dev/v1alpha1\nkind: Foo\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "postwire.yaml line 2, column 7: invalid config: kind: kind is `Foo`, expected `PostwireConfig` \
             (a config file starts with `apiVersion: postwire.dev/v1alpha1` and `kind: PostwireConfig`, or leaves both out)"
        );
        let err = resolve_file("apiVersion: postwire.dev/v9\nkind: PostwireConfig\n").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "postwire.yaml line 1, column 13: invalid config: apiVersion: unsupported apiVersion `postwire.dev/v9`"
            ),
            "{err}"
        );
        let err = resolve_file("# all commented out\n").unwrap_err();
        assert!(err.to_string().contains("the config file is empty"), "{err}");
    }

    #[test]
    fn checks_after_parsing_keep_file_and_line() {
        let err = resolve_file(&format!("{HEAD}checksum:\n  annotationPrefix: Bad_Prefix/\n")).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "postwire.yaml line 4, column 21: invalid config: checksum.annotationPrefix: `Bad_Prefix/`"
            ),
            "{err}"
        );
        let err = resolve_file(&format!("{HEAD}checksum:\n  exclude:\n  - ok\n  - /tls\n")).unwrap_err();
        assert!(
            err.to_string().starts_with("postwire.yaml line 6, column 5: invalid config: checksum.exclude[1]:"),
            "{err}"
        );
        let err = resolve_file(&format!("{HEAD}workloads:\n- group: apps.kruise.io\n  kind: CloneSet\n")).unwrap_err();
        assert!(
            err.to_string().starts_with("postwire.yaml line 4, column 3: invalid config: workloads[0]: missing required field `podTemplatePath`"),
            "{err}"
        );
        let err = resolve_file(&format!("{HEAD}workloads:\n- kind: Clone-Set\n  podTemplatePath: spec.template\n"))
            .unwrap_err();
        assert!(
            err.to_string().starts_with("postwire.yaml line 4, column 9: invalid config: workloads[0].kind:"),
            "{err}"
        );
    }

    #[test]
    fn set_of_a_list_field_shows_the_brace_syntax() {
        let set = Source { name: "--set".into(), value: parse_set("checksum.exclude=a").unwrap() };
        let err = resolve(vec![set]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set checksum.exclude=a: invalid config: checksum.exclude: expected a list, found `a` \
             (write a list in braces: --set checksum.exclude={a})"
        );
    }

    #[test]
    fn in_chart_config_is_named_after_its_template_with_document_lines() {
        // The document starts at stream line 10; its `mdoe` is on its own line 3.
        let text = "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nchecksum:\n  mdoe: x\n";
        let tree = Tree::parse(text, 9).unwrap();
        let source = document_source(&tree, tree.root().unwrap(), 4, Some("web/templates/postwire.yaml"), 10).unwrap();
        let err = resolve(vec![source]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "web/templates/postwire.yaml (document 4, PostwireConfig) line 4: invalid config: checksum.mdoe"
            ),
            "{err}"
        );
        let source = document_source(&tree, tree.root().unwrap(), 4, None, 10).unwrap();
        let err = resolve(vec![source]).unwrap_err();
        assert!(err.to_string().starts_with("document 4 (PostwireConfig) line 13:"), "{err}");
    }

    #[test]
    fn set_overrides_file_and_strings_stay_strings() {
        let file =
            file_source("postwire.yaml", &format!("{HEAD}checksum:\n  mode: aggregate\n  exclude: [no]\n")).unwrap();
        let set = Source { name: "--set".into(), value: parse_set("checksum.mode=perObject").unwrap() };
        let c = resolve(vec![file, set]).unwrap();
        assert_eq!(c.checksum.mode, ChecksumMode::PerObject);
        assert_eq!(c.checksum.exclude, vec!["no".to_string()]);
        let bad = Source { name: "--set".into(), value: parse_set("checksum.enabled=maybe").unwrap() };
        let err = resolve(vec![bad]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set checksum.enabled=maybe: invalid config: checksum.enabled: expected a boolean (true or false), found `maybe`"
        );
    }

    #[test]
    fn patterns_match_kind_and_glob() {
        assert!(pattern_matches("grafana*", "ConfigMap", "grafana-dashboards"));
        assert!(pattern_matches("secret/db-?", "Secret", "db-1"));
        assert!(!pattern_matches("secret/db-?", "ConfigMap", "db-1"));
        assert!(!pattern_matches("a*c", "Secret", "abd"));
    }

    #[test]
    fn schema_is_generated_from_the_types() {
        let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
        assert_eq!(schema["title"], "PostwireConfig");
        assert_eq!(schema["$id"], SCHEMA_ID);
        assert_eq!(schema["properties"]["kind"]["enum"], serde_json::json!([KIND]));
        assert_eq!(
            schema["$defs"]["ChecksumConfig"]["properties"]["annotationPrefix"]["pattern"],
            patterns::ANNOTATION_PREFIX
        );
        assert_eq!(schema["additionalProperties"], false);
        assert!(schema["properties"]["checksum"].is_object());
    }
}
