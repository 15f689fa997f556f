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

use crate::config::Invalid;
use crate::edit::Value;
use crate::emit::double_quoted;
use crate::error::{Error, ErrorKind, Result};
use crate::report::{Level, Report};
use crate::resource::{Container, WorkloadKind};
use crate::select::Selector;
use crate::wire::ContextV1;
use crate::workload::{self, report_path, Workload};
use crate::workspace::Workspace;
use crate::yaml::PathSeg;

use super::changes::Changes;
use super::podspec::{self, EnvAt, Existing, Pod};
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
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let err = |msg: String, path: Vec<&'static str>, hint: &str| {
            Err(Invalid::new(msg, path.into_iter().map(PathSeg::from).collect()).hint(hint))
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

/// A valid label value for a tag: other characters become `_`, as Datadog's own tag
/// normalisation makes them (see [`crate::names::label_value`]).
pub fn label_value(s: &str) -> String {
    crate::names::label_value(s, '_')
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
    pub fn new(config: &DatadogConfig, workloads: Vec<WorkloadKind>, context: &ContextV1) -> Self {
        Datadog { config: config.clone(), workloads, namespace: context.namespace.clone() }
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

    /// Wire one workload: every concern plans on one [`Changes`], applied once at the end.
    fn wire_workload(&self, ws: &mut Workspace<'_>, w: &Workload, report: &mut Report) -> Result<()> {
        let settings = self.settings(ws, w)?;
        let mut changes = Changes::new(NAME, &w.object);
        Plan::new(&self.config, ws, w, &settings).plan(&mut changes)?;
        changes.apply(ws, report)
    }
}

/// The unified service tags: the label and the variable the admission controller reads from it.
const TAGS: [(&str, &str); 3] = [(TAG_ENV, "DD_ENV"), (TAG_SERVICE, "DD_SERVICE"), (TAG_VERSION, "DD_VERSION")];

/// An environment variable to inject: its name and its `env` item.
type EnvItem = Value;

/// `NAME=value`.
fn var(name: &str, value: &str) -> EnvItem {
    podspec::env_value(name, value)
}

/// `NAME` from a field of the pod (`metadata.uid`, `status.hostIP`).
fn var_from(name: &str, field_path: &str) -> EnvItem {
    podspec::env_field(name, field_path)
}

/// A volume of the agent's sockets: the pod volume and where every container mounts it.
struct SocketVolume {
    name: &'static str,
    volume: Value,
    path: String,
}

/// One workload being wired: what every step reads, so that each concern is a short method
/// planning its own edits and notes on the workload's [`Changes`].
struct Plan<'a, 'w> {
    config: &'a DatadogConfig,
    ws: &'a Workspace<'w>,
    settings: &'a Settings,
    pod: Pod<'a>,
    /// Init and regular containers (ephemeral ones get nothing).
    containers: Vec<Container>,
}

impl<'a, 'w> Plan<'a, 'w> {
    fn new(config: &'a DatadogConfig, ws: &'a Workspace<'w>, w: &'a Workload, settings: &'a Settings) -> Self {
        let tree = ws.tree(w.object.segment);
        let pod_spec = w.pod_spec.expect("only workloads with a pod spec are wired");
        let containers =
            workload::containers(tree, pod_spec).into_iter().filter(|c| c.list != "ephemeralContainers").collect();
        Plan { config, ws, settings, pod: Pod::new(tree, w), containers }
    }

    /// Every concern, in the order the edits and notes go into the report: labels, annotations,
    /// then (unless the admission controller injects) volumes and each container's env and mounts.
    fn plan(&self, changes: &mut Changes<'_>) -> Result<()> {
        let tags = self.tag_labels(changes);
        self.admission_labels(changes);
        self.apm_annotation(changes);
        let jmx = self.check_annotations(changes)?;
        self.logs_annotations(changes)?;
        if self.settings.mode == Mode::Admission {
            let apm = &self.config.apm;
            if self.config.logs.enabled || apm.profiling || apm.sample_rate.is_some() {
                changes.note(Level::Info, "mode admission: no variables are written (DD_LOGS_INJECTION, profiling, sampling); configure them in the cluster agent");
            }
            return Ok(());
        }
        let volumes = self.socket_volumes();
        self.add_volumes(changes, &volumes);
        for ctr in &self.containers {
            self.container_env(changes, ctr, &tags, jmx.as_ref());
            self.container_mounts(changes, ctr, &volumes);
        }
        Ok(())
    }

    fn error(&self, message: String) -> Error {
        let obj = &self.pod.workload.object;
        Error::new(ErrorKind::Wiring, format!("datadog: {message}"))
            .in_document(self.ws.location(obj.segment, Some(obj.display())))
    }

    /// The regular containers (the only ones with Autodiscovery keys).
    fn regular(&self) -> impl Iterator<Item = &Container> {
        self.containers.iter().filter(|c| c.list == "containers")
    }

    /// The APM language, when library injection is on.
    fn apm_language(&self) -> Option<Language> {
        self.config.apm.enabled.then_some(self.settings.language).flatten()
    }

    /// The service as a label value, for the Autodiscovery annotations.
    fn service(&self) -> String {
        self.settings.service.as_deref().map(label_value).unwrap_or_else(|| self.pod.workload.object.name.clone())
    }

    /// The unified service tags to write, each made a valid label value (a warning says when
    /// that changed it; an info note says there is no env).
    fn tag_values(&self, changes: &mut Changes<'_>) -> Vec<(&'static str, &'static str, String)> {
        let s = self.settings;
        let mut tags = Vec::new();
        for ((label, var), (value, what)) in
            TAGS.into_iter().zip([(&s.env, "env"), (&s.service, "service"), (&s.version, "version")])
        {
            let Some(raw) = value else {
                if what == "env" {
                    changes.note(Level::Info, "no env tag: datadog.env is not set");
                }
                continue;
            };
            let valid = label_value(raw);
            if valid != *raw {
                changes.note(
                    Level::Warning,
                    format!("{what} `{raw}` is not a valid label value (at most 63 of A-Za-z0-9-_., alphanumeric at both ends); wrote `{valid}`"),
                );
            }
            if !valid.is_empty() {
                tags.push((label, var, valid));
            }
        }
        tags
    }

    /// Unified service tagging labels on the workload and its pod template, a chart's own label
    /// kept; returns the (label, variable) pairs the pod's labels carry, to feed the variables.
    fn tag_labels(&self, changes: &mut Changes<'_>) -> Vec<(&'static str, &'static str)> {
        let (tree, w) = (self.pod.tree, self.pod.workload);
        let mut places = vec![w.template_child(&["metadata", "labels"])];
        if !w.template_path.is_empty() {
            places.insert(0, vec!["metadata".into(), "labels".into()]);
        }
        let mut present = Vec::new();
        for (label, var, value) in self.tag_values(changes) {
            for at in &places {
                let reason = "Datadog unified service tagging";
                if let Existing::Other(v) = podspec::set_if_absent(changes, tree, at, label, &value, reason) {
                    let place = report_path(&w.object, at);
                    changes.note(Level::Info, format!("kept the chart's label {label}: \"{v}\" at {place}"));
                }
            }
            present.push((label, var));
        }
        // Labels the chart set itself also feed the variables.
        for (label, var) in TAGS {
            let charts = w.template.and_then(|t| tree.path(t, &["metadata", "labels", label])).is_some();
            if charts && !present.iter().any(|(l, _)| *l == label) {
                present.push((label, var));
            }
        }
        present.sort_by_key(|(l, _)| TAGS.iter().position(|(x, _)| x == l));
        present
    }

    /// Set a pod template label unless the chart has one (a warning when it differs).
    fn template_label(&self, changes: &mut Changes<'_>, key: &str, value: &str, reason: &str) {
        let at = self.pod.workload.template_child(&["metadata", "labels"]);
        if let Existing::Other(v) = podspec::set_if_absent(changes, self.pod.tree, &at, key, value, reason) {
            changes.note(
                Level::Warning,
                format!("kept the chart's label {key}: \"{v}\" (postwire would write \"{value}\")"),
            );
        }
    }

    /// Set a pod template annotation unless the chart has one (an info note when it differs).
    fn template_annotation(&self, changes: &mut Changes<'_>, key: &str, value: &str, reason: String) {
        let at = self.pod.workload.template_child(&["metadata", "annotations"]);
        if let Existing::Other(_) = podspec::set_if_absent(changes, self.pod.tree, &at, key, value, reason) {
            changes.note(Level::Info, format!("kept the chart's annotation {key}"));
        }
    }

    /// The admission controller's labels: the opt-in, the mode it injects and its socket volumes.
    fn admission_labels(&self, changes: &mut Changes<'_>) {
        let mode = self.settings.mode;
        if mode == Mode::Admission || self.apm_language().is_some() {
            let why = "opts the pod in to the Datadog admission controller";
            self.template_label(changes, ENABLED_LABEL, "true", why);
        }
        // Admission mode: the label picks the mode the webhook injects, over the cluster's
        // default; otherwise postwire injected already and the webhook must match it.
        let (injected, why) = match mode {
            Mode::Admission => (
                self.config.admission_config_mode,
                "the admission controller injects the agent connection in this mode, not the cluster default",
            ),
            m => (Some(m), "the admission controller injects in the same mode, so it adds nothing twice"),
        };
        let Some(injected) = injected else { return };
        self.template_label(changes, MODE_LABEL, injected.as_str(), why);
        if matches!(injected, Mode::Socket | Mode::Csi) && mode != Mode::Admission {
            let value = if self.config.type_socket_volumes { "true" } else { "false" };
            let why = "the admission controller uses the same socket volumes";
            self.template_label(changes, SOCKET_VOLUMES_LABEL, value, why);
        }
    }

    /// The annotation that has the admission controller inject the APM tracing library.
    fn apm_annotation(&self, changes: &mut Changes<'_>) {
        let Some(lang) = self.apm_language() else { return };
        let version = self.config.apm.version.clone().unwrap_or_else(|| lang.default_version().to_string());
        let key = format!("admission.datadoghq.com/{}-lib.version", lang.as_str());
        let why = format!("the admission controller injects the {} tracing library", lang.as_str());
        self.template_annotation(changes, &key, &version, why);
    }

    /// The container an Autodiscovery check on `port` is for: the one named, else the one
    /// declaring the port, else the first (none when the pod has no regular container).
    fn check_container(&self, wanted: &Option<String>, port: u32) -> Result<Option<&Container>> {
        if let Some(name) = wanted {
            let named = self.regular().find(|c| &c.name == name);
            return named
                .map(Some)
                .ok_or_else(|| self.error(format!("there is no container `{name}` for the Autodiscovery check")));
        }
        let tree = self.pod.tree;
        let port = port.to_string();
        let declares = self.regular().find(|c| {
            tree.get(c.node, "ports").is_some_and(|ps| {
                tree.items(ps).iter().any(|&p| tree.str_at(p, &["containerPort"]) == Some(port.as_str()))
            })
        });
        Ok(declares.or_else(|| self.regular().next()))
    }

    /// The OpenMetrics check: its container and its entry in that container's checks.
    fn openmetrics_check(&self) -> Result<Option<(String, String)>> {
        let (Some(m), Some(port)) = (&self.config.metrics, self.settings.metrics_port) else { return Ok(None) };
        let Some(c) = self.check_container(&m.container, port)? else { return Ok(None) };
        let metrics: Vec<String> = m.metrics.iter().map(|x| json_str(x)).collect();
        let namespace = m.namespace.clone().unwrap_or_else(|| self.service());
        Ok(Some((c.name.clone(), format!(
            "\"openmetrics\":{{\"init_config\":{{}},\"instances\":[{{\"openmetrics_endpoint\":{},\"namespace\":{},\"metrics\":[{}]}}]}}",
            json_str(&format!("http://%%host%%:{port}{}", m.path)),
            json_str(&namespace),
            metrics.join(",")
        ))))
    }

    /// The JMX check: its container, its port and its entry in that container's checks.
    fn jmx_check(&self) -> Result<Option<(String, u32, String)>> {
        let (Some(j), Some(port)) = (&self.config.jmx, self.settings.jmx_port) else { return Ok(None) };
        let Some(c) = self.check_container(&j.container, port)? else { return Ok(None) };
        Ok(Some((c.name.clone(), port, format!(
            "{}:{{\"init_config\":{{\"is_jmx\":true,\"collect_default_metrics\":true}},\"instances\":[{{\"host\":\"%%host%%\",\"port\":\"{port}\"}}]}}",
            json_str(&j.integration)
        ))))
    }

    /// The `ad.datadoghq.com/<container>.<suffix>` key, or an error when it is too long.
    fn ad_key(&self, container: &str, suffix: &str) -> Result<String> {
        let name = format!("{container}.{suffix}");
        if name.len() > 63 {
            return Err(self
                .error(format!("container `{container}` has a name of {} characters; the annotation key ad.datadoghq.com/{name} allows at most {} for `{suffix}`", container.len(), 62 - suffix.len()))
                .with_hint("Autodiscovery keys are `<container>.<suffix>` within the 63-character name limit; shorten the container name"));
        }
        Ok(format!("ad.datadoghq.com/{name}"))
    }

    /// Autodiscovery v2 checks (OpenMetrics, JMX), one `checks` annotation per container;
    /// returns the JMX container and port, whose JVM needs flags.
    fn check_annotations(&self, changes: &mut Changes<'_>) -> Result<Option<(String, u32)>> {
        let mut checks: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some((container, check)) = self.openmetrics_check()? {
            checks.entry(container).or_default().push(check);
        }
        let mut jmx = None;
        if let Some((container, port, check)) = self.jmx_check()? {
            checks.entry(container.clone()).or_default().push(check);
            changes.note(Level::Info, "the JMX check needs a Datadog Agent image with the `-jmx` tag suffix");
            jmx = Some((container, port));
        }
        for (container, parts) in &checks {
            let key = self.ad_key(container, "checks")?;
            let why = format!("Autodiscovery v2 checks of container {container}");
            self.template_annotation(changes, &key, &format!("{{{}}}", parts.join(",")), why);
        }
        Ok(jmx)
    }

    /// The Autodiscovery logs annotation (source and service) of each chosen regular container.
    fn logs_annotations(&self, changes: &mut Changes<'_>) -> Result<()> {
        let logs = &self.config.logs;
        if !logs.enabled {
            return Ok(());
        }
        if let Some(name) = logs.containers.iter().find(|&n| !self.regular().any(|c| &c.name == n)) {
            return Err(self.error(format!("there is no container `{name}` (datadog.logs.containers)")));
        }
        let source = logs.source.clone().or_else(|| self.apm_language().map(|l| l.as_str().to_string()));
        let service = json_str(&self.service());
        for c in self.regular() {
            if !logs.containers.is_empty() && !logs.containers.contains(&c.name) {
                continue;
            }
            let key = self.ad_key(&c.name, "logs")?;
            let src = json_str(source.as_deref().unwrap_or(&c.name));
            let why = format!("log source and service of container {}", c.name);
            self.template_annotation(changes, &key, &format!("[{{\"source\":{src},\"service\":{service}}}]"), why);
        }
        Ok(())
    }

    /// The volumes of the agent's sockets in this mode, in a fixed order (none for hostip and
    /// service).
    fn socket_volumes(&self) -> Vec<SocketVolume> {
        let config = self.config;
        let socket_path = |url: &str| url.trim_start_matches("unix://").to_string();
        match self.settings.mode {
            Mode::Socket | Mode::Csi if config.type_socket_volumes => vec![
                self.volume("datadog-dogstatsd", socket_path(&config.dogstatsd_socket), "Socket", "DSDSocket"),
                self.volume("datadog-trace-agent", socket_path(&config.trace_agent_socket), "Socket", "APMSocket"),
            ],
            // Two directories, as the config webhook mounts them in csi mode
            // (DataDog/datadog-agent@0d988980083520ba31844235492dca8cdbd9b02e
            // pkg/clusteragent/admission/mutate/config/mutator.go:225, :244-245): one volume at
            // `socketPath` would be doubled by its `datadog-dsd` and `datadog-apm`, which it adds
            // by name and path.
            Mode::Csi => {
                let under = |dir: &str| format!("{}/{dir}", config.socket_path.trim_end_matches('/'));
                vec![
                    self.volume("datadog-dsd", under("dsd"), "DirectoryOrCreate", "DSDSocketDirectory"),
                    self.volume("datadog-apm", under("apm"), "DirectoryOrCreate", "APMSocketDirectory"),
                ]
            }
            Mode::Socket => {
                vec![self.volume("datadog", config.socket_path.clone(), "DirectoryOrCreate", "DSDSocketDirectory")]
            }
            Mode::Hostip | Mode::Service | Mode::Admission => Vec::new(),
        }
    }

    /// A socket volume at `path`: a `hostPath` of `host_type`, or in csi mode the driver's
    /// volume of `csi_type`.
    fn volume(&self, name: &'static str, path: String, host_type: &str, csi_type: &str) -> SocketVolume {
        let source = if self.settings.mode == Mode::Csi {
            let attributes = Value::map([("type", Value::str(csi_type))]);
            let driver = Value::str(&self.config.csi_driver);
            ("csi", Value::map([("driver", driver), ("readOnly", Value::Bool(true)), ("volumeAttributes", attributes)]))
        } else {
            ("hostPath", Value::map([("path", Value::str(&path)), ("type", Value::str(host_type))]))
        };
        SocketVolume { name, volume: Value::map([("name", Value::str(name)), source]), path }
    }

    /// Add the socket volumes the pod lacks (its own of the same name is kept), then list the
    /// added ones as safe to evict.
    fn add_volumes(&self, changes: &mut Changes<'_>, volumes: &[SocketVolume]) {
        let mut added = Vec::new();
        for v in volumes {
            if podspec::ensure_volume(changes, &self.pod, None, v.volume.clone(), "the Datadog agent's sockets") {
                added.push(v.name);
            } else {
                changes.note(Level::Info, format!("kept the pod's own volume `{}`", v.name));
            }
        }
        self.safe_to_evict(changes, &added);
    }

    /// Join the added volumes to the pod's safe-to-evict annotation, as the admission controller
    /// does for its hostPath and CSI volumes, so they do not block cluster autoscaling.
    fn safe_to_evict(&self, changes: &mut Changes<'_>, added: &[&str]) {
        if added.is_empty() {
            return;
        }
        let current = self.pod.template_scalar(&["metadata", "annotations", SAFE_TO_EVICT]).unwrap_or("");
        let mut list: Vec<&str> = current.split(',').map(str::trim).filter(|x| !x.is_empty()).collect();
        for name in added {
            if !list.contains(name) {
                list.push(name);
            }
        }
        let value = list.join(",");
        if value != current {
            let at = self.pod.workload.template_child(&["metadata", "annotations"]);
            let why = "hostPath and CSI volumes the admission controller marks safe to evict";
            changes.set(&at, SAFE_TO_EVICT, Value::str(value), why);
        }
    }

    /// The agent connection in this mode, with the admission controller's names and values.
    fn connection_env(&self) -> Vec<EnvItem> {
        let c = self.config;
        match self.settings.mode {
            Mode::Hostip => vec![var_from("DD_AGENT_HOST", "status.hostIP")],
            Mode::Service => {
                vec![var("DD_AGENT_HOST", &format!("{}.{}.svc.cluster.local", c.local_service_name, c.agent_namespace))]
            }
            Mode::Csi if !c.type_socket_volumes => {
                // The socket files under the two directories (DataDog/datadog-agent@0d98898
                // pkg/clusteragent/admission/mutate/config/mutator.go:150-156).
                let under = |dir: &str, url: &str| {
                    let file = url.rsplit('/').next().unwrap_or_default();
                    format!("unix://{}/{dir}/{file}", c.socket_path.trim_end_matches('/'))
                };
                vec![
                    var("DD_DOGSTATSD_URL", &under("dsd", &c.dogstatsd_socket)),
                    var("DD_TRACE_AGENT_URL", &under("apm", &c.trace_agent_socket)),
                ]
            }
            Mode::Socket | Mode::Csi => {
                vec![var("DD_DOGSTATSD_URL", &c.dogstatsd_socket), var("DD_TRACE_AGENT_URL", &c.trace_agent_socket)]
            }
            Mode::Admission => Vec::new(),
        }
    }

    /// `POD_IP` and the JVM's JMX flags for the JMX check's container, unless it sets the flags'
    /// variable itself (then a warning says what to add).
    fn jmx_env(&self, changes: &mut Changes<'_>, ctr: &Container, port: u32) -> Vec<EnvItem> {
        let var_name = self.config.jmx.as_ref().map_or("JAVA_OPTS", |j| j.java_opts_variable.as_str());
        let mut env = vec![var_from("POD_IP", "status.podIP")];
        if var_name == "JAVA_TOOL_OPTIONS" {
            changes.note(Level::Warning, format!(
                "container {}: every JVM it starts reads JAVA_TOOL_OPTIONS, so a second one (jcmd, jstack, a helper java process) binds JMX port {port} again and exits with \"port already in use\"; prefer a variable only the application's launcher reads (JAVA_OPTS) when the image's entrypoint passes it on",
                ctr.name
            ));
        }
        if self.pod.env_names(ctr).contains(&var_name) {
            changes.note(Level::Warning, format!(
                "container {} sets {var_name} itself; add -Dcom.sun.management.jmxremote.port={port} -Dcom.sun.management.jmxremote.rmi.port={port} -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.local.only=false -Djava.rmi.server.hostname=$(POD_IP) to it for the JMX check",
                ctr.name
            ));
        } else {
            env.push(var(var_name, &format!(
                "-Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.port={port} -Dcom.sun.management.jmxremote.rmi.port={port} -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.local.only=false -Djava.rmi.server.hostname=$(POD_IP)"
            )));
        }
        env
    }

    /// Every variable one container gets, in the admission controller's order: its identity,
    /// the agent connection, the tags, then the APM switches and the JMX flags.
    fn env_items(
        &self,
        changes: &mut Changes<'_>,
        ctr: &Container,
        tags: &[(&str, &str)],
        jmx: Option<&(String, u32)>,
    ) -> Vec<EnvItem> {
        let init = ctr.list == "initContainers";
        let mut env = vec![
            var_from("DD_INTERNAL_POD_UID", "metadata.uid"),
            var("DD_EXTERNAL_ENV", &format!("it-{init},cn-{},pu-$(DD_INTERNAL_POD_UID)", ctr.name)),
            var_from("DD_ENTITY_ID", "metadata.uid"),
        ];
        env.extend(self.connection_env());
        env.extend(tags.iter().map(|(label, name)| var_from(name, &format!("metadata.labels['{label}']"))));
        let c = self.config;
        if c.logs.enabled {
            env.push(var("DD_LOGS_INJECTION", "true"));
        }
        if c.apm.profiling {
            env.push(var("DD_PROFILING_ENABLED", "true"));
        }
        if let Some(rate) = c.apm.sample_rate {
            env.push(var("DD_TRACE_SAMPLE_RATE", &rate.to_string()));
        }
        if let Some((_, port)) = jmx.filter(|(name, _)| *name == ctr.name && !init) {
            env.extend(self.jmx_env(changes, ctr, *port));
        }
        env
    }

    /// Prepend what the admission controller injects into one container, in its order, never
    /// over a variable the container sets itself.
    fn container_env(
        &self,
        changes: &mut Changes<'_>,
        ctr: &Container,
        tags: &[(&str, &str)],
        jmx: Option<&(String, u32)>,
    ) {
        let why = format!("what the Datadog admission controller injects into {}", ctr.describe());
        let mut at = 0;
        for item in self.env_items(changes, ctr, tags, jmx) {
            if podspec::ensure_env(changes, &self.pod, ctr, item, EnvAt::Front(at), why.clone()) {
                at += 1;
            }
        }
    }

    /// Mount every socket volume read-only in one container.
    fn container_mounts(&self, changes: &mut Changes<'_>, ctr: &Container, volumes: &[SocketVolume]) {
        for v in volumes {
            let item = Value::map([
                ("name", Value::str(v.name)),
                ("mountPath", Value::str(&v.path)),
                ("readOnly", Value::Bool(true)),
            ]);
            let why = format!("the agent's sockets in {}", ctr.describe());
            podspec::ensure_mount(changes, &self.pod, ctr, item, why);
        }
    }
}

#[cfg(test)]
mod tests;
