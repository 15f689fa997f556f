//! Identity and telemetry: pods whose ServiceAccount or labels make the EKS pod-identity
//! webhook or the Datadog admission controller inject something other than the stream says.

use serde_json::Value as Json;

use super::index::{Index, Template};
use super::{Finding, Level};

/// A container's AWS_ROLE_ARN differs from its ServiceAccount's role annotation.
pub const IRSA_ROLE_MISMATCH: &str = "irsa-role-mismatch";
/// A container names a web-identity token file that no volume mount provides.
pub const IRSA_TOKEN_NOT_MOUNTED: &str = "irsa-token-not-mounted";
/// A pod looks set up for IRSA but names a ServiceAccount the stream does not hold.
pub const IRSA_MISSING_SERVICE_ACCOUNT: &str = "irsa-missing-service-account";
/// A pod looks set up for IRSA but its ServiceAccount in the stream names no role.
pub const IRSA_ROLE_NOT_ANNOTATED: &str = "irsa-role-not-annotated";
/// `DD_ENV`/`DD_SERVICE`/`DD_VERSION` differ from the pod's `tags.datadoghq.com/*` labels.
pub const DATADOG_TAGS_MISMATCH: &str = "datadog-tags-mismatch";

const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

pub fn check(index: &Index, out: &mut Vec<Finding>) {
    for t in index.templates() {
        irsa(index, t, out);
        irsa_service_account(index, t, out);
        datadog(index, t, out);
    }
}

/// Containers and init containers of a pod spec.
fn containers(spec: &Json) -> impl Iterator<Item = &Json> {
    ["initContainers", "containers"].into_iter().flat_map(move |k| spec[k].as_array().into_iter().flatten())
}

/// A literal env value of a container.
fn env<'a>(container: &'a Json, name: &str) -> Option<&'a str> {
    container["env"].as_array()?.iter().find(|e| e["name"].as_str() == Some(name))?.get("value")?.as_str()
}

/// The webhook never overrides a web-identity variable a container already has
/// (aws/amazon-eks-pod-identity-webhook 3bf80a34 pkg/handler/handler.go:191-214), so a role
/// written in the stream wins over the ServiceAccount's annotation: the pod assumes the
/// stream's role while the ServiceAccount says another. And a token file path the stream sets
/// gets no volume from the webhook either: the SDK cannot read it and every AWS call fails.
fn irsa(index: &Index, t: &Template, out: &mut Vec<Finding>) {
    let owner = index.object(t.owner);
    let sa_name = t.spec["serviceAccountName"].as_str().or(t.spec["serviceAccount"].as_str()).unwrap_or("default");
    let sa_role = index
        .find("", "ServiceAccount", owner.namespace.as_deref(), sa_name)
        .and_then(|sa| sa.annotations().get(ROLE_ANNOTATION).cloned());
    for c in containers(&t.spec) {
        let name = c["name"].as_str().unwrap_or("?");
        if let (Some(role), Some(sa_role)) = (env(c, "AWS_ROLE_ARN"), &sa_role) {
            if role != sa_role {
                out.push(Finding::new(
                    Level::Warning,
                    IRSA_ROLE_MISMATCH,
                    owner,
                    format!(
                        "container {name} sets AWS_ROLE_ARN {role}, but ServiceAccount {sa_name} is annotated with \
                         role {sa_role}: the webhook keeps the container's variable, so the pod assumes {role}; make \
                         them agree"
                    ),
                ));
            }
        }
        if let Some(file) = env(c, "AWS_WEB_IDENTITY_TOKEN_FILE") {
            let mounted = c["volumeMounts"].as_array().into_iter().flatten().any(|m| {
                m["mountPath"].as_str().is_some_and(|p| file.starts_with(&format!("{}/", p.trim_end_matches('/'))))
            });
            if !mounted {
                out.push(Finding::new(
                    Level::Error,
                    IRSA_TOKEN_NOT_MOUNTED,
                    owner,
                    format!(
                        "container {name} reads its web-identity token from {file}, but no volume is mounted there and \
                         the webhook adds none to a container that already names the file: every AWS call fails; \
                         mount the projected token volume (aws-iam-token) at its directory"
                    ),
                ));
            }
        }
    }
}

/// Whether a pod looks set up for IRSA: a container names the web-identity role or token file,
/// or the pod carries one of the webhook's `eks.amazonaws.com/*` annotations.
fn expects_irsa(t: &Template) -> bool {
    t.annotations.keys().any(|k| k.starts_with("eks.amazonaws.com/"))
        || containers(&t.spec)
            .any(|c| env(c, "AWS_ROLE_ARN").is_some() || env(c, "AWS_WEB_IDENTITY_TOKEN_FILE").is_some())
}

/// Whether every container that names a role also has its own token file mounted: the pod
/// then needs no webhook.
fn self_sufficient(t: &Template) -> bool {
    containers(&t.spec).filter(|c| env(c, "AWS_ROLE_ARN").is_some()).all(|c| {
        let Some(file) = env(c, "AWS_WEB_IDENTITY_TOKEN_FILE") else { return false };
        c["volumeMounts"].as_array().into_iter().flatten().any(|m| {
            m["mountPath"].as_str().is_some_and(|p| file.starts_with(&format!("{}/", p.trim_end_matches('/'))))
        })
    }) && containers(&t.spec).any(|c| env(c, "AWS_ROLE_ARN").is_some())
}

/// The webhook mutates a pod only when its ServiceAccount is known and annotated with a role
/// (aws/amazon-eks-pod-identity-webhook 3bf80a34 pkg/handler/handler.go:464-485: a
/// ServiceAccount missing from its cache means "Not mutating"; :488-507: an empty role means
/// "No mutations needed"). Without the mutation the pod gets no token, and the AWS SDK falls
/// back to other credentials (the node's role), so the outcome depends on the cluster: a
/// warning. A ServiceAccount outside the stream may exist in the cluster; one in the stream
/// without the annotation certainly gets nothing.
fn irsa_service_account(index: &Index, t: &Template, out: &mut Vec<Finding>) {
    if !expects_irsa(t) || self_sufficient(t) {
        return;
    }
    let owner = index.object(t.owner);
    let Some(name) = t.spec["serviceAccountName"].as_str().or(t.spec["serviceAccount"].as_str()) else {
        return;
    };
    match index.find("", "ServiceAccount", owner.namespace.as_deref(), name) {
        None if name != "default" => out.push(Finding::new(
            Level::Warning,
            IRSA_MISSING_SERVICE_ACCOUNT,
            owner,
            format!(
                "the pods are set up for IRSA but their ServiceAccount {name} is not in the stream: unless it exists \
                 in the cluster with eks.amazonaws.com/role-arn, the webhook does not mutate them, no web-identity \
                 token is mounted and the AWS SDK falls back to other credentials; add the ServiceAccount with its \
                 role annotation"
            ),
        )),
        Some(sa) if !sa.annotations().contains_key(ROLE_ANNOTATION) => out.push(Finding::new(
            Level::Warning,
            IRSA_ROLE_NOT_ANNOTATED,
            owner,
            format!(
                "the pods are set up for IRSA but their ServiceAccount {name} has no eks.amazonaws.com/role-arn \
                 annotation: the webhook does not mutate them, no web-identity token is mounted and the AWS SDK falls \
                 back to other credentials (the node's role); annotate the ServiceAccount with the role"
            ),
        )),
        _ => {}
    }
}

/// The Datadog admission controller sets `DD_ENV`, `DD_SERVICE` and `DD_VERSION` from the pod's
/// `tags.datadoghq.com/*` labels only when a container lacks them (DataDog/datadog-agent
/// 4ad248e9 pkg/clusteragent/admission/mutate/tagsfromlabels/tags.go `injectTagsFromLabels`
/// calls `InjectEnv`, which at ccc408e0 pkg/clusteragent/admission/mutate/common/common.go
/// `injectEnvInContainer` skips a container that already has the variable), while the
/// agent tags the pod's metrics from the labels: traces and metrics then disagree.
fn datadog(index: &Index, t: &Template, out: &mut Vec<Finding>) {
    let owner = index.object(t.owner);
    for (tag, var) in [("env", "DD_ENV"), ("service", "DD_SERVICE"), ("version", "DD_VERSION")] {
        let Some(label) = t.labels.get(&format!("tags.datadoghq.com/{tag}")) else {
            continue;
        };
        for c in containers(&t.spec) {
            let Some(value) = env(c, var) else {
                continue;
            };
            if value != label {
                let name = c["name"].as_str().unwrap_or("?");
                out.push(Finding::new(
                    Level::Warning,
                    DATADOG_TAGS_MISMATCH,
                    owner,
                    format!(
                        "container {name} sets {var}={value}, but the pod label tags.datadoghq.com/{tag} is {label}: \
                         the admission controller keeps the variable, so traces say {value} and metrics say {label}; \
                         make them agree"
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::table;
    use super::*;

    fn pod(env: &str, mounts: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::1:role/api\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    metadata:\n      labels:\n        tags.datadoghq.com/env: prod\n    spec:\n      serviceAccountName: api\n      containers:\n      - name: api\n        env:\n{env}{mounts}"
        )
    }

    const TOKEN: &str = "        - name: AWS_WEB_IDENTITY_TOKEN_FILE\n          value: /var/run/secrets/eks.amazonaws.com/serviceaccount/token\n";
    const MOUNT: &str = "        volumeMounts:\n        - name: aws-iam-token\n          mountPath: /var/run/secrets/eks.amazonaws.com/serviceaccount\n";

    #[test]
    fn irsa_rules() {
        let role = |r: &str| format!("        - name: AWS_ROLE_ARN\n          value: arn:aws:iam::1:role/{r}\n");
        table(
            IRSA_ROLE_MISMATCH,
            &[
                ("same role", pod(&role("api"), ""), None),
                ("other role", pod(&role("admin"), ""), Some(Level::Warning)),
            ],
        );
        table(
            IRSA_TOKEN_NOT_MOUNTED,
            &[("mounted", pod(TOKEN, MOUNT), None), ("not mounted", pod(TOKEN, ""), Some(Level::Error))],
        );
    }

    #[test]
    fn datadog_tags() {
        let dd = |v: &str| format!("        - name: DD_ENV\n          value: {v}\n");
        table(
            DATADOG_TAGS_MISMATCH,
            &[("agree", pod(&dd("prod"), ""), None), ("disagree", pod(&dd("staging"), ""), Some(Level::Warning))],
        );
    }

    #[test]
    fn irsa_service_accounts() {
        let role = "        - name: AWS_ROLE_ARN\n          value: arn:aws:iam::1:role/api\n";
        let unannotated = |stream: String| {
            stream.replace("  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::1:role/api\n", "")
        };
        let without_sa = |stream: String| {
            stream.replacen(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n",
                1,
            )
        };
        let plain = "        - name: LOG_LEVEL\n          value: info\n";
        table(
            IRSA_MISSING_SERVICE_ACCOUNT,
            &[
                ("in the stream", pod(role, ""), None),
                ("missing", without_sa(pod(role, "")), Some(Level::Warning)),
                ("missing, no IRSA", without_sa(pod(plain, "")), None),
                ("missing, own token mounted", without_sa(pod(&format!("{role}{TOKEN}"), MOUNT)), None),
            ],
        );
        table(
            IRSA_ROLE_NOT_ANNOTATED,
            &[
                ("annotated", pod(role, ""), None),
                ("not annotated", unannotated(pod(role, "")), Some(Level::Warning)),
                ("not annotated, no IRSA", unannotated(pod(plain, "")), None),
            ],
        );
    }
}
