use crate::wire::{ConfigFileV1, RenderRequestV1};

fn render(manifests: &str, config: &str) -> crate::error::Result<crate::engine::RenderOutput> {
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    crate::render(&request)
}

const LIVECHAT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: livechat
  labels:
    app: livechat
spec:
  template:
    metadata:
      labels:
        app: livechat
    spec:
      initContainers:
      - name: migrate
        image: livechat:1.4.2
      containers:
      - name: app
        image: registry.example.com/livechat:1.4.2+build.7
        ports:
        - containerPort: 5555
        env:
        - name: DD_ENV
          value: staging
";

#[test]
fn explore() {
    let out = render(LIVECHAT, "checksum: {enabled: false}\ndatadog:\n  enabled: true\n  env: prod\n  apm: {enabled: true, language: java}\n  logs: {enabled: true}\n  metrics: {port: 5555}\n  jmx: {port: 9016}\n").unwrap();
    println!("{}", out.manifests);
    println!("{}", serde_json::to_string_pretty(&out.report).unwrap());
}

#[test]
fn explore_bisect() {
    for cfg in [
        "datadog:\n  enabled: true\n",
        "datadog:\n  enabled: true\n  env: prod\n",
        "datadog:\n  enabled: true\n  mode: admission\n",
        "datadog:\n  enabled: true\n  mode: hostip\n",
        "datadog:\n  enabled: true\n  mode: admission\n  metrics: {port: 5555}\n",
        "datadog:\n  enabled: true\n  mode: admission\n  jmx: {port: 9016}\n",
        "datadog:\n  enabled: true\n  mode: admission\n  logs: {enabled: true}\n",
    ] {
        match render(LIVECHAT, &format!("checksum: {{enabled: false}}\n{cfg}")) {
            Ok(_) => println!("OK {cfg:?}"),
            Err(e) => println!("ERR {cfg:?}: {e}"),
        }
    }
}

#[test]
fn explore_edit() {
    use crate::edit::{parse_pointer, Op, Value};
    let env = |n: &str| Value::map([("name", Value::str(n)), ("valueFrom", Value::map([("fieldRef", Value::map([("fieldPath", Value::str("x"))]))]))]);
    let text = "spec:\n  containers:\n  - name: app\n    env:\n    - name: A\n      value: b\n";
    for ops in [
        vec![Op::Insert { path: parse_pointer("/spec/containers/0/env").unwrap(), index: Some(0), item: env("X") }],
        vec![Op::Insert { path: parse_pointer("/spec/containers/0/env").unwrap(), index: Some(0), item: env("X") }, Op::Insert { path: parse_pointer("/spec/containers/0/env").unwrap(), index: Some(1), item: env("Y") }],
        vec![Op::Insert { path: parse_pointer("/spec/containers/0/volumeMounts").unwrap(), index: None, item: env("X") }],
    ] {
        let mut plan = crate::edit::Plan::default();
        let tree = crate::yaml::Tree::parse(text, 0).unwrap();
        let doc = crate::edit::DocRef { text, tree: &tree };
        for op in &ops { plan.apply(doc, tree.root().unwrap(), op).unwrap(); }
        let out = crate::edit::apply_splices(text, &plan.render(doc, "\n").unwrap()).unwrap();
        println!("-----\n{out}");
    }
}
