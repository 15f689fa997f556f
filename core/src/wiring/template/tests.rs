use serde_json::json;

use crate::error::Result;

const INPUT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: web
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80}
";

fn render(input: &str, config: &str) -> Result<crate::RenderOutput> {
    let mut request = crate::wiring::test_support::request(input, config);
    request.set = vec!["checksum.enabled=false".into()];
    request.context.release_name = Some("shop".into());
    request.context.env.insert("ARGOCD_APP_NAME".into(), "shop-prod".into());
    crate::render(&request)
}

const PDB: &str = "templates:
- name: pdb
  forEach: {kind: Deployment}
  template: |
    apiVersion: policy/v1
    kind: PodDisruptionBudget
    metadata: {name: \"{{ object.metadata.name }}\", namespace: {{ object.metadata.namespace }}}
    spec:
      minAvailable: 1
      selector: {matchLabels: {{ object.spec.selector.matchLabels | tojson }}}
";

#[test]
fn for_each_generates_marked_objects_and_a_second_run_is_identical() {
    let once = render(INPUT, PDB).unwrap();
    assert!(once.manifests.starts_with(INPUT));
    let added = &once.manifests[INPUT.len()..];
    assert_eq!(
        added,
        "---\napiVersion: \"policy/v1\"\nkind: \"PodDisruptionBudget\"\nmetadata:\n  name: \"web\"\n  namespace: \"shop\"\n  annotations:\n    postwire.dev/generated-by: \"templates/pdb\"\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: \"web\"\n"
    );
    let twice = render(&once.manifests, PDB).unwrap();
    assert_eq!(twice.manifests, once.manifests);
}

#[test]
fn context_has_values_release_namespace_argocd_and_resources() {
    let config = "values: {team: payments, replicas: 2}
templates:
- name: info
  template: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: {{ (release.name ~ \"-info\") | dns_label }}}
    data:
      team: {{ values.team | quote }}
      app: {{ argocd.ARGOCD_APP_NAME | quote }}
      namespace: {{ (namespace or \"unknown\") | quote }}
      objects: {{ resources | length | quote }}
      service-port: {{ find(\"Service\", \"web\").spec.ports[0].port | quote }}
      deployments: {{ select(kind=\"Deployment\") | map(attribute=\"metadata.name\") | join(\",\") | quote }}
      memory: {{ \"512Mi\" | bytes | quote }}
";
    let out = render(INPUT, config).unwrap();
    let tail = &out.manifests[INPUT.len()..];
    for line in [
        "name: \"shop-info\"",
        "team: \"payments\"",
        "app: \"shop-prod\"",
        "namespace: \"unknown\"",
        "objects: \"2\"",
        "service-port: \"80\"",
        "deployments: \"web\"",
        "memory: \"536870912\"",
    ] {
        assert!(tail.contains(line), "{line}\n{tail}");
    }
}

#[test]
fn several_documents_and_none() {
    let config = "templates:
- name: two
  template: |
    {% for n in ['a', 'b'] %}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: {{ n }}}
    data: {ratio: 0.5, on: yes}
    {% endfor %}
- name: none
  template: \"{% if false %}x: 1{% endif %}\"
";
    let out = render(INPUT, config).unwrap();
    let tail = &out.manifests[INPUT.len()..];
    assert_eq!(tail.matches("kind: \"ConfigMap\"").count(), 2, "{tail}");
    // Plain scalars mean what they mean to Kubernetes: 0.5 a float, yes a boolean.
    assert!(tail.contains("data:\n  ratio: 0.5\n  \"on\": true\n"), "{tail}");
}

#[test]
fn failures_are_clear_and_produce_no_output() {
    let template =
        |body: &str| format!("templates:\n- name: bad\n  template: |\n    {}\n", body.replace('\n', "\n    "));
    let cases = [
        (template("{% for x in %}"), "template `bad` line 1: syntax error"),
        (template("a: 1\n{{ object.metadata.name }}"), "template `bad` line 2: undefined value"),
        (template("{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"), "engine ran out of fuel"),
        (template("- a\n- b"), "writes a list (output document 1), not a Kubernetes object"),
        (template("just text"), "writes the scalar \"just text\""),
        (template("apiVersion: v1\nkind: ConfigMap\nmetadata: {}"), "ConfigMap has no metadata.name"),
        (template("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_DNS}"), "is not a DNS-1123 subdomain"),
        (template("kind: ConfigMap\nmetadata: {name: x}"), "no apiVersion"),
        (template("a: [b"), "writes invalid YAML"),
        (
            "templates:\n- name: big\n  maxOutputBytes: 100\n  template: \"{% for i in range(1000) %}x{% endfor %}\"\n".to_string(),
            "writes more than 100 bytes",
        ),
        (
            "templates:\n- name: each\n  forEach: {kind: StatefulSet}\n  template: \"x: 1\"\n".to_string(),
            "templates[0].forEach: the target StatefulSet matches no object",
        ),
        ("templates:\n- name: \"a b\"\n  template: x\n".to_string(), "is not a template name"),
        (
            "templates:\n- name: web\n  template: \"apiVersion: v1\\nkind: Service\\nmetadata: {name: web, namespace: shop}\"\n".to_string(),
            "which document 2 already defines",
        ),
    ];
    for (config, want) in cases {
        let err = render(INPUT, &config).unwrap_err().to_string();
        assert!(err.contains(want), "{config}\n{err}");
    }
    // In a forEach, the error names the object it was rendering for.
    let config = "templates:\n- name: each\n  forEach: {kind: Deployment}\n  template: \"{{ object.spec.nope }}\"\n";
    let err = render(INPUT, config).unwrap_err().to_string();
    assert!(err.starts_with("document 1 (Deployment/shop/web)") && err.contains("object.spec.nope"), "{err}");
}

#[test]
fn conflicts_can_be_skipped_or_replaced() {
    let config = |policy: &str| {
        format!("templates:\n- name: svc\n  onConflict: {policy}\n  template: \"apiVersion: v1\\nkind: Service\\nmetadata: {{name: web, namespace: shop}}\\nspec: {{ports: [{{port: 8080}}]}}\"\n")
    };
    assert_eq!(render(INPUT, &config("skip")).unwrap().manifests, INPUT);
    let replaced = render(INPUT, &config("replace")).unwrap().manifests;
    assert!(!replaced.contains("name: http") && replaced.contains("port: 8080"), "{replaced}");
    assert_eq!(json!(render(&replaced, &config("replace")).unwrap().manifests), json!(replaced));
}

/// Without a release name (Helm tells a post-renderer none), `release.name` is undefined, so
/// `| default(...)` and `is defined` work; it used to be none and rendered `none-info`.
#[test]
fn release_name_is_undefined_when_the_host_does_not_say() {
    let config = "templates:
- name: info
  template: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: {{ (release.name | default(\"app\")) ~ \"-info\" }}}
    data:
      known: {{ \"set\" if release.name is defined else \"unset\" }}
      ns: {{ release.namespace | default(\"default\") | quote }}
";
    let mut request = crate::wiring::test_support::request(INPUT, config);
    request.set = vec!["checksum.enabled=false".into()];
    let out = crate::render(&request).unwrap();
    let tail = &out.manifests[INPUT.len()..];
    for line in ["name: \"app-info\"", "known: \"unset\"", "ns: \"default\""] {
        assert!(tail.contains(line), "{line}\n{tail}");
    }
}
