//! The `rollouts` wiring: Argo Rollouts progressive delivery.
//!
//! - An existing Rollout of the render gets the configured strategy fields and, for a canary
//!   behind a Service the `istio` wiring routes, `spec.strategy.canary.trafficRouting.istio`
//!   pointing at the generated VirtualService (route `primary`) and DestinationRule (subsets
//!   `stable`, `canary`), or in host-level mode `canaryService`/`stableService` (generated).
//! - A Deployment becomes the pod source of a generated Rollout (`spec.workloadRef`, Argo
//!   Rollouts' migration path); the Deployment keeps its pod template, so checksums still land
//!   there, and an HPA that scaled it scales the Rollout instead. Unless `scaleDown: never`,
//!   the Deployment is held at `replicas: 0` (the Rollout takes its replicas), so a
//!   `helm upgrade` cannot bring its pods back beside the Rollout's.
//! - Blue-green Rollouts get `activeService` (the Service in front) and a generated
//!   `<service>-preview` Service.
//! - AnalysisTemplates come from `rollouts.analysisTemplates` (Prometheus provider); a step
//!   that names a template that exists neither there nor in the render is an error.
//! - The report's `argocd.ignoreDifferences` lists what the controller rewrites at run time
//!   (route weights, subset labels, Service selectors, the Deployment's replicas), for
//!   `postwire ignore-differences`.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use super::config::{AnalysisTemplateConfig, RolloutWorkload, RolloutsConfig, ScaleDown};
use super::plan::{self, Mode, Target, TrafficPlan};
use super::{emit, metadata, object, ROUTE_NAME};
use crate::edit::{PathSeg, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::{OnConflict, GENERATED_ANNOTATION};
use crate::report::{IgnoreDifference, Level, Report};
use crate::resource::{namespaces_match, Object};
use crate::wire::ContextV1;
use crate::wiring::changes::Changes;
use crate::wiring::Wiring;
use crate::workspace::Workspace;
use crate::yaml::{NodeId, NodeKind, Style, Tree};

const NAME: &str = "rollouts";

/// The `rollouts` wiring.
pub struct Rollouts {
    config: RolloutsConfig,
    plan: TrafficPlan,
    namespace: Option<String>,
}

impl Rollouts {
    /// Build the wiring from its section and the plan it shares with Istio.
    pub fn new(config: &RolloutsConfig, plan: &TrafficPlan, context: &ContextV1) -> Self {
        Rollouts { config: config.clone(), plan: plan.clone(), namespace: context.namespace.clone() }
    }

    fn rc(&self) -> &RolloutsConfig {
        &self.config
    }

    fn on_conflict(&self) -> OnConflict {
        self.rc().on_conflict.into()
    }
}

/// A node as a value postwire can write back: plain scalars keep their type (integers,
/// booleans, null), everything else is a string.
pub fn tree_value(tree: &Tree, id: NodeId) -> Value {
    let id = tree.resolved(id);
    match &tree.node(id).kind {
        NodeKind::Scalar { .. } if tree.is_null(id) => Value::Null,
        NodeKind::Scalar { value, style } => {
            if *style == Style::Plain && tree.node(id).tag.is_none() {
                if let Ok(i) = value.parse::<i64>() {
                    return Value::Int(i);
                }
                if value == "true" || value == "false" {
                    return Value::Bool(value == "true");
                }
            }
            Value::str(value.as_str())
        }
        NodeKind::Sequence { items, .. } => Value::Seq(items.iter().map(|&i| tree_value(tree, i)).collect()),
        NodeKind::Mapping { entries, .. } => Value::Map(
            entries
                .iter()
                .map(|&(k, v)| (tree.scalar(k).unwrap_or_default().to_string(), tree_value(tree, v)))
                .collect(),
        ),
        NodeKind::Alias => Value::Null,
    }
}

/// Template names a strategy's analyses refer to.
fn template_refs(strategy: &Json) -> Vec<String> {
    let mut out = blocking_template_refs(strategy);
    out.extend(analysis_refs(&strategy["canary"]["analysis"]));
    out
}

/// Template names of the analyses a Rollout waits for: canary steps and blue-green pre- and
/// post-promotion. Only background analysis (`canary.analysis`) may run without end: a step
/// advances only once its run is Successful (argoproj/argo-rollouts@9f8d111d
/// `rollout/canary.go:332-335`) and promotion waits likewise (`rollout/bluegreen.go:211-212`).
fn blocking_template_refs(strategy: &Json) -> Vec<String> {
    let mut out = Vec::new();
    for step in strategy["canary"]["steps"].as_array().into_iter().flatten() {
        out.extend(analysis_refs(&step["analysis"]));
    }
    out.extend(analysis_refs(&strategy["blueGreen"]["prePromotionAnalysis"]));
    out.extend(analysis_refs(&strategy["blueGreen"]["postPromotionAnalysis"]));
    out
}

/// The namespaced templates one analysis block names.
fn analysis_refs(analysis: &Json) -> Vec<String> {
    analysis["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["clusterScope"] != Json::Bool(true))
        .filter_map(|t| t["templateName"].as_str().map(String::from))
        .collect()
}

/// Measurements of a metric a Rollout waits for, when the config gives an interval and no
/// count: with an interval and no count Argo Rollouts' `EffectiveCount()` is nil and the
/// metric only ever ends by failing (argoproj/argo-rollouts@9f8d111d
/// `pkg/apis/rollouts/v1alpha1/analysis_types.go:159-169`, `analysis/analysis.go:615`).
const DEFAULT_BLOCKING_COUNT: i64 = 5;

impl Rollouts {
    /// The AnalysisTemplate for `rollouts.analysisTemplates.NAME`; `blocking` when a Rollout
    /// waits for it (a step or a promotion), which needs a metric that finishes.
    fn analysis_template(
        &self,
        name: &str,
        namespace: Option<&str>,
        config: &AnalysisTemplateConfig,
        blocking: bool,
    ) -> Result<Value> {
        let mut metric = vec![("name".to_string(), Value::str(name))];
        // A query is measured every minute by default; a Job runs once unless told otherwise.
        let interval =
            config.interval.as_ref().map(|delay| delay.0.as_str()).or(config.prometheus.as_ref().map(|_| "1m"));
        if let Some(every) = interval {
            metric.push(("interval".into(), Value::str(every)));
        }
        if let Some(delay) = &config.initial_delay {
            metric.push(("initialDelay".into(), Value::str(&delay.0)));
        }
        let count = match (config.count, interval.is_some() && blocking) {
            (Some(0), true) => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("AnalysisTemplate `{name}` is used in a step or a promotion and `count: 0` with an interval never finishes: the Rollout would wait forever"),
                )
                .with_path(format!("rollouts.analysisTemplates.{name}.count"))
                .with_hint("give a count (measurements before the step passes), or use the template only as background analysis (canary.analysis)"));
            }
            (None, true) => Some(DEFAULT_BLOCKING_COUNT),
            (count, _) => count.map(i64::from),
        };
        if let Some(count) = count {
            metric.push(("count".into(), Value::Int(count)));
        }
        if let Some(condition) = &config.success_condition {
            metric.push(("successCondition".into(), Value::str(condition)));
        }
        if let Some(condition) = &config.failure_condition {
            metric.push(("failureCondition".into(), Value::str(condition)));
        }
        if let Some(limit) = config.failure_limit {
            metric.push(("failureLimit".into(), Value::Int(limit.into())));
        }
        let provider = match (&config.prometheus, &config.job) {
            (Some(prometheus), _) => Value::map([(
                "prometheus",
                Value::map([("address", Value::str(&prometheus.address)), ("query", Value::str(&prometheus.query))]),
            )]),
            (None, Some(job)) => Value::map([("job", Value::from_json(&job.0))]),
            (None, None) => unreachable!("config checked: a prometheus query or a job"),
        };
        metric.push(("provider".into(), provider));
        let mut spec = Vec::new();
        if !config.args.is_empty() {
            spec.push((
                "args".to_string(),
                Value::Seq(config.args.iter().map(|a| Value::map([("name", Value::str(a))])).collect()),
            ));
        }
        spec.push(("metrics".into(), Value::Seq(vec![Value::Map(metric)])));
        Ok(object("argoproj.io/v1alpha1", "AnalysisTemplate", metadata(name, namespace, Vec::new()), Value::Map(spec)))
    }

    /// The strategy fields postwire sets for a target: the config's, plus the traffic wiring.
    fn strategy(&self, target: &Target, existing: Option<&str>) -> Result<(String, Json)> {
        let wc = &self.rc().workloads[target.index];
        let path = format!("rollouts.workloads[{}].strategy", target.index);
        let (kind, mut fields) = match (&wc.strategy, existing) {
            (Some(chosen), _) => {
                let (key, value) = chosen.0.as_object().and_then(|m| m.iter().next()).expect("checked: one strategy");
                (key.clone(), value.clone())
            }
            (None, Some(kind)) => (kind.to_string(), json!({})),
            (None, None) => ("canary".to_string(), json!({})),
        };
        if let Some(other) = existing.filter(|other| *other != kind) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("Rollout {} uses a {other} strategy and the config gives {kind}", target.object.display()),
            )
            .with_path(path)
            .with_hint("give the Rollout's own strategy type, or change the chart's"));
        }
        if !fields.is_object() {
            fields = json!({});
        }
        let svc = target.service.clone().unwrap_or_default();
        let user_routing = fields.get("trafficRouting").is_some();
        match target.mode {
            Mode::Subset if !user_routing => {
                fields["trafficRouting"] = json!({"istio": {
                    "virtualService": {"name": svc, "routes": [ROUTE_NAME]},
                    "destinationRule": {"name": svc, "canarySubsetName": "canary", "stableSubsetName": "stable"}}});
            }
            Mode::Host if !user_routing => {
                fields["canaryService"] = json!(format!("{svc}-canary"));
                fields["stableService"] = json!(format!("{svc}-stable"));
                fields["trafficRouting"] = json!({"istio": {"virtualService": {"name": svc, "routes": [ROUTE_NAME]}}});
            }
            Mode::BlueGreen => {
                if fields.get("activeService").is_none() {
                    fields["activeService"] = json!(svc);
                }
                if fields.get("previewService").is_none() {
                    fields["previewService"] = json!(format!("{svc}-preview"));
                }
            }
            _ => {}
        }
        Ok((kind, fields))
    }

    /// A copy of Service `name` (ports and selector) named `new`, for host-level canaries and
    /// blue-green previews.
    fn service_copy(&self, ws: &Workspace<'_>, name: &str, ns: Option<&str>, new: &str) -> Option<Value> {
        let svc = ws.named("", "Service", name).find(|o| {
            namespaces_match(o.namespace.as_deref().or(self.namespace.as_deref()), ns)
                && !plan::is_generated(ws.tree(o.segment), o)
        })?;
        let tree = ws.tree(svc.segment);
        let mut spec = Vec::new();
        if let Some(ports) = tree.path(svc.node, &["spec", "ports"]) {
            spec.push(("ports".to_string(), tree_value(tree, ports)));
        }
        if let Some(selector) = tree.path(svc.node, &["spec", "selector"]) {
            spec.push(("selector".to_string(), tree_value(tree, selector)));
        }
        let labels = tree.path(svc.node, &["metadata", "labels"]).map(|labels| tree_value(tree, labels));
        let labels = match labels {
            Some(Value::Map(fields)) => fields,
            _ => Vec::new(),
        };
        Some(object("v1", "Service", metadata(new, svc.namespace.as_deref(), labels), Value::Map(spec)))
    }
}

fn ignore(report: &mut Report, group: &str, kind: &str, name: &str, ns: Option<&str>, pointers: &[&str], jq: &[&str]) {
    report.ignore_difference(IgnoreDifference {
        group: group.into(),
        kind: kind.into(),
        name: name.into(),
        namespace: ns.map(String::from),
        json_pointers: pointers.iter().map(|s| s.to_string()).collect(),
        jq_path_expressions: jq.iter().map(|s| s.to_string()).collect(),
    });
}

const MANAGED_BY: &str = ".metadata.annotations[\"argo-rollouts.argoproj.io/managed-by-rollouts\"]";

/// The objects of the render a converted Deployment is paired with, indexed once per run
/// (stream order kept within each entry).
struct Index<'o> {
    /// HorizontalPodAutoscalers by the name of the Deployment or Rollout they scale.
    hpas: BTreeMap<String, Vec<&'o Object>>,
    /// Rollouts an earlier run generated, by namespace (the render's for one without) and name.
    generated: BTreeMap<(Option<String>, String), Vec<&'o Object>>,
}

impl<'o> Index<'o> {
    fn new(ws: &Workspace<'_>, objects: &'o [Object], namespace: Option<&str>) -> Self {
        let mut hpas: BTreeMap<String, Vec<&Object>> = BTreeMap::new();
        let mut generated: BTreeMap<(Option<String>, String), Vec<&Object>> = BTreeMap::new();
        for obj in objects {
            let tree = ws.tree(obj.segment);
            if obj.kind == "HorizontalPodAutoscaler"
                && matches!(tree.str_at(obj.node, &["spec", "scaleTargetRef", "kind"]), Some("Deployment" | "Rollout"))
            {
                if let Some(target) = tree.str_at(obj.node, &["spec", "scaleTargetRef", "name"]) {
                    hpas.entry(target.to_string()).or_default().push(obj);
                }
            }
            if obj.is("argoproj.io", "Rollout")
                && tree.str_at(obj.node, &["metadata", "annotations", GENERATED_ANNOTATION]) == Some(NAME)
            {
                let key = (obj.namespace.as_deref().or(namespace).map(String::from), obj.name.clone());
                generated.entry(key).or_default().push(obj);
            }
        }
        Index { hpas, generated }
    }

    /// The first HPA (in stream order) scaling a Deployment or Rollout named like `obj` in
    /// its namespace.
    fn hpa(&self, obj: &Object) -> Option<&'o Object> {
        let hpas = self.hpas.get(&obj.name)?;
        hpas.iter().copied().find(|hpa| namespaces_match(hpa.namespace.as_deref(), obj.namespace.as_deref()))
    }

    /// The `nth` Rollout an earlier run made from a Deployment of this name and namespace.
    fn generated(&self, namespace: Option<&str>, name: &str, nth: usize) -> Option<&'o Object> {
        let key = (namespace.map(String::from), name.to_string());
        self.generated.get(&key).and_then(|r| r.get(nth)).copied()
    }
}

/// The generated Rollout for a converted Deployment: its replicas (unless an HPA scales it),
/// selector, `workloadRef` and strategy, labelled with the Deployment's selector labels.
fn converted_rollout(
    tree: &Tree,
    obj: &Object,
    replicas: Option<Value>,
    strategy: Value,
    scale_down: ScaleDown,
) -> Value {
    let mut spec = Vec::new();
    if let Some(count) = replicas {
        spec.push(("replicas".to_string(), count));
    }
    if let Some(selector) = tree.path(obj.node, &["spec", "selector"]) {
        spec.push(("selector".to_string(), tree_value(tree, selector)));
    }
    spec.push((
        "workloadRef".into(),
        Value::map([
            ("apiVersion", Value::str("apps/v1")),
            ("kind", Value::str("Deployment")),
            ("name", Value::str(&obj.name)),
            ("scaleDown", Value::str(scale_down.as_str())),
        ]),
    ));
    spec.push(("strategy".into(), strategy));
    // The Rollout carries the Deployment's selector labels, not all its labels: other
    // wirings (Datadog's unified tags) label the Deployment after this one runs, so
    // copying every label would give a second run a different Rollout.
    let labels = match tree.path(obj.node, &["spec", "selector", "matchLabels"]).map(|labels| tree_value(tree, labels))
    {
        Some(Value::Map(fields)) => fields,
        _ => Vec::new(),
    };
    object("argoproj.io/v1alpha1", "Rollout", metadata(&obj.name, obj.namespace.as_deref(), labels), Value::Map(spec))
}

/// Why postwire sets one strategy field of an existing Rollout.
fn strategy_reason(target: &Target, kind: &str, key: &str, value: &Json) -> String {
    match key {
        "trafficRouting" => {
            format!(
                "Istio splits the canary's traffic through VirtualService {}",
                target.service.as_deref().unwrap_or_default()
            )
        }
        "canaryService" | "stableService" | "activeService" | "previewService" => {
            format!("Service {} in front of the {kind} pods", value.as_str().unwrap_or_default())
        }
        _ => format!("rollouts.workloads[{}].strategy.{kind}.{key}", target.index),
    }
}

/// What Argo CD must leave to the Rollouts controller on the objects routing a target's
/// traffic, and the Services its strategy needs beside the one in front.
fn ignore_routing(report: &mut Report, target: &Target) -> Vec<String> {
    let svc = target.service.clone().unwrap_or_default();
    let ns = target.object.namespace.as_deref();
    let mut copies = Vec::new();
    if matches!(target.mode, Mode::Subset | Mode::Host) {
        ignore(report, "networking.istio.io", "VirtualService", &svc, ns, &[], &[".spec.http[].route[].weight"]);
    }
    match target.mode {
        Mode::Subset => {
            let jq = [".spec.subsets[].labels", MANAGED_BY];
            ignore(report, "networking.istio.io", "DestinationRule", &svc, ns, &[], &jq);
        }
        Mode::Host => copies.extend([format!("{svc}-stable"), format!("{svc}-canary")]),
        Mode::BlueGreen => copies.push(format!("{svc}-preview")),
        Mode::Plain => {}
    }
    if target.mode == Mode::BlueGreen {
        ignore(report, "", "Service", &svc, ns, &[], &[".spec.selector[\"rollouts-pod-template-hash\"]", MANAGED_BY]);
    }
    copies
}

impl Rollouts {
    /// Generate `value` and record why.
    fn emit(&self, ws: &mut Workspace<'_>, report: &mut Report, value: Value, reason: String) -> Result<()> {
        emit(ws, report, NAME, value, self.on_conflict(), reason)
    }

    /// Every analysis a strategy names must exist, under `rollouts.analysisTemplates` or in
    /// the render.
    fn check_template_refs(&self, objects: &[Object]) -> Result<()> {
        let existing: Vec<&str> =
            objects.iter().filter(|o| o.is("argoproj.io", "AnalysisTemplate")).map(|o| o.name.as_str()).collect();
        for (i, wc) in self.rc().workloads.iter().enumerate() {
            for name in wc.strategy.as_ref().map(|s| template_refs(&s.0)).unwrap_or_default() {
                if self.rc().analysis_templates.contains_key(&name) || existing.contains(&name.as_str()) {
                    continue;
                }
                let known = self.rc().analysis_templates.keys().map(String::as_str).chain(existing.iter().copied());
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("the strategy names AnalysisTemplate `{name}`, which is neither under rollouts.analysisTemplates nor in the render{}", plan::closest(&name, known)),
                )
                .with_path(format!("rollouts.workloads[{i}].strategy")));
            }
        }
        Ok(())
    }

    /// Templates a Rollout waits for, whether the config's strategy or the chart's names them.
    fn blocking_templates(&self, ws: &Workspace<'_>, objects: &[Object]) -> Vec<String> {
        let configured = self.rc().workloads.iter().filter_map(|wc| wc.strategy.as_ref());
        let charts = objects.iter().filter(|o| o.is("argoproj.io", "Rollout")).flat_map(|o| {
            let tree = ws.tree(o.segment);
            let strategy = tree.path(o.node, &["spec", "strategy"]).map(|s| tree_value(tree, s).to_json());
            strategy.map(|s| blocking_template_refs(&s)).unwrap_or_default()
        });
        configured.flat_map(|s| blocking_template_refs(&s.0)).chain(charts).collect()
    }

    /// Generate `rollouts.analysisTemplates.NAME`: a Rollout finds its AnalysisTemplates in its
    /// own namespace, so one copy per namespace of the Rollouts using it (none given: the
    /// namespace it is applied to).
    fn analysis_templates(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        targets: &[Target],
        blocking: &[String],
    ) -> Result<()> {
        for (name, config) in &self.rc().analysis_templates {
            let uses = |wc: &RolloutWorkload| wc.strategy.as_ref().is_some_and(|s| template_refs(&s.0).contains(name));
            let users: Vec<String> =
                self.rc().workloads.iter().filter(|wc| uses(wc)).map(|wc| format!("`{}`", wc.name)).collect();
            let mut namespaces: Vec<Option<String>> = targets
                .iter()
                .filter(|tg| uses(&self.rc().workloads[tg.index]))
                .map(|tg| tg.object.namespace.clone())
                .collect();
            namespaces.sort();
            namespaces.dedup();
            if namespaces.is_empty() {
                namespaces.push(None);
            }
            let what = if config.job.is_some() { "Job" } else { "Prometheus" };
            let why = if users.is_empty() {
                format!("{what} analysis `{name}` (rollouts.analysisTemplates; no strategy here names it)")
            } else {
                format!("{what} analysis `{name}` for the strategy of {}", users.join(", "))
            };
            for ns in namespaces {
                let template = self.analysis_template(name, ns.as_deref(), config, blocking.contains(name))?;
                self.emit(ws, report, template, why.clone())?;
            }
        }
        Ok(())
    }

    /// The replicas of the Rollout made from a Deployment no HPA scales: the Deployment's,
    /// unless an earlier run held it at 0, when they are the Rollout's (ours) now.
    ///
    /// That Rollout is the one made from this Deployment: same name, same namespace (the
    /// render's for an object without one). A Deployment written twice is one object in a
    /// cluster (the API server refuses to create a second of the same kind, namespace and
    /// name: k8s.io/apiserver `pkg/registry/generic/registry/store.go`, `Store.Create`,
    /// AlreadyExists), yet each copy gets a Rollout, in stream order: the n-th copy pairs with
    /// the n-th. Pairing every copy with the first made a second render change the other
    /// copies' replicas.
    fn replicas(&self, ws: &Workspace<'_>, index: &Index<'_>, obj: &Object, nth: usize) -> Option<Value> {
        let ns = self.namespace.as_deref();
        let earlier = index.generated(obj.namespace.as_deref().or(ns), &obj.name, nth);
        let held = earlier.map(|r| {
            let tree = ws.tree(r.segment);
            tree.path(r.node, &["spec", "replicas"]).map(|n| tree_value(tree, n))
        });
        let tree = ws.tree(obj.segment);
        let own = tree.path(obj.node, &["spec", "replicas"]).map(|r| tree_value(tree, r));
        match (own, held) {
            (Some(Value::Int(0)), Some(held)) => held,
            (own, _) => own,
        }
    }

    /// Hold a converted Deployment at `replicas: 0` unless `scaleDown: never` (a warning says
    /// its pods keep running).
    ///
    /// Argo Rollouts scales the Deployment down only at the Rollout's revision 1
    /// (argoproj/argo-rollouts@9f8d111d `rollout/sync.go:1362-1367`,
    /// `rollout/replicaset.go:220`): a later `helm upgrade` writing the chart's
    /// replicas back would run its pods beside the Rollout's. Its migration guide
    /// holds the Deployment at 0 in the manifest (`docs/migrating.md:95`).
    fn hold_deployment(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        obj: &Object,
        scale_down: ScaleDown,
    ) -> Result<()> {
        let mut changes = Changes::new(NAME, obj);
        if scale_down == ScaleDown::Never {
            changes.note(Level::Warning, "scaleDown: never keeps the Deployment's pods running beside the Rollout's");
            return changes.apply(ws, report);
        }
        changes.set(
            &[PathSeg::from("spec")],
            "replicas",
            Value::Int(0),
            format!(
                "the Rollout {} runs the pods (workloadRef); an upgrade must not scale the Deployment back up",
                obj.name
            ),
        );
        changes.apply(ws, report)?;
        ignore(report, "apps", "Deployment", &obj.name, obj.namespace.as_deref(), &["/spec/replicas"], &[]);
        Ok(())
    }

    /// Point an HPA that scaled a converted Deployment at the Rollout of the same name.
    fn retarget_hpa(&self, ws: &mut Workspace<'_>, report: &mut Report, hpa: &Object, deployment: &str) -> Result<()> {
        let at = [PathSeg::from("spec"), PathSeg::from("scaleTargetRef")];
        let why = format!("Deployment {deployment} is delivered by the Rollout of the same name");
        let mut changes = Changes::new(NAME, hpa);
        changes.set(&at, "apiVersion", Value::str("argoproj.io/v1alpha1"), why.clone());
        changes.set(&at, "kind", Value::str("Rollout"), why);
        changes.apply(ws, report)
    }

    /// Convert a Deployment: generate its Rollout (the `nth` of its name and namespace), hold
    /// it at 0 and move its HPA to the Rollout.
    fn convert(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        target: &Target,
        index: &Index<'_>,
        nth: usize,
    ) -> Result<()> {
        let obj = &target.object;
        let (kind, fields) = self.strategy(target, None)?;
        let scale_down = self.rc().workloads[target.index].scale_down.unwrap_or(self.rc().scale_down);
        let hpa = index.hpa(obj);
        let replicas = if hpa.is_none() { self.replicas(ws, index, obj, nth) } else { None };
        let strategy = Value::map([(kind.as_str(), Value::from_json(&fields))]);
        let rollout = converted_rollout(ws.tree(obj.segment), obj, replicas, strategy, scale_down);
        let reason = format!(
            "{kind} delivery of {} (its pod template, through workloadRef, scaleDown {})",
            obj.display(),
            scale_down.as_str()
        );
        self.emit(ws, report, rollout, reason)?;
        self.hold_deployment(ws, report, obj, scale_down)?;
        if let Some(hpa_object) = hpa {
            self.retarget_hpa(ws, report, hpa_object, &obj.name)?;
        }
        Ok(())
    }

    /// Set the strategy fields of an existing Rollout.
    fn wire_rollout(&self, ws: &mut Workspace<'_>, report: &mut Report, target: &Target) -> Result<()> {
        let obj = &target.object;
        let tree = ws.tree(obj.segment);
        let existing = ["canary", "blueGreen"]
            .into_iter()
            .find(|kind_key| tree.path(obj.node, &["spec", "strategy", kind_key]).is_some());
        let (kind, fields) = self.strategy(target, existing)?;
        let at = [PathSeg::from("spec"), PathSeg::from("strategy"), PathSeg::from(kind.as_str())];
        let mut changes = Changes::new(NAME, obj);
        for (key, value) in fields.as_object().into_iter().flatten() {
            changes.set(&at, key, Value::from_json(value), strategy_reason(target, &kind, key, value));
        }
        changes.apply(ws, report)
    }

    /// The Services a target's strategy needs (copies of the one in front), and what Argo CD
    /// must leave to the controller.
    fn strategy_services(&self, ws: &mut Workspace<'_>, report: &mut Report, target: &Target) -> Result<()> {
        let svc = target.service.clone().unwrap_or_default();
        let ns = target.object.namespace.as_deref();
        for copy in ignore_routing(report, target) {
            let Some(value) = self.service_copy(ws, &svc, ns, &copy) else {
                return Err(Error::new(ErrorKind::Config, format!("Service `{svc}` is not in the render"))
                    .with_path(format!("rollouts.workloads[{}].service", target.index)));
            };
            let reason = format!(
                "Service for the {} pods of {} (Argo Rollouts sets its selector)",
                copy.rsplit('-').next().unwrap_or_default(),
                target.object.display()
            );
            self.emit(ws, report, value, reason)?;
            ignore(
                report,
                "",
                "Service",
                &copy,
                ns,
                &[],
                &[".spec.selector[\"rollouts-pod-template-hash\"]", MANAGED_BY],
            );
        }
        Ok(())
    }
}

impl Wiring for Rollouts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.plan.workloads.iter().map(|w| w.kind.clone()).collect();
        kinds.extend(["Service", "AnalysisTemplate", "HorizontalPodAutoscaler", "Rollout"].map(String::from));
        kinds
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let objects = ws.objects();
        let ns = self.namespace.as_deref();
        let routed =
            if self.plan.routed.is_some() { plan::services(ws, &objects, &self.plan, ns)? } else { Vec::new() };
        let targets = plan::targets(ws, &objects, &self.plan, &routed, ns)?;
        self.check_template_refs(&objects)?;
        let blocking = self.blocking_templates(ws, &objects);
        self.analysis_templates(ws, report, &targets, &blocking)?;
        let index = Index::new(ws, &objects, ns);
        // Deployments converted so far, by namespace (the render's for one without) and name.
        let mut converted: BTreeMap<(Option<&str>, &str), usize> = BTreeMap::new();
        for target in &targets {
            let obj = &target.object;
            if target.convert {
                let copy = converted.entry((obj.namespace.as_deref().or(ns), obj.name.as_str())).or_default();
                let nth = *copy;
                *copy += 1;
                self.convert(ws, report, target, &index, nth)?;
            } else {
                self.wire_rollout(ws, report, target)?;
            }
            self.strategy_services(ws, report, target)?;
        }
        Ok(())
    }
}
