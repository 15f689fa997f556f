//! Argo CD parameters, as `postwire argocd generate` reads them: any text as
//! `ARGOCD_APP_PARAMETERS` (first byte even) or as `NAME=VALUE` lines of `PARAM_*` and
//! `ARGOCD_ENV_*` variables (first byte odd), then the parameters' `set` entries and the
//! application's variables over a platform config that uses `${ARGOCD_ENV_TEAM}`. It never
//! panics; a render that succeeds holds every input document.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use postwire_core::argocd::{context_env, parameters};
use postwire_core::stream::Stream;
use postwire_core::wire::{ConfigFileV1, InputFormat, RenderRequestV1};

const STREAM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: app\n        image: web:1\n        envFrom: [{configMapRef: {name: c}}]\n";

const PLATFORM: &str = "values:\n  team: ${ARGOCD_ENV_TEAM:-platform}\n  app: ${ARGOCD_APP_NAME:-none}\ntemplates:\n- name: team\n  template: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: team\n    data:\n      team: {{ values.team }}\n      app: {{ values.app | quote }}\n";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut env = BTreeMap::new();
    if pick & 1 == 0 {
        env.insert("ARGOCD_APP_PARAMETERS".to_string(), text.to_string());
    } else {
        for line in text.lines() {
            if let Some((name, value)) = line.split_once('=') {
                env.insert(name.to_string(), value.to_string());
            }
        }
    }
    let Ok(params) = parameters(&env) else { return };
    let mut request = RenderRequestV1::new(STREAM);
    request.input = InputFormat::Manifests;
    request.context.env = context_env(env);
    request.set = params.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    request.config = Some(ConfigFileV1 { name: "platform.yaml".into(), content: PLATFORM.into() });
    let Ok(out) = postwire_core::render(&request) else { return };
    let kept = Stream::split(&out.manifests).segments.iter().filter(|s| s.has_content).count();
    assert!(kept + out.report.summary.removed >= 2, "documents lost\n--- output\n{}", out.manifests);
});
