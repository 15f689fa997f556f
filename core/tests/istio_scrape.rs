//! STRICT mTLS and ALLOW policies that postwire generates leave the ports scraped from outside
//! the mesh reachable: a Prometheus or Datadog agent without a sidecar connects in plaintext and
//! has no mesh identity. Istio documents port-level mTLS for leaving a workload port to
//! plaintext (istio/api `security/v1beta1/peer_authentication.proto`, `portLevelMtls`).

mod common;

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};
use serde_json::json;

const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n      - name: api\n        image: api:1\n        ports:\n        - {name: http, containerPort: 8080}\n        - {name: metrics, containerPort: 5555}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop, labels: {app: api}}\nspec:\n  selector: {app: api}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n  - {name: metrics, port: 9090, targetPort: metrics}\n";

const ISTIO: &str = "istio:\n  enabled: true\n  services:\n    - name: api\n      port: http\n      peerAuthentication: STRICT\n      authorizationPolicy: {namespaces: [shop]}\n";

fn render(manifests: &str, config: &str) -> String {
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    request.set = vec!["checksum.enabled=false".into()];
    let out = postwire_core::render(&request).unwrap_or_else(|e| panic!("{config}: {e}"));
    let again = postwire_core::render(&RenderRequestV1 { manifests: out.manifests.clone(), ..request }).unwrap();
    assert_eq!(again.manifests, out.manifests, "not idempotent");
    out.manifests
}

fn permissive_ports(out: &str) -> Vec<String> {
    let pa = common::document(out, "PeerAuthentication", "api");
    assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
    let mut ports: Vec<String> = pa["spec"]["portLevelMtls"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v["mode"] == "PERMISSIVE")
        .map(|(k, _)| k.clone())
        .collect();
    ports.sort();
    ports
}

fn open_ports(out: &str) -> Vec<serde_json::Value> {
    let ap = common::document(out, "AuthorizationPolicy", "api");
    ap["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("from").is_none())
        .flat_map(|r| r["to"][0]["operation"]["ports"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn a_generated_service_monitor_reaches_its_port_through_strict_mtls() {
    let config = format!("{ISTIO}recipes:\n  serviceMonitor: {{port: metrics}}\n");
    let out = render(APP, &config);
    assert_eq!(permissive_ports(&out), ["5555"], "the workload port, not the Service's 9090");
    assert_eq!(open_ports(&out), [json!("5555")]);
}

#[test]
fn datadog_checks_reach_their_ports_through_strict_mtls() {
    let config = format!("{ISTIO}datadog:\n  enabled: true\n  metrics: {{port: 5555}}\n  jmx: {{port: 9016}}\n");
    let out = render(APP, &config);
    assert_eq!(permissive_ports(&out), ["5555", "9016"]);
    assert_eq!(open_ports(&out), [json!("5555"), json!("9016")]);
}

#[test]
fn nothing_scraped_nothing_opened() {
    let out = render(APP, ISTIO);
    assert!(permissive_ports(&out).is_empty());
    assert!(open_ports(&out).is_empty());
}
