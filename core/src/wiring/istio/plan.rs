//! What the `istio` and `rollouts` wirings both need to know, computed the same way by each:
//! the selected Services (with their ports and the workloads behind them) and the workloads
//! under Argo Rollouts (with the Service in front and how their traffic is split).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::config::{Injection, IstioConfig, RolloutWorkload, ServiceConfig, TrafficRouting};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::GENERATED_ANNOTATION;
use crate::resource::WorkloadKind;
use crate::resource::{namespaces_match, Object};
use crate::select::glob_matches;
use crate::workload::{self, Workload};
use crate::workspace::Workspace;
use crate::yaml::{NodeId, Tree};

/// Opt a Service or workload in (`"true"`) or out (`"false"`) of the `istio` wiring.
pub const ISTIO_ANNOTATION: &str = "postwire.dev/istio";
/// Comma-separated hosts overriding the config's, on a Service.
pub const HOSTS_ANNOTATION: &str = "postwire.dev/istio-hosts";
/// Comma-separated gateways overriding the config's, on a Service.
pub const GATEWAYS_ANNOTATION: &str = "postwire.dev/istio-gateways";
/// Opt a Deployment or Rollout out (`"false"`) of the `rollouts` wiring.
pub const ROLLOUT_ANNOTATION: &str = "postwire.dev/rollout";

/// One port of a Service.
#[derive(Debug, Clone)]
pub struct Port {
    /// Index in `spec.ports`.
    pub index: usize,
    /// `name`.
    pub name: Option<String>,
    /// `port`.
    pub number: i64,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

/// A Service the `istio` wiring routes.
#[derive(Debug, Clone)]
pub struct Svc {
    /// The Service.
    pub obj: Object,
    /// Its namespace, or the render's.
    pub namespace: Option<String>,
    /// `spec.selector`.
    pub selector: BTreeMap<String, String>,
    /// `spec.ports`.
    pub ports: Vec<Port>,
    /// Its config entry, with the per-object annotations applied.
    pub config: ServiceConfig,
}

/// Whether postwire generated this object in an earlier run.
pub fn is_generated(tree: &Tree, obj: &Object) -> bool {
    tree.path(obj.node, &["metadata", "annotations", GENERATED_ANNOTATION]).is_some()
}

fn string_map(tree: &Tree, node: Option<usize>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(mapping) = node.filter(|&mapping| tree.is_mapping(mapping)) {
        for &(key, value) in tree.entries(mapping) {
            if let (Some(key), Some(value)) = (tree.scalar(key), tree.scalar(value)) {
                out.insert(key.to_string(), value.to_string());
            }
        }
    }
    out
}

/// The closest of `candidates` to `word`, as ` (closest: `x`)`.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("; the closest is `{c}`"))
        .unwrap_or_default()
}

/// A config error at `path`.
pub(crate) fn config_error(message: String, path: String) -> Error {
    Error::new(ErrorKind::Config, message).with_path(path)
}

/// What Istio and Argo Rollouts decide together, named so that neither wiring needs the
/// other's section: which Services the mesh routes (`istio.services`, when Istio is on) and
/// which workloads become Rollouts (`rollouts.workloads`, when Rollouts is on). Istio routes a
/// Rollout's canary through the Service in front of it; Rollouts names the routes Istio writes.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    /// `istio.services`; None when Istio is off.
    pub routed: Option<Vec<ServiceConfig>>,
    /// `rollouts.workloads`; None when Rollouts is off.
    pub rollouts: Option<Vec<RolloutWorkload>>,
    /// The workload kinds (built-in and `workloads:`).
    pub workloads: Vec<WorkloadKind>,
}

impl TrafficPlan {
    /// The `istio.services` entries (none when Istio is off).
    fn routed_entries(&self) -> &[ServiceConfig] {
        self.routed.as_deref().unwrap_or_default()
    }
}

/// The first `istio.services[]` entry naming (or selecting) this Service; every entry that
/// does is marked in `matched`.
fn choose_entry(
    plan: &TrafficPlan,
    tree: &Tree,
    obj: &Object,
    ns: Option<&str>,
    matched: &mut [bool],
) -> Option<ServiceConfig> {
    let mut chosen = None;
    for (i, entry) in plan.routed_entries().iter().enumerate() {
        let name_ok = entry.name.as_deref().is_none_or(|p| glob_matches(p.as_bytes(), obj.name.as_bytes()));
        let sel_ok = entry.selector.as_ref().is_none_or(|sel| sel.matches(tree, obj.node, "labels"));
        let ns_ok =
            entry.namespace.as_deref().is_none_or(|p| ns.is_none_or(|n| glob_matches(p.as_bytes(), n.as_bytes())));
        if name_ok && sel_ok && ns_ok && (entry.name.is_some() || entry.selector.is_some()) {
            matched[i] = true;
            if chosen.is_none() {
                chosen = Some(entry.clone());
            }
        }
    }
    chosen
}

/// A Service's `spec.ports`.
fn service_ports(tree: &Tree, obj: &Object) -> Vec<Port> {
    let Some(list) = tree.path(obj.node, &["spec", "ports"]) else { return Vec::new() };
    (tree.items(list).iter().enumerate())
        .map(|(index, &p)| Port {
            index,
            name: tree.str_at(p, &["name"]).map(String::from),
            number: tree.str_at(p, &["port"]).and_then(|n| n.parse().ok()).unwrap_or(0),
            app_protocol: tree.str_at(p, &["appProtocol"]).map(String::from),
        })
        .collect()
}

/// The Services of the render the config (or a `postwire.dev/istio: "true"` annotation)
/// selects, in stream order. A `services[]` entry that matches nothing is an error.
pub fn services(
    ws: &Workspace<'_>,
    objects: &[Object],
    plan: &TrafficPlan,
    namespace: Option<&str>,
) -> Result<Vec<Svc>> {
    let all: Vec<&Object> =
        objects.iter().filter(|obj| obj.is("", "Service") && !is_generated(ws.tree(obj.segment), obj)).collect();
    let mut matched = vec![false; plan.routed_entries().len()];
    let mut out = Vec::new();
    for obj in all.iter().copied() {
        let tree = ws.tree(obj.segment);
        let ns = obj.namespace.as_deref().or(namespace);
        let switch = workload::switch(ws, obj, ISTIO_ANNOTATION)?;
        let chosen = choose_entry(plan, tree, obj, ns, &mut matched);
        let mut cfg = match (switch, chosen) {
            (Some(false), _) => continue,
            (_, Some(c)) => c,
            (Some(true), None) => ServiceConfig::default(),
            (None, None) => continue,
        };
        if let Some(hosts) = tree.str_at(obj.node, &["metadata", "annotations", HOSTS_ANNOTATION]) {
            cfg.hosts = hosts.split(',').map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
        }
        if let Some(gws) = tree.str_at(obj.node, &["metadata", "annotations", GATEWAYS_ANNOTATION]) {
            cfg.gateways = gws.split(',').map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
        }
        let selector = string_map(tree, tree.path(obj.node, &["spec", "selector"]));
        let ports = service_ports(tree, obj);
        out.push(Svc { obj: obj.clone(), namespace: ns.map(String::from), selector, ports, config: cfg });
    }
    for (i, entry) in plan.routed_entries().iter().enumerate() {
        if matched[i] || entry.optional || !ws.targets_must_match() {
            continue;
        }
        let what = match (&entry.name, &entry.selector) {
            (Some(n), _) => format!("Service `{n}`"),
            (None, Some(sel)) => format!("a Service with labels `{sel}`"),
            (None, None) => {
                return Err(config_error(
                    "give the Service's `name` (or a glob) or a label `selector`".into(),
                    format!("istio.services[{i}]"),
                ))
            }
        };
        let hint =
            entry.name.as_deref().map(|n| closest(n, all.iter().map(|obj| obj.name.as_str()))).unwrap_or_default();
        return Err(config_error(format!("{what} is not in the render{hint}"), format!("istio.services[{i}]"))
            .with_hint("check the name, or mark the entry `optional: true`"));
    }
    Ok(out)
}

/// The pod labels of a workload (its template's), or of the Deployment a Rollout's
/// `workloadRef` names.
pub fn pod_labels(ws: &Workspace<'_>, workload: &Workload) -> BTreeMap<String, String> {
    let tree = ws.tree(workload.object.segment);
    if let Some(template) = workload.template {
        return string_map(tree, tree.path(template, &["metadata", "labels"]));
    }
    if let Some(reference) = tree.path(workload.object.node, &["spec", "workloadRef"]) {
        let name = tree.str_at(reference, &["name"]).unwrap_or_default();
        if let Some(deployment) = ws
            .named("apps", "Deployment", name)
            .find(|o| namespaces_match(o.namespace.as_deref(), workload.object.namespace.as_deref()))
        {
            let deployment_tree = ws.tree(deployment.segment);
            return string_map(
                deployment_tree,
                deployment_tree.path(deployment.node, &["spec", "template", "metadata", "labels"]),
            );
        }
    }
    BTreeMap::new()
}

/// Whether a Service's selector picks pods with these labels.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The workloads of a render (not generated ones) with their pod labels, read once and indexed
/// by label: finding the pods behind every Service is then linear in the stream, not Services ×
/// workloads.
pub struct Pods<'w> {
    workloads: Vec<(&'w Workload, BTreeMap<String, String>)>,
    /// Positions in `workloads` of the pods carrying each label (key, value).
    by_label: HashMap<(String, String), Vec<usize>>,
}

impl<'w> Pods<'w> {
    /// Index `workloads`.
    pub fn new(ws: &Workspace<'_>, workloads: &'w [Workload]) -> Pods<'w> {
        let workloads: Vec<(&Workload, BTreeMap<String, String>)> = workloads
            .iter()
            .filter(|w| !is_generated(ws.tree(w.object.segment), &w.object))
            .map(|w| (w, pod_labels(ws, w)))
            .collect();
        let mut by_label: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, (_, labels)) in workloads.iter().enumerate() {
            for (k, v) in labels {
                by_label.entry((k.clone(), v.clone())).or_default().push(i);
            }
        }
        Pods { workloads, by_label }
    }

    /// The workloads behind a Service, in stream order, with their pod labels.
    pub fn behind(&self, svc: &Svc, namespace: Option<&str>) -> Vec<(&'w Workload, &BTreeMap<String, String>)> {
        // Every pod a selector picks carries the selector's first label: look only at those.
        let Some((key, value)) = svc.selector.iter().next() else {
            return Vec::new();
        };
        let Some(candidates) = self.by_label.get(&(key.clone(), value.clone())) else {
            return Vec::new();
        };
        candidates
            .iter()
            .map(|&i| (self.workloads[i].0, &self.workloads[i].1))
            .filter(|(w, labels)| {
                let ns = w.object.namespace.as_deref().or(namespace);
                namespaces_match(ns, svc.namespace.as_deref()) && selects(&svc.selector, labels)
            })
            .collect()
    }
}

/// Services indexed by the first label of their selector: the first Service (in stream order)
/// that selects a set of pod labels is found by looking only at the Services whose first
/// selector label the pods carry.
struct Selectors<'o> {
    services: Vec<(&'o Object, BTreeMap<String, String>)>,
    by_first_label: HashMap<(String, String), Vec<usize>>,
}

impl<'o> Selectors<'o> {
    fn new(ws: &Workspace<'_>, services: &[&'o Object]) -> Selectors<'o> {
        let services: Vec<(&Object, BTreeMap<String, String>)> = services
            .iter()
            .map(|s| (*s, string_map(ws.tree(s.segment), ws.tree(s.segment).path(s.node, &["spec", "selector"]))))
            .collect();
        let mut by_first_label: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, (_, selector)) in services.iter().enumerate() {
            if let Some((k, v)) = selector.iter().next() {
                by_first_label.entry((k.clone(), v.clone())).or_default().push(i);
            }
        }
        Selectors { services, by_first_label }
    }

    /// The first Service selecting pods with `labels` whose namespace passes `in_namespace`.
    fn first_selecting(
        &self,
        labels: &BTreeMap<String, String>,
        in_namespace: impl Fn(&Object) -> bool,
    ) -> Option<&'o Object> {
        let mut candidates: Vec<usize> = labels
            .iter()
            .filter_map(|(k, v)| self.by_first_label.get(&(k.clone(), v.clone())))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates
            .into_iter()
            .map(|i| &self.services[i])
            .find(|(s, selector)| in_namespace(s) && selects(selector, labels))
            .map(|(s, _)| *s)
    }
}

/// How a workload under Argo Rollouts gets its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Canary with Istio subset-level splitting.
    Subset,
    /// Canary with Istio host-level splitting (`-stable`, `-canary` Services).
    Host,
    /// Canary that scales replicas only.
    Plain,
    /// Blue-green (`activeService`, `previewService`).
    BlueGreen,
}

/// A workload under Argo Rollouts.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index into `rollouts.workloads`.
    pub index: usize,
    /// The Deployment to convert or the Rollout to wire.
    pub object: Object,
    /// A Deployment converted into a Rollout with `workloadRef`.
    pub convert: bool,
    /// The Service in front (name), when there is one.
    pub service: Option<String>,
    /// Whether that Service is routed by the `istio` wiring.
    pub routed: bool,
    /// How traffic is split.
    pub mode: Mode,
}

/// What [`targets`] looks workloads and Services up in, read once.
struct Scan<'a, 'w> {
    ws: &'a Workspace<'w>,
    plan: &'a TrafficPlan,
    /// The namespaces of the Services Istio routes, by name (a lookup per workload, not a scan).
    routed: HashMap<&'a str, Vec<Option<&'a str>>>,
    namespace: Option<&'a str>,
    /// The Services of the render, not generated ones, in stream order.
    services: Vec<&'a Object>,
    selectors: Selectors<'a>,
}

impl Scan<'_, '_> {
    /// Whether a `rollouts.workloads[]` entry names this object (name glob and namespace).
    fn names(&self, wc: &RolloutWorkload, obj: &Object) -> bool {
        let ns = obj.namespace.as_deref().or(self.namespace);
        let ns_ok = wc.namespace.as_deref().is_none_or(|p| ns.is_none_or(|n| glob_matches(p.as_bytes(), n.as_bytes())));
        glob_matches(wc.name.as_bytes(), obj.name.as_bytes()) && ns_ok
    }

    /// The Service in front of a workload: the one the config names (an error when it is not
    /// in the render), else the first whose selector picks its pods.
    fn service_in_front(
        &self,
        wc: &RolloutWorkload,
        path: &str,
        labels: &BTreeMap<String, String>,
        ns: Option<&str>,
    ) -> Result<Option<String>> {
        let in_namespace = |svc: &Object| namespaces_match(svc.namespace.as_deref().or(self.namespace), ns);
        let Some(name) = &wc.service else {
            return Ok(self.selectors.first_selecting(labels, in_namespace).map(|svc| svc.name.clone()));
        };
        match self.services.iter().find(|svc| &svc.name == name && in_namespace(svc)) {
            Some(svc) => Ok(Some(svc.name.clone())),
            None => Err(config_error(
                format!(
                    "Service `{name}` is not in the render{}",
                    closest(name, self.services.iter().map(|svc| svc.name.as_str()))
                ),
                format!("{path}.service"),
            )),
        }
    }

    /// How the workload's traffic is split: blue-green (which needs a Service), or a canary
    /// split by Istio when its Service is routed. A converted Deployment needs a strategy.
    fn mode(
        &self,
        wc: &RolloutWorkload,
        obj: &Object,
        service: Option<&str>,
        routed: bool,
        path: &str,
    ) -> Result<Mode> {
        let tree = self.ws.tree(obj.segment);
        let blue_green = match &wc.strategy {
            Some(strategy) => strategy.0.get("blueGreen").is_some(),
            None => tree.path(obj.node, &["spec", "strategy", "blueGreen"]).is_some(),
        };
        if obj.is("apps", "Deployment") && wc.strategy.is_none() {
            return Err(config_error(
                format!("Deployment {} is converted into a Rollout and needs a `strategy`", obj.display()),
                format!("{path}.strategy"),
            )
            .with_hint("e.g. strategy: {canary: {steps: [{setWeight: 20}, {pause: {duration: 1m}}]}}"));
        }
        if blue_green {
            if service.is_none() {
                return Err(config_error(
                    format!("the blue-green Rollout for {} needs a Service in front of it", obj.display()),
                    format!("{path}.service"),
                ));
            }
            return Ok(Mode::BlueGreen);
        }
        if !routed {
            return Ok(Mode::Plain);
        }
        Ok(match wc.traffic_routing {
            TrafficRouting::Subset => Mode::Subset,
            TrafficRouting::Host => Mode::Host,
            TrafficRouting::None => Mode::Plain,
        })
    }

    /// The target for workload `w` named by `rollouts.workloads[index]`.
    fn target(&self, index: usize, wc: &RolloutWorkload, workload: &Workload) -> Result<Target> {
        let path = format!("rollouts.workloads[{index}]");
        let obj = &workload.object;
        let ns = obj.namespace.as_deref().or(self.namespace);
        let labels = pod_labels(self.ws, workload);
        let service = self.service_in_front(wc, &path, &labels, ns)?;
        let routed = service.as_ref().is_some_and(|svc| {
            self.plan.routed.is_some()
                && self.routed.get(svc.as_str()).is_some_and(|at| at.iter().any(|&r| namespaces_match(r, ns)))
        });
        let mode = self.mode(wc, obj, service.as_deref(), routed, &path)?;
        Ok(Target { index, object: obj.clone(), convert: obj.is("apps", "Deployment"), service, routed, mode })
    }
}

/// The Deployments an existing Rollout already references (`workloadRef`): they are wired
/// through that Rollout.
fn referenced(ws: &Workspace<'_>, candidates: &[&Workload]) -> BTreeSet<String> {
    candidates
        .iter()
        .filter(|w| w.object.is("argoproj.io", "Rollout"))
        .filter_map(|w| {
            ws.tree(w.object.segment).str_at(w.object.node, &["spec", "workloadRef", "name"]).map(String::from)
        })
        .collect()
}

/// The workloads under Argo Rollouts. A `rollouts.workloads[]` entry that matches nothing is
/// an error naming the closest Deployment or Rollout.
pub fn targets(
    ws: &Workspace<'_>,
    objects: &[Object],
    plan: &TrafficPlan,
    routed: &[Svc],
    namespace: Option<&str>,
) -> Result<Vec<Target>> {
    let kinds = &plan.workloads;
    let workloads: Vec<Workload> =
        workload::find(ws, objects, kinds).into_iter().map(|(workload, _)| workload).collect();
    let candidates: Vec<&Workload> = workloads
        .iter()
        .filter(|workload| {
            (workload.object.is("apps", "Deployment") || workload.object.is("argoproj.io", "Rollout"))
                && !is_generated(ws.tree(workload.object.segment), &workload.object)
        })
        .collect();
    let services: Vec<&Object> =
        objects.iter().filter(|o| o.is("", "Service") && !is_generated(ws.tree(o.segment), o)).collect();
    let selectors = Selectors::new(ws, &services);
    let mut routed_at: HashMap<&str, Vec<Option<&str>>> = HashMap::new();
    for r in routed {
        routed_at.entry(r.obj.name.as_str()).or_default().push(r.namespace.as_deref());
    }
    let scan = Scan { ws, plan, routed: routed_at, namespace, services, selectors };
    let referenced = referenced(ws, &candidates);
    let mut out: Vec<Target> = Vec::new();
    let mut taken: BTreeSet<(usize, NodeId)> = BTreeSet::new();
    for (index, wc) in plan.rollouts.as_deref().unwrap_or_default().iter().enumerate() {
        let mut found = 0;
        for workload in &candidates {
            let obj = &workload.object;
            if !scan.names(wc, obj) || (obj.is("apps", "Deployment") && referenced.contains(&obj.name)) {
                continue;
            }
            found += 1;
            if workload::switch(ws, obj, ROLLOUT_ANNOTATION)? == Some(false) || taken.contains(&(obj.segment, obj.node))
            {
                continue;
            }
            out.push(scan.target(index, wc, workload)?);
            taken.insert((obj.segment, obj.node));
        }
        if found == 0 && !wc.optional && ws.targets_must_match() {
            let names = candidates.iter().map(|workload| workload.object.name.as_str());
            return Err(config_error(
                format!("no Deployment or Rollout named `{}` is in the render{}", wc.name, closest(&wc.name, names)),
                format!("rollouts.workloads[{index}]"),
            )
            .with_hint("check the name, or mark the entry `optional: true`"));
        }
    }
    Ok(out)
}

/// The pod label that joins the mesh, when injection is by label.
pub fn injection_label(config: &IstioConfig) -> Option<(&'static str, String)> {
    match config.injection {
        Injection::Label => Some(("sidecar.istio.io/inject", "true".into())),
        Injection::Revision => Some(("istio.io/rev", config.revision.clone())),
        Injection::None => None,
    }
}
