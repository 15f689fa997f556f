//! Scrapers from outside the mesh through the mTLS and authorization postwire generates.
//!
//! A STRICT PeerAuthentication refuses the plaintext connections of a Prometheus or Datadog
//! agent that has no sidecar, and an ALLOW AuthorizationPolicy naming only namespaces or
//! service accounts denies them too (a plaintext request has neither). Once every other wiring
//! has run, this pass finds the ports that the stream scrapes on the pods a generated policy
//! selects (ServiceMonitor, PodMonitor, `prometheus.io/port`, Datadog OpenMetrics and JMX
//! checks) and opens exactly those ports: port-level PERMISSIVE mTLS, which Istio documents for
//! leaving a workload port to plaintext (istio/api `security/v1beta1/peer_authentication.proto`,
//! the `portLevelMtls` example; the port is the workload's, not the Service's: istio/istio@86c9f01f
//! `manifests/charts/base/files/crd-all.gen.yaml:17886`), and an ALLOW rule for those ports
//! from any source.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::NAME;
use crate::edit::{Op, Outcome, PathSeg, Value};
use crate::error::Result;
use crate::generate::GENERATED_ANNOTATION;
use crate::report::{Action, Change, Report};
use crate::resource::{Object, WorkloadKind};
use crate::wiring::Wiring;
use crate::workload;
use crate::workspace::Workspace;

/// The pass, run after the wirings that generate scrapers.
pub struct ScrapeExceptions {
    workloads: Vec<WorkloadKind>,
}

impl ScrapeExceptions {
    /// Build the pass.
    pub fn new(workloads: Vec<WorkloadKind>) -> Self {
        ScrapeExceptions { workloads }
    }
}

/// A pod template of the stream, as Kubernetes reads it.
struct Pod {
    namespace: Option<String>,
    template: Json,
}

impl Pod {
    fn labels(&self) -> &Json {
        &self.template["metadata"]["labels"]
    }

    /// The container port named `name`.
    fn port_named(&self, name: &str) -> Option<u16> {
        self.template["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find(|p| p["name"] == name)
            .and_then(|p| port_number(&p["containerPort"]))
    }
}

fn port_number(value: &Json) -> Option<u16> {
    value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).and_then(|n| u16::try_from(n).ok())
}

/// Every key of `selector` has its value in `labels` (an empty selector matches nothing here).
fn selects(selector: &Json, labels: &Json) -> bool {
    selector.as_object().is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &labels[k] == v))
}

fn json_of(ws: &Workspace<'_>, obj: &Object) -> Json {
    crate::model::json(ws.tree(obj.segment), obj.node)
}

/// A Service or monitor in `ns` may see pods in `pod_ns` (unknown namespaces match).
fn same_namespace(one: &Option<String>, other: &Option<String>) -> bool {
    one.is_none() || other.is_none() || one == other
}

/// Who scrapes which port of a pod.
type Scrapers = BTreeMap<u16, BTreeSet<String>>;

fn add(out: &mut Scrapers, port: Option<u16>, who: String) {
    if let Some(number) = port {
        out.entry(number).or_default().insert(who);
    }
}

/// The pod ports a ServiceMonitor scrapes through the Services it watches that select `pod`
/// (`services`: the stream's core Services).
fn service_monitor_ports(out: &mut Scrapers, services: &[(Object, Json)], monitor: &Object, doc: &Json, pod: &Pod) {
    for (svc_obj, svc) in services {
        let watched = doc["spec"]["namespaceSelector"]["any"] == Json::Bool(true)
            || same_namespace(&monitor.namespace, &svc_obj.namespace)
            || doc["spec"]["namespaceSelector"]["matchNames"].as_array().is_some_and(|n| {
                n.iter().any(|n| Some(n.as_str().unwrap_or_default()) == svc_obj.namespace.as_deref())
            });
        if !watched
            || !same_namespace(&svc_obj.namespace, &pod.namespace)
            || !selects(&doc["spec"]["selector"]["matchLabels"], &svc["metadata"]["labels"])
            || !selects(&svc["spec"]["selector"], pod.labels())
        {
            continue;
        }
        for endpoint in doc["spec"]["endpoints"].as_array().into_iter().flatten() {
            let service_port =
                svc["spec"]["ports"].as_array().into_iter().flatten().find(|p| p["name"] == endpoint["port"]);
            let target = match service_port {
                Some(p) => match &p["targetPort"] {
                    Json::String(name) => pod.port_named(name),
                    Json::Null => port_number(&p["port"]),
                    n => port_number(n),
                },
                None => port_number(&endpoint["targetPort"]),
            };
            add(out, target, format!("ServiceMonitor {}", monitor.name));
        }
    }
}

/// The pod ports a PodMonitor selecting `pod` scrapes.
fn pod_monitor_ports(out: &mut Scrapers, monitor: &Object, doc: &Json, pod: &Pod) {
    if !same_namespace(&monitor.namespace, &pod.namespace)
        || !selects(&doc["spec"]["selector"]["matchLabels"], pod.labels())
    {
        return;
    }
    for endpoint in doc["spec"]["podMetricsEndpoints"].as_array().into_iter().flatten() {
        let port =
            endpoint["port"].as_str().and_then(|n| pod.port_named(n)).or_else(|| port_number(&endpoint["portNumber"]));
        add(out, port, format!("PodMonitor {}", monitor.name));
    }
}

/// The ports the pod's own annotations ask scrapers to use (`prometheus.io/port`, Datadog
/// checks).
fn annotated_ports(out: &mut Scrapers, pod: &Pod) {
    let annotations = &pod.template["metadata"]["annotations"];
    for (key, value) in annotations.as_object().into_iter().flatten() {
        if key == "prometheus.io/port" && annotations["prometheus.io/scrape"] == "true" {
            add(out, port_number(value), "the prometheus.io/port annotation".into());
        }
        if key.starts_with("ad.datadoghq.com/") && key.ends_with(".checks") {
            for port in datadog_check_ports(value.as_str().unwrap_or_default()) {
                add(out, Some(port), "a Datadog check".into());
            }
        }
    }
}

/// Whether an object is a prometheus-operator ServiceMonitor or PodMonitor.
fn is_monitor(obj: &Object) -> bool {
    matches!(obj.kind.as_str(), "ServiceMonitor" | "PodMonitor") && obj.group() == "monitoring.coreos.com"
}

/// The ports of `pod` something in the stream scrapes, each with who scrapes it
/// (`monitors`: the stream's monitors, see [`is_monitor`]; `services`: its core Services).
fn scraped_ports(monitors: &[(Object, Json)], services: &[(Object, Json)], pod: &Pod) -> Scrapers {
    let mut out = Scrapers::new();
    for (obj, doc) in monitors {
        match obj.kind.as_str() {
            "ServiceMonitor" => service_monitor_ports(&mut out, services, obj, doc, pod),
            "PodMonitor" => pod_monitor_ports(&mut out, obj, doc, pod),
            _ => {}
        }
    }
    annotated_ports(&mut out, pod);
    out
}

/// Ports a Datadog Autodiscovery v2 `checks` annotation connects to: OpenMetrics endpoints
/// written with a port, and JMX instances.
fn datadog_check_ports(checks: &str) -> Vec<u16> {
    let Ok(Json::Object(checks)) = serde_json::from_str::<Json>(checks) else { return Vec::new() };
    let mut out = Vec::new();
    for check in checks.values() {
        for instance in check["instances"].as_array().into_iter().flatten() {
            for key in ["openmetrics_endpoint", "prometheus_url"] {
                if let Some(url) = instance[key].as_str() {
                    let authority = url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or_default();
                    out.extend(authority.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
                }
            }
            if check["init_config"]["is_jmx"] == Json::Bool(true) {
                out.extend(port_number(&instance["port"]));
            }
        }
    }
    out
}

impl Wiring for ScrapeExceptions {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.workloads.iter().map(|w| w.kind.clone()).collect();
        kinds.extend(
            ["PeerAuthentication", "AuthorizationPolicy", "ServiceMonitor", "PodMonitor", "Service"].map(String::from),
        );
        kinds
    }

    /// Reads only what it opens ports for and from: the generated policies (in stream order),
    /// the monitors, the core Services when a ServiceMonitor may watch them, and the pod
    /// templates in a policy's namespace. Every value is read before the first edit, and the
    /// ports scraped on a pod are worked out once however many policies select it.
    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let policies: Vec<(Object, Json)> = ws
            .object_refs()
            .filter(|obj| {
                obj.group() == "security.istio.io"
                    && matches!(obj.kind.as_str(), "PeerAuthentication" | "AuthorizationPolicy")
            })
            .map(|obj| (obj.clone(), json_of(ws, obj)))
            .filter(|(_, doc)| doc["metadata"]["annotations"][GENERATED_ANNOTATION] == NAME)
            .collect();
        if policies.is_empty() {
            return Ok(());
        }
        let monitors: Vec<(Object, Json)> =
            ws.object_refs().filter(|obj| is_monitor(obj)).map(|obj| (obj.clone(), json_of(ws, obj))).collect();
        let services: Vec<(Object, Json)> = if monitors.iter().any(|(obj, _)| obj.kind == "ServiceMonitor") {
            ws.object_refs()
                .filter(|obj| obj.kind == "Service" && obj.group().is_empty())
                .map(|obj| (obj.clone(), json_of(ws, obj)))
                .collect()
        } else {
            Vec::new()
        };
        let workloads: Vec<Object> = ws
            .object_refs()
            .filter(|obj| self.workloads.iter().any(|w| w.kind == obj.kind && w.group == obj.group()))
            .filter(|obj| policies.iter().any(|(p, _)| same_namespace(&obj.namespace, &p.namespace)))
            .cloned()
            .collect();
        let pods: Vec<Pod> = workload::find(ws, &workloads, &self.workloads)
            .into_iter()
            .filter_map(|(w, _)| {
                let tree = ws.tree(w.object.segment);
                w.template.map(|t| Pod { namespace: w.object.namespace.clone(), template: crate::model::json(tree, t) })
            })
            .collect();
        let mut scraped: Vec<Option<Scrapers>> = vec![None; pods.len()];
        for (obj, doc) in &policies {
            let mut ports = Scrapers::new();
            for (i, pod) in pods.iter().enumerate().filter(|(_, p)| same_namespace(&p.namespace, &obj.namespace)) {
                if selects(&doc["spec"]["selector"]["matchLabels"], pod.labels()) {
                    let found = scraped[i].get_or_insert_with(|| scraped_ports(&monitors, &services, pod));
                    for (port, who) in found.iter() {
                        ports.entry(*port).or_default().extend(who.iter().cloned());
                    }
                }
            }
            if ports.is_empty() {
                continue;
            }
            open_ports(ws, report, obj, doc, &ports)?;
        }
        Ok(())
    }
}

/// Port-level PERMISSIVE mTLS for each port, under a STRICT PeerAuthentication.
fn permissive_ports(list: &[String]) -> Vec<Op> {
    list.iter()
        .map(|p| Op::Set {
            path: vec!["spec".into(), "portLevelMtls".into(), PathSeg::from(p.as_str())],
            value: Value::map([("mode", Value::str("PERMISSIVE"))]),
        })
        .collect()
}

/// An ALLOW rule for the ports from any source, in an AuthorizationPolicy.
fn allow_ports(list: &[String]) -> Vec<Op> {
    let rule = Value::map([(
        "to",
        Value::Seq(vec![Value::map([(
            "operation",
            Value::map([("ports", Value::Seq(list.iter().map(Value::str).collect()))]),
        )])]),
    )]);
    vec![Op::Insert { path: vec!["spec".into(), "rules".into()], index: None, item: rule }]
}

/// Open `ports` in a generated policy: PERMISSIVE mTLS per port under a STRICT
/// PeerAuthentication, an ALLOW rule for the ports in an AuthorizationPolicy.
///
/// The report lists the opening as one change (`spec`, the key written) however many ports it
/// takes, so it is recorded here rather than through `Changes`, which lists one per edit.
fn open_ports(
    ws: &mut Workspace<'_>,
    report: &mut Report,
    policy: &Object,
    doc: &Json,
    ports: &Scrapers,
) -> Result<()> {
    let who: BTreeSet<&str> = ports.values().flatten().map(String::as_str).collect();
    let who = who.into_iter().collect::<Vec<_>>().join(", ");
    let list = ports.keys().map(u16::to_string).collect::<Vec<_>>();
    let (ops, key, reason) = if policy.kind == "PeerAuthentication" {
        if doc["spec"]["mtls"]["mode"] != "STRICT" {
            return Ok(());
        }
        let reason =
            format!("{who} scrape port {} from outside the mesh, which STRICT mTLS would refuse", list.join(", "));
        (permissive_ports(&list), "portLevelMtls", reason)
    } else {
        let reason = format!(
            "{who} scrape port {} with no mesh identity, which the allowed sources would not admit",
            list.join(", ")
        );
        (allow_ports(&list), "rules", reason)
    };
    let outcomes = ws.edit(policy.segment, policy.node, &ops, &policy.display())?;
    if outcomes.iter().any(|out| matches!(out, Outcome::Added | Outcome::Updated)) {
        let source = ws.source(policy.segment);
        report.document(policy.doc_number, &policy.display(), source.as_deref()).changes.push(Change {
            wiring: NAME.into(),
            path: "spec".into(),
            key: key.into(),
            action: Action::Added,
            reason,
        });
    }
    Ok(())
}
