//! Istio: VirtualServices bound to Gateways that do not serve them, routes to subsets nobody
//! defines, subsets that select no pod, STRICT mTLS or AuthorizationPolicies in front of
//! scraped ports, and Service ports whose protocol Istio picks wrongly.
//!
//! Upstream: istio/istio at 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c. Where a rule overlaps an
//! `istioctl analyze` analyzer it reports the same objects (the VirtualService, the
//! DestinationRule).

use std::collections::HashMap;

use serde_json::Value as Json;

use super::index::{at, int, string_map, Index, Obj, Selector, Template};
use super::{Finding, Level};

/// A VirtualService names a Gateway that is not in the stream.
pub const GATEWAY_MISSING: &str = "istio-gateway-missing";
/// A VirtualService is bound to a Gateway whose servers do not serve its hosts.
pub const GATEWAY_HOST_MISMATCH: &str = "istio-gateway-host-mismatch";
/// A route names a subset no DestinationRule of its host defines.
pub const SUBSET_UNDEFINED: &str = "istio-subset-undefined";
/// A DestinationRule subset selects no pod of its host's workloads.
pub const SUBSET_NO_PODS: &str = "istio-subset-no-pods";
/// A Service port whose protocol Istio picks wrongly.
pub const PORT_PROTOCOL: &str = "istio-port-protocol";

const NET: &str = "networking.istio.io";
const SEC: &str = "security.istio.io";

pub fn check(index: &Index, out: &mut Vec<Finding>) {
    for vs in index.of_kind(NET, "VirtualService") {
        gateways(index, vs, out);
    }
    subsets_undefined(index, out);
    subsets_without_pods(index, out);
    super::istio_mtls::check(index, out);
    if uses_istio(index) {
        ports(index, out);
    }
}

fn strings(v: &Json) -> Vec<&str> {
    v.as_array().into_iter().flatten().filter_map(Json::as_str).collect()
}

/// Whether the stream is for a mesh: it has Istio objects or pods asking for a sidecar.
fn uses_istio(index: &Index) -> bool {
    index.has_group(NET)
        || index.has_group(SEC)
        || index.templates().iter().any(|t| t.labels.get("sidecar.istio.io/inject").is_some_and(|v| v == "true"))
}

/// The VirtualService gateway analyzer (pkg/config/analysis/analyzers/virtualservice/
/// gateways.go:58-110): every gateway but `mesh` must exist, and one of its servers' hosts must
/// match one of the VirtualService's hosts. A Gateway outside the stream may exist in the
/// cluster (a shared ingress gateway), so that is a warning; a Gateway in the stream that does
/// not serve the host never routes it, an error.
fn gateways(index: &Index, vs: &Obj, out: &mut Vec<Finding>) {
    let vs_hosts = strings(vs.at(&["spec", "hosts"]));
    for gw in strings(vs.at(&["spec", "gateways"])) {
        if gw == "mesh" {
            continue;
        }
        let (ns, name) = match gw.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (vs.namespace.as_deref(), gw),
        };
        let Some(gateway) = index.find(NET, "Gateway", ns, name) else {
            out.push(Finding::new(
                Level::Warning,
                GATEWAY_MISSING,
                vs,
                format!(
                    "is bound to Gateway {gw}, which is not in the stream: unless it exists in the cluster, the \
                     routes are served by no gateway; add the Gateway or fix `gateways`"
                ),
            ));
            continue;
        };
        let gw_ns = gateway.namespace.as_deref();
        let served = gateway
            .at(&["spec", "servers"])
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| strings(&s["hosts"]))
            .filter_map(|h| host_for_namespace(h, gw_ns, vs.namespace.as_deref()))
            .any(|gh| vs_hosts.iter().any(|vh| hosts_match(gh, vh)));
        if !served {
            out.push(Finding::new(
                Level::Error,
                GATEWAY_HOST_MISMATCH,
                vs,
                format!(
                    "is bound to Gateway {gw}, whose servers serve none of its hosts ({}): the gateway never \
                     routes them; add the host to a server of the Gateway or fix the VirtualService's hosts",
                    vs_hosts.join(", ")
                ),
            ));
        }
    }
}

/// A Gateway server host as seen from the VirtualService's namespace: `ns/host` applies only to
/// `ns` (`.` is the Gateway's own, `*` any), as `host.NamesForNamespace` reads it
/// (gateways.go:126).
fn host_for_namespace<'a>(host: &'a str, gw_ns: Option<&str>, vs_ns: Option<&str>) -> Option<&'a str> {
    let Some((ns, h)) = host.split_once('/') else {
        return Some(host);
    };
    let ns = if ns == "." { gw_ns } else { Some(ns) };
    match (ns, vs_ns) {
        (Some("*"), _) | (None, _) | (_, None) => Some(h),
        (Some(a), Some(b)) if a == b => Some(h),
        _ => None,
    }
}

/// Istio's `host.Name.Matches`: equal, or one side's wildcard covers the other.
fn hosts_match(a: &str, b: &str) -> bool {
    let covers = |wild: &str, other: &str| {
        wild == "*"
            || wild.strip_prefix('*').is_some_and(|suffix| {
                other.ends_with(suffix) || other.strip_prefix('*').is_some_and(|o| o.ends_with(suffix))
            })
    };
    a == b || covers(a, b) || covers(b, a)
}

/// `util.GetResourceNameFromHost` (analyzers/util/hosts.go:47-57): a `name.ns.svc.cluster.local`
/// FQDN names its namespace; any other host is a name in the default namespace.
fn host_name<'a>(host: &'a str, default_ns: Option<&'a str>) -> (Option<&'a str>, &'a str) {
    if let Some(rest) = host.strip_suffix(".svc.cluster.local") {
        if let Some((name, ns)) = rest.split_once('.') {
            return (Some(ns), name);
        }
    }
    (default_ns, host)
}

/// Route destinations with a subset: (host, subset) of http, tcp and tls routes and mirrors.
fn subset_destinations(vs: &Obj) -> Vec<(&str, &str)> {
    let mut dests: Vec<&Json> = Vec::new();
    for kind in ["http", "tcp", "tls"] {
        for route in vs.at(&["spec", kind]).as_array().into_iter().flatten() {
            dests.extend(
                route.get("route").and_then(Json::as_array).into_iter().flatten().map(|r| at(r, &["destination"])),
            );
            dests.extend(route.get("mirror"));
            dests.extend(
                route.get("mirrors").and_then(Json::as_array).into_iter().flatten().map(|m| at(m, &["destination"])),
            );
        }
    }
    dests.into_iter().filter_map(|d| Some((d.get("host")?.as_str()?, d.get("subset")?.as_str()?))).collect()
}

/// The VirtualService destination-rule analyzer (analyzers/virtualservice/destinationrules.go:
/// 56-125): a destination subset must be defined by a DestinationRule of the same host. When
/// the stream has a DestinationRule for the host without the subset, requests to it fail
/// (503, no healthy upstream); when it has none, the rule may live elsewhere (warning).
fn subsets_undefined(index: &Index, out: &mut Vec<Finding>) {
    let mut defined: HashMap<(Option<&str>, &str), Vec<&str>> = HashMap::new();
    for dr in index.of_kind(NET, "DestinationRule") {
        let Some(host) = dr.at(&["spec", "host"]).as_str() else {
            continue;
        };
        let names = dr.at(&["spec", "subsets"]).as_array().into_iter().flatten().filter_map(|s| s["name"].as_str());
        defined.entry(host_name(host, dr.namespace.as_deref())).or_default().extend(names);
    }
    for vs in index.of_kind(NET, "VirtualService") {
        for (host, subset) in subset_destinations(vs) {
            let key = host_name(host, vs.namespace.as_deref());
            let (level, why) = match defined.get(&key) {
                Some(names) if names.contains(&subset) => continue,
                Some(names) => (Level::Error, format!("its DestinationRule defines only {}", names.join(", "))),
                None => (Level::Warning, "no DestinationRule for that host is in the stream".to_string()),
            };
            out.push(Finding::new(
                level,
                SUBSET_UNDEFINED,
                vs,
                format!(
                    "routes to subset `{subset}` of host {host}, but {why}: requests to it fail with 503 (no healthy \
                     upstream); define the subset in a DestinationRule for {host}"
                ),
            ));
        }
    }
}

/// Labels a node gives a pod's locality, which Istio can match although no pod template
/// carries them.
fn node_supplied(key: &str) -> bool {
    key.starts_with("topology.kubernetes.io/")
        || key.starts_with("topology.istio.io/")
        || key == "kubernetes.io/hostname"
        || key.starts_with("failure-domain.beta.kubernetes.io/")
}

/// The subset analyzer (analyzers/destinationrule/subset.go, `SubsetSelectPodAnalyzer`): the
/// host Service's selector merged with the subset's labels must select some pod. Judged only
/// when the Service and at least one of its workloads are in the stream; Argo Rollouts adds
/// `rollouts-pod-template-hash` at run time, so that label is not required of a template.
fn subsets_without_pods(index: &Index, out: &mut Vec<Finding>) {
    for dr in index.of_kind(NET, "DestinationRule") {
        let Some(host) = dr.at(&["spec", "host"]).as_str() else {
            continue;
        };
        let (ns, name) = host_name(host, dr.namespace.as_deref());
        let Some(svc) = index.find("", "Service", ns, name) else {
            continue;
        };
        let base = Selector::map(svc.at(&["spec", "selector"]));
        if base.is_empty() || index.templates_matching(svc.namespace.as_deref(), &base).is_empty() {
            continue;
        }
        for subset in dr.at(&["spec", "subsets"]).as_array().into_iter().flatten() {
            let mut selector = base.clone();
            for (k, v) in string_map(at(subset, &["labels"])) {
                if !node_supplied(&k) && k != "rollouts-pod-template-hash" {
                    selector.labels.insert(k, v);
                }
            }
            if index.templates_matching(svc.namespace.as_deref(), &selector).is_empty() {
                let subset_name = subset["name"].as_str().unwrap_or("?");
                out.push(Finding::new(
                    Level::Warning,
                    SUBSET_NO_PODS,
                    dr,
                    format!(
                        "subset `{subset_name}` selects no pod of Service {name}'s workloads in the stream: traffic \
                         routed to it gets 503 (no healthy upstream) unless other pods carry its labels; fix the \
                         subset's labels"
                    ),
                ));
            }
        }
    }
}

/// Istio's protocol from a name or appProtocol (istio/istio 86c9f01f pkg/config/protocol/instance.go:68-99,
/// pkg/config/kube/conversion.go:48-96); None when Istio sniffs.
fn protocol(port: i64, name: &str, app_protocol: Option<&str>) -> Option<String> {
    let name = app_protocol.unwrap_or(name);
    match name {
        "kubernetes.io/h2c" => return Some("http2".into()),
        "kubernetes.io/ws" => return Some("http".into()),
        "kubernetes.io/wss" => return Some("https".into()),
        _ => {}
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("grpc-web") {
        return Some("grpc-web".into());
    }
    let prefix = lower.split('-').next().unwrap_or_default();
    const KNOWN: &[&str] =
        &["tcp", "udp", "grpc", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis", "mysql"];
    if KNOWN.contains(&prefix) {
        return Some(prefix.to_string());
    }
    // conversion.go:25-31: SMTP, DNS, MySQL and MongoDB ports default to TCP.
    [25, 53, 3306, 27017].contains(&port).then(|| "tcp".to_string())
}

/// Ports of protocols where the server speaks first: Istio's sniffing waits for the client's
/// first bytes and the connection stalls (istio.io "Protocol Selection": server-first
/// protocols are incompatible with automatic detection).
const SERVER_FIRST: &[(i64, &str)] = &[(21, "FTP"), (22, "SSH"), (110, "POP3"), (143, "IMAP"), (4222, "NATS")];

/// Whether a sidecar that proxies a port as `picked` breaks an application that speaks
/// `theirs`: an HTTP parser in front of a raw protocol, or HTTP/1.1 in front of HTTP/2 (gRPC).
fn breaks(picked: &str, theirs: &str) -> bool {
    let family = |p: &str| match p {
        "http" | "http_proxy" => Some(1),
        "http2" | "grpc" | "grpc-web" => Some(2),
        _ => None,
    };
    match (family(picked), family(theirs)) {
        (Some(_), None) => theirs != "udp",
        (Some(1), Some(2)) => true,
        _ => false,
    }
}

/// A Service port whose protocol Istio takes from its name while its target container port's
/// name says another (gRPC behind an `http` name loses HTTP/2), or a server-first protocol
/// Istio sniffs.
fn ports(index: &Index, out: &mut Vec<Finding>) {
    for svc in index.of_kind("", "Service") {
        let selector = Selector::map(svc.at(&["spec", "selector"]));
        let templates = if selector.is_empty() {
            Vec::new()
        } else {
            index.templates_matching(svc.namespace.as_deref(), &selector)
        };
        for port in svc.at(&["spec", "ports"]).as_array().into_iter().flatten() {
            if port.get("protocol").and_then(Json::as_str) == Some("UDP") {
                continue;
            }
            let number = int(&port["port"]).unwrap_or(0);
            let name = port.get("name").and_then(Json::as_str).unwrap_or_default();
            let app = port.get("appProtocol").and_then(Json::as_str);
            let picked = protocol(number, name, app);
            let target = port.get("targetPort").unwrap_or(&port["port"]);
            if let Some(message) = mismatch(&picked, target, &templates, number, name) {
                out.push(Finding::new(Level::Warning, PORT_PROTOCOL, svc, message));
            }
        }
    }
}

fn mismatch(
    picked: &Option<String>,
    target: &Json,
    templates: &[&Template],
    number: i64,
    name: &str,
) -> Option<String> {
    let Some(picked) = picked else {
        let target_number = int(target).unwrap_or(number);
        let (_, what) = SERVER_FIRST.iter().find(|(p, _)| *p == number || *p == target_number)?;
        return Some(format!(
            "port {number} ({what}, a protocol where the server speaks first) has no protocol Istio knows in its name \
             `{name}`: the sidecar waits to sniff the client's first bytes and connections stall; name it `tcp-{name}` \
             or set appProtocol: tcp"
        ));
    };
    for t in templates {
        for c in t.spec["containers"].as_array().into_iter().flatten() {
            for cp in c["ports"].as_array().into_iter().flatten() {
                let cp_name = cp["name"].as_str().unwrap_or_default();
                let hit = match target {
                    Json::String(s) => cp_name == s,
                    other => int(other) == int(&cp["containerPort"]),
                };
                let Some(theirs) = hit.then(|| protocol(0, cp_name, None)).flatten() else {
                    continue;
                };
                if breaks(picked, &theirs) {
                    return Some(format!(
                        "port {number} is named `{name}`, so Istio proxies it as {picked}, but the container port it \
                         targets is named `{cp_name}` ({theirs}): the sidecar speaks the wrong protocol to it; name \
                         the Service port for {theirs} or set appProtocol"
                    ));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::test_support::table;
    use super::*;

    fn vs(gateways: &str, hosts: &str, extra: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts: [{hosts}]\n  gateways: [{gateways}]\n  http:\n  - route:\n    - destination:\n        host: web\n{extra}"
        )
    }

    const GW: &str = "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*.example.com']\n";

    #[test]
    fn gateway_missing_and_host_mismatch() {
        table(
            GATEWAY_MISSING,
            &[
                ("mesh only", vs("mesh", "web", ""), None),
                ("gateway in stream", vs("gw", "a.example.com", "") + GW, None),
                ("gateway elsewhere", vs("istio-system/public", "a.example.com", ""), Some(Level::Warning)),
            ],
        );
        table(
            GATEWAY_HOST_MISMATCH,
            &[
                ("wildcard serves host", vs("gw", "a.example.com", "") + GW, None),
                ("host not served", vs("gw", "a.other.org", "") + GW, Some(Level::Error)),
                (
                    "other namespace only",
                    vs("gw", "a.example.com", "") + &GW.replace("'*.example", "'ops/*.example"),
                    Some(Level::Error),
                ),
                ("any namespace", vs("gw", "a.example.com", "") + &GW.replace("'*.example", "'*/*.example"), None),
            ],
        );
    }

    const DR: &str = "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: web\nspec:\n  host: web\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n";

    #[test]
    fn subset_undefined() {
        let routed = |subset: &str| vs("mesh", "web", &format!("        subset: {subset}\n"));
        table(
            SUBSET_UNDEFINED,
            &[
                ("defined", routed("v1") + DR, None),
                ("not defined", routed("v2") + DR, Some(Level::Error)),
                ("no DestinationRule", routed("v1"), Some(Level::Warning)),
                ("FQDN host", routed("v1").replace("host: web", "host: web.app.svc.cluster.local") + DR, None),
                ("no subset", vs("mesh", "web", ""), None),
            ],
        );
    }

    fn workload(labels: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      labels:\n        app: web\n{labels}    spec:\n      containers:\n      - name: web\n        ports:\n        - name: http\n          containerPort: 80\n"
        )
    }

    #[test]
    fn subset_no_pods() {
        table(
            SUBSET_NO_PODS,
            &[
                ("labels match", DR.to_string() + &workload("        version: v1\n"), None),
                ("no pod has them", DR.to_string() + &workload("        version: v2\n"), Some(Level::Warning)),
                ("node label", DR.replace("version: v1", "topology.kubernetes.io/zone: a") + &workload(""), None),
                ("workloads elsewhere", DR.to_string(), None),
            ],
        );
    }

    #[test]
    fn port_protocol() {
        let grpc = workload("")
            .replace("        - name: http\n          containerPort", "        - name: grpc\n          containerPort");
        let ssh = workload("").replace("  - name: http\n    port: 80", "  - name: shell\n    port: 22");
        table(
            PORT_PROTOCOL,
            &[
                ("names agree", DR.to_string() + &workload(""), None),
                ("grpc behind http", DR.to_string() + &grpc, Some(Level::Warning)),
                ("server-first sniffed", DR.to_string() + &ssh, Some(Level::Warning)),
                ("server-first named tcp", DR.to_string() + &ssh.replace("name: shell", "name: tcp-shell"), None),
                ("not a mesh", ssh, None),
            ],
        );
    }
}
