//! Mistakes that used to pass silently now reach the user, the way a selector that matches
//! nothing does: an IRSA `roles:` key no ServiceAccount answers to (an error), a `zoneSpread` on a
//! single replica (a warning), a checksum beside the chart's own `checksum/*` annotation (a
//! warning saying how to keep only one).

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata:\n      labels: {app: api}\n      annotations: {checksum/config: 0123abcd}\n    spec:\n      serviceAccountName: api\n      containers:\n      - name: api\n        image: api:1\n        envFrom: [{configMapRef: {name: api}}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: api}\ndata: {a: b}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: api}\n";

fn render(manifests: &str, config: &str) -> Result<postwire_core::RenderOutput, String> {
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    postwire_core::render(&request).map_err(|e| e.to_string())
}

fn warnings(out: &postwire_core::RenderOutput) -> Vec<String> {
    out.report
        .documents
        .iter()
        .flat_map(|d| d.notes.iter())
        .filter(|n| format!("{:?}", n.level) == "Warning")
        .map(|n| n.message.clone())
        .collect()
}

#[test]
fn an_irsa_role_for_no_service_account_is_an_error() {
    let config = "checksum: {enabled: false}\nirsa:\n  enabled: true\n  roles:\n    api: \"arn:aws:iam::123456789012:role/api\"\n    apii: \"arn:aws:iam::123456789012:role/typo\"\n";
    let err = render(APP, config).expect_err("a role for no ServiceAccount");
    assert!(err.contains("irsa.roles.apii") && err.contains("api"), "{err}");
    let fine = "checksum: {enabled: false}\nirsa:\n  enabled: true\n  roles:\n    api: \"arn:aws:iam::123456789012:role/api\"\n";
    render(APP, fine).unwrap();
}

#[test]
fn zone_spread_on_one_replica_is_a_warning() {
    let out = render(APP, "checksum: {enabled: false}\nrecipes:\n  zoneSpread: {}\n").unwrap();
    assert!(warnings(&out).iter().any(|w| w.contains("zoneSpread") && w.contains("1 replica")), "{:?}", warnings(&out));
    let three = APP.replace("replicas: 1", "replicas: 3");
    let out = render(&three, "checksum: {enabled: false}\nrecipes:\n  zoneSpread: {}\n").unwrap();
    assert!(!warnings(&out).iter().any(|w| w.contains("zoneSpread")), "{:?}", warnings(&out));
}

#[test]
fn a_checksum_beside_the_charts_own_is_a_warning() {
    let out = render(APP, "checksum: {enabled: true}\n").unwrap();
    let w = warnings(&out);
    assert!(w.iter().any(|w| w.contains("checksum/config") && w.contains("onExisting: skip")), "{w:?}");
    let out = render(
        &APP.replace("annotations: {checksum/config: 0123abcd}", "annotations: {}"),
        "checksum: {enabled: true}\n",
    )
    .unwrap();
    assert!(!warnings(&out).iter().any(|w| w.contains("onExisting")), "{:?}", warnings(&out));
}
