//! A namespace written empty (`namespace: ""`, as a chart renders `{{ .Values.namespace |
//! quote }}` with no value, or an empty tagged scalar) is no namespace: the API server gives
//! the object the request's. Rendering such a stream with every wiring and rendering the
//! output again changes nothing; the wirings fuzz target found a second Rollout, PodDisruption-
//! Budget and ServiceAccount generated on the second render.

use postwire_core::testing::wirings_config;
use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

fn render(text: &str, config: &str) -> String {
    let mut request = RenderRequestV1::new(text);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    postwire_core::render(&request).unwrap_or_else(|e| panic!("{e}\n--- input\n{text}")).manifests
}

#[test]
fn an_empty_namespace_renders_once_and_for_all() {
    let config = wirings_config(0xff);
    for namespace in ["\"\"", "''", "!hop", "!hop \"\""] {
        let stream = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: admin\n  namespace: {namespace}\nspec:\n  \
             selector: {{app: admin}}\n  ports:\n  - {{name: http, port: 80}}\n---\napiVersion: apps/v1\n\
             kind: Deployment\nmetadata:\n  name: admin\n  namespace: {namespace}\nspec:\n  replicas: 2\n  \
             selector:\n    matchLabels: {{app: admin}}\n  template:\n    metadata:\n      labels: {{app: admin}}\n    \
             spec:\n      containers:\n      - name: admin\n        image: admin:3\n        ports:\n        \
             - {{name: http, containerPort: 80}}\n"
        );
        let first = render(&stream, &config);
        let second = render(&first, &config);
        assert!(
            second == first,
            "namespace {namespace}: a second render changes the output\n--- first\n{first}\n--- second\n{second}"
        );
        assert!(!first.contains("namespace: \"None\""), "{first}");
    }
}
