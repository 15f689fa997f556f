//! Who calls which pod port, as far as the stream says: scrapers (ServiceMonitors, PodMonitors,
//! Datadog checks, `prometheus.io` annotations), ingress controllers (Ingresses), Istio gateway
//! pods (a Gateway a VirtualService is bound to) and the stream's own workloads that name a
//! Service's address (wired callers). The NetworkPolicy rule judges each call.

use serde_json::Value as Json;

use super::index::{int, Index, Labels, Obj, Selector, Template};
use super::istio_mtls::{container_port, scrapes};

const ISTIO: &str = "networking.istio.io";
/// Where Istio's own `istio: ingressgateway` pods run in a default install.
const ISTIO_ROOT: &str = "istio-system";

/// Where a caller may run.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Place {
    /// In this namespace (`None`: the stream's, not known).
    In(Option<String>),
    /// In some other namespace the stream does not name (Prometheus, an ingress controller).
    Elsewhere,
}

/// A calling pod, with what the stream knows of it.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    /// The places it may run in: a policy must admit it from one of them.
    pub places: Vec<Place>,
    /// Its labels.
    pub labels: Labels,
    /// Whether `labels` are all of them (a pod template of the stream) or only some (a
    /// Gateway's selector, or none known).
    pub complete: bool,
}

/// One call of a pod port.
pub(super) struct Call<'a> {
    /// The called pods.
    pub target: &'a Template,
    /// The container port called.
    pub port: i64,
    /// Who calls.
    pub caller: Caller,
    /// The caller, for the message.
    pub by: String,
}

/// Every call the stream implies.
pub(super) fn calls(index: &Index) -> Vec<Call<'_>> {
    let mut out = Vec::new();
    for s in scrapes(index, true) {
        let owner_ns = index.object(s.template.owner).namespace.clone();
        // A Prometheus in the workload's own namespace (kube-prometheus runs it beside the
        // exporters) may be one of the pods a `podSelector` peer admits.
        let here = index.of_kind("monitoring.coreos.com", "Prometheus").any(|p| p.same_namespace(owner_ns.as_deref()));
        let mut places = vec![Place::Elsewhere];
        places.extend(here.then_some(Place::In(owner_ns)));
        out.push(Call { target: s.template, port: s.port, caller: unknown(places), by: s.by });
    }
    ingress_backends(index, &mut out);
    gateway_routes(index, &mut out);
    wired(index, &mut out);
    out
}

/// A caller of unknown labels.
fn unknown(places: Vec<Place>) -> Caller {
    Caller { places, labels: Labels::new(), complete: false }
}

/// The pods and container ports behind a port of a Service.
fn backends<'a>(index: &'a Index, svc: &Obj, port: &Json) -> Vec<(&'a Template, i64)> {
    let pods = Selector::map(svc.at(&["spec", "selector"]));
    if pods.is_empty() {
        return Vec::new();
    }
    let target = port.get("targetPort").unwrap_or(&port["port"]);
    let templates = index.templates_matching(svc.namespace.as_deref(), &pods);
    templates.into_iter().filter_map(|t| Some((t, container_port(t, target)?))).collect()
}

/// The port of a Service with this number.
fn service_port(svc: &Obj, number: i64) -> Option<&Json> {
    svc.at(&["spec", "ports"]).as_array()?.iter().find(|p| int(&p["port"]) == Some(number))
}

/// Pods behind the Services that Ingresses route to: the ingress controller calls them from
/// its own namespace.
fn ingress_backends<'a>(index: &'a Index, out: &mut Vec<Call<'a>>) {
    for ing in index.of_kind("networking.k8s.io", "Ingress") {
        let mut refs: Vec<&Json> = vec![ing.at(&["spec", "defaultBackend", "service"])];
        for rule in ing.at(&["spec", "rules"]).as_array().into_iter().flatten() {
            for path in rule["http"]["paths"].as_array().into_iter().flatten() {
                refs.push(&path["backend"]["service"]);
            }
        }
        for b in refs.into_iter().filter(|b| b.is_object()) {
            let Some(svc) = b["name"].as_str().and_then(|n| index.find("", "Service", ing.namespace.as_deref(), n))
            else {
                continue;
            };
            let port = svc.at(&["spec", "ports"]).as_array().into_iter().flatten().find(|p| {
                b["port"]["name"].as_str().is_some_and(|n| p["name"].as_str() == Some(n))
                    || int(&b["port"]["number"]).is_some_and(|n| int(&p["port"]) == Some(n))
            });
            for (t, port) in port.map(|p| backends(index, svc, p)).unwrap_or_default() {
                let caller = unknown(vec![Place::Elsewhere]);
                out.push(Call { target: t, port, caller, by: format!("Ingress {}", ing.name) });
            }
        }
    }
}

/// The gateway pods a Gateway configures. Istio matches `spec.selector` against gateway pods
/// of any namespace by default: those of the stream when it has them. Otherwise they run
/// outside the stream: Istio's own `istio: ingressgateway` in istio-system, where its
/// installation puts it (a Gateway of an application namespace selecting it is the usual
/// cross-namespace setup), any other in the Gateway's namespace. Their labels beyond the
/// selector are unknown.
fn gateway_pods(index: &Index, gateway: &Obj) -> Vec<(Caller, String)> {
    let selector = Selector::map(gateway.at(&["spec", "selector"]));
    if selector.is_empty() {
        return Vec::new();
    }
    let by = format!("the pods of Gateway {}", gateway.name);
    let pods = index.templates_matching(None, &selector);
    if pods.is_empty() {
        let ns = match selector.labels.get("istio").map(String::as_str) {
            Some("ingressgateway") => Some(ISTIO_ROOT.to_string()),
            _ => gateway.namespace.clone(),
        };
        return vec![(Caller { places: vec![Place::In(ns)], labels: selector.labels, complete: false }, by)];
    }
    pods.into_iter().map(|t| (pod_caller(index, t), by.clone())).collect()
}

/// A pod template of the stream as a caller.
fn pod_caller(index: &Index, t: &Template) -> Caller {
    let owner = index.object(t.owner);
    Caller { places: vec![Place::In(owner.namespace.clone())], labels: t.labels.clone(), complete: true }
}

/// Services that VirtualServices bound to a Gateway of the stream route to: the gateway's pods
/// call them. Hosts as Istio resolves them: a name without dots is a Service of the
/// VirtualService's namespace, `name.ns.svc.cluster.local` one of `ns`.
fn gateway_routes<'a>(index: &'a Index, out: &mut Vec<Call<'a>>) {
    for vs in index.of_kind(ISTIO, "VirtualService") {
        let vs_ns = vs.namespace.as_deref();
        let gateways: Vec<&Obj> = vs
            .at(&["spec", "gateways"])
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .filter(|g| *g != "mesh")
            .filter_map(|g| match g.split_once('/') {
                Some((ns, name)) => index.find(ISTIO, "Gateway", Some(ns), name),
                None => index.find(ISTIO, "Gateway", vs_ns, g),
            })
            .collect();
        if gateways.is_empty() {
            continue;
        }
        let callers: Vec<(Caller, String)> = gateways.into_iter().flat_map(|g| gateway_pods(index, g)).collect();
        for d in route_destinations(vs) {
            let Some(host) = d["host"].as_str() else { continue };
            let (ns, name) = match host.strip_suffix(".svc.cluster.local").and_then(|r| r.split_once('.')) {
                Some((name, ns)) => (Some(ns), name),
                None if !host.contains('.') => (vs_ns, host),
                None => continue,
            };
            let Some(svc) = index.find("", "Service", ns, name) else { continue };
            let ports = svc.at(&["spec", "ports"]).as_array().map(Vec::as_slice).unwrap_or_default();
            let port = match int(&d["port"]["number"]) {
                Some(n) => service_port(svc, n),
                None if ports.len() == 1 => ports.first(),
                None => None,
            };
            for (t, port) in port.map(|p| backends(index, svc, p)).unwrap_or_default() {
                for (caller, by) in &callers {
                    out.push(Call { target: t, port, caller: caller.clone(), by: by.clone() });
                }
            }
        }
    }
}

/// Destinations of a VirtualService's http, tcp and tls routes.
fn route_destinations(vs: &Obj) -> Vec<&Json> {
    ["http", "tcp", "tls"]
        .into_iter()
        .flat_map(|kind| vs.at(&["spec", kind]).as_array().into_iter().flatten())
        .flat_map(|r| r.get("route").and_then(Json::as_array).into_iter().flatten())
        .map(|r| &r["destination"])
        .collect()
}

/// Wired callers: a container (or init container) of the stream whose literal env values,
/// command or args name a Service of the stream with one of its port numbers: `host:port`
/// (bare or inside a URL) or `host port` (as `nc -z redis 6379` does), the host being `svc`,
/// `svc.ns`, `svc.ns.svc` or `svc.ns.svc.cluster.local`. An address without its port (an
/// env var that holds only the host) is not counted: the port it calls is not known.
fn wired<'a>(index: &'a Index, out: &mut Vec<Call<'a>>) {
    for caller in index.templates() {
        let owner = index.object(caller.owner);
        for c in ["initContainers", "containers"].iter().flat_map(|k| caller.spec[*k].as_array().into_iter().flatten())
        {
            let container = c["name"].as_str().unwrap_or("?");
            for (host, number) in c_strings(c).iter().flat_map(|s| addresses(s)) {
                let Some(svc) = service_named(index, &host, owner.namespace.as_deref()) else { continue };
                let Some(port) = service_port(svc, number) else { continue };
                for (t, port) in backends(index, svc, port) {
                    if t.owner == caller.owner {
                        continue;
                    }
                    let by =
                        format!("container {container} of {}/{} (it names {host}:{number})", owner.kind, owner.name);
                    out.push(Call { target: t, port, caller: pod_caller(index, caller), by });
                }
            }
        }
    }
}

/// The literal strings of a container that may name an address: env values, command, args.
fn c_strings(c: &Json) -> Vec<&str> {
    let env = c["env"].as_array().into_iter().flatten().filter_map(|e| e["value"].as_str());
    let argv = ["command", "args"].into_iter().flat_map(|k| c[k].as_array().into_iter().flatten());
    env.chain(argv.filter_map(Json::as_str)).collect()
}

/// `host:port` and `host port` pairs in a string.
fn addresses(s: &str) -> Vec<(String, i64)> {
    let tokens: Vec<&str> =
        s.split(|c: char| c.is_whitespace() || "\"'`,;()=/@[]{}<>|&".contains(c)).filter(|t| !t.is_empty()).collect();
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let pair = match token.rsplit_once(':') {
            Some((host, port)) => Some((host, port)),
            None => tokens.get(i + 1).map(|next| (*token, *next)),
        };
        if let Some((host, Ok(port))) = pair.map(|(h, p)| (h, p.parse::<i64>())) {
            if !host.is_empty() && (1..=65535).contains(&port) {
                out.push((host.to_ascii_lowercase(), port));
            }
        }
    }
    out
}

/// The Service a DNS name resolves to from namespace `ns` (cluster DNS search path:
/// `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`).
fn service_named<'a>(index: &'a Index, host: &str, ns: Option<&str>) -> Option<&'a Obj> {
    let host = host.trim_end_matches('.');
    let host = host.strip_suffix(".cluster.local").unwrap_or(host);
    let host = host.strip_suffix(".svc").unwrap_or(host);
    match host.split_once('.') {
        None => index.find("", "Service", ns, host),
        Some((name, svc_ns)) if !svc_ns.contains('.') => index.find("", "Service", Some(svc_ns), name),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_strings() {
        assert_eq!(addresses("until nc -z redis 6379; do sleep 2"), [("redis".into(), 6379), ("sleep".into(), 2)]);
        assert_eq!(
            addresses("http://cart.shop.svc.cluster.local:8080/api"),
            [("cart.shop.svc.cluster.local".into(), 8080)]
        );
        assert_eq!(addresses("amqp://guest@rabbitmq:5672"), [("rabbitmq".into(), 5672)]);
        assert!(addresses("-Xmx768m").is_empty());
    }
}
