//! Versioned messages between hosts and the engine. Every field that carries manifests is a
//! string: Helm's extism post-renderer typed them as a Go `*bytes.Buffer`, which JSON-encodes as
//! `{}` and loses the manifests (helm/helm#31832). The golden tests below pin the JSON shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::json::push_string;
use crate::report::Report;

/// Append `"name":` and a serde-serialized value.
fn push_field<T: Serialize>(out: &mut Vec<u8>, first: bool, name: &str, value: &T) {
    if !first {
        out.push(b',');
    }
    push_string(out, name);
    out.push(b':');
    serde_json::to_writer(&mut *out, value).expect("wire values serialize");
}

/// Append `"name":` and a string with the fast escaper.
fn push_str_field(out: &mut Vec<u8>, first: bool, name: &str, value: &str) {
    if !first {
        out.push(b',');
    }
    push_string(out, name);
    out.push(b':');
    push_string(out, value);
}

/// The `apiVersion` of postwire's own messages.
pub const API_VERSION: &str = "postwire.dev/v1alpha1";

/// Helm 4 `postrenderer/v1` input, with manifests as a string (the fix offered for Helm
/// issue 31832).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmPostRendererInputV1 {
    /// The rendered manifests.
    pub manifests: String,
    /// `--post-renderer-args` values.
    #[serde(default)]
    pub extra_args: Vec<String>,
}

/// Helm 4 `postrenderer/v1` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmPostRendererOutputV1 {
    /// The post-rendered manifests.
    pub manifests: String,
}

/// A config file the host read for the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFileV1 {
    /// The file name, for messages.
    pub name: String,
    /// Its YAML text.
    pub content: String,
}

/// What the engine knows about where the manifests will go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContextV1 {
    /// The Helm release or Argo CD application name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// The namespace objects without one are installed into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Variables a platform config may use as `${NAME}`: the host fills it with the build
    /// environment Argo CD gives plugins (`ARGOCD_APP_*`, `ARGOCD_ENV_*`, `KUBE_VERSION`,
    /// `KUBE_API_VERSIONS`) where it has them. Templates see the `ARGOCD_*` ones as `argocd`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// The general request every host sends to the `render` export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderRequestV1 {
    /// Must be `postwire.dev/v1alpha1`.
    pub api_version: String,
    /// Must be `RenderRequest`.
    pub kind: String,
    /// The manifests.
    pub manifests: String,
    /// The config file, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigFileV1>,
    /// `--set path=value` overrides, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    /// Where the manifests go.
    #[serde(default)]
    pub context: ContextV1,
    /// What to do with a `PostwireConfig` document inside the manifests: `merge` it (default)
    /// or `ignore` it (the document is still removed from the output).
    #[serde(default, skip_serializing_if = "is_default")]
    pub chart_config: ChartConfig,
    /// What `manifests` holds: a manifest stream, a KRM `ResourceList`, or either (`auto`, the
    /// default: a stream of one `config.kubernetes.io/v1` `ResourceList` is read as one).
    #[serde(default, skip_serializing_if = "is_default")]
    pub input: InputFormat,
    /// Check the config only (`postwire validate`): everything a render checks, except that
    /// entries naming objects the (usually empty) stream lacks are not errors.
    #[serde(default, skip_serializing_if = "is_default")]
    pub validate_only: bool,
    /// Run only the cross-object check (`postwire check`): no wiring changes the stream, the
    /// findings come back in the report.
    #[serde(default, skip_serializing_if = "is_default")]
    pub check_only: bool,
}

/// What a request's `manifests` holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InputFormat {
    /// A `ResourceList` when the stream is exactly one, else manifests.
    #[default]
    Auto,
    /// A manifest stream, whatever it holds.
    Manifests,
    /// A KRM function's `ResourceList` (anything else is an error).
    ResourceList,
}

/// Whether a chart's own `PostwireConfig` document counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChartConfig {
    /// Merge it under the config file and `--set` values.
    #[default]
    Merge,
    /// Do not read it; warn that it was ignored.
    Ignore,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl RenderRequestV1 {
    /// A request for `manifests` with nothing else set.
    pub fn new(manifests: impl Into<String>) -> Self {
        RenderRequestV1 {
            api_version: API_VERSION.to_string(),
            kind: "RenderRequest".to_string(),
            manifests: manifests.into(),
            config: None,
            set: Vec::new(),
            context: ContextV1::default(),
            chart_config: ChartConfig::default(),
            input: InputFormat::default(),
            validate_only: false,
            check_only: false,
        }
    }

    /// Check `apiVersion` and `kind`.
    pub fn validate(&self) -> Result<()> {
        if self.api_version != API_VERSION || self.kind != "RenderRequest" {
            return Err(Error::new(
                ErrorKind::Wire,
                format!(
                    "expected apiVersion {API_VERSION} kind RenderRequest, got apiVersion {} kind {}",
                    self.api_version, self.kind
                ),
            )
            .with_hint("the host and plugin.wasm are from different postwire versions"));
        }
        Ok(())
    }
}

/// The response of the `render` export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderResponseV1 {
    /// `postwire.dev/v1alpha1`.
    pub api_version: String,
    /// `RenderResponse`.
    pub kind: String,
    /// The post-rendered manifests.
    pub manifests: String,
    /// What changed and why.
    pub report: Report,
}

impl RenderResponseV1 {
    /// Wrap a render result.
    pub fn new(manifests: String, report: Report) -> Self {
        RenderResponseV1 { api_version: API_VERSION.to_string(), kind: "RenderResponse".to_string(), manifests, report }
    }
}

/// Read a message from JSON bytes; a malformed message is an [`ErrorKind::Wire`] error.
fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::new(ErrorKind::Wire, format!("cannot read the {what} message: {e}")))
}

impl HelmPostRendererInputV1 {
    /// Read Helm's message. Helm 4.3.1 sends `"manifests": {}` (its `*bytes.Buffer` encodes as
    /// an empty object, helm/helm#31832): that gets an error saying so, never an empty render.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        from_json(bytes, "Helm postrenderer/v1").map_err(|err| {
            let manifests_is_object = serde_json::from_slice::<serde_json::Value>(bytes)
                .is_ok_and(|v| v.get("manifests").is_some_and(serde_json::Value::is_object));
            if manifests_is_object {
                Error::new(
                    ErrorKind::Wire,
                    "Helm sent the manifests as a JSON object, not a string: this Helm's extism runtime \
                     passes post-renderers no manifests (helm/helm#31832)",
                )
                .with_hint("use the subprocess plugin (helm-plugin/postwire) until Helm ships the fix")
            } else {
                err
            }
        })
    }
}

impl RenderRequestV1 {
    /// Read a render request.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        from_json(bytes, "RenderRequest")
    }
}

impl HelmPostRendererOutputV1 {
    /// The JSON bytes, identical to serde_json's, written fast (see [`crate::json`]).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.manifests.len() + self.manifests.len() / 8 + 32);
        out.push(b'{');
        push_str_field(&mut out, true, "manifests", &self.manifests);
        out.push(b'}');
        out
    }
}

impl RenderRequestV1 {
    /// The JSON bytes, identical to serde_json's, written fast (see [`crate::json`]).
    pub fn to_json(&self) -> Vec<u8> {
        self.json_with_manifests(&self.manifests)
    }

    /// The JSON of the request with empty `manifests`: the header a host that writes the
    /// module's memory sends beside the manifests' raw bytes (plugin.wasm's
    /// `postwire_render_bytes`), so the stream is neither escaped nor parsed as JSON.
    pub fn header_json(&self) -> Vec<u8> {
        self.json_with_manifests("")
    }

    fn json_with_manifests(&self, manifests: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(manifests.len() + manifests.len() / 8 + 256);
        out.push(b'{');
        push_str_field(&mut out, true, "apiVersion", &self.api_version);
        push_str_field(&mut out, false, "kind", &self.kind);
        push_str_field(&mut out, false, "manifests", manifests);
        if let Some(config) = &self.config {
            push_field(&mut out, false, "config", config);
        }
        if !self.set.is_empty() {
            push_field(&mut out, false, "set", &self.set);
        }
        push_field(&mut out, false, "context", &self.context);
        if self.chart_config != ChartConfig::default() {
            push_field(&mut out, false, "chartConfig", &self.chart_config);
        }
        if self.input != InputFormat::default() {
            push_field(&mut out, false, "input", &self.input);
        }
        if self.validate_only {
            push_field(&mut out, false, "validateOnly", &self.validate_only);
        }
        if self.check_only {
            push_field(&mut out, false, "checkOnly", &self.check_only);
        }
        out.push(b'}');
        out
    }
}

impl RenderResponseV1 {
    /// The JSON bytes, identical to serde_json's, written fast (see [`crate::json`]).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.manifests.len() + self.manifests.len() / 8 + 4096);
        out.push(b'{');
        push_str_field(&mut out, true, "apiVersion", &self.api_version);
        push_str_field(&mut out, false, "kind", &self.kind);
        push_str_field(&mut out, false, "manifests", &self.manifests);
        push_field(&mut out, false, "report", &self.report);
        out.push(b'}');
        out
    }
}

impl HelmPostRendererInputV1 {
    /// Turn Helm's message into a render request. `extraArgs` take the runner's options that
    /// make sense without a file system: `--set path=value`, `--namespace NS`, `--release NAME`.
    pub fn into_request(self) -> Result<RenderRequestV1> {
        let mut request = RenderRequestV1::new(self.manifests);
        // Helm hands over a chart's manifests: a chart whose one document is a ResourceList
        // is rendered as that document, never run as a KRM function.
        request.input = InputFormat::Manifests;
        let mut args = self.extra_args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline.clone().or_else(|| args.next()).ok_or_else(|| {
                    Error::new(ErrorKind::Wire, format!("{name} needs a value")).with_origin("--post-renderer-args")
                })
            };
            match flag.as_str() {
                "--set" => request.set.push(value("--set")?),
                "--namespace" | "-n" => request.context.namespace = Some(value("--namespace")?),
                "--release" => request.context.release_name = Some(value("--release")?),
                "--chart-config" => {
                    request.chart_config = match value("--chart-config")?.as_str() {
                        "merge" => ChartConfig::Merge,
                        "ignore" => ChartConfig::Ignore,
                        other => {
                            return Err(Error::new(ErrorKind::Wire, format!("--chart-config `{other}` is not valid"))
                                .with_origin("--post-renderer-args")
                                .with_hint("use merge or ignore"))
                        }
                    }
                }
                "--config" | "-c" => {
                    return Err(Error::new(
                        ErrorKind::Wire,
                        "--config needs a file system, which Helm's wasm runtime does not give",
                    )
                    .with_origin("--post-renderer-args")
                    .with_hint("put a PostwireConfig document in the chart, or use --set"))
                }
                other => {
                    return Err(Error::new(ErrorKind::Wire, format!("unknown argument `{other}`"))
                        .with_origin("--post-renderer-args")
                        .with_hint(
                            "supported: --set path=value, --namespace NS, --release NAME, --chart-config merge|ignore",
                        ))
                }
            }
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn helm_messages_carry_manifests_as_strings() {
        let input: HelmPostRendererInputV1 =
            serde_json::from_value(json!({"manifests": "a: 1\n", "extraArgs": ["--set", "checksum.mode=aggregate"]}))
                .unwrap();
        assert_eq!(input.manifests, "a: 1\n");
        let output = HelmPostRendererOutputV1 { manifests: "a: 1\n".into() };
        assert_eq!(serde_json::to_string(&output).unwrap(), r#"{"manifests":"a: 1\n"}"#);
        // Helm 4.3.1 sends `{}` for the manifests; that must be an error, not an empty render.
        assert!(serde_json::from_str::<HelmPostRendererInputV1>(r#"{"manifests":{},"extraArgs":[]}"#).is_err());
    }

    #[test]
    fn render_request_golden_json() {
        let mut req = RenderRequestV1::new("kind: ConfigMap\n");
        req.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: "checksum: {}\n".into() });
        req.set = vec!["checksum.mode=aggregate".into()];
        req.context =
            ContextV1 { release_name: Some("web".into()), namespace: Some("prod".into()), ..ContextV1::default() };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"apiVersion":"postwire.dev/v1alpha1","kind":"RenderRequest","manifests":"kind: ConfigMap\n","config":{"name":"postwire.yaml","content":"checksum: {}\n"},"set":["checksum.mode=aggregate"],"context":{"releaseName":"web","namespace":"prod"}}"#
        );
        req.context.env.insert("ARGOCD_APP_NAME".into(), "web".into());
        req.input = InputFormat::ResourceList;
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"apiVersion":"postwire.dev/v1alpha1","kind":"RenderRequest","manifests":"kind: ConfigMap\n","config":{"name":"postwire.yaml","content":"checksum: {}\n"},"set":["checksum.mode=aggregate"],"context":{"releaseName":"web","namespace":"prod","env":{"ARGOCD_APP_NAME":"web"}},"input":"resourceList"}"#
        );
        let minimal = r#"{"apiVersion":"postwire.dev/v1alpha1","kind":"RenderRequest","manifests":""}"#;
        assert_eq!(serde_json::from_str::<RenderRequestV1>(minimal).unwrap(), RenderRequestV1::new(""));
    }

    #[test]
    fn render_response_golden_json() {
        let resp = RenderResponseV1::new("a: 1\n".into(), Report::default());
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"apiVersion":"postwire.dev/v1alpha1","kind":"RenderResponse","manifests":"a: 1\n","report":{"summary":{"documents":0,"changed":0,"removed":0},"documents":[]}}"#
        );
    }

    #[test]
    fn unreadable_messages_are_wire_errors() {
        let err = HelmPostRendererInputV1::from_json(br#"{"manifests":{},"extraArgs":[]}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Wire);
        assert!(err.to_string().contains("helm/helm#31832"), "{err}");
        let err = RenderRequestV1::from_json(b"not json").unwrap_err();
        assert_eq!(err.exit_code(), 6);
        assert!(err.to_string().starts_with("invalid request: cannot read the RenderRequest message"), "{err}");
    }

    #[test]
    fn fast_encoders_match_serde_json() {
        let manifests = "---\n# Source: c/t.yaml\napiVersion: v1\r\nkind: \"ConfigMap\"\n\tdata: {a: \\}\n";
        let mut req = RenderRequestV1::new(manifests);
        assert_eq!(req.to_json(), serde_json::to_vec(&req).unwrap());
        req.config = Some(ConfigFileV1 { name: "p.yaml".into(), content: "a: \"b\"\n".into() });
        req.set = vec!["x=y".into()];
        req.context.namespace = Some("ns".into());
        assert_eq!(req.to_json(), serde_json::to_vec(&req).unwrap());
        req.context.env.insert("ARGOCD_ENV_X".into(), "\"y\"".into());
        req.input = InputFormat::Manifests;
        assert_eq!(req.to_json(), serde_json::to_vec(&req).unwrap());
        // Every field set: each must reach the plugin as serde would write it.
        req.chart_config = ChartConfig::Ignore;
        req.validate_only = true;
        req.check_only = true;
        assert_eq!(req.to_json(), serde_json::to_vec(&req).unwrap());
        assert_eq!(RenderRequestV1::from_json(&req.to_json()).unwrap(), req);
        let mut report = Report::default();
        report.document(1, "Deployment/web", Some("c/t.yaml")).notes.push(crate::report::Note {
            wiring: "checksum".into(),
            level: crate::report::Level::Info,
            message: "a \"quoted\" note".into(),
            rule: None,
            line: None,
        });
        let resp = RenderResponseV1::new(manifests.into(), report);
        assert_eq!(resp.to_json(), serde_json::to_vec(&resp).unwrap());
        let out = HelmPostRendererOutputV1 { manifests: manifests.into() };
        assert_eq!(out.to_json(), serde_json::to_vec(&out).unwrap());
    }

    #[test]
    fn extra_args_become_request_fields() {
        let input = HelmPostRendererInputV1 {
            manifests: String::new(),
            extra_args: vec!["--set".into(), "a=b".into(), "--namespace=prod".into(), "--release".into(), "web".into()],
        };
        let req = input.into_request().unwrap();
        assert_eq!(req.set, vec!["a=b".to_string()]);
        assert_eq!(req.context.namespace.as_deref(), Some("prod"));
        assert_eq!(req.context.release_name.as_deref(), Some("web"));
        let bad = HelmPostRendererInputV1 { manifests: String::new(), extra_args: vec!["--frobnicate".into()] };
        assert!(bad.into_request().unwrap_err().to_string().contains("unknown argument `--frobnicate`"));
    }
}
