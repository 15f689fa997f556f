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

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Invalid;
use crate::edit::{PathSeg, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::generate::{self, OnConflict, GENERATED_ANNOTATION};
use crate::report::{Level, Report};
use crate::resource::{namespaces_match, Container, Object, WorkloadKind};
use crate::select::Selector;
use crate::wire::ContextV1;
use crate::workload::{self, Workload};
use crate::workspace::Workspace;
use crate::yaml::{NodeId, Tree};

use super::changes::Changes;
use super::podspec::{self, EnvAt, Pod};
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
    pub fn validate(&self) -> std::result::Result<(), Invalid> {
        let err = |msg: String, path: &'static str, hint: &str| {
            Err(Invalid::new(msg, vec!["irsa".into(), path.into()]).hint(hint))
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
        self.validate_roles()?;
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

    /// `irsa.roles`: each role in the configured partition, and a bare role name only with an
    /// account to put it in.
    fn validate_roles(&self) -> std::result::Result<(), Invalid> {
        let err = |msg: String, hint: &str| Err(Invalid::new(msg, vec!["irsa".into(), "roles".into()]).hint(hint));
        for (sa, role) in &self.roles {
            if let Ok(arn) = parse_arn(&role.0) {
                if arn.partition != self.partition.as_str() {
                    return err(
                        format!(
                            "the role of `{sa}` is in partition `{}`, but irsa.partition is `{}`",
                            arn.partition,
                            self.partition.as_str()
                        ),
                        "set irsa.partition, or fix the ARN",
                    );
                }
            } else if self.account_id.is_none() {
                return err(
                    format!("the role of `{sa}` is a role name (`{}`), which needs irsa.accountId", role.0),
                    "set irsa.accountId, or give the full ARN",
                );
            }
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
    pub fn new(config: &IrsaConfig, workloads: Vec<WorkloadKind>, context: &ContextV1) -> Self {
        Irsa {
            config: config.clone(),
            workloads,
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

/// A selected workload to wire: the account it runs as (an index into the accounts) and the
/// dedicated ServiceAccount it is to be given, if any.
struct WorkloadPlan {
    workload: Workload,
    account: usize,
    dedicated: Option<String>,
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
        let mut index = AccountIndex::default();
        let mut plans: Vec<WorkloadPlan> = Vec::new();
        for w in &selected {
            let Some(pod_spec) = w.pod_spec else { continue };
            let (account, dedicated) = self.account_of(ws, w, pod_spec)?;
            let index = join(ws, &mut accounts, &mut index, account)?;
            plans.push(WorkloadPlan { workload: w.clone(), account: index, dedicated });
        }
        self.check_roles_known(ws, &objects, &accounts)?;

        // What each ServiceAccount carries once postwire is done (the chart's values win).
        let effective: Vec<Option<Effective>> = accounts.iter().map(|a| self.effective(ws, a)).collect();

        for plan in &plans {
            self.wire_workload(ws, plan, &accounts[plan.account], effective[plan.account].as_ref(), report)?;
        }
        for account in &accounts {
            self.wire_account(ws, account, report)?;
        }
        Ok(())
    }
}

/// Where each account is in the list [`join`] builds: by its object (document and node), and
/// the first one by name and namespace.
#[derive(Default)]
struct AccountIndex {
    by_object: HashMap<(usize, NodeId), usize>,
    by_name: HashMap<(String, Option<String>), usize>,
}

/// Count one workload's use of a ServiceAccount (`account`, as that workload alone sees it) in
/// `accounts`, where the same object, or without one the same name and namespace, is one
/// account; its index. One account has one role: two different ones are an error.
fn join(ws: &Workspace<'_>, accounts: &mut Vec<Account>, at: &mut AccountIndex, account: Account) -> Result<usize> {
    let name = (account.name.clone(), account.namespace.clone());
    let existing = match &account.object {
        Some(o) => at.by_object.get(&(o.segment, o.node)),
        None => at.by_name.get(&name),
    };
    let Some(&index) = existing else {
        if let Some(o) = &account.object {
            at.by_object.insert((o.segment, o.node), accounts.len());
        }
        at.by_name.entry(name).or_insert(accounts.len());
        accounts.push(account);
        return Ok(accounts.len() - 1);
    };
    let known = &mut accounts[index];
    match (&known.arn, &account.arn) {
        (Some(x), Some(y)) if x != y => {
            return Err(wiring_error(
                ws,
                &account.first_user,
                format!(
                    "ServiceAccount {} would get role {y}, but {} gives it {x}",
                    account.name,
                    known.users.join(", ")
                ),
            )
            .with_hint("one ServiceAccount has one role: give the workloads different ServiceAccounts"));
        }
        (None, Some(_)) => {
            known.arn = account.arn;
            known.why = account.why;
        }
        _ => {}
    }
    known.users.push(account.first_user.display());
    Ok(index)
}

impl Irsa {
    /// The ServiceAccount workload `w` runs as, seen from `w` alone (its role, its object in the
    /// render), and the name of the dedicated ServiceAccount `w` is to get, if any.
    fn account_of(&self, ws: &Workspace<'_>, w: &Workload, pod_spec: NodeId) -> Result<(Account, Option<String>)> {
        let obj = &w.object;
        let ns = obj.namespace.clone().or(self.namespace.clone());
        let (sa, dedicated) = self.service_account_name(ws, obj, pod_spec, &ns)?;
        let role = self.role_of(ws, obj, &sa, &self.placeholders(obj, &ns, Some(&sa)))?;
        let object = self.service_account_object(ws, &sa, &ns);
        let ours = object.as_ref().is_some_and(|o| {
            ws.tree(o.segment).str_at(o.node, &["metadata", "annotations", GENERATED_ANNOTATION]) == Some(NAME)
        });
        let (arn, why) = role.unzip();
        let account = Account {
            name: sa,
            namespace: ns,
            arn,
            why: why.unwrap_or_default(),
            object,
            generate: dedicated.is_some() || ours,
            users: vec![obj.display()],
            first_user: obj.clone(),
        };
        Ok((account, dedicated))
    }

    /// The values of the name placeholders for a workload (`{serviceAccount}` once known).
    fn placeholders(
        &self,
        obj: &Object,
        ns: &Option<String>,
        sa: Option<&str>,
    ) -> BTreeMap<&'static str, Option<String>> {
        BTreeMap::from([
            ("release", self.release.clone()),
            ("namespace", ns.clone()),
            ("workload", Some(obj.name.clone())),
            ("serviceAccount", sa.map(String::from)),
        ])
    }

    /// The ServiceAccount a workload runs as: the one its pod names; else, with
    /// `createServiceAccount`, a dedicated one (its name also returned second, to be written);
    /// else the namespace's `default`.
    fn service_account_name(
        &self,
        ws: &Workspace<'_>,
        obj: &Object,
        pod_spec: NodeId,
        ns: &Option<String>,
    ) -> Result<(String, Option<String>)> {
        let tree = ws.tree(obj.segment);
        let written = tree
            .str_at(pod_spec, &["serviceAccountName"])
            .or_else(|| tree.str_at(pod_spec, &["serviceAccount"]))
            .filter(|s| !s.is_empty());
        if let Some(sa) = written {
            return Ok((sa.to_string(), None));
        }
        if !self.config.create_service_account {
            return Ok(("default".to_string(), None));
        }
        let name = expand(&self.config.service_account_name, &self.placeholders(obj, ns, None))
            .map_err(|e| wiring_error(ws, obj, format!("irsa.serviceAccountName: {e}")))?;
        if !generate::is_dns_subdomain(&name) {
            return Err(wiring_error(
                ws,
                obj,
                format!("the dedicated ServiceAccount name `{name}` is not a DNS-1123 subdomain"),
            ));
        }
        Ok((name.clone(), Some(name)))
    }

    /// The role of ServiceAccount `sa` for a workload, and where it came from: the workload's
    /// `postwire.dev/irsa-role` annotation, else `roles`, else the `roleName` pattern.
    fn role_of(
        &self,
        ws: &Workspace<'_>,
        obj: &Object,
        sa: &str,
        values: &BTreeMap<&str, Option<String>>,
    ) -> Result<Option<(String, String)>> {
        let tree = ws.tree(obj.segment);
        if let Some(role) = tree.str_at(obj.node, &["metadata", "annotations", ROLE_ANNOTATION]) {
            check_role(role).map_err(|e| wiring_error(ws, obj, format!("annotation {ROLE_ANNOTATION}: {e}")))?;
            if !role.starts_with("arn:") && self.config.account_id.is_none() {
                return Err(wiring_error(
                    ws,
                    obj,
                    format!("annotation {ROLE_ANNOTATION} is a role name, which needs irsa.accountId"),
                ));
            }
            return Ok(Some((self.config.arn_of(role), format!("annotation {ROLE_ANNOTATION} of {}", obj.display()))));
        }
        if let Some(role) = self.config.roles.get(sa) {
            return Ok(Some((self.config.arn_of(&role.0), format!("irsa.roles.{sa}"))));
        }
        let Some(pattern) = &self.config.role_name else { return Ok(None) };
        let name = expand(pattern, values).map_err(|e| wiring_error(ws, obj, format!("irsa.roleName: {e}")))?;
        check_role_name(&name).map_err(|e| wiring_error(ws, obj, format!("irsa.roleName gives {e}")))?;
        Ok(Some((self.config.arn_of(&name), format!("irsa.roleName `{pattern}`"))))
    }

    /// The render's ServiceAccount `sa` for a workload in namespace `ns` (found through the
    /// workspace's index, not a scan of every object). The one of that very
    /// namespace first: a missing namespace matches any, so two accounts named alike (one
    /// without a namespace) would otherwise pair by stream order, which a second render changes
    /// (not idempotent).
    fn service_account_object(&self, ws: &Workspace<'_>, sa: &str, ns: &Option<String>) -> Option<Object> {
        let named: Vec<&Object> = ws.named("", "ServiceAccount", sa).collect();
        let sa_namespace = |o: &Object| o.namespace.clone().or(self.namespace.clone());
        named
            .iter()
            .find(|o| sa_namespace(o) == *ns)
            .or_else(|| named.iter().find(|o| namespaces_match(sa_namespace(o).as_deref(), ns.as_deref())))
            .map(|&o| o.clone())
    }

    /// A role for a ServiceAccount that no selected workload runs as and the render does not
    /// hold is a typo or a stale entry: an error, like a selector that matches nothing.
    fn check_roles_known(&self, ws: &Workspace<'_>, objects: &[Object], accounts: &[Account]) -> Result<()> {
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
        Ok(())
    }

    /// The webhook's ServiceAccount annotations for role `arn`, in the order they are written.
    fn annotations(&self, arn: &str) -> Vec<(String, String)> {
        vec![
            (format!("{PREFIX}role-arn"), arn.to_string()),
            (format!("{PREFIX}audience"), self.config.audience.clone()),
            (format!("{PREFIX}sts-regional-endpoints"), self.config.sts_regional_endpoints.to_string()),
            (format!("{PREFIX}token-expiration"), self.config.token_expiration.to_string()),
        ]
    }

    /// What `a` carries once postwire is done: the chart's annotations win over postwire's, and
    /// the webhook reads them as Go does; None without a role (or with `podIdentity`).
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

    /// The ServiceAccount's side: its role annotations (or, with `podIdentity`, the association
    /// to create), written on it or on the dedicated one generated for it.
    fn wire_account(&self, ws: &mut Workspace<'_>, a: &Account, report: &mut Report) -> Result<()> {
        if self.config.pod_identity {
            return self.pod_identity_account(ws, a, report);
        }
        let Some(arn) = &a.arn else { return no_role(ws, a, report) };
        if a.generate {
            return self.generate_account(ws, a, self.annotations(arn));
        }
        let Some(o) = &a.object else { return outside_render(ws, a, arn, report) };
        self.annotate_account(ws, a, o, arn, report)
    }

    /// EKS Pod Identity: the role is bound outside the manifests, so the report says how, and
    /// a dedicated ServiceAccount is generated without annotations.
    fn pod_identity_account(&self, ws: &mut Workspace<'_>, a: &Account, report: &mut Report) -> Result<()> {
        if let Some(arn) = &a.arn {
            let mut changes = Changes::new(NAME, a.object.as_ref().unwrap_or(&a.first_user));
            changes.note(Level::Info, format!(
                "EKS Pod Identity: bind the role with `aws eks create-pod-identity-association --cluster-name <cluster> --namespace {} --service-account {} --role-arn {arn}`; a manifest cannot express the association, so the ServiceAccount stays unannotated",
                a.namespace.as_deref().unwrap_or("<namespace>"), a.name
            ));
            changes.apply(ws, report)?;
        }
        if a.generate {
            self.generate_account(ws, a, Vec::new())?;
        }
        Ok(())
    }

    /// The webhook's annotations on a ServiceAccount of the render; one the chart set to
    /// another value is kept, with a warning.
    fn annotate_account(
        &self,
        ws: &mut Workspace<'_>,
        a: &Account,
        o: &Object,
        arn: &str,
        report: &mut Report,
    ) -> Result<()> {
        let tree = ws.tree(o.segment);
        let mut changes = Changes::new(NAME, o);
        let at = [PathSeg::from("metadata"), PathSeg::from("annotations")];
        for (key, value) in self.annotations(arn) {
            match tree.str_at(o.node, &["metadata", "annotations", &key]) {
                Some(v) if v == value => {}
                Some(v) => changes.note(
                    Level::Warning,
                    format!("kept the chart's annotation {key}: \"{v}\" (postwire would write \"{value}\")"),
                ),
                None => changes.set(
                    &at,
                    &key,
                    Value::str(value),
                    format!("IRSA role of ServiceAccount {} (from {}), used by {}", a.name, a.why, a.users.join(", ")),
                ),
            }
        }
        changes.apply(ws, report)
    }

    /// A dedicated ServiceAccount for `a`, with `annotations`.
    fn generate_account(&self, ws: &mut Workspace<'_>, a: &Account, annotations: Vec<(String, String)>) -> Result<()> {
        let mut metadata = vec![("name".to_string(), Value::str(&a.name))];
        // Written like the workloads write theirs: with a namespace only when they have one.
        if let Some(ns) = &a.first_user.namespace {
            metadata.push(("namespace".into(), Value::str(ns)));
        }
        if !annotations.is_empty() {
            let annotations = annotations.into_iter().map(|(key, value)| (key, Value::str(value))).collect();
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

    /// The workload's side: its dedicated ServiceAccount, `fsGroup`, and with `inject` what the
    /// webhook would add to its pod.
    fn wire_workload(
        &self,
        ws: &mut Workspace<'_>,
        plan: &WorkloadPlan,
        account: &Account,
        effective: Option<&Effective>,
        report: &mut Report,
    ) -> Result<()> {
        let w = &plan.workload;
        let Some(pod_spec) = w.pod_spec else { return Ok(()) };
        let pod = Pod::new(ws.tree(w.object.segment), w);
        let mut changes = Changes::new(NAME, &w.object);
        if let Some(name) = &plan.dedicated {
            changes.set(
                &w.pod_spec_child(&[]),
                "serviceAccountName",
                Value::str(name),
                format!("dedicated ServiceAccount {name} for the IAM role (irsa.createServiceAccount)"),
            );
        }
        if effective.is_some() || (self.config.pod_identity && account.arn.is_some()) {
            self.fs_group(&mut changes, &pod, pod_spec);
        }
        if let (true, Some(eff)) = (self.config.inject, effective) {
            self.inject(&mut changes, &pod, pod_spec, eff);
        }
        changes.apply(ws, report)
    }

    /// `securityContext.fsGroup` from `fsGroup` where the pod sets none, so that non-root
    /// containers can read the projected token.
    fn fs_group(&self, changes: &mut Changes<'_>, pod: &Pod<'_>, pod_spec: NodeId) {
        let Some(fs_group) = self.config.fs_group else { return };
        if pod.tree.path(pod_spec, &["securityContext", "fsGroup"]).is_none() {
            changes.set(
                &pod.workload.pod_spec_child(&["securityContext".into()]),
                "fsGroup",
                Value::Int(fs_group.into()),
                "lets non-root containers read the projected token (irsa.fsGroup)",
            );
        }
    }

    /// What the webhook injects into the pod: the variables and mount of every init container
    /// and container it does not skip, then the token volume.
    fn inject(&self, changes: &mut Changes<'_>, pod: &Pod<'_>, pod_spec: NodeId, eff: &Effective) {
        let tree = pod.tree;
        let template = pod.workload.template.expect("a pod spec has a template");
        if tree.path(template, &["metadata", "labels", SKIP_POD_LABEL]).is_some() {
            changes.note(
                Level::Info,
                format!("not injected: the pod carries the label {SKIP_POD_LABEL}, which the webhook skips too"),
            );
            return;
        }
        let annotation = |key: &str| tree.str_at(template, &["metadata", "annotations", key]);
        let skipped = annotation(SKIP_CONTAINERS).and_then(go_parse::csv_first_record).unwrap_or_default();
        let expiration = annotation(&format!("{PREFIX}token-expiration"))
            .and_then(|v| go_parse::parse_expiration(v, MIN_EXPIRATION))
            .unwrap_or(eff.expiration);
        let token_file = token_file(tree, pod_spec);
        for c in workload::containers(tree, pod_spec) {
            if c.list == "ephemeralContainers" {
                continue;
            }
            if skipped.contains(&c.name) {
                changes.note(Level::Info, format!("{} not injected: listed in {SKIP_CONTAINERS}", c.describe()));
                continue;
            }
            let names = pod.env_names(&c);
            let has = |name: &str| names.contains(&name);
            // A container that already has the web identity, a region and the STS variable is
            // left entirely alone, mount included
            // (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/handler.go:212-217`).
            if (has("AWS_ROLE_ARN") || has("AWS_WEB_IDENTITY_TOKEN_FILE"))
                && (has("AWS_REGION") || has("AWS_DEFAULT_REGION"))
                && has("AWS_STS_REGIONAL_ENDPOINTS")
            {
                continue;
            }
            self.container_env(changes, pod, &c, eff, token_file);
            token_mount(changes, pod, &c);
        }
        token_volume(changes, pod, eff, expiration);
    }

    /// The webhook's variables a container lacks, appended in the webhook's order: the STS
    /// variable, both region variables unless either is set, both web identity variables
    /// unless either is set (aws/amazon-eks-pod-identity-webhook@3bf80a34
    /// `pkg/handler/handler.go:222-265`).
    fn container_env(
        &self,
        changes: &mut Changes<'_>,
        pod: &Pod<'_>,
        c: &Container,
        eff: &Effective,
        token_file: &str,
    ) {
        let names = pod.env_names(c);
        let has = |name: &str| names.contains(&name);
        let mut env: Vec<(&str, &str)> = Vec::new();
        if eff.regional && !has("AWS_STS_REGIONAL_ENDPOINTS") {
            env.push(("AWS_STS_REGIONAL_ENDPOINTS", "regional"));
        }
        if let Some(region) = &self.config.region {
            if !has("AWS_DEFAULT_REGION") && !has("AWS_REGION") {
                env.push(("AWS_DEFAULT_REGION", region));
                env.push(("AWS_REGION", region));
            }
        }
        if !has("AWS_ROLE_ARN") && !has("AWS_WEB_IDENTITY_TOKEN_FILE") {
            env.push(("AWS_ROLE_ARN", &eff.arn));
            env.push(("AWS_WEB_IDENTITY_TOKEN_FILE", token_file));
        }
        let reason = format!("what the EKS pod-identity webhook injects into {}", c.describe());
        for (name, value) in env {
            podspec::ensure_env(changes, pod, c, podspec::env_value(name, value), EnvAt::Back, &reason);
        }
    }
}

/// A note on a ServiceAccount of the render that gets no role and has none.
fn no_role(ws: &mut Workspace<'_>, a: &Account, report: &mut Report) -> Result<()> {
    let Some(o) = &a.object else { return Ok(()) };
    let has = ws.tree(o.segment).path(o.node, &["metadata", "annotations", &format!("{PREFIX}role-arn")]).is_some();
    if has {
        return Ok(());
    }
    let mut changes = Changes::new(NAME, o);
    changes.note(
        Level::Info,
        format!(
            "no role for ServiceAccount {} (used by {}): it is not in irsa.roles and irsa.roleName is not set",
            a.name,
            a.users.join(", ")
        ),
    );
    changes.apply(ws, report)
}

/// A warning on the first workload using a ServiceAccount the render does not hold (the
/// namespace's `default`, or one made elsewhere): the role has to be annotated where it lives.
fn outside_render(ws: &mut Workspace<'_>, a: &Account, arn: &str, report: &mut Report) -> Result<()> {
    let what = if a.name == "default" {
        "is the namespace's `default`, which is not part of this render: set irsa.createServiceAccount to give the workload its own, or annotate `default` where it is managed"
    } else {
        "is not part of this render: annotate it where it is defined"
    };
    let mut changes = Changes::new(NAME, &a.first_user);
    changes.note(Level::Warning, format!("ServiceAccount {} {what} (eks.amazonaws.com/role-arn: {arn})", a.name));
    changes.apply(ws, report)
}

/// The token path the variables point at: a Windows one when either OS label says `windows`
/// (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/handler.go:314-321`).
fn token_file(tree: &Tree, pod_spec: NodeId) -> &'static str {
    let windows = ["kubernetes.io/os", "beta.kubernetes.io/os"]
        .iter()
        .any(|key| tree.str_at(pod_spec, &["nodeSelector", key]) == Some("windows"));
    if windows {
        WINDOWS_TOKEN_FILE
    } else {
        TOKEN_FILE
    }
}

/// The token mount, read-only, unless the container has a mount of that name
/// (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/handler.go:269-283`). The
/// webhook would add it next to another mount at its path, which gets the pod rejected; that
/// mount is kept, with a warning.
fn token_mount(changes: &mut Changes<'_>, pod: &Pod<'_>, c: &Container) {
    let item = Value::map([
        ("name", Value::str(VOLUME)),
        ("readOnly", Value::Bool(true)),
        ("mountPath", Value::str(MOUNT_PATH)),
    ]);
    let reason = format!("the web identity token for {}", c.describe());
    podspec::ensure_mount(changes, pod, c, item, reason);
}

/// The projected token volume, first as the webhook writes it. It depends only on its name
/// being free, even when every container is skipped
/// (aws/amazon-eks-pod-identity-webhook@3bf80a34 `pkg/handler/handler.go:386-413`).
fn token_volume(changes: &mut Changes<'_>, pod: &Pod<'_>, eff: &Effective, expiration: u64) {
    let token = Value::map([
        ("audience", Value::str(&eff.audience)),
        ("expirationSeconds", Value::Int(expiration as i64)),
        ("path", Value::str("token")),
    ]);
    let source = Value::map([("serviceAccountToken", token)]);
    let item =
        Value::map([("name", Value::str(VOLUME)), ("projected", Value::map([("sources", Value::Seq(vec![source]))]))]);
    let reason = "projected service account token, first volume as the webhook writes it";
    podspec::ensure_volume(changes, pod, Some(0), item, reason);
}

mod go_parse;

#[cfg(test)]
mod tests;
