//! What the people who write Applications and charts cannot do to a render: add objects through
//! an unquoted parameter, or pick their own trust level.

use postwire_core::wire::{ConfigFileV1, RenderRequestV1};

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n";

/// A platform config passing `${ARGOCD_ENV_TEAM}` to an unquoted template: an Application
/// setting TEAM to a value with `---` would have added a ClusterRoleBinding.
#[test]
fn an_application_parameter_cannot_add_documents_through_a_template() {
    let config = "values:\n  team: ${ARGOCD_ENV_TEAM}\ntemplates:\n- name: team\n  template: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: team\n    data:\n      team: {{ values.team }}\n";
    let mut request = RenderRequestV1::new(DEPLOY);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    request.context.env.insert("ARGOCD_ENV_TEAM".into(), "payments".into());
    let out = postwire_core::render(&request).unwrap();
    assert!(out.manifests.contains("team: \"payments\""), "{}", out.manifests);

    let hostile = "x\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: own\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}]";
    request.context.env.insert("ARGOCD_ENV_TEAM".into(), hostile.into());
    let err = postwire_core::render(&request).unwrap_err().to_string();
    assert!(err.contains("template `team`") && err.contains("starts a YAML document"), "{err}");
}
