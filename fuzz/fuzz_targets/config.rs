//! Config parsing: any UTF-8 text as a `--config` file (first byte even) or as `--set` lines
//! (first byte odd), rendered over a small stream. It never panics; every failure is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const STREAM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      serviceAccountName: web\n      containers:\n      - name: app\n        image: web:1\n        ports: [{name: http, containerPort: 8080}]\n        envFrom: [{configMapRef: {name: c}}]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut request = RenderRequestV1::new(STREAM);
    if pick & 1 == 0 {
        request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: text.into() });
    } else {
        request.set = text.lines().map(str::to_string).collect();
    }
    request.context.env.insert("ARGOCD_ENV_TEAM".into(), "payments".into());
    let _ = postwire_core::render(&request);
});
