//! Istio STRICT mTLS and AuthorizationPolicies in front of ports that a scraper outside the
//! mesh reads: a ServiceMonitor, a PodMonitor, a Datadog check, or `prometheus.io/*`
//! annotations with Istio's metrics merging turned off.
//!
//! A scraper without a sidecar speaks plaintext: STRICT mTLS refuses it, and an
//! AuthorizationPolicy that names principals or namespaces cannot match it (those need a peer
//! identity). Whether Prometheus or the Datadog agent runs in the mesh is the cluster's
//! business, so this is a warning. Upstream: istio/istio at 86c9f01f, security.istio.io
//! PeerAuthentication (`portLevelMtls` is keyed by the workload's port) and
//! AuthorizationPolicy semantics (an ALLOW policy admits a request only if a rule matches).
//! Pods scraped through `prometheus.io/*` annotations count only with metrics merging off:
//! the injector rewrites those annotations to the sidecar's status port, which serves the
//! merged metrics outside mTLS, unless `prometheus.istio.io/merge-metrics` says false (else the
//! mesh config, default on) (istio/istio 86c9f01f pkg/kube/inject/webhook.go:325-342
//! `enablePrometheusMerge`, :918-922 `applyPrometheusMerge`).

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::index::{at, int, Index, Obj, Selector, Template};
use super::{Finding, Level};

/// STRICT mTLS or an AuthorizationPolicy stands in front of a port scraped from outside the mesh.
pub const MTLS_BLOCKS_SCRAPE: &str = "istio-mtls-blocks-scrape";

const SEC: &str = "security.istio.io";
const MON: &str = "monitoring.coreos.com";
/// Istio's root namespace by default: policies there without a selector apply mesh-wide.
const ROOT: &str = "istio-system";

/// A scraped port of a pod template.
pub(super) struct Scrape<'a> {
    pub template: &'a Template,
    pub port: i64,
    pub by: String,
}

pub fn check(index: &Index, out: &mut Vec<Finding>) {
    if !index.has_group(SEC) {
        return;
    }
    let mut seen = BTreeSet::new();
    for s in scrapes(index, false) {
        if !seen.insert((s.template.owner, s.port)) {
            continue;
        }
        let owner = index.object(s.template.owner);
        if let Some(pa) = strict(index, owner, s.template, s.port) {
            out.push(Finding::new(
                Level::Warning,
                MTLS_BLOCKS_SCRAPE,
                owner,
                format!(
                    "port {} is scraped by {}, but PeerAuthentication {} makes it STRICT mTLS: a scraper outside the \
                     mesh gets connection resets and the metrics go missing; set portLevelMtls {}: PERMISSIVE on a \
                     workload PeerAuthentication, or scrape through Istio's metrics merging",
                    s.port, s.by, pa.name, s.port
                ),
            ));
        }
        if let Some(names) = denying_policies(index, owner, s.template, s.port) {
            out.push(Finding::new(
                Level::Warning,
                MTLS_BLOCKS_SCRAPE,
                owner,
                format!(
                    "port {} is scraped by {}, but AuthorizationPolicy {} admits no caller without a mesh identity on \
                     it: the scrape is denied (403); add a rule for the port without `from`, or with the scraper's \
                     ipBlocks",
                    s.port,
                    s.by,
                    names.join(", ")
                ),
            ));
        }
    }
}

/// The container port a name or number refers to.
pub(super) fn container_port(t: &Template, reference: &Json) -> Option<i64> {
    if let Some(n) = int(reference) {
        return Some(n);
    }
    let name = reference.as_str()?;
    t.spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| int(&p["containerPort"]))
}

/// Whether a monitor in namespace `ns` with `namespaceSelector` watches namespace `target`.
fn watches(monitor: &Obj, target: Option<&str>) -> bool {
    let sel = monitor.at(&["spec", "namespaceSelector"]);
    if sel["any"].as_bool() == Some(true) {
        return true;
    }
    match sel["matchNames"].as_array() {
        Some(names) => target.is_none_or(|t| names.iter().any(|n| n.as_str() == Some(t))),
        None => monitor.same_namespace(target),
    }
}

/// Ports scrapers read; `annotations`: count every `prometheus.io/scrape` pod, not only those
/// with Istio's metrics merging off.
pub(super) fn scrapes(index: &Index, annotations: bool) -> Vec<Scrape<'_>> {
    let mut out = Vec::new();
    service_monitors(index, &mut out);
    for pm in index.of_kind(MON, "PodMonitor") {
        let selector = Selector::label_selector(pm.at(&["spec", "selector"]));
        for t in index.templates().iter().filter(|t| selector.matches(&t.labels)) {
            if !watches(pm, index.object(t.owner).namespace.as_deref()) {
                continue;
            }
            for ep in pm.at(&["spec", "podMetricsEndpoints"]).as_array().into_iter().flatten() {
                let reference = ep.get("port").or_else(|| ep.get("targetPort")).unwrap_or(&Json::Null);
                if let Some(port) = container_port(t, reference) {
                    out.push(Scrape { template: t, port, by: format!("PodMonitor {}", pm.name) });
                }
            }
        }
    }
    for t in index.templates() {
        annotation_scrapes(t, annotations, &mut out);
    }
    out
}

fn service_monitors<'a>(index: &'a Index, out: &mut Vec<Scrape<'a>>) {
    for sm in index.of_kind(MON, "ServiceMonitor") {
        let selector = Selector::label_selector(sm.at(&["spec", "selector"]));
        let services = index.services_matching(&selector).into_iter();
        for svc in services.filter(|s| watches(sm, s.namespace.as_deref())) {
            let pods = Selector::map(svc.at(&["spec", "selector"]));
            if pods.is_empty() {
                continue;
            }
            let templates = index.templates_matching(svc.namespace.as_deref(), &pods);
            for ep in sm.at(&["spec", "endpoints"]).as_array().into_iter().flatten() {
                let svc_port =
                    svc.at(&["spec", "ports"]).as_array().into_iter().flatten().find(|p| match ep.get("port") {
                        Some(name) => p.get("name") == Some(name),
                        None => ep
                            .get("targetPort")
                            .is_some_and(|t| p.get("targetPort") == Some(t) || int(t) == int(&p["port"])),
                    });
                let Some(svc_port) = svc_port else {
                    continue;
                };
                let target = svc_port.get("targetPort").unwrap_or(&svc_port["port"]);
                for t in &templates {
                    if let Some(port) = container_port(t, target) {
                        out.push(Scrape { template: t, port, by: format!("ServiceMonitor {}", sm.name) });
                    }
                }
            }
        }
    }
}

/// Datadog Autodiscovery checks (`ad.datadoghq.com/<container>.checks`) and `prometheus.io/*`
/// annotations when Istio's metrics merging is off for the pod (with it on, the sidecar serves
/// the merged metrics on a port outside mTLS).
fn annotation_scrapes<'a>(t: &'a Template, all_prometheus: bool, out: &mut Vec<Scrape<'a>>) {
    let port_re = regex_lite::Regex::new(r":(\d{2,5})\b").expect("valid regex");
    for (key, value) in &t.annotations {
        let Some(container) = key
            .strip_prefix("ad.datadoghq.com/")
            .and_then(|k| k.strip_suffix(".checks").or_else(|| k.strip_suffix(".instances")))
        else {
            continue;
        };
        let mut ports: Vec<i64> = port_re.captures_iter(value).filter_map(|c| c[1].parse().ok()).collect();
        if ports.is_empty() {
            let c =
                t.spec["containers"].as_array().into_iter().flatten().find(|c| c["name"].as_str() == Some(container));
            ports = c
                .into_iter()
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .filter_map(|p| int(&p["containerPort"]))
                .collect();
        }
        for port in ports {
            out.push(Scrape { template: t, port, by: format!("the Datadog check of container {container}") });
        }
    }
    let merging_off = t.annotations.get("prometheus.istio.io/merge-metrics").is_some_and(|v| v == "false");
    if (all_prometheus || merging_off) && t.annotations.get("prometheus.io/scrape").is_some_and(|v| v == "true") {
        if let Some(port) = t.annotations.get("prometheus.io/port").and_then(|p| p.parse().ok()) {
            out.push(Scrape { template: t, port, by: "prometheus.io annotations (metrics merging off)".into() });
        }
    }
}

/// Whether a policy in `policy` applies to a pod template of `owner`: a workload policy whose
/// selector matches, a namespace policy, or a root-namespace policy without a selector.
fn applies(policy: &Obj, owner: &Obj, t: &Template) -> bool {
    let selector = policy.at(&["spec", "selector", "matchLabels"]);
    let mesh_wide = policy.namespace.as_deref() == Some(ROOT) && selector.is_null();
    mesh_wide || (policy.same_namespace(owner.namespace.as_deref()) && Selector::map(selector).matches(&t.labels))
}

/// The PeerAuthentication that makes `port` STRICT for the template, if the effective mode is
/// STRICT: a workload policy (its `portLevelMtls` first) over a namespace one over the mesh's.
fn strict<'a>(index: &'a Index, owner: &Obj, t: &Template, port: i64) -> Option<&'a Obj> {
    let mut by_scope: [Option<(&Obj, String)>; 3] = [None, None, None];
    for pa in index.of_kind(SEC, "PeerAuthentication").filter(|pa| applies(pa, owner, t)) {
        let workload = !pa.at(&["spec", "selector", "matchLabels"]).is_null();
        let port_mode =
            workload.then(|| pa.at(&["spec", "portLevelMtls", &port.to_string(), "mode"]).as_str()).flatten();
        let mode = port_mode.or(pa.at(&["spec", "mtls", "mode"]).as_str()).unwrap_or("UNSET");
        let scope = if workload {
            0
        } else if pa.namespace.as_deref() == Some(ROOT) && owner.namespace.as_deref() != Some(ROOT) {
            2
        } else {
            1
        };
        if mode != "UNSET" && by_scope[scope].is_none() {
            by_scope[scope] = Some((pa, mode.to_string()));
        }
    }
    let (pa, mode) = by_scope.into_iter().flatten().next()?;
    (mode == "STRICT").then_some(pa)
}

/// A rule admits a plaintext caller from outside the mesh on `port`.
fn rule_admits(rule: &Json, port: i64) -> bool {
    let from_ok = match rule.get("from").and_then(Json::as_array) {
        None => true,
        Some(froms) => froms.iter().any(|f| {
            let s = &f["source"];
            let identity = ["principals", "namespaces", "requestPrincipals"].iter().any(|k| s.get(*k).is_some());
            !identity || s.get("ipBlocks").is_some() || s.get("remoteIpBlocks").is_some()
        }),
    };
    let to_ok = match rule.get("to").and_then(Json::as_array) {
        None => true,
        Some(tos) => tos.iter().any(|t| {
            let ports = at(t, &["operation", "ports"]).as_array();
            ports.is_none_or(|ps| ps.iter().any(|p| int(p) == Some(port)))
        }),
    };
    from_ok && to_ok
}

/// ALLOW policies on the template that together admit no plaintext caller on `port`.
fn denying_policies(index: &Index, owner: &Obj, t: &Template, port: i64) -> Option<Vec<String>> {
    let allow: Vec<&Obj> = index
        .of_kind(SEC, "AuthorizationPolicy")
        .filter(|p| p.at(&["spec", "action"]).as_str().is_none_or(|a| a == "ALLOW"))
        .filter(|p| p.at(&["spec", "provider"]).is_null() && applies(p, owner, t))
        .collect();
    if allow.is_empty() {
        return None;
    }
    let admitted =
        allow.iter().any(|p| p.at(&["spec", "rules"]).as_array().into_iter().flatten().any(|r| rule_admits(r, port)));
    (!admitted).then(|| allow.iter().map(|p| p.name.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::table;
    use super::*;

    const APP: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: metrics\n    port: 9090\n    targetPort: metrics\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        ports:\n        - name: metrics\n          containerPort: 9090\n---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n  endpoints:\n  - port: metrics\n";

    fn pa(spec: &str) -> String {
        format!(
            "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: strict\nspec:\n{spec}"
        )
    }

    fn ap(rules: &str) -> String {
        format!("---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ns-only\nspec:\n  rules:\n{rules}")
    }

    #[test]
    fn mtls_blocks_scrape() {
        let strict = pa("  mtls:\n    mode: STRICT\n");
        let port_permissive = pa("  selector:\n    matchLabels:\n      app: web\n  mtls:\n    mode: STRICT\n  portLevelMtls:\n    9090:\n      mode: PERMISSIVE\n");
        table(
            MTLS_BLOCKS_SCRAPE,
            &[
                ("STRICT namespace", APP.to_string() + &strict, Some(Level::Warning)),
                ("port-level PERMISSIVE", APP.to_string() + &port_permissive, None),
                ("PERMISSIVE", APP.to_string() + &pa("  mtls:\n    mode: PERMISSIVE\n"), None),
                ("not scraped", APP.replace("  - port: metrics\n", "  - port: web\n") + &strict, None),
                ("namespaces only", APP.to_string() + &ap("  - from:\n    - source:\n        namespaces: [app]\n"), Some(Level::Warning)),
                ("port open to all", APP.to_string() + &ap("  - from:\n    - source:\n        namespaces: [app]\n  - to:\n    - operation:\n        ports: ['9090']\n"), None),
            ],
        );
    }
}
