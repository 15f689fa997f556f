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

use crate::edit::{Op, Outcome, PathSeg, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::{generate, OnConflict};
use crate::pipeline::PostwireConfig;
use crate::report::{Action, Change, Level, Note, Report};
use crate::resource::Object;
use crate::wire::ContextV1;
use crate::wiring::Wiring;
use crate::workload::{self, report_path, Workload};
use crate::workspace::Workspace;
use config::{Protocol, TlsMode};
use plan::{Mode, Svc, Target};

const NAME: &str = "istio";

/// The wirings of this module that the config enables, in order: `istio`, then `rollouts`.
pub fn wirings(config: &PostwireConfig, context: &ContextV1) -> Vec<Box<dyn Wiring>> {
    let mut out: Vec<Box<dyn Wiring>> = Vec::new();
    if config.istio.enabled {
        out.push(Box::new(Istio { config: config.clone(), namespace: context.namespace.clone() }));
    }
    if config.rollouts.enabled {
        out.push(Box::new(rollouts::Rollouts::new(config, context)));
    }
    out
}

/// The `istio` wiring.
pub struct Istio {
    config: PostwireConfig,
    namespace: Option<String>,
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

/// Record the outcomes of edits on an object.
pub(crate) fn record_edits(
    ws: &Workspace<'_>,
    report: &mut Report,
    wiring: &str,
    obj: &Object,
    edits: &[(Vec<PathSeg>, String, String)],
    outcomes: &[Outcome],
) {
    let source = ws.source(obj.segment);
    for ((path, key, reason), outcome) in edits.iter().zip(outcomes) {
        let action = match outcome {
            Outcome::Unchanged | Outcome::Removed => continue,
            Outcome::Added => Action::Added,
            Outcome::Updated => Action::Updated,
        };
        report.document(obj.doc_number, &obj.display(), source.as_deref()).changes.push(Change {
            wiring: wiring.into(),
            path: report_path(obj, path),
            key: key.clone(),
            action,
            reason: reason.clone(),
        });
    }
}

/// Plan `(parent path, key, value, reason)` sets on an object and record them.
pub(crate) fn set_all(
    ws: &mut Workspace<'_>,
    report: &mut Report,
    wiring: &str,
    obj: &Object,
    sets: Vec<(Vec<PathSeg>, String, Value, String)>,
) -> Result<()> {
    if sets.is_empty() {
        return Ok(());
    }
    let ops: Vec<Op> = sets
        .iter()
        .map(|(path, key, value, _)| {
            let mut p = path.clone();
            p.push(PathSeg::from(key.as_str()));
            Op::Set { path: p, value: value.clone() }
        })
        .collect();
    let outcomes = ws.edit(obj.segment, obj.node, &ops, &obj.display())?;
    let edits: Vec<(Vec<PathSeg>, String, String)> = sets.into_iter().map(|(p, k, _, r)| (p, k, r)).collect();
    record_edits(ws, report, wiring, obj, &edits, &outcomes);
    Ok(())
}

pub(crate) fn note(ws: &Workspace<'_>, report: &mut Report, wiring: &str, obj: &Object, level: Level, message: String) {
    let source = ws.source(obj.segment);
    report.document(obj.doc_number, &obj.display(), source.as_deref()).notes.push(Note {
        wiring: wiring.into(),
        level,
        message,
        rule: None,
        line: None,
    });
}

/// `metadata` of a generated object beside `obj` (same namespace as written).
pub(crate) fn metadata(name: &str, namespace: Option<&str>, labels: Vec<(String, Value)>) -> Value {
    let mut m = vec![("name".to_string(), Value::str(name))];
    if let Some(ns) = namespace {
        m.push(("namespace".into(), Value::str(ns)));
    }
    if !labels.is_empty() {
        m.push(("labels".into(), Value::Map(labels)));
    }
    Value::Map(m)
}

pub(crate) fn object(api_version: &str, kind: &str, metadata: Value, spec: Value) -> Value {
    Value::map([
        ("apiVersion", Value::str(api_version)),
        ("kind", Value::str(kind)),
        ("metadata", metadata),
        ("spec", spec),
    ])
}

fn str_map(m: &BTreeMap<String, String>) -> Value {
    Value::Map(m.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect())
}

fn strs(items: &[String]) -> Value {
    Value::Seq(items.iter().map(Value::str).collect())
}

/// The destination hosts and weights of the route for a Service, given its Rollout.
pub(crate) fn destinations(svc: &str, port: i64, mode: Option<Mode>) -> Value {
    let dest = |host: String, subset: Option<&str>, weight: Option<i64>| {
        let mut d = vec![("host".to_string(), Value::str(host))];
        if let Some(s) = subset {
            d.push(("subset".into(), Value::str(s)));
        }
        d.push(("port".into(), Value::map([("number", Value::Int(port))])));
        let mut entry = vec![("destination".to_string(), Value::Map(d))];
        if let Some(w) = weight {
            entry.push(("weight".into(), Value::Int(w)));
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

impl Istio {
    fn api(&self, group: &str) -> String {
        format!("{group}/{}", self.config.istio.api_version.as_str())
    }

    fn on_conflict(&self) -> OnConflict {
        self.config.istio.on_conflict.into()
    }

    /// A generated Gateway's namespace: its own `namespace`, else the one namespace the Services
    /// routed through it are written with (where their VirtualServices go), else none.
    fn gateway_namespace(key: &str, g: &config::GatewayConfig, services: &[Svc]) -> Option<String> {
        if g.namespace.is_some() {
            return g.namespace.clone();
        }
        let mut routed = services.iter().filter(|s| s.config.gateways.iter().any(|k| k == key));
        let first = routed.next()?.obj.namespace.clone();
        routed.all(|s| s.obj.namespace == first).then_some(first).flatten()
    }

    fn gateway(&self, key: &str, g: &config::GatewayConfig, namespace: Option<&str>) -> Result<Value> {
        let path = format!("istio.gateways.{key}");
        let err = |m: String, p: &str| Error::new(ErrorKind::Config, m).with_path(format!("{path}{p}"));
        if g.hosts.is_empty() {
            return Err(err("a Gateway needs `hosts`".into(), ".hosts"));
        }
        if g.selector.is_empty() {
            return Err(err("a Gateway needs the labels of its gateway workload".into(), ".selector"));
        }
        let hosts = strs(&g.hosts);
        let mut servers = Vec::new();
        if g.http_port != 0 {
            let mut s = vec![
                (
                    "port".to_string(),
                    Value::map([
                        ("number", Value::Int(g.http_port.into())),
                        ("name", Value::str("http")),
                        ("protocol", Value::str("HTTP")),
                    ]),
                ),
                ("hosts".into(), hosts.clone()),
            ];
            if g.tls.as_ref().is_some_and(|t| t.https_redirect) {
                s.push(("tls".into(), Value::map([("httpsRedirect", Value::Bool(true))])));
            }
            servers.push(Value::Map(s));
        } else if g.tls.is_none() && g.tcp_ports.is_empty() {
            return Err(err("`httpPort: 0` leaves no server; add `tls` or `tcpPorts`".into(), ".httpPort"));
        }
        if let Some(t) = &g.tls {
            let mode = match t.mode {
                TlsMode::Simple => "SIMPLE",
                TlsMode::Mutual => "MUTUAL",
                TlsMode::Passthrough => "PASSTHROUGH",
                TlsMode::OptionalMutual => "OPTIONAL_MUTUAL",
            };
            let mut tls = vec![("mode".to_string(), Value::str(mode))];
            if t.mode != TlsMode::Passthrough {
                if t.credential_name.is_empty() {
                    return Err(err(
                        format!("TLS mode {mode} needs the `credentialName` of the certificate Secret"),
                        ".tls.credentialName",
                    ));
                }
                tls.push(("credentialName".into(), Value::str(&t.credential_name)));
            }
            let protocol = if t.mode == TlsMode::Passthrough { "TLS" } else { "HTTPS" };
            servers.push(Value::map([
                (
                    "port",
                    Value::map([
                        ("number", Value::Int(t.port.into())),
                        ("name", Value::str("https")),
                        ("protocol", Value::str(protocol)),
                    ]),
                ),
                ("hosts", hosts.clone()),
                ("tls", Value::Map(tls)),
            ]));
        }
        for p in &g.tcp_ports {
            servers.push(Value::map([
                (
                    "port",
                    Value::map([
                        ("number", Value::Int((*p).into())),
                        ("name", Value::str(format!("tcp-{p}"))),
                        ("protocol", Value::str("TCP")),
                    ]),
                ),
                ("hosts", hosts.clone()),
            ]));
        }
        let mut meta = metadata(key, namespace, Vec::new());
        if g.external_dns {
            let names: Vec<&str> = g.hosts.iter().map(String::as_str).filter(|h| !h.contains('*')).collect();
            if !names.is_empty() {
                if let Value::Map(m) = &mut meta {
                    m.push((
                        "annotations".into(),
                        Value::map([("external-dns.alpha.kubernetes.io/hostname", Value::str(names.join(",")))]),
                    ));
                }
            }
        }
        Ok(object(
            &self.api("networking.istio.io"),
            "Gateway",
            meta,
            Value::map([("selector", str_map(&g.selector)), ("servers", Value::Seq(servers))]),
        ))
    }

    /// The routed port of a Service and its protocol.
    fn routed_port<'s>(&self, svc: &'s Svc, path: &str) -> Result<(&'s plan::Port, Protocol)> {
        let names =
            || svc.ports.iter().map(|p| p.name.clone().unwrap_or_else(|| p.number.to_string())).collect::<Vec<_>>();
        let port = match &svc.config.port {
            Some(want) => {
                let found = svc.ports.iter().find(|p| match want {
                    config::PortRef::Number(n) => p.number == i64::from(*n),
                    config::PortRef::Name(n) => p.name.as_deref() == Some(n.as_str()),
                });
                found.ok_or_else(|| {
                    let ns = names();
                    Error::new(
                        ErrorKind::Config,
                        format!(
                            "{} has no port `{want}` (its ports: {}){}",
                            svc.obj.display(),
                            ns.join(", "),
                            plan::closest(&want.to_string(), ns.iter().map(String::as_str))
                        ),
                    )
                    .with_path(format!("{path}.port"))
                })?
            }
            None => {
                let httpish: Vec<&plan::Port> = svc
                    .ports
                    .iter()
                    .filter(|p| {
                        Protocol::detect(p.app_protocol.as_deref(), p.name.as_deref()).is_some_and(Protocol::is_http)
                    })
                    .collect();
                match (httpish.as_slice(), svc.ports.as_slice()) {
                    ([one], _) => one,
                    (_, [only]) => only,
                    (_, []) => {
                        return Err(Error::new(ErrorKind::Config, format!("{} has no ports", svc.obj.display()))
                            .with_path(path.to_string()))
                    }
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Config,
                            format!(
                                "{} has several ports ({}); say which one to route",
                                svc.obj.display(),
                                names().join(", ")
                            ),
                        )
                        .with_path(format!("{path}.port"))
                        .with_hint("set `port:` to a port name or number"))
                    }
                }
            }
        };
        let detected = Protocol::detect(port.app_protocol.as_deref(), port.name.as_deref());
        Ok((port, svc.config.protocol.or(detected).unwrap_or(Protocol::Http)))
    }

    fn wire_service(
        &self,
        ws: &mut Workspace<'_>,
        report: &mut Report,
        svc: &Svc,
        index: usize,
        render: &Render<'_>,
    ) -> Result<()> {
        let Render { targets, pods, gateway_objects, gateway_namespaces } = *render;
        let cfg = &svc.config;
        let path = format!("istio.services[{index}]");
        let name = svc.obj.name.as_str();
        let ns = svc.obj.namespace.as_deref();
        let (port, protocol) = match self.routed_port(svc, &path) {
            Ok(found) => found,
            // A glob or label selector picks Services the user did not name: one whose port
            // cannot be chosen is left out with a warning rather than stopping the render.
            Err(e) if cfg.port.is_none() && cfg.name.as_deref().is_none_or(|n| n.contains(['*', '?'])) => {
                note(
                    ws,
                    report,
                    NAME,
                    &svc.obj,
                    Level::Warning,
                    format!("left out of the mesh routing: {}", e.message()),
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let port_number = port.number;
        let rollout = targets.iter().find(|t| t.service.as_deref() == Some(name) && t.routed);
        let mode = rollout.map(|t| t.mode);

        // Service ports: appProtocol where Istio would not detect the protocol we route with.
        let mut sets = Vec::new();
        let mut want = vec![(port.index, protocol, cfg.protocol.is_some())];
        for (key, p) in &cfg.app_protocols {
            let Some(found) =
                svc.ports.iter().find(|x| x.name.as_deref() == Some(key.as_str()) || x.number.to_string() == *key)
            else {
                let names: Vec<String> =
                    svc.ports.iter().map(|p| p.name.clone().unwrap_or_else(|| p.number.to_string())).collect();
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "{} has no port `{key}`{}",
                        svc.obj.display(),
                        plan::closest(key, names.iter().map(String::as_str))
                    ),
                )
                .with_path(format!("{path}.appProtocols.{key}")));
            };
            want.push((found.index, *p, true));
        }
        for (i, p, explicit) in want {
            let port = &svc.ports[i];
            let detected = Protocol::detect(port.app_protocol.as_deref(), port.name.as_deref());
            if detected == Some(p) || (detected.is_some() && !explicit) {
                continue;
            }
            // The chart's own appProtocol, one Istio does not know, stays unless the config names
            // a protocol: Istio sniffs that port, whatever its name says.
            if let (None, Some(app), false) = (detected, port.app_protocol.as_deref(), explicit) {
                note(ws, report, NAME, &svc.obj, Level::Warning, format!(
                    "Istio sniffs the protocol of port {}: its appProtocol `{app}` is not one Istio knows, and it wins over the port name; set `protocol` (or `appProtocols`) to make Istio read it as {p:?}",
                    port.number
                ));
                continue;
            }
            sets.push((
                vec![PathSeg::from("spec"), PathSeg::from("ports"), PathSeg::Index(i)],
                "appProtocol".to_string(),
                Value::str(p.app_protocol()),
                format!(
                    "Istio reads port {} as {:?} by appProtocol (it wins over the port name, which stays as it is)",
                    port.number, p
                ),
            ));
        }
        set_all(ws, report, NAME, &svc.obj, sets)?;

        // Gateways and hosts.
        let mut gateways = Vec::new();
        let mut gateway_hosts = Vec::new();
        for (i, g) in cfg.gateways.iter().enumerate() {
            if g == "mesh" || g.contains('/') {
                gateways.push(g.clone());
            } else if let Some(gc) = self.config.istio.gateways.get(g) {
                gateway_hosts.extend(gc.hosts.iter().cloned());
                match (gateway_namespaces.get(g).cloned().flatten(), ns) {
                    (Some(gns), n) if Some(gns.as_str()) != n => gateways.push(format!("{gns}/{g}")),
                    _ => gateways.push(g.clone()),
                }
            } else if gateway_objects.iter().any(|o| &o.name == g) {
                gateways.push(g.clone());
            } else {
                let keys = self
                    .config
                    .istio
                    .gateways
                    .keys()
                    .map(String::as_str)
                    .chain(gateway_objects.iter().map(|o| o.name.as_str()));
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "gateway `{g}` is not under istio.gateways, not `mesh`, and no Gateway of the render{}",
                        plan::closest(g, keys)
                    ),
                )
                .with_path(format!("{path}.gateways[{i}]"))
                .with_hint("name a gateway under istio.gateways, `mesh`, or `namespace/name` of an existing Gateway"));
            }
        }
        if cfg.mesh && !gateways.iter().any(|g| g == "mesh") && !gateways.is_empty() {
            gateways.push("mesh".into());
        }
        let mut hosts = cfg.hosts.clone();
        if hosts.is_empty() {
            hosts = gateway_hosts;
            if gateways.is_empty() || gateways.iter().any(|g| g == "mesh") {
                hosts.insert(0, name.to_string());
            }
        }
        let mut seen = BTreeSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        if hosts.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the VirtualService for Service {} has no hosts", svc.obj.display()),
            )
            .with_path(format!("{path}.hosts")));
        }

        // VirtualService.
        let mut spec = vec![("hosts".to_string(), strs(&hosts))];
        if !gateways.is_empty() {
            spec.push(("gateways".into(), strs(&gateways)));
        }
        if protocol.is_http() {
            let mut route = vec![("name".to_string(), Value::str(ROUTE_NAME))];
            if let Some(m) = &cfg.matches {
                route.push(("match".into(), Value::from_json(&m.0)));
            }
            route.push(("route".into(), destinations(name, port_number, mode)));
            if let Some(t) = &cfg.timeout {
                route.push(("timeout".into(), Value::str(&t.0)));
            }
            if let Some(r) = &cfg.retries {
                route.push(("retries".into(), Value::from_json(&r.0)));
            }
            if let Some(h) = &cfg.headers {
                route.push(("headers".into(), Value::from_json(&h.0)));
            }
            if let Some(c) = &cfg.cors_policy {
                route.push(("corsPolicy".into(), Value::from_json(&c.0)));
            }
            spec.push(("http".into(), Value::Seq(vec![Value::Map(route)])));
        } else {
            for (what, set) in [
                ("match", cfg.matches.is_some()),
                ("retries", cfg.retries.is_some()),
                ("timeout", cfg.timeout.is_some()),
                ("headers", cfg.headers.is_some()),
                ("corsPolicy", cfg.cors_policy.is_some()),
            ] {
                if set {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "`{what}` is for HTTP routes, and Service {} port {port_number} is routed as {protocol:?}",
                            svc.obj.display()
                        ),
                    )
                    .with_path(format!("{path}.{what}")));
                }
            }
            if matches!(mode, Some(Mode::Subset | Mode::Host)) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "canary traffic routing for the TCP Service {} is not supported; use trafficRouting: none",
                        svc.obj.display()
                    ),
                )
                .with_path(format!("rollouts.workloads[{}].trafficRouting", rollout.map_or(0, |t| t.index))));
            }
            spec.push(("tcp".into(), Value::Seq(vec![Value::map([("route", destinations(name, port_number, None))])])));
        }
        let vs = object(
            &self.api("networking.istio.io"),
            "VirtualService",
            metadata(name, ns, Vec::new()),
            Value::Map(spec),
        );
        let reason = match mode {
            Some(Mode::Subset | Mode::Host) => format!(
                "routes {} to Service {name} port {port_number}; Argo Rollouts moves the canary weights",
                hosts.join(", ")
            ),
            _ => format!("routes {} to Service {name} port {port_number}", hosts.join(", ")),
        };
        if let Some(seg) = generate(ws, NAME, vs, self.on_conflict())? {
            record_generated(ws, report, NAME, seg, reason);
        }

        // DestinationRule(s).
        let mut policy = cfg.traffic_policy.as_ref().map(|p| p.0.clone()).unwrap_or(serde_json::Value::Null);
        if cfg.mtls && policy.get("tls").is_none() {
            if !policy.is_object() {
                policy = serde_json::json!({});
            }
            policy["tls"] = serde_json::json!({"mode": "ISTIO_MUTUAL"});
        }
        if policy.pointer("/loadBalancer/simple").and_then(|v| v.as_str()) == Some("LEAST_CONN") {
            note(ws, report, NAME, &svc.obj, Level::Warning, format!("{path}.trafficPolicy.loadBalancer.simple: LEAST_CONN is deprecated in Istio (\"Use LEAST_REQUEST instead\"); pilot treats both alike"));
        }
        let mut subsets: Vec<Value> = cfg
            .subsets
            .iter()
            .map(|s| Value::map([("name", Value::str(&s.name)), ("labels", str_map(&s.labels))]))
            .collect();
        if let Some(label) = &cfg.subset_label {
            let mut values = BTreeSet::new();
            for (_, labels) in pods.behind(svc, self.namespace.as_deref()) {
                if let Some(v) = labels.get(label) {
                    values.insert(v.clone());
                }
            }
            if values.is_empty() {
                note(
                    ws,
                    report,
                    NAME,
                    &svc.obj,
                    Level::Warning,
                    format!("no pod behind Service {name} has the label `{label}`, so no subsets come from it"),
                );
            }
            for v in values {
                subsets.push(Value::map([
                    ("name", Value::str(&v)),
                    ("labels", Value::map([(label.as_str(), Value::str(&v))])),
                ]));
            }
        }
        if mode == Some(Mode::Subset) {
            for s in ["stable", "canary"] {
                subsets.push(Value::map([("name", Value::str(s)), ("labels", str_map(&svc.selector))]));
            }
        }
        let mut names = BTreeSet::new();
        for s in &subsets {
            if let Some(Value::Str(n)) = s.get("name") {
                if !names.insert(n.clone()) {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("the DestinationRule for Service {name} would have two subsets named `{n}`"),
                    )
                    .with_path(format!("{path}.subsets")));
                }
            }
        }
        let mut hosts_for_dr = vec![name.to_string()];
        if mode == Some(Mode::Host) {
            hosts_for_dr.extend([format!("{name}-stable"), format!("{name}-canary")]);
        }
        for host in hosts_for_dr {
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
            let dr = object(
                &self.api("networking.istio.io"),
                "DestinationRule",
                metadata(&host, ns, Vec::new()),
                Value::Map(spec),
            );
            if let Some(seg) = generate(ws, NAME, dr, self.on_conflict())? {
                record_generated(ws, report, NAME, seg, format!("traffic policy and subsets for host {host}"));
            }
        }

        let workload_selector = str_map(&svc.selector);
        if (cfg.envoy_filter.is_some() || cfg.peer_authentication.is_some() || cfg.authorization_policy.is_some())
            && svc.selector.is_empty()
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{} has no selector, so no workload policy can select its pods", svc.obj.display()),
            )
            .with_path(path.clone()));
        }
        if let Some(ef) = &cfg.envoy_filter {
            let headers: Vec<Value> = ef
                .request_headers
                .iter()
                .map(|(k, v)| {
                    Value::map([
                        ("header", Value::map([("key", Value::str(k)), ("value", Value::str(v))])),
                        ("append_action", Value::str("OVERWRITE_IF_EXISTS_OR_ADD")),
                    ])
                })
                .collect();
            let spec = Value::map([
                ("workloadSelector", Value::map([("labels", workload_selector.clone())])),
                (
                    "configPatches",
                    Value::Seq(vec![Value::map([
                        ("applyTo", Value::str("VIRTUAL_HOST")),
                        ("match", Value::map([("context", Value::str("SIDECAR_INBOUND"))])),
                        (
                            "patch",
                            Value::map([
                                ("operation", Value::str("MERGE")),
                                ("value", Value::map([("request_headers_to_add", Value::Seq(headers))])),
                            ]),
                        ),
                    ])]),
                ),
            ]);
            let obj = object(
                "networking.istio.io/v1alpha3",
                "EnvoyFilter",
                metadata(&format!("{name}-request-headers"), ns, Vec::new()),
                spec,
            );
            if let Some(seg) = generate(ws, NAME, obj, self.on_conflict())? {
                let keys: Vec<&str> = ef.request_headers.keys().map(String::as_str).collect();
                record_generated(
                    ws,
                    report,
                    NAME,
                    seg,
                    format!(
                        "adds request headers {} to inbound traffic of the pods behind Service {name}",
                        keys.join(", ")
                    ),
                );
            }
        }
        if let Some(mode) = cfg.peer_authentication {
            let m = match mode {
                config::MtlsMode::Strict => "STRICT",
                config::MtlsMode::Permissive => "PERMISSIVE",
                config::MtlsMode::Disable => "DISABLE",
            };
            let spec = Value::map([
                ("selector", Value::map([("matchLabels", workload_selector.clone())])),
                ("mtls", Value::map([("mode", Value::str(m))])),
            ]);
            let obj =
                object(&self.api("security.istio.io"), "PeerAuthentication", metadata(name, ns, Vec::new()), spec);
            if let Some(seg) = generate(ws, NAME, obj, self.on_conflict())? {
                record_generated(ws, report, NAME, seg, format!("mutual TLS {m} for the pods behind Service {name}"));
            }
        }
        if let Some(a) = &cfg.authorization_policy {
            if a.namespaces.is_empty() && a.service_accounts.is_empty() {
                return Err(Error::new(
                    ErrorKind::Config,
                    "an AuthorizationPolicy needs `namespaces` or `serviceAccounts` to allow".to_string(),
                )
                .with_path(format!("{path}.authorizationPolicy")));
            }
            let domain = a.trust_domain.as_deref().unwrap_or("cluster.local");
            let mut from = Vec::new();
            if !a.namespaces.is_empty() {
                from.push(Value::map([("source", Value::map([("namespaces", strs(&a.namespaces))]))]));
            }
            if !a.service_accounts.is_empty() {
                let mut principals = Vec::new();
                for (i, sa) in a.service_accounts.iter().enumerate() {
                    let Some((sns, sname)) =
                        sa.split_once('/').filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'))
                    else {
                        return Err(Error::new(ErrorKind::Config, format!("`{sa}` is not `namespace/name`"))
                            .with_path(format!("{path}.authorizationPolicy.serviceAccounts[{i}]")));
                    };
                    principals.push(Value::str(format!("{domain}/ns/{sns}/sa/{sname}")));
                }
                from.push(Value::map([("source", Value::map([("principals", Value::Seq(principals))]))]));
            }
            let spec = Value::map([
                ("selector", Value::map([("matchLabels", workload_selector.clone())])),
                ("action", Value::str("ALLOW")),
                ("rules", Value::Seq(vec![Value::map([("from", Value::Seq(from))])])),
            ]);
            let obj =
                object(&self.api("security.istio.io"), "AuthorizationPolicy", metadata(name, ns, Vec::new()), spec);
            if let Some(seg) = generate(ws, NAME, obj, self.on_conflict())? {
                record_generated(
                    ws,
                    report,
                    NAME,
                    seg,
                    format!("allows only the listed sources to reach the pods behind Service {name}"),
                );
            }
        }
        Ok(())
    }

    fn proxy_annotations(&self) -> Vec<(String, Value, String)> {
        let p = &self.config.istio.proxy;
        let mut out = Vec::new();
        if let Some(hold) = p.hold_application_until_proxy_starts {
            out.push((
                "proxy.istio.io/config".to_string(),
                Value::str(format!("{{\"holdApplicationUntilProxyStarts\": {hold}}}")),
                "istio.proxy.holdApplicationUntilProxyStarts".to_string(),
            ));
        }
        let ports = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        if !p.exclude_outbound_ports.is_empty() {
            out.push((
                "traffic.sidecar.istio.io/excludeOutboundPorts".into(),
                Value::str(ports(&p.exclude_outbound_ports)),
                "istio.proxy.excludeOutboundPorts".into(),
            ));
        }
        if !p.exclude_inbound_ports.is_empty() {
            out.push((
                "traffic.sidecar.istio.io/excludeInboundPorts".into(),
                Value::str(ports(&p.exclude_inbound_ports)),
                "istio.proxy.excludeInboundPorts".into(),
            ));
        }
        for (k, v) in &p.annotations {
            out.push((k.clone(), Value::str(v), "istio.proxy.annotations".into()));
        }
        out
    }

    fn wire_workload(&self, ws: &mut Workspace<'_>, report: &mut Report, w: &Workload, service: &str) -> Result<()> {
        let obj = &w.object;
        if workload::switch(ws, obj, plan::ISTIO_ANNOTATION)? == Some(false) {
            note(
                ws,
                report,
                NAME,
                obj,
                Level::Info,
                format!("skipped: annotation {}: \"false\"", plan::ISTIO_ANNOTATION),
            );
            return Ok(());
        }
        let Some(template) = w.template else { return Ok(()) };
        let tree = ws.tree(obj.segment);
        if tree.str_at(template, &["spec", "hostNetwork"]) == Some("true") {
            note(
                ws,
                report,
                NAME,
                obj,
                Level::Warning,
                "hostNetwork pods are never given a sidecar; left out of the mesh".into(),
            );
            return Ok(());
        }
        let mut sets = Vec::new();
        if let Some((key, value)) = plan::injection_label(&self.config) {
            if tree.str_at(template, &["metadata", "labels", "sidecar.istio.io/inject"]) == Some("false") {
                note(
                    ws,
                    report,
                    NAME,
                    obj,
                    Level::Warning,
                    "the pod template opts out of injection (sidecar.istio.io/inject: \"false\"); left as it is".into(),
                );
            } else {
                sets.push((
                    w.template_child(&["metadata", "labels"]),
                    key.to_string(),
                    Value::str(value),
                    format!("joins the mesh behind Service {service}"),
                ));
            }
        }
        let existing = tree.path(template, &["metadata", "annotations"]);
        for (key, value, why) in self.proxy_annotations() {
            if existing.and_then(|a| tree.get(a, &key)).is_some() && key == "proxy.istio.io/config" {
                // The chart's own proxy config may hold more than postwire would write.
                if tree.str_at(template, &["metadata", "annotations", &key]).is_some_and(|v| !edit_equals(v, &value)) {
                    note(ws, report, NAME, obj, Level::Info, format!("kept the chart's {key} annotation"));
                    continue;
                }
            }
            sets.push((w.template_child(&["metadata", "annotations"]), key, value, why));
        }
        set_all(ws, report, NAME, obj, sets)
    }
}

fn edit_equals(existing: &str, value: &Value) -> bool {
    matches!(value, Value::Str(s) if s == existing)
}

impl Wiring for Istio {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.config.workload_kinds().into_iter().map(|w| w.kind).collect();
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
        let ns = self.namespace.as_deref();
        if self.config.istio.injection == config::Injection::Revision && self.config.istio.revision.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "injection `revision` needs `istio.revision` (the istio.io/rev value)",
            )
            .with_path("istio.revision"));
        }
        let services = plan::services(ws, &objects, &self.config, ns)?;
        let targets = if self.config.rollouts.enabled {
            plan::targets(ws, &objects, &self.config, &services, ns)?
        } else {
            Vec::new()
        };
        let gateway_objects: Vec<Object> =
            objects.iter().filter(|o| o.is("networking.istio.io", "Gateway")).cloned().collect();
        let gateway_namespaces: BTreeMap<String, Option<String>> = (self.config.istio.gateways.iter())
            .map(|(key, g)| (key.clone(), Self::gateway_namespace(key, g, &services)))
            .collect();
        for (key, g) in &self.config.istio.gateways {
            let gw = self.gateway(key, g, gateway_namespaces[key].as_deref())?;
            if let Some(seg) = generate(ws, NAME, gw, self.on_conflict())? {
                let reason = match &g.tls {
                    Some(t) if t.https_redirect && g.http_port != 0 => format!(
                        "gateway `{key}` for {}: HTTPS on {} and a redirect from HTTP on {}",
                        g.hosts.join(", "),
                        t.port,
                        g.http_port
                    ),
                    Some(t) => format!("gateway `{key}` for {}: HTTPS on {}", g.hosts.join(", "), t.port),
                    None => format!("gateway `{key}` for {}: HTTP on {}", g.hosts.join(", "), g.http_port),
                };
                record_generated(ws, report, NAME, seg, reason);
            }
        }
        let kinds = self.config.workload_kinds();
        let workloads: Vec<Workload> = workload::find(ws, &objects, &kinds).into_iter().map(|(w, _)| w).collect();
        let mut wired: BTreeSet<(usize, usize)> = BTreeSet::new();
        let pods = plan::Pods::new(ws, &workloads);
        for svc in &services {
            let index = self.config.istio.services.iter().position(|c| *c == svc.config).unwrap_or(0);
            let render = Render {
                targets: &targets,
                pods: &pods,
                gateway_objects: &gateway_objects,
                gateway_namespaces: &gateway_namespaces,
            };
            self.wire_service(ws, report, svc, index, &render)?;
        }
        ws.commit(report)?;
        // Workloads, after the Services' edits are committed (trees are re-parsed on commit).
        let objects = ws.objects();
        let services = plan::services(ws, &objects, &self.config, ns)?;
        let workloads: Vec<Workload> = workload::find(ws, &objects, &kinds).into_iter().map(|(w, _)| w).collect();
        let pods = plan::Pods::new(ws, &workloads);
        for svc in &services {
            for (w, _) in pods.behind(svc, ns) {
                if wired.insert((w.object.segment, w.object.node)) {
                    self.wire_workload(ws, report, w, &svc.obj.name)?;
                }
            }
        }
        Ok(())
    }
}
