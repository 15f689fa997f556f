//! Istio picks a Service port's protocol from its `appProtocol` when it has one, and only then
//! from the port name: an `appProtocol` Istio does not know makes it sniff the protocol, whatever
//! the name says (istio/istio@86c9f01f `pkg/config/kube/conversion.go:48-90`: `name = *appProto`,
//! then the prefix before `-`, then `protocol.Parse`, `pkg/config/protocol/instance.go:68-99`).

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};
use postwire_core::wiring::istio::config::Protocol;

#[test]
fn an_unknown_app_protocol_does_not_fall_back_to_the_name() {
    assert_eq!(Protocol::detect(Some("example.com/custom"), Some("http-web")), None);
    assert_eq!(Protocol::detect(Some("kubernetes.io/ws"), Some("tcp")), Some(Protocol::Websocket));
    // The appProtocol is parsed like a name: prefix before `-`.
    assert_eq!(Protocol::detect(Some("grpc-web"), None), Some(Protocol::GrpcWeb));
    assert_eq!(Protocol::detect(Some("http-alt"), Some("tcp")), Some(Protocol::Http));
    assert_eq!(Protocol::detect(None, Some("http-web")), Some(Protocol::Http));
    // Kubernetes' own names are appProtocol values only.
    assert_eq!(Protocol::detect(None, Some("kubernetes.io/h2c")), None);
}

#[test]
fn the_report_says_istio_sniffs_a_port_whose_app_protocol_it_does_not_know() {
    let manifests = "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  selector: {app: api}\n  ports:\n  - {name: http-web, port: 80, appProtocol: example.com/custom}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n      - {name: api, image: api:1}\n";
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 {
        name: "postwire.yaml".into(),
        content: "istio:\n  enabled: true\n  services:\n    - name: api\n      port: http-web\n".into(),
    });
    let out = postwire_core::render(&request).unwrap();
    assert!(
        out.manifests.contains("appProtocol: example.com/custom"),
        "the chart's appProtocol stays:\n{}",
        out.manifests
    );
    let notes: Vec<&str> =
        out.report.documents.iter().flat_map(|d| d.notes.iter()).map(|n| n.message.as_str()).collect();
    assert!(notes.iter().any(|n| n.contains("sniff") && n.contains("example.com/custom")), "{notes:?}");
}
