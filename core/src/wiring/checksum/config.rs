//! The checksum wiring's config section (`checksum:`) and its checks after parsing.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Invalid;
use crate::names::is_domain_name;
use crate::select::glob_matches;
use crate::yaml::PathSeg;

fn yes() -> bool {
    true
}
fn default_checksum_prefix() -> String {
    "checksum/".to_string()
}

/// How checksum annotations are named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ChecksumMode {
    /// One annotation per object: `checksum/configmap-<name>`, `checksum/secret-<name>`.
    #[default]
    PerObject,
    /// Two annotations in Helm's convention: `checksum/config` over all ConfigMaps and
    /// `checksum/secret` over all Secrets the pod uses.
    Aggregate,
}

/// Which Jobs get checksum annotations. A Job's pod template is immutable once created, so a
/// changed checksum makes `kubectl apply` or `helm upgrade` fail unless the Job is recreated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum JobPolicy {
    /// Only Helm hooks and Argo CD hooks, which are recreated on every release or sync.
    #[default]
    Hooks,
    /// Every Job (use when Jobs are always recreated, e.g. with Argo CD `Replace=true`).
    All,
    /// No Job.
    None,
}

/// What to do with a pod template that already carries checksum annotations of its own (the
/// chart's, e.g. Bitnami's `checksum/configmap` or Grafana's `checksum/config`): annotations
/// under `annotationPrefix` that postwire would not write itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnExisting {
    /// Add postwire's annotations beside the chart's (default). postwire hashes the final,
    /// post-rendered content, which the chart's own checksums (computed from its templates
    /// before post-rendering) cannot see; the extra keys roll pods no more often than the chart's.
    #[default]
    Add,
    /// Leave such a pod template as it is; the report says which keys it already has.
    Skip,
}

/// Checksum annotation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChecksumConfig {
    /// Add checksum annotations (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `perObject` (default) or `aggregate`.
    #[serde(default)]
    pub mode: ChecksumMode,
    /// Prefix of the annotation keys (default `checksum/`).
    #[serde(default = "default_checksum_prefix")]
    pub annotation_prefix: String,
    /// Only these ConfigMaps and Secrets count (all when empty). Each entry is a name glob
    /// (`*`, `?`), optionally prefixed with `configmap/` or `secret/`.
    #[serde(default)]
    pub include: Vec<String>,
    /// These ConfigMaps and Secrets never count; same syntax as `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Which Jobs get checksums: `hooks` (default), `all` or `none`.
    #[serde(default)]
    pub jobs: JobPolicy,
    /// Pod templates that already carry checksum annotations of their own (the chart's):
    /// `add` postwire's beside them (default) or `skip` them.
    #[serde(default)]
    pub on_existing: OnExisting,
    /// Key of the Secrets' checksums: when set, a Secret's checksum is an HMAC-SHA256 under
    /// this key instead of a plain SHA-256, which anyone who reads the annotation can test
    /// guesses against. Platform config only (a `--config` file, `--set`, a KRM
    /// functionConfig), typically `${POSTWIRE_CHECKSUM_KEY}`; a chart's PostwireConfig cannot
    /// set it. At least 16 bytes; it never appears in a message or the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<SecretKey>,
}

/// A key that must not be shown: `Debug` and serialization write `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SecretKey(
    /// The key's bytes, as text.
    pub String,
);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl Serialize for SecretKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// The shortest [`ChecksumConfig::secret_key`], in bytes.
pub const SECRET_KEY_MIN_BYTES: usize = 16;

impl Default for ChecksumConfig {
    fn default() -> Self {
        ChecksumConfig {
            enabled: true,
            mode: ChecksumMode::default(),
            annotation_prefix: default_checksum_prefix(),
            include: Vec::new(),
            exclude: Vec::new(),
            jobs: JobPolicy::default(),
            on_existing: OnExisting::default(),
            secret_key: None,
        }
    }
}

/// JSON Schema (ECMA 262) patterns of the rules [`ChecksumConfig::validate`] checks after
/// parsing; the schema and the engine must agree on every one.
pub mod patterns {
    /// `checksum.annotationPrefix`: a DNS subdomain (at most 253 characters) and `/`.
    pub const ANNOTATION_PREFIX: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/$";
    /// Longest `checksum.annotationPrefix`: 253 for the subdomain plus the `/`.
    pub const ANNOTATION_PREFIX_MAX: usize = 254;
    /// `checksum.include[]` / `checksum.exclude[]`: a name glob, optionally after `configmap/`
    /// or `secret/` (any case).
    pub const NAME_PATTERN: &str = r"^(([cC][oO][nN][fF][iI][gG][mM][aA][pP]|[sS][eE][cC][rR][eE][tT])/)?[^/]+$";
}

impl ChecksumConfig {
    /// Checks after parsing: the annotation prefix, the secret key's length, the name patterns.
    pub fn validate(&self) -> Result<(), Invalid> {
        let prefix = &self.annotation_prefix;
        let valid_prefix =
            prefix.len() <= patterns::ANNOTATION_PREFIX_MAX && prefix.strip_suffix('/').is_some_and(is_domain_name);
        if !valid_prefix {
            return Err(Invalid::new(
                format!("`{prefix}` is not an annotation key prefix"),
                vec!["checksum".into(), "annotationPrefix".into()],
            )
            .hint("use a DNS subdomain followed by `/`, e.g. `checksum/` or `checksum.example.com/`"));
        }
        if self.secret_key.as_ref().is_some_and(|k| k.0.len() < SECRET_KEY_MIN_BYTES) {
            // The message never quotes the key.
            return Err(Invalid::new(
                format!("checksum.secretKey is shorter than {SECRET_KEY_MIN_BYTES} bytes, too short to keep checksums unguessable"),
                vec!["checksum".into(), "secretKey".into()],
            )
            .hint("use 32 random bytes, e.g. `openssl rand -base64 32`, passed as ${POSTWIRE_CHECKSUM_KEY}"));
        }
        for (field, patterns) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, p) in patterns.iter().enumerate() {
                let (kind, name) = match p.split_once('/') {
                    Some((kind, name)) => (Some(kind), name),
                    None => (None, p.as_str()),
                };
                let kind_ok =
                    kind.is_none_or(|k| k.eq_ignore_ascii_case("configmap") || k.eq_ignore_ascii_case("secret"));
                if !kind_ok || name.is_empty() || name.contains('/') {
                    return Err(Invalid::new(
                        format!("`{p}` is not a name pattern"),
                        vec!["checksum".into(), field.into(), PathSeg::Index(i)],
                    )
                    .hint("use `name`, `configmap/name` or `secret/name`; `*` and `?` match any characters"));
                }
            }
        }
        Ok(())
    }
}

/// Whether a `include`/`exclude` pattern matches a ConfigMap or Secret.
pub fn pattern_matches(pattern: &str, kind: &str, name: &str) -> bool {
    let (want_kind, glob) = match pattern.split_once('/') {
        Some((k, g)) => (Some(k), g),
        None => (None, pattern),
    };
    want_kind.is_none_or(|k| k.eq_ignore_ascii_case(kind)) && glob_matches(glob.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_kind_and_glob() {
        assert!(pattern_matches("grafana*", "ConfigMap", "grafana-dashboards"));
        assert!(pattern_matches("secret/db-?", "Secret", "db-1"));
        assert!(!pattern_matches("secret/db-?", "ConfigMap", "db-1"));
        assert!(!pattern_matches("a*c", "Secret", "abd"));
    }
}
