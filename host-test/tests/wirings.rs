//! IRSA and Datadog over the real corpus, through the runner (plugin.wasm) and through real
//! Helm 4.3.1: every container of every targeted workload gets each variable exactly once, the
//! chart's variables stay, no pod has two volumes of one name and no container two mounts of one
//! name or path, every changed document passes `kubernetes-validate --strict`, a second run
//! changes nothing, untouched documents are byte-identical, and changed documents differ from
//! the input only by added or replaced lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, describe, HelmHome, Oracle, TempDir};

/// Both wirings on, with every option that changes pods.
const CONFIG: &str = "checksum: {enabled: false}
irsa:
  enabled: true
  accountId: \"123456789012\"
  roleName: \"{release}-{serviceAccount}\"
  region: us-east-1
  inject: true
  fsGroup: 65534
  createServiceAccount: true
datadog:
  enabled: true
  env: prod
  mode: socket
  apm: {enabled: true, language: java, profiling: true, sampleRate: 0.5}
  logs: {enabled: true}
";

const IRSA_VARS: [&str; 5] =
    ["AWS_STS_REGIONAL_ENDPOINTS", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"];
const DD_VARS: [&str; 11] = [
    "DD_INTERNAL_POD_UID",
    "DD_EXTERNAL_ENV",
    "DD_ENTITY_ID",
    "DD_DOGSTATSD_URL",
    "DD_TRACE_AGENT_URL",
    "DD_ENV",
    "DD_SERVICE",
    "DD_VERSION",
    "DD_LOGS_INJECTION",
    "DD_PROFILING_ENABLED",
    "DD_TRACE_SAMPLE_RATE",
];

fn pod_spec(doc: &Value) -> Option<&Value> {
    let kind = doc.get("kind")?.as_str()?;
    let path = util::pod_template_path(kind)?;
    util::at(doc, path)?.get("spec")
}

fn containers(spec: &Value) -> Vec<(&'static str, &Value)> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        if let Some(Value::Array(items)) = spec.get(list) {
            out.extend(items.iter().map(|c| (list, c)));
        }
    }
    out
}

fn names<'a>(v: Option<&'a Value>, key: &str) -> Vec<&'a str> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(|i| i.get(key).and_then(Value::as_str)).collect(),
        _ => Vec::new(),
    }
}

/// The invariants of one rendered stream against its input; problems as text.
fn check_pods(raw: &[Value], post: &[Value], context: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut workloads = 0;
    for (i, (before, after)) in raw.iter().zip(post).enumerate() {
        let (Some(spec), Some(before_spec)) = (pod_spec(after), pod_spec(before)) else { continue };
        workloads += 1;
        let id = format!("{context} document {} {}", i + 1, util::object_id(after));
        let vols = names(spec.get("volumes"), "name");
        let mut sorted = vols.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != vols.len() {
            problems.push(format!("{id}: duplicate volume names {vols:?}"));
        }
        if !vols.contains(&"aws-iam-token") || !vols.contains(&"datadog") {
            problems.push(format!("{id}: volumes {vols:?} lack aws-iam-token or datadog"));
        }
        let before_containers = containers(before_spec);
        for (n, (list, c)) in containers(spec).into_iter().enumerate() {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("?");
            let env = names(c.get("env"), "name");
            for var in IRSA_VARS.iter().chain(DD_VARS.iter()) {
                let count = env.iter().filter(|e| *e == var).count();
                if count != 1 {
                    problems.push(format!("{id} {list} {cname}: {var} appears {count} times"));
                }
            }
            // The chart's variables are all still there, unchanged.
            if let Some((_, b)) = before_containers.get(n) {
                if let Some(Value::Array(items)) = b.get("env") {
                    let after_env = c.get("env").and_then(Value::as_array).cloned().unwrap_or_default();
                    for item in items {
                        if !after_env.contains(item) {
                            problems.push(format!("{id} {cname}: the chart's variable {item} changed or went"));
                        }
                    }
                }
            }
            // A volume may be mounted twice (with subPath), a path only once; postwire's mounts once.
            let paths = names(c.get("volumeMounts"), "mountPath");
            let mut sorted = paths.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != paths.len() {
                problems.push(format!("{id} {cname}: duplicate mount paths {paths:?}"));
            }
            let mounts = names(c.get("volumeMounts"), "name");
            for ours in ["aws-iam-token", "datadog"] {
                let count = mounts.iter().filter(|m| **m == ours).count();
                if count != 1 {
                    problems.push(format!("{id} {cname}: mount {ours} appears {count} times"));
                }
            }
        }
    }
    if workloads == 0 {
        problems.push(format!("{context}: no workload at all"));
    }
    problems
}

/// `kubernetes-validate --strict` over documents (written as JSON, which is YAML).
fn validate_strict(tmp: &TempDir, docs: &[&Value], context: &str) -> Vec<String> {
    if docs.is_empty() {
        return Vec::new();
    }
    let validator = util::tools_dir().join("venv/bin/kubernetes-validate");
    let mut files = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let f = tmp.join(format!("{}-{i}.json", context.replace(['/', ' '], "_")));
        std::fs::write(&f, serde_json::to_vec(d).unwrap()).unwrap();
        files.push(f);
    }
    let out = util::run(std::process::Command::new(validator).arg("--strict").arg("--quiet").args(&files), b"");
    if out.status.success() {
        Vec::new()
    } else {
        vec![format!("{context}: kubernetes-validate --strict failed:\n{}", describe(&out))]
    }
}

fn key_of(line: &str) -> &str {
    let t = line.trim_start().trim_start_matches("- ");
    t.split(':').next().unwrap_or(t)
}

/// Untouched documents byte-identical; changed ones only add lines, or replace a line by one
/// with the same key (`env: []` → `env:`, a comma list that grew).
fn check_text(oracle: &Oracle, tmp: &TempDir, input: &str, output: &str, context: &str) -> Vec<String> {
    let split = |name: &str, text: &str| -> Vec<String> {
        let path = tmp.join(name);
        std::fs::write(&path, text).unwrap();
        let out = oracle.run([Path::new("split"), &path]);
        assert!(out.status.success(), "oracle split: {}", describe(&out));
        let ranges: Vec<(usize, usize)> = serde_json::from_slice(&out.stdout).unwrap();
        ranges.into_iter().map(|(s, e)| text[s..e].to_string()).collect()
    };
    let before = split("in.yaml", input);
    let after = split("out.yaml", output);
    let mut problems = Vec::new();
    let mut changed = 0;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if a == b {
            continue;
        }
        changed += 1;
        let (removed, added) = util::line_diff(b, a);
        for r in removed {
            // A new first key of a list item takes the item's dash: `- name: x` becomes `  name: x`.
            let undashed = r.replacen("- ", "  ", 1);
            let same_key =
                |l: &&str| key_of(l) == key_of(r) && l.len() - l.trim_start().len() == r.len() - r.trim_start().len();
            if !added.iter().any(|l| *l == undashed || same_key(l)) {
                problems.push(format!("{context} document {}: line `{r}` was removed, not replaced", i + 1));
            }
        }
    }
    if changed == 0 {
        problems.push(format!("{context}: nothing changed"));
    }
    problems
}

fn corpus_files(shared: &Path) -> Vec<PathBuf> {
    [
        "streams/microservices-demo-kubernetes-manifests.yaml",
        "streams/argo-cd-install.yaml",
        "rendered/kafka.yaml",
        "rendered/redis.yaml",
        "rendered/grafana.yaml",
        "rendered/cert-manager.yaml",
    ]
    .iter()
    .map(|f| shared.join("corpus").join(f))
    .collect()
}

#[test]
fn irsa_and_datadog_over_the_corpus() {
    let test = "irsa_and_datadog_over_the_corpus";
    let (Some(shared), Some(python), Some(oracle)) = (util::shared(test), util::python(test), Oracle::find(test))
    else {
        return;
    };
    let tmp = TempDir::new(test);
    let config = tmp.join("postwire.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut problems = Vec::new();
    for file in corpus_files(&shared) {
        let context = file.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read_to_string(&file).unwrap();
        let render = |text: &str| {
            let out = util::run(
                util::postwire(&tmp.join("cache")).args(["--config", config.to_str().unwrap(), "--release", "shop"]),
                text.as_bytes(),
            );
            assert!(out.status.success(), "{context}: {}", describe(&out));
            String::from_utf8(out.stdout).unwrap()
        };
        let output = render(&input);
        assert_eq!(render(&output), output, "{context}: a second run changed something");
        let raw = util::yaml_docs(&python, &input);
        let post = util::yaml_docs(&python, &output);
        problems.extend(check_pods(&raw, &post, &context));
        // Generated ServiceAccounts come after the input's documents.
        for extra in &post[raw.len()..] {
            if util::object_id(extra).split('/').next() != Some("ServiceAccount") {
                problems.push(format!("{context}: unexpected generated {}", util::object_id(extra)));
            }
        }
        let changed: Vec<&Value> =
            post.iter().enumerate().filter(|(i, d)| raw.get(*i) != Some(*d)).map(|(_, d)| d).collect();
        problems.extend(validate_strict(&tmp, &changed, &context));
        problems.extend(check_text(&oracle, &tmp, &input, &output, &context));
        eprintln!("{context}: {} documents, {} changed or generated", post.len(), changed.len());
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn irsa_and_datadog_through_helm4() {
    let test = "irsa_and_datadog_through_helm4";
    let (Some(shared), Some(helm), Some(python)) = (util::shared(test), util::helm4(test), util::python(test)) else {
        return;
    };
    let home = HelmHome::new(test);
    crate::helm4::install_plugin_by_copy(&home.plugins());
    let config = home.dir.join("postwire.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let chart = shared.join("corpus/charts/redis");
    let plain = util::run(home.cmd(&helm).args(["template", "shop", chart.to_str().unwrap()]), b"");
    assert!(plain.status.success(), "{}", describe(&plain));
    let wired = util::run(
        home.cmd(&helm).args([
            "template",
            "shop",
            chart.to_str().unwrap(),
            "--post-renderer",
            "postwire",
            "--post-renderer-args",
            "--config",
            "--post-renderer-args",
            config.to_str().unwrap(),
            // A post-renderer is not told the release name; `{release}` in roleName needs it.
            "--post-renderer-args",
            "--release",
            "--post-renderer-args",
            "shop",
        ]),
        b"",
    );
    assert!(wired.status.success(), "{}", describe(&wired));
    let raw = util::yaml_docs(&python, &String::from_utf8(plain.stdout).unwrap());
    let post = util::yaml_docs(&python, &String::from_utf8(wired.stdout).unwrap());
    let by_id =
        |docs: &[Value]| -> BTreeMap<String, Value> { docs.iter().map(|d| (util::object_id(d), d.clone())).collect() };
    let (raw_ids, post_ids) = (by_id(&raw), by_id(&post));
    // Same objects plus the generated ServiceAccounts; paired by identity (Helm regroups files).
    let mut paired_raw = Vec::new();
    let mut paired_post = Vec::new();
    for (id, doc) in &raw_ids {
        paired_raw.push(doc.clone());
        paired_post.push(post_ids.get(id).unwrap_or_else(|| panic!("{id} is missing after post-rendering")).clone());
    }
    let mut problems = check_pods(&paired_raw, &paired_post, "helm4 redis");
    let changed: Vec<&Value> = paired_post.iter().zip(&paired_raw).filter(|(a, b)| a != b).map(|(a, _)| a).collect();
    let tmp = TempDir::new(test);
    problems.extend(validate_strict(&tmp, &changed, "helm4 redis"));
    let sa = post_ids.iter().filter(|(id, _)| id.starts_with("ServiceAccount")).count();
    assert!(sa >= 1, "no ServiceAccount");
    for (id, doc) in &post_ids {
        if id.starts_with("ServiceAccount") {
            let arn = util::at(doc, &["metadata", "annotations", "eks.amazonaws.com/role-arn"]).and_then(Value::as_str);
            if !arn.is_some_and(|a| a.starts_with("arn:aws:iam::123456789012:role/shop-")) {
                problems.push(format!("{id}: role-arn {arn:?}"));
            }
        }
    }
    eprintln!("helm4 redis: {} documents, {} changed", post.len(), changed.len());
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// Bad ARNs, unknown modes and languages, wrong types: exit 3 with the reason, nothing on stdout.
#[test]
fn bad_wiring_config_fails_with_nothing_on_stdout() {
    let tmp = TempDir::new("bad_wiring_config_fails_with_nothing_on_stdout");
    let input = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: c:1\n";
    for (set, want) in [
        ("irsa.roles.p=arn:aws:iam::1234:role/x", "the account ID `1234` is not 12 digits"),
        ("irsa.roles.p=arn:aws:iam::123456789012:user/x", "is not a role"),
        ("datadog.mode=sidecar", "unknown value `sidecar`"),
        ("datadog.apm.language=go", "unknown value `go`"),
        ("irsa.inject=maybe", "expected a boolean"),
        ("datadog.metrics.port=http", "expected a non-negative integer"),
    ] {
        let out = util::run(util::postwire(&tmp.join("cache")).args(["--set", set]), input);
        assert_eq!(out.status.code(), Some(3), "{set}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "{set}: stdout {:?}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stderr).contains(want), "{set}: {}", describe(&out));
    }
}
