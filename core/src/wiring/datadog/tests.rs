//! The expectations that transcribe the Datadog Cluster Agent admission controller cite the
//! upstream line they follow, all at one commit:
//! `DataDog/datadog-agent@0d988980083520ba31844235492dca8cdbd9b02e` (abbreviated `dd@0d98898`
//! below) unless another commit is named. Paths are under `pkg/clusteragent/admission/`.

use crate::wiring::test_support::{render_err, render_idempotent, request};

const LIVECHAT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: livechat
  labels:
    app: livechat
spec:
  template:
    metadata:
      labels:
        app: livechat
    spec:
      initContainers:
      - name: migrate
        image: livechat:1.4.2
      containers:
      - name: app
        image: registry.example.com/livechat:1.4.2+build.7
        ports:
        - containerPort: 5555
        env:
        - name: DD_ENV
          value: staging
";

const BASE: &str = "checksum: {enabled: false}\ndatadog:\n  enabled: true\n  env: prod\n";

/// The render of `BASE` plus `extra`, which must succeed and be idempotent.
fn ok(manifests: &str, extra: &str) -> crate::engine::RenderOutput {
    render_idempotent(&request(manifests, &format!("{BASE}{extra}")))
}

fn err(manifests: &str, config: &str) -> String {
    render_err(&request(manifests, config))
}

struct Pod {
    tree: crate::yaml::Tree,
}

impl Pod {
    fn of(out: &str) -> Pod {
        Pod { tree: crate::yaml::Tree::parse(out.split("\n---\n").next().unwrap(), 0).unwrap() }
    }
    fn spec(&self) -> crate::yaml::NodeId {
        self.tree.path(self.tree.root().unwrap(), &["spec", "template", "spec"]).unwrap()
    }
    fn container(&self, list: &str, i: usize) -> crate::yaml::NodeId {
        self.tree.items(self.tree.get(self.spec(), list).unwrap())[i]
    }
    fn env(&self, list: &str, i: usize) -> Vec<String> {
        let t = &self.tree;
        t.get(self.container(list, i), "env")
            .map(|e| t.items(e).iter().map(|&x| t.str_at(x, &["name"]).unwrap().to_string()).collect())
            .unwrap_or_default()
    }
    fn env_value(&self, list: &str, i: usize, name: &str) -> String {
        let t = &self.tree;
        let e = t.get(self.container(list, i), "env").unwrap();
        let item = *t.items(e).iter().find(|&&x| t.str_at(x, &["name"]) == Some(name)).unwrap();
        t.str_at(item, &["value"])
            .or_else(|| t.str_at(item, &["valueFrom", "fieldRef", "fieldPath"]))
            .unwrap()
            .to_string()
    }
    fn mounts(&self, list: &str, i: usize) -> Vec<(String, String)> {
        let t = &self.tree;
        t.get(self.container(list, i), "volumeMounts")
            .map(|m| {
                t.items(m)
                    .iter()
                    .map(|&x| {
                        (t.str_at(x, &["name"]).unwrap().to_string(), t.str_at(x, &["mountPath"]).unwrap().to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    fn volumes(&self) -> Vec<String> {
        let t = &self.tree;
        t.get(self.spec(), "volumes")
            .map(|v| t.items(v).iter().map(|&x| t.str_at(x, &["name"]).unwrap().to_string()).collect())
            .unwrap_or_default()
    }
    fn template(&self, field: &str, key: &str) -> Option<String> {
        self.tree.str_at(self.tree.root().unwrap(), &["spec", "template", "metadata", field, key]).map(String::from)
    }
    fn label(&self, key: &str) -> Option<String> {
        self.tree.str_at(self.tree.root().unwrap(), &["metadata", "labels", key]).map(String::from)
    }
}

const HEAD: [&str; 3] = ["DD_INTERNAL_POD_UID", "DD_EXTERNAL_ENV", "DD_ENTITY_ID"];
const TAGS: [&str; 3] = ["DD_ENV", "DD_SERVICE", "DD_VERSION"];

fn names(parts: &[&[&str]]) -> Vec<String> {
    parts.iter().flat_map(|p| p.iter().map(|s| s.to_string())).collect()
}

#[test]
fn every_mode_injects_what_the_admission_controller_does_in_its_order() {
    for (mode, vars) in [
        ("hostip", &["DD_AGENT_HOST"][..]),
        ("service", &["DD_AGENT_HOST"][..]),
        ("socket", &["DD_DOGSTATSD_URL", "DD_TRACE_AGENT_URL"][..]),
        ("csi", &["DD_DOGSTATSD_URL", "DD_TRACE_AGENT_URL"][..]),
    ] {
        let out = ok(LIVECHAT, &format!("  mode: {mode}\n  version: \"1.4.2\"\n"));
        let pod = Pod::of(&out.manifests);
        // The order is what the webhook's successive prepends leave: it injects the connection
        // (dd@0d98898 mutate/config/mutator.go:130-159, trace URL before DogStatsD URL), then
        // DD_ENTITY_ID (:166), then DD_EXTERNAL_ENV and DD_INTERNAL_POD_UID (:169, :372-376),
        // each prepended (mutate/common/common.go:112) and only into containers without that
        // name (common.go:104), init containers included (common.go:122-123). The tag variables
        // after them are postwire's own order: upstream's tags webhook ranges over a Go map
        // (mutate/tagsfromlabels/mutator.go:24, :107), so it has none.
        assert_eq!(pod.env("initContainers", 0), names(&[&HEAD, vars, &TAGS]), "{mode}");
        // The chart's DD_ENV stays, after the prepended variables, and is not added twice
        // (dd@0d98898 mutate/common/common.go:104).
        assert_eq!(pod.env("containers", 0), names(&[&HEAD, vars, &TAGS[1..], &["DD_ENV"]]), "{mode}");
        assert_eq!(pod.env_value("containers", 0, "DD_ENV"), "staging");
        // dd@0d98898 mutate/config/mutator.go:364 (`it-<init>,cn-<name>,pu-$(DD_INTERNAL_POD_UID)`)
        // and mutate/config/config.go:37-39 (the prefixes).
        assert_eq!(
            pod.env_value("initContainers", 0, "DD_EXTERNAL_ENV"),
            "it-true,cn-migrate,pu-$(DD_INTERNAL_POD_UID)"
        );
        assert_eq!(pod.env_value("containers", 0, "DD_EXTERNAL_ENV"), "it-false,cn-app,pu-$(DD_INTERNAL_POD_UID)");
        // dd@0d98898 mutate/config/mutator.go:105 (DD_ENTITY_ID) and :379 (DD_INTERNAL_POD_UID).
        assert_eq!(pod.env_value("containers", 0, "DD_ENTITY_ID"), "metadata.uid");
        assert_eq!(pod.env_value("containers", 0, "DD_INTERNAL_POD_UID"), "metadata.uid");
        // Not upstream: the tags webhook writes the label's value itself (dd@0d98898
        // mutate/tagsfromlabels/mutator.go:109-112); the fieldRef form is postwire's choice, so
        // the variable follows the pod's label.
        assert_eq!(pod.env_value("containers", 0, "DD_VERSION"), "metadata.labels['tags.datadoghq.com/version']");
        // The webhook reads its mode from this pod label (dd@0d98898 mutate/config/mutator.go:325).
        assert_eq!(pod.template("labels", "admission.datadoghq.com/config.mode").as_deref(), Some(mode));
        match mode {
            // dd@0d98898 mutate/config/mutator.go:90, :130-131.
            "hostip" => assert_eq!(pod.env_value("containers", 0, "DD_AGENT_HOST"), "status.hostIP"),
            // dd@0d98898 mutate/config/mutator.go:97 (`<localServiceName>.<namespace>.svc.cluster.local`).
            "service" => {
                assert_eq!(pod.env_value("containers", 0, "DD_AGENT_HOST"), "datadog.datadog.svc.cluster.local")
            }
            "csi" => {
                // The config webhook's csi layout: dsd and apm directories apart, the URLs under
                // them (dd@0d98898 mutate/config/mutator.go:150-156), the volumes `datadog-dsd`
                // and `datadog-apm` of types DSDSocketDirectory and APMSocketDirectory
                // (:225, :244-245; mutate/config/config.go:65-68), each marked safe to evict
                // (mutator.go:315, mutate/common/common.go:224-240).
                assert_eq!(
                    pod.env_value("containers", 0, "DD_TRACE_AGENT_URL"),
                    "unix:///var/run/datadog/apm/apm.socket"
                );
                assert_eq!(
                    pod.env_value("containers", 0, "DD_DOGSTATSD_URL"),
                    "unix:///var/run/datadog/dsd/dsd.socket"
                );
                assert_eq!(pod.volumes(), ["datadog-dsd", "datadog-apm"]);
                let mounts = [
                    ("datadog-dsd".to_string(), "/var/run/datadog/dsd".to_string()),
                    ("datadog-apm".to_string(), "/var/run/datadog/apm".to_string()),
                ];
                assert_eq!(pod.mounts("containers", 0), mounts);
                assert_eq!(pod.mounts("initContainers", 0), mounts);
                assert_eq!(
                    pod.template("annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes")
                        .as_deref(),
                    Some("datadog-dsd,datadog-apm")
                );
            }
            _ => {
                // One `datadog` hostPath directory (DirectoryOrCreate) at the socket path, mounted
                // read-only (dd@0d98898 mutate/config/mutator.go:264-269, :387-401;
                // mutate/config/config.go:50), and the URLs under it (mutator.go:155-156).
                assert_eq!(pod.env_value("containers", 0, "DD_TRACE_AGENT_URL"), "unix:///var/run/datadog/apm.socket");
                assert_eq!(pod.env_value("containers", 0, "DD_DOGSTATSD_URL"), "unix:///var/run/datadog/dsd.socket");
                assert_eq!(pod.volumes(), ["datadog"]);
                assert_eq!(pod.mounts("containers", 0), [("datadog".to_string(), "/var/run/datadog".to_string())]);
                assert_eq!(pod.mounts("initContainers", 0), [("datadog".to_string(), "/var/run/datadog".to_string())]);
                assert_eq!(
                    pod.template("annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes")
                        .as_deref(),
                    Some("datadog")
                );
                // The webhook reads its volume type from this pod label (dd@0d98898
                // mutate/config/mutator.go:346).
                assert_eq!(
                    pod.template("labels", "admission.datadoghq.com/config.type_socket_volumes").as_deref(),
                    Some("false")
                );
            }
        }
        if mode == "hostip" || mode == "service" {
            assert!(pod.volumes().is_empty() && pod.mounts("containers", 0).is_empty(), "{mode}");
        }
    }
    let socket = ok(LIVECHAT, "  mode: socket\n").manifests;
    assert!(socket.contains("      volumes:\n        - name: \"datadog\"\n          hostPath:\n            path: \"/var/run/datadog\"\n            type: \"DirectoryOrCreate\"\n"), "{socket}");
    assert!(
        socket
            .contains("- name: \"datadog\"\n            mountPath: \"/var/run/datadog\"\n            readOnly: true\n"),
        "{socket}"
    );
    let csi = ok(LIVECHAT, "  mode: csi\n").manifests;
    assert!(csi.contains("        - name: \"datadog-dsd\"\n          csi:\n            driver: \"k8s.csi.datadoghq.com\"\n            readOnly: true\n            volumeAttributes:\n              type: \"DSDSocketDirectory\"\n"), "{csi}");
}

#[test]
fn socket_volumes_per_socket() {
    let out = ok(LIVECHAT, "  mode: socket\n  typeSocketVolumes: true\n");
    let pod = Pod::of(&out.manifests);
    // One volume per socket, named as upstream (dd@0d98898 mutate/config/config.go:53, :56),
    // at the socket file, hostPath type Socket or CSI types DSDSocket and APMSocket
    // (mutate/config/mutator.go:196-215). The order is postwire's: upstream ranges over a Go
    // map (mutator.go:208).
    assert_eq!(pod.volumes(), ["datadog-dogstatsd", "datadog-trace-agent"]);
    assert_eq!(
        pod.mounts("containers", 0),
        [
            ("datadog-dogstatsd".to_string(), "/var/run/datadog/dsd.socket".to_string()),
            ("datadog-trace-agent".to_string(), "/var/run/datadog/apm.socket".to_string()),
        ]
    );
    assert!(out.manifests.contains("path: \"/var/run/datadog/dsd.socket\"\n            type: \"Socket\""));
    assert_eq!(
        pod.template("annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes").as_deref(),
        Some("datadog-dogstatsd,datadog-trace-agent")
    );
    let csi = ok(LIVECHAT, "  mode: csi\n  typeSocketVolumes: true\n").manifests;
    assert!(csi.contains("type: \"DSDSocket\"") && csi.contains("type: \"APMSocket\""), "{csi}");
}

#[test]
fn the_pods_own_volumes_mounts_and_annotations_win() {
    let chart = LIVECHAT
        .replace("        env:\n", "        volumeMounts:\n        - name: sockets\n          mountPath: /var/run/datadog\n        env:\n")
        .replace("      initContainers:\n", "      volumes:\n      - name: datadog\n        emptyDir: {}\n      initContainers:\n")
        .replace("        app: livechat\n    spec:", "        app: livechat\n      annotations:\n        cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes: cache\n    spec:");
    let out = ok(&chart, "  mode: socket\n");
    let pod = Pod::of(&out.manifests);
    // A volume of the same name is kept (dd@0d98898 mutate/common/common.go:167-175), and so
    // is a mount of the same name or path (common.go:149, :194-201). The warning about the
    // mount at the same path is postwire's; upstream only logs at debug level (common.go:149-152).
    assert_eq!(pod.volumes(), ["datadog"], "no second volume of the same name");
    assert_eq!(
        pod.mounts("containers", 0),
        [("sockets".to_string(), "/var/run/datadog".to_string())],
        "no second mount at the same path"
    );
    assert!(
        out.report.warnings().iter().any(|w| w.contains("container app mounts `sockets` at /var/run/datadog")),
        "{:?}",
        out.report.warnings()
    );
    assert_eq!(
        pod.template("annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes").as_deref(),
        Some("cache")
    );
    // A volume postwire adds joins the chart's list (dd@0d98898 mutate/common/common.go:224-240).
    let chart = LIVECHAT.replace("        app: livechat\n    spec:", "        app: livechat\n      annotations:\n        cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes: cache\n    spec:");
    let pod = Pod::of(&ok(&chart, "  mode: socket\n").manifests);
    assert_eq!(
        pod.template("annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes").as_deref(),
        Some("cache,datadog")
    );
}

#[test]
fn admission_mode_only_labels() {
    let out = ok(LIVECHAT, "  mode: admission\n  admissionConfigMode: hostip\n  logs: {enabled: true}\n");
    let pod = Pod::of(&out.manifests);
    // The opt-in label: DataDog/datadog-agent@0259e7379eeeb0097e4fd139f94841189cd7065e
    // pkg/clusteragent/admission/common/const.go:10 (the newer const.go that also holds the mode
    // and volume-type keys could not be read at a known commit; their use is cited above).
    assert_eq!(pod.env("initContainers", 0), Vec::<String>::new());
    assert_eq!(pod.env("containers", 0), ["DD_ENV"]);
    assert!(pod.volumes().is_empty());
    assert_eq!(pod.template("labels", "admission.datadoghq.com/enabled").as_deref(), Some("true"));
    assert_eq!(pod.template("labels", "admission.datadoghq.com/config.mode").as_deref(), Some("hostip"));
    assert_eq!(pod.template("labels", "tags.datadoghq.com/env").as_deref(), Some("prod"));
    assert_eq!(pod.label("tags.datadoghq.com/service").as_deref(), Some("livechat"));
}

#[test]
fn unified_service_tags_on_workload_and_template_with_valid_values() {
    let out = ok(LIVECHAT, "  mode: hostip\n");
    let pod = Pod::of(&out.manifests);
    for key in ["tags.datadoghq.com/env", "tags.datadoghq.com/service", "tags.datadoghq.com/version"] {
        assert_eq!(pod.label(key), pod.template("labels", key), "{key}");
    }
    assert_eq!(pod.label("tags.datadoghq.com/version").as_deref(), Some("1.4.2_build.7"));
    assert!(
        out.report
            .warnings()
            .iter()
            .any(|w| w.contains("version `1.4.2+build.7` is not a valid label value")
                && w.contains("wrote `1.4.2_build.7`")),
        "{:?}",
        out.report.warnings()
    );
    let long = "v".repeat(70);
    let out = ok(LIVECHAT, &format!("  service: \"-My Service/{long}\"\n"));
    let got = Pod::of(&out.manifests).label("tags.datadoghq.com/service").unwrap();
    assert!(crate::select::is_label_value(&got) && got.len() == 63 && got.starts_with("My_Service_v"), "{got}");
    assert_eq!(super::label_value("sha256:abc"), "sha256_abc");
    assert_eq!(super::image_tag("reg:5000/app:1.2@sha256:00"), Some("1.2"));
    assert_eq!(super::image_tag("reg:5000/app"), None);
    // A chart's own tag label is kept and its variable still comes from it.
    let chart = LIVECHAT.replace(
        "        app: livechat\n    spec:",
        "        app: livechat\n        tags.datadoghq.com/service: chat\n    spec:",
    );
    let pod = Pod::of(&ok(&chart, "  mode: hostip\n").manifests);
    assert_eq!(pod.template("labels", "tags.datadoghq.com/service").as_deref(), Some("chat"));
    assert_eq!(pod.env_value("containers", 0, "DD_SERVICE"), "metadata.labels['tags.datadoghq.com/service']");
}

#[test]
fn apm_logs_profiling_and_sampling() {
    for (lang, version) in
        [("java", "v1"), ("js", "v5"), ("python", "v4"), ("dotnet", "v3"), ("ruby", "v2"), ("php", "v1")]
    {
        // The annotation key: DataDog/datadog-agent@013af6f9036b5300a44c6f5e77e9565a87416c40
        // pkg/clusteragent/admission/mutate/autoinstrumentation/language_versions.go:71; the
        // default majors: same file :152-159, which has python v3; python v4 is in a later
        // version of that table whose commit could not be pinned here.
        let pod = Pod::of(&ok(LIVECHAT, &format!("  apm: {{enabled: true, language: {lang}}}\n")).manifests);
        assert_eq!(
            pod.template("annotations", &format!("admission.datadoghq.com/{lang}-lib.version")).as_deref(),
            Some(version)
        );
        assert_eq!(pod.template("labels", "admission.datadoghq.com/enabled").as_deref(), Some("true"));
    }
    let out = ok(LIVECHAT, "  mode: hostip\n  apm: {enabled: true, language: python, version: v3.1.0, profiling: true, sampleRate: 0.25}\n  logs: {enabled: true}\n");
    let pod = Pod::of(&out.manifests);
    assert_eq!(pod.template("annotations", "admission.datadoghq.com/python-lib.version").as_deref(), Some("v3.1.0"));
    assert_eq!(
        pod.env("initContainers", 0),
        names(&[
            &HEAD,
            &["DD_AGENT_HOST"],
            &TAGS,
            &["DD_LOGS_INJECTION", "DD_PROFILING_ENABLED", "DD_TRACE_SAMPLE_RATE"]
        ])
    );
    assert_eq!(pod.env_value("containers", 0, "DD_TRACE_SAMPLE_RATE"), "0.25");
    assert_eq!(pod.env_value("containers", 0, "DD_LOGS_INJECTION"), "true");
    assert_eq!(
        pod.template("annotations", "ad.datadoghq.com/app.logs").as_deref(),
        Some(r#"[{"source":"python","service":"livechat"}]"#)
    );
    assert_eq!(
        pod.template("annotations", "ad.datadoghq.com/migrate.logs"),
        None,
        "init containers have no Autodiscovery key"
    );
}

/// Not the admission controller: the Autodiscovery v2 annotations are read by the node agent,
/// and the JMX flags and `POD_IP` are postwire's; no upstream line is transcribed here.
#[test]
fn autodiscovery_openmetrics_and_jmx() {
    let out = ok(LIVECHAT, "  mode: hostip\n  metrics: {port: 5555}\n  jmx: {port: 9016, integration: kafka}\n");
    let pod = Pod::of(&out.manifests);
    let checks: serde_json::Value =
        serde_json::from_str(&pod.template("annotations", "ad.datadoghq.com/app.checks").unwrap()).unwrap();
    assert_eq!(
        checks,
        serde_json::json!({
            "openmetrics": {"init_config": {}, "instances": [{"openmetrics_endpoint": "http://%%host%%:5555/metrics", "namespace": "livechat", "metrics": [".*"]}]},
            "kafka": {"init_config": {"is_jmx": true, "collect_default_metrics": true}, "instances": [{"host": "%%host%%", "port": "9016"}]}
        })
    );
    assert_eq!(
        pod.env("containers", 0),
        names(&[&HEAD, &["DD_AGENT_HOST"], &TAGS[1..], &["POD_IP", "JAVA_OPTS", "DD_ENV"]])
    );
    assert_eq!(pod.env_value("containers", 0, "POD_IP"), "status.podIP");
    let opts = pod.env_value("containers", 0, "JAVA_OPTS");
    for flag in [
        "-Dcom.sun.management.jmxremote.port=9016",
        "-Dcom.sun.management.jmxremote.rmi.port=9016",
        "-Dcom.sun.management.jmxremote.authenticate=false",
        "-Dcom.sun.management.jmxremote.ssl=false",
        "-Dcom.sun.management.jmxremote.local.only=false",
        "-Djava.rmi.server.hostname=$(POD_IP)",
    ] {
        assert!(opts.contains(flag), "{flag}");
    }
    assert!(!pod.env("initContainers", 0).contains(&"POD_IP".to_string()));
    // Too long a container name for the key limit is an error naming it.
    let name = "c".repeat(57);
    let e =
        err(&LIVECHAT.replace("name: app", &format!("name: {name}")), &format!("{BASE}  metrics: {{port: 5555}}\n"));
    assert!(e.contains(&format!("container `{name}` has a name of 57 characters")) && e.contains("at most 56"), "{e}");
    assert!(ok(&LIVECHAT.replace("name: app", &format!("name: {}", "c".repeat(56))), "  metrics: {port: 5555}\n")
        .manifests
        .contains(".checks"));
    // The chart's own checks annotation wins.
    let chart = LIVECHAT.replace(
        "        app: livechat\n    spec:",
        "        app: livechat\n      annotations:\n        ad.datadoghq.com/app.checks: '{}'\n    spec:",
    );
    assert_eq!(
        Pod::of(&ok(&chart, "  metrics: {port: 5555}\n").manifests)
            .template("annotations", "ad.datadoghq.com/app.checks")
            .as_deref(),
        Some("{}")
    );
}

#[test]
fn selection_and_per_object_overrides() {
    let two = format!("{LIVECHAT}---\n{}", LIVECHAT.replace("name: livechat\n  labels:\n    app: livechat", "name: other\n  labels:\n    app: other\n  annotations:\n    postwire.dev/datadog-mode: admission\n    postwire.dev/datadog-service: billing\n    postwire.dev/datadog-apm-language: ruby"));
    let out = ok(&two, "  mode: hostip\n  apm: {enabled: true, language: java}\n");
    let second = crate::yaml::Tree::parse(out.manifests.split("\n---\n").nth(1).unwrap(), 0).unwrap();
    let r = second.root().unwrap();
    assert_eq!(second.str_at(r, &["metadata", "labels", "tags.datadoghq.com/service"]), Some("billing"));
    assert!(second
        .path(r, &["spec", "template", "metadata", "annotations", "admission.datadoghq.com/ruby-lib.version"])
        .is_some());
    assert!(!out.manifests.split("\n---\n").nth(1).unwrap().contains("DD_AGENT_HOST"), "admission mode by annotation");
    let out = ok(&two, "  workloads: [{name: \"oth*\"}]\n");
    assert!(!out.manifests.split("\n---\n").next().unwrap().contains("tags.datadoghq.com"));
    let off = LIVECHAT.replace(
        "  labels:\n    app: livechat\nspec",
        "  labels:\n    app: livechat\n  annotations:\n    postwire.dev/datadog: \"false\"\nspec",
    );
    assert_eq!(ok(&off, "").manifests, off);
    let bad = LIVECHAT.replace(
        "  labels:\n    app: livechat\nspec",
        "  annotations:\n    postwire.dev/datadog-mode: sidecar\n  labels:\n    app: livechat\nspec",
    );
    let e = err(&bad, BASE);
    assert!(
        e.contains("metadata.annotations.postwire.dev/datadog-mode: `sidecar` is not a valid value")
            && e.contains("hostip, service, socket, csi or admission"),
        "{e}"
    );
}

#[test]
fn bad_config_is_a_clear_error() {
    for (config, want) in [
        ("  mode: sidecar\n", "postwire.yaml line 5, column 9: invalid config: datadog.mode: unknown value `sidecar`, expected `hostip`, `service`, `socket`, `csi` or `admission`"),
        ("  apm: {enabled: true, language: go}\n", "datadog.apm.language: unknown value `go`, expected `java`, `js`, `python`, `dotnet`, `ruby` or `php`"),
        ("  apm: {enabled: true}\n", "APM library injection needs a language"),
        ("  apm: {sampleRate: 2}\n", "sample rate 2 is not between 0 and 1"),
        ("  metrics: {port: 70000}\n", "metrics port 70000 is not between 1 and 65535"),
        ("  metrics: {port: http}\n", "datadog.metrics.port: expected a non-negative integer, found `http`"),
        ("  logs: {enabled: yes}\n", "datadog.logs.enabled: expected a boolean"),
        ("  workloads: [{kind: Nope}]\n", "datadog.workloads[0] (Nope) matches no workload"),
        ("  envv: prod\n", "unknown field `envv`"),
    ] {
        let e = err(LIVECHAT, &format!("{BASE}{config}"));
        assert!(e.contains(want), "{config}: {e}");
    }
}
