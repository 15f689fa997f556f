//! IRSA parity with the EKS pod-identity webhook over its own handler fixtures
//! (`../shared/conformance/eks-pod-identity-webhook/`, copied from
//! aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/testdata/*.pod.yaml`): postwire's
//! pod spec equals the webhook's patched spec on every valid fixture.
//!
//! Each fixture is turned into what a chart would bring: a Deployment with the Pod's spec and
//! annotations, and the ServiceAccount `default` carrying the annotations the upstream test puts
//! on its fake one (`pkg/handler/handler_pod_test.go:82-111`: role-arn, audience, the STS flag or
//! annotation as `sts-regional-endpoints`, the expiration flag or annotation as
//! `token-expiration`). The webhook's `--aws-default-region` flag is `irsa.region`. The expected
//! spec is the fixture's `expectedPatch` applied to its spec, without the `resources: {}` and
//! nulls Go writes for every container it patches (they mean the same as nothing).

mod common;

use std::path::Path;

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};
use serde_json::{json, Map, Value as Json};

const TESTING: &str = "testing.eks.amazonaws.com/";

/// Fixtures that are not valid pods, and why.
const INVALID: [(&str, &str); 1] =
    [("rawPodHasVolumeMount.pod.yaml", "a volumeMount without mountPath, which the API server rejects")];

/// Region flags of the fixtures that are not AWS regions (postwire checks `irsa.region`), each
/// renamed consistently in the flag and the expected patch; the webhook copies the flag
/// verbatim (`pkg/handler/handler.go:230-238`), so the name does not change the behaviour.
const RENAMED_REGIONS: [(&str, &str); 1] = [("seattle", "us-west-2")];

fn pod_of(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap();
    common::documents(&text).into_iter().next().unwrap_or_else(|| panic!("{}: no document", path.display()))
}

fn rename_region(s: &str) -> String {
    RENAMED_REGIONS.iter().fold(s.to_string(), |s, (from, to)| s.replace(&format!("\"{from}\""), &format!("\"{to}\"")))
}

/// The chart's objects and postwire's config for a fixture.
fn request_for(pod: &Json) -> RenderRequestV1 {
    let annotations = pod["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    let testing = |k: &str| annotations.get(&format!("{TESTING}{k}")).and_then(Json::as_str).map(String::from);
    let mut sa_annotations = Map::new();
    let arn = testing("serviceAccount/roleArn").expect("every fixture names a role");
    sa_annotations.insert("eks.amazonaws.com/role-arn".into(), json!(arn));
    if let Some(a) = testing("serviceAccount/audience") {
        sa_annotations.insert("eks.amazonaws.com/audience".into(), json!(a));
    }
    if let Some(s) = testing("serviceAccount/sts-regional-endpoints").or_else(|| testing("handler/injectSTS")) {
        sa_annotations.insert("eks.amazonaws.com/sts-regional-endpoints".into(), json!(s));
    }
    if let Some(e) = testing("serviceAccount/token-expiration").or_else(|| testing("handler/expiration")) {
        sa_annotations.insert("eks.amazonaws.com/token-expiration".into(), json!(e));
    }
    let template_annotations: Map<String, Json> =
        annotations.iter().filter(|(k, _)| !k.starts_with(TESTING)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut template_metadata = json!({"labels": {"app": "fixture"}});
    if !template_annotations.is_empty() {
        template_metadata["annotations"] = Json::Object(template_annotations);
    }
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fixture", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "fixture"}},
                 "template": {"metadata": template_metadata, "spec": pod["spec"]}}});
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "default", "annotations": sa_annotations}});
    let partition = arn.split(':').nth(1).unwrap().to_string();
    // The fake cache reads a missing sts-regional-endpoints as false (`pkg/cache/fake.go`).
    let mut config = format!(
        "irsa:\n  enabled: true\n  inject: true\n  partition: {partition}\n  stsRegionalEndpoints: false\n  roles:\n    default: \"{arn}\"\n"
    );
    if let Some(region) = testing("handler/region") {
        config.push_str(&format!("  region: {}\n", rename_region(&format!("\"{region}\""))));
    }
    let mut request = RenderRequestV1::new(format!("{deployment}\n---\n{account}\n"));
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config });
    request.set = vec!["checksum.enabled=false".into()];
    request
}

/// Without Go's `resources: {}` and null fields.
fn normalised(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .filter(|(k, v)| !(v.is_null() || (k.as_str() == "resources" && v == &&json!({}))))
                .map(|(k, v)| (k.clone(), normalised(v)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(normalised).collect()),
        other => other.clone(),
    }
}

fn expected_spec(pod: &Json) -> Json {
    let patch = pod["metadata"]["annotations"][format!("{TESTING}expectedPatch")].as_str().unwrap();
    let patch: json_patch::Patch = serde_json::from_str(&rename_region(patch)).unwrap();
    let mut doc = json!({"spec": pod["spec"]});
    json_patch::patch(&mut doc, &patch).unwrap();
    normalised(&doc["spec"])
}

#[test]
fn postwire_injects_what_the_webhook_patches_on_every_fixture() {
    let Some(shared) = common::shared("irsa_conformance") else { return };
    let dir = shared.join("conformance/eks-pod-identity-webhook");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".pod.yaml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 18, "the fixtures are missing from {}", dir.display());
    let mut failures = Vec::new();
    for path in &fixtures {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some((_, why)) = INVALID.iter().find(|(f, _)| *f == file) {
            eprintln!("{file}: left out: {why}");
            continue;
        }
        let pod = pod_of(path);
        let out = match postwire_core::render(&request_for(&pod)) {
            Ok(out) => out.manifests,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        let actual = normalised(&common::document(&out, "Deployment", "fixture")["spec"]["template"]["spec"]);
        let expected = expected_spec(&pod);
        if actual != expected {
            failures.push(format!("{file}:\n  webhook:  {expected}\n  postwire: {actual}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures differ:\n{}", failures.len(), fixtures.len(), failures.join("\n"));
}

// What the fixtures do not cover, against the same upstream code.

const ARN: &str = "arn:aws:iam::111122223333:role/s3-reader";

/// The pod spec postwire writes for `spec` (a pod spec in YAML flow style), with `pod_annotations`
/// on the template and `sa_annotations` on the chart's ServiceAccount `app`.
fn injected(spec: &str, pod_annotations: &str, sa_annotations: &str, config_extra: &str) -> Json {
    let manifests = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\nspec:\n  selector: {{matchLabels: {{app: app}}}}\n  template:\n    metadata: {{labels: {{app: app}}, annotations: {{{pod_annotations}}}}}\n    spec: {spec}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: app, annotations: {{{sa_annotations}}}}}\n"
    );
    let config = format!("irsa:\n  enabled: true\n  inject: true\n  roles: {{app: \"{ARN}\"}}\n{config_extra}");
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.clone() });
    let out = postwire_core::render(&request).unwrap_or_else(|e| panic!("{config}: {e}"));
    common::document(&out.manifests, "Deployment", "app")["spec"]["template"]["spec"].clone()
}

fn env_names(container: &Json) -> Vec<String> {
    container["env"].as_array().into_iter().flatten().map(|e| e["name"].as_str().unwrap().to_string()).collect()
}

const ONE: &str = "{serviceAccountName: app, containers: [{name: app, image: app}]}";

#[test]
fn sts_regional_endpoints_is_read_like_go_parse_bool() {
    // pkg/cache/cache.go:238-246: strconv.ParseBool; an invalid value keeps the flag's default.
    for (value, regional) in [
        ("\"1\"", true),
        ("\"t\"", true),
        ("\"TRUE\"", true),
        ("\"True\"", true),
        ("\"0\"", false),
        ("\"F\"", false),
        ("\"yes\"", true),
        ("\"False\"", false),
    ] {
        let spec = injected(ONE, "", &format!("eks.amazonaws.com/sts-regional-endpoints: {value}"), "");
        let has = env_names(&spec["containers"][0]).contains(&"AWS_STS_REGIONAL_ENDPOINTS".to_string());
        // `yes` is no Go bool: the default (irsa.stsRegionalEndpoints, true) applies.
        assert_eq!(has, regional, "sts-regional-endpoints: {value}");
    }
}

#[test]
fn skip_containers_is_one_csv_record_untrimmed() {
    // pkg/handler/handler.go:154-170: encoding/csv, first record, names as written; a record
    // that does not parse skips nothing.
    let two = "{serviceAccountName: app, containers: [{name: a, image: x}, {name: b, image: x}]}";
    let injected_into = |annotation: &str| -> Vec<bool> {
        let spec = injected(two, &format!("eks.amazonaws.com/skip-containers: {annotation}"), "", "");
        spec["containers"].as_array().unwrap().iter().map(|c| !env_names(c).is_empty()).collect()
    };
    assert_eq!(injected_into("\"a,b\""), [false, false]);
    assert_eq!(injected_into("\"a, b\""), [false, true], "` b` is not `b`");
    assert_eq!(injected_into("'\"a,b\",c'"), [true, true], "one quoted name `a,b`");
    assert_eq!(injected_into("'a\"b'"), [true, true], "a bare quote fails the record: nothing is skipped");
}

#[test]
fn beta_os_label_selects_the_windows_token_path() {
    // pkg/handler/handler.go:314-321.
    let spec = injected(
        "{serviceAccountName: app, nodeSelector: {beta.kubernetes.io/os: windows}, containers: [{name: app, image: x}]}",
        "",
        "",
        "",
    );
    let file = spec["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "AWS_WEB_IDENTITY_TOKEN_FILE")
        .unwrap()["value"]
        .clone();
    assert_eq!(file, r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token");
}

#[test]
fn the_token_volume_is_added_when_every_container_is_skipped() {
    // pkg/handler/handler.go:386-413: the volume depends only on its name being free.
    let spec = injected(ONE, "eks.amazonaws.com/skip-containers: app", "", "");
    assert_eq!(spec["volumes"][0]["name"], "aws-iam-token");
    assert!(env_names(&spec["containers"][0]).is_empty());
}

#[test]
fn a_container_with_every_variable_is_left_alone() {
    // pkg/handler/handler.go:212-217: web identity, region and STS variables all present:
    // no variable and no mount.
    let spec = injected(
        "{serviceAccountName: app, containers: [{name: app, image: x, env: [{name: AWS_ROLE_ARN, value: r}, {name: AWS_REGION, value: eu-west-1}, {name: AWS_STS_REGIONAL_ENDPOINTS, value: regional}]}]}",
        "",
        "",
        "  region: us-east-1\n",
    );
    assert!(spec["containers"][0].get("volumeMounts").is_none(), "{spec}");
    assert_eq!(env_names(&spec["containers"][0]).len(), 3);
}

#[test]
fn token_expiration_annotations_are_clamped_like_the_webhook() {
    // pkg/cache/cache.go:248-255 and pkg/handler/handler.go:296-303: strconv.ParseInt, then at
    // least 600 (pkg/validation.go:68).
    let spec = injected(ONE, "eks.amazonaws.com/token-expiration: \"-5\"", "", "");
    assert_eq!(spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 600);
    let spec = injected(ONE, "", "eks.amazonaws.com/token-expiration: \"-1\"", "");
    assert_eq!(spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 600);
}

#[test]
fn iso_and_eusc_partitions_and_regions_are_accepted() {
    // main.go:162-176: us-iso-* → aws-iso, us-isob-* → aws-iso-b, eusc-* → aws-eusc.
    for (partition, region) in
        [("aws-iso", "us-iso-east-1"), ("aws-iso-b", "us-isob-east-1"), ("aws-eusc", "eusc-de-east-1")]
    {
        let arn = format!("arn:{partition}:iam::111122223333:role/app");
        let mut request = RenderRequestV1::new(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  selector: {matchLabels: {app: app}}\n  template:\n    metadata: {labels: {app: app}}\n    spec: {serviceAccountName: app, containers: [{name: app, image: x}]}\n",
        );
        let config = format!("irsa:\n  enabled: true\n  inject: true\n  partition: {partition}\n  region: {region}\n  roles: {{app: \"{arn}\"}}\n");
        request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config });
        let out = postwire_core::render(&request).unwrap_or_else(|e| panic!("{partition}: {e}"));
        let sa = common::document(&out.manifests, "ServiceAccount", "app");
        assert_eq!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], arn.as_str());
    }
}
