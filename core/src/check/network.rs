//! NetworkPolicies that deny ingress to pods the stream's own callers must reach: scrapers,
//! ingress controllers, Istio gateway pods and the stream's workloads that name a Service's
//! address ([`super::callers`]).
//!
//! Kubernetes semantics (kubernetes/api 1f6cad8b networking/v1/types.go:32-199, the
//! NetworkPolicy, NetworkPolicyIngressRule and NetworkPolicyPeer docs): a pod selected by a
//! policy with the Ingress type admits only what some ingress rule admits; a rule admits a
//! peer in `from` on a port in `ports` (no `from`: every source; no `ports`: every port; a
//! named port is the target container's); a `podSelector` peer alone means pods of the
//! policy's namespace, a `namespaceSelector` alone every pod of the namespaces it selects,
//! both together pods matching both. What the stream does not know (a namespace's labels, an
//! `ipBlock`, the labels of pods outside the stream) counts as admitted: a finding is only
//! raised where no rule can admit the caller. Whether the CNI enforces policies is the
//! cluster's business, hence a warning.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::callers::{calls, Call, Caller, Place};
use super::index::{int, string_map, Index, Labels, Obj, Selector, Template};
use super::istio_mtls::container_port;
use super::{Finding, Level};

/// A NetworkPolicy denies ingress the stream's own callers need.
pub const BLOCKS_CALLER: &str = "network-policy-blocks-caller";

/// The label the API server puts on every Namespace (Kubernetes 1.22+).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub fn check(index: &Index, out: &mut Vec<Finding>) {
    if index.of_kind("networking.k8s.io", "NetworkPolicy").next().is_none() {
        return;
    }
    let mut seen = BTreeSet::new();
    for call in calls(index) {
        if !seen.insert((call.target.owner, call.port, call.by.clone())) {
            continue;
        }
        let owner = index.object(call.target.owner);
        let policies: Vec<&Obj> = index
            .of_kind("networking.k8s.io", "NetworkPolicy")
            .filter(|p| p.same_namespace(owner.namespace.as_deref()) && isolates_ingress(p, call.target))
            .collect();
        if policies.is_empty() || policies.iter().any(|p| admits(index, p, &call)) {
            continue;
        }
        out.push(Finding::new(Level::Warning, BLOCKS_CALLER, owner, message(&call, &policies)));
    }
}

fn message(call: &Call, policies: &[&Obj]) -> String {
    let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    let (port, by, names) = (call.port, &call.by, names.join(", "));
    if call.caller.places == [Place::Elsewhere] || call.caller.labels.is_empty() {
        format!(
            "port {port} is reached by {by}, but NetworkPolicy {names} admits only pods of this namespace on it: a \
             caller in another namespace (Prometheus, the ingress controller) is dropped; add an ingress rule with a \
             namespaceSelector for the caller's namespace on port {port}"
        )
    } else {
        let labels: Vec<String> = call.caller.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "port {port} is called by {by}, but NetworkPolicy {names} admits no pod labelled {} from its namespace on \
             it: where the CNI enforces NetworkPolicy the connections are dropped; add a `from` peer for the caller \
             (podSelector, with a namespaceSelector when it runs in another namespace) on port {port}",
            labels.join(",")
        )
    }
}

/// Whether a policy selects the pods and restricts their ingress.
fn isolates_ingress(policy: &Obj, t: &Template) -> bool {
    let types = policy.at(&["spec", "policyTypes"]).as_array();
    let ingress = types.is_none_or(|ts| ts.iter().any(|t| t.as_str() == Some("Ingress")));
    ingress && Selector::label_selector(policy.at(&["spec", "podSelector"])).matches(&t.labels)
}

/// Whether some ingress rule of a policy may admit the call.
fn admits(index: &Index, policy: &Obj, call: &Call) -> bool {
    policy.at(&["spec", "ingress"]).as_array().into_iter().flatten().any(|rule| {
        let from_ok = match rule.get("from").and_then(Json::as_array) {
            None => true,
            Some(peers) => peers.is_empty() || peers.iter().any(|p| peer_admits(index, policy, p, &call.caller)),
        };
        from_ok && port_admits(rule, call.target, call.port)
    })
}

/// Whether a rule's `ports` cover a TCP container port (named ports resolved on the target).
fn port_admits(rule: &Json, t: &Template, port: i64) -> bool {
    let Some(ports) = rule.get("ports").and_then(Json::as_array) else {
        return true;
    };
    ports.is_empty()
        || ports.iter().any(|p| {
            if p.get("protocol").and_then(Json::as_str).is_some_and(|proto| proto != "TCP") {
                return false;
            }
            let Some(reference) = p.get("port") else { return true };
            let start = container_port(t, reference);
            let end = int(p.get("endPort").unwrap_or(&Json::Null)).or(start);
            start.is_some_and(|s| s <= port && port <= end.unwrap_or(s))
        })
}

/// Whether a `from` peer may admit the caller from one of its places.
fn peer_admits(index: &Index, policy: &Obj, peer: &Json, caller: &Caller) -> bool {
    if peer.get("ipBlock").is_some() {
        return true;
    }
    let pods_ok = match peer.get("podSelector") {
        None => true,
        Some(s) => may_match(&Selector::label_selector(s), &caller.labels, caller.complete),
    };
    pods_ok
        && caller.places.iter().any(|place| match (peer.get("namespaceSelector"), place) {
            (None, Place::In(ns)) => policy.same_namespace(ns.as_deref()),
            (None, Place::Elsewhere) => false,
            (Some(_), Place::Elsewhere) => true,
            (Some(s), Place::In(ns)) => namespace_may_match(index, s, ns.as_deref()),
        })
}

/// Whether a selector may match a namespace: by its Namespace object's labels when the stream
/// has it, else only by the name label every namespace carries.
fn namespace_may_match(index: &Index, selector: &Json, ns: Option<&str>) -> bool {
    let Some(ns) = ns else { return true };
    let namespace = index.find("", "Namespace", None, ns);
    let mut labels = namespace.map(|n| string_map(n.at(&["metadata", "labels"]))).unwrap_or_default();
    labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
    may_match(&Selector::label_selector(selector), &labels, namespace.is_some())
}

/// Whether a selector matches labels, or, when only some of them are known, may match them.
fn may_match(selector: &Selector, labels: &Labels, complete: bool) -> bool {
    if complete {
        return selector.matches(labels);
    }
    selector.labels.iter().all(|(k, v)| labels.get(k).is_none_or(|l| l == v))
        && selector.expressions.iter().all(|(k, op, values)| match op.as_str() {
            "In" => labels.get(k).is_none_or(|v| values.contains(v)),
            "NotIn" => labels.get(k).is_none_or(|v| !values.contains(v)),
            "DoesNotExist" => !labels.contains_key(k),
            _ => true,
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::table;
    use super::*;

    const APP: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        ports:\n        - name: http\n          containerPort: 8080\n";

    const INGRESS: &str = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: web\n            port:\n              number: 80\n";

    const MONITOR: &str = "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n  endpoints:\n  - port: http\n";

    fn np(ingress: &str) -> String {
        format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\nspec:\n  podSelector:\n    matchLabels:\n      app: web\n  policyTypes: [Ingress]\n  ingress:\n{ingress}")
    }

    fn with(parts: &[&str]) -> String {
        APP.to_string() + &parts.concat()
    }

    #[test]
    fn blocks_caller() {
        let same_ns = np("  - from:\n    - podSelector: {}\n");
        let prometheus = "---\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: k8s\n";
        table(
            BLOCKS_CALLER,
            &[
                ("no policy", with(&[INGRESS]), None),
                ("same namespace only", with(&[INGRESS, &same_ns]), Some(Level::Warning)),
                ("namespaceSelector", with(&[INGRESS, &np("  - from:\n    - namespaceSelector: {}\n")]), None),
                ("open port", with(&[INGRESS, &np("  - ports:\n    - port: http\n")]), None),
                ("other port open", with(&[INGRESS, &np("  - ports:\n    - port: 9090\n")]), Some(Level::Warning)),
                (
                    "UDP only",
                    with(&[INGRESS, &np("  - ports:\n    - port: http\n      protocol: UDP\n")]),
                    Some(Level::Warning),
                ),
                ("scraped, same namespace only", with(&[MONITOR, &same_ns]), Some(Level::Warning)),
                ("scraped, Prometheus in the namespace", with(&[MONITOR, &same_ns, prometheus]), None),
            ],
        );
    }

    fn caller(ns: &str, value: &str) -> String {
        format!("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  template:\n    metadata:\n      labels:\n        app: api\n    spec:\n      containers:\n      - name: api\n        env:\n        - name: WEB_URL\n          value: {value}\n")
    }

    fn from(peer: &str) -> String {
        np(&format!("  - from:\n    - {peer}\n    ports:\n    - port: http\n"))
    }

    #[test]
    fn blocks_wired_caller() {
        let api = caller("app", "http://web:80/api");
        let other_ns = caller("other", "web.app.svc.cluster.local:80");
        let by_name = "namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: other\n      podSelector:\n        matchLabels:\n          app: api";
        let by_team = "namespaceSelector:\n        matchLabels:\n          team: shop";
        let namespace = |team: &str| {
            format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n  labels:\n    team: {team}\n")
        };
        table(
            BLOCKS_CALLER,
            &[
                ("admitted", with(&[&api, &from("podSelector:\n        matchLabels:\n          app: api")]), None),
                (
                    "not admitted",
                    with(&[&api, &from("podSelector:\n        matchLabels:\n          app: other")]),
                    Some(Level::Warning),
                ),
                ("no policy isolates it", with(&[&api]), None),
                ("port not a Service port", with(&[&caller("app", "web:8081"), &from("podSelector: {}")]), None),
                (
                    "nc style",
                    with(&[
                        &caller("app", "'nc -z web 80'"),
                        &np("  - from:\n    - podSelector:\n        matchLabels:\n          app: other\n"),
                    ]),
                    Some(Level::Warning),
                ),
                (
                    "other namespace, same-namespace peer",
                    with(&[&other_ns, &from("podSelector: {}")]),
                    Some(Level::Warning),
                ),
                ("other namespace, admitted by name", with(&[&other_ns, &from(by_name)]), None),
                ("namespace labels unknown", with(&[&other_ns, &from(by_team)]), None),
                (
                    "namespace labels known, other team",
                    with(&[&other_ns, &from(by_team), &namespace("ops")]),
                    Some(Level::Warning),
                ),
                ("namespace labels known, its team", with(&[&other_ns, &from(by_team), &namespace("shop")]), None),
            ],
        );
    }

    fn gateway(selector: &str) -> String {
        format!("---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: shop\nspec:\n  selector:\n    {selector}\n  servers:\n  - port:\n      number: 80\n      name: http\n      protocol: HTTP\n    hosts: [shop.example.com]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts: [shop.example.com]\n  gateways: [shop]\n  http:\n  - route:\n    - destination:\n        host: web\n        port:\n          number: 80\n")
    }

    #[test]
    fn blocks_gateway() {
        let istio = gateway("istio: ingressgateway");
        let own = gateway("app: gw");
        let own_pods = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gw\nspec:\n  template:\n    metadata:\n      labels:\n        app: gw\n    spec:\n      containers:\n      - name: istio-proxy\n";
        let istio_system =
            "namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: istio-system";
        let same_ns = from("podSelector: {}");
        table(
            BLOCKS_CALLER,
            &[
                ("istio-system gateway, same-namespace peers", with(&[&istio, &same_ns]), Some(Level::Warning)),
                ("istio-system gateway admitted", with(&[&istio, &from(istio_system)]), None),
                (
                    "istio-system, another gateway's pods",
                    with(&[
                        &istio,
                        &from(&format!(
                            "{istio_system}\n      podSelector:\n        matchLabels:\n          istio: egressgateway"
                        )),
                    ]),
                    Some(Level::Warning),
                ),
                ("own gateway outside the stream, same namespace", with(&[&own, &same_ns]), None),
                (
                    "own gateway pods, admitted",
                    with(&[&own, own_pods, &from("podSelector:\n        matchLabels:\n          app: gw")]),
                    None,
                ),
                (
                    "own gateway pods, not admitted",
                    with(&[&own, own_pods, &from("podSelector:\n        matchLabels:\n          app: api")]),
                    Some(Level::Warning),
                ),
            ],
        );
    }
}
