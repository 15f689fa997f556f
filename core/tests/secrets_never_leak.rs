//! A value planted in a Secret never reaches a message or a report, whatever wiring fails on
//! it: patch `test` operations (failing, or skipped with a note), template filters, checksum
//! and config errors, KRM `results`.

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const MARKER: &str = "Planted-S3cret-Marker-91";
const MARKER_B64: &str = "UGxhbnRlZC1TM2NyZXQtTWFya2VyLTkx";

fn stream() -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  token: {MARKER}\ndata:\n  key: {MARKER_B64}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        envFrom:\n        - secretRef: {{name: db}}\n"
    )
}

fn request(manifests: &str, config: &str) -> RenderRequestV1 {
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    request
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(MARKER) && !text.contains(MARKER_B64), "{what} leaks the Secret value:\n{text}");
}

#[test]
fn failed_and_skipped_patch_tests_do_not_quote_secret_values() {
    for pointer in ["/stringData/token", "/data/key"] {
        let config = format!(
            "patches:\n- target: {{kind: Secret}}\n  patch: [{{op: test, path: {pointer}, value: expected}}]\n"
        );
        let err = postwire_core::render(&request(&stream(), &config)).unwrap_err().to_string();
        assert!(err.contains("(test) failed"), "{err}");
        assert_clean("the failed test's error", &err);

        let skip = format!("{config}  onTestFailure: skip\n");
        let out = postwire_core::render(&request(&stream(), &skip)).unwrap();
        let report = out.report.to_versioned_json();
        assert!(report.contains("(test) failed"), "{report}");
        assert_clean("the report", &report);
    }
}

/// Values too short for the message scrubber (two characters) are not quoted either.
#[test]
fn failed_tests_on_secrets_never_say_what_they_found() {
    let input = stream().replace("  token: ", "  pin: \"Q7\"\n  token: ");
    let config = "patches:\n- target: {kind: Secret}\n  patch: [{op: test, path: /stringData/pin, value: \"00\"}]\n";
    let err = postwire_core::render(&request(&input, config)).unwrap_err().to_string();
    assert!(err.contains("/stringData/pin is a value not shown") && !err.contains("Q7"), "{err}");
}

#[test]
fn template_filter_errors_do_not_quote_secret_values() {
    let config = "patches:\n- target: {kind: Secret}\n  template: \"metadata: {labels: {n: {{ object.stringData.token | int }}}}\"\n";
    let got = postwire_core::render(&request(&stream(), config));
    let text = match got {
        Ok(out) => out.report.to_versioned_json() + &out.manifests.replace(&stream(), ""),
        Err(e) => e.to_string(),
    };
    assert_clean("the template's error", &text);
    let quoted = "patches:\n- target: {kind: Secret}\n  template: \"{{ fail(object.stringData.token) }}\"\n";
    if let Err(e) = postwire_core::render(&request(&stream(), quoted)) {
        assert_clean("the template's error", &e.to_string());
    }
}

#[test]
fn config_errors_do_not_quote_secret_values() {
    let config = format!("checksum:\n  mode: {MARKER}\n");
    let err = postwire_core::render(&request(&stream(), &config)).unwrap_err().to_string();
    assert_clean("the config error", &err);
}

#[test]
fn krm_results_do_not_quote_secret_values() {
    let list = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: db}}\n  stringData: {{token: {MARKER}}}\nfunctionConfig:\n  apiVersion: postwire.dev/v1alpha1\n  kind: PostwireConfig\n  patches:\n  - target: {{kind: Secret}}\n    patch: [{{op: test, path: /stringData/token, value: x}}]\n    onTestFailure: skip\n"
    );
    let out = postwire_core::render_response(&RenderRequestV1::new(list)).unwrap();
    let results = out.manifests.split("results:").nth(1).expect("results").to_string();
    assert!(results.contains("(test) failed"), "{results}");
    assert_clean("the KRM results", &results);
    assert_clean("the report", &out.report.to_versioned_json());
}
