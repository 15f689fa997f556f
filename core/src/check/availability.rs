//! Availability: PodDisruptionBudgets that never allow an eviction, and PDBs, HPAs,
//! ServiceMonitors, PodMonitors and NetworkPolicies that select nothing in the stream.

use serde_json::Value as Json;

use super::index::{int, Index, Obj, Selector};
use super::{Finding, Level};
use crate::resource::namespaces_match;

/// A PodDisruptionBudget that can never allow an eviction.
pub const PDB_BLOCKS_EVICTION: &str = "pdb-blocks-eviction";
/// A PDB, HPA, ServiceMonitor, PodMonitor or NetworkPolicy that selects nothing in the stream.
pub const SELECTS_NOTHING: &str = "selects-nothing";

pub fn check(index: &Index, out: &mut Vec<Finding>) {
    let operated = operated_names(index);
    let by_operator = |ns: Option<&str>, s: &Selector| {
        s.labels.values().any(|v| operated.iter().any(|(o_ns, name)| *name == v && namespaces_match(*o_ns, ns)))
    };
    for pdb in index.of_kind("policy", "PodDisruptionBudget") {
        pdb_eviction(index, pdb, out);
        let selector = Selector::label_selector(pdb.at(&["spec", "selector"]));
        let ns = pdb.namespace.as_deref();
        if index.templates_matching(ns, &selector).is_empty() && !by_operator(ns, &selector) {
            nothing(pdb, "its selector matches no pod template in the stream: it protects nothing", out);
        }
    }
    for hpa in index.of_kind("autoscaling", "HorizontalPodAutoscaler") {
        hpa_target(index, hpa, out);
    }
    // A monitor of other namespaces (kube-system's kubelet, coredns) watches what the cluster runs.
    let own_namespace = |m: &Obj| m.at(&["spec", "namespaceSelector"]).as_object().is_none_or(|o| o.is_empty());
    for sm in index.of_kind("monitoring.coreos.com", "ServiceMonitor").filter(|m| own_namespace(m)) {
        let selector = Selector::label_selector(sm.at(&["spec", "selector"]));
        let any = index.services_matching(&selector).into_iter().any(|s| watched(sm, s));
        if !any {
            nothing(sm, "its selector matches no Service in the stream: nothing is scraped", out);
        }
    }
    for pm in index.of_kind("monitoring.coreos.com", "PodMonitor").filter(|m| own_namespace(m)) {
        let selector = Selector::label_selector(pm.at(&["spec", "selector"]));
        let any = index.templates().iter().any(|t| watched(pm, index.object(t.owner)) && selector.matches(&t.labels));
        if !any {
            nothing(pm, "its selector matches no pod template in the stream: nothing is scraped", out);
        }
    }
    for np in index.of_kind("networking.k8s.io", "NetworkPolicy") {
        let selector = Selector::label_selector(np.at(&["spec", "podSelector"]));
        // An empty podSelector is the namespace-wide default policy: it selects whatever runs there.
        let ns = np.namespace.as_deref();
        if !selector.is_empty() && index.templates_matching(ns, &selector).is_empty() && !by_operator(ns, &selector) {
            nothing(np, "its podSelector matches no pod template in the stream: it isolates nothing", out);
        }
    }
}

/// Names of custom resources an operator makes pods for: such pods carry their resource's name
/// as a label value (`prometheus: k8s`, `alertmanager: main`), and no pod template in the
/// stream has them.
fn operated_names(index: &Index) -> Vec<(Option<&str>, &str)> {
    index
        .objects()
        .iter()
        .filter(|o| o.group.contains('.') && !o.group.ends_with("k8s.io") && o.group != "argoproj.io")
        .map(|o| (o.namespace.as_deref(), o.name.as_str()))
        .collect()
}

/// Whether a monitor watches `obj`'s namespace (`namespaceSelector`, else its own).
fn watched(monitor: &Obj, obj: &Obj) -> bool {
    let sel = monitor.at(&["spec", "namespaceSelector"]);
    if sel["any"].as_bool() == Some(true) {
        return true;
    }
    match sel["matchNames"].as_array() {
        Some(names) => obj.namespace.as_deref().is_none_or(|ns| names.iter().any(|n| n.as_str() == Some(ns))),
        None => monitor.same_namespace(obj.namespace.as_deref()),
    }
}

fn nothing(obj: &Obj, what: &str, out: &mut Vec<Finding>) {
    out.push(Finding::new(
        Level::Warning,
        SELECTS_NOTHING,
        obj,
        format!("{what}, unless matching objects come from elsewhere; fix the selector or the labels"),
    ));
}

fn hpa_target(index: &Index, hpa: &Obj, out: &mut Vec<Finding>) {
    let target = hpa.at(&["spec", "scaleTargetRef"]);
    let (Some(kind), Some(name)) = (target["kind"].as_str(), target["name"].as_str()) else {
        return;
    };
    let group = target["apiVersion"].as_str().map(crate::resource::group_of).unwrap_or(match kind {
        "Rollout" => "argoproj.io",
        _ => "apps",
    });
    if index.find(group, kind, hpa.namespace.as_deref(), name).is_none() {
        nothing(hpa, &format!("it scales {kind} {name}, which is not in the stream: it scales nothing"), out);
    }
}

/// Replicas of the workloads whose pod templates `selector` matches; None when unknown (an
/// autoscaler or a kind without `replicas` is involved).
fn replicas(index: &Index, pdb: &Obj, selector: &Selector) -> Option<i64> {
    let mut total = 0;
    for t in index.templates_matching(pdb.namespace.as_deref(), selector) {
        let owner = index.object(t.owner);
        if !matches!(owner.kind.as_str(), "Deployment" | "StatefulSet" | "ReplicaSet" | "Rollout") {
            return None;
        }
        let autoscaled = index.autoscalers_of(&owner.kind, &owner.name, owner.namespace.as_deref()).next().is_some();
        if autoscaled {
            return None;
        }
        total += owner.at(&["spec", "replicas"]).as_i64().unwrap_or(1);
    }
    (total > 0).then_some(total)
}

/// The eviction API refuses every eviction when `maxUnavailable` is 0 or `minAvailable` covers
/// every replica (kubernetes/kubernetes pkg/registry/core/pod/storage/eviction.go
/// `checkAndDecrement` answers 429 "Cannot evict pod as it would violate the pod's disruption
/// budget" when the PDB's disruptions allowed is 0; read at 277391ee, an older version where
/// the field is `PodDisruptionsAllowed`; line not verified), so `kubectl drain` and cluster upgrades hang on these pods.
fn pdb_eviction(index: &Index, pdb: &Obj, out: &mut Vec<Finding>) {
    let spec = pdb.at(&["spec"]);
    let zero = |v: &Json| int(v) == Some(0) || v.as_str() == Some("0%");
    let why = if spec.get("maxUnavailable").is_some_and(zero) {
        Some("maxUnavailable is 0".to_string())
    } else if spec.get("minAvailable").and_then(Json::as_str) == Some("100%") {
        Some("minAvailable is 100%".to_string())
    } else {
        let min = spec.get("minAvailable").and_then(int);
        let selector = Selector::label_selector(&spec["selector"]);
        match (min, replicas(index, pdb, &selector)) {
            (Some(min), Some(total)) if min >= total => {
                Some(format!("minAvailable {min} is not below the {total} replica(s) it covers"))
            }
            _ => None,
        }
    };
    if let Some(why) = why {
        out.push(Finding::new(
            Level::Error,
            PDB_BLOCKS_EVICTION,
            pdb,
            format!(
                "{why}: no voluntary eviction is ever allowed, so node drains and cluster upgrades hang on these pods; \
                 set maxUnavailable: 1, or minAvailable below the replicas"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::table;
    use super::*;

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    metadata:\n      labels:\n        app: web\n---\n";

    fn pdb(spec: &str) -> String {
        format!("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n{spec}")
    }

    #[test]
    fn pdb_blocks_eviction() {
        table(
            PDB_BLOCKS_EVICTION,
            &[
                ("maxUnavailable 1", DEPLOY.to_string() + &pdb("  maxUnavailable: 1\n"), None),
                ("maxUnavailable 0", DEPLOY.to_string() + &pdb("  maxUnavailable: 0\n"), Some(Level::Error)),
                ("minAvailable = replicas", DEPLOY.to_string() + &pdb("  minAvailable: 2\n"), Some(Level::Error)),
                ("minAvailable below", DEPLOY.to_string() + &pdb("  minAvailable: 1\n"), None),
                ("minAvailable 100%", DEPLOY.to_string() + &pdb("  minAvailable: 100%\n"), Some(Level::Error)),
                (
                    "autoscaled",
                    DEPLOY.to_string()
                        + &pdb("  minAvailable: 2\n")
                        + "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n",
                    None,
                ),
            ],
        );
    }

    #[test]
    fn selects_nothing() {
        let sm = "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n";
        let svc = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\n";
        let hpa = |name: &str| {
            format!("---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: {name}\n")
        };
        table(
            SELECTS_NOTHING,
            &[
                ("PDB matches", DEPLOY.to_string() + &pdb("  maxUnavailable: 1\n"), None),
                ("PDB matches nothing", pdb("  maxUnavailable: 1\n"), Some(Level::Warning)),
                ("ServiceMonitor matches", DEPLOY.to_string() + sm + svc, None),
                ("ServiceMonitor matches nothing", DEPLOY.to_string() + sm, Some(Level::Warning)),
                ("HPA target there", DEPLOY.to_string() + &hpa("web"), None),
                ("HPA target missing", DEPLOY.to_string() + &hpa("api"), Some(Level::Warning)),
                (
                    "pods of an operator",
                    pdb("  maxUnavailable: 1\n").replace("app: web", "alertmanager: main")
                        + "---\napiVersion: monitoring.coreos.com/v1\nkind: Alertmanager\nmetadata:\n  name: main\n",
                    None,
                ),
                (
                    "ServiceMonitor of kube-system",
                    DEPLOY.to_string() + sm + "  namespaceSelector:\n    matchNames: [kube-system]\n",
                    None,
                ),
            ],
        );
    }
}
