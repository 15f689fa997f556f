//! A Deployment converted to a Rollout's `workloadRef` stays at zero replicas in the manifest:
//! Argo Rollouts scales it down only while the Rollout is at revision 1
//! (argoproj/argo-rollouts@9f8d111d `rollout/sync.go:1362-1367`,
//! `rollout/replicaset.go:220`), so a later `helm upgrade` that writes the chart's replicas back
//! would run the Deployment's pods beside the Rollout's. Argo Rollouts' own migration guide
//! writes `replicas: 0` on the referenced Deployment (`docs/migrating.md:95`).

mod common;

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n      - name: api\n        image: api:2\n";

const HPA: &str = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: api\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 2\n  maxReplicas: 5\n";

fn render(manifests: &str, scale_down: &str) -> String {
    let config = format!("rollouts:\n  enabled: true\n  scaleDown: {scale_down}\n  workloads:\n    - name: api\n      strategy: {{canary: {{steps: [{{setWeight: 50}}]}}}}\n");
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config });
    let out = postwire_core::render(&request).unwrap_or_else(|e| panic!("{e}"));
    let again = postwire_core::render(&RenderRequestV1 { manifests: out.manifests.clone(), ..request }).unwrap();
    assert_eq!(again.manifests, out.manifests, "not idempotent");
    out.manifests
}

#[test]
fn the_converted_deployment_is_held_at_zero_and_the_rollout_takes_its_replicas() {
    for scale_down in ["onsuccess", "progressively"] {
        let out = render(DEPLOYMENT, scale_down);
        assert_eq!(common::document(&out, "Deployment", "api")["spec"]["replicas"], 0, "{scale_down}");
        assert_eq!(common::document(&out, "Rollout", "api")["spec"]["replicas"], 3, "{scale_down}");
    }
}

#[test]
fn under_an_hpa_the_deployment_is_held_at_zero_and_the_hpa_scales_the_rollout() {
    let out = render(&format!("{DEPLOYMENT}{HPA}"), "onsuccess");
    assert_eq!(common::document(&out, "Deployment", "api")["spec"]["replicas"], 0);
    assert!(common::document(&out, "Rollout", "api")["spec"].get("replicas").is_none());
    assert_eq!(common::document(&out, "HorizontalPodAutoscaler", "api")["spec"]["scaleTargetRef"]["kind"], "Rollout");
}

#[test]
fn scale_down_never_keeps_the_deployments_replicas() {
    let out = render(DEPLOYMENT, "never");
    assert_eq!(common::document(&out, "Deployment", "api")["spec"]["replicas"], 3);
}
