//! User patches, templates and recipes through plugin.wasm and the runner.
//!
//! - Patches over every corpus file: only targeted documents change, their diff is only the
//!   patched lines, and PyYAML and Go's yaml.v2 both load each changed document to the input
//!   with exactly the patch applied (the `json-patch` crate applies it to what each reader
//!   loaded from the input); a second render changes nothing.
//! - Numbers a patch writes (`0.5`, `1e-7`) are floats to both readers.
//! - Every recipe on a corpus chart and a test chart: the generated and changed objects validate
//!   strictly (kubernetes-validate `--strict` for core kinds; the prometheus-operator CRD schema
//!   with every undeclared field an error for ServiceMonitor).
//! - Failures through the runner: clear message, non-zero exit, no output.

use std::path::Path;

use postwire::runner::Runner;
use postwire_core::wire::{ConfigFileV1, RenderRequestV1};
use serde_json::{Map, Number, Value};

use crate::util::{self, describe, Oracle, TempDir};

const PATCHES: &str = r#"patches:
- name: priority
  target: {kind: Deployment, optional: true}
  patch:
  - {op: add, path: /spec/template/spec/priorityClassName, value: high}
  - {op: add, path: /spec/template/spec/terminationGracePeriodSeconds, value: 45}
  - {op: copy, from: /metadata/name, path: /spec/template/spec/subdomain}
- name: pull-policy
  target: {kind: Deployment, optional: true}
  onTestFailure: skip
  patch:
  - {op: test, path: /spec/template/spec/containers/0/imagePullPolicy, value: IfNotPresent}
  - {op: move, from: /spec/template/spec/containers/0/imagePullPolicy, path: /spec/template/spec/x-pull-policy}
  - {op: replace, path: /spec/template/spec/x-pull-policy, value: Always}
  - {op: remove, path: /spec/template/spec/x-pull-policy}
  - {op: add, path: /spec/template/spec/containers/0/imagePullPolicy, value: Always}
- name: owner
  target: {kind: Service, optional: true}
  merge: {metadata: {annotations: {example.com/owner: payments, example.com/on: "on"}}}
"#;

/// The ops of each patch, for the oracle (the same as PATCHES).
fn oracle_patches() -> Vec<(&'static str, bool, Value)> {
    use serde_json::json;
    vec![
        (
            "Deployment",
            false,
            json!([
                {"op": "add", "path": "/spec/template/spec/priorityClassName", "value": "high"},
                {"op": "add", "path": "/spec/template/spec/terminationGracePeriodSeconds", "value": 45},
                {"op": "copy", "from": "/metadata/name", "path": "/spec/template/spec/subdomain"}
            ]),
        ),
        (
            "Deployment",
            false,
            json!([
                {"op": "test", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"},
                {"op": "move", "from": "/spec/template/spec/containers/0/imagePullPolicy", "path": "/spec/template/spec/x-pull-policy"},
                {"op": "replace", "path": "/spec/template/spec/x-pull-policy", "value": "Always"},
                {"op": "remove", "path": "/spec/template/spec/x-pull-policy"},
                {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Always"}
            ]),
        ),
        (
            "Service",
            true,
            json!({"metadata": {"annotations": {"example.com/owner": "payments", "example.com/on": "on"}}}),
        ),
    ]
}

/// A reader's type-strict JSON (`{"!int": "3"}`, keys `"str:name"`) as plain JSON: strings,
/// integers, floats, booleans and null as themselves; other tags and key types stay tagged.
fn untag(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(untag).collect()),
        Value::Object(map) if map.len() == 1 && map.keys().next().unwrap().starts_with('!') => {
            let (tag, inner) = map.iter().next().unwrap();
            match (tag.as_str(), inner) {
                ("!str", s) => s.clone(),
                ("!bool", b) => b.clone(),
                ("!null", _) => Value::Null,
                ("!int", Value::String(s)) => s
                    .parse::<i64>()
                    .map(Number::from)
                    .or_else(|_| s.parse::<u64>().map(Number::from))
                    .map(Value::Number)
                    .unwrap_or_else(|_| v.clone()),
                ("!float", Value::String(s)) => {
                    s.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number).unwrap_or_else(|| v.clone())
                }
                _ => v.clone(),
            }
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, e)| (k.strip_prefix("str:").unwrap_or(k).to_string(), untag(e))).collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// The input object with every targeted patch applied, as the json-patch crate does it.
fn expected(object: &Value) -> Value {
    let mut out = object.clone();
    if out["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
        if let Some(items) = out["items"].as_array_mut() {
            for item in items {
                *item = expected(item);
            }
        }
        return out;
    }
    for (kind, merge, body) in oracle_patches() {
        if out["kind"] != kind || out["apiVersion"].is_null() {
            continue;
        }
        if merge {
            json_patch::merge(&mut out, &body);
        } else {
            let patch: json_patch::Patch = serde_json::from_value(body).unwrap();
            // Atomic: a failed test leaves the object as it was (onTestFailure: skip).
            let _ = json_patch::patch(&mut out, &patch);
        }
    }
    out
}

fn corpus_files(shared: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["rendered", "streams"] {
        for entry in std::fs::read_dir(shared.join("corpus").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn request(text: &str, config: &str) -> RenderRequestV1 {
    let mut r = RenderRequestV1::new(text);
    r.set = vec!["checksum.enabled=false".into()];
    r.config = Some(ConfigFileV1 { name: "postwire.yaml".into(), content: config.into() });
    r
}

/// Lines of `before` that a longest-common-subsequence line diff against `after` drops: the
/// lines a change replaced or removed.
fn replaced_lines<'a>(before: &'a str, after: &str) -> Vec<&'a str> {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    let mut lcs = vec![vec![0u32; a.len() + 1]; b.len() + 1];
    for i in (0..b.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if b[i] == a[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut missing) = (0, 0, Vec::new());
    while i < b.len() {
        if j < a.len() && b[i] == a[j] {
            i += 1;
            j += 1;
        } else if j < a.len() && lcs[i][j + 1] >= lcs[i + 1][j] {
            j += 1;
        } else {
            missing.push(b[i]);
            i += 1;
        }
    }
    missing
}

#[test]
fn patches_over_the_corpus_change_exactly_the_patched_nodes() {
    let test = "patches_over_the_corpus_change_exactly_the_patched_nodes";
    let (Some(shared), Some(oracle)) = (util::shared(test), Oracle::find(test)) else { return };
    let mut runner = Runner::embedded().expect("plugin.wasm loads");
    let dir = TempDir::new("extensibility-corpus");
    let mut failures = Vec::new();
    let (mut changed_total, mut files_changed) = (0, 0);
    for file in corpus_files(&shared) {
        let name = file.strip_prefix(&shared).unwrap().display().to_string();
        let input = std::fs::read_to_string(&file).unwrap();
        let out = match runner.render(&request(&input, PATCHES)) {
            Ok(out) => out,
            Err(e) => {
                failures.push(format!("{name}: render failed: {}", e.message));
                continue;
            }
        };
        let again = runner.render(&request(&out.manifests, PATCHES)).unwrap();
        if again.manifests != out.manifests {
            failures.push(format!("{name}: a second render changes the output"));
        }
        let out_path = dir.join("out.yaml");
        std::fs::write(&out_path, &out.manifests).unwrap();
        let before = oracle.json(["strings", file.to_str().unwrap()]);
        let after = oracle.json(["strings", out_path.to_str().unwrap()]);
        let (before, after) = (before.as_array().unwrap(), after.as_array().unwrap());
        if before.len() != after.len() {
            failures.push(format!("{name}: {} documents in, {} out", before.len(), after.len()));
            continue;
        }
        let split = |text: &str, path: &Path| -> Vec<String> {
            let ranges = oracle.json(["split", path.to_str().unwrap()]);
            let bytes = text.as_bytes();
            ranges
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    String::from_utf8(bytes[r[0].as_u64().unwrap() as usize..r[1].as_u64().unwrap() as usize].to_vec())
                        .unwrap()
                })
                .collect()
        };
        let (texts_in, texts_out) = (split(&input, &file), split(&out.manifests, &out_path));
        let mut changed = 0;
        for (i, (b, a)) in before.iter().zip(after).enumerate() {
            for reader in ["pyyaml", "yamlv2"] {
                let (Some(bv), Some(av)) = (b[reader].get("ok"), a[reader].get("ok")) else {
                    if b[reader] != a[reader] {
                        failures.push(format!("{name} document {}: {reader} loads it differently", i + 1));
                    }
                    continue;
                };
                let want = expected(&untag(bv));
                if untag(av) != want {
                    failures.push(format!(
                        "{name} document {} ({reader}): not the input with exactly the patches applied:\n  want {}\n  got  {}",
                        i + 1,
                        want,
                        untag(av)
                    ));
                }
            }
            let targeted = b["yamlv2"].get("ok").is_some_and(|v| expected(&untag(v)) != untag(v));
            if texts_in[i] == texts_out[i] {
                if targeted {
                    failures.push(format!("{name} document {}: a targeted document did not change", i + 1));
                }
                continue;
            }
            changed += 1;
            if !targeted {
                failures.push(format!("{name} document {}: changed but no patch changes it", i + 1));
            }
            // A container's first line (`- name: app`) gives its place to imagePullPolicy: new keys
            // go first in a mapping.
            let patched =
                ["imagePullPolicy", "annotations", "priorityClassName", "terminationGracePeriodSeconds", "subdomain"];
            for line in replaced_lines(&texts_in[i], &texts_out[i]) {
                if !patched.iter().any(|k| line.contains(k)) && !line.trim_start().starts_with("- ") {
                    failures.push(format!("{name} document {}: the diff replaces an unpatched line: {line:?}", i + 1));
                }
            }
        }
        if changed > 0 {
            files_changed += 1;
        }
        changed_total += changed;
        if out.report.summary.changed != changed {
            failures.push(format!("{name}: report says {} changed, the text {changed}", out.report.summary.changed));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
    assert!(changed_total > 50 && files_changed > 8, "the patches must reach the corpus ({changed_total} documents)");
    eprintln!("{test}: {changed_total} documents changed in {files_changed} files, both readers agree");
}

#[test]
fn numbers_a_patch_writes_are_floats_to_both_readers() {
    let test = "numbers_a_patch_writes_are_floats_to_both_readers";
    let Some(oracle) = Oracle::find(test) else { return };
    let mut runner = Runner::embedded().expect("plugin.wasm loads");
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";
    let config = "patches:\n- target: {kind: ConfigMap}\n  patch:\n  - {op: add, path: /half, value: 0.5}\n  - {op: add, path: /tiny, value: 1.0e-7}\n  - {op: add, path: /huge, value: 1.5e300}\n  - {op: add, path: /whole, value: 2.0}\n  - {op: add, path: /int, value: 3}\n  - {op: add, path: /str, value: \"0.5\"}\n";
    let out = runner.render(&request(input, config)).unwrap();
    let dir = TempDir::new("extensibility-floats");
    let path = dir.join("out.yaml");
    std::fs::write(&path, &out.manifests).unwrap();
    let rows = oracle.json(["strings", path.to_str().unwrap()]);
    for reader in ["pyyaml", "yamlv2"] {
        let doc = &rows[0][reader]["ok"];
        for (key, tag, text) in [
            ("half", "!float", "5e-01"),
            ("tiny", "!float", "1e-07"),
            ("huge", "!float", "1.5e+300"),
            ("whole", "!float", "2e+00"),
            ("int", "!int", "3"),
            ("str", "!str", "0.5"),
        ] {
            assert_eq!(doc[format!("str:{key}")][tag], text, "{reader} {key}: {}\n{}", doc, out.manifests);
        }
    }
}

const RECIPES: &str = r#"recipes:
  podDisruptionBudget: {minAvailable: 1}
  serviceMonitor: {port: "*metrics*", labels: {release: kube-prometheus-stack}, interval: 30s}
  goRuntime: {}
  jvmHeap: {heapPercent: 70, initialHeapPercent: 50}
  zoneSpread: {}
"#;

/// A small application of three services that depend on each other.
const TEST_CHART: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: api:1
        ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]
        resources: {limits: {cpu: 500m, memory: 256Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: web:1}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop, labels: {app: api}}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: http}, {name: metrics, port: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
";

/// Validate documents: core kinds with kubernetes-validate --strict, ServiceMonitor against its
/// CRD schema with every undeclared field an error.
const VALIDATE_PY: &str = r#"
import json, subprocess, sys, tempfile, os, yaml, jsonschema
docs, crd_path = json.load(open(sys.argv[1])), sys.argv[2]
crd = yaml.safe_load(open(crd_path))
schema = [v for v in crd["spec"]["versions"] if v["name"] == "v1"][0]["schema"]["openAPIV3Schema"]
def strict(s):
    if isinstance(s, dict):
        if "properties" in s and "additionalProperties" not in s and not s.get("x-kubernetes-preserve-unknown-fields"):
            s["additionalProperties"] = False
        for v in s.values():
            strict(v)
    elif isinstance(s, list):
        for v in s:
            strict(v)
strict(schema)
# metadata is `type: object` in CRDs; the API server checks it as ObjectMeta.
schema["properties"]["metadata"] = {"type": "object"}
bad = 0
for d in docs:
    if d["kind"] == "ServiceMonitor":
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(d))
        for e in errors:
            print("%s/%s: %s at %s" % (d["kind"], d["metadata"]["name"], e.message, list(e.path)))
        bad += len(errors)
        continue
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(d, f)
    p = subprocess.run([os.path.join(os.path.dirname(sys.executable), "kubernetes-validate"), "--strict", "--quiet", f.name],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    os.unlink(f.name)
    if p.returncode != 0:
        print("%s/%s: %s" % (d["kind"], d["metadata"]["name"], p.stdout.strip()))
        bad += 1
print("validated %d documents, %d problems" % (len(docs), bad))
sys.exit(1 if bad else 0)
"#;

fn validate(test: &str, docs: &[Value]) {
    let (Some(shared), Some(python)) = (util::shared(test), util::python(test)) else { return };
    let dir = TempDir::new(&format!("validate-{test}"));
    std::fs::write(dir.join("docs.json"), serde_json::to_vec(docs).unwrap()).unwrap();
    std::fs::write(dir.join("validate.py"), VALIDATE_PY).unwrap();
    let crd = shared.join("schemas/crds/prometheus-operator/monitoring.coreos.com_servicemonitors.yaml");
    let out = util::run(
        std::process::Command::new(&python).arg(dir.join("validate.py")).arg(dir.join("docs.json")).arg(&crd),
        b"",
    );
    assert!(out.status.success(), "{test}: validation failed:\n{}", describe(&out));
}

/// The documents a render generated or changed, as PyYAML-free JSON (from the engine's model).
fn touched(runner: &mut Runner, input: &str, config: &str) -> (Vec<Value>, Vec<String>) {
    let out = runner.render(&request(input, config)).unwrap_or_else(|e| panic!("{}", e.message));
    let again = runner.render(&request(&out.manifests, config)).unwrap();
    assert_eq!(again.manifests, out.manifests, "a second run changes nothing");
    let changed: std::collections::BTreeSet<usize> =
        out.report.documents.iter().filter(|d| !d.changes.is_empty()).map(|d| d.document).collect();
    let stream = postwire_core::stream::Stream::split(&out.manifests);
    let mut docs = Vec::new();
    let mut kinds = Vec::new();
    let mut n = 0;
    for (i, seg) in stream.segments.iter().enumerate() {
        if !seg.has_content {
            continue;
        }
        n += 1;
        if !changed.contains(&n) {
            continue;
        }
        let tree = postwire_core::yaml::Tree::parse(stream.segment_text(i), 0).unwrap();
        let v = postwire_core::model::json(&tree, tree.root().unwrap());
        kinds.push(v["kind"].as_str().unwrap_or_default().to_string());
        docs.push(v);
    }
    (docs, kinds)
}

#[test]
fn recipes_on_a_test_chart_validate_strictly() {
    let test = "recipes_on_a_test_chart_validate_strictly";
    let mut runner = Runner::embedded().expect("plugin.wasm loads");
    let config = format!("{RECIPES}  networkPolicy: {{services: {{api: [web], web: []}}}}\n");
    let (docs, kinds) = touched(&mut runner, TEST_CHART, &config);
    for kind in ["Deployment", "PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} among {kinds:?}");
    }
    validate(test, &docs);
}

#[test]
fn recipes_on_corpus_charts_validate_strictly() {
    let test = "recipes_on_corpus_charts_validate_strictly";
    let Some(shared) = util::shared(test) else { return };
    let mut runner = Runner::embedded().expect("plugin.wasm loads");
    let mut all = Vec::new();
    for file in [
        "rendered/redis.yaml",
        "rendered/kafka.yaml",
        "rendered/postgresql-replication-metrics.yaml",
        "rendered/argo-cd.yaml",
        "rendered/cert-manager.yaml",
        "streams/microservices-demo-kubernetes-manifests.yaml",
    ] {
        let input = std::fs::read_to_string(shared.join("corpus").join(file)).unwrap();
        let config = if file.contains("microservices") {
            format!("{RECIPES}  networkPolicy: {{services: {{cartservice: [checkoutservice, frontend], redis-cart: [cartservice]}}}}\n")
        } else {
            RECIPES.to_string()
        };
        let (docs, kinds) = touched(&mut runner, &input, &config);
        assert!(!docs.is_empty(), "{file}: recipes changed nothing ({kinds:?})");
        all.extend(docs);
    }
    let kinds: std::collections::BTreeSet<&str> = all.iter().filter_map(|d| d["kind"].as_str()).collect();
    for kind in ["PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy", "StatefulSet", "Deployment"] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
    validate(test, &all);
}

#[test]
fn failures_exit_non_zero_with_a_clear_message_and_no_output() {
    let test = "failures_exit_non_zero_with_a_clear_message_and_no_output";
    let dir = TempDir::new("extensibility-failures");
    let input = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n";
    let cases = [
        (
            "bad pointer",
            "patches:\n- target: {kind: Deployment}\n  patch: [{op: replace, path: /spec/replica, value: 3}]\n",
            "document 1 (Deployment/web): cannot wire: patches[0] operation 0 (replace): /spec/replica: /spec/replica does not exist",
        ),
        (
            "pointer syntax",
            "patches:\n- target: {kind: Deployment}\n  patch: [{op: add, path: spec/x, value: 3}]\n",
            "line 3",
        ),
        (
            "failed test",
            "patches:\n- target: {kind: Deployment}\n  patch: [{op: test, path: /spec/replicas, value: 3}]\n",
            "patches[0] operation 0 (test) failed: /spec/replicas is 2, not 3",
        ),
        ("template syntax", "templates:\n- name: t\n  template: \"{% if %}\"\n", "template `t` line 1: syntax error"),
        (
            "runaway loop",
            "templates:\n- name: loop\n  template: \"{% for i in range(50000) %}{% for j in range(50000) %}{% endfor %}{% endfor %}\"\n",
            "template `loop` line 1: engine ran out of fuel",
        ),
        ("not an object", "templates:\n- name: list\n  template: \"[1, 2]\"\n", "writes a list (output document 1), not a Kubernetes object"),
        (
            "target matches nothing",
            "patches:\n- target: {kind: Service, name: api}\n  merge: {metadata: {labels: {a: b}}}\n",
            "patches[0].target: the target Service api matches no object",
        ),
    ];
    for (what, config, want) in cases {
        let cfg = dir.join("postwire.yaml");
        std::fs::write(&cfg, config).unwrap();
        let out =
            util::run(util::postwire(&dir.join("cache")).args(["--config", cfg.to_str().unwrap()]), input.as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{test}: {what}: succeeded\n{}", describe(&out));
        assert!(out.stdout.is_empty(), "{test}: {what}: wrote output\n{}", describe(&out));
        assert!(stderr.contains(want), "{test}: {what}: want {want:?}\n{}", describe(&out));
    }
}
