//! Datadog `csi` mode writes the layout the Cluster Agent's config webhook injects today: two CSI
//! volumes, `datadog-dsd` (DSDSocketDirectory) at `<socketPath>/dsd` and `datadog-apm`
//! (APMSocketDirectory) at `<socketPath>/apm`, with the socket URLs under them
//! (DataDog/datadog-agent `pkg/clusteragent/admission/mutate/config/mutator.go`, `MutatePod` and
//! `injectSocketVolumes`). The webhook skips a volume whose name exists and a mount whose name or
//! path exists, so only the same names and paths keep it from injecting a second set.

mod common;

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n      - {name: api, image: api:1}\n";

fn pod_spec(config: &str) -> serde_json::Value {
    let mut request = RenderRequestV1::new(APP);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    let out = postwire_core::render(&request).unwrap_or_else(|e| panic!("{e}"));
    common::document(&out.manifests, "Deployment", "api")["spec"]["template"]["spec"].clone()
}

fn env(spec: &serde_json::Value, name: &str) -> serde_json::Value {
    spec["containers"][0]["env"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap()["value"].clone()
}

#[test]
fn csi_mode_mounts_the_dsd_and_apm_directories_apart() {
    let spec = pod_spec("datadog:\n  enabled: true\n  mode: csi\n");
    let volumes: Vec<(String, String)> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().into(), v["csi"]["volumeAttributes"]["type"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        volumes,
        [
            ("datadog-dsd".to_string(), "DSDSocketDirectory".to_string()),
            ("datadog-apm".into(), "APMSocketDirectory".into())
        ]
    );
    let mounts: Vec<(String, String)> = spec["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().into(), m["mountPath"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("datadog-dsd".to_string(), "/var/run/datadog/dsd".to_string()),
            ("datadog-apm".into(), "/var/run/datadog/apm".into())
        ]
    );
    assert_eq!(env(&spec, "DD_DOGSTATSD_URL"), "unix:///var/run/datadog/dsd/dsd.socket");
    assert_eq!(env(&spec, "DD_TRACE_AGENT_URL"), "unix:///var/run/datadog/apm/apm.socket");
}

#[test]
fn socket_mode_keeps_one_directory() {
    let spec = pod_spec("datadog:\n  enabled: true\n  mode: socket\n");
    assert_eq!(spec["volumes"][0]["name"], "datadog");
    assert_eq!(spec["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(env(&spec, "DD_TRACE_AGENT_URL"), "unix:///var/run/datadog/apm.socket");
}

/// Every JVM a container starts reads `JAVA_TOOL_OPTIONS` (the JDK's launcher-independent
/// variable), so a second one (`jcmd`, `jstack`, a helper `java` process) would bind the JMX
/// port again and die on "port already in use"; `JAVA_OPTS` is read only by launch scripts
/// that pass it on. Choosing `JAVA_TOOL_OPTIONS` gets a warning that says so.
#[test]
fn jmx_flags_in_java_tool_options_get_a_warning() {
    let report = |var: &str| {
        let mut request = RenderRequestV1::new(APP);
        request.config = Some(ConfigFileV1 {
            name: "postwire.yaml".into(),
            content: format!("datadog:\n  enabled: true\n  jmx: {{port: 9016, javaOptsVariable: {var}}}\n"),
        });
        let out = postwire_core::render(&request).unwrap();
        out.report.documents.iter().flat_map(|d| d.notes.iter()).map(|n| n.message.clone()).collect::<Vec<_>>()
    };
    let notes = report("JAVA_TOOL_OPTIONS");
    assert!(notes.iter().any(|n| n.contains("JAVA_TOOL_OPTIONS") && n.contains("already in use")), "{notes:?}");
    assert!(!report("JAVA_OPTS").iter().any(|n| n.contains("already in use")));
}
