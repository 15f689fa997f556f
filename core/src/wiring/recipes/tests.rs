use serde_json::json;

use super::*;

const INPUT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 3
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api, tier: backend}
    spec:
      containers:
      - name: api
        image: api
        resources:
          limits: {cpu: 1500m, memory: 512Mi}
      - name: jvm
        image: java
        env:
        - name: GOMAXPROCS
          value: \"8\"
        resources:
          limits: {memory: 1Gi}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 2, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: web
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: agent
---
apiVersion: v1
kind: Service
metadata:
  name: api
  labels: {app: api}
spec:
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: metrics, port: 9090}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web-chart-pdb
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: web}
";

fn render(input: &str, recipes: &str) -> crate::error::Result<crate::RenderOutput> {
    let mut request = crate::wiring::test_support::request(input, &format!("recipes:\n{recipes}"));
    request.set = vec!["checksum.enabled=false".into()];
    crate::render(&request)
}

fn docs(text: &str) -> Vec<Json> {
    let stream = crate::stream::Stream::split(text);
    (0..stream.segments.len())
        .filter(|&i| stream.segments[i].has_content)
        .map(|i| {
            let tree = Tree::parse(stream.segment_text(i), 0).unwrap();
            model::json(&tree, tree.root().unwrap())
        })
        .collect()
}

/// Render, check that a second run is byte-identical, and return the output documents.
fn run(recipes: &str) -> (String, Vec<Json>, Report) {
    let out = render(INPUT, recipes).unwrap_or_else(|e| panic!("{recipes}: {e}"));
    let again = render(&out.manifests, recipes).unwrap();
    assert_eq!(again.manifests, out.manifests, "a second run changes nothing");
    let d = docs(&out.manifests);
    (out.manifests, d, out.report)
}

fn notes(report: &Report) -> Vec<String> {
    report.documents.iter().flat_map(|d| d.notes.iter().map(|n| n.message.clone())).collect()
}

#[test]
fn pod_disruption_budgets_for_uncovered_replicated_workloads() {
    let (text, d, report) = run("  podDisruptionBudget: {minAvailable: 1}\n");
    assert!(text.starts_with(INPUT));
    assert_eq!(d.len(), 7, "one PodDisruptionBudget: web has the chart's, the DaemonSet none");
    assert_eq!(
        d[6],
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "api", "annotations": {"postwire.dev/generated-by": "recipes/podDisruptionBudget"}},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "api"}}}})
    );
    assert!(notes(&report).iter().any(|n| n.contains("the chart's PodDisruptionBudget/web-chart-pdb covers its pods")));
    let (_, d, _) = run("  podDisruptionBudget: {maxUnavailable: \"25%\", target: {name: api}}\n");
    assert_eq!(d[6]["spec"]["maxUnavailable"], json!("25%"));
    let (_, _, report) = run("  podDisruptionBudget: {minAvailable: 3}\n");
    assert!(notes(&report).iter().any(|n| n.contains("blocks every voluntary eviction")), "{:?}", notes(&report));
    let err = render(INPUT, "  podDisruptionBudget: {minAvailable: 1, maxUnavailable: 1}\n").unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    let err = render(INPUT, "  podDisruptionBudget: {minAvailable: \"half\"}\n").unwrap_err();
    assert!(err.to_string().contains("postwire.yaml line 2"), "{err}");
}

/// A Deployment a Rollout runs through `workloadRef` is scaled to zero by Argo Rollouts; its
/// pods are the Rollout's, and so are their replicas (`spec.replicas`, 1 when absent:
/// argoproj/argo-rollouts@009ba6ba pkg/apis/rollouts/v1alpha1/types.go:38-41). The budget's
/// warning counts those, not the Deployment's zero.
#[test]
fn a_budget_counts_the_replicas_of_the_rollout_that_runs_the_pods() {
    let taken = INPUT.replacen("  replicas: 3\n", "  replicas: 0\n", 1);
    let rollout = |replicas: &str| {
        format!(
            "{taken}---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: api}}\nspec:\n{replicas}  \
             workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: api, scaleDown: onsuccess}}\n  \
             strategy: {{canary: {{steps: [{{setWeight: 50}}]}}}}\n"
        )
    };
    let warnings = |input: &str| -> Vec<String> {
        let out = render(input, "  podDisruptionBudget: {minAvailable: 1}\n").unwrap();
        notes(&out.report).into_iter().filter(|n| n.contains("blocks every voluntary eviction")).collect()
    };
    assert_eq!(warnings(&rollout("  replicas: 3\n")), Vec::<String>::new());
    let one = warnings(&rollout(""));
    assert_eq!(one.len(), 1, "{one:?}");
    assert!(one[0].contains("minAvailable 1 with 1 replica(s) of Rollout/api"), "{one:?}");
    // Without a Rollout, the Deployment's own zero is what runs.
    let alone = warnings(&taken);
    assert!(alone.iter().any(|n| n.contains("minAvailable 1 with 0 replica(s)")), "{alone:?}");
}

/// A namespace written with a tag outside the core schema is the string as written (yaml.v2
/// reads it so), never the text of a null: `namespace: !x` gave the budget `namespace: "None"`
/// (found by the `wirings` fuzz target).
#[test]
fn a_custom_tagged_namespace_is_copied_as_its_text() {
    let input = INPUT.replacen("  name: api\n", "  name: api\n  namespace: !x\n", 1);
    let out = render(&input, "  podDisruptionBudget: {minAvailable: 1}\n").unwrap();
    let d = docs(&out.manifests);
    let pdb =
        d.iter().find(|d| d["kind"] == "PodDisruptionBudget" && d["metadata"]["name"] == "api").expect("a budget");
    assert_eq!(pdb["metadata"]["namespace"], json!(""), "{}", out.manifests);
}

#[test]
fn service_monitors_for_metrics_ports() {
    let (_, d, _) = run("  serviceMonitor: {port: metrics, labels: {release: kube-prometheus-stack}, interval: 30s}\n");
    assert_eq!(d.len(), 7);
    assert_eq!(
        d[6],
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
               "metadata": {"name": "api", "labels": {"release": "kube-prometheus-stack"},
                            "annotations": {"postwire.dev/generated-by": "recipes/serviceMonitor"}},
               "spec": {"selector": {"matchLabels": {"app": "api"}}, "endpoints": [{"port": "metrics", "interval": "30s"}]}})
    );
    // A chart's own ServiceMonitor for the Service wins.
    let own = format!("{INPUT}---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {{name: mine}}\nspec:\n  selector: {{matchLabels: {{app: api}}}}\n  endpoints: [{{port: metrics}}]\n");
    let out = render(&own, "  serviceMonitor: {}\n").unwrap();
    assert_eq!(out.manifests, own);
}

#[test]
fn network_policies_from_a_dependency_list() {
    let (_, d, _) = run("  networkPolicy: {services: {api: [web], web: []}}\n");
    assert_eq!(d.len(), 8);
    assert_eq!(
        d[6],
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "api-callers", "annotations": {"postwire.dev/generated-by": "recipes/networkPolicy"}},
               "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"],
                        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                     "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 9090, "protocol": "TCP"}]}]}})
    );
    assert_eq!(d[7]["spec"]["ingress"], json!([]));
    for (recipe, want) in [
        ("  networkPolicy: {services: {nope: []}}\n", "the render has no Service `nope`"),
        ("  networkPolicy: {services: {api: [ghost]}}\n", "caller `ghost` of `api`"),
    ] {
        let err = render(INPUT, recipe).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// Callers outside the chart: `namespace:NAME` admits every pod of a namespace (an ingress
/// controller's), `namespace:NAME/LABEL=VALUE,...` only the pods with those labels there (a
/// Prometheus in a monitoring namespace), beside callers of the render.
#[test]
fn network_policies_admit_callers_outside_the_chart() {
    let recipe = "  networkPolicy:\n    services:\n      api: [web, \"namespace:ingress-nginx\", \"namespace:monitoring/app.kubernetes.io/name=prometheus\"]\n";
    let (_, d, report) = run(recipe);
    let ns = |name: &str| json!({"matchLabels": {"kubernetes.io/metadata.name": name}});
    assert_eq!(
        d[6]["spec"]["ingress"][0]["from"],
        json!([
            {"podSelector": {"matchLabels": {"app": "web"}}},
            {"namespaceSelector": ns("ingress-nginx")},
            {"namespaceSelector": ns("monitoring"), "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
        ])
    );
    let reasons = serde_json::to_string(&report).unwrap();
    assert!(
        reasons.contains(
            "admits only web, namespace:ingress-nginx, namespace:monitoring/app.kubernetes.io/name=prometheus"
        ),
        "{reasons}"
    );
    for (caller, want) in
        [("namespace:", "`namespace:` needs a namespace"), ("namespace:monitoring/app", "`app` is not LABEL=VALUE")]
    {
        let err = render(INPUT, &format!("  networkPolicy: {{services: {{api: [\"{caller}\"]}}}}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{caller}: {err}");
    }
}

#[test]
fn go_runtime_limits_from_container_limits() {
    let (text, d, report) = run("  goRuntime: {}\n");
    let api = &d[0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        api[0]["env"],
        json!([{"name": "GOMAXPROCS", "value": "2"}, {"name": "GOMEMLIMIT", "value": "483183820"}])
    );
    // The chart's GOMAXPROCS stays; the missing GOMEMLIMIT is 90% of 1Gi.
    assert_eq!(
        api[1]["env"],
        json!([{"name": "GOMAXPROCS", "value": "8"}, {"name": "GOMEMLIMIT", "value": "966367641"}])
    );
    assert!(text.contains("        - name: GOMAXPROCS\n          value: \"8\"\n"));
    let n = notes(&report);
    assert!(n.iter().any(|m| m.contains("container jvm sets GOMAXPROCS itself")), "{n:?}");
    assert!(n.iter().any(|m| m.contains("container web gets no GOMAXPROCS: it has no cpu limit")), "{n:?}");
    // A target narrows it, and must match.
    let (_, d, _) = run("  goRuntime: {target: {name: web}}\n");
    assert!(d[0]["spec"]["template"]["spec"]["containers"][0]["env"].is_null());
    let err = render(INPUT, "  goRuntime: {target: {name: dispatch}}\n").unwrap_err().to_string();
    assert!(err.contains("recipes.goRuntime.target: the target any kind dispatch matches no object"), "{err}");
}

#[test]
fn jvm_heap_flags_from_the_memory_limit() {
    let (_, d, _) = run("  jvmHeap: {target: {name: api}, initialHeapPercent: 50}\n");
    let c = &d[0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(c[0]["env"], json!([{"name": "JAVA_TOOL_OPTIONS", "value": "-Xms256m -Xmx384m"}]));
    assert_eq!(c[1]["env"][1], json!({"name": "JAVA_TOOL_OPTIONS", "value": "-Xms512m -Xmx768m"}));
    assert_eq!(jvm_heap_flags(&json!({"resources": {"limits": {"memory": "2G"}}}), 75, None).unwrap(), "-Xmx1430m");
}

#[test]
fn zone_spread_where_the_chart_has_none() {
    let (_, d, report) = run("  zoneSpread: {}\n");
    assert_eq!(
        d[0]["spec"]["template"]["spec"]["topologySpreadConstraints"],
        json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "api"}}}])
    );
    assert_eq!(d[1]["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["maxSkew"], json!(2));
    assert!(d[2]["spec"]["template"]["spec"]["topologySpreadConstraints"].is_null(), "not on a DaemonSet");
    assert!(notes(&report).iter().any(|n| n.contains("already spreads over topology.kubernetes.io/zone")));
}

#[test]
fn every_recipe_at_once_is_idempotent() {
    let (text, d, _) = run(
        "  podDisruptionBudget: {}\n  serviceMonitor: {}\n  networkPolicy: {services: {api: [web]}}\n  goRuntime: {}\n  jvmHeap: {target: {name: api}}\n  zoneSpread: {}\n",
    );
    assert_eq!(d.len(), 9, "{text}");
}
