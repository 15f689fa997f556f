//! Every example's finished output passes the cross-object check under `--strict`: no finding
//! at all, error or warning, over each `examples/*/expected*.yaml`.

use std::path::PathBuf;

#[test]
fn every_example_is_clean_under_strict() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut outputs = Vec::new();
    for dir in std::fs::read_dir(&examples).unwrap() {
        let dir = dir.unwrap().path();
        for file in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("expected") && name.ends_with(".yaml") {
                outputs.push(path);
            }
        }
    }
    outputs.sort();
    assert!(outputs.len() >= 6, "found only {outputs:?}");
    let mut findings = Vec::new();
    for path in &outputs {
        let text = std::fs::read_to_string(path).unwrap();
        for f in postwire_core::check::check(&text, None).unwrap() {
            findings.push(format!("{}: {}", path.strip_prefix(&examples).unwrap().display(), f.line()));
        }
    }
    assert!(findings.is_empty(), "findings over the examples:\n{}", findings.join("\n"));
}

/// robot-shop's callers are the ones its containers name (`nc -z redis 6379` in cart's
/// wait-for-redis init container): its NetworkPolicies are judged against them, so a policy
/// that drops one of them is reported.
#[test]
fn robot_shop_callers_are_judged() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/robot-shop/expected.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let cart_peer =
        "    - podSelector:\n        matchLabels:\n          app: \"cart\"\n    ports:\n    - port: \"redis\"";
    assert_eq!(text.matches(cart_peer).count(), 1, "redis-callers admits cart once");
    let without_cart = text.replace(cart_peer, "    ports:\n    - port: \"redis\"");
    let findings: Vec<String> = postwire_core::check::check(&without_cart, None)
        .unwrap()
        .iter()
        .filter(|f| f.rule == "network-policy-blocks-caller")
        .map(|f| f.line())
        .collect();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].contains("StatefulSet/redis") || findings[0].contains("/redis "), "{findings:?}");
    assert!(findings[0].contains("Deployment/cart"), "{findings:?}");
}
