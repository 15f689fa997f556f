//! The oracle for the expectations that transcribe what the EKS pod-identity webhook does is
//! its source at commit 3bf80a348116483b2162190e43232e4d243f76c4
//! (`aws/amazon-eks-pod-identity-webhook@3bf80a34`), cited `path:line` next to each one.

use crate::wire::RenderRequestV1;
use crate::wiring::test_support::{render_err, render_idempotent};

/// A request in the release `chat`.
fn request(manifests: &str, config: &str) -> RenderRequestV1 {
    let mut request = crate::wiring::test_support::request(manifests, config);
    request.context.release_name = Some("chat".into());
    request
}

const APP: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: livechat
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: livechat
spec:
  template:
    spec:
      serviceAccountName: livechat
      initContainers:
      - name: migrate
        image: livechat:1
      containers:
      - name: app
        image: livechat:1
        env:
        - name: A
          value: b
      volumes:
      - name: data
        emptyDir: {}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      containers:
      - name: job
        image: job:1
";

const BASE: &str = "checksum: {enabled: false}\nirsa:\n  enabled: true\n  accountId: \"123456789012\"\n";

/// The render of `BASE` plus `extra`, which must succeed and be idempotent.
fn ok(manifests: &str, extra: &str) -> crate::engine::RenderOutput {
    render_idempotent(&request(manifests, &format!("{BASE}{extra}")))
}

fn err(manifests: &str, config: &str) -> String {
    render_err(&request(manifests, config))
}

/// The names of a container's env, in order (document `doc`, first workload container list `list`).
fn env_of(out: &str, doc: usize, list: &str, index: usize) -> Vec<String> {
    let text = out.split("\n---\n").nth(doc).unwrap();
    let tree = crate::yaml::Tree::parse(text, 0).unwrap();
    let root = tree.root().unwrap();
    let spec = tree.path(root, &["spec", "template", "spec"]).unwrap();
    let c = tree.items(tree.get(spec, list).unwrap())[index];
    tree.get(c, "env")
        .map(|e| tree.items(e).iter().map(|&i| tree.str_at(i, &["name"]).unwrap().to_string()).collect())
        .unwrap_or_default()
}

const ROLE: &str = "arn:aws:iam::123456789012:role/livechat";

#[test]
fn service_account_gets_the_webhook_annotations() {
    let out = ok(APP, &format!("  roles: {{livechat: \"{ROLE}\"}}\n"));
    // The annotation names: prefix `eks.amazonaws.com`
    // (aws/amazon-eks-pod-identity-webhook@3bf80a34 `main.go:78`) and keys
    // (`pkg/annotations.go:19-25`); the default audience (`main.go:79`) and expiration
    // (`pkg/constants.go:21`).
    assert!(out.manifests.starts_with(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  annotations:\n    eks.amazonaws.com/role-arn: \"{ROLE}\"\n    eks.amazonaws.com/audience: \"sts.amazonaws.com\"\n    eks.amazonaws.com/sts-regional-endpoints: \"true\"\n    eks.amazonaws.com/token-expiration: \"86400\"\n  name: livechat\n---\n"
    )), "{}", out.manifests);
    // Without inject the pods are left to the webhook.
    assert!(!out.manifests.contains("AWS_ROLE_ARN"));
    // The Job runs as `default`, which has no role: nothing for it.
    assert!(!out.manifests.contains("once\"\n"));
}

#[test]
fn inject_writes_the_webhook_names_values_and_order() {
    let out = ok(APP, &format!("  roles: {{livechat: \"{ROLE}\"}}\n  region: us-east-1\n  inject: true\n"));
    // Names, values and order of the variables
    // (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/handler.go:222-265`);
    // init containers too (`pkg/handler/handler.go:325-334`).
    let want = [
        "AWS_STS_REGIONAL_ENDPOINTS",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ];
    assert_eq!(env_of(&out.manifests, 1, "initContainers", 0), want);
    // Appended after the user's variables (`pkg/handler/handler.go:220-223`: `append(env, ...)`).
    let mut user = vec!["A".to_string()];
    user.extend(want.iter().map(|s| s.to_string()));
    assert_eq!(env_of(&out.manifests, 1, "containers", 0), user);
    let m = &out.manifests;
    assert!(m.contains("        - name: \"AWS_STS_REGIONAL_ENDPOINTS\"\n          value: \"regional\"\n        - name: \"AWS_DEFAULT_REGION\"\n          value: \"us-east-1\"\n        - name: \"AWS_REGION\"\n          value: \"us-east-1\"\n"), "{m}");
    // The token file is the mount path joined with `token` (`pkg/handler/handler.go:96-98,312`).
    assert!(m.contains(&format!("- name: \"AWS_ROLE_ARN\"\n          value: \"{ROLE}\"\n        - name: \"AWS_WEB_IDENTITY_TOKEN_FILE\"\n          value: \"/var/run/secrets/eks.amazonaws.com/serviceaccount/token\"\n")), "{m}");
    // The mount: `pkg/handler/handler.go:276-281`; the volume name `pkg/handler/handler.go:97`.
    assert!(m.contains("- name: \"aws-iam-token\"\n            readOnly: true\n            mountPath: \"/var/run/secrets/eks.amazonaws.com/serviceaccount\"\n"), "{m}");
    // The volume goes first, before the chart's (`/spec/volumes/0`,
    // `pkg/handler/handler.go:394-399`); its projection `pkg/handler/handler.go:347-362`.
    assert!(m.contains("      volumes:\n      - name: \"aws-iam-token\"\n        projected:\n          sources:\n            - serviceAccountToken:\n                audience: \"sts.amazonaws.com\"\n                expirationSeconds: 86400\n                path: \"token\"\n      - name: data\n"), "{m}");
    // Without stsRegionalEndpoints and region only the two role variables
    // (`pkg/handler/handler.go:222`, `:230`).
    let out = ok(APP, &format!("  roles: {{livechat: \"{ROLE}\"}}\n  inject: true\n  stsRegionalEndpoints: false\n"));
    assert_eq!(env_of(&out.manifests, 1, "initContainers", 0), ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]);
    assert!(out.manifests.contains("eks.amazonaws.com/sts-regional-endpoints: \"false\""));
}

#[test]
fn skip_rules_match_the_webhook() {
    let with = |env: &str| APP.replace("        - name: A\n          value: b\n", env);
    let cfg = format!("  roles: {{livechat: \"{ROLE}\"}}\n  region: us-east-1\n  inject: true\n");
    // Either role variable present: neither is added
    // (aws/amazon-eks-pod-identity-webhook@3bf80a34
    // `pkg/handler/handler.go:179-182,193-196,254`).
    let out = ok(&with("        - name: AWS_WEB_IDENTITY_TOKEN_FILE\n          value: /mine\n"), &cfg);
    assert_eq!(
        env_of(&out.manifests, 1, "containers", 0),
        ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_DEFAULT_REGION", "AWS_REGION"]
    );
    // Either region variable present: neither is added
    // (`pkg/handler/handler.go:187-190,201-205,230`).
    let out = ok(&with("        - name: AWS_REGION\n          value: eu-west-1\n"), &cfg);
    assert_eq!(
        env_of(&out.manifests, 1, "containers", 0),
        ["AWS_REGION", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
    );
    // skip-containers leaves the named container alone: the first CSV record, fields untrimmed
    // (`pkg/handler/handler.go:154-170`), for init containers and containers
    // (`pkg/handler/handler.go:328-329,339-340`); ` other` names no container here.
    let skip = APP.replace("    spec:\n      serviceAccountName", "    metadata:\n      annotations:\n        eks.amazonaws.com/skip-containers: \"migrate, other\"\n    spec:\n      serviceAccountName");
    let out = ok(&skip, &cfg);
    assert!(env_of(&out.manifests, 1, "initContainers", 0).is_empty());
    assert_eq!(env_of(&out.manifests, 1, "containers", 0).len(), 6);
    // The pod label the webhook's objectSelector skips (`deploy/mutatingwebhook.yaml:15-18`).
    let label = APP.replace("    spec:\n      serviceAccountName", "    metadata:\n      labels:\n        eks.amazonaws.com/skip-pod-identity-webhook: \"true\"\n    spec:\n      serviceAccountName");
    assert!(!ok(&label, &cfg).manifests.contains("AWS_ROLE_ARN"));
    // A mount or volume of the webhook's name is the user's: not added again
    // (`pkg/handler/handler.go:269-276` for the mount, `:386-394` for the volume).
    let mine = APP.replace("        - name: A\n          value: b\n", "        - name: A\n          value: b\n        volumeMounts:\n        - name: aws-iam-token\n          mountPath: /var/run/secrets/eks.amazonaws.com/serviceaccount\n").replace("      - name: data\n", "      - name: aws-iam-token\n        emptyDir: {}\n      - name: data\n");
    let out = ok(&mine, &cfg);
    assert_eq!(out.manifests.matches("name: aws-iam-token").count(), 2);
    assert_eq!(out.manifests.matches("\"aws-iam-token\"").count(), 1, "only the init container's mount is added");
    // Another mount at the webhook's path: a warning, no second mount. Not the webhook's
    // behaviour: it checks the mount's name only (`pkg/handler/handler.go:269-276`) and would add
    // a second mount at the path, which the API server rejects.
    let clash = APP.replace("        - name: A\n          value: b\n", "        - name: A\n          value: b\n        volumeMounts:\n        - name: token\n          mountPath: /var/run/secrets/eks.amazonaws.com/serviceaccount\n");
    let out = ok(&clash, &cfg);
    assert!(
        out.report.warnings().iter().any(|w| w.contains("container app mounts `token` at /var/run/secrets/eks.amazonaws.com/serviceaccount: a second mount at that path would get the pod rejected, so `aws-iam-token` is not mounted")),
        "{:?}",
        out.report.warnings()
    );
}

#[test]
fn the_charts_annotations_win_and_injection_follows_them() {
    let chart = APP.replacen("metadata:\n  name: livechat\n", "metadata:\n  name: livechat\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/theirs\n    eks.amazonaws.com/token-expiration: \"3600\"\n", 1);
    let out = ok(&chart, &format!("  roles: {{livechat: \"{ROLE}\"}}\n  inject: true\n"));
    // The webhook reads the account's role-arn and token-expiration annotations
    // (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/cache/cache.go:218-230,248-255`).
    assert!(out.manifests.contains("value: \"arn:aws:iam::123456789012:role/theirs\""));
    assert!(out.manifests.contains("expirationSeconds: 3600"));
    assert!(!out.manifests.contains(ROLE));
    assert!(out.report.warnings().iter().any(|w| w.contains("kept the chart's annotation eks.amazonaws.com/role-arn")));
    // The pod's token-expiration annotation overrides the account's, at least 600
    // (`pkg/handler/handler.go:295-303`, `pkg/validation.go:68-73`, `pkg/constants.go:25`).
    let pod = APP.replace("    spec:\n      serviceAccountName", "    metadata:\n      annotations:\n        eks.amazonaws.com/token-expiration: \"100\"\n    spec:\n      serviceAccountName");
    assert!(ok(&pod, &format!("  roles: {{livechat: \"{ROLE}\"}}\n  inject: true\n"))
        .manifests
        .contains("expirationSeconds: 600"));
    // Windows nodes get the Windows token path (`pkg/handler/handler.go:314-321`).
    let win = APP.replace(
        "      serviceAccountName: livechat\n",
        "      serviceAccountName: livechat\n      nodeSelector:\n        kubernetes.io/os: windows\n",
    );
    assert!(ok(&win, &format!("  roles: {{livechat: \"{ROLE}\"}}\n  inject: true\n"))
        .manifests
        .contains(r#"value: "C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount\\token""#));
}

#[test]
fn role_names_patterns_and_dedicated_service_accounts() {
    let out = ok(APP, "  roleName: \"{release}-{namespace}-{serviceAccount}\"\n  createServiceAccount: true\n  fsGroup: 65534\n  partition: aws-cn\n  roles: {livechat: team/livechat}\n".replace("{namespace}-", "").as_str());
    let m = &out.manifests;
    assert!(m.contains("eks.amazonaws.com/role-arn: \"arn:aws-cn:iam::123456789012:role/team/livechat\""), "{m}");
    // The Job ran as `default`: it gets its own ServiceAccount, named after it, with the pattern's role.
    assert!(m.contains("      serviceAccountName: \"once\"\n      securityContext:\n        fsGroup: 65534\n"), "{m}");
    assert!(m.ends_with("---\napiVersion: \"v1\"\nkind: \"ServiceAccount\"\nmetadata:\n  name: \"once\"\n  annotations:\n    eks.amazonaws.com/role-arn: \"arn:aws-cn:iam::123456789012:role/chat-once\"\n    eks.amazonaws.com/audience: \"sts.amazonaws.com\"\n    eks.amazonaws.com/sts-regional-endpoints: \"true\"\n    eks.amazonaws.com/token-expiration: \"86400\"\n    postwire.dev/generated-by: \"irsa\"\n"), "{m}");
    // A chart-set fsGroup wins.
    let fs = APP.replace(
        "      serviceAccountName: livechat\n",
        "      serviceAccountName: livechat\n      securityContext:\n        fsGroup: 1000\n",
    );
    let out = ok(&fs, &format!("  roles: {{livechat: \"{ROLE}\"}}\n  fsGroup: 65534\n"));
    assert!(!out.manifests.contains("65534"));
    // {namespace} without a namespace known is an error naming the workload.
    let e = err(APP, &format!("{BASE}  roleName: \"{{namespace}}-{{serviceAccount}}\"\n"));
    assert!(e.contains("uses {namespace}, which is not known here") && e.contains("Deployment"), "{e}");
}

#[test]
fn selection_and_per_object_overrides() {
    let off = APP.replacen(
        "kind: Deployment\nmetadata:\n  name: livechat\n",
        "kind: Deployment\nmetadata:\n  name: livechat\n  annotations:\n    postwire.dev/irsa: \"false\"\n",
        1,
    );
    assert!(!ok(&off, &format!("  roles: {{livechat: \"{ROLE}\"}}\n")).manifests.contains("role-arn"));
    let role = APP.replacen(
        "kind: Deployment\nmetadata:\n  name: livechat\n",
        "kind: Deployment\nmetadata:\n  name: livechat\n  annotations:\n    postwire.dev/irsa-role: special\n",
        1,
    );
    assert!(ok(&role, &format!("  roles: {{livechat: \"{ROLE}\"}}\n")).manifests.contains("role/special\""));
    let out = ok(APP, &format!("  roles: {{livechat: \"{ROLE}\"}}\n  workloads: [{{kind: Job}}]\n"));
    assert!(!out.manifests.contains("role-arn"), "the Job's account has no role; the Deployment is not selected");
    let e = err(APP, &format!("{BASE}  workloads: [{{name: nothing}}]\n"));
    assert!(e.contains("irsa.workloads[0] (any kind nothing) matches no workload"), "{e}");
    let bad = APP.replacen(
        "kind: Deployment\nmetadata:\n  name: livechat\n",
        "kind: Deployment\nmetadata:\n  name: livechat\n  annotations:\n    postwire.dev/irsa: \"yes\"\n",
        1,
    );
    assert!(err(&bad, BASE).contains("postwire.dev/irsa"));
}

#[test]
fn pod_identity_writes_the_service_account_only() {
    let out =
        ok(APP, &format!("  podIdentity: true\n  createServiceAccount: true\n  roles: {{livechat: \"{ROLE}\"}}\n"));
    assert!(!out.manifests.contains("eks.amazonaws.com/"));
    assert!(out.manifests.contains("kind: \"ServiceAccount\"\nmetadata:\n  name: \"once\"\n  annotations:\n    postwire.dev/generated-by: \"irsa\"\n"));
    let notes: Vec<String> =
        out.report.documents.iter().flat_map(|d| d.notes.iter().map(|n| n.message.clone())).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("aws eks create-pod-identity-association") && n.contains("--service-account livechat")),
        "{notes:?}"
    );
}

#[test]
fn bad_config_is_a_clear_error_at_its_line() {
    for (config, want) in [
        ("  roles: {a: \"arn:aws:iam::12345:role/x\"}\n", "postwire.yaml line 5, column 14: invalid config: irsa.roles.a: `arn:aws:iam::12345:role/x` is not an IAM role ARN: the account ID `12345` is not 12 digits"),
        ("  roles: {a: \"arn:aws-xx:iam::123456789012:role/x\"}\n", "unknown partition `aws-xx`"),
        ("  roles: {a: \"arn:aws:s3::123456789012:role/x\"}\n", "the service is `s3`, not `iam`"),
        ("  roles: {a: \"arn:aws:iam::123456789012:user/x\"}\n", "`user/x` is not a role"),
        ("  roles: {a: \"arn:aws-cn:iam::123456789012:role/x\"}\n", "is in partition `aws-cn`, but irsa.partition is `aws`"),
        ("  roles: {a: \"bad name!\"}\n", "`bad name!` is not an IAM role name"),
        ("  roleName: \"{release}-{sa}\"\n", "unknown placeholder `{sa}`"),
        // The webhook's minimum
        // (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/constants.go:25`).
        ("  tokenExpiration: 60\n", "irsa.tokenExpiration: token expiration 60 is below 600"),
        ("  inject: maybe\n", "irsa.inject: expected a boolean (true or false), found `maybe`"),
        // The partitions the webhook knows
        // (aws/amazon-eks-pod-identity-webhook@3bf80a34 `main.go:162-176`).
        ("  partition: aws-eu\n", "unknown value `aws-eu`, expected `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b` or `aws-eusc`"),
        ("  region: useast1\n", "`useast1` is not an AWS region"),
        ("  podIdentity: true\n  inject: true\n", "EKS Pod Identity does not use"),
        ("  tokenExpiration: soon\n", "expected a non-negative integer"),
    ] {
        let e = err(APP, &format!("{BASE}{config}"));
        assert!(e.contains(want), "{config}: {e}");
    }
    let e = err(APP, "irsa:\n  enabled: true\n  accountId: \"12345678901\"\n");
    assert!(
        e.starts_with(
            "postwire.yaml line 3, column 14: invalid config: irsa.accountId: `12345678901` is not an AWS account ID"
        ),
        "{e}"
    );
    let e = err(APP, "irsa:\n  enabled: true\n  roles: {a: x}\n");
    assert!(e.contains("needs irsa.accountId"), "{e}");
}

#[test]
fn arns_and_role_names_parse() {
    let arn = super::parse_arn("arn:aws-us-gov:iam::000000000001:role/a/b/svc+x=y,z.@-_").unwrap();
    assert_eq!(
        (arn.partition.as_str(), arn.account.as_str(), arn.path.as_str(), arn.name.as_str()),
        ("aws-us-gov", "000000000001", "/a/b/", "svc+x=y,z.@-_")
    );
    assert!(super::check_role_name(&"r".repeat(64)).is_ok());
    assert!(super::check_role_name(&"r".repeat(65)).unwrap_err().contains("65 characters"));
    assert!(super::parse_arn("arn:aws:iam:us-east-1:123456789012:role/x").unwrap_err().contains("no region"));
}

/// `{release}` without a release name (Helm passes none to a post-renderer) says how to pass it
/// under Helm and on the command line, and does not claim Helm passes it.
#[test]
fn release_placeholder_without_a_release_says_how_to_pass_it() {
    let mut req =
        crate::wiring::test_support::request(APP, &format!("{BASE}  roleName: \"{{release}}-{{serviceAccount}}\"\n"));
    req.context.release_name = None;
    let e = render_err(&req);
    assert!(e.contains("uses {release}, which is not known here"), "{e}");
    assert!(!e.contains("helm passes it"), "{e}");
    assert!(
        e.contains("--post-renderer-args --release --post-renderer-args NAME") && e.contains("--release NAME"),
        "{e}"
    );
}
