//! Generated AnalysisTemplates finish where a Rollout waits for them.
//!
//! Argo Rollouts completes a metric only after `EffectiveCount()` measurements, and a metric
//! with an `interval` and no `count` has none: it runs until it fails
//! (argoproj/argo-rollouts@9f8d111d `pkg/apis/rollouts/v1alpha1/analysis_types.go:159-169`,
//! `analysis/analysis.go:615`). A canary step advances only once its run is Successful
//! (`rollout/canary.go:332-335`), a blue-green promotion likewise waits for its pre- and
//! post-promotion runs (`rollout/bluegreen.go:211-212`), so only background analysis may be
//! unbounded.

mod common;

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n      - name: api\n        image: api:2\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  selector: {app: api}\n  ports:\n  - name: http\n    port: 80\n";

const TEMPLATE: &str = "  analysisTemplates:\n    up:\n      prometheus: {address: \"http://prometheus.monitoring:9090\", query: \"min(up)\"}\n      successCondition: result[0] == 1\n";

fn render(manifests: &str, config: &str) -> Result<String, String> {
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    postwire_core::render(&request).map(|o| o.manifests).map_err(|e| e.to_string())
}

fn config(template_extra: &str, strategy: &str) -> String {
    format!("rollouts:\n  enabled: true\n{TEMPLATE}{template_extra}  workloads:\n    - name: api\n      strategy: {strategy}\n")
}

fn metric(out: &str) -> serde_json::Value {
    common::document(out, "AnalysisTemplate", "up")["spec"]["metrics"][0].clone()
}

/// Whether Argo Rollouts would ever complete the metric (`EffectiveCount()` is not nil).
fn terminates(m: &serde_json::Value) -> bool {
    let count = m["count"].as_i64().unwrap_or(0);
    count > 0 || m.get("interval").is_none()
}

const USES: [(&str, &str); 4] = [
    ("canary step", "{canary: {steps: [{setWeight: 50}, {analysis: {templates: [{templateName: up}]}}]}}"),
    ("pre-promotion", "{blueGreen: {prePromotionAnalysis: {templates: [{templateName: up}]}}}"),
    ("post-promotion", "{blueGreen: {postPromotionAnalysis: {templates: [{templateName: up}]}}}"),
    ("step and background", "{canary: {analysis: {templates: [{templateName: up}]}, steps: [{analysis: {templates: [{templateName: up}]}}]}}"),
];

#[test]
fn blocking_analyses_terminate_by_default() {
    for (what, strategy) in USES {
        let out = render(DEPLOYMENT, &config("", strategy)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let m = metric(&out);
        assert!(terminates(&m), "{what}: the metric never completes: {m}");
        assert_eq!(m["interval"], "1m", "{what}");
    }
}

#[test]
fn an_explicit_interval_without_count_terminates_in_a_step() {
    let out = render(DEPLOYMENT, &config("      interval: 30s\n", USES[0].1)).unwrap();
    let m = metric(&out);
    assert!(terminates(&m), "{m}");
    assert_eq!(m["interval"], "30s");
}

#[test]
fn an_explicit_count_is_kept() {
    let out = render(DEPLOYMENT, &config("      count: 3\n", USES[0].1)).unwrap();
    assert_eq!(metric(&out)["count"], 3);
}

#[test]
fn background_analysis_may_run_unbounded() {
    let out = render(DEPLOYMENT, &config("", "{canary: {analysis: {templates: [{templateName: up}]}}}")).unwrap();
    let m = metric(&out);
    assert!(m.get("count").is_none(), "background analysis keeps running for the whole rollout: {m}");
}

#[test]
fn an_unbounded_metric_where_a_rollout_waits_is_refused() {
    for (what, strategy) in USES {
        let err = render(DEPLOYMENT, &config("      count: 0\n", strategy)).expect_err(what);
        assert!(err.contains("rollouts.analysisTemplates.up") && err.contains("never"), "{what}: {err}");
    }
}

#[test]
fn a_chart_rollout_step_using_a_generated_template_terminates() {
    let rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n      - name: api\n        image: api:2\n  strategy:\n    canary:\n      steps:\n      - setWeight: 20\n      - analysis:\n          templates:\n          - templateName: up\n";
    let config = format!("rollouts:\n  enabled: true\n{TEMPLATE}  workloads:\n    - name: api\n");
    let out = render(rollout, &config).unwrap();
    let m = metric(&out);
    assert!(terminates(&m), "{m}");
}
