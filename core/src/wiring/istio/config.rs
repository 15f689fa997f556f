//! Config of the `istio` and `rollouts` wirings (`PostwireConfig.istio`, `.rollouts`).
//!
//! Blocks users write in Istio's or Argo Rollouts' own terms (`trafficPolicy`, `retries`,
//! `headers`, `corsPolicy`, `match`, `strategy`) are kept as JSON and checked against the CRD
//! schemas while the config is read (see [`super::schema`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use super::schema::{self, Which};
use crate::generate::OnConflict;
use crate::select::LabelSelector;

/// A JSON block checked against a CRD sub-schema when the config is read.
macro_rules! checked {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Json);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = Json::deserialize(d)?;
                let check: fn(&Json) -> Result<(), String> = $check;
                check(&v).map_err(serde::de::Error::custom)?;
                Ok($name(v))
            }
        }
    };
}

checked!(
    /// A DestinationRule `trafficPolicy` (Istio's schema).
    TrafficPolicy,
    |v| schema::check(Which::TrafficPolicy, v)
);
checked!(
    /// A VirtualService HTTP route's `retries` (Istio's schema).
    Retries,
    |v| schema::check_field(Which::HttpRoute, "retries", v)
);
checked!(
    /// A VirtualService HTTP route's `headers` (Istio's schema).
    Headers,
    |v| schema::check_field(Which::HttpRoute, "headers", v)
);
checked!(
    /// A VirtualService HTTP route's `corsPolicy` (Istio's schema).
    CorsPolicy,
    |v| schema::check_field(Which::HttpRoute, "corsPolicy", v)
);
checked!(
    /// A VirtualService HTTP route's `match` list (Istio's schema).
    Matches,
    |v| schema::check_field(Which::HttpRoute, "match", v)
);
checked!(
    /// An AnalysisTemplate metric's `provider.job` (Argo Rollouts' schema): `{spec: JobSpec}`.
    JobProvider,
    |v| schema::check(Which::AnalysisJob, v)
);
checked!(
    /// A Rollout `spec.strategy` (Argo Rollouts' schema): `{canary: {...}}` or `{blueGreen: {...}}`.
    Strategy,
    |v| {
        // postwire fills `activeService` (the Service in front) when it is left out.
        let mut checked = v.clone();
        if let Some(bg) = checked.get_mut("blueGreen").and_then(Json::as_object_mut) {
            bg.entry("activeService").or_insert_with(|| Json::String("filled-in".into()));
        }
        schema::check(Which::Strategy, &checked)?;
        match v.as_object().map(|m| (m.contains_key("canary"), m.contains_key("blueGreen"))) {
            Some((true, false)) | Some((false, true)) => Ok(()),
            _ => Err("give exactly one of `canary` or `blueGreen`".into()),
        }
    }
);

/// A duration such as `30s` or `1m30s` (Go syntax, at least 1ms), as Istio reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Duration(#[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"))] pub String);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if schema::is_duration(&s) {
            Ok(Duration(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{s}` is not a duration of at least 1ms (write e.g. `500ms`, `2s`, `1m30s`)"
            )))
        }
    }
}

/// A Service port, by name or number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PortRef {
    /// A port number.
    Number(u16),
    /// A port name.
    Name(String),
}

impl<'de> Deserialize<'de> for PortRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Json::deserialize(d)? {
            Json::Number(n) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&n| n > 0)
                .map(PortRef::Number)
                .ok_or_else(|| serde::de::Error::custom(format!("`{n}` is not a port number (1-65535)"))),
            Json::String(s) if !s.is_empty() => Ok(match s.parse::<u16>() {
                Ok(n) if n > 0 => PortRef::Number(n),
                _ => PortRef::Name(s),
            }),
            other => Err(serde::de::Error::custom(format!("expected a port name or number, found {other}"))),
        }
    }
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(s) => f.write_str(s),
        }
    }
}

/// What to do when the render already has an object postwire would generate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConflictPolicy {
    /// Stop with an error naming both (default).
    #[default]
    Error,
    /// Keep the chart's object and generate nothing in its place.
    Skip,
    /// Drop the chart's object in favour of postwire's.
    Replace,
}

impl From<ConflictPolicy> for OnConflict {
    fn from(p: ConflictPolicy) -> OnConflict {
        match p {
            ConflictPolicy::Error => OnConflict::Error,
            ConflictPolicy::Skip => OnConflict::Skip,
            ConflictPolicy::Replace => OnConflict::Replace,
        }
    }
}

/// Which API version generated Istio objects use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IstioApiVersion {
    /// `networking.istio.io/v1`, `security.istio.io/v1` (Istio 1.22 and later; default).
    #[default]
    #[serde(rename = "v1")]
    V1,
    /// `v1beta1`, for Istio before 1.22.
    #[serde(rename = "v1beta1")]
    V1beta1,
}

impl IstioApiVersion {
    /// `v1` or `v1beta1`.
    pub fn as_str(self) -> &'static str {
        match self {
            IstioApiVersion::V1 => "v1",
            IstioApiVersion::V1beta1 => "v1beta1",
        }
    }
}

/// How pods join the mesh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Injection {
    /// The pod label `sidecar.istio.io/inject: "true"` (default).
    #[default]
    Label,
    /// The pod label `istio.io/rev: <revision>`.
    Revision,
    /// No pod label (the namespace is labelled elsewhere).
    None,
}

/// The protocol of a Service port, as Istio should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Protocol {
    /// HTTP/1.1 (and WebSocket upgrades).
    Http,
    /// HTTP/2 cleartext.
    Http2,
    /// gRPC.
    Grpc,
    /// gRPC-Web.
    GrpcWeb,
    /// WebSocket (`appProtocol: kubernetes.io/ws`; routed as HTTP).
    Websocket,
    /// TLS the application terminates (routed as TCP).
    Tls,
    /// Raw TCP.
    Tcp,
}

impl Protocol {
    /// The `appProtocol` value Istio reads as this protocol.
    pub fn app_protocol(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Http2 => "http2",
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpc-web",
            Protocol::Websocket => "kubernetes.io/ws",
            Protocol::Tls => "tls",
            Protocol::Tcp => "tcp",
        }
    }

    /// Whether Istio routes it with `http` routes (else `tcp` routes).
    pub fn is_http(self) -> bool {
        !matches!(self, Protocol::Tls | Protocol::Tcp)
    }

    /// What Istio detects from an `appProtocol` or, only when there is none, a port name prefix;
    /// None: Istio sniffs (istio/istio@86c9f01f `pkg/config/kube/conversion.go:48-90`, whose
    /// `name = *appProto` means an unknown appProtocol never falls back to the name;
    /// `pkg/config/protocol/instance.go:68-99`).
    pub fn detect(app_protocol: Option<&str>, name: Option<&str>) -> Option<Protocol> {
        let word = |w: &str| match w.to_ascii_lowercase().as_str() {
            "http" | "http_proxy" => Some(Protocol::Http),
            "http2" => Some(Protocol::Http2),
            "grpc" => Some(Protocol::Grpc),
            "grpc-web" => Some(Protocol::GrpcWeb),
            "https" | "tls" => Some(Protocol::Tls),
            "tcp" | "mongo" | "redis" | "mysql" => Some(Protocol::Tcp),
            _ => None,
        };
        // Kubernetes' standard names exist for appProtocol only.
        match app_protocol {
            Some("kubernetes.io/h2c") => return Some(Protocol::Http2),
            Some("kubernetes.io/ws") => return Some(Protocol::Websocket),
            Some("kubernetes.io/wss") => return Some(Protocol::Tls),
            _ => {}
        }
        let name = app_protocol.or(name)?;
        if name.to_ascii_lowercase().starts_with("grpc-web") {
            return Some(Protocol::GrpcWeb);
        }
        word(name.split('-').next().unwrap_or(name))
    }
}

/// Settings of the `istio` wiring.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioConfig {
    /// Generate Istio objects and wire workloads into the mesh (default false).
    #[serde(default)]
    pub enabled: bool,
    /// `v1` (default) or `v1beta1` (Istio before 1.22). EnvoyFilter is always `v1alpha3`.
    #[serde(default)]
    pub api_version: IstioApiVersion,
    /// `label` (default): pod label `sidecar.istio.io/inject: "true"`; `revision`: pod label
    /// `istio.io/rev`; `none`.
    #[serde(default)]
    pub injection: Injection,
    /// The `istio.io/rev` value when `injection` is `revision`.
    #[serde(default)]
    pub revision: String,
    /// An object of the same kind and name already in the render: `error` (default), `skip`
    /// (keep the chart's) or `replace` (drop the chart's).
    #[serde(default)]
    pub on_conflict: ConflictPolicy,
    /// Proxy settings, as pod annotations on every workload behind a selected Service.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// Gateways postwire generates, by a name of the user's choice (the Gateway's name).
    #[serde(default)]
    pub gateways: BTreeMap<String, GatewayConfig>,
    /// Which Services get routing objects, first match wins.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
}

/// Proxy annotations on the pod templates behind the selected Services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    /// Start the application only once the sidecar is ready (`proxy.istio.io/config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_application_until_proxy_starts: Option<bool>,
    /// `traffic.sidecar.istio.io/excludeOutboundPorts` (e.g. Kafka's 9092).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_outbound_ports: Vec<u16>,
    /// `traffic.sidecar.istio.io/excludeInboundPorts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_inbound_ports: Vec<u16>,
    /// Any other pod annotations (`sidecar.istio.io/proxyCPU: 100m`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn default_selector() -> BTreeMap<String, String> {
    BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())])
}
fn default_http_port() -> u16 {
    80
}
fn default_https_port() -> u16 {
    443
}
fn yes() -> bool {
    true
}

/// One Gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConfig {
    /// Namespace of the Gateway (default: the release namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels of the gateway workload (default `{istio: ingressgateway}`; a private gateway
    /// is usually `{istio: internal-ingressgateway}`).
    #[serde(default = "default_selector")]
    pub selector: BTreeMap<String, String>,
    /// Hosts the Gateway serves.
    pub hosts: Vec<String>,
    /// Port of the plain HTTP server (default 80; 0 for none, only with `tls`).
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    /// TLS on `tls.port` (443); the HTTP server then redirects to HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<GatewayTls>,
    /// Raw TCP servers, by port number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_ports: Vec<u16>,
    /// Add external-dns' hostname annotation (the hosts, wildcards left out).
    #[serde(default)]
    pub external_dns: bool,
}

/// TLS mode of a Gateway server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsMode {
    /// The gateway terminates TLS with `credentialName` (default).
    #[default]
    Simple,
    /// Also require client certificates.
    Mutual,
    /// Pass TLS through to the workload by SNI.
    Passthrough,
    /// Client certificates optional.
    OptionalMutual,
}

/// TLS of a Gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayTls {
    /// The Secret with the certificate (in the gateway workload's namespace).
    #[serde(default)]
    pub credential_name: String,
    /// `SIMPLE` (default), `MUTUAL`, `PASSTHROUGH` or `OPTIONAL_MUTUAL`.
    #[serde(default)]
    pub mode: TlsMode,
    /// HTTPS port (default 443).
    #[serde(default = "default_https_port")]
    pub port: u16,
    /// The HTTP server answers with a redirect to HTTPS (default true).
    #[serde(default = "yes")]
    pub https_redirect: bool,
}

/// One DestinationRule subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subset {
    /// Subset name.
    pub name: String,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
}

/// Mutual TLS mode of a PeerAuthentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Only mTLS.
    Strict,
    /// mTLS and plain text.
    Permissive,
    /// No mTLS.
    Disable,
}

/// An EnvoyFilter on the workload's inbound HTTP traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvoyFilterConfig {
    /// Request headers added (overwritten if present) to every inbound request.
    pub request_headers: BTreeMap<String, String>,
}

/// An ALLOW AuthorizationPolicy: requests from these namespaces or service accounts only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Source namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Source service accounts as `namespace/name`.
    #[serde(default)]
    pub service_accounts: Vec<String>,
    /// Trust domain of the service account principals (default `cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
}

/// Which Services get routing objects, and how they are routed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceConfig {
    /// Service name or glob (`*`, `?`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A label selector over the Services' labels, instead of (or beside) `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Only Services in this namespace (glob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Hosts of the VirtualService (default: the hosts of its Gateways, or the Service's name
    /// for mesh-only routing).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Gateways: names under `istio.gateways`, `mesh`, or `namespace/name` of an existing one.
    /// Empty: mesh only.
    #[serde(default)]
    pub gateways: Vec<String>,
    /// Also route mesh-internal traffic (adds `mesh` to `gateways`).
    #[serde(default)]
    pub mesh: bool,
    /// Port name or number to route to (default: the Service's only HTTP-like port, or its only port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortRef>,
    /// The routed port's protocol (default: what Istio detects from its appProtocol or name,
    /// else `http`). When Istio would not detect it, postwire sets the port's `appProtocol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// `appProtocol` for other ports of the Service, by port name or number.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub app_protocols: BTreeMap<String, Protocol>,
    /// HTTP match conditions of the route (Istio's `HTTPMatchRequest` list).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Matches>,
    /// Retry policy (Istio's `HTTPRetry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// Request timeout; none by default, so long-lived WebSocket streams are not cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Header manipulation (Istio's `Headers`: `request`/`response` with `set`, `add`, `remove`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// CORS policy (Istio's `CorsPolicy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<CorsPolicy>,
    /// The DestinationRule's `trafficPolicy` (Istio's schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// `trafficPolicy.tls.mode: ISTIO_MUTUAL` (unless `trafficPolicy.tls` is given).
    #[serde(default)]
    pub mtls: bool,
    /// DestinationRule subsets, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// One subset per value of this pod label among the workloads behind the Service
    /// (`version` → subsets `v1`, `v2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset_label: Option<String>,
    /// An EnvoyFilter adding request headers to the workload's inbound traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_filter: Option<EnvoyFilterConfig>,
    /// A PeerAuthentication for the workload (`STRICT`, `PERMISSIVE`, `DISABLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_authentication: Option<MtlsMode>,
    /// An ALLOW AuthorizationPolicy for the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_policy: Option<AuthorizationConfig>,
    /// Matching no Service is not an error.
    #[serde(default)]
    pub optional: bool,
}

/// What Argo Rollouts does with the Deployment a converted Rollout references.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ScaleDown {
    /// Leave it running.
    Never,
    /// Scale it to zero once the Rollout is healthy (default).
    #[default]
    Onsuccess,
    /// Scale it down as the Rollout scales up.
    Progressively,
}

impl ScaleDown {
    /// The value Argo Rollouts reads.
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleDown::Never => "never",
            ScaleDown::Onsuccess => "onsuccess",
            ScaleDown::Progressively => "progressively",
        }
    }
}

/// How a canary splits traffic through Istio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TrafficRouting {
    /// One Service; DestinationRule subsets `stable` and `canary` (default).
    #[default]
    Subset,
    /// Two extra Services `<service>-stable` and `<service>-canary` (generated).
    Host,
    /// No Istio traffic routing (Argo Rollouts scales replicas only).
    None,
}

/// Settings of the `rollouts` wiring.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutsConfig {
    /// Wire Argo Rollouts (default false).
    #[serde(default)]
    pub enabled: bool,
    /// An object of the same kind and name already in the render: `error` (default), `skip`, `replace`.
    #[serde(default)]
    pub on_conflict: ConflictPolicy,
    /// Default `workloadRef.scaleDown` of converted Deployments (`onsuccess`).
    #[serde(default)]
    pub scale_down: ScaleDown,
    /// The workloads: Deployments (converted) or Rollouts of the render.
    #[serde(default)]
    pub workloads: Vec<RolloutWorkload>,
    /// AnalysisTemplates postwire generates, by name (reference them from the steps:
    /// `{analysis: {templates: [{templateName: NAME}]}}`).
    #[serde(default)]
    pub analysis_templates: BTreeMap<String, AnalysisTemplateConfig>,
}

/// One workload under Argo Rollouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutWorkload {
    /// Deployment or Rollout name, or a glob.
    pub name: String,
    /// Only in this namespace (glob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Argo Rollouts' own strategy block (`canary` or `blueGreen`). For an existing Rollout
    /// its fields are set over the chart's; a converted Deployment needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Canary traffic splitting through Istio: `subset` (default), `host` or `none`.
    #[serde(default)]
    pub traffic_routing: TrafficRouting,
    /// The Service in front of the workload (default: the Service selecting its pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `workloadRef.scaleDown` for this workload (default `rollouts.scaleDown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScaleDown>,
    /// Matching nothing is not an error.
    #[serde(default)]
    pub optional: bool,
}

/// An AnalysisTemplate with one metric: a Prometheus query, or a Job (a smoke test, a traffic
/// generator) that succeeds when the Job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["prometheus", "successCondition"], "not": {"required": ["job"]}},
    {"required": ["job"], "not": {"anyOf": [
        {"required": ["prometheus"]}, {"required": ["successCondition"]}, {"required": ["failureCondition"]}
    ]}}
]))]
pub struct AnalysisTemplateConfig {
    /// The Prometheus provider (needs `successCondition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusProvider>,
    /// Argo Rollouts' `job` provider, `{spec: <a batch/v1 JobSpec>}` (`metadata` optional): the
    /// measurement succeeds when the Job completes. `{{args.NAME}}` works in it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobProvider>,
    /// A condition over `result`, e.g. `result[0] >= 0.95` (Prometheus only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    /// A condition that fails the analysis at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    /// Time between measurements (Prometheus default `1m`; a Job runs once unless `count` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Wait this long before the first measurement, so a new version settles (`30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<Duration>,
    /// Number of measurements. Where a step or a promotion waits for the template and it has an
    /// interval, the default is 5 and 0 (never finish) is refused; background analysis runs
    /// unbounded unless given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Failed measurements allowed (default 0 in Argo Rollouts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<u32>,
    /// Template arguments (`{{args.NAME}}` in the query), set by the Rollout step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// Prometheus connection and query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusProvider {
    /// e.g. `http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090`.
    pub address: String,
    /// The PromQL query.
    pub query: String,
}

impl RolloutsConfig {
    /// Checks after parsing: each analysis template names one provider, and only a Prometheus
    /// analysis takes conditions (a Job's measurement is the Job's success).
    pub fn validate(&self) -> std::result::Result<(), crate::config::Invalid> {
        use crate::config::Invalid;
        use crate::yaml::PathSeg;
        for (name, t) in &self.analysis_templates {
            let error = |message: &str, field: &str, hint: &str| {
                let mut path =
                    vec![PathSeg::from("rollouts"), PathSeg::from("analysisTemplates"), PathSeg::from(name.as_str())];
                path.extend((!field.is_empty()).then(|| PathSeg::from(field)));
                Err(Invalid::new(message, path).hint(hint))
            };
            match (&t.prometheus, &t.job) {
                (None, None) | (Some(_), Some(_)) => {
                    return error(
                        "give one provider: a `prometheus` query or a `job`",
                        "",
                        "prometheus: {address: ..., query: ...} with a successCondition, or job: {spec: <JobSpec>}",
                    )
                }
                (Some(_), None) if t.success_condition.is_none() => {
                    return error(
                        "a Prometheus analysis needs a `successCondition`",
                        "prometheus",
                        "e.g. successCondition: result[0] >= 0.95",
                    )
                }
                (None, Some(_)) if t.success_condition.is_some() || t.failure_condition.is_some() => {
                    let field = if t.success_condition.is_some() { "successCondition" } else { "failureCondition" };
                    return error(
                        "a Job analysis succeeds when its Job does and takes no condition",
                        field,
                        "remove the condition; make the Job exit non-zero to fail the measurement",
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }
}
