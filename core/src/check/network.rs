//! NetworkPolicies that deny ingress to pods the stream's own scrapers and Ingresses must reach.
//!
//! Kubernetes semantics (k8s.io/api networking/v1 NetworkPolicy): a pod selected by a policy
//! with the Ingress type admits only what some ingress rule admits; a rule admits a peer in
//! `from` on a port in `ports` (no `from`: every source; no `ports`: every port). A peer with a
//! `namespaceSelector` or an `ipBlock` may admit a caller in another namespace (its labels and
//! IPs are the cluster's), so only policies whose peers are all same-namespace `podSelector`s
//! are judged: those certainly shut out a scraper or ingress controller living elsewhere, but
//! whether it lives elsewhere is the cluster's business, hence a warning.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::index::{int, Index, Obj, Selector, Template};
use super::istio_mtls::{container_port, scrapes};
use super::{Finding, Level};

/// A NetworkPolicy denies ingress the stream's own callers need.
pub const BLOCKS_CALLER: &str = "network-policy-blocks-caller";

pub fn check(index: &Index, out: &mut Vec<Finding>) {
    if index.of_kind("networking.k8s.io", "NetworkPolicy").next().is_none() {
        return;
    }
    let mut calls: Vec<(&Template, i64, String)> =
        scrapes(index, true).into_iter().map(|s| (s.template, s.port, s.by)).collect();
    ingress_backends(index, &mut calls);
    let mut seen = BTreeSet::new();
    for (t, port, by) in calls {
        if !seen.insert((t.owner, port)) {
            continue;
        }
        let owner = index.object(t.owner);
        let policies: Vec<&Obj> = index
            .of_kind("networking.k8s.io", "NetworkPolicy")
            .filter(|p| p.same_namespace(owner.namespace.as_deref()) && isolates_ingress(p, t))
            .collect();
        // A scraper in the workload's own namespace (kube-prometheus runs its Prometheus beside
        // the exporters it scrapes) may be one of the pods a `podSelector` peer admits.
        let scraper_here =
            index.of_kind("monitoring.coreos.com", "Prometheus").any(|p| p.same_namespace(owner.namespace.as_deref()));
        if policies.is_empty() || policies.iter().any(|p| admits(p, t, port, scraper_here)) {
            continue;
        }
        let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
        out.push(Finding::new(
            Level::Warning,
            BLOCKS_CALLER,
            owner,
            format!(
                "port {port} is reached by {by}, but NetworkPolicy {} admits only pods of this namespace on it: a \
                 caller in another namespace (Prometheus, the ingress controller) is dropped; add an ingress rule \
                 with a namespaceSelector for the caller's namespace on port {port}",
                names.join(", ")
            ),
        ));
    }
}

/// Whether a policy selects the pods and restricts their ingress.
fn isolates_ingress(policy: &Obj, t: &Template) -> bool {
    let types = policy.at(&["spec", "policyTypes"]).as_array();
    let ingress = types.is_none_or(|ts| ts.iter().any(|t| t.as_str() == Some("Ingress")));
    ingress && Selector::label_selector(policy.at(&["spec", "podSelector"])).matches(&t.labels)
}

/// Whether some ingress rule may admit a caller from another namespace on `port`.
fn admits(policy: &Obj, t: &Template, port: i64, caller_here: bool) -> bool {
    policy.at(&["spec", "ingress"]).as_array().into_iter().flatten().any(|rule| {
        let from_ok = match rule.get("from").and_then(Json::as_array) {
            None => true,
            Some(peers) => {
                peers.is_empty()
                    || peers
                        .iter()
                        .any(|p| p.get("namespaceSelector").is_some() || p.get("ipBlock").is_some() || caller_here)
            }
        };
        let port_ok = match rule.get("ports").and_then(Json::as_array) {
            None => true,
            Some(ports) => {
                ports.is_empty()
                    || ports.iter().any(|p| {
                        let Some(reference) = p.get("port") else { return true };
                        let start = container_port(t, reference);
                        let end = int(p.get("endPort").unwrap_or(&Json::Null)).or(start);
                        start.is_some_and(|s| s <= port && port <= end.unwrap_or(s))
                    })
            }
        };
        from_ok && port_ok
    })
}

/// Pods behind the Services that Ingresses route to: the ingress controller calls them.
fn ingress_backends<'a>(index: &'a Index, out: &mut Vec<(&'a Template, i64, String)>) {
    for ing in index.of_kind("networking.k8s.io", "Ingress") {
        let mut backends: Vec<&Json> = vec![ing.at(&["spec", "defaultBackend", "service"])];
        for rule in ing.at(&["spec", "rules"]).as_array().into_iter().flatten() {
            for path in rule["http"]["paths"].as_array().into_iter().flatten() {
                backends.push(&path["backend"]["service"]);
            }
        }
        for b in backends.into_iter().filter(|b| b.is_object()) {
            let Some(svc) = b["name"].as_str().and_then(|n| index.find("", "Service", ing.namespace.as_deref(), n))
            else {
                continue;
            };
            let svc_port = svc.at(&["spec", "ports"]).as_array().into_iter().flatten().find(|p| {
                b["port"]["name"].as_str().is_some_and(|n| p["name"].as_str() == Some(n))
                    || int(&b["port"]["number"]).is_some_and(|n| int(&p["port"]) == Some(n))
            });
            let Some(svc_port) = svc_port else {
                continue;
            };
            let pods = Selector::map(svc.at(&["spec", "selector"]));
            if pods.is_empty() {
                continue;
            }
            let target = svc_port.get("targetPort").unwrap_or(&svc_port["port"]);
            for t in index.templates_matching(svc.namespace.as_deref(), &pods) {
                if let Some(port) = container_port(t, target) {
                    out.push((t, port, format!("Ingress {}", ing.name)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::table;
    use super::*;

    const APP: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        ports:\n        - name: http\n          containerPort: 8080\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: web\n            port:\n              number: 80\n";

    fn np(ingress: &str) -> String {
        format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\nspec:\n  podSelector:\n    matchLabels:\n      app: web\n  policyTypes: [Ingress]\n  ingress:\n{ingress}")
    }

    #[test]
    fn blocks_caller() {
        table(
            BLOCKS_CALLER,
            &[
                ("no policy", APP.to_string(), None),
                (
                    "same namespace only",
                    APP.to_string() + &np("  - from:\n    - podSelector: {}\n"),
                    Some(Level::Warning),
                ),
                ("namespaceSelector", APP.to_string() + &np("  - from:\n    - namespaceSelector: {}\n"), None),
                ("open port", APP.to_string() + &np("  - ports:\n    - port: http\n"), None),
                ("other port open", APP.to_string() + &np("  - ports:\n    - port: 9090\n"), Some(Level::Warning)),
                (
                    "Prometheus in the namespace",
                    APP.to_string()
                        + &np("  - from:\n    - podSelector: {}\n")
                        + "---\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: k8s\n",
                    None,
                ),
            ],
        );
    }
}
