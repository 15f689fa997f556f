//! Argo Rollouts: analyses that never complete, traffic routing to objects that are not
//! there, and autoscalers left on a Deployment a Rollout took over.
//!
//! Upstream: argoproj/argo-rollouts at 9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d.

use serde_json::Value as Json;

use super::index::{at, int, Index, Obj};
use super::{Finding, Level};

/// A step or pre/post-promotion analysis whose metric can never complete.
pub const ANALYSIS_NEVER_COMPLETES: &str = "rollout-analysis-never-completes";
/// `trafficRouting` names a VirtualService, route, DestinationRule or subset that is not there.
pub const TRAFFIC_REF_MISSING: &str = "rollout-traffic-ref-missing";
/// An HPA still scales the Deployment a Rollout took over through `workloadRef`.
pub const WORKLOAD_STILL_TARGETED: &str = "rollout-workload-still-targeted";

const GROUP: &str = "argoproj.io";

pub fn check(index: &Index, out: &mut Vec<Finding>) {
    for rollout in index.of_kind(GROUP, "Rollout") {
        analyses(index, rollout, out);
        traffic(index, rollout, out);
    }
    workload_ref(index, out);
}

/// Every analysis a Rollout waits on: canary step analyses and blue-green pre/post-promotion
/// analyses, with where they are. The background `canary.analysis` is left out: it may run
/// for as long as the rollout does.
fn blocking_analyses(rollout: &Obj) -> Vec<(String, &Json)> {
    let mut out = Vec::new();
    let steps = rollout.at(&["spec", "strategy", "canary", "steps"]).as_array().into_iter().flatten();
    for (i, step) in steps.enumerate() {
        if step.get("analysis").is_some() {
            out.push((format!("canary step {i}"), &step["analysis"]));
        }
    }
    for key in ["prePromotionAnalysis", "postPromotionAnalysis"] {
        let a = rollout.at(&["spec", "strategy", "blueGreen", key]);
        if a.is_object() {
            out.push((format!("blueGreen.{key}"), a));
        }
    }
    out
}

/// Whether a metric runs forever: an interval and no count. `Metric.EffectiveCount()` is nil
/// exactly then (pkg/apis/rollouts/v1alpha1/analysis_types.go:159-169); a count written as an
/// argument placeholder is resolved later and is not judged here.
fn unbounded(metric: &Json) -> bool {
    let interval = metric.get("interval").and_then(Json::as_str).is_some_and(|s| !s.is_empty());
    let count = metric.get("count").unwrap_or(&Json::Null);
    let no_count = match count {
        Json::Null => true,
        Json::String(s) if s.contains("{{") => false,
        other => int(other) == Some(0),
    };
    interval && no_count
}

/// A step analysis completes only when its run is Successful (rollout/canary.go:333-335,
/// `completedCurrentCanaryStep`), and blue-green promotion waits on the pre-promotion run
/// (rollout/bluegreen.go:168): a run with an unbounded metric holds the rollout forever.
fn analyses(index: &Index, rollout: &Obj, out: &mut Vec<Finding>) {
    for (place, analysis) in blocking_analyses(rollout) {
        for t in analysis.get("templates").and_then(Json::as_array).into_iter().flatten() {
            let Some(name) = t.get("templateName").and_then(Json::as_str) else {
                continue;
            };
            let cluster = t.get("clusterScope").and_then(Json::as_bool).unwrap_or(false);
            let template = if cluster {
                index.find(GROUP, "ClusterAnalysisTemplate", None, name)
            } else {
                index.find(GROUP, "AnalysisTemplate", rollout.namespace.as_deref(), name)
            };
            let Some(template) = template else {
                continue;
            };
            let metrics = template.at(&["spec", "metrics"]).as_array().into_iter().flatten();
            for metric in metrics.filter(|m| unbounded(m)) {
                let metric_name = metric.get("name").and_then(Json::as_str).unwrap_or("?");
                out.push(Finding::new(
                    Level::Error,
                    ANALYSIS_NEVER_COMPLETES,
                    rollout,
                    format!(
                        "{place} runs {} {name}, whose metric `{metric_name}` has an interval and no count: \
                         the AnalysisRun never completes, so the rollout waits there forever; give the metric \
                         a `count` (or use the template as background analysis only)",
                        template.kind
                    ),
                ));
            }
        }
    }
}

/// `name` or `name.namespace`, as trafficRouting references a VirtualService.
fn split_ref<'a>(reference: &'a str, default_ns: Option<&'a str>) -> (&'a str, Option<&'a str>) {
    match reference.split_once('.') {
        Some((name, ns)) => (name, Some(ns)),
        None => (reference, default_ns),
    }
}

fn traffic(index: &Index, rollout: &Obj, out: &mut Vec<Finding>) {
    let canary = rollout.at(&["spec", "strategy", "canary"]);
    services(index, rollout, out);
    let istio = at(canary, &["trafficRouting", "istio"]);
    if !istio.is_object() {
        return;
    }
    let mut vss: Vec<&Json> = istio.get("virtualServices").and_then(Json::as_array).into_iter().flatten().collect();
    if let Some(vs) = istio.get("virtualService") {
        vss.push(vs);
    }
    let dr = istio.get("destinationRule");
    let subsets: Option<(&str, &str)> = dr.map(|d| {
        let s = |k: &str| d.get(k).and_then(Json::as_str).unwrap_or_default();
        (s("canarySubsetName"), s("stableSubsetName"))
    });
    if let Some(name) = dr.and_then(|d| d.get("name")).and_then(Json::as_str) {
        destination_rule(index, rollout, name, subsets.unwrap_or_default(), out);
    }
    let svc = |k: &str| canary.get(k).and_then(Json::as_str).unwrap_or_default();
    let hosts = (svc("canaryService"), svc("stableService"));
    for vs in vss {
        let Some(reference) = vs.get("name").and_then(Json::as_str) else {
            continue;
        };
        let (name, ns) = split_ref(reference, rollout.namespace.as_deref());
        let Some(found) = index.find("networking.istio.io", "VirtualService", ns, name) else {
            out.push(Finding::new(
                Level::Warning,
                TRAFFIC_REF_MISSING,
                rollout,
                format!(
                    "trafficRouting names VirtualService {reference}, which is not in the stream: unless it \
                     exists in the cluster, the rollout stops with an error at its first step; add it to the chart"
                ),
            ));
            continue;
        };
        virtual_service_routes(rollout, vs, found, subsets, hosts, out);
    }
}

/// The routes the rollout patches must exist (rollout/trafficrouting/istio/istio.go:988-1009)
/// and lead to both the canary and the stable destination (istio.go:1205-1248).
fn virtual_service_routes(
    rollout: &Obj,
    spec: &Json,
    vs: &Obj,
    subsets: Option<(&str, &str)>,
    (canary_svc, stable_svc): (&str, &str),
    out: &mut Vec<Finding>,
) {
    let http: Vec<&Json> = vs.at(&["spec", "http"]).as_array().into_iter().flatten().collect();
    let names: Vec<&str> =
        spec.get("routes").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
    let mut error = |message: String| out.push(Finding::new(Level::Error, TRAFFIC_REF_MISSING, rollout, message));
    let uses_tls_or_tcp = spec.get("tlsRoutes").is_some() || spec.get("tcpRoutes").is_some();
    let routes: Vec<&Json> = if names.is_empty() {
        if uses_tls_or_tcp {
            return;
        }
        match http.iter().position(|r| http.len() == 1 || r.get("name").is_none()) {
            Some(i) => vec![http[i]],
            None => {
                return error(format!(
                    "trafficRouting names no route and VirtualService {} has {} named HTTP routes: the controller \
                     finds nothing to set weights on; list the route in `routes`",
                    vs.name,
                    http.len()
                ))
            }
        }
    } else {
        let mut found = Vec::new();
        for name in names {
            match http.iter().find(|r| r.get("name").and_then(Json::as_str) == Some(name)) {
                Some(r) => found.push(*r),
                None => error(format!(
                    "trafficRouting names HTTP route `{name}`, which VirtualService {} does not have: the \
                     controller fails with \"HTTP Route '{name}' is not found\"; name the route in the VirtualService",
                    vs.name
                )),
            }
        }
        found
    };
    for route in routes {
        let dests: Vec<&Json> = route
            .get("route")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("destination"))
            .collect();
        let has = |f: &dyn Fn(&Json) -> bool| dests.iter().any(|d| f(d));
        let missing: Vec<String> = match subsets {
            Some((canary, stable)) => [canary, stable]
                .into_iter()
                .filter(|s| !has(&|d: &Json| d.get("subset").and_then(Json::as_str) == Some(s)))
                .map(|s| format!("subset `{s}`"))
                .collect(),
            None => [canary_svc, stable_svc]
                .into_iter()
                .filter(|s| !s.is_empty() && !has(&|d: &Json| host_is(d, s)))
                .map(|s| format!("host `{s}`"))
                .collect(),
        };
        if !missing.is_empty() {
            error(format!(
                "the VirtualService {} route the rollout shifts has no destination with {}: the controller refuses \
                 to set weights (\"not found in route\"); add the destination",
                vs.name,
                missing.join(" or ")
            ));
        }
    }
}

fn host_is(destination: &Json, service: &str) -> bool {
    let host = destination.get("host").and_then(Json::as_str).unwrap_or_default();
    host == service || host.split('.').next() == Some(service)
}

fn destination_rule(index: &Index, rollout: &Obj, name: &str, (canary, stable): (&str, &str), out: &mut Vec<Finding>) {
    let Some(dr) = index.find("networking.istio.io", "DestinationRule", rollout.namespace.as_deref(), name) else {
        out.push(Finding::new(
            Level::Warning,
            TRAFFIC_REF_MISSING,
            rollout,
            format!(
                "trafficRouting names DestinationRule {name}, which is not in the stream: unless it exists in the \
                 cluster, the rollout cannot split traffic by subset; add it to the chart"
            ),
        ));
        return;
    };
    let defined: Vec<&str> = dr
        .at(&["spec", "subsets"])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Json::as_str))
        .collect();
    // The controller patches the labels of both named subsets (istio.go:436-445).
    for subset in [canary, stable].into_iter().filter(|s| !defined.contains(s)) {
        out.push(Finding::new(
            Level::Error,
            TRAFFIC_REF_MISSING,
            rollout,
            format!(
                "trafficRouting expects subset `{subset}` in DestinationRule {name}, which defines {}: traffic to \
                 that subset has no endpoints; add the subset",
                if defined.is_empty() { "none".to_string() } else { defined.join(", ") }
            ),
        ));
    }
}

/// Services a strategy names must exist for the controller to switch their selectors.
fn services(index: &Index, rollout: &Obj, out: &mut Vec<Finding>) {
    let strategy = rollout.at(&["spec", "strategy"]);
    let names = [
        ("canary", "canaryService"),
        ("canary", "stableService"),
        ("blueGreen", "activeService"),
        ("blueGreen", "previewService"),
    ];
    for (strategy_key, key) in names {
        let Some(name) = at(strategy, &[strategy_key, key]).as_str() else {
            continue;
        };
        if index.find("", "Service", rollout.namespace.as_deref(), name).is_none() {
            out.push(Finding::new(
                Level::Warning,
                TRAFFIC_REF_MISSING,
                rollout,
                format!(
                    "{strategy_key}.{key} names Service {name}, which is not in the stream: unless it exists in the \
                     cluster, the rollout stays degraded (\"service not found\"); add the Service"
                ),
            ));
        }
    }
}

/// Argo Rollouts scales a `workloadRef` Deployment to zero (argoproj/argo-rollouts 9f8d111d
/// rollout/sync.go:1362-1367 with `scaleDown: onsuccess`, rollout/replicaset.go:220-239 with
/// `progressively`, both through `scaleDeployment` in rollout/scale_utils.go:9), and
/// an HorizontalPodAutoscaler on that Deployment then either sees zero replicas and stops, or
/// scales it back up beside the Rollout: the Rollout itself is never autoscaled.
fn workload_ref(index: &Index, out: &mut Vec<Finding>) {
    for hpa in index.of_kind("autoscaling", "HorizontalPodAutoscaler") {
        let target = hpa.at(&["spec", "scaleTargetRef"]);
        if target.get("kind").and_then(Json::as_str) != Some("Deployment") {
            continue;
        }
        let Some(name) = target.get("name").and_then(Json::as_str) else {
            continue;
        };
        let taken = index.rollouts_taking(name, hpa.namespace.as_deref()).next();
        if let Some(rollout) = taken {
            out.push(Finding::new(
                Level::Error,
                WORKLOAD_STILL_TARGETED,
                hpa,
                format!(
                    "scales Deployment {name}, which Rollout {} took over through workloadRef: the Rollout is never \
                     autoscaled and the Deployment may be scaled back up beside it; target the Rollout \
                     (scaleTargetRef apiVersion argoproj.io/v1alpha1, kind Rollout)",
                    rollout.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::table;
    use super::*;

    fn template(metric: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: rate\nspec:\n  metrics:\n  - name: ok\n{metric}    provider:\n      prometheus:\n        query: up\n"
        )
    }

    fn rollout(analysis: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  strategy:\n    canary:\n{analysis}"
        )
    }

    const STEP: &str = "      steps:\n      - setWeight: 20\n      - analysis:\n          templates:\n          - templateName: rate\n";
    const BACKGROUND: &str = "      analysis:\n        templates:\n        - templateName: rate\n";

    #[test]
    fn analysis_never_completes() {
        let cases = [
            ("step, interval, no count", template("    interval: 1m\n") + "---\n" + &rollout(STEP), Some(Level::Error)),
            (
                "step, count 0",
                template("    interval: 1m\n    count: 0\n") + "---\n" + &rollout(STEP),
                Some(Level::Error),
            ),
            ("step with count", template("    interval: 1m\n    count: 5\n") + "---\n" + &rollout(STEP), None),
            ("step, no interval", template("") + "---\n" + &rollout(STEP), None),
            (
                "count from an argument",
                template("    interval: 1m\n    count: '{{args.n}}'\n") + "---\n" + &rollout(STEP),
                None,
            ),
            ("background", template("    interval: 1m\n") + "---\n" + &rollout(BACKGROUND), None),
            ("template elsewhere", rollout(STEP), None),
        ];
        table(ANALYSIS_NEVER_COMPLETES, &cases);
        let bg = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  strategy:\n    blueGreen:\n      activeService: web\n      prePromotionAnalysis:\n        templates:\n        - templateName: rate\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n";
        table(
            ANALYSIS_NEVER_COMPLETES,
            &[("pre-promotion", template("    interval: 1m\n") + "---\n" + bg, Some(Level::Error))],
        );
    }

    fn istio_rollout(vs: &str, routes: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  strategy:\n    canary:\n      trafficRouting:\n        istio:\n          virtualService:\n            name: {vs}\n{routes}          destinationRule:\n            name: web\n            canarySubsetName: canary\n            stableSubsetName: stable\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: web\nspec:\n  host: web\n  subsets:\n  - name: canary\n  - name: stable\n"
        )
    }

    fn vs(route_name: &str, subsets: &[&str]) -> String {
        let dests: String =
            subsets.iter().map(|s| format!("    - destination:\n        host: web\n        subset: {s}\n")).collect();
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts: [web]\n  http:\n  - name: {route_name}\n    route:\n{dests}"
        )
    }

    #[test]
    fn traffic_ref_missing() {
        let primary = "            routes: [primary]\n";
        let cases = [
            ("all there", istio_rollout("web", primary) + &vs("primary", &["stable", "canary"]), None),
            ("VirtualService elsewhere", istio_rollout("web", primary), Some(Level::Warning)),
            ("route missing", istio_rollout("web", primary) + &vs("other", &["stable", "canary"]), Some(Level::Error)),
            ("subset not routed", istio_rollout("web", primary) + &vs("primary", &["stable"]), Some(Level::Error)),
            ("single unnamed route", istio_rollout("web", "") + &vs("primary", &["stable", "canary"]), None),
            (
                "subset not defined",
                istio_rollout("web", primary).replace("  - name: canary\n", "") + &vs("primary", &["stable", "canary"]),
                Some(Level::Error),
            ),
        ];
        table(TRAFFIC_REF_MISSING, &cases);
    }

    #[test]
    fn workload_still_targeted() {
        let base = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  workloadRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n---\n";
        let hpa = |kind: &str| {
            format!("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef:\n    kind: {kind}\n    name: web\n")
        };
        let cases = [
            ("HPA on the Deployment", base.to_string() + &hpa("Deployment"), Some(Level::Error)),
            ("HPA on the Rollout", base.to_string() + &hpa("Rollout"), None),
        ];
        table(WORKLOAD_STILL_TARGETED, &cases);
    }
}
