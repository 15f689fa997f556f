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
    /// What to do with a document that cannot be edited so that every YAML reader sees exactly
    /// the intended change (a node shared through YAML aliases, merge keys on the edited path,
    /// explicit `? key` layouts, YAML 1.1-only line breaks): `error` (default) stops the render
    /// naming the document; `skip` leaves it byte-identical and warns.
    #[serde(default)]
    pub on_uneditable: OnUneditable,
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
            on_uneditable: OnUneditable::default(),
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

/// The JSON Schema of `PostwireConfig`, generated from the Rust types.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(PostwireConfig);
    serde_json::to_string_pretty(&schema).expect("schema serializes")
}

/// A config source: its name for messages and its value.
#[derive(Debug, Clone)]
pub struct Source {
    /// `postwire.yaml`, `document 4 (PostwireConfig)`…
    pub name: String,
    /// The parsed value.
    pub value: Spanned,
}

/// Parse a config file's text into a source.
pub fn file_source(name: &str, text: &str) -> Result<Source> {
    let tree = Tree::parse(text, 0).map_err(|e| e.with_origin(name.to_string()))?;
    let Some(root) = tree.root().filter(|&r| !tree.is_null(r)) else {
        return Err(Error::new(ErrorKind::Config, "the config file is empty")
            .with_origin(name.to_string())
            .with_hint(format!("start it with `apiVersion: {API_VERSION}` and `kind: {KIND}`")));
    };
    if !tree.is_mapping(root) {
        return Err(Error::new(ErrorKind::Config, "the config must be a mapping").with_origin(name.to_string()));
    }
    let value = Spanned::from_tree(&tree, root, name)?;
    check_type_meta(&value, name)?;
    Ok(Source { name: name.to_string(), value })
}

/// Check `apiVersion` and `kind` of a file or in-stream config.
pub fn check_type_meta(value: &Spanned, name: &str) -> Result<()> {
    let hint = format!("start the config with `apiVersion: {API_VERSION}` and `kind: {KIND}`");
    match value.top_str("kind") {
        Some(KIND) => {}
        Some(other) => {
            return Err(Error::new(ErrorKind::Config, format!("kind is `{other}`, expected `{KIND}`"))
                .with_origin(name.to_string())
                .with_hint(hint))
        }
        None => {
            return Err(Error::new(ErrorKind::Config, "missing `kind`").with_origin(name.to_string()).with_hint(hint))
        }
    }
    match value.top_str("apiVersion") {
        Some(API_VERSION) => Ok(()),
        Some(other) => Err(Error::new(
            ErrorKind::Config,
            format!("unsupported apiVersion `{other}`; this postwire ({}) reads `{API_VERSION}`", crate::VERSION),
        )
        .with_origin(name.to_string())),
        None => {
            Err(Error::new(ErrorKind::Config, "missing `apiVersion`").with_origin(name.to_string()).with_hint(hint))
        }
    }
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
        if let Some(hint) = e.hint {
            err = err.with_hint(hint);
        }
        err
    })?;
    validate(&config)?;
    Ok(config)
}

fn validate(config: &PostwireConfig) -> Result<()> {
    let prefix = &config.checksum.annotation_prefix;
    let valid_prefix = prefix
        .strip_suffix('/')
        .is_some_and(|domain| !domain.is_empty() && domain.len() <= 253 && domain.split('.').all(is_dns_label));
    if !valid_prefix {
        return Err(Error::new(ErrorKind::Config, format!("`{prefix}` is not an annotation key prefix"))
            .with_path("checksum.annotationPrefix")
            .with_hint("use a DNS subdomain followed by `/`, e.g. `checksum/` or `checksum.example.com/`"));
    }
    for (field, patterns) in [("include", &config.checksum.include), ("exclude", &config.checksum.exclude)] {
        for (i, p) in patterns.iter().enumerate() {
            let (kind, name) = p.split_once('/').unwrap_or(("", p));
            if !(kind.is_empty() || kind.eq_ignore_ascii_case("configmap") || kind.eq_ignore_ascii_case("secret"))
                || name.is_empty()
            {
                return Err(Error::new(ErrorKind::Config, format!("`{p}` is not a name pattern"))
                    .with_path(format!("checksum.{field}[{i}]"))
                    .with_hint("use `name`, `configmap/name` or `secret/name`; `*` and `?` match any characters"));
            }
        }
    }
    for (i, w) in config.workloads.iter().enumerate() {
        if w.kind.is_empty() || w.pod_template_path.split('.').any(str::is_empty) && !w.pod_template_path.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "needs a kind and a dotted podTemplatePath such as `spec.template`",
            )
            .with_path(format!("workloads[{i}]")));
        }
    }
    Ok(())
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

fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
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
            "postwire.yaml line 5: invalid config: checksum.mdoe: unknown field `mdoe`, expected `enabled`, `mode`, `annotationPrefix`, `include`, `exclude` or `jobs` (did you mean `mode`?)"
        );
        let err = resolve_file(&format!("{HEAD}chekcsum: {{}}\n")).unwrap_err();
        assert!(err.to_string().contains("(did you mean `checksum`?)"), "{err}");
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
    fn type_meta_is_required_and_checked() {
        assert!(resolve_file("checksum: {}\n").unwrap_err().to_string().contains("missing `kind`"));
        let err = resolve_file("apiVersion: postwire.dev/v9\nkind: PostwireConfig\n").unwrap_err();
        assert!(err.to_string().contains("unsupported apiVersion `postwire.dev/v9`"), "{err}");
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
        assert_eq!(schema["additionalProperties"], false);
        assert!(schema["properties"]["checksum"].is_object());
    }
}
