//! Recipes: built-in, tested wirings a platform team turns on by name. Each takes an optional
//! `target:` (the shared selector) and never overwrites what the chart set.
//!
//! ```yaml
//! recipes:
//!   podDisruptionBudget: {minAvailable: 1}
//!   serviceMonitor: {port: metrics, labels: {release: kube-prometheus-stack}}
//!   networkPolicy: {services: {api: [web, worker]}}
//!   goRuntime: {target: {name: dispatch}}
//!   jvmHeap: {heapPercent: 75}
//!   zoneSpread: {}
//! ```
//!
//! The three that generate objects are minijinja templates shipped inside the module
//! (`pdb.yaml.j2`, `servicemonitor.yaml.j2`, `networkpolicy.yaml.j2`) rendered by the same
//! engine as user templates and generated through [`crate::generate`] (marked
//! `postwire.dev/generated-by: recipes/<name>`). The three that change workloads add
//! environment variables or a topology spread constraint only where the chart has none.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::edit::{PathSeg, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::OnConflict;
use crate::jinja::{self, documents, generate_all, is_generated, Engine, Limits};
use crate::model;
use crate::report::{Level, Report};
use crate::resource::{containers, Object, WorkloadKind};
use crate::select::glob_matches;
use crate::select::Selector;
use crate::wire::ContextV1;
use crate::workload::{self, Workload};
use crate::workspace::Workspace;
use crate::yaml::{NodeId, Tree};

use super::changes::Changes;
use super::podspec::{ensure_env, env_value, EnvAt, Pod};
use super::Wiring;

const NAME: &str = "recipes";
const PDB_TEMPLATE: &str = include_str!("pdb.yaml.j2");
const SERVICE_MONITOR_TEMPLATE: &str = include_str!("servicemonitor.yaml.j2");
const NETWORK_POLICY_TEMPLATE: &str = include_str!("networkpolicy.yaml.j2");

/// A `recipes.networkPolicy` caller outside the chart starts with this.
const OUTSIDE_PREFIX: &str = "namespace:";

/// `NAME` or `NAME/LABEL=VALUE,...` after `namespace:` as the template's caller: the namespace
/// (selected by `kubernetes.io/metadata.name`, which Kubernetes sets on every namespace since
/// 1.22) and, when given, the labels its pods must have.
fn outside_caller(spec: &str) -> std::result::Result<Json, String> {
    let (namespace, labels) = spec.split_once('/').unwrap_or((spec, ""));
    if namespace.is_empty() {
        return Err(format!(
            "`{OUTSIDE_PREFIX}` needs a namespace: `{OUTSIDE_PREFIX}NAME` or `{OUTSIDE_PREFIX}NAME/LABEL=VALUE`"
        ));
    }
    let mut pods = serde_json::Map::new();
    for pair in labels.split(',').filter(|p| !p.is_empty()) {
        let (k, v) =
            pair.split_once('=').ok_or_else(|| format!("`{pair}` is not LABEL=VALUE (in `{OUTSIDE_PREFIX}{spec}`)"))?;
        pods.insert(k.to_string(), Json::String(v.to_string()));
    }
    let mut caller = json!({"namespace": namespace});
    if !pods.is_empty() {
        caller["pods"] = Json::Object(pods);
    }
    Ok(caller)
}

/// The recipes, each off unless configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipesConfig {
    /// A PodDisruptionBudget per replicated workload (Deployment, StatefulSet, ReplicaSet,
    /// Rollout with `spec.selector.matchLabels`) that no PodDisruptionBudget of the chart covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<PodDisruptionBudgetRecipe>,
    /// A ServiceMonitor (prometheus-operator) per Service with a metrics port, unless the chart
    /// has one selecting that Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_monitor: Option<ServiceMonitorRecipe>,
    /// NetworkPolicies from a service dependency list: ingress to each listed Service's pods
    /// only from its callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<NetworkPolicyRecipe>,
    /// `GOMAXPROCS` (the CPU limit rounded up) and `GOMEMLIMIT` (90% of the memory limit) for
    /// containers with limits that do not set them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_runtime: Option<GoRuntimeRecipe>,
    /// JVM heap flags from the memory limit in `JAVA_TOOL_OPTIONS`, for containers that do not
    /// set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_heap: Option<JvmHeapRecipe>,
    /// A topology spread constraint over zones for replicated workloads that have none over
    /// that topology key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_spread: Option<ZoneSpreadRecipe>,
}

impl RecipesConfig {
    /// Whether no recipe is on.
    pub fn is_empty(&self) -> bool {
        *self == RecipesConfig::default()
    }
}

/// `recipes.podDisruptionBudget`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodDisruptionBudgetRecipe {
    /// Which workloads (default: every replicated workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// Pods that must stay available: a number or a percentage (`"50%"`). Default 1 when
    /// `maxUnavailable` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrPercent>,
    /// Pods that may be down at once: a number or a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
}

/// A number or a percentage such as `"25%"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrPercent {
    /// A count.
    Int(u32),
    /// A percentage: digits and `%`.
    Percent(Percent),
}

/// A percentage such as `"25%"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct Percent(String);

impl TryFrom<String> for Percent {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        match s.strip_suffix('%').map(str::parse::<u32>) {
            Some(Ok(n)) if n <= 100 => Ok(Percent(s)),
            _ => Err(format!("`{s}` is neither a number nor a percentage such as 50%")),
        }
    }
}

impl From<Percent> for String {
    fn from(p: Percent) -> String {
        p.0
    }
}

impl IntOrPercent {
    fn json(&self) -> Json {
        match self {
            IntOrPercent::Int(n) => json!(n),
            IntOrPercent::Percent(p) => json!(p.0),
        }
    }
}

fn default_metrics_port() -> String {
    "metrics".into()
}

/// `recipes.serviceMonitor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceMonitorRecipe {
    /// Which Services (default: every Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// Name (or glob) of the Service ports to scrape (default `metrics`).
    #[serde(default = "default_metrics_port")]
    pub port: String,
    /// Labels of the ServiceMonitor, e.g. `release: kube-prometheus-stack` so that
    /// kube-prometheus-stack's Prometheus selects it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// HTTP path to scrape (Prometheus' default `/metrics` when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Scrape interval, e.g. `30s` (Prometheus' default when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// `recipes.networkPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicyRecipe {
    /// Further narrows which of the listed Services get a policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// For each Service of the render, by name, the Services or workloads of the render that
    /// call it: `{api: [web, worker], db: [api]}`. An empty list allows no ingress at all.
    /// Callers outside the chart: `namespace:NAME` (every pod of that namespace, e.g. an
    /// ingress controller's) or `namespace:NAME/LABEL=VALUE,...` (its pods with those labels,
    /// e.g. `namespace:monitoring/app.kubernetes.io/name=prometheus`).
    pub services: std::collections::BTreeMap<String, Vec<String>>,
}

/// `recipes.goRuntime`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GoRuntimeRecipe {
    /// Which workloads (default: every workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// Percentage of the memory limit for `GOMEMLIMIT` (default 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_percent: Option<u32>,
}

/// `recipes.jvmHeap`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JvmHeapRecipe {
    /// Which workloads (default: every workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// Maximum heap (`-Xmx`) as a percentage of the memory limit (default 75).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_percent: Option<u32>,
    /// Initial heap (`-Xms`) as a percentage of the memory limit (default: not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_heap_percent: Option<u32>,
    /// The variable to set (default `JAVA_TOOL_OPTIONS`, which every JVM reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

/// `recipes.zoneSpread`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneSpreadRecipe {
    /// Which workloads (default: every replicated workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// Largest difference in pod count between zones (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_skew: Option<u32>,
    /// The node label to spread over (default `topology.kubernetes.io/zone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_key: Option<String>,
    /// `ScheduleAnyway` (default: spread when possible) or `DoNotSchedule`.
    #[serde(default)]
    pub when_unsatisfiable: WhenUnsatisfiable,
}

/// What the scheduler does when a spread cannot be met.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WhenUnsatisfiable {
    /// Prefer a spread, schedule anyway.
    #[default]
    ScheduleAnyway,
    /// Keep pods pending rather than break the spread.
    DoNotSchedule,
}

/// The recipes wiring.
pub struct Recipes {
    config: RecipesConfig,
    workloads: Vec<WorkloadKind>,
    context: ContextV1,
}

impl Recipes {
    /// Build the wiring.
    pub fn new(config: &RecipesConfig, workloads: Vec<WorkloadKind>, context: &ContextV1) -> Self {
        Recipes { config: config.clone(), workloads, context: context.clone() }
    }
}

/// Kinds whose pods are replicas behind a selector (a PodDisruptionBudget or a spread makes sense).
fn is_replicated(tree: &Tree, obj: &Object) -> bool {
    !matches!(obj.kind.as_str(), "DaemonSet" | "Job" | "CronJob" | "Pod" | "PodTemplate")
        && tree.path(obj.node, &["spec", "selector", "matchLabels"]).is_some_and(|m| tree.is_mapping(m))
}

/// Whether every `want` label is among `labels`.
fn subset(want: &Json, labels: &Json) -> bool {
    match (want, labels) {
        (Json::Object(wanted), Json::Object(have)) => {
            !wanted.is_empty() && wanted.iter().all(|(k, v)| have.get(k) == Some(v))
        }
        _ => false,
    }
}

impl Recipes {
    /// The candidates a recipe works on, narrowed by its target (which must then match one).
    fn chosen<'o>(
        &self,
        ws: &Workspace<'_>,
        candidates: &'o [Object],
        target: &Option<Selector>,
        what: &str,
    ) -> Result<Vec<&'o Object>> {
        match target {
            None => Ok(candidates.iter().collect()),
            Some(sel) => sel.pick(ws, candidates, self.context.namespace.as_deref(), &format!("recipes.{what}.target")),
        }
    }

    /// [`Recipes::chosen`], kept: the candidates themselves when there is no target.
    fn chosen_owned(
        &self,
        ws: &Workspace<'_>,
        candidates: Vec<Object>,
        target: &Option<Selector>,
        what: &str,
    ) -> Result<Vec<Object>> {
        match target {
            None => Ok(candidates),
            Some(_) => Ok(self.chosen(ws, &candidates, target, what)?.into_iter().cloned().collect()),
        }
    }

    /// The workloads of the stream, in stream order (only objects of the workload kinds are
    /// copied: [`workload::find`] passes over the rest).
    fn workloads_of(&self, ws: &Workspace<'_>) -> Vec<(Workload, WorkloadKind)> {
        let objects: Vec<Object> = ws
            .object_refs()
            .filter(|obj| self.workloads.iter().any(|w| w.kind == obj.kind && w.group == obj.group()))
            .cloned()
            .collect();
        workload::find(ws, &objects, &self.workloads)
    }

    /// The workloads a recipe works on (see [`Recipes::chosen`]), in stream order; `keep`
    /// narrows the candidates first.
    fn chosen_workloads(
        &self,
        ws: &Workspace<'_>,
        target: &Option<Selector>,
        what: &str,
        keep: impl Fn(&Object) -> bool,
    ) -> Result<Vec<Workload>> {
        let workloads: Vec<Workload> =
            self.workloads_of(ws).into_iter().map(|(w, _)| w).filter(|w| keep(&w.object)).collect();
        let Some(_) = target else { return Ok(workloads) };
        let candidates: Vec<Object> = workloads.iter().map(|w| w.object.clone()).collect();
        // An object is where it is: the chosen ones are told apart by document and node.
        let chosen: HashSet<(usize, NodeId)> =
            self.chosen(ws, &candidates, target, what)?.into_iter().map(|o| (o.segment, o.node)).collect();
        Ok(workloads.into_iter().filter(|w| chosen.contains(&(w.object.segment, w.object.node))).collect())
    }

    fn render(engine: &Engine, name: &str, source: &str, context: Json) -> Result<Vec<Value>> {
        crate::progress::step(|| format!("rendering {name}"));
        let text = engine.render(name, source, &context, Limits::default())?;
        documents(&text, &format!("recipe {name}"))
    }

    fn pod_disruption_budgets(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        recipe: &PodDisruptionBudgetRecipe,
    ) -> Result<()> {
        let (field, value) = match (&recipe.min_available, &recipe.max_unavailable) {
            (Some(_), Some(_)) => {
                return Err(Error::new(ErrorKind::Config, "give one of minAvailable and maxUnavailable, not both")
                    .with_path("recipes.podDisruptionBudget"))
            }
            (_, Some(max)) => ("maxUnavailable", max.json()),
            (min, None) => ("minAvailable", min.as_ref().map_or(json!(1), IntOrPercent::json)),
        };
        let objects: Vec<&Object> = ws.object_refs().filter(|o| !is_generated(ws, o)).collect();
        let pdbs: Vec<(Object, Json)> = objects
            .iter()
            .filter(|o| o.is("policy", "PodDisruptionBudget"))
            .map(|&o| (o.clone(), model::json(ws.tree(o.segment), o.node)))
            .collect();
        let candidates: Vec<Object> =
            objects.into_iter().filter(|o| is_replicated(ws.tree(o.segment), o)).cloned().collect();
        let runners = rollouts_by_workload(ws);
        let chosen = self.chosen_owned(ws, candidates, &recipe.target, "podDisruptionBudget")?;
        let engine = Engine::new(Arc::new(Vec::new()));
        for obj in chosen {
            let object = model::json(ws.tree(obj.segment), obj.node);
            let runner = runners.get(obj.name.as_str()).into_iter().flatten().find(|r| {
                obj.kind == "Deployment"
                    && crate::resource::namespaces_match(r.namespace.as_deref(), obj.namespace.as_deref())
            });
            let replicas = match runner {
                Some(r) => r.replicas.map(|count| Replicas { count, of: Some(r.display.as_str()) }),
                None => object["spec"]["replicas"].as_u64().map(|count| Replicas { count, of: None }),
            };
            let mut changes = Changes::new(NAME, &obj);
            let needed = budget_needed(&object, &pdbs, field, &value, replicas, &mut changes);
            changes.apply(ws, report)?;
            if !needed {
                continue;
            }
            let context = json!({"object": object, "budget": {"field": field, "value": value}});
            let docs = Self::render(&engine, "recipes/podDisruptionBudget", PDB_TEMPLATE, context)?;
            let reason = format!("recipes.podDisruptionBudget for {}", obj.display());
            generate_all(ws, report, "recipes/podDisruptionBudget", &reason, docs, OnConflict::Skip, &reason)?;
        }
        Ok(())
    }

    fn service_monitors(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        recipe: &ServiceMonitorRecipe,
    ) -> Result<()> {
        let objects: Vec<&Object> = ws.object_refs().filter(|o| !is_generated(ws, o)).collect();
        let monitors: Vec<(Object, Json)> = objects
            .iter()
            .filter(|o| o.is("monitoring.coreos.com", "ServiceMonitor"))
            .map(|&o| (o.clone(), model::json(ws.tree(o.segment), o.node)))
            .collect();
        let services: Vec<Object> = objects.into_iter().filter(|o| o.is("", "Service")).cloned().collect();
        let chosen = self.chosen_owned(ws, services, &recipe.target, "serviceMonitor")?;
        let engine = Engine::new(Arc::new(Vec::new()));
        for obj in chosen {
            let object = model::json(ws.tree(obj.segment), obj.node);
            let ports = metrics_ports(&object, &recipe.port);
            if ports.is_empty() {
                continue;
            }
            let mut changes = Changes::new(NAME, &obj);
            let needed = monitor_needed(&object, &monitors, &mut changes);
            changes.apply(ws, report)?;
            if !needed {
                continue;
            }
            let context = json!({"object": object, "ports": ports, "labels": recipe.labels, "path": recipe.path, "interval": recipe.interval});
            let docs = Self::render(&engine, "recipes/serviceMonitor", SERVICE_MONITOR_TEMPLATE, context)?;
            let reason = format!("recipes.serviceMonitor for {}", obj.display());
            generate_all(ws, report, "recipes/serviceMonitor", &reason, docs, OnConflict::Skip, &reason)?;
        }
        Ok(())
    }

    fn network_policies(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        recipe: &NetworkPolicyRecipe,
    ) -> Result<()> {
        let objects: Vec<Object> = ws.objects().into_iter().filter(|o| !is_generated(ws, o)).collect();
        let listed = listed_services(ws, &objects, recipe)?;
        let chosen = self.chosen_owned(ws, listed, &recipe.target, "networkPolicy")?;
        let engine = Engine::new(Arc::new(Vec::new()));
        for obj in chosen {
            let object = model::json(ws.tree(obj.segment), obj.node);
            if object["spec"]["selector"].as_object().is_none_or(|s| s.is_empty()) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("Service `{}` has no pod selector to guard", obj.name),
                )
                .with_path(format!("recipes.networkPolicy.services.{}", obj.name)));
            }
            let callers_named = &recipe.services[&obj.name];
            let callers = callers(ws, &objects, &obj, callers_named)?;
            let context = json!({"object": object, "callers": callers, "ports": policy_ports(&object)});
            let docs = Self::render(&engine, "recipes/networkPolicy", NETWORK_POLICY_TEMPLATE, context)?;
            let admits = if callers_named.is_empty() {
                "admits no pod".to_string()
            } else {
                format!("admits only {}", callers_named.join(", "))
            };
            let reason = format!("recipes.networkPolicy for {}: {admits}", obj.display());
            generate_all(ws, report, "recipes/networkPolicy", &reason, docs, OnConflict::Skip, &reason)?;
        }
        Ok(())
    }

    /// Add environment variables to the containers of the chosen workloads that have the
    /// limit each needs and do not set the variable; `vars` computes them from the limits.
    fn add_env(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        recipe: &str,
        target: &Option<Selector>,
        vars: &dyn Fn(&Json) -> EnvVars,
    ) -> Result<()> {
        for workload in self.chosen_workloads(ws, target, recipe, |_| true)? {
            let mut changes = Changes::new(NAME, &workload.object);
            plan_env(ws.tree(workload.object.segment), &workload, recipe, vars, &mut changes);
            changes.apply(ws, report)?;
        }
        Ok(())
    }

    fn zone_spread(&self, ws: &mut Workspace<'_>, report: &mut Report, recipe: &ZoneSpreadRecipe) -> Result<()> {
        let key = recipe.topology_key.clone().unwrap_or_else(|| "topology.kubernetes.io/zone".into());
        let autoscaled = autoscaled(ws);
        let chosen =
            self.chosen_workloads(ws, &recipe.target, "zoneSpread", |o| is_replicated(ws.tree(o.segment), o))?;
        for workload in chosen {
            let mut changes = Changes::new(NAME, &workload.object);
            plan_spread(ws, &workload, &autoscaled, recipe, &key, &mut changes);
            changes.apply(ws, report)?;
        }
        Ok(())
    }
}

/// How many pods a workload runs, and the Rollout that runs them when it is not the workload.
struct Replicas<'r> {
    count: u64,
    of: Option<&'r str>,
}

/// A Rollout that runs a Deployment's pods through `workloadRef`.
struct Runner {
    namespace: Option<String>,
    display: String,
    /// `spec.replicas`, 1 when absent (argoproj/argo-rollouts@009ba6ba
    /// pkg/apis/rollouts/v1alpha1/types.go:38-41); None when it is not a number.
    replicas: Option<u64>,
}

/// The Rollouts of the render (generated ones too) by the name of the Deployment their
/// `workloadRef` names: Argo Rollouts scales that Deployment to zero and runs its pods itself.
fn rollouts_by_workload(ws: &Workspace<'_>) -> HashMap<String, Vec<Runner>> {
    let mut out: HashMap<String, Vec<Runner>> = HashMap::new();
    for o in ws.object_refs().filter(|o| o.is("argoproj.io", "Rollout")) {
        let tree = ws.tree(o.segment);
        if tree.str_at(o.node, &["spec", "workloadRef", "kind"]) != Some("Deployment") {
            continue;
        }
        let Some(name) = tree.str_at(o.node, &["spec", "workloadRef", "name"]) else { continue };
        let replicas = match tree.path(o.node, &["spec", "replicas"]) {
            None => Some(1),
            Some(n) => tree.string(n).and_then(|r| r.parse().ok()),
        };
        let runner = Runner { namespace: o.namespace.clone(), display: o.display(), replicas };
        out.entry(name.to_string()).or_default().push(runner);
    }
    out
}

/// Whether a replicated workload needs a PodDisruptionBudget: not when one of the chart's
/// covers its pods. A budget that would block every eviction is noted.
fn budget_needed(
    object: &Json,
    pdbs: &[(Object, Json)],
    field: &str,
    value: &Json,
    replicas: Option<Replicas<'_>>,
    changes: &mut Changes<'_>,
) -> bool {
    let obj = changes.object();
    let labels = &object["spec"]["template"]["metadata"]["labels"];
    let covered = pdbs.iter().find(|(p, pdb)| {
        crate::resource::namespaces_match(p.namespace.as_deref(), obj.namespace.as_deref())
            && subset(&pdb["spec"]["selector"]["matchLabels"], labels)
    });
    if let Some((p, _)) = covered {
        changes.note(
            Level::Info,
            format!("recipes.podDisruptionBudget: left alone, the chart's {} covers its pods", p.display()),
        );
        return false;
    }
    if let (Some(replicas), Json::Number(min)) = (replicas, value) {
        if field == "minAvailable" && min.as_u64().is_some_and(|m| m >= replicas.count) {
            let of = replicas.of.map(|r| format!(" of {r}")).unwrap_or_default();
            changes.note(Level::Warning, format!(
                "recipes.podDisruptionBudget: minAvailable {min} with {} replica(s){of} blocks every voluntary eviction (node drains)",
                replicas.count
            ));
        }
    }
    true
}

/// The names of a Service's ports that match the recipe's port glob.
fn metrics_ports(object: &Json, port: &str) -> Vec<String> {
    object["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| glob_matches(port.as_bytes(), n.as_bytes()))
        .map(String::from)
        .collect()
}

/// Whether a Service with metrics ports needs a ServiceMonitor: it must have labels to be
/// selected by, and no ServiceMonitor of the chart may select it already (both noted).
fn monitor_needed(object: &Json, monitors: &[(Object, Json)], changes: &mut Changes<'_>) -> bool {
    let obj = changes.object();
    if object["metadata"]["labels"].as_object().is_none_or(|l| l.is_empty()) {
        changes.note(Level::Warning, "recipes.serviceMonitor: the Service has no labels to select it by");
        return false;
    }
    let covered = monitors.iter().find(|(m, sm)| {
        crate::resource::namespaces_match(m.namespace.as_deref(), obj.namespace.as_deref())
            && subset(&sm["spec"]["selector"]["matchLabels"], &object["metadata"]["labels"])
    });
    if let Some((m, _)) = covered {
        changes
            .note(Level::Info, format!("recipes.serviceMonitor: left alone, the chart's {} selects it", m.display()));
        return false;
    }
    true
}

/// The Services `recipes.networkPolicy.services` lists; one the render lacks is an error when
/// targets must match, else left out.
fn listed_services(ws: &Workspace<'_>, objects: &[Object], recipe: &NetworkPolicyRecipe) -> Result<Vec<Object>> {
    let mut listed = Vec::new();
    for name in recipe.services.keys() {
        let Some(svc) = objects.iter().find(|o| o.is("", "Service") && o.name == *name) else {
            if !ws.targets_must_match() {
                continue;
            }
            return Err(Error::new(ErrorKind::Config, format!("the render has no Service `{name}`"))
                .with_path(format!("recipes.networkPolicy.services.{name}")));
        };
        listed.push(svc.clone());
    }
    Ok(listed)
}

/// The template's callers of Service `obj`: a namespace (and pod labels) for `namespace:`
/// entries, else the pod selector of the Service or workload of that name.
fn callers(ws: &Workspace<'_>, objects: &[Object], obj: &Object, named: &[String]) -> Result<Vec<Json>> {
    let path = || format!("recipes.networkPolicy.services.{}", obj.name);
    let mut callers = Vec::new();
    for caller in named {
        if let Some(outside) = caller.strip_prefix(OUTSIDE_PREFIX) {
            callers.push(outside_caller(outside).map_err(|e| Error::new(ErrorKind::Config, e).with_path(path()))?);
            continue;
        }
        let Some(selector) = caller_selector(ws, objects, obj, caller) else {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "caller `{caller}` of `{}` is no Service or workload with a pod selector in the render",
                    obj.name
                ),
            )
            .with_path(path()));
        };
        callers.push(json!({ "pods": selector }));
    }
    Ok(callers)
}

/// The pod selector of the Service or workload `caller` in the namespace of `obj`.
fn caller_selector(ws: &Workspace<'_>, objects: &[Object], obj: &Object, caller: &str) -> Option<Json> {
    objects
        .iter()
        .filter(|o| {
            o.name == caller && crate::resource::namespaces_match(o.namespace.as_deref(), obj.namespace.as_deref())
        })
        .find_map(|o| {
            let v = model::json(ws.tree(o.segment), o.node);
            let s = if o.is("", "Service") {
                v["spec"]["selector"].clone()
            } else {
                v["spec"]["selector"]["matchLabels"].clone()
            };
            s.as_object().filter(|m| !m.is_empty()).map(|_| s.clone())
        })
}

/// The ports a Service's pods listen on (`targetPort`, else `port`) with their protocol.
fn policy_ports(object: &Json) -> Vec<Json> {
    object["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let port = if p["targetPort"].is_null() { p["port"].clone() } else { p["targetPort"].clone() };
            json!({"port": port, "protocol": p["protocol"].as_str().unwrap_or("TCP")})
        })
        .collect()
}

/// A recipe's variables for one container: each name with its value or why there is none.
type EnvVars = Vec<(String, std::result::Result<String, String>)>;

/// Plan a recipe's variables at the end of `env` in each container (ephemeral ones aside) that
/// does not set them; a variable the container sets, or cannot get, is noted instead.
fn plan_env(
    tree: &Tree,
    workload: &Workload,
    recipe: &str,
    vars: &dyn Fn(&Json) -> EnvVars,
    changes: &mut Changes<'_>,
) {
    let Some(pod_spec) = workload.pod_spec else { return };
    let pod = Pod::new(tree, workload);
    for c in containers(tree, pod_spec).into_iter().filter(|c| c.list != "ephemeralContainers") {
        let container = model::json(tree, c.node);
        // What Kubernetes reads (aliases and merge keys resolved), as the note says.
        let set: Vec<&str> =
            container["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect();
        for (name, value) in vars(&container) {
            if set.contains(&name.as_str()) {
                changes.note(Level::Info, format!("recipes.{recipe}: {} sets {name} itself; left alone", c.describe()));
                continue;
            }
            match value {
                Ok(v) => {
                    let reason = format!("recipes.{recipe}: {name}={v} from the container's limits");
                    ensure_env(changes, &pod, &c, env_value(&name, &v), EnvAt::Back, reason);
                }
                Err(why) => {
                    changes.note(Level::Info, format!("recipes.{recipe}: {} gets no {name}: {why}", c.describe()))
                }
            }
        }
    }
}

/// Plan a topology spread constraint over `key` on a replicated workload whose pod spec has
/// none over it; a single replica without an autoscaler is warned about (nothing to spread).
fn plan_spread(
    ws: &Workspace<'_>,
    workload: &Workload,
    autoscaled: &HashSet<String>,
    recipe: &ZoneSpreadRecipe,
    key: &str,
    changes: &mut Changes<'_>,
) {
    let obj = &workload.object;
    let Some(pod_spec) = workload.pod_spec else { return };
    let tree = ws.tree(obj.segment);
    if single_replica(ws, obj, autoscaled) {
        changes.note(
            Level::Warning,
            "recipes.zoneSpread: 1 replica and no HorizontalPodAutoscaler, so the spread does nothing; raise the replicas or leave the workload out of the target",
        );
    }
    let has = model::field(tree, pod_spec, "topologySpreadConstraints")
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["topologyKey"].as_str() == Some(key)));
    if has {
        changes.note(Level::Info, format!("recipes.zoneSpread: the pod spec already spreads over {key}; left alone"));
        return;
    }
    let selector = model::value(tree, tree.path(obj.node, &["spec", "selector", "matchLabels"]).expect("replicated"));
    let item = Value::map([
        ("maxSkew", Value::Int(recipe.max_skew.unwrap_or(1).into())),
        ("topologyKey", Value::str(key)),
        ("whenUnsatisfiable", Value::str(format!("{:?}", recipe.when_unsatisfiable))),
        ("labelSelector", Value::map([("matchLabels", selector)])),
    ]);
    let path = workload.pod_spec_child(&[PathSeg::from("topologySpreadConstraints")]);
    changes.insert(&path, None, item, "-", format!("recipes.zoneSpread: spread pods over {key}"));
}

/// The names the HorizontalPodAutoscalers of the stream scale (`spec.scaleTargetRef.name`).
fn autoscaled(ws: &Workspace<'_>) -> HashSet<String> {
    ws.object_refs()
        .filter(|h| h.kind == "HorizontalPodAutoscaler")
        .filter_map(|h| ws.tree(h.segment).str_at(h.node, &["spec", "scaleTargetRef", "name"]))
        .map(String::from)
        .collect()
}

/// Whether a workload runs one pod with no autoscaler (`autoscaled`: see [`autoscaled`]):
/// there is nothing to spread.
fn single_replica(ws: &Workspace<'_>, obj: &Object, autoscaled: &HashSet<String>) -> bool {
    let tree = ws.tree(obj.segment);
    tree.path(obj.node, &["spec", "replicas"]).map(|r| model::json(tree, r)) == Some(Json::from(1))
        && !autoscaled.contains(&obj.name)
}

fn limit(container: &Json, resource: &str) -> std::result::Result<f64, String> {
    let v = &container["resources"]["limits"][resource];
    let text = match v {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Null => return Err(format!("it has no {resource} limit")),
        other => return Err(format!("its {resource} limit {other} is not a quantity")),
    };
    jinja::parse_quantity(&text)
        .filter(|q| *q > 0.0)
        .ok_or_else(|| format!("its {resource} limit `{text}` is not a quantity"))
}

/// `GOMAXPROCS` and `GOMEMLIMIT` for a container.
pub fn go_runtime_env(container: &Json, memory_percent: u32) -> Vec<(String, std::result::Result<String, String>)> {
    let procs = limit(container, "cpu").map(|cores| (cores.ceil() as u64).max(1).to_string());
    let mem = limit(container, "memory")
        .map(|bytes| ((bytes * f64::from(memory_percent) / 100.0).floor() as u64).to_string());
    vec![("GOMAXPROCS".into(), procs), ("GOMEMLIMIT".into(), mem)]
}

/// JVM heap flags for a container.
pub fn jvm_heap_flags(container: &Json, heap: u32, initial: Option<u32>) -> std::result::Result<String, String> {
    let bytes = limit(container, "memory")?;
    let mib = |percent: u32| ((bytes * f64::from(percent) / 100.0) / (1024.0 * 1024.0)).floor() as u64;
    if mib(heap) == 0 {
        return Err("the memory limit is below 1Mi".into());
    }
    Ok(match initial {
        Some(i) => format!("-Xms{}m -Xmx{}m", mib(i).max(1), mib(heap)),
        None => format!("-Xmx{}m", mib(heap)),
    })
}

impl Wiring for Recipes {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.workloads.iter().map(|w| w.kind.clone()).collect();
        kinds.extend(["Service", "PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy"].map(String::from));
        kinds
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let config = &self.config;
        if let Some(recipe) = &config.pod_disruption_budget {
            self.pod_disruption_budgets(ws, report, recipe)?;
        }
        if let Some(recipe) = &config.service_monitor {
            self.service_monitors(ws, report, recipe)?;
        }
        if let Some(recipe) = &config.network_policy {
            self.network_policies(ws, report, recipe)?;
        }
        if let Some(recipe) = &config.go_runtime {
            let percent = recipe.memory_percent.unwrap_or(90);
            self.add_env(ws, report, "goRuntime", &recipe.target, &|c| go_runtime_env(c, percent))?;
            ws.commit(report)?;
        }
        if let Some(recipe) = &config.jvm_heap {
            let variable = recipe.variable.clone().unwrap_or_else(|| "JAVA_TOOL_OPTIONS".into());
            let (heap, initial) = (recipe.heap_percent.unwrap_or(75), recipe.initial_heap_percent);
            self.add_env(ws, report, "jvmHeap", &recipe.target, &|c| {
                vec![(variable.clone(), jvm_heap_flags(c, heap, initial))]
            })?;
            ws.commit(report)?;
        }
        if let Some(recipe) = &config.zone_spread {
            self.zone_spread(ws, report, recipe)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
