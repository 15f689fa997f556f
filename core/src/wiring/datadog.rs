//! Datadog wiring, written the way the Datadog Cluster Agent admission controller would do it,
//! so the webhook (when it also runs) finds every variable, volume and mount already there and
//! adds nothing twice.
//!
//! - Unified service tagging: `tags.datadoghq.com/env|service|version` labels on the workload
//!   and its pod template, and `DD_ENV`/`DD_SERVICE`/`DD_VERSION` from those labels (fieldRef).
//! - Agent connection per mode (`hostip`, `service`, `socket`, `csi`), with the admission
//!   controller's names, values and order (prepended, never over a variable the chart set);
//!   `admission` mode only labels the pod and lets the cluster agent inject.
//! - APM library injection annotations, `DD_LOGS_INJECTION`, profiling and sampling.
//! - Autodiscovery v2 annotations: OpenMetrics and JMX checks and log source/service.
//!
//! ```yaml
//! # after (mode: socket, env: prod), one container `app` of Deployment `web` with image web:1.4.2
//! metadata:
//!   labels: {tags.datadoghq.com/env: "prod", tags.datadoghq.com/service: "web", tags.datadoghq.com/version: "1.4.2"}
//! spec:
//!   template:
//!     metadata:
//!       annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes: "datadog"}
//!       labels: {tags.datadoghq.com/env: "prod", …, admission.datadoghq.com/config.mode: "socket"}
//!     spec:
//!       containers:
//!       - name: app
//!         env:
//!         - {name: "DD_INTERNAL_POD_UID", valueFrom: {fieldRef: {fieldPath: "metadata.uid"}}}
//!         - {name: "DD_EXTERNAL_ENV", value: "it-false,cn-app,pu-$(DD_INTERNAL_POD_UID)"}
//!         - {name: "DD_ENTITY_ID", valueFrom: {fieldRef: {fieldPath: "metadata.uid"}}}
//!         - {name: "DD_DOGSTATSD_URL", value: "unix:///var/run/datadog/dsd.socket"}
//!         - {name: "DD_TRACE_AGENT_URL", value: "unix:///var/run/datadog/apm.socket"}
//!         - {name: "DD_ENV", valueFrom: {fieldRef: {fieldPath: "metadata.labels['tags.datadoghq.com/env']"}}}
//!         - …
//!         volumeMounts: [{name: "datadog", mountPath: "/var/run/datadog", readOnly: true}]
//!       volumes: [{name: "datadog", hostPath: {path: "/var/run/datadog", type: "DirectoryOrCreate"}}]
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::edit::{Op, Outcome, PathSeg, Value};
use crate::emit::double_quoted;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::PostwireConfig;
use crate::report::{Action, Change, Level, Note, Report};
use crate::resource::{Container, Object, WorkloadKind};
use crate::select::Selector;
use crate::wire::ContextV1;
use crate::workload::{self, report_path, Workload};
use crate::workspace::Workspace;
use crate::yaml::{NodeId, Tree};

use super::Wiring;

const NAME: &str = "datadog";
/// Per-workload switch: `"false"` leaves a workload alone, `"true"` selects it.
pub const OPT_ANNOTATION: &str = "postwire.dev/datadog";
/// Per-workload overrides of the config, each a workload annotation.
pub const OVERRIDES: [&str; 7] = [
    "postwire.dev/datadog-env",
    "postwire.dev/datadog-service",
    "postwire.dev/datadog-version",
    "postwire.dev/datadog-mode",
    "postwire.dev/datadog-apm-language",
    "postwire.dev/datadog-metrics-port",
    "postwire.dev/datadog-jmx-port",
];

/// Unified service tagging labels.
pub const TAG_ENV: &str = "tags.datadoghq.com/env";
/// Unified service tagging labels.
pub const TAG_SERVICE: &str = "tags.datadoghq.com/service";
/// Unified service tagging labels.
pub const TAG_VERSION: &str = "tags.datadoghq.com/version";
/// The admission controller's opt-in label (a label on the pod, not an annotation).
pub const ENABLED_LABEL: &str = "admission.datadoghq.com/enabled";
/// The per-pod mode label.
pub const MODE_LABEL: &str = "admission.datadoghq.com/config.mode";
/// The per-pod socket volume type label.
pub const SOCKET_VOLUMES_LABEL: &str = "admission.datadoghq.com/config.type_socket_volumes";
/// The pod annotation listing local volumes the cluster autoscaler may evict.
pub const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes";

/// How the pods reach the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `DD_AGENT_HOST` from the node's IP (`status.hostIP`).
    Hostip,
    /// `DD_AGENT_HOST` set to the agent's local Service (`datadog.<namespace>.svc.cluster.local`).
    Service,
    /// Unix sockets from a `hostPath` volume (default; what the Datadog chart sets up).
    #[default]
    Socket,
    /// Unix sockets from the Datadog CSI driver's volume.
    Csi,
    /// Only the labels: the cluster agent's admission controller injects at pod creation.
    Admission,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Hostip => "hostip",
            Mode::Service => "service",
            Mode::Socket => "socket",
            Mode::Csi => "csi",
            Mode::Admission => "admission",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        [Mode::Hostip, Mode::Service, Mode::Socket, Mode::Csi, Mode::Admission].into_iter().find(|m| m.as_str() == s)
    }
}

/// An APM tracing library the admission controller can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// dd-trace-java (default v1).
    Java,
    /// dd-trace-js (default v5).
    Js,
    /// dd-trace-py (default v4).
    Python,
    /// dd-trace-dotnet (default v3).
    Dotnet,
    /// dd-trace-rb (default v2).
    Ruby,
    /// dd-trace-php (default v1).
    Php,
}

impl Language {
    fn as_str(self) -> &'static str {
        match self {
            Language::Java => "java",
            Language::Js => "js",
            Language::Python => "python",
            Language::Dotnet => "dotnet",
            Language::Ruby => "ruby",
            Language::Php => "php",
        }
    }

    /// The admission controller's default major version.
    pub fn default_version(self) -> &'static str {
        match self {
            Language::Java => "v1",
            Language::Js => "v5",
            Language::Python => "v4",
            Language::Dotnet => "v3",
            Language::Ruby => "v2",
            Language::Php => "v1",
        }
    }

    fn parse(s: &str) -> Option<Language> {
        [Language::Java, Language::Js, Language::Python, Language::Dotnet, Language::Ruby, Language::Php]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// APM settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApmConfig {
    /// Annotate the pod for library injection (default false).
    #[serde(default)]
    pub enabled: bool,
    /// `java`, `js`, `python`, `dotnet`, `ruby` or `php` (required when enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Library version, e.g. `v1` or `1.38.0` (default: the language's default major).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `DD_PROFILING_ENABLED=true` (default false).
    #[serde(default)]
    pub profiling: bool,
    /// `DD_TRACE_SAMPLE_RATE`, between 0 and 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<f64>,
}

/// Log settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogsConfig {
    /// `DD_LOGS_INJECTION=true` and the `ad.datadoghq.com/<container>.logs` annotation (default false).
    #[serde(default)]
    pub enabled: bool,
    /// The log `source` (default: the APM language, else the container name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Containers that get the logs annotation (default: every container).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_metrics() -> Vec<String> {
    vec![".*".into()]
}
fn default_jmx_integration() -> String {
    "jmx".into()
}
fn default_java_opts() -> String {
    "JAVA_OPTS".into()
}

/// An OpenMetrics check through Autodiscovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsConfig {
    /// The metrics port, e.g. 5555.
    pub port: u32,
    /// The metrics path (default `/metrics`).
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// Metric name prefix (default: the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Metric name patterns to collect (default `[".*"]`).
    #[serde(default = "default_metrics")]
    pub metrics: Vec<String>,
    /// The container serving them (default: the one declaring the port, else the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// A JMX check through Autodiscovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JmxConfig {
    /// The JMX port, e.g. 9016.
    pub port: u32,
    /// The integration name (default `jmx`; e.g. `kafka`, `tomcat`).
    #[serde(default = "default_jmx_integration")]
    pub integration: String,
    /// The container (default: the one declaring the port, else the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The variable the JVM reads its flags from (default `JAVA_OPTS`; e.g. `JAVA_TOOL_OPTIONS`).
    #[serde(default = "default_java_opts")]
    pub java_opts_variable: String,
}

fn default_service_name() -> String {
    "datadog".into()
}
fn default_socket_path() -> String {
    "/var/run/datadog".into()
}
fn default_trace_socket() -> String {
    "unix:///var/run/datadog/apm.socket".into()
}
fn default_dsd_socket() -> String {
    "unix:///var/run/datadog/dsd.socket".into()
}
fn default_csi_driver() -> String {
    "k8s.csi.datadoghq.com".into()
}

/// Datadog settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatadogConfig {
    /// Wire Datadog (default false).
    #[serde(default)]
    pub enabled: bool,
    /// `tags.datadoghq.com/env`, e.g. `prod` (none when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// `tags.datadoghq.com/service` (empty or unset: the workload's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `tags.datadoghq.com/version` (empty or unset: the first container's image tag). Made a
    /// valid label value (at most 63 of `A-Za-z0-9-_.`); the report says when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `hostip`, `service`, `socket` (default), `csi` or `admission`.
    #[serde(default)]
    pub mode: Mode,
    /// With `mode: admission`, also label the pods with this injection mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_config_mode: Option<Mode>,
    /// Socket and csi modes: one volume per socket (`type: Socket`) instead of one directory.
    #[serde(default)]
    pub type_socket_volumes: bool,
    /// Service mode: the agent's local Service name (default `datadog`).
    #[serde(default = "default_service_name")]
    pub local_service_name: String,
    /// Service mode: the namespace the agent runs in (default `datadog`).
    #[serde(default = "default_service_name")]
    pub agent_namespace: String,
    /// Socket mode: the directory of the sockets on the node (default `/var/run/datadog`).
    #[serde(default = "default_socket_path")]
    pub socket_path: String,
    /// The trace agent socket (default `unix:///var/run/datadog/apm.socket`).
    #[serde(default = "default_trace_socket")]
    pub trace_agent_socket: String,
    /// The DogStatsD socket (default `unix:///var/run/datadog/dsd.socket`).
    #[serde(default = "default_dsd_socket")]
    pub dogstatsd_socket: String,
    /// CSI mode: the driver (default `k8s.csi.datadoghq.com`). The volumes follow the current
    /// admission controller: `datadog-dsd` and `datadog-apm` at `<socketPath>/dsd` and `/apm`.
    #[serde(default = "default_csi_driver")]
    pub csi_driver: String,
    /// APM library injection, profiling and sampling.
    #[serde(default)]
    pub apm: ApmConfig,
    /// Log injection and the logs Autodiscovery annotation.
    #[serde(default)]
    pub logs: LogsConfig,
    /// An OpenMetrics check (Autodiscovery v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// A JMX check (Autodiscovery v2), with `POD_IP` and the JVM flags it needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jmx: Option<JmxConfig>,
    /// Which workloads (an empty list: every workload). Per workload, `postwire.dev/datadog:
    /// "true"|"false"` opts in or out and `postwire.dev/datadog-{env,service,version,mode,
    /// apm-language,metrics-port,jmx-port}` override the config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<Selector>,
}

impl Default for DatadogConfig {
    fn default() -> Self {
        DatadogConfig {
            enabled: false,
            env: None,
            service: None,
            version: None,
            mode: Mode::default(),
            admission_config_mode: None,
            type_socket_volumes: false,
            local_service_name: default_service_name(),
            agent_namespace: default_service_name(),
            socket_path: default_socket_path(),
            trace_agent_socket: default_trace_socket(),
            dogstatsd_socket: default_dsd_socket(),
            csi_driver: default_csi_driver(),
            apm: ApmConfig::default(),
            logs: LogsConfig::default(),
            metrics: None,
            jmx: None,
            workloads: Vec::new(),
        }
    }
}

impl DatadogConfig {
    /// Checks across fields; the error and the config path of the value at fault.
    pub fn validate(&self) -> std::result::Result<(), crate::config::Invalid> {
        let err = |msg: String, path: Vec<&'static str>, hint: &str| {
            let mut e = Error::new(ErrorKind::Config, msg).with_path(path.join("."));
            if !hint.is_empty() {
                e = e.with_hint(hint.to_string());
            }
            Err(crate::config::Invalid { error: e, path: path.into_iter().map(crate::config::Key::from).collect() })
        };
        if self.apm.enabled && self.apm.language.is_none() {
            return err(
                "APM library injection needs a language".into(),
                vec!["datadog", "apm"],
                "set datadog.apm.language: java, js, python, dotnet, ruby or php",
            );
        }
        if let Some(rate) = self.apm.sample_rate {
            if !(0.0..=1.0).contains(&rate) {
                return err(
                    format!("sample rate {rate} is not between 0 and 1"),
                    vec!["datadog", "apm", "sampleRate"],
                    "",
                );
            }
        }
        if let Some(m) = self.admission_config_mode {
            if m == Mode::Admission {
                return err(
                    "admissionConfigMode is the mode the webhook injects: hostip, service, socket or csi".into(),
                    vec!["datadog", "admissionConfigMode"],
                    "",
                );
            }
        }
        for (what, port, path) in [
            ("metrics", self.metrics.as_ref().map(|m| m.port), vec!["datadog", "metrics", "port"]),
            ("jmx", self.jmx.as_ref().map(|j| j.port), vec!["datadog", "jmx", "port"]),
        ] {
            if let Some(p) = port {
                if !(1..=65535).contains(&p) {
                    return err(format!("{what} port {p} is not between 1 and 65535"), path, "");
                }
            }
        }
        for (value, path) in
            [(&self.trace_agent_socket, "traceAgentSocket"), (&self.dogstatsd_socket, "dogstatsdSocket")]
        {
            if !value.starts_with("unix:///") {
                return err(
                    format!("`{value}` is not a unix socket URL"),
                    vec!["datadog", path],
                    "e.g. unix:///var/run/datadog/apm.socket",
                );
            }
        }
        if !self.socket_path.starts_with('/') {
            return err(format!("`{}` is not an absolute path", self.socket_path), vec!["datadog", "socketPath"], "");
        }
        if let Some(m) = &self.metrics {
            if !m.path.starts_with('/') {
                return err(format!("`{}` is not a path", m.path), vec!["datadog", "metrics", "path"], "e.g. /metrics");
            }
        }
        if let Some(j) = &self.jmx {
            let ok = !j.integration.is_empty() && j.integration.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return err(
                    format!("`{}` is not an integration name", j.integration),
                    vec!["datadog", "jmx", "integration"],
                    "e.g. jmx, kafka, tomcat",
                );
            }
        }
        Ok(())
    }
}

/// A label value Kubernetes accepts, made from `s`: characters other than `A-Za-z0-9-_.`
/// become `_`, non-alphanumerics are trimmed from both ends, and it is cut to 63 characters.
pub fn label_value(s: &str) -> String {
    let mapped: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    let mut v = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    if v.len() > 63 {
        v.truncate(63);
        v = v.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    }
    v
}

/// The tag of an image reference (`repo:5000/app:1.2@sha256:…` → `1.2`), if it has one.
pub fn image_tag(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.is_empty())
}

/// The Datadog wiring, built from its config.
pub struct Datadog {
    config: DatadogConfig,
    workloads: Vec<WorkloadKind>,
    namespace: Option<String>,
}

impl Datadog {
    /// Build the wiring.
    pub fn new(config: &PostwireConfig, context: &ContextV1) -> Self {
        Datadog {
            config: config.datadog.clone(),
            workloads: config.workload_kinds(),
            namespace: context.namespace.clone(),
        }
    }
}

/// The settings for one workload after its `postwire.dev/datadog-*` overrides.
struct Settings {
    env: Option<String>,
    service: Option<String>,
    version: Option<String>,
    mode: Mode,
    language: Option<Language>,
    metrics_port: Option<u32>,
    jmx_port: Option<u32>,
}

/// Planned edits of one workload and what the report says about each.
struct Edits<'w> {
    w: &'w Workload,
    ops: Vec<Op>,
    what: Vec<(String, String, String)>,
}

impl Edits<'_> {
    fn push(&mut self, op: Op, path: &[PathSeg], key: impl Into<String>, reason: impl Into<String>) {
        self.what.push((report_path(&self.w.object, path), key.into(), reason.into()));
        self.ops.push(op);
    }
}

fn env_names(tree: &Tree, c: NodeId) -> Vec<String> {
    tree.get(c, "env")
        .map(|e| tree.items(e).iter().filter_map(|&i| tree.str_at(i, &["name"]).map(String::from)).collect())
        .unwrap_or_default()
}

fn field_ref(path: &str) -> Value {
    Value::map([("fieldRef", Value::map([("fieldPath", Value::str(path))]))])
}

fn env_value(name: &str, value: &str) -> Value {
    Value::map([("name", Value::str(name)), ("value", Value::str(value))])
}

fn env_from(name: &str, path: &str) -> Value {
    Value::map([("name", Value::str(name)), ("valueFrom", field_ref(path))])
}

fn json_str(s: &str) -> String {
    // A JSON string is a YAML double-quoted scalar; the same escaping serves both.
    double_quoted(s)
}

impl Wiring for Datadog {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        self.workloads.iter().map(|w| w.kind.clone()).collect()
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let objects = ws.objects();
        let selected = workload::select(
            ws,
            &objects,
            &self.workloads,
            &self.config.workloads,
            "datadog.workloads",
            self.namespace.as_deref(),
            OPT_ANNOTATION,
            NAME,
            report,
        )?;
        for w in &selected {
            if w.pod_spec.is_some() {
                self.wire_workload(ws, w, report)?;
            }
        }
        Ok(())
    }
}

impl Datadog {
    fn note(&self, report: &mut Report, ws: &Workspace<'_>, obj: &Object, level: Level, message: String) {
        let source = ws.source(obj.segment);
        report.document(obj.doc_number, &obj.display(), source.as_deref()).notes.push(Note {
            wiring: NAME.into(),
            level,
            message,
            rule: None,
            line: None,
        });
    }

    fn error(&self, ws: &Workspace<'_>, obj: &Object, message: String) -> Error {
        Error::new(ErrorKind::Wiring, format!("datadog: {message}"))
            .in_document(ws.location(obj.segment, Some(obj.display())))
    }

    /// The config for one workload after its per-object annotations.
    fn settings(&self, ws: &Workspace<'_>, w: &Workload) -> Result<Settings> {
        let obj = &w.object;
        let tree = ws.tree(obj.segment);
        let annotation = |k: &str| tree.str_at(obj.node, &["metadata", "annotations", k]).map(String::from);
        let bad = |key: &str, value: &str, expected: &str| {
            let id = tree.path(obj.node, &["metadata", "annotations", key]).expect("present");
            let n = tree.node(id);
            Error::new(ErrorKind::Config, format!("`{value}` is not a valid value"))
                .with_path(format!("metadata.annotations.{key}"))
                .with_hint(format!("use {expected}"))
                .at(n.line, n.col + 1)
                .in_document(ws.location(obj.segment, Some(obj.display())))
        };
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let mode = match annotation(OVERRIDES[3]) {
            Some(v) => {
                Mode::parse(&v).ok_or_else(|| bad(OVERRIDES[3], &v, "hostip, service, socket, csi or admission"))?
            }
            None => self.config.mode,
        };
        let language = match annotation(OVERRIDES[4]) {
            Some(v) => Some(
                Language::parse(&v).ok_or_else(|| bad(OVERRIDES[4], &v, "java, js, python, dotnet, ruby or php"))?,
            ),
            None => self.config.apm.language,
        };
        let port = |i: usize, default: Option<u32>| -> Result<Option<u32>> {
            match annotation(OVERRIDES[i]) {
                Some(v) => match v.parse::<u32>() {
                    Ok(p) if (1..=65535).contains(&p) => Ok(Some(p)),
                    _ => Err(bad(OVERRIDES[i], &v, "a port number between 1 and 65535")),
                },
                None => Ok(default),
            }
        };
        let version =
            nonempty(annotation(OVERRIDES[2])).or_else(|| nonempty(self.config.version.clone())).or_else(|| {
                let pod_spec = w.pod_spec?;
                let first = workload::containers(tree, pod_spec).into_iter().find(|c| c.list == "containers")?;
                image_tag(tree.str_at(first.node, &["image"])?).map(String::from)
            });
        Ok(Settings {
            env: nonempty(annotation(OVERRIDES[0])).or_else(|| nonempty(self.config.env.clone())),
            service: nonempty(annotation(OVERRIDES[1]))
                .or_else(|| nonempty(self.config.service.clone()))
                .or_else(|| Some(obj.name.clone())),
            version,
            mode,
            language,
            metrics_port: port(5, self.config.metrics.as_ref().map(|m| m.port))?,
            jmx_port: port(6, self.config.jmx.as_ref().map(|j| j.port))?,
        })
    }

    fn wire_workload(&self, ws: &mut Workspace<'_>, w: &Workload, report: &mut Report) -> Result<()> {
        let obj = &w.object;
        let s = self.settings(ws, w)?;
        let tree = ws.tree(obj.segment);
        let pod_spec = w.pod_spec.expect("checked");
        let template = w.template.expect("a pod spec has a template");
        let mut e = Edits { w, ops: Vec::new(), what: Vec::new() };
        let mut notes: Vec<(Level, String)> = Vec::new();
        let containers: Vec<Container> =
            workload::containers(tree, pod_spec).into_iter().filter(|c| c.list != "ephemeralContainers").collect();
        let regular: Vec<&Container> = containers.iter().filter(|c| c.list == "containers").collect();

        // 1. Unified service tagging labels, on the workload and its pod template.
        let mut tags: Vec<(&str, &str, String)> = Vec::new(); // (label, env var, value)
        for (label, var, value, what) in [
            (TAG_ENV, "DD_ENV", &s.env, "env"),
            (TAG_SERVICE, "DD_SERVICE", &s.service, "service"),
            (TAG_VERSION, "DD_VERSION", &s.version, "version"),
        ] {
            let Some(raw) = value else {
                if what == "env" {
                    notes.push((Level::Info, "no env tag: datadog.env is not set".into()));
                }
                continue;
            };
            let valid = label_value(raw);
            if valid != *raw {
                notes.push((
                    Level::Warning,
                    format!("{what} `{raw}` is not a valid label value (at most 63 of A-Za-z0-9-_., alphanumeric at both ends); wrote `{valid}`"),
                ));
            }
            if valid.is_empty() {
                continue;
            }
            tags.push((label, var, valid));
        }
        let template_labels = w.template_child(&["metadata", "labels"]);
        let mut places: Vec<Vec<PathSeg>> = vec![template_labels.clone()];
        if !w.template_path.is_empty() {
            places.insert(0, vec!["metadata".into(), "labels".into()]);
        }
        let mut present_tags: Vec<(&str, &str)> = Vec::new();
        for (label, var, value) in &tags {
            for path in &places {
                let existing =
                    tree.resolve(obj.node, path).and_then(|l| tree.get(l, label)).and_then(|v| tree.scalar(v));
                match existing {
                    Some(v) if v == value => {}
                    Some(v) => notes.push((
                        Level::Info,
                        format!("kept the chart's label {label}: \"{v}\" at {}", report_path(obj, path)),
                    )),
                    None => {
                        let mut p = path.clone();
                        p.push(PathSeg::from(*label));
                        e.push(
                            Op::Set { path: p, value: Value::str(value) },
                            path,
                            *label,
                            "Datadog unified service tagging",
                        );
                    }
                }
            }
            present_tags.push((label, var));
        }
        // Labels the chart set itself also feed the variables.
        for (label, var) in [(TAG_ENV, "DD_ENV"), (TAG_SERVICE, "DD_SERVICE"), (TAG_VERSION, "DD_VERSION")] {
            if !present_tags.iter().any(|(l, _)| *l == label)
                && tree.path(template, &["metadata", "labels", label]).is_some()
            {
                present_tags.push((label, var));
            }
        }
        present_tags.sort_by_key(|(l, _)| [TAG_ENV, TAG_SERVICE, TAG_VERSION].iter().position(|x| x == l));

        let label_of = |key: &str| {
            tree.path(template, &["metadata", "labels", key]).and_then(|v| tree.scalar(v)).map(String::from)
        };
        let set_label =
            |e: &mut Edits<'_>, key: &str, value: &str, reason: &str, notes: &mut Vec<(Level, String)>| match label_of(
                key,
            ) {
                Some(v) if v == value => {}
                Some(v) => notes.push((
                    Level::Warning,
                    format!("kept the chart's label {key}: \"{v}\" (postwire would write \"{value}\")"),
                )),
                None => {
                    let mut p = template_labels.clone();
                    p.push(PathSeg::from(key));
                    e.push(Op::Set { path: p, value: Value::str(value) }, &template_labels, key, reason);
                }
            };

        // 2. The admission controller's labels.
        let apm = self.config.apm.enabled.then_some(s.language).flatten();
        if s.mode == Mode::Admission || apm.is_some() {
            set_label(&mut e, ENABLED_LABEL, "true", "opts the pod in to the Datadog admission controller", &mut notes);
        }
        let injected_mode = match s.mode {
            Mode::Admission => self.config.admission_config_mode,
            m => Some(m),
        };
        // Admission mode: the label picks the mode the webhook injects, over the cluster's
        // default; otherwise postwire injected already and the webhook must match it.
        let why = if s.mode == Mode::Admission {
            "the admission controller injects the agent connection in this mode, not the cluster default"
        } else {
            "the admission controller injects in the same mode, so it adds nothing twice"
        };
        if let Some(m) = injected_mode {
            set_label(&mut e, MODE_LABEL, m.as_str(), why, &mut notes);
            if matches!(m, Mode::Socket | Mode::Csi) && s.mode != Mode::Admission {
                let v = if self.config.type_socket_volumes { "true" } else { "false" };
                set_label(
                    &mut e,
                    SOCKET_VOLUMES_LABEL,
                    v,
                    "the admission controller uses the same socket volumes",
                    &mut notes,
                );
            }
        }

        // 3. Annotations: APM library, Autodiscovery.
        let template_annotations = w.template_child(&["metadata", "annotations"]);
        let annotation_of = |key: &str| {
            tree.path(template, &["metadata", "annotations", key]).and_then(|v| tree.scalar(v)).map(String::from)
        };
        let set_annotation =
            |e: &mut Edits<'_>, key: &str, value: String, reason: String, notes: &mut Vec<(Level, String)>| {
                match annotation_of(key) {
                    Some(v) if v == value => {}
                    Some(_) => notes.push((Level::Info, format!("kept the chart's annotation {key}"))),
                    None => {
                        let mut p = template_annotations.clone();
                        p.push(PathSeg::from(key));
                        e.push(Op::Set { path: p, value: Value::Str(value) }, &template_annotations, key, reason);
                    }
                }
            };
        if let Some(lang) = apm {
            let version = self.config.apm.version.clone().unwrap_or_else(|| lang.default_version().to_string());
            set_annotation(
                &mut e,
                &format!("admission.datadoghq.com/{}-lib.version", lang.as_str()),
                version,
                format!("the admission controller injects the {} tracing library", lang.as_str()),
                &mut notes,
            );
        }
        let pick = |wanted: &Option<String>, port: u32| -> Result<Option<&Container>> {
            if let Some(name) = wanted {
                return match regular.iter().find(|c| &c.name == name) {
                    Some(c) => Ok(Some(c)),
                    None => {
                        Err(self.error(ws, obj, format!("there is no container `{name}` for the Autodiscovery check")))
                    }
                };
            }
            let declares = regular.iter().find(|c| {
                tree.get(c.node, "ports").is_some_and(|ps| {
                    tree.items(ps)
                        .iter()
                        .any(|&p| tree.str_at(p, &["containerPort"]) == Some(port.to_string().as_str()))
                })
            });
            Ok(declares.or(regular.first()).copied())
        };
        let mut checks: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let service = s.service.as_deref().map(label_value).unwrap_or_else(|| obj.name.clone());
        if let (Some(m), Some(port)) = (&self.config.metrics, s.metrics_port) {
            if let Some(c) = pick(&m.container, port)? {
                let metrics: Vec<String> = m.metrics.iter().map(|x| json_str(x)).collect();
                let ns = m.namespace.clone().unwrap_or_else(|| service.clone());
                checks.entry(c.name.clone()).or_default().push(format!(
                    "\"openmetrics\":{{\"init_config\":{{}},\"instances\":[{{\"openmetrics_endpoint\":{},\"namespace\":{},\"metrics\":[{}]}}]}}",
                    json_str(&format!("http://%%host%%:{port}{}", m.path)),
                    json_str(&ns),
                    metrics.join(",")
                ));
            }
        }
        let mut jmx_container: Option<(String, u32)> = None;
        if let (Some(j), Some(port)) = (&self.config.jmx, s.jmx_port) {
            if let Some(c) = pick(&j.container, port)? {
                checks.entry(c.name.clone()).or_default().push(format!(
                    "{}:{{\"init_config\":{{\"is_jmx\":true,\"collect_default_metrics\":true}},\"instances\":[{{\"host\":\"%%host%%\",\"port\":\"{port}\"}}]}}",
                    json_str(&j.integration)
                ));
                jmx_container = Some((c.name.clone(), port));
                notes.push((
                    Level::Info,
                    "the JMX check needs a Datadog Agent image with the `-jmx` tag suffix".to_string(),
                ));
            }
        }
        let ad_key = |c: &str, suffix: &str| -> Result<String> {
            let name = format!("{c}.{suffix}");
            if name.len() > 63 {
                return Err(self
                    .error(ws, obj, format!("container `{c}` has a name of {} characters; the annotation key ad.datadoghq.com/{name} allows at most {} for `{suffix}`", c.len(), 62 - suffix.len()))
                    .with_hint("Autodiscovery keys are `<container>.<suffix>` within the 63-character name limit; shorten the container name"));
            }
            Ok(format!("ad.datadoghq.com/{name}"))
        };
        for (c, parts) in &checks {
            let key = ad_key(c, "checks")?;
            set_annotation(
                &mut e,
                &key,
                format!("{{{}}}", parts.join(",")),
                format!("Autodiscovery v2 checks of container {c}"),
                &mut notes,
            );
        }
        if self.config.logs.enabled {
            let source = self.config.logs.source.clone().or_else(|| apm.map(|l| l.as_str().to_string()));
            for name in &self.config.logs.containers {
                if !regular.iter().any(|c| &c.name == name) {
                    return Err(self.error(
                        ws,
                        obj,
                        format!("there is no container `{name}` (datadog.logs.containers)"),
                    ));
                }
            }
            for c in &regular {
                if !self.config.logs.containers.is_empty() && !self.config.logs.containers.contains(&c.name) {
                    continue;
                }
                let key = ad_key(&c.name, "logs")?;
                let src = source.clone().unwrap_or_else(|| c.name.clone());
                set_annotation(
                    &mut e,
                    &key,
                    format!("[{{\"source\":{},\"service\":{}}}]", json_str(&src), json_str(&service)),
                    format!("log source and service of container {}", c.name),
                    &mut notes,
                );
            }
        }

        // 4. Variables, volumes and mounts (not in admission mode: the webhook does that).
        if s.mode == Mode::Admission {
            if self.config.logs.enabled || self.config.apm.profiling || self.config.apm.sample_rate.is_some() {
                notes.push((Level::Info, "mode admission: no variables are written (DD_LOGS_INJECTION, profiling, sampling); configure them in the cluster agent".into()));
            }
        } else {
            self.wire_containers(ws, w, &s, &containers, &present_tags, jmx_container.as_ref(), &mut e, &mut notes)?;
        }

        let Edits { ops, what, .. } = e;
        for (level, message) in notes {
            self.note(report, ws, obj, level, message);
        }
        if ops.is_empty() {
            return Ok(());
        }
        let outcomes = ws.edit(obj.segment, obj.node, &ops, &obj.display())?;
        let source = ws.source(obj.segment);
        for ((path, key, reason), outcome) in what.into_iter().zip(outcomes) {
            let action = match outcome {
                Outcome::Unchanged | Outcome::Removed => continue,
                Outcome::Added => Action::Added,
                Outcome::Updated => Action::Updated,
            };
            report.document(obj.doc_number, &obj.display(), source.as_deref()).changes.push(Change {
                wiring: NAME.into(),
                path,
                key,
                action,
                reason,
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn wire_containers(
        &self,
        ws: &Workspace<'_>,
        w: &Workload,
        s: &Settings,
        containers: &[Container],
        tags: &[(&str, &str)],
        jmx: Option<&(String, u32)>,
        e: &mut Edits<'_>,
        notes: &mut Vec<(Level, String)>,
    ) -> Result<()> {
        let obj = &w.object;
        let tree = ws.tree(obj.segment);
        let pod_spec = w.pod_spec.expect("checked");
        let c = &self.config;
        // Volumes and mounts of the socket modes, in a fixed order.
        let mut volumes: Vec<(String, Value, String)> = Vec::new(); // (name, volume, mount path)
        let socket_path = |url: &str| url.trim_start_matches("unix://").to_string();
        match s.mode {
            Mode::Socket | Mode::Csi if c.type_socket_volumes => {
                for (name, url, csi_type) in [
                    ("datadog-dogstatsd", &c.dogstatsd_socket, "DSDSocket"),
                    ("datadog-trace-agent", &c.trace_agent_socket, "APMSocket"),
                ] {
                    let path = socket_path(url);
                    volumes.push((name.into(), self.volume(s.mode, name, &path, "Socket", csi_type), path));
                }
            }
            Mode::Csi => {
                // Two directories, as the config webhook mounts them in csi mode
                // (DataDog/datadog-agent `pkg/clusteragent/admission/mutate/config/mutator.go`,
                // `injectSocketVolumes`): one volume at `socketPath` would be doubled by its
                // `datadog-dsd` and `datadog-apm`, which it adds by name and path.
                for (name, dir, csi_type) in
                    [("datadog-dsd", "dsd", "DSDSocketDirectory"), ("datadog-apm", "apm", "APMSocketDirectory")]
                {
                    let path = format!("{}/{dir}", c.socket_path.trim_end_matches('/'));
                    volumes.push((name.into(), self.volume(s.mode, name, &path, "DirectoryOrCreate", csi_type), path));
                }
            }
            Mode::Socket => {
                volumes.push((
                    "datadog".into(),
                    self.volume(s.mode, "datadog", &c.socket_path, "DirectoryOrCreate", "DSDSocketDirectory"),
                    c.socket_path.clone(),
                ));
            }
            _ => {}
        }
        let existing_volumes: Vec<&str> = tree
            .get(pod_spec, "volumes")
            .map(|v| tree.items(v).iter().filter_map(|&i| tree.str_at(i, &["name"])).collect())
            .unwrap_or_default();
        let mut injected: Vec<String> = Vec::new();
        for (name, volume, _) in &volumes {
            if existing_volumes.contains(&name.as_str()) {
                notes.push((Level::Info, format!("kept the pod's own volume `{name}`")));
                continue;
            }
            let path = w.pod_spec_child(&["volumes".into()]);
            e.push(
                Op::Insert { path: path.clone(), index: None, item: volume.clone() },
                &path,
                name.clone(),
                "the Datadog agent's sockets",
            );
            injected.push(name.clone());
        }
        if !injected.is_empty() {
            let current = tree
                .path(w.template.expect("template"), &["metadata", "annotations", SAFE_TO_EVICT])
                .and_then(|v| tree.scalar(v))
                .unwrap_or("");
            let mut list: Vec<String> =
                current.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
            for v in &injected {
                if !list.contains(v) {
                    list.push(v.clone());
                }
            }
            let value = list.join(",");
            if value != current {
                let mut p = w.template_child(&["metadata", "annotations"]);
                p.push(SAFE_TO_EVICT.into());
                let at = w.template_child(&["metadata", "annotations"]);
                e.push(
                    Op::Set { path: p, value: Value::str(value) },
                    &at,
                    SAFE_TO_EVICT,
                    "hostPath and CSI volumes the admission controller marks safe to evict",
                );
            }
        }

        for ctr in containers {
            let init = ctr.list == "initContainers";
            let names = env_names(tree, ctr.node);
            let mut env: Vec<(String, Value)> = Vec::new();
            let mut add = |name: &str, v: Value| env.push((name.to_string(), v));
            add("DD_INTERNAL_POD_UID", env_from("DD_INTERNAL_POD_UID", "metadata.uid"));
            add(
                "DD_EXTERNAL_ENV",
                env_value("DD_EXTERNAL_ENV", &format!("it-{init},cn-{},pu-$(DD_INTERNAL_POD_UID)", ctr.name)),
            );
            add("DD_ENTITY_ID", env_from("DD_ENTITY_ID", "metadata.uid"));
            match s.mode {
                Mode::Hostip => add("DD_AGENT_HOST", env_from("DD_AGENT_HOST", "status.hostIP")),
                Mode::Service => add(
                    "DD_AGENT_HOST",
                    env_value(
                        "DD_AGENT_HOST",
                        &format!("{}.{}.svc.cluster.local", c.local_service_name, c.agent_namespace),
                    ),
                ),
                Mode::Csi if !c.type_socket_volumes => {
                    // The socket files under the two directories (`MutatePod`, `apmMountBase`).
                    let under = |dir: &str, url: &str| {
                        let file = url.rsplit('/').next().unwrap_or_default();
                        format!("unix://{}/{dir}/{file}", c.socket_path.trim_end_matches('/'))
                    };
                    add("DD_DOGSTATSD_URL", env_value("DD_DOGSTATSD_URL", &under("dsd", &c.dogstatsd_socket)));
                    add("DD_TRACE_AGENT_URL", env_value("DD_TRACE_AGENT_URL", &under("apm", &c.trace_agent_socket)));
                }
                Mode::Socket | Mode::Csi => {
                    add("DD_DOGSTATSD_URL", env_value("DD_DOGSTATSD_URL", &c.dogstatsd_socket));
                    add("DD_TRACE_AGENT_URL", env_value("DD_TRACE_AGENT_URL", &c.trace_agent_socket));
                }
                Mode::Admission => {}
            }
            for (label, var) in tags {
                add(var, env_from(var, &format!("metadata.labels['{label}']")));
            }
            if c.logs.enabled {
                add("DD_LOGS_INJECTION", env_value("DD_LOGS_INJECTION", "true"));
            }
            if c.apm.profiling {
                add("DD_PROFILING_ENABLED", env_value("DD_PROFILING_ENABLED", "true"));
            }
            if let Some(rate) = c.apm.sample_rate {
                add("DD_TRACE_SAMPLE_RATE", env_value("DD_TRACE_SAMPLE_RATE", &rate.to_string()));
            }
            if let Some((_, port)) = jmx.filter(|(n, _)| *n == ctr.name && !init) {
                let var = c.jmx.as_ref().map_or("JAVA_OPTS", |j| j.java_opts_variable.as_str());
                add("POD_IP", env_from("POD_IP", "status.podIP"));
                if var == "JAVA_TOOL_OPTIONS" {
                    notes.push((Level::Warning, format!(
                        "container {}: every JVM it starts reads JAVA_TOOL_OPTIONS, so a second one (jcmd, jstack, a helper java process) binds JMX port {port} again and exits with \"port already in use\"; prefer a variable only the application's launcher reads (JAVA_OPTS) when the image's entrypoint passes it on",
                        ctr.name
                    )));
                }
                if names.iter().any(|n| n == var) {
                    notes.push((Level::Warning, format!(
                        "container {} sets {var} itself; add -Dcom.sun.management.jmxremote.port={port} -Dcom.sun.management.jmxremote.rmi.port={port} -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.local.only=false -Djava.rmi.server.hostname=$(POD_IP) to it for the JMX check",
                        ctr.name
                    )));
                } else {
                    add(var, env_value(var, &format!(
                        "-Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.port={port} -Dcom.sun.management.jmxremote.rmi.port={port} -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.local.only=false -Djava.rmi.server.hostname=$(POD_IP)"
                    )));
                }
            }
            let env_path = w.pod_spec_child(&[ctr.list.into(), ctr.index.into(), "env".into()]);
            let mut at = 0;
            for (name, item) in env {
                if names.contains(&name) {
                    continue;
                }
                e.push(
                    Op::Insert { path: env_path.clone(), index: Some(at), item },
                    &env_path,
                    name,
                    format!("what the Datadog admission controller injects into {}", ctr.describe()),
                );
                at += 1;
            }
            let mounts: Vec<(Option<&str>, Option<&str>)> = tree
                .get(ctr.node, "volumeMounts")
                .map(|m| {
                    tree.items(m).iter().map(|&i| (tree.str_at(i, &["name"]), tree.str_at(i, &["mountPath"]))).collect()
                })
                .unwrap_or_default();
            let mount_path = w.pod_spec_child(&[ctr.list.into(), ctr.index.into(), "volumeMounts".into()]);
            for (name, _, path) in &volumes {
                if mounts.iter().any(|(n, p)| *n == Some(name.as_str()) || *p == Some(path.as_str())) {
                    continue;
                }
                let item = Value::map([
                    ("name", Value::str(name)),
                    ("mountPath", Value::str(path)),
                    ("readOnly", Value::Bool(true)),
                ]);
                e.push(
                    Op::Insert { path: mount_path.clone(), index: None, item },
                    &mount_path,
                    name.clone(),
                    format!("the agent's sockets in {}", ctr.describe()),
                );
            }
        }
        Ok(())
    }

    fn volume(&self, mode: Mode, name: &str, path: &str, host_type: &str, csi_type: &str) -> Value {
        let source = if mode == Mode::Csi {
            (
                "csi",
                Value::map([
                    ("driver", Value::str(&self.config.csi_driver)),
                    ("readOnly", Value::Bool(true)),
                    ("volumeAttributes", Value::map([("type", Value::str(csi_type))])),
                ]),
            )
        } else {
            ("hostPath", Value::map([("path", Value::str(path)), ("type", Value::str(host_type))]))
        };
        Value::map([("name", Value::str(name)), source])
    }
}

#[cfg(test)]
mod tests;
