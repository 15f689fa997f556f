//! Istio service-mesh wiring (`istio`) and Argo Rollouts progressive delivery (`rollouts`).
//!
//! `istio` generates Gateways, and per selected Service a VirtualService and DestinationRule
//! (optionally an EnvoyFilter, PeerAuthentication and AuthorizationPolicy); it labels the pod
//! templates behind the Service for sidecar injection, adds proxy annotations, and sets
//! `appProtocol` on Service ports Istio would otherwise have to sniff (ports are never renamed,
//! so nothing that refers to a port by name breaks). `rollouts` wires canary Rollouts to those
//! objects, converts Deployments into Rollouts with `workloadRef`, and generates
//! AnalysisTemplates. Both read the same [`plan`], so the VirtualService routes and
//! DestinationRule subsets match the Rollout that will move their weights.
//!
//! ```yaml
//! # config                                  # generated (abridged)
//! istio:                                    # kind: VirtualService
//!   enabled: true                           # spec:
//!   services:                               #   hosts: ["web"]
//!   - name: web                             #   http:
//!     trafficPolicy:                        #   - name: "primary"
//!       loadBalancer: {simple: LEAST_REQUEST}#     route: [{destination: {host: "web", port: {number: 80}}}]
//! ```
pub mod config;
pub mod plan;
pub mod rollouts;
pub mod schema;
pub mod scrape;

use std::collections::{BTreeMap, BTreeSet};

pub use config::{IstioConfig, RolloutsConfig};

use crate::edit::{PathSeg, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::{generate, OnConflict};
use crate::report::{Action, Change, Level, Report};
use crate::resource::Object;
use crate::wire::ContextV1;
use crate::wiring::changes::Changes;
use crate::wiring::Wiring;
use crate::workload::{self, Workload};
use crate::workspace::Workspace;
use crate::yaml::{NodeId, Tree};
use config::{AuthorizationConfig, EnvoyFilterConfig, GatewayConfig, MtlsMode, PortRef, Protocol, TlsMode};
pub use plan::TrafficPlan;
use plan::{config_error, Mode, Svc, Target};

const NAME: &str = "istio";

/// The `istio` wiring.
pub struct Istio {
    config: IstioConfig,
    plan: TrafficPlan,
    namespace: Option<String>,
}

impl Istio {
    /// Build the wiring from its section and the plan it shares with Rollouts.
    pub fn new(config: &IstioConfig, plan: &TrafficPlan, context: &ContextV1) -> Self {
        Istio { config: config.clone(), plan: plan.clone(), namespace: context.namespace.clone() }
    }
}

/// Record that a document was generated, and why.
pub(crate) fn record_generated(ws: &Workspace<'_>, report: &mut Report, wiring: &str, segment: usize, reason: String) {
    let tree = ws.tree(segment);
    let root = tree.root().expect("generated document");
    let kind = tree.str_at(root, &["kind"]).unwrap_or_default();
    let name = tree.str_at(root, &["metadata", "name"]).unwrap_or_default();
    let object = match tree.str_at(root, &["metadata", "namespace"]) {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    };
    report.document(ws.number(segment), &object, None).changes.push(Change {
        wiring: wiring.into(),
        path: String::new(),
        key: String::new(),
        action: Action::Added,
        reason,
    });
}

/// Generate `value` (unless `on_conflict` says to leave an existing one) and record why.
pub(crate) fn emit(
    ws: &mut Workspace<'_>,
    report: &mut Report,
    wiring: &'static str,
    value: Value,
    on_conflict: OnConflict,
    reason: String,
) -> Result<()> {
    if let Some(segment) = generate(ws, wiring, value, on_conflict)? {
        record_generated(ws, report, wiring, segment, reason);
    }
    Ok(())
}

/// `metadata` of a generated object beside `obj` (same namespace as written).
pub(crate) fn metadata(name: &str, namespace: Option<&str>, labels: Vec<(String, Value)>) -> Value {
    let mut fields = vec![("name".to_string(), Value::str(name))];
    if let Some(ns) = namespace {
        fields.push(("namespace".into(), Value::str(ns)));
    }
    if !labels.is_empty() {
        fields.push(("labels".into(), Value::Map(labels)));
    }
    Value::Map(fields)
}

/// A whole generated object.
pub(crate) fn object(api_version: &str, kind: &str, metadata: Value, spec: Value) -> Value {
    Value::map([
        ("apiVersion", Value::str(api_version)),
        ("kind", Value::str(kind)),
        ("metadata", metadata),
        ("spec", spec),
    ])
}

fn str_map(map: &BTreeMap<String, String>) -> Value {
    Value::Map(map.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect())
}

fn strs(items: &[String]) -> Value {
    Value::Seq(items.iter().map(Value::str).collect())
}

/// The destination hosts and weights of the route for a Service, given its Rollout.
pub(crate) fn destinations(svc: &str, port: i64, mode: Option<Mode>) -> Value {
    let dest = |host: String, subset: Option<&str>, weight: Option<i64>| {
        let mut destination = vec![("host".to_string(), Value::str(host))];
        if let Some(name) = subset {
            destination.push(("subset".into(), Value::str(name)));
        }
        destination.push(("port".into(), Value::map([("number", Value::Int(port))])));
        let mut entry = vec![("destination".to_string(), Value::Map(destination))];
        if let Some(percent) = weight {
            entry.push(("weight".into(), Value::Int(percent)));
        }
        Value::Map(entry)
    };
    match mode {
        Some(Mode::Subset) => {
            Value::Seq(vec![dest(svc.into(), Some("stable"), Some(100)), dest(svc.into(), Some("canary"), Some(0))])
        }
        Some(Mode::Host) => Value::Seq(vec![
            dest(format!("{svc}-stable"), None, Some(100)),
            dest(format!("{svc}-canary"), None, Some(0)),
        ]),
        _ => Value::Seq(vec![dest(svc.into(), None, None)]),
    }
}

/// The name of the HTTP (or TCP) route postwire writes, which Rollouts' `routes` refers to.
pub const ROUTE_NAME: &str = "primary";

/// What the render holds, for wiring one Service.
#[derive(Clone, Copy)]
struct Render<'a> {
    targets: &'a [Target],
    pods: &'a plan::Pods<'a>,
    gateway_objects: &'a [Object],
    /// The namespace of each generated Gateway, by its key under `istio.gateways`.
    gateway_namespaces: &'a BTreeMap<String, Option<String>>,
}

/// The route one Service gets: where its config entry is, the port and protocol it is routed
/// with, and the Rollout that moves its weights, if any.
struct Route<'a> {
    svc: &'a Svc,
    path: String,
    port: i64,
    protocol: Protocol,
    rollout: Option<&'a Target>,
}

impl Route<'_> {
    fn name(&self) -> &str {
        &self.svc.obj.name
    }

    fn namespace(&self) -> Option<&str> {
        self.svc.obj.namespace.as_deref()
    }

    fn mode(&self) -> Option<Mode> {
        self.rollout.map(|t| t.mode)
    }
}

// ---- Gateways ----

/// A Gateway server on `port` for `hosts`.
fn server(number: u16, name: String, protocol: &str, hosts: &Value) -> Vec<(String, Value)> {
    vec![
        (
            "port".to_string(),
            Value::map([
                ("number", Value::Int(number.into())),
                ("name", Value::str(name)),
                ("protocol", Value::str(protocol)),
            ]),
        ),
        ("hosts".into(), hosts.clone()),
    ]
}

/// The plain-HTTP server (redirecting to HTTPS when asked); `httpPort: 0` needs another server.
fn http_server(gateway: &GatewayConfig, hosts: &Value, path: &str) -> Result<Option<Value>> {
    if gateway.http_port == 0 {
        if gateway.tls.is_none() && gateway.tcp_ports.is_empty() {
            let message = "`httpPort: 0` leaves no server; add `tls` or `tcpPorts`";
            return Err(config_error(message.into(), format!("{path}.httpPort")));
        }
        return Ok(None);
    }
    let mut http = server(gateway.http_port, "http".into(), "HTTP", hosts);
    if gateway.tls.as_ref().is_some_and(|t| t.https_redirect) {
        http.push(("tls".into(), Value::map([("httpsRedirect", Value::Bool(true))])));
    }
    Ok(Some(Value::Map(http)))
}

/// The HTTPS (or TLS passthrough) server; every mode but passthrough needs the certificate.
fn tls_server(gateway: &GatewayConfig, hosts: &Value, path: &str) -> Result<Option<Value>> {
    let Some(config) = &gateway.tls else { return Ok(None) };
    let mode = match config.mode {
        TlsMode::Simple => "SIMPLE",
        TlsMode::Mutual => "MUTUAL",
        TlsMode::Passthrough => "PASSTHROUGH",
        TlsMode::OptionalMutual => "OPTIONAL_MUTUAL",
    };
    let mut tls = vec![("mode".to_string(), Value::str(mode))];
    if config.mode != TlsMode::Passthrough {
        if config.credential_name.is_empty() {
            return Err(config_error(
                format!("TLS mode {mode} needs the `credentialName` of the certificate Secret"),
                format!("{path}.tls.credentialName"),
            ));
        }
        tls.push(("credentialName".into(), Value::str(&config.credential_name)));
    }
    let protocol = if config.mode == TlsMode::Passthrough { "TLS" } else { "HTTPS" };
    let mut https = server(config.port, "https".into(), protocol, hosts);
    https.push(("tls".into(), Value::Map(tls)));
    Ok(Some(Value::Map(https)))
}

/// A Gateway's metadata: ExternalDNS publishes its hosts (wildcards aside) when asked.
fn gateway_metadata(key: &str, gateway: &GatewayConfig, namespace: Option<&str>) -> Value {
    let mut meta = metadata(key, namespace, Vec::new());
    let names: Vec<&str> = gateway.hosts.iter().map(String::as_str).filter(|h| !h.contains('*')).collect();
    if gateway.external_dns && !names.is_empty() {
        if let Value::Map(fields) = &mut meta {
            fields.push((
                "annotations".into(),
                Value::map([("external-dns.alpha.kubernetes.io/hostname", Value::str(names.join(",")))]),
            ));
        }
    }
    meta
}

/// Why a Gateway was generated, in the report.
fn gateway_reason(key: &str, gateway: &GatewayConfig) -> String {
    let hosts = gateway.hosts.join(", ");
    match &gateway.tls {
        Some(tls) if tls.https_redirect && gateway.http_port != 0 => {
            format!(
                "gateway `{key}` for {hosts}: HTTPS on {} and a redirect from HTTP on {}",
                tls.port, gateway.http_port
            )
        }
        Some(tls) => format!("gateway `{key}` for {hosts}: HTTPS on {}", tls.port),
        None => format!("gateway `{key}` for {hosts}: HTTP on {}", gateway.http_port),
    }
}

// ---- Service routing: ports ----

/// A Service's ports by name (or number, for an unnamed one), for messages.
fn port_names(svc: &Svc) -> Vec<String> {
    svc.ports.iter().map(|p| p.name.clone().unwrap_or_else(|| p.number.to_string())).collect()
}

/// The port the config names.
fn named_port<'s>(svc: &'s Svc, want: &PortRef, path: &str) -> Result<&'s plan::Port> {
    let found = svc.ports.iter().find(|port| match want {
        PortRef::Number(number) => port.number == i64::from(*number),
        PortRef::Name(name) => port.name.as_deref() == Some(name.as_str()),
    });
    found.ok_or_else(|| {
        let names = port_names(svc);
        config_error(
            format!(
                "{} has no port `{want}` (its ports: {}){}",
                svc.obj.display(),
                names.join(", "),
                plan::closest(&want.to_string(), names.iter().map(String::as_str))
            ),
            format!("{path}.port"),
        )
    })
}

/// The port routed when the config names none: the one HTTP port, else the only port.
fn default_port<'s>(svc: &'s Svc, path: &str) -> Result<&'s plan::Port> {
    let httpish: Vec<&plan::Port> = svc
        .ports
        .iter()
        .filter(|p| Protocol::detect(p.app_protocol.as_deref(), p.name.as_deref()).is_some_and(Protocol::is_http))
        .collect();
    match (httpish.as_slice(), svc.ports.as_slice()) {
        ([one], _) => Ok(one),
        (_, [only]) => Ok(only),
        (_, []) => Err(config_error(format!("{} has no ports", svc.obj.display()), path.to_string())),
        _ => Err(config_error(
            format!("{} has several ports ({}); say which one to route", svc.obj.display(), port_names(svc).join(", ")),
            format!("{path}.port"),
        )
        .with_hint("set `port:` to a port name or number")),
    }
}

/// The routed port of a Service and its protocol.
fn routed_port<'s>(svc: &'s Svc, path: &str) -> Result<(&'s plan::Port, Protocol)> {
    let port = match &svc.config.port {
        Some(want) => named_port(svc, want, path)?,
        None => default_port(svc, path)?,
    };
    let detected = Protocol::detect(port.app_protocol.as_deref(), port.name.as_deref());
    Ok((port, svc.config.protocol.or(detected).unwrap_or(Protocol::Http)))
}

/// The ports whose protocol postwire states, as (index, protocol, whether the config names
/// it): the routed port, then each `appProtocols` entry.
fn wanted_protocols(
    svc: &Svc,
    routed: &plan::Port,
    protocol: Protocol,
    path: &str,
) -> Result<Vec<(usize, Protocol, bool)>> {
    let mut want = vec![(routed.index, protocol, svc.config.protocol.is_some())];
    for (key, protocol) in &svc.config.app_protocols {
        let Some(found) =
            svc.ports.iter().find(|x| x.name.as_deref() == Some(key.as_str()) || x.number.to_string() == *key)
        else {
            let names = port_names(svc);
            return Err(config_error(
                format!(
                    "{} has no port `{key}`{}",
                    svc.obj.display(),
                    plan::closest(key, names.iter().map(String::as_str))
                ),
                format!("{path}.appProtocols.{key}"),
            ));
        };
        want.push((found.index, *protocol, true));
    }
    Ok(want)
}

/// Plan `appProtocol` on a Service port where Istio would not detect protocol `p` by itself.
fn plan_app_protocol(changes: &mut Changes<'_>, port: &plan::Port, protocol: Protocol, explicit: bool) {
    let detected = Protocol::detect(port.app_protocol.as_deref(), port.name.as_deref());
    if detected == Some(protocol) || (detected.is_some() && !explicit) {
        return;
    }
    // The chart's own appProtocol, one Istio does not know, stays unless the config names
    // a protocol: Istio sniffs that port, whatever its name says.
    if let (None, Some(app), false) = (detected, port.app_protocol.as_deref(), explicit) {
        changes.note(Level::Warning, format!(
            "Istio sniffs the protocol of port {}: its appProtocol `{app}` is not one Istio knows, and it wins over the port name; set `protocol` (or `appProtocols`) to make Istio read it as {protocol:?}",
            port.number
        ));
        return;
    }
    changes.set(
        &[PathSeg::from("spec"), PathSeg::from("ports"), PathSeg::Index(port.index)],
        "appProtocol",
        Value::str(protocol.app_protocol()),
        format!(
            "Istio reads port {} as {:?} by appProtocol (it wins over the port name, which stays as it is)",
            port.number, protocol
        ),
    );
}

// ---- Service routing: VirtualService ----

/// The HTTP route: the config's match, retries and so on around the destinations.
fn http_route(route: &Route<'_>) -> Value {
    let cfg = &route.svc.config;
    let mut out = vec![("name".to_string(), Value::str(ROUTE_NAME))];
    if let Some(matches) = &cfg.matches {
        out.push(("match".into(), Value::from_json(&matches.0)));
    }
    out.push(("route".into(), destinations(route.name(), route.port, route.mode())));
    if let Some(timeout) = &cfg.timeout {
        out.push(("timeout".into(), Value::str(&timeout.0)));
    }
    if let Some(retries) = &cfg.retries {
        out.push(("retries".into(), Value::from_json(&retries.0)));
    }
    if let Some(headers) = &cfg.headers {
        out.push(("headers".into(), Value::from_json(&headers.0)));
    }
    if let Some(cors) = &cfg.cors_policy {
        out.push(("corsPolicy".into(), Value::from_json(&cors.0)));
    }
    Value::Map(out)
}

/// A TCP route takes none of the HTTP-only settings, and no canary traffic split.
fn check_tcp_route(route: &Route<'_>) -> Result<()> {
    let cfg = &route.svc.config;
    for (what, set) in [
        ("match", cfg.matches.is_some()),
        ("retries", cfg.retries.is_some()),
        ("timeout", cfg.timeout.is_some()),
        ("headers", cfg.headers.is_some()),
        ("corsPolicy", cfg.cors_policy.is_some()),
    ] {
        if set {
            return Err(config_error(
                format!(
                    "`{what}` is for HTTP routes, and Service {} port {} is routed as {:?}",
                    route.svc.obj.display(),
                    route.port,
                    route.protocol
                ),
                format!("{}.{what}", route.path),
            ));
        }
    }
    if matches!(route.mode(), Some(Mode::Subset | Mode::Host)) {
        return Err(config_error(
            format!(
                "canary traffic routing for the TCP Service {} is not supported; use trafficRouting: none",
                route.svc.obj.display()
            ),
            format!("rollouts.workloads[{}].trafficRouting", route.rollout.map_or(0, |t| t.index)),
        ));
    }
    Ok(())
}

/// The VirtualService's hosts: the config's, else the gateways' (and the Service's own name
/// when it is routed inside the mesh), each once.
fn route_hosts(route: &Route<'_>, gateways: &[String], gateway_hosts: Vec<String>) -> Result<Vec<String>> {
    let mut hosts = route.svc.config.hosts.clone();
    if hosts.is_empty() {
        hosts = gateway_hosts;
        if gateways.is_empty() || gateways.iter().any(|g| g == "mesh") {
            hosts.insert(0, route.name().to_string());
        }
    }
    let mut seen = BTreeSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    if hosts.is_empty() {
        return Err(config_error(
            format!("the VirtualService for Service {} has no hosts", route.svc.obj.display()),
            format!("{}.hosts", route.path),
        ));
    }
    Ok(hosts)
}

// ---- Service routing: DestinationRule ----

/// The DestinationRule's traffic policy: the config's, with Istio mutual TLS when asked.
fn traffic_policy(changes: &mut Changes<'_>, route: &Route<'_>) -> serde_json::Value {
    let cfg = &route.svc.config;
    let mut policy = cfg.traffic_policy.as_ref().map(|p| p.0.clone()).unwrap_or(serde_json::Value::Null);
    if cfg.mtls && policy.get("tls").is_none() {
        if !policy.is_object() {
            policy = serde_json::json!({});
        }
        policy["tls"] = serde_json::json!({"mode": "ISTIO_MUTUAL"});
    }
    if policy.pointer("/loadBalancer/simple").and_then(|v| v.as_str()) == Some("LEAST_CONN") {
        changes.note(Level::Warning, format!("{}.trafficPolicy.loadBalancer.simple: LEAST_CONN is deprecated in Istio (\"Use LEAST_REQUEST instead\"); pilot treats both alike", route.path));
    }
    policy
}

/// One subset per value of `subsetLabel` among the pods behind the Service.
fn label_subsets(
    changes: &mut Changes<'_>,
    route: &Route<'_>,
    label: &str,
    behind: &[&BTreeMap<String, String>],
) -> Vec<Value> {
    let values: BTreeSet<&String> = behind.iter().filter_map(|labels| labels.get(label)).collect();
    if values.is_empty() {
        changes.note(
            Level::Warning,
            format!("no pod behind Service {} has the label `{label}`, so no subsets come from it", route.name()),
        );
    }
    values
        .into_iter()
        .map(|v| Value::map([("name", Value::str(v)), ("labels", Value::map([(label, Value::str(v))]))]))
        .collect()
}

/// A DestinationRule's subsets must have distinct names.
fn check_subsets(route: &Route<'_>, subsets: &[Value]) -> Result<()> {
    let mut names = BTreeSet::new();
    for subset in subsets {
        if let Some(Value::Str(name)) = subset.get("name") {
            if !names.insert(name.clone()) {
                return Err(config_error(
                    format!("the DestinationRule for Service {} would have two subsets named `{name}`", route.name()),
                    format!("{}.subsets", route.path),
                ));
            }
        }
    }
    Ok(())
}

/// The AuthorizationPolicy's `from`: the allowed namespaces and service accounts (as SPIFFE
/// principals of the trust domain).
fn allowed_sources(policy: &AuthorizationConfig, path: &str) -> Result<Vec<Value>> {
    let domain = policy.trust_domain.as_deref().unwrap_or("cluster.local");
    let mut from = Vec::new();
    if !policy.namespaces.is_empty() {
        from.push(Value::map([("source", Value::map([("namespaces", strs(&policy.namespaces))]))]));
    }
    if !policy.service_accounts.is_empty() {
        let mut principals = Vec::new();
        for (index, sa) in policy.service_accounts.iter().enumerate() {
            let Some((sns, sname)) =
                sa.split_once('/').filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
            else {
                return Err(config_error(
                    format!("`{sa}` is not `namespace/name`"),
                    format!("{path}.authorizationPolicy.serviceAccounts[{index}]"),
                ));
            };
            principals.push(Value::str(format!("{domain}/ns/{sns}/sa/{sname}")));
        }
        from.push(Value::map([("source", Value::map([("principals", Value::Seq(principals))]))]));
    }
    Ok(from)
}

/// The EnvoyFilter spec adding request headers to inbound traffic of the selected pods.
fn envoy_filter_spec(filter: &EnvoyFilterConfig, selector: Value) -> Value {
    let headers: Vec<Value> = filter
        .request_headers
        .iter()
        .map(|(key, value)| {
            Value::map([
                ("header", Value::map([("key", Value::str(key)), ("value", Value::str(value))])),
                ("append_action", Value::str("OVERWRITE_IF_EXISTS_OR_ADD")),
            ])
        })
        .collect();
    let patch = Value::map([
        ("operation", Value::str("MERGE")),
        ("value", Value::map([("request_headers_to_add", Value::Seq(headers))])),
    ]);
    Value::map([
        ("workloadSelector", Value::map([("labels", selector)])),
        (
            "configPatches",
            Value::Seq(vec![Value::map([
                ("applyTo", Value::str("VIRTUAL_HOST")),
                ("match", Value::map([("context", Value::str("SIDECAR_INBOUND"))])),
                ("patch", patch),
            ])]),
        ),
    ])
}

impl Istio {
    fn api(&self, group: &str) -> String {
        format!("{group}/{}", self.config.api_version.as_str())
    }

    fn on_conflict(&self) -> OnConflict {
        self.config.on_conflict.into()
    }

    /// Generate `value` and record why.
    fn emit(&self, ws: &mut Workspace<'_>, report: &mut Report, value: Value, reason: String) -> Result<()> {
        emit(ws, report, NAME, value, self.on_conflict(), reason)
    }

    /// A generated Gateway's namespace: its own `namespace`, else the one namespace the Services
    /// routed through it are written with (where their VirtualServices go), else none.
    fn gateway_namespace(key: &str, gateway: &GatewayConfig, services: &[Svc]) -> Option<String> {
        if gateway.namespace.is_some() {
            return gateway.namespace.clone();
        }
        let mut routed = services.iter().filter(|svc| svc.config.gateways.iter().any(|name| name == key));
        let first = routed.next()?.obj.namespace.clone();
        routed.all(|svc| svc.obj.namespace == first).then_some(first).flatten()
    }

    /// The Gateway for `istio.gateways.KEY`.
    fn gateway(&self, key: &str, gateway: &GatewayConfig, namespace: Option<&str>) -> Result<Value> {
        let path = format!("istio.gateways.{key}");
        if gateway.hosts.is_empty() {
            return Err(config_error("a Gateway needs `hosts`".into(), format!("{path}.hosts")));
        }
        if gateway.selector.is_empty() {
            let message = "a Gateway needs the labels of its gateway workload";
            return Err(config_error(message.into(), format!("{path}.selector")));
        }
        let hosts = strs(&gateway.hosts);
        let mut servers: Vec<Value> = Vec::new();
        servers.extend(http_server(gateway, &hosts, &path)?);
        servers.extend(tls_server(gateway, &hosts, &path)?);
        servers.extend(
            gateway.tcp_ports.iter().map(|port| Value::Map(server(*port, format!("tcp-{port}"), "TCP", &hosts))),
        );
        Ok(object(
            &self.api("networking.istio.io"),
            "Gateway",
            gateway_metadata(key, gateway, namespace),
            Value::map([("selector", str_map(&gateway.selector)), ("servers", Value::Seq(servers))]),
        ))
    }

    /// Generate every Gateway under `istio.gateways`.
    fn generate_gateways(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        namespaces: &BTreeMap<String, Option<String>>,
    ) -> Result<()> {
        for (key, config) in &self.config.gateways {
            let gateway = self.gateway(key, config, namespaces[key].as_deref())?;
            self.emit(ws, report, gateway, gateway_reason(key, config))?;
        }
        Ok(())
    }

    /// A Service's routed port and protocol, or none: a glob or label selector picks Services
    /// the user did not name, and one whose port cannot be chosen is left out with a warning
    /// rather than stopping the render.
    fn routed_port_or_skip<'s>(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        svc: &'s Svc,
        path: &str,
    ) -> Result<Option<(&'s plan::Port, Protocol)>> {
        let cfg = &svc.config;
        match routed_port(svc, path) {
            Ok(found) => Ok(Some(found)),
            Err(error) if cfg.port.is_none() && cfg.name.as_deref().is_none_or(|name| name.contains(['*', '?'])) => {
                let mut changes = Changes::new(NAME, &svc.obj);
                changes.note(Level::Warning, format!("left out of the mesh routing: {}", error.message()));
                changes.apply(ws, report)?;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Route one Service: its ports' `appProtocol`, a VirtualService, DestinationRules and the
    /// workload policies its config asks for.
    fn wire_service(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        svc: &Svc,
        index: usize,
        render: &Render<'_>,
    ) -> Result<()> {
        let path = format!("istio.services[{index}]");
        let Some((port, protocol)) = self.routed_port_or_skip(ws, report, svc, &path)? else {
            return Ok(());
        };
        let name = svc.obj.name.as_str();
        let rollout = render.targets.iter().find(|t| t.service.as_deref() == Some(name) && t.routed);
        let route = Route { svc, path, port: port.number, protocol, rollout };
        self.set_app_protocols(ws, report, &route, port)?;
        let (gateways, gateway_hosts) = self.route_gateways(&route, render)?;
        let hosts = route_hosts(&route, &gateways, gateway_hosts)?;
        self.virtual_service(ws, report, &route, &gateways, &hosts)?;
        self.destination_rules(ws, report, &route, render.pods)?;
        self.workload_policies(ws, report, &route)
    }

    /// Service ports: `appProtocol` where Istio would not detect the protocol routed with.
    fn set_app_protocols(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        route: &Route<'_>,
        routed: &plan::Port,
    ) -> Result<()> {
        let svc = route.svc;
        let mut changes = Changes::new(NAME, &svc.obj);
        for (i, protocol, explicit) in wanted_protocols(svc, routed, route.protocol, &route.path)? {
            plan_app_protocol(&mut changes, &svc.ports[i], protocol, explicit);
        }
        changes.apply(ws, report)
    }

    /// One entry of a Service's `gateways` as the VirtualService names it, with the hosts a
    /// generated Gateway brings.
    fn route_gateway<'g>(
        &'g self,
        gateway: &str,
        i: usize,
        route: &Route<'_>,
        render: &Render<'_>,
    ) -> Result<(String, &'g [String])> {
        if gateway == "mesh" || gateway.contains('/') {
            return Ok((gateway.to_string(), &[]));
        }
        if let Some(gc) = self.config.gateways.get(gateway) {
            let name = match (render.gateway_namespaces.get(gateway).cloned().flatten(), route.namespace()) {
                (Some(gns), ns) if Some(gns.as_str()) != ns => format!("{gns}/{gateway}"),
                _ => gateway.to_string(),
            };
            return Ok((name, &gc.hosts));
        }
        if render.gateway_objects.iter().any(|obj| obj.name == gateway) {
            return Ok((gateway.to_string(), &[]));
        }
        let keys = (self.config.gateways.keys().map(String::as_str))
            .chain(render.gateway_objects.iter().map(|obj| obj.name.as_str()));
        Err(config_error(
            format!(
                "gateway `{gateway}` is not under istio.gateways, not `mesh`, and no Gateway of the render{}",
                plan::closest(gateway, keys)
            ),
            format!("{}.gateways[{i}]", route.path),
        )
        .with_hint("name a gateway under istio.gateways, `mesh`, or `namespace/name` of an existing Gateway"))
    }

    /// The VirtualService's gateways (plus `mesh` when the Service is also routed inside the
    /// mesh) and the hosts of the generated Gateways among them.
    fn route_gateways(&self, route: &Route<'_>, render: &Render<'_>) -> Result<(Vec<String>, Vec<String>)> {
        let cfg = &route.svc.config;
        let mut gateways = Vec::new();
        let mut gateway_hosts = Vec::new();
        for (i, gateway) in cfg.gateways.iter().enumerate() {
            let (name, hosts) = self.route_gateway(gateway, i, route, render)?;
            gateways.push(name);
            gateway_hosts.extend(hosts.iter().cloned());
        }
        if cfg.mesh && !gateways.iter().any(|gateway| gateway == "mesh") && !gateways.is_empty() {
            gateways.push("mesh".into());
        }
        Ok((gateways, gateway_hosts))
    }

    /// The VirtualService routing `hosts` to the Service's port.
    fn virtual_service(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        route: &Route<'_>,
        gateways: &[String],
        hosts: &[String],
    ) -> Result<()> {
        let (name, port) = (route.name(), route.port);
        let mut spec = vec![("hosts".to_string(), strs(hosts))];
        if !gateways.is_empty() {
            spec.push(("gateways".into(), strs(gateways)));
        }
        if route.protocol.is_http() {
            spec.push(("http".into(), Value::Seq(vec![http_route(route)])));
        } else {
            check_tcp_route(route)?;
            spec.push(("tcp".into(), Value::Seq(vec![Value::map([("route", destinations(name, port, None))])])));
        }
        let vs = object(
            &self.api("networking.istio.io"),
            "VirtualService",
            metadata(name, route.namespace(), Vec::new()),
            Value::Map(spec),
        );
        let hosts = hosts.join(", ");
        let reason = match route.mode() {
            Some(Mode::Subset | Mode::Host) => {
                format!("routes {hosts} to Service {name} port {port}; Argo Rollouts moves the canary weights")
            }
            _ => format!("routes {hosts} to Service {name} port {port}"),
        };
        self.emit(ws, report, vs, reason)
    }

    /// The DestinationRule's subsets: the config's, one per value of `subsetLabel`, and
    /// `stable`/`canary` for a subset-level canary.
    fn subsets(&self, changes: &mut Changes<'_>, route: &Route<'_>, pods: &plan::Pods<'_>) -> Vec<Value> {
        let svc = route.svc;
        let mut subsets: Vec<Value> = (svc.config.subsets.iter())
            .map(|subset| Value::map([("name", Value::str(&subset.name)), ("labels", str_map(&subset.labels))]))
            .collect();
        if let Some(label) = &svc.config.subset_label {
            let behind = pods.behind(svc, self.namespace.as_deref());
            let labels: Vec<&BTreeMap<String, String>> = behind.iter().map(|(_, labels)| *labels).collect();
            subsets.extend(label_subsets(changes, route, label, &labels));
        }
        if route.mode() == Some(Mode::Subset) {
            for subset in ["stable", "canary"] {
                subsets.push(Value::map([("name", Value::str(subset)), ("labels", str_map(&svc.selector))]));
            }
        }
        subsets
    }

    /// The DestinationRule of the Service (and of its `-stable`/`-canary` hosts for a
    /// host-level canary), when there is a policy or a subset to write.
    fn destination_rules(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        route: &Route<'_>,
        pods: &plan::Pods<'_>,
    ) -> Result<()> {
        let name = route.name();
        let mut changes = Changes::new(NAME, &route.svc.obj);
        let policy = traffic_policy(&mut changes, route);
        let subsets = self.subsets(&mut changes, route, pods);
        changes.apply(ws, report)?;
        check_subsets(route, &subsets)?;
        let mut hosts = vec![name.to_string()];
        if route.mode() == Some(Mode::Host) {
            hosts.extend([format!("{name}-stable"), format!("{name}-canary")]);
        }
        for host in hosts {
            let mut spec = vec![("host".to_string(), Value::str(&host))];
            if !policy.is_null() {
                spec.push(("trafficPolicy".into(), Value::from_json(&policy)));
            }
            if host == name && !subsets.is_empty() {
                spec.push(("subsets".into(), Value::Seq(subsets.clone())));
            }
            if spec.len() == 1 {
                continue;
            }
            let meta = metadata(&host, route.namespace(), Vec::new());
            let dr = object(&self.api("networking.istio.io"), "DestinationRule", meta, Value::Map(spec));
            self.emit(ws, report, dr, format!("traffic policy and subsets for host {host}"))?;
        }
        Ok(())
    }

    /// The EnvoyFilter, PeerAuthentication and AuthorizationPolicy for the pods behind the
    /// Service, which select them by the Service's selector.
    fn workload_policies(&self, ws: &mut Workspace<'_>, report: &mut Report, route: &Route<'_>) -> Result<()> {
        let svc = route.svc;
        let cfg = &svc.config;
        if (cfg.envoy_filter.is_some() || cfg.peer_authentication.is_some() || cfg.authorization_policy.is_some())
            && svc.selector.is_empty()
        {
            return Err(config_error(
                format!("{} has no selector, so no workload policy can select its pods", svc.obj.display()),
                route.path.clone(),
            ));
        }
        if let Some(ef) = &cfg.envoy_filter {
            self.envoy_filter(ws, report, route, ef)?;
        }
        if let Some(mode) = cfg.peer_authentication {
            self.peer_authentication(ws, report, route, mode)?;
        }
        if let Some(a) = &cfg.authorization_policy {
            self.authorization_policy(ws, report, route, a)?;
        }
        Ok(())
    }

    fn envoy_filter(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        route: &Route<'_>,
        filter: &EnvoyFilterConfig,
    ) -> Result<()> {
        let name = route.name();
        let obj = object(
            "networking.istio.io/v1alpha3",
            "EnvoyFilter",
            metadata(&format!("{name}-request-headers"), route.namespace(), Vec::new()),
            envoy_filter_spec(filter, str_map(&route.svc.selector)),
        );
        let keys: Vec<&str> = filter.request_headers.keys().map(String::as_str).collect();
        let reason =
            format!("adds request headers {} to inbound traffic of the pods behind Service {name}", keys.join(", "));
        self.emit(ws, report, obj, reason)
    }

    fn peer_authentication(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        route: &Route<'_>,
        mode: MtlsMode,
    ) -> Result<()> {
        let name = route.name();
        let mode = match mode {
            MtlsMode::Strict => "STRICT",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Disable => "DISABLE",
        };
        let spec = Value::map([
            ("selector", Value::map([("matchLabels", str_map(&route.svc.selector))])),
            ("mtls", Value::map([("mode", Value::str(mode))])),
        ]);
        let meta = metadata(name, route.namespace(), Vec::new());
        let obj = object(&self.api("security.istio.io"), "PeerAuthentication", meta, spec);
        self.emit(ws, report, obj, format!("mutual TLS {mode} for the pods behind Service {name}"))
    }

    fn authorization_policy(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        route: &Route<'_>,
        policy: &AuthorizationConfig,
    ) -> Result<()> {
        let name = route.name();
        if policy.namespaces.is_empty() && policy.service_accounts.is_empty() {
            return Err(config_error(
                "an AuthorizationPolicy needs `namespaces` or `serviceAccounts` to allow".to_string(),
                format!("{}.authorizationPolicy", route.path),
            ));
        }
        let from = allowed_sources(policy, &route.path)?;
        let spec = Value::map([
            ("selector", Value::map([("matchLabels", str_map(&route.svc.selector))])),
            ("action", Value::str("ALLOW")),
            ("rules", Value::Seq(vec![Value::map([("from", Value::Seq(from))])])),
        ]);
        let meta = metadata(name, route.namespace(), Vec::new());
        let obj = object(&self.api("security.istio.io"), "AuthorizationPolicy", meta, spec);
        self.emit(ws, report, obj, format!("allows only the listed sources to reach the pods behind Service {name}"))
    }

    /// The proxy annotations the config asks for, as (key, value, config field).
    fn proxy_annotations(&self) -> Vec<(String, String, &'static str)> {
        let proxy = &self.config.proxy;
        let mut out = Vec::new();
        if let Some(hold) = proxy.hold_application_until_proxy_starts {
            out.push((
                "proxy.istio.io/config".to_string(),
                format!("{{\"holdApplicationUntilProxyStarts\": {hold}}}"),
                "istio.proxy.holdApplicationUntilProxyStarts",
            ));
        }
        let ports = |value: &[u16]| value.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        if !proxy.exclude_outbound_ports.is_empty() {
            out.push((
                "traffic.sidecar.istio.io/excludeOutboundPorts".into(),
                ports(&proxy.exclude_outbound_ports),
                "istio.proxy.excludeOutboundPorts",
            ));
        }
        if !proxy.exclude_inbound_ports.is_empty() {
            out.push((
                "traffic.sidecar.istio.io/excludeInboundPorts".into(),
                ports(&proxy.exclude_inbound_ports),
                "istio.proxy.excludeInboundPorts",
            ));
        }
        for (key, value) in &proxy.annotations {
            out.push((key.clone(), value.clone(), "istio.proxy.annotations"));
        }
        out
    }

    /// The pod template of a workload that can join the mesh: not switched off by annotation
    /// and not on the host network (notes say why not).
    fn meshable(&self, ws: &Workspace<'_>, changes: &mut Changes<'_>, workload: &Workload) -> Result<Option<NodeId>> {
        if workload::switch(ws, &workload.object, plan::ISTIO_ANNOTATION)? == Some(false) {
            changes.note(Level::Info, format!("skipped: annotation {}: \"false\"", plan::ISTIO_ANNOTATION));
            return Ok(None);
        }
        let Some(template) = workload.template else { return Ok(None) };
        if ws.tree(workload.object.segment).str_at(template, &["spec", "hostNetwork"]) == Some("true") {
            changes.note(Level::Warning, "hostNetwork pods are never given a sidecar; left out of the mesh");
            return Ok(None);
        }
        Ok(Some(template))
    }

    /// The pod label that gets the sidecar injected, unless the template opts out.
    fn label_for_injection(
        &self,
        changes: &mut Changes<'_>,
        tree: &Tree,
        workload: &Workload,
        template: NodeId,
        service: &str,
    ) {
        let Some((key, value)) = plan::injection_label(&self.config) else { return };
        if tree.str_at(template, &["metadata", "labels", "sidecar.istio.io/inject"]) == Some("false") {
            changes.note(
                Level::Warning,
                "the pod template opts out of injection (sidecar.istio.io/inject: \"false\"); left as it is",
            );
            return;
        }
        let at = workload.template_child(&["metadata", "labels"]);
        changes.set(&at, key, Value::str(value), format!("joins the mesh behind Service {service}"));
    }

    /// The proxy annotations on the pod template; the chart's own proxy config may hold more
    /// than postwire would write, so a different one is kept.
    fn annotate_proxy(&self, changes: &mut Changes<'_>, tree: &Tree, workload: &Workload, template: NodeId) {
        let at = workload.template_child(&["metadata", "annotations"]);
        for (key, value, why) in self.proxy_annotations() {
            let existing = tree.str_at(template, &["metadata", "annotations", &key]);
            if key == "proxy.istio.io/config" && existing.is_some_and(|v| v != value) {
                changes.note(Level::Info, format!("kept the chart's {key} annotation"));
                continue;
            }
            changes.set(&at, &key, Value::str(value), why);
        }
    }

    /// Put the pods of a workload behind a routed Service into the mesh.
    fn wire_workload(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        workload: &Workload,
        service: &str,
    ) -> Result<()> {
        let mut changes = Changes::new(NAME, &workload.object);
        if let Some(template) = self.meshable(ws, &mut changes, workload)? {
            let tree = ws.tree(workload.object.segment);
            self.label_for_injection(&mut changes, tree, workload, template, service);
            self.annotate_proxy(&mut changes, tree, workload, template);
        }
        changes.apply(ws, report)
    }

    /// Route every selected Service.
    fn wire_services(&self, ws: &mut Workspace<'_>, report: &mut Report, objects: &[Object]) -> Result<()> {
        let ns = self.namespace.as_deref();
        let services = plan::services(ws, objects, &self.plan, ns)?;
        let targets = if self.plan.rollouts.is_some() {
            plan::targets(ws, objects, &self.plan, &services, ns)?
        } else {
            Vec::new()
        };
        let gateway_objects: Vec<Object> =
            objects.iter().filter(|o| o.is("networking.istio.io", "Gateway")).cloned().collect();
        let gateway_namespaces: BTreeMap<String, Option<String>> = (self.config.gateways.iter())
            .map(|(key, g)| (key.clone(), Self::gateway_namespace(key, g, &services)))
            .collect();
        self.generate_gateways(ws, report, &gateway_namespaces)?;
        let workloads: Vec<Workload> =
            workload::find(ws, objects, &self.plan.workloads).into_iter().map(|(w, _)| w).collect();
        let pods = plan::Pods::new(ws, &workloads);
        let render = Render {
            targets: &targets,
            pods: &pods,
            gateway_objects: &gateway_objects,
            gateway_namespaces: &gateway_namespaces,
        };
        for svc in &services {
            let index = self.config.services.iter().position(|c| *c == svc.config).unwrap_or(0);
            self.wire_service(ws, report, svc, index, &render)?;
        }
        Ok(())
    }

    /// Put the pods behind every routed Service into the mesh, each workload once.
    fn wire_workloads(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let ns = self.namespace.as_deref();
        let objects = ws.objects();
        let services = plan::services(ws, &objects, &self.plan, ns)?;
        let workloads: Vec<Workload> =
            workload::find(ws, &objects, &self.plan.workloads).into_iter().map(|(workload, _)| workload).collect();
        let pods = plan::Pods::new(ws, &workloads);
        let mut wired: BTreeSet<(usize, usize)> = BTreeSet::new();
        for svc in &services {
            for (workload, _) in pods.behind(svc, ns) {
                if wired.insert((workload.object.segment, workload.object.node)) {
                    self.wire_workload(ws, report, workload, &svc.obj.name)?;
                }
            }
        }
        Ok(())
    }
}

impl Wiring for Istio {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.plan.workloads.iter().map(|w| w.kind.clone()).collect();
        kinds.extend(
            [
                "Service",
                "Gateway",
                "VirtualService",
                "DestinationRule",
                "EnvoyFilter",
                "PeerAuthentication",
                "AuthorizationPolicy",
                "Rollout",
            ]
            .map(String::from),
        );
        kinds
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let objects = ws.objects();
        if self.config.injection == config::Injection::Revision && self.config.revision.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "injection `revision` needs `istio.revision` (the istio.io/rev value)",
            )
            .with_path("istio.revision"));
        }
        self.wire_services(ws, report, &objects)?;
        // Workloads, after the Services' edits are committed (trees are re-parsed on commit).
        ws.commit(report)?;
        self.wire_workloads(ws, report)
    }
}
