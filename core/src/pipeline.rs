//! The pipeline: the one place that knows every wiring. It assembles [`PostwireConfig`] from
//! the sections the wirings own, checks each section after parsing, and builds the enabled
//! wirings in the order they run (generate → mutate → patch → checksums last, so hashes see the
//! final content).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::check::CheckConfig;
use crate::config::{self, Invalid, Source, API_VERSION, KIND};
use crate::edit::Uneditable;
use crate::error::Result;
use crate::platform::PlatformConfig;
use crate::resource::WorkloadKind;
use crate::wire::ContextV1;
use crate::wiring::checksum::{self, ChecksumConfig};
use crate::wiring::datadog::{self, DatadogConfig};
use crate::wiring::irsa::{self, IrsaConfig};
use crate::wiring::istio::{self, IstioConfig, RolloutsConfig, TrafficPlan};
use crate::wiring::patch::{self, PatchConfig};
use crate::wiring::recipes::{self, RecipesConfig};
use crate::wiring::template::{self, TemplateConfig};
use crate::wiring::{TemplateInputs, Wiring};
use crate::workload::{self, WorkloadKindConfig};

fn default_api_version() -> String {
    API_VERSION.to_string()
}
fn default_kind() -> String {
    KIND.to_string()
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
    pub irsa: IrsaConfig,
    /// Datadog unified service tagging, agent connection, APM, logs and Autodiscovery, as the
    /// Datadog Cluster Agent admission controller wires them.
    #[serde(default)]
    pub datadog: DatadogConfig,
    /// Istio service-mesh wiring: Gateways, VirtualServices, DestinationRules, sidecar
    /// injection, protocol selection.
    #[serde(default)]
    pub istio: IstioConfig,
    /// Argo Rollouts progressive delivery: canary and blue-green Rollouts wired to Istio,
    /// Deployments converted through `workloadRef`, AnalysisTemplates.
    #[serde(default)]
    pub rollouts: RolloutsConfig,
    /// What to do with a document that cannot be edited so that every YAML reader sees exactly
    /// the intended change (a node shared through YAML aliases, merge keys on the edited path,
    /// explicit `? key` layouts, YAML 1.1-only line breaks): `error` (default) stops the render
    /// naming the document; `skip` leaves it byte-identical and warns.
    #[serde(default)]
    pub on_uneditable: Uneditable,
    /// Free-form values for templates and templated patches (`{{ values.team }}`).
    #[serde(default = "empty_values", skip_serializing_if = "is_empty_values")]
    pub values: serde_json::Value,
    /// User patches (RFC 6902 `patch`, RFC 7386 `merge`, or a `template` writing either), applied
    /// in order to the objects each `target` selects, after the built-in wirings and before
    /// checksums.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<PatchConfig>,
    /// minijinja templates that generate objects, once or once per object `forEach` selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateConfig>,
    /// Built-in, tested recipes, each on by name with an optional `target`.
    #[serde(default, skip_serializing_if = "RecipesConfig::is_empty")]
    pub recipes: RecipesConfig,
    /// The cross-object check of the finished stream: which findings fail the render.
    #[serde(default, skip_serializing_if = "CheckConfig::is_default")]
    pub check: CheckConfig,
    /// Caps a chart cannot raise: template fuel and output, and what a chart's own templates
    /// see. Platform config only; a chart's PostwireConfig cannot set it.
    #[serde(default, skip_serializing_if = "PlatformConfig::is_default")]
    pub platform: PlatformConfig,
}

fn empty_values() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn is_empty_values(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
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
            on_uneditable: Uneditable::default(),
            values: empty_values(),
            patches: Vec::new(),
            templates: Vec::new(),
            recipes: Default::default(),
            check: Default::default(),
            platform: Default::default(),
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

impl PostwireConfig {
    /// The built-in workload kinds plus the configured ones.
    pub fn workload_kinds(&self) -> Vec<WorkloadKind> {
        workload::kinds(&self.workloads)
    }

    /// Every section's checks after parsing, in the order the sections are listed.
    fn validate(&self) -> std::result::Result<(), Invalid> {
        self.checksum.validate()?;
        self.rollouts.validate()?;
        self.irsa.validate()?;
        self.datadog.validate()?;
        workload::validate_kinds(&self.workloads)
    }
}

/// Merge the sources (lowest precedence first), type-check the result and check every section.
pub fn resolve(sources: Vec<Source>) -> Result<PostwireConfig> {
    config::resolve(sources, PostwireConfig::validate)
}

/// The enabled wirings, in the order they run, each built from its own section.
pub fn wirings(config: &PostwireConfig, context: &ContextV1) -> Vec<Box<dyn Wiring>> {
    let workloads = config.workload_kinds();
    let inputs = TemplateInputs { values: config.values.clone(), platform: config.platform.clone() };
    let traffic = TrafficPlan {
        routed: config.istio.enabled.then(|| config.istio.services.clone()),
        rollouts: config.rollouts.enabled.then(|| config.rollouts.workloads.clone()),
        workloads: workloads.clone(),
    };
    let mut wirings: Vec<Box<dyn Wiring>> = Vec::new();
    // Generate (and the mutations that go with it): Istio routing and Argo Rollouts first, so
    // user templates can see their objects.
    if config.istio.enabled {
        wirings.push(Box::new(istio::Istio::new(&config.istio, &traffic, context)));
    }
    if config.rollouts.enabled {
        wirings.push(Box::new(istio::rollouts::Rollouts::new(&config.rollouts, &traffic, context)));
    }
    // Generate: user templates, then the recipes (which also mutate, never overwriting).
    if !config.templates.is_empty() {
        wirings.push(Box::new(template::Templates::new(&config.templates, &inputs, context)));
    }
    if !config.recipes.is_empty() {
        wirings.push(Box::new(recipes::Recipes::new(&config.recipes, workloads.clone(), context)));
    }
    // Mutate.
    if config.irsa.enabled {
        wirings.push(Box::new(irsa::Irsa::new(&config.irsa, workloads.clone(), context)));
    }
    if config.datadog.enabled {
        wirings.push(Box::new(datadog::Datadog::new(&config.datadog, workloads.clone(), context)));
    }
    // Istio again, once every scraper is in the stream: open the scraped ports through the
    // mTLS and authorization it generated.
    if config.istio.enabled {
        wirings.push(Box::new(istio::scrape::ScrapeExceptions::new(workloads.clone())));
    }
    // User patches: after the built-in wirings, before checksums.
    if !config.patches.is_empty() {
        wirings.push(Box::new(patch::Patches::new(&config.patches, &inputs, context)));
    }
    // Checksums last, so hashes see the final content.
    if config.checksum.enabled {
        wirings.push(Box::new(checksum::Checksum::new(&config.checksum, workloads, context)));
    }
    wirings
}

/// The `$id` of the config schema (`postwire schema`).
pub const SCHEMA_ID: &str = "https://postwire.dev/schemas/v1alpha1/postwire-config.json";
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
    set(&mut v, &prefix, "pattern", json!(checksum::patterns::ANNOTATION_PREFIX));
    set(&mut v, &prefix, "maxLength", json!(checksum::patterns::ANNOTATION_PREFIX_MAX));
    for list in ["include", "exclude"] {
        set(
            &mut v,
            &["$defs", "ChecksumConfig", "properties", list, "items"],
            "pattern",
            json!(checksum::patterns::NAME_PATTERN),
        );
    }
    let w = ["$defs", "WorkloadKindConfig", "properties"];
    set(&mut v, &[w[0], w[1], w[2], "kind"], "pattern", json!(workload::patterns::KIND));
    set(&mut v, &[w[0], w[1], w[2], "group"], "pattern", json!(workload::patterns::GROUP));
    set(&mut v, &[w[0], w[1], w[2], "group"], "maxLength", json!(253));
    set(&mut v, &[w[0], w[1], w[2], "podTemplatePath"], "pattern", json!(workload::patterns::POD_TEMPLATE_PATH));
    serde_json::to_string_pretty(&v).expect("schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{document_source, file_source, parse_set};
    use crate::wiring::checksum::{patterns, ChecksumMode};
    use crate::yaml::Tree;

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
            "postwire.yaml line 5: invalid config: checksum.mdoe: unknown field `mdoe`, expected `enabled`, `mode`, `annotationPrefix`, `include`, `exclude`, `jobs`, `onExisting` or `secretKey` (did you mean `mode`?)"
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
