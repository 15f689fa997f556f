use crate::wire::{ConfigFileV1, RenderRequestV1};

fn render(manifests: &str, config: &str) -> crate::error::Result<crate::engine::RenderOutput> {
    let mut request = RenderRequestV1::new(manifests);
    request.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    request.context.release_name = Some("chat".into());
    crate::render(&request)
}

const APP: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: livechat
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: livechat
spec:
  template:
    spec:
      serviceAccountName: livechat
      initContainers:
      - name: migrate
        image: livechat:1
      containers:
      - name: app
        image: livechat:1
        env:
        - name: A
          value: b
      volumes:
      - name: data
        emptyDir: {}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      containers:
      - name: job
        image: job:1
";

#[test]
fn explore() {
    let out = render(APP, "checksum: {enabled: false}\nirsa:\n  enabled: true\n  accountId: \"123456789012\"\n  roleName: \"{release}-{serviceAccount}\"\n  roles: {livechat: \"arn:aws:iam::123456789012:role/livechat\"}\n  region: us-east-1\n  inject: true\n  fsGroup: 65534\n  createServiceAccount: true\n").unwrap();
    println!("{}", out.manifests);
    println!("{}", serde_json::to_string_pretty(&out.report.documents.iter().map(|d| &d.notes).collect::<Vec<_>>()).unwrap());
}
