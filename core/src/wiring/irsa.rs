//! AWS IAM roles for service accounts (IRSA), written the way the EKS pod-identity webhook
//! (`amazon-eks-pod-identity-webhook`) would do it, so the webhook finds nothing left to add.
//!
//! The ServiceAccounts the selected workloads run as get `eks.amazonaws.com/role-arn`,
//! `audience`, `sts-regional-endpoints` and `token-expiration`; a workload with no
//! `serviceAccountName` can get a dedicated ServiceAccount. With `inject: true` every init
//! container and container also gets the webhook's variables, mount and projected volume:
//!
//! ```yaml
//! # after (inject: true, region: us-east-1)
//! spec:
//!   template:
//!     spec:
//!       serviceAccountName: livechat
//!       volumes:
//!       - name: "aws-iam-token"           # prepended, as the webhook does
//!         projected: {sources: [{serviceAccountToken: {audience: "sts.amazonaws.com", expirationSeconds: 86400, path: "token"}}]}
//!       containers:
//!       - name: app
//!         env:                              # appended, in the webhook's order
//!         - {name: "AWS_STS_REGIONAL_ENDPOINTS", value: "regional"}
//!         - {name: "AWS_DEFAULT_REGION", value: "us-east-1"}
//!         - {name: "AWS_REGION", value: "us-east-1"}
//!         - {name: "AWS_ROLE_ARN", value: "arn:aws:iam::123456789012:role/livechat"}
//!         - {name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"}
//!         volumeMounts:
//!         - {name: "aws-iam-token", readOnly: true, mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount"}
//! ```
//!
//! Values the chart already set win: an existing annotation, variable, mount or volume of the
//! same name is left alone (and its value is what the injected variables follow).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::edit::{Op, Outcome, PathSeg, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::{self, OnConflict, GENERATED_ANNOTATION};
use crate::pipeline::PostwireConfig;
use crate::report::{Action, Change, Level, Note, Report};
use crate::resource::{namespaces_match, Object, WorkloadKind};
use crate::select::Selector;
use crate::wire::ContextV1;
use crate::workload::{self, report_path, Workload};
use crate::workspace::Workspace;

use super::Wiring;

const NAME: &str = "irsa";
/// Per-workload switch: `"false"` leaves a workload alone, `"true"` selects it.
pub const OPT_ANNOTATION: &str = "postwire.dev/irsa";
/// Per-workload role (an ARN or a role name), overriding `roles` and `roleName`.
pub const ROLE_ANNOTATION: &str = "postwire.dev/irsa-role";

/// The webhook's annotation prefix.
const PREFIX: &str = "eks.amazonaws.com/";
/// The projected volume and mount name the webhook uses (its README says `aws-token`; the code
/// uses this, and only this name keeps the webhook from adding a second mount).
pub const VOLUME: &str = "aws-iam-token";
/// Where the webhook mounts the token.
pub const MOUNT_PATH: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
/// The token file the webhook points `AWS_WEB_IDENTITY_TOKEN_FILE` at.
pub const TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
/// The same on Windows nodes.
pub const WINDOWS_TOKEN_FILE: &str = r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token";
/// The webhook never lets a token live shorter than this.
pub const MIN_EXPIRATION: u64 = 600;
/// Pod annotation: container names the webhook leaves alone.
pub const SKIP_CONTAINERS: &str = "eks.amazonaws.com/skip-containers";
/// Pod label the sample webhook objectSelector skips.
pub const SKIP_POD_LABEL: &str = "eks.amazonaws.com/skip-pod-identity-webhook";

fn yes() -> bool {
    true
}
fn default_expiration() -> u64 {
    86400
}
fn default_audience() -> String {
    "sts.amazonaws.com".into()
}
fn default_sa_name() -> String {
    "{workload}".into()
}

/// The AWS partition roles live in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Partition {
    /// Commercial regions (default).
    #[default]
    #[serde(rename = "aws")]
    Aws,
    /// China regions.
    #[serde(rename = "aws-cn")]
    AwsCn,
    /// GovCloud (US) regions.
    #[serde(rename = "aws-us-gov")]
    AwsUsGov,
    /// US ISO regions (`us-iso-*`).
    #[serde(rename = "aws-iso")]
    AwsIso,
    /// US ISOB regions (`us-isob-*`).
    #[serde(rename = "aws-iso-b")]
    AwsIsoB,
    /// European Sovereign Cloud regions (`eusc-*`).
    #[serde(rename = "aws-eusc")]
    AwsEusc,
}

/// Every partition: the ones the webhook knows from its region
/// (aws/amazon-eks-pod-identity-webhook@3bf80a34 `main.go:162-176`).
const PARTITIONS: [Partition; 6] =
    [Partition::Aws, Partition::AwsCn, Partition::AwsUsGov, Partition::AwsIso, Partition::AwsIsoB, Partition::AwsEusc];

impl Partition {
    fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsIso => "aws-iso",
            Partition::AwsIsoB => "aws-iso-b",
            Partition::AwsEusc => "aws-eusc",
        }
    }

    fn parse(s: &str) -> Option<Partition> {
        PARTITIONS.into_iter().find(|p| p.as_str() == s)
    }
}

/// An IAM role: a full ARN (`arn:aws:iam::123456789012:role/livechat`) or a role name,
/// optionally with a path (`livechat`, `team/livechat`) that `accountId` and `partition` turn
/// into an ARN. Checked when the config is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(into = "String")]
#[schemars(with = "String")]
pub struct RoleRef(String);

impl From<RoleRef> for String {
    fn from(r: RoleRef) -> String {
        r.0
    }
}

impl<'de> Deserialize<'de> for RoleRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RoleRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IAM role ARN or role name")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<RoleRef, E> {
                check_role(s).map(|_| RoleRef(s.to_string())).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A parsed role ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    /// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`, `aws-eusc`.
    pub partition: String,
    /// 12 digits.
    pub account: String,
    /// `/` or `/team/`.
    pub path: String,
    /// The role name.
    pub name: String,
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'=' | b',' | b'.' | b'@' | b'_' | b'-')
}

/// Check a role name (1–64 of `A-Za-z0-9+=,.@_-`) with an optional path (`team/app`).
pub fn check_role_name(s: &str) -> std::result::Result<(String, String), String> {
    let (path, name) = match s.rsplit_once('/') {
        Some((p, n)) => (format!("/{}/", p.trim_start_matches('/')), n),
        None => ("/".to_string(), s),
    };
    if name.is_empty() || name.len() > 64 || !name.bytes().all(name_char) {
        return Err(format!(
            "`{s}` is not an IAM role name: a role name is 1 to 64 letters, digits and `+=,.@_-`{}",
            if name.len() > 64 { format!(" (this one has {} characters)", name.len()) } else { String::new() }
        ));
    }
    let inner = path.trim_matches('/');
    if path.len() > 512
        || (!inner.is_empty() && inner.split('/').any(|seg| seg.is_empty() || !seg.bytes().all(name_char)))
    {
        return Err(format!("`{s}` has an invalid IAM path: path segments are letters, digits and `+=,.@_-`"));
    }
    Ok((path, name.to_string()))
}

/// Parse and check a role ARN: `arn:<partition>:iam::<12 digits>:role/<path/><name>`.
pub fn parse_arn(s: &str) -> std::result::Result<RoleArn, String> {
    let bad = |why: &str| format!("`{s}` is not an IAM role ARN: {why}");
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(bad("expected arn:<partition>:iam::<account-id>:role/<name>"));
    }
    if Partition::parse(parts[1]).is_none() {
        return Err(bad(&format!(
            "unknown partition `{}` (use aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b or aws-eusc)",
            parts[1]
        )));
    }
    if parts[2] != "iam" {
        return Err(bad(&format!("the service is `{}`, not `iam`", parts[2])));
    }
    if !parts[3].is_empty() {
        return Err(bad("IAM ARNs have no region (write `iam::`)"));
    }
    if parts[4].len() != 12 || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&format!("the account ID `{}` is not 12 digits", parts[4])));
    }
    let Some(rest) = parts[5].strip_prefix("role/") else {
        return Err(bad(&format!("`{}` is not a role (expected role/<name>)", parts[5])));
    };
    let (path, name) = check_role_name(rest).map_err(|e| bad(&e))?;
    Ok(RoleArn { partition: parts[1].into(), account: parts[4].into(), path, name })
}

fn check_role(s: &str) -> std::result::Result<(), String> {
    if s.starts_with("arn:") {
        parse_arn(s).map(|_| ())
    } else {
        check_role_name(s).map(|_| ())
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The placeholders `roleName` and `serviceAccountName` may use.
pub const PLACEHOLDERS: [&str; 4] = ["release", "namespace", "serviceAccount", "workload"];

/// Replace `{release}`, `{namespace}`, `{serviceAccount}` and `{workload}`; an unknown or
/// unclosed placeholder is an error, and so is one whose value is not known.
pub fn expand(pattern: &str, values: &BTreeMap<&str, Option<String>>) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err(format!("`{pattern}` has a `{{` without a closing `}}`"));
        };
        let name = &rest[start + 1..start + end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "`{pattern}` uses the unknown placeholder `{{{name}}}`; known: {{release}}, {{namespace}}, {{serviceAccount}}, {{workload}}"
            ));
        }
        match values.get(name).cloned().flatten() {
            Some(v) => out.push_str(&v),
            None => {
                let hint = match name {
                    // Helm hands a post-renderer only the manifests: Helm 3 runs it with the
                    // args given (helm/helm pkg/postrender/exec.go @v3.21.4), Helm 4 with its
                    // inherited env plus HELM_PLUGIN_NAME and HELM_PLUGIN_DIR
                    // (internal/plugin/runtime_subprocess.go @e9b85e4): no release name.
                    "release" => {
                        " (Helm does not tell a post-renderer the release name: add \
                         `--post-renderer-args --release --post-renderer-args NAME` to the helm command; \
                         elsewhere pass --release NAME)"
                    }
                    "namespace" => " (pass --namespace, or write metadata.namespace)",
                    _ => "",
                };
                return Err(format!("`{pattern}` uses {{{name}}}, which is not known here{hint}"));
            }
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// IRSA settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IrsaConfig {
    /// Wire IAM roles to ServiceAccounts (default false).
    #[serde(default)]
    pub enabled: bool,
    /// The 12-digit AWS account ID the roles are in (needed for role names; not for full ARNs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `aws` (default), `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b` or `aws-eusc`.
    #[serde(default)]
    pub partition: Partition,
    /// Pattern of the role name for ServiceAccounts not listed in `roles`, with placeholders
    /// `{release}`, `{namespace}`, `{serviceAccount}` and `{workload}`, e.g.
    /// `{release}-{serviceAccount}`. Without it only the ServiceAccounts in `roles` get a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// ServiceAccount name → role ARN or role name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, RoleRef>,
    /// With `inject`: also write `AWS_DEFAULT_REGION` and `AWS_REGION` (as the webhook does when
    /// started with `--aws-default-region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Annotate `eks.amazonaws.com/sts-regional-endpoints: "true"` (default true); with
    /// `inject`, add `AWS_STS_REGIONAL_ENDPOINTS=regional`.
    #[serde(default = "yes")]
    pub sts_regional_endpoints: bool,
    /// Token lifetime in seconds (default 86400; at least 600, the webhook's minimum).
    #[serde(default = "default_expiration")]
    pub token_expiration: u64,
    /// Token audience (default `sts.amazonaws.com`).
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Also write what the webhook injects: the variables, the `aws-iam-token` projected volume
    /// and its mount in every init container and container (default false).
    #[serde(default)]
    pub inject: bool,
    /// Set the pod's `securityContext.fsGroup` (when the chart sets none) so non-root images can
    /// read the token, e.g. 65534.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<u32>,
    /// Give workloads without a `serviceAccountName` (which run as the namespace's `default`
    /// account) a dedicated ServiceAccount, generated and referenced (default false).
    #[serde(default)]
    pub create_service_account: bool,
    /// Name pattern of those dedicated ServiceAccounts (default `{workload}`); same
    /// placeholders as `roleName`.
    #[serde(default = "default_sa_name")]
    pub service_account_name: String,
    /// EKS Pod Identity instead of IRSA: the role is bound with an EKS pod identity
    /// association, which a manifest cannot express, so only the ServiceAccount is written (no
    /// role annotation, no injection) and the report prints the association to create.
    #[serde(default)]
    pub pod_identity: bool,
    /// Which workloads (an empty list: every workload). Annotate a workload with
    /// `postwire.dev/irsa: "true"` or `"false"` to opt it in or out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<Selector>,
}

impl Default for IrsaConfig {
    fn default() -> Self {
        IrsaConfig {
            enabled: false,
            account_id: None,
            partition: Partition::default(),
            role_name: None,
            roles: BTreeMap::new(),
            region: None,
            sts_regional_endpoints: true,
            token_expiration: default_expiration(),
            audience: default_audience(),
            inject: false,
            fs_group: None,
            create_service_account: false,
            service_account_name: default_sa_name(),
            pod_identity: false,
            workloads: Vec::new(),
        }
    }
}

fn is_region(s: &str) -> bool {
    // us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1, eusc-de-east-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

impl IrsaConfig {
    /// Checks across fields; the error and the config path of the value at fault.
    pub fn validate(&self) -> std::result::Result<(), crate::config::Invalid> {
        let err = |msg: String, path: &'static str, hint: &str| {
            let mut e = Error::new(ErrorKind::Config, msg).with_path(format!("irsa.{path}"));
            if !hint.is_empty() {
                e = e.with_hint(hint.to_string());
            }
            Err(crate::config::Invalid { error: e, path: vec!["irsa".into(), path.into()] })
        };
        if let Some(id) = &self.account_id {
            if !is_account_id(id) {
                return err(
                    format!("`{id}` is not an AWS account ID"),
                    "accountId",
                    "an account ID is 12 digits; quote it so leading zeros stay",
                );
            }
        }
        for (sa, role) in &self.roles {
            if let Ok(arn) = parse_arn(&role.0) {
                if arn.partition != self.partition.as_str() {
                    return err(
                        format!(
                            "the role of `{sa}` is in partition `{}`, but irsa.partition is `{}`",
                            arn.partition,
                            self.partition.as_str()
                        ),
                        "roles",
                        "set irsa.partition, or fix the ARN",
                    );
                }
            } else if self.account_id.is_none() {
                return err(
                    format!("the role of `{sa}` is a role name (`{}`), which needs irsa.accountId", role.0),
                    "roles",
                    "set irsa.accountId, or give the full ARN",
                );
            }
        }
        if let Some(pattern) = &self.role_name {
            let probe: BTreeMap<&str, Option<String>> =
                PLACEHOLDERS.iter().map(|&p| (p, Some("x".to_string()))).collect();
            if let Err(e) = expand(pattern, &probe).and_then(|s| check_role_name(&s).map(|_| ())) {
                return err(e, "roleName", "e.g. `{release}-{serviceAccount}`");
            }
            if self.account_id.is_none() {
                return err(
                    "irsa.roleName makes role names, which need irsa.accountId".into(),
                    "roleName",
                    "set irsa.accountId",
                );
            }
        }
        let probe: BTreeMap<&str, Option<String>> = PLACEHOLDERS.iter().map(|&p| (p, Some("x".to_string()))).collect();
        if let Err(e) = expand(&self.service_account_name, &probe) {
            return err(e, "serviceAccountName", "");
        }
        if let Some(region) = &self.region {
            if !is_region(region) {
                return err(format!("`{region}` is not an AWS region"), "region", "e.g. `us-east-1`");
            }
        }
        if self.token_expiration < MIN_EXPIRATION {
            return err(
                format!(
                    "token expiration {} is below {MIN_EXPIRATION} seconds, the least the webhook and kubelet allow",
                    self.token_expiration
                ),
                "tokenExpiration",
                "use at least 600 (default 86400)",
            );
        }
        if self.audience.is_empty() {
            return err("the audience is empty".into(), "audience", "the default is `sts.amazonaws.com`");
        }
        if self.pod_identity && self.inject {
            return err(
                "irsa.inject writes IRSA's web identity variables, which EKS Pod Identity does not use".into(),
                "podIdentity",
                "turn one of irsa.podIdentity and irsa.inject off",
            );
        }
        Ok(())
    }

    fn arn_of(&self, role: &str) -> String {
        if role.starts_with("arn:") {
            return role.to_string();
        }
        let (path, name) = check_role_name(role).unwrap_or_else(|_| ("/".into(), role.to_string()));
        format!(
            "arn:{}:iam::{}:role{path}{name}",
            self.partition.as_str(),
            self.account_id.as_deref().unwrap_or_default()
        )
    }
}

/// The IRSA wiring, built from its config.
pub struct Irsa {
    config: IrsaConfig,
    workloads: Vec<WorkloadKind>,
    namespace: Option<String>,
    release: Option<String>,
}

impl Irsa {
    /// Build the wiring.
    pub fn new(config: &PostwireConfig, context: &ContextV1) -> Self {
        Irsa {
            config: config.irsa.clone(),
            workloads: config.workload_kinds(),
            namespace: context.namespace.clone(),
            release: context.release_name.clone(),
        }
    }
}

/// What a ServiceAccount ends up carrying, and which workloads use it.
#[derive(Debug, Clone)]
struct Account {
    name: String,
    namespace: Option<String>,
    /// The ARN postwire would write (None: only an existing annotation counts).
    arn: Option<String>,
    /// Where the ARN came from, for the report.
    why: String,
    /// The ServiceAccount object of the render, if any.
    object: Option<Object>,
    /// It is to be generated (a dedicated ServiceAccount).
    generate: bool,
    users: Vec<String>,
    /// The first workload that runs as it.
    first_user: Object,
}

/// The annotations in effect on a ServiceAccount: the chart's win over postwire's.
#[derive(Debug, Clone)]
struct Effective {
    arn: String,
    audience: String,
    regional: bool,
    expiration: u64,
}

fn change(
    report: &mut Report,
    obj: &Object,
    source: Option<&str>,
    path: String,
    key: &str,
    outcome: Outcome,
    reason: String,
) {
    let action = match outcome {
        Outcome::Unchanged | Outcome::Removed => return,
        Outcome::Added => Action::Added,
        Outcome::Updated => Action::Updated,
    };
    report.document(obj.doc_number, &obj.display(), source).changes.push(Change {
        wiring: NAME.into(),
        path,
        key: key.to_string(),
        action,
        reason,
    });
}

fn note(report: &mut Report, ws: &Workspace<'_>, obj: &Object, level: Level, message: String) {
    let source = ws.source(obj.segment);
    report.document(obj.doc_number, &obj.display(), source.as_deref()).notes.push(Note {
        wiring: NAME.into(),
        level,
        message,
        rule: None,
        line: None,
    });
}

fn wiring_error(ws: &Workspace<'_>, obj: &Object, message: String) -> Error {
    Error::new(ErrorKind::Wiring, format!("irsa: {message}")).in_document(ws.location(obj.segment, Some(obj.display())))
}

impl Wiring for Irsa {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.workloads.iter().map(|w| w.kind.clone()).collect();
        kinds.push("ServiceAccount".into());
        kinds
    }

    fn apply(&self, ws: &mut Workspace<'_>, report: &mut Report) -> Result<()> {
        let objects = ws.objects();
        let selected = workload::select(
            ws,
            &objects,
            &self.workloads,
            &self.config.workloads,
            "irsa.workloads",
            self.namespace.as_deref(),
            OPT_ANNOTATION,
            NAME,
            report,
        )?;

        // Which ServiceAccount each workload runs as, and its role.
        let mut accounts: Vec<Account> = Vec::new();
        let mut plans: Vec<(Workload, usize, Option<String>)> = Vec::new();
        for w in &selected {
            let obj = &w.object;
            let Some(pod_spec) = w.pod_spec else { continue };
            let tree = ws.tree(obj.segment);
            let ns = obj.namespace.clone().or(self.namespace.clone());
            let written = tree
                .str_at(pod_spec, &["serviceAccountName"])
                .or_else(|| tree.str_at(pod_spec, &["serviceAccount"]))
                .filter(|s| !s.is_empty())
                .map(String::from);
            let mut values: BTreeMap<&str, Option<String>> = BTreeMap::new();
            values.insert("release", self.release.clone());
            values.insert("namespace", ns.clone());
            values.insert("workload", Some(obj.name.clone()));
            let (sa, dedicated) = match written {
                Some(sa) => (sa, None),
                None if self.config.create_service_account => {
                    values.insert("serviceAccount", None);
                    let name = expand(&self.config.service_account_name, &values)
                        .map_err(|e| wiring_error(ws, obj, format!("irsa.serviceAccountName: {e}")))?;
                    if !generate::is_dns_subdomain(&name) {
                        return Err(wiring_error(
                            ws,
                            obj,
                            format!("the dedicated ServiceAccount name `{name}` is not a DNS-1123 subdomain"),
                        ));
                    }
                    (name.clone(), Some(name))
                }
                None => ("default".to_string(), None),
            };
            values.insert("serviceAccount", Some(sa.clone()));
            let override_role = tree.str_at(obj.node, &["metadata", "annotations", ROLE_ANNOTATION]);
            let role: Option<(String, String)> = if let Some(r) = override_role {
                check_role(r).map_err(|e| wiring_error(ws, obj, format!("annotation {ROLE_ANNOTATION}: {e}")))?;
                if !r.starts_with("arn:") && self.config.account_id.is_none() {
                    return Err(wiring_error(
                        ws,
                        obj,
                        format!("annotation {ROLE_ANNOTATION} is a role name, which needs irsa.accountId"),
                    ));
                }
                Some((self.config.arn_of(r), format!("annotation {ROLE_ANNOTATION} of {}", obj.display())))
            } else if let Some(r) = self.config.roles.get(&sa) {
                Some((self.config.arn_of(&r.0), format!("irsa.roles.{sa}")))
            } else if let Some(pattern) = &self.config.role_name {
                let name =
                    expand(pattern, &values).map_err(|e| wiring_error(ws, obj, format!("irsa.roleName: {e}")))?;
                check_role_name(&name).map_err(|e| wiring_error(ws, obj, format!("irsa.roleName gives {e}")))?;
                Some((self.config.arn_of(&name), format!("irsa.roleName `{pattern}`")))
            } else {
                None
            };
            // The ServiceAccount of the workload's own namespace first: a missing namespace
            // matches any, so two accounts named alike (one without a namespace) would otherwise
            // pair by stream order, which a second render changes (not idempotent).
            let named_sa = |o: &&Object| o.is("", "ServiceAccount") && o.name == sa;
            let sa_namespace = |o: &Object| o.namespace.clone().or(self.namespace.clone());
            let sa_object = objects
                .iter()
                .filter(named_sa)
                .find(|o| sa_namespace(o) == ns)
                .or_else(|| {
                    objects
                        .iter()
                        .filter(named_sa)
                        .find(|o| namespaces_match(sa_namespace(o).as_deref(), ns.as_deref()))
                })
                .cloned();
            let existing = match &sa_object {
                Some(o) => accounts.iter().position(|a| a.object.as_ref() == Some(o)),
                None => accounts.iter().position(|a| a.name == sa && a.namespace == ns),
            };
            let index = match existing {
                Some(i) => {
                    let a = &mut accounts[i];
                    match (&a.arn, &role) {
                        (Some(x), Some((y, _))) if x != y => {
                            return Err(wiring_error(
                                ws,
                                obj,
                                format!(
                                    "ServiceAccount {sa} would get role {y}, but {} gives it {x}",
                                    a.users.join(", ")
                                ),
                            )
                            .with_hint(
                                "one ServiceAccount has one role: give the workloads different ServiceAccounts",
                            ));
                        }
                        (None, Some((y, why))) => {
                            a.arn = Some(y.clone());
                            a.why = why.clone();
                        }
                        _ => {}
                    }
                    a.users.push(obj.display());
                    i
                }
                None => {
                    let ours = sa_object.as_ref().is_some_and(|o| {
                        ws.tree(o.segment).str_at(o.node, &["metadata", "annotations", GENERATED_ANNOTATION])
                            == Some(NAME)
                    });
                    accounts.push(Account {
                        name: sa.clone(),
                        namespace: ns.clone(),
                        arn: role.as_ref().map(|r| r.0.clone()),
                        why: role.as_ref().map(|r| r.1.clone()).unwrap_or_default(),
                        object: sa_object.clone(),
                        generate: dedicated.is_some() || ours,
                        users: vec![obj.display()],
                        first_user: obj.clone(),
                    });
                    accounts.len() - 1
                }
            };
            plans.push((w.clone(), index, dedicated));
        }

        // A role for a ServiceAccount that no selected workload runs as and the render does not
        // hold is a typo or a stale entry: an error, like a selector that matches nothing.
        for key in self.config.roles.keys() {
            let known = accounts.iter().any(|a| &a.name == key)
                || objects.iter().any(|o| o.is("", "ServiceAccount") && &o.name == key);
            if !known && ws.targets_must_match() {
                let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "irsa.roles.{key} names a ServiceAccount that no selected workload runs as and the render does not hold (the workloads run as: {})",
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                )
                .with_path(format!("irsa.roles.{key}"))
                .with_hint("fix the name, or remove the entry"));
            }
        }

        // What each ServiceAccount carries once postwire is done (the chart's values win).
        let effective: Vec<Option<Effective>> = accounts.iter().map(|a| self.effective(ws, a)).collect();

        for (w, index, dedicated) in &plans {
            self.wire_workload(ws, w, &accounts[*index], effective[*index].as_ref(), dedicated.as_deref(), report)?;
        }
        for account in &accounts {
            self.wire_account(ws, account, report)?;
        }
        Ok(())
    }
}

impl Irsa {
    fn annotations(&self, arn: &str) -> Vec<(String, Value)> {
        vec![
            (format!("{PREFIX}role-arn"), Value::str(arn)),
            (format!("{PREFIX}audience"), Value::str(&self.config.audience)),
            (format!("{PREFIX}sts-regional-endpoints"), Value::str(self.config.sts_regional_endpoints.to_string())),
            (format!("{PREFIX}token-expiration"), Value::str(self.config.token_expiration.to_string())),
        ]
    }

    fn effective(&self, ws: &Workspace<'_>, a: &Account) -> Option<Effective> {
        if self.config.pod_identity {
            return None;
        }
        let chart = |key: &str| -> Option<String> {
            let o = a.object.as_ref().filter(|_| !a.generate)?;
            ws.tree(o.segment).str_at(o.node, &["metadata", "annotations", &format!("{PREFIX}{key}")]).map(String::from)
        };
        let arn = chart("role-arn").or_else(|| a.arn.clone())?;
        Some(Effective {
            arn,
            audience: chart("audience").unwrap_or_else(|| self.config.audience.clone()),
            regional: chart("sts-regional-endpoints")
                .and_then(|v| go_parse::parse_bool(&v))
                .unwrap_or(self.config.sts_regional_endpoints),
            expiration: chart("token-expiration")
                .and_then(|v| go_parse::parse_expiration(&v, MIN_EXPIRATION))
                .unwrap_or(self.config.token_expiration.max(MIN_EXPIRATION)),
        })
    }

    fn wire_account(&self, ws: &mut Workspace<'_>, a: &Account, report: &mut Report) -> Result<()> {
        let users = a.users.join(", ");
        if self.config.pod_identity {
            if let Some(arn) = &a.arn {
                let o = a.object.as_ref().unwrap_or(&a.first_user);
                note(report, ws, o, Level::Info, format!(
                    "EKS Pod Identity: bind the role with `aws eks create-pod-identity-association --cluster-name <cluster> --namespace {} --service-account {} --role-arn {arn}`; a manifest cannot express the association, so the ServiceAccount stays unannotated",
                    a.namespace.as_deref().unwrap_or("<namespace>"), a.name
                ));
            }
            if a.generate {
                self.generate_account(ws, a, Vec::new())?;
            }
            return Ok(());
        }
        let Some(arn) = &a.arn else {
            if let Some(o) = &a.object {
                let has = ws
                    .tree(o.segment)
                    .path(o.node, &["metadata", "annotations", &format!("{PREFIX}role-arn")])
                    .is_some();
                if !has {
                    note(report, ws, o, Level::Info, format!("no role for ServiceAccount {} (used by {users}): it is not in irsa.roles and irsa.roleName is not set", a.name));
                }
            }
            return Ok(());
        };
        if a.generate {
            return self.generate_account(ws, a, self.annotations(arn));
        }
        let Some(o) = &a.object else {
            // The account is not part of this render (the namespace default, or made elsewhere).
            let what = if a.name == "default" {
                "is the namespace's `default`, which is not part of this render: set irsa.createServiceAccount to give the workload its own, or annotate `default` where it is managed"
            } else {
                "is not part of this render: annotate it where it is defined"
            };
            note(
                report,
                ws,
                &a.first_user,
                Level::Warning,
                format!("ServiceAccount {} {what} (eks.amazonaws.com/role-arn: {arn})", a.name),
            );
            return Ok(());
        };
        let tree = ws.tree(o.segment);
        let mut ops = Vec::new();
        let mut keys = Vec::new();
        for (key, value) in self.annotations(arn) {
            let existing = tree.str_at(o.node, &["metadata", "annotations", &key]);
            match existing {
                Some(v) if Value::str(v) == value => continue,
                Some(v) => {
                    note(
                        report,
                        ws,
                        o,
                        Level::Warning,
                        format!(
                            "kept the chart's annotation {key}: \"{v}\" (postwire would write \"{}\")",
                            match &value {
                                Value::Str(s) => s.as_str(),
                                _ => "",
                            }
                        ),
                    );
                    continue;
                }
                None => {}
            }
            ops.push(Op::Set {
                path: vec!["metadata".into(), "annotations".into(), PathSeg::from(key.as_str())],
                value,
            });
            keys.push(key);
        }
        let outcomes = ws.edit(o.segment, o.node, &ops, &o.display())?;
        let source = ws.source(o.segment);
        let path = report_path(o, &["metadata".into(), "annotations".into()]);
        for (key, outcome) in keys.iter().zip(outcomes) {
            change(
                report,
                o,
                source.as_deref(),
                path.clone(),
                key,
                outcome,
                format!("IRSA role of ServiceAccount {} (from {}), used by {users}", a.name, a.why),
            );
        }
        Ok(())
    }

    fn generate_account(&self, ws: &mut Workspace<'_>, a: &Account, annotations: Vec<(String, Value)>) -> Result<()> {
        let mut metadata = vec![("name".to_string(), Value::str(&a.name))];
        // Written like the workloads write theirs: with a namespace only when they have one.
        if let Some(ns) = &a.first_user.namespace {
            metadata.push(("namespace".into(), Value::str(ns)));
        }
        if !annotations.is_empty() {
            metadata.push(("annotations".into(), Value::Map(annotations)));
        }
        let object = Value::map([
            ("apiVersion", Value::str("v1")),
            ("kind", Value::str("ServiceAccount")),
            ("metadata", Value::Map(metadata)),
        ]);
        generate::generate(ws, NAME, object, OnConflict::Error)?;
        Ok(())
    }

    fn wire_workload(
        &self,
        ws: &mut Workspace<'_>,
        w: &Workload,
        account: &Account,
        effective: Option<&Effective>,
        dedicated: Option<&str>,
        report: &mut Report,
    ) -> Result<()> {
        let obj = &w.object;
        let display = obj.display();
        let source = ws.source(obj.segment);
        let Some(pod_spec) = w.pod_spec else { return Ok(()) };
        let tree = ws.tree(obj.segment);
        let mut ops: Vec<Op> = Vec::new();
        let mut what: Vec<(String, String, String)> = Vec::new(); // (path, key, reason)
        let spec_path = |rest: &[PathSeg]| w.pod_spec_child(rest);

        if let Some(name) = dedicated {
            ops.push(Op::Set { path: spec_path(&["serviceAccountName".into()]), value: Value::str(name) });
            what.push((
                report_path(obj, &spec_path(&[])),
                "serviceAccountName".into(),
                format!("dedicated ServiceAccount {name} for the IAM role (irsa.createServiceAccount)"),
            ));
        }
        let has_role = effective.is_some() || (self.config.pod_identity && account.arn.is_some());
        if let (Some(fs), true) = (self.config.fs_group, has_role) {
            if tree.path(pod_spec, &["securityContext", "fsGroup"]).is_none() {
                ops.push(Op::Set {
                    path: spec_path(&["securityContext".into(), "fsGroup".into()]),
                    value: Value::Int(fs.into()),
                });
                what.push((
                    report_path(obj, &spec_path(&["securityContext".into()])),
                    "fsGroup".into(),
                    "lets non-root containers read the projected token (irsa.fsGroup)".into(),
                ));
            }
        }

        if let (true, Some(eff)) = (self.config.inject, effective) {
            let template = w.template.expect("a pod spec has a template");
            let labels_skip = tree.path(template, &["metadata", "labels", SKIP_POD_LABEL]).is_some();
            if labels_skip {
                note(
                    report,
                    ws,
                    obj,
                    Level::Info,
                    format!("not injected: the pod carries the label {SKIP_POD_LABEL}, which the webhook skips too"),
                );
            } else {
                let annotation = |k: &str| tree.str_at(template, &["metadata", "annotations", k]).map(String::from);
                let skipped: Vec<String> =
                    annotation(SKIP_CONTAINERS).and_then(|v| go_parse::csv_first_record(&v)).unwrap_or_default();
                let expiration = annotation(&format!("{PREFIX}token-expiration"))
                    .and_then(|v| go_parse::parse_expiration(&v, MIN_EXPIRATION))
                    .unwrap_or(eff.expiration);
                // Either OS label makes the token path a Windows one (aws/amazon-eks-pod-identity-webhook@3bf80a34
                // `pkg/handler/handler.go:314-321`).
                let windows = ["kubernetes.io/os", "beta.kubernetes.io/os"]
                    .iter()
                    .any(|k| tree.str_at(pod_spec, &["nodeSelector", k]) == Some("windows"));
                let token_file = if windows { WINDOWS_TOKEN_FILE } else { TOKEN_FILE };
                for c in workload::containers(tree, pod_spec) {
                    if c.list == "ephemeralContainers" {
                        continue;
                    }
                    if skipped.contains(&c.name) {
                        note(
                            report,
                            ws,
                            obj,
                            Level::Info,
                            format!("{} not injected: listed in {SKIP_CONTAINERS}", c.describe()),
                        );
                        continue;
                    }
                    let mut cpath = c.path();
                    let env_names: Vec<&str> = tree
                        .get(c.node, "env")
                        .map(|e| tree.items(e).iter().filter_map(|&i| tree.str_at(i, &["name"])).collect())
                        .unwrap_or_default();
                    let has = |n: &str| env_names.contains(&n);
                    // A container that already has the web identity, a region and the STS
                    // variable is left entirely alone, mount included
                    // (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/handler.go:212-217`).
                    if (has("AWS_ROLE_ARN") || has("AWS_WEB_IDENTITY_TOKEN_FILE"))
                        && (has("AWS_REGION") || has("AWS_DEFAULT_REGION"))
                        && has("AWS_STS_REGIONAL_ENDPOINTS")
                    {
                        continue;
                    }
                    let mut env: Vec<(&str, String)> = Vec::new();
                    if eff.regional && !has("AWS_STS_REGIONAL_ENDPOINTS") {
                        env.push(("AWS_STS_REGIONAL_ENDPOINTS", "regional".into()));
                    }
                    if let Some(region) = &self.config.region {
                        if !has("AWS_DEFAULT_REGION") && !has("AWS_REGION") {
                            env.push(("AWS_DEFAULT_REGION", region.clone()));
                            env.push(("AWS_REGION", region.clone()));
                        }
                    }
                    if !has("AWS_ROLE_ARN") && !has("AWS_WEB_IDENTITY_TOKEN_FILE") {
                        env.push(("AWS_ROLE_ARN", eff.arn.clone()));
                        env.push(("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_string()));
                    }
                    cpath.push("env".into());
                    for (name, value) in env {
                        ops.push(Op::Insert {
                            path: spec_path(&cpath),
                            index: None,
                            item: Value::map([("name", Value::str(name)), ("value", Value::str(value))]),
                        });
                        what.push((
                            report_path(obj, &spec_path(&cpath)),
                            name.into(),
                            format!("what the EKS pod-identity webhook injects into {}", c.describe()),
                        ));
                    }
                    cpath.pop();
                    let mounts: Vec<(Option<&str>, Option<&str>)> = tree
                        .get(c.node, "volumeMounts")
                        .map(|m| {
                            tree.items(m)
                                .iter()
                                .map(|&i| (tree.str_at(i, &["name"]), tree.str_at(i, &["mountPath"])))
                                .collect()
                        })
                        .unwrap_or_default();
                    if mounts.iter().any(|(n, _)| *n == Some(VOLUME)) {
                        continue;
                    }
                    if let Some((n, _)) =
                        mounts.iter().find(|(_, p)| p.map(|p| p.trim_end_matches('/')) == Some(MOUNT_PATH))
                    {
                        note(report, ws, obj, Level::Warning, format!(
                            "{} mounts `{}` at {MOUNT_PATH}: the webhook would add its `{VOLUME}` mount at the same path and the pod would be rejected; rename that mount to `{VOLUME}`",
                            c.describe(), n.unwrap_or("?")
                        ));
                        continue;
                    }
                    cpath.push("volumeMounts".into());
                    ops.push(Op::Insert {
                        path: spec_path(&cpath),
                        index: None,
                        item: Value::map([
                            ("name", Value::str(VOLUME)),
                            ("readOnly", Value::Bool(true)),
                            ("mountPath", Value::str(MOUNT_PATH)),
                        ]),
                    });
                    what.push((
                        report_path(obj, &spec_path(&cpath)),
                        VOLUME.into(),
                        format!("the web identity token for {}", c.describe()),
                    ));
                }
                let has_volume = tree
                    .get(pod_spec, "volumes")
                    .is_some_and(|v| tree.items(v).iter().any(|&i| tree.str_at(i, &["name"]) == Some(VOLUME)));
                // The volume depends only on its name being free, even when every container is
                // skipped (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/handler.go:386-413`).
                if !has_volume {
                    let token = Value::map([
                        ("audience", Value::str(&eff.audience)),
                        ("expirationSeconds", Value::Int(expiration as i64)),
                        ("path", Value::str("token")),
                    ]);
                    let source = Value::map([("serviceAccountToken", token)]);
                    ops.push(Op::Insert {
                        path: spec_path(&["volumes".into()]),
                        index: Some(0),
                        item: Value::map([
                            ("name", Value::str(VOLUME)),
                            ("projected", Value::map([("sources", Value::Seq(vec![source]))])),
                        ]),
                    });
                    what.push((
                        report_path(obj, &spec_path(&["volumes".into()])),
                        VOLUME.into(),
                        "projected service account token, first volume as the webhook writes it".into(),
                    ));
                }
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        let outcomes = ws.edit(obj.segment, obj.node, &ops, &display)?;
        for ((path, key, reason), outcome) in what.into_iter().zip(outcomes) {
            change(report, obj, source.as_deref(), path, &key, outcome, reason);
        }
        Ok(())
    }
}

mod go_parse;

#[cfg(test)]
mod tests;
