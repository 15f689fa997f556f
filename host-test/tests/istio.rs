//! The `istio` and `rollouts` wirings (issue 5): generated objects validated strictly against
//! the CRD schemas in `../shared/schemas/crds` and changed core objects against Kubernetes 1.37
//! (kubernetes-validate, strict), Istio's own bookinfo sample reproduced field by field, and
//! the livechat example chart through real Helm 4.3.1 (fidelity, idempotence, determinism).

use std::path::{Path, PathBuf};

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};
use serde_json::Value;

use crate::util::{self, describe, HelmHome};

/// `kubecheck.py` over a stream: every document valid (custom resources by their CRD with
/// undeclared fields forbidden, core kinds by kubernetes-validate strict). Returns the kinds checked.
pub(crate) fn kubecheck(python: &Path, shared: &Path, stream: &Path) -> Vec<Value> {
    let crds = ["istio", "argo-rollouts", "prometheus-operator"]
        .map(|d| shared.join("schemas/crds").join(d).display().to_string())
        .join(",");
    let script = util::workspace().join("host-test/oracle/kubecheck.py");
    let out = util::run(std::process::Command::new(python).arg(script).arg(crds).arg(stream), b"");
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let bad: Vec<&Value> = lines.iter().filter(|l| !l["error"].is_null()).collect();
    assert!(
        out.status.success() && bad.is_empty(),
        "{}: invalid objects {bad:#?}\n{}",
        stream.display(),
        describe(&out)
    );
    lines
}

fn fixtures() -> Vec<PathBuf> {
    let root = util::workspace().join("core/tests/cases/istio");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.yaml").is_file())
        .collect();
    out.sort();
    out
}

/// Every object the istio/rollouts fixtures produce is valid for its schema.
#[test]
fn istio_fixture_outputs_validate_strictly() {
    let test = "istio_fixture_outputs_validate_strictly";
    let (Some(python), Some(shared)) = (util::python(test), util::shared(test)) else { return };
    let mut crd_checked = 0;
    for case in fixtures() {
        let lines = kubecheck(&python, &shared, &case.join("expected.yaml"));
        crd_checked += lines.iter().filter(|l| l["checked"] == "crd").count();
    }
    assert!(crd_checked >= 20, "only {crd_checked} custom resources checked");
}

fn render(manifests: &str, config: &str) -> postwire_core::RenderOutput {
    let mut req = RenderRequestV1::new(manifests);
    req.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    postwire_core::render(&req).unwrap_or_else(|e| panic!("render failed: {e}"))
}

fn docs_of(python: &Path, text: &str) -> Vec<Value> {
    util::yaml_docs(python, text)
}

/// Strip postwire's marker so objects compare with hand-written ones.
fn unmarked(mut v: Value) -> Value {
    if let Some(a) = v["metadata"].get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("postwire.dev/generated-by");
        if a.is_empty() {
            v["metadata"].as_object_mut().unwrap().remove("annotations");
        }
    }
    v
}

const BOOKINFO_CONFIG: &str = r#"
istio:
  enabled: true
  gateways:
    bookinfo-gateway:
      hosts: ["*"]
      httpPort: 8080
  services:
    - name: productpage
      gateways: [bookinfo-gateway]
      hosts: ["*"]
      match:
        - uri: {exact: /productpage}
        - uri: {prefix: /static}
        - uri: {exact: /login}
        - uri: {exact: /logout}
        - uri: {prefix: /api/v1/products}
      subsetLabel: version
      MTLS
    - name: reviews
      subsetLabel: version
      MTLS
    - name: ratings
      subsets:
        - {name: v1, labels: {version: v1}}
        - {name: v2, labels: {version: v2}}
        - {name: v2-mysql, labels: {version: v2-mysql}}
        - {name: v2-mysql-vm, labels: {version: v2-mysql-vm}}
      MTLS
    - name: details
      subsets:
        - {name: v1, labels: {version: v1}}
        - {name: v2, labels: {version: v2}}
      MTLS
"#;

/// Istio's bookinfo sample: postwire reproduces `bookinfo-gateway` and the DestinationRules of
/// `destination-rule-all.yaml` and `destination-rule-all-mtls.yaml` field by field (subsets of
/// productpage and reviews come from the Deployments' `version` labels), and the `bookinfo`
/// VirtualService's routing (postwire names its route and its VirtualService after the Service).
#[test]
fn istio_bookinfo_matches_the_authors_objects() {
    let test = "istio_bookinfo_matches_the_authors_objects";
    let (Some(python), Some(shared)) = (util::python(test), util::shared(test)) else { return };
    let input = std::fs::read_to_string(shared.join("corpus/streams/istio-bookinfo.yaml")).unwrap();
    let authors = docs_of(
        &python,
        &std::fs::read_to_string(shared.join("corpus/streams/istio-bookinfo-networking.yaml")).unwrap(),
    );
    let find = |docs: &[Value], kind: &str, name: &str, nth: usize| -> Value {
        docs.iter()
            .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .nth(nth)
            .cloned()
            .unwrap_or_else(|| panic!("{kind}/{name} #{nth} missing"))
    };
    for (mtls, nth) in [(true, 0), (false, 1)] {
        let config = BOOKINFO_CONFIG.replace("      MTLS\n", if mtls { "      mtls: true\n" } else { "" });
        let out = render(&input, &config);
        let ours = docs_of(&python, &out.manifests);
        assert_eq!(
            unmarked(find(&ours, "Gateway", "bookinfo-gateway", 0)),
            find(&authors, "Gateway", "bookinfo-gateway", 0)
        );
        for name in ["productpage", "reviews", "ratings", "details"] {
            // The mtls variant is the file's first set of DestinationRules, the plain one its second.
            let theirs = find(&authors, "DestinationRule", name, nth);
            assert_eq!(
                unmarked(find(&ours, "DestinationRule", name, 0)),
                theirs,
                "DestinationRule {name} (mtls: {mtls})"
            );
        }
        let vs = unmarked(find(&ours, "VirtualService", "productpage", 0));
        let theirs = find(&authors, "VirtualService", "bookinfo", 0);
        assert_eq!(vs["spec"]["hosts"], theirs["spec"]["hosts"]);
        assert_eq!(vs["spec"]["gateways"], theirs["spec"]["gateways"]);
        let mut route = vs["spec"]["http"][0].clone();
        assert_eq!(route.as_object_mut().unwrap().remove("name"), Some(Value::from("primary")));
        assert_eq!(route, theirs["spec"]["http"][0]);
        // Every generated object validates, and so does every changed Deployment and Service.
        let dir = util::TempDir::new(test);
        std::fs::write(dir.join("out.yaml"), &out.manifests).unwrap();
        kubecheck(&python, &shared, &dir.join("out.yaml"));
        // Idempotent.
        assert_eq!(render(&out.manifests, &config).manifests, out.manifests);
    }
}

/// Split a stream into documents' texts on `---` lines.
fn documents(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            out.push(String::new());
        } else {
            out.last_mut().unwrap().push_str(line);
        }
    }
    out.retain(|d| !d.trim().is_empty());
    out
}

/// A changed document differs only by added lines, and by lines it replaces: a `- key:` line
/// whose dash moved to a new first key, a flow mapping that gained entries, or a value postwire
/// sets (`kind: Rollout` in an HPA's scaleTargetRef).
pub fn assert_only_added_or_replaced(before: &str, after: &str, what: &str) {
    let (removed, added) = util::line_diff(before, after);
    for r in &removed {
        let moved_dash =
            r.trim_start().strip_prefix("- ").map(|rest| format!("{}  {rest}", &r[..r.len() - r.trim_start().len()]));
        let ok = added.iter().any(|a| {
            moved_dash.as_deref() == Some(*a)
                || r.split_once('{').is_some_and(|(head, tail)| a.starts_with(head) && a.ends_with(tail.trim_end()))
                || (r.trim_start().split_once(':').map(|(k, _)| k) == a.trim_start().split_once(':').map(|(k, _)| k)
                    && ["apiVersion", "kind"].iter().any(|k| a.trim_start().starts_with(k)))
        });
        assert!(ok, "{what}: line {r:?} was changed, not kept\n--- added\n{}", added.join("\n"));
    }
}

/// examples/livechat through real Helm 4.3.1 with Istio and Rollouts on: postwire as the
/// post-renderer produces valid Istio and Argo Rollouts objects; over the chart's plain render
/// the untargeted documents are byte-identical and the targeted ones change only by the lines
/// the wiring adds or replaces; a second run is byte-identical and two runs agree.
#[test]
fn helm4_livechat_istio_and_rollouts_end_to_end() {
    let test = "helm4_livechat_istio_and_rollouts_end_to_end";
    let (Some(helm), Some(python), Some(shared)) = (util::helm4(test), util::python(test), util::shared(test)) else {
        return;
    };
    let example = util::workspace().join("examples/livechat");
    let config = example.join("postwire.yaml");
    let home = HelmHome::new(test);
    crate::helm4::install_plugin_by_copy(&home.plugins());
    let chart = example.join("chart");
    let helm_run = |args: &[&str]| {
        let out = util::run(home.cmd(&helm).args(args), b"");
        assert!(out.status.success(), "helm {args:?}:\n{}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let config_arg = config.to_str().unwrap();
    let via_helm = helm_run(&[
        "template",
        "livechat",
        chart.to_str().unwrap(),
        "--post-renderer",
        "postwire",
        "--post-renderer-args",
        "--config",
        "--post-renderer-args",
        config_arg,
    ]);
    let docs = docs_of(&python, &via_helm);
    let count = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).count();
    for (kind, n) in [
        ("Gateway", 2),
        ("VirtualService", 1),
        ("DestinationRule", 1),
        ("EnvoyFilter", 1),
        ("PeerAuthentication", 1),
        ("AuthorizationPolicy", 1),
        ("AnalysisTemplate", 1),
        ("Rollout", 1),
        ("Deployment", 1),
    ] {
        assert_eq!(count(kind), n, "{kind} in\n{via_helm}");
    }
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"], "true");
    let rollout = docs.iter().find(|d| d["kind"] == "Rollout").unwrap();
    assert_eq!(rollout["spec"]["workloadRef"]["name"], "livechat");
    assert_eq!(rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["virtualService"]["name"], "livechat");
    let dir = util::TempDir::new(test);
    std::fs::write(dir.join("helm.yaml"), &via_helm).unwrap();
    kubecheck(&python, &shared, &dir.join("helm.yaml"));

    // The plain render through the runner: fidelity, idempotence, determinism.
    let plain = helm_run(&["template", "livechat", chart.to_str().unwrap()]);
    std::fs::write(dir.join("plain.yaml"), &plain).unwrap();
    let postwire = |input: &Path| {
        let out = util::run(
            util::postwire(&dir.join("cache")).args(["render", "--config", config_arg, "-f", input.to_str().unwrap()]),
            b"",
        );
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let once = postwire(&dir.join("plain.yaml"));
    assert_eq!(postwire(&dir.join("plain.yaml")), once, "not deterministic");
    std::fs::write(dir.join("once.yaml"), &once).unwrap();
    assert_eq!(postwire(&dir.join("once.yaml")), once, "not idempotent");
    let (before, after) = (documents(&plain), documents(&once));
    assert!(after.len() > before.len());
    let mut changed = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            let kind = a.lines().find_map(|l| l.strip_prefix("kind: ")).unwrap_or_default().to_string();
            assert_only_added_or_replaced(b, a, &kind);
            changed.push(kind);
        }
    }
    assert_eq!(changed, ["ServiceAccount", "Service", "Deployment", "HorizontalPodAutoscaler"]);
    kubecheck(&python, &shared, &dir.join("once.yaml"));

    // What Argo CD needs, printed on request.
    let out = util::run(
        util::postwire(&dir.join("cache")).args([
            "ignore-differences",
            "--config",
            config_arg,
            "-f",
            dir.join("plain.yaml").to_str().unwrap(),
        ]),
        b"",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let printed = &docs_of(&python, &text)[0];
    let entries = printed["ignoreDifferences"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "VirtualService" && e["jqPathExpressions"][0] == ".spec.http[].route[].weight"),
        "{text}"
    );
    assert!(entries.iter().any(|e| e["kind"] == "Deployment" && e["jsonPointers"][0] == "/spec/replicas"), "{text}");
    assert_eq!(
        printed["syncPolicy"]["syncOptions"],
        serde_json::json!(["ApplyOutOfSyncOnly=true", "RespectIgnoreDifferences=true"])
    );
}

/// Errors stop the render: non-zero exit, a message naming what is wrong, nothing on stdout.
#[test]
fn istio_errors_exit_non_zero_with_nothing_on_stdout() {
    let dir = util::TempDir::new("istio_errors_exit_non_zero_with_nothing_on_stdout");
    for case in [
        "err_missing_service",
        "err_missing_port",
        "err_bad_load_balancer",
        "err_bad_duration",
        "err_conflict",
        "err_missing_rollout_workload",
        "err_unknown_analysis",
    ] {
        let root = util::workspace().join("core/tests/cases/istio").join(case);
        let out = util::run(
            util::postwire(&dir.join("cache")).args([
                "render",
                "--config",
                root.join("config.yaml").to_str().unwrap(),
                "-f",
                root.join("input.yaml").to_str().unwrap(),
            ]),
            b"",
        );
        assert!(!out.status.success() && out.stdout.is_empty(), "{case}: {}", describe(&out));
        let expected = std::fs::read_to_string(root.join("error.txt")).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = expected.trim().split_once(": ").map_or(expected.trim(), |(_, m)| m);
        assert!(stderr.contains(message.split(" (").next().unwrap()), "{case}: {stderr}");
    }
}
