//! The built plugin.wasm (`postwire::PLUGIN_WASM`) under extism hosts.
//!
//! - `render` through postwire's own runner: the annotated manifests and the report of a small
//!   chart; every kind of error comes back as a `CallError` whose message says where (document,
//!   line, config path) and whose code is the documented exit code (3 config, 4 YAML or
//!   document, 5 wiring, 6 request).
//! - `helm_plugin_main` under a host configured the way Helm 4's extism/v1 runtime configures
//!   it from `helm-plugin/postwire-extism/plugin.yaml` (memory, timeout, entry function; no
//!   config, no hosts, WASI on), with Helm's message shape and with Helm 4.3.1's actual `{}`.
//! - Limits are behaviour: a memory cap or a timeout makes a call fail with a message, never
//!   hang or crash the host.
//! - The module imports nothing but extism's host environment: no WASI, so no files, clock,
//!   randomness or sockets (DESIGN invariant 7).

use std::time::{Duration, Instant};

use extism::{Manifest, Plugin, PluginBuilder, Wasm};
use postwire::runner::{CallError, Options, Runner};
use postwire::PLUGIN_WASM;
use postwire_core::report::Action;
use postwire_core::wire::RenderRequestV1;
use postwire_core::yaml::Tree;
use serde_json::{json, Value};

use crate::util;

/// A chart-like stream: a ConfigMap and a Secret used by a Deployment.
const CHART: &str = "\
---
# Source: web/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  APP_MODE: \"on\"
  settings.yaml: |
    replicas: 2
---
# Source: web/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
type: Opaque
stringData:
  password: hunter2
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        envFrom:
        - secretRef:
            name: web-secret
        volumeMounts:
        - name: config
          mountPath: /etc/web
      volumes:
      - name: config
        configMap:
          name: web-config
";

// SHA-256 of the canonical JSON of each object's content, computed outside postwire:
//   python3 -c 'import hashlib,json; print(hashlib.sha256(json.dumps(
//     {"data": {"APP_MODE": "on", "settings.yaml": "replicas: 2\n"}},
//     sort_keys=True, separators=(",", ":")).encode()).hexdigest())'
const CONFIG_HASH: &str = "30f2a409ed20e6a4835ab4bfcd6d6bbfc67bb42c244b370bfb2a6ec08bd3425d";
// ... of {"stringData": {"password": "hunter2"}}
const SECRET_HASH: &str = "b5a30d1df892d1c6ee4b4d70ed0d62a68159c4e63e20b06a38bf65dbf25d735c";
// Aggregate mode: SHA-256 of the sorted "name=hash\n" lines of each kind.
const AGGREGATE_CONFIG: &str = "16ce99e9e3b988d469f591810550171252e18804eb5e326cea88c390d890ecca";
const AGGREGATE_SECRET: &str = "20f5cec34972a83bb180e38439da141a46855f13b3d7096ec236c706419cda88";

/// CHART with `annotations` lines added to the pod template, exactly where postwire puts them.
fn annotated(lines: &[(&str, &str)]) -> String {
    let mut block = String::from("      annotations:\n");
    for (k, v) in lines {
        block.push_str(&format!("        {k}: \"{v}\"\n"));
    }
    let anchor = "    metadata:\n      labels:\n        app: web\n    spec:\n";
    assert_eq!(CHART.matches(anchor).count(), 1);
    CHART.replace(anchor, &format!("    metadata:\n{block}      labels:\n        app: web\n    spec:\n"))
}

fn runner() -> Runner {
    Runner::embedded().expect("the embedded plugin.wasm loads")
}

fn request(manifests: &str, set: &[&str]) -> RenderRequestV1 {
    let mut req = RenderRequestV1::new(manifests);
    req.set = set.iter().map(|s| s.to_string()).collect();
    req
}

#[test]
fn render_annotates_a_chart_and_reports_why() {
    let mut runner = runner();
    let out = runner.render(&request(CHART, &[])).unwrap_or_else(|e| panic!("render failed (code {}): {e}", e.code));
    let want =
        annotated(&[("checksum/configmap-web-config", CONFIG_HASH), ("checksum/secret-web-secret", SECRET_HASH)]);
    assert_eq!(out.manifests, want, "--- got\n{}\n--- want\n{want}", out.manifests);
    assert_eq!(out.api_version, "postwire.dev/v1alpha1");
    assert_eq!(out.kind, "RenderResponse");

    let report = &out.report;
    assert_eq!((report.summary.documents, report.summary.changed, report.summary.removed), (3, 1, 0), "{report:#?}");
    assert_eq!(report.documents.len(), 1, "{report:#?}");
    let doc = &report.documents[0];
    assert_eq!(doc.document, 3);
    assert_eq!(doc.object, "Deployment/web");
    assert_eq!(doc.source.as_deref(), Some("web/templates/deployment.yaml"));
    let changes: Vec<(&str, &str, &str, Action)> =
        doc.changes.iter().map(|c| (c.wiring.as_str(), c.path.as_str(), c.key.as_str(), c.action)).collect();
    assert_eq!(
        changes,
        vec![
            ("checksum", "spec.template.metadata.annotations", "checksum/configmap-web-config", Action::Added),
            ("checksum", "spec.template.metadata.annotations", "checksum/secret-web-secret", Action::Added),
        ],
        "{report:#?}"
    );
    assert!(
        doc.changes[0].reason.contains("volume config"),
        "the reason should say how the pod uses the ConfigMap: {:?}",
        doc.changes[0].reason
    );
    let json = serde_json::to_string(report).unwrap();
    assert!(!json.contains("hunter2"), "secret values must never reach the report: {json}");

    // Aggregate mode via --set, on the same loaded module.
    let out = runner
        .render(&request(CHART, &["checksum.mode=aggregate"]))
        .unwrap_or_else(|e| panic!("aggregate render failed (code {}): {e}", e.code));
    assert_eq!(
        out.manifests,
        annotated(&[("checksum/config", AGGREGATE_CONFIG), ("checksum/secret", AGGREGATE_SECRET)])
    );
}

/// Render `manifests` with `set`, expecting an error; returns it.
fn render_err(runner: &mut Runner, manifests: &str, set: &[&str]) -> CallError {
    match runner.render(&request(manifests, set)) {
        Ok(out) => panic!("expected an error, got output:\n{}\nfor input:\n{manifests}", out.manifests),
        Err(e) => e,
    }
}

fn assert_error(err: &CallError, code: i32, parts: &[&str], input: &str) {
    let missing: Vec<&&str> = parts.iter().filter(|p| !err.message.contains(**p)).collect();
    assert!(
        err.code == code && missing.is_empty(),
        "expected code {code} and a message naming {parts:?}\ngot code {}: {}\nmissing: {missing:?}\n--- input\n{input}",
        err.code,
        err.message
    );
    assert!(!err.message.contains('\n'), "the message should be one line: {:?}", err.message);
}

#[test]
fn render_errors_name_where_and_carry_the_exit_code() {
    let mut runner = runner();

    // 3: config, from --set, with the config path and a suggestion.
    let err = render_err(&mut runner, CHART, &["checksum.mod=aggregate"]);
    assert_error(&err, 3, &["--set checksum.mod=aggregate", "checksum.mod", "mode"], CHART);

    // 3: config, from an in-stream PostwireConfig document, with its line.
    let stream =
        format!("{CHART}---\napiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nchecksum:\n  mode: sometimes\n");
    let line = stream.lines().count(); // `mode: sometimes` is the last line
    let err = render_err(&mut runner, &stream, &[]);
    assert_error(&err, 3, &["document 4", &format!("line {line}"), "checksum.mode", "sometimes"], &stream);

    // 3: config, from a workload's own postwire.dev/checksum annotation.
    let stream = CHART.replace(
        "  name: web\n  labels:",
        "  name: web\n  annotations:\n    postwire.dev/checksum: \"maybe\"\n  labels:",
    );
    let err = render_err(&mut runner, &stream, &[]);
    assert_error(
        &err,
        3,
        &["document 3", "Deployment/web", "web/templates/deployment.yaml", "postwire.dev/checksum", "maybe"],
        &stream,
    );

    // 4: YAML, with the document and the line in the stream.
    let stream = CHART.replace("    matchLabels:\n", "    matchLabels: [app: web\n");
    let line = stream.lines().position(|l| l.contains("matchLabels: [")).unwrap() + 1;
    let err = render_err(&mut runner, &stream, &[]);
    assert_error(&err, 4, &["document 3", "invalid YAML", "line "], &stream);
    let reported: usize = err.message["document 3".len()..]
        .split("line ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {:?}", err.message));
    assert!(
        (line..=line + 3).contains(&reported),
        "the YAML error is at or just after line {line}, the message says {reported}: {}",
        err.message
    );

    // 4: a document that is not a mapping.
    let stream = format!("{CHART}---\n- a\n- b\n");
    let err = render_err(&mut runner, &stream, &[]);
    assert_error(&err, 4, &["document 4", "list"], &stream);

    // 5: a wiring cannot do what is asked: the pod template metadata is shared through an alias.
    let stream = CHART
        .replace(
            "metadata:\n  name: web\n  labels:\n    app: web\n",
            "metadata: &meta\n  name: web\n  labels:\n    app: web\n",
        )
        .replace("    metadata:\n      labels:\n        app: web\n    spec:", "    metadata: *meta\n    spec:");
    let err = render_err(&mut runner, &stream, &[]);
    assert_error(
        &err,
        5,
        &["document 3", "Deployment/web", "spec.template.metadata", "alias", "onUneditable: skip"],
        &stream,
    );

    // 5: the annotations are not a mapping.
    let stream = CHART.replace(
        "    metadata:\n      labels:\n        app: web\n    spec:",
        "    metadata:\n      annotations: none\n      labels:\n        app: web\n    spec:",
    );
    let err = render_err(&mut runner, &stream, &[]);
    assert_error(&err, 5, &["document 3", "spec.template.metadata.annotations", "not a mapping"], &stream);

    // 6: a request from another postwire version.
    let mut req = request(CHART, &[]);
    req.api_version = "postwire.dev/v0".into();
    let err = runner.render(&req).expect_err("wrong apiVersion");
    assert_error(&err, 6, &["postwire.dev/v0", "apiVersion"], CHART);

    // The runner is still good after errors.
    runner.render(&request(CHART, &[])).expect("render after errors");
}

/// plugin.yaml's `runtimeConfig`, read with postwire's own YAML tree.
struct HelmRuntimeConfig {
    max_pages: u32,
    max_var_bytes: u64,
    timeout_ms: u64,
    entry: String,
}

fn helm_runtime_config() -> HelmRuntimeConfig {
    let path = util::workspace().join("helm-plugin/postwire-extism/plugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let tree = Tree::parse(&text, 0).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let root = tree.root().expect("plugin.yaml is not empty");
    let get = |keys: &[&str]| -> &str {
        tree.str_at(root, keys).unwrap_or_else(|| panic!("{}: {} is missing", path.display(), keys.join(".")))
    };
    assert_eq!(get(&["type"]), "postrenderer/v1");
    assert_eq!(get(&["runtime"]), "extism/v1");
    let number = |keys: &[&str]| -> u64 {
        get(keys).parse().unwrap_or_else(|e| panic!("{}: {} is not a number: {e}", path.display(), keys.join(".")))
    };
    let max_var_bytes = number(&["runtimeConfig", "memory", "maxVarBytes"]);
    assert!(max_var_bytes > 0, "Helm passes 0 when unset, which disables extism vars");
    HelmRuntimeConfig {
        max_pages: u32::try_from(number(&["runtimeConfig", "memory", "maxPages"])).expect("maxPages fits a u32"),
        max_var_bytes,
        timeout_ms: number(&["runtimeConfig", "timeout"]),
        entry: get(&["runtimeConfig", "entryFuncName"]).to_string(),
    }
}

/// The plugin as Helm 4's extism/v1 runtime loads it: plugin.yaml's memory and timeout, an
/// empty config, no allowed hosts or paths, WASI enabled.
fn helm_like_plugin(rc: &HelmRuntimeConfig) -> Plugin {
    let mut manifest = Manifest::new([Wasm::data(PLUGIN_WASM.to_vec())])
        .with_timeout(Duration::from_millis(rc.timeout_ms))
        .with_config(std::iter::empty::<(String, String)>())
        .disallow_all_hosts();
    manifest.memory.max_pages = Some(rc.max_pages);
    manifest.memory.max_var_bytes = Some(rc.max_var_bytes);
    PluginBuilder::new(manifest)
        .with_wasi(true)
        .with_cache_disabled()
        .build()
        .expect("plugin.wasm loads the way Helm loads it")
}

/// Call `function` with raw bytes: Ok(output) or Err((message, return code)).
fn call_raw(plugin: &mut Plugin, function: &str, input: &[u8]) -> Result<Vec<u8>, (String, i32)> {
    plugin
        .call_get_error_code::<&[u8], &[u8]>(function, input)
        .map(|out| out.to_vec())
        .map_err(|(e, code)| (e.to_string(), code))
}

#[test]
fn helm_plugin_main_speaks_helms_message_under_a_helm_like_host() {
    let rc = helm_runtime_config();
    assert_eq!(rc.entry, "helm_plugin_main");
    let mut plugin = helm_like_plugin(&rc);
    assert!(plugin.function_exists(&rc.entry), "plugin.wasm must export {}", rc.entry);

    // Helm's message, with manifests as a string (the fix for helm/helm#31832) and the user's
    // --post-renderer-args.
    let input = json!({
        "manifests": CHART,
        "extraArgs": ["--set", "checksum.mode=aggregate"],
    })
    .to_string();
    let out = call_raw(&mut plugin, &rc.entry, input.as_bytes())
        .unwrap_or_else(|(e, code)| panic!("{} failed with code {code}: {e}", rc.entry));
    let want = json!({
        "manifests": annotated(&[
            ("checksum/config", AGGREGATE_CONFIG),
            ("checksum/secret", AGGREGATE_SECRET)
        ])
    })
    .to_string();
    assert_eq!(String::from_utf8_lossy(&out), want, "the output must be exactly Helm's {{\"manifests\": \"...\"}}");

    // An unknown --post-renderer-args flag is a request error (code 6) that names it.
    let input = json!({"manifests": CHART, "extraArgs": ["--frobnicate"]}).to_string();
    match call_raw(&mut plugin, &rc.entry, input.as_bytes()) {
        Ok(_) => panic!("--frobnicate must be rejected"),
        Err((message, code)) => assert!(
            code == 6 && message.contains("--frobnicate"),
            "expected code 6 naming --frobnicate, got code {code}: {message}"
        ),
    }

    // The same host is still usable.
    let input = json!({"manifests": CHART, "extraArgs": []}).to_string();
    let out = call_raw(&mut plugin, &rc.entry, input.as_bytes()).expect("a good call after errors");
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert!(out["manifests"].as_str().is_some_and(|m| m.contains(CONFIG_HASH)));
}

#[test]
fn helm_4_3_1_empty_manifests_message_is_a_clear_error() {
    // What Helm 4.3.1 actually sends: its *bytes.Buffer manifests JSON-encode as {}
    // (helm/helm#31832). The plugin must fail loudly (Helm reports a non-zero return) and say
    // what is wrong, not return empty manifests or a bare JSON parser message.
    let rc = helm_runtime_config();
    let mut plugin = helm_like_plugin(&rc);
    let buggy = br#"{"manifests":{},"extraArgs":[]}"#;
    match call_raw(&mut plugin, &rc.entry, buggy) {
        Ok(out) => panic!("Helm 4.3.1's message must be an error, got output {:?}", String::from_utf8_lossy(&out)),
        Err((message, code)) => {
            assert_ne!(code, 0, "a failed call must return non-zero: {message}");
            assert!(
                message.contains("manifests"),
                "the error should say that `manifests` is not a string (helm/helm#31832), got code {code}: {message:?}"
            );
        }
    }
}

#[test]
fn unreadable_requests_fail_with_the_request_exit_code() {
    // Documented: 6 for a request postwire cannot read. A body that is not a RenderRequest at
    // all must say so with that code, whichever export gets it.
    let rc = helm_runtime_config();
    let mut plugin = helm_like_plugin(&rc);
    let cases: [(&str, &[u8]); 4] = [
        ("render", b"not json"),
        ("render", br#"{"apiVersion":"postwire.dev/v1alpha1","kind":"RenderRequest","manifests":{}}"#),
        ("helm_plugin_main", b"not json"),
        ("helm_plugin_main", br#"{"manifests":{},"extraArgs":[]}"#),
    ];
    let mut failures = Vec::new();
    for (function, input) in cases {
        match call_raw(&mut plugin, function, input) {
            Ok(out) => failures.push(format!(
                "{function} {:?}: returned output {:?}",
                String::from_utf8_lossy(input),
                String::from_utf8_lossy(&out)
            )),
            Err((message, code)) if code != 6 => failures.push(format!(
                "{function} {:?}: code {code} (documented: 6), message {message:?}",
                String::from_utf8_lossy(input)
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// kube-prometheus, the largest stream of the corpus (5.6 MB), or None when absent.
fn big_stream(test: &str) -> Option<String> {
    let shared = util::shared(test)?;
    Some(std::fs::read_to_string(shared.join("corpus/streams/kube-prometheus-manifests.yaml")).unwrap())
}

/// The error of a call that must fail, without printing megabytes of output when it does not.
fn must_fail(result: Result<postwire_core::wire::RenderResponseV1, CallError>, what: &str) -> CallError {
    match result {
        Ok(out) => panic!(
            "{what}: expected an error, got {} bytes of manifests and report summary {:?}",
            out.manifests.len(),
            out.report.summary
        ),
        Err(e) => e,
    }
}

fn mentions_memory(message: &str) -> bool {
    let lower = message.to_lowercase();
    ["memory", "oom", "out of bounds", "pages", "limit", "alloc"].iter().any(|w| lower.contains(w))
}

#[test]
fn a_memory_cap_is_an_error_not_a_crash() {
    let Some(big) = big_stream("a_memory_cap_is_an_error_not_a_crash") else {
        return;
    };
    // One 64 KiB page cannot even hold the module's stack and data.
    let options = Options { cache_dir: None, max_memory_pages: 1, ..Options::default() };
    let started = Instant::now();
    let message = match Runner::new(PLUGIN_WASM, &options) {
        Err(e) => format!("{e:#}"),
        Ok(mut runner) => must_fail(runner.render(&request(&big, &[])), "1-page module").message,
    };
    assert!(mentions_memory(&message), "the error should say memory ran out: {message:?}");

    // A cap that fits the module but not the input: the call fails, the host lives on.
    let options = Options {
        cache_dir: None,
        max_memory_pages: 64, // 4 MiB: less than the 5.6 MB input alone
        ..Options::default()
    };
    let mut runner = Runner::new(PLUGIN_WASM, &options).expect("4 MiB holds the module");
    for attempt in 1..=2 {
        let err = must_fail(runner.render(&request(&big, &[])), "5.6 MB in 4 MiB");
        assert!(
            mentions_memory(&err.message) && err.code != 0,
            "attempt {attempt}: the error should say memory ran out: code {}: {:?}",
            err.code,
            err.message
        );
        let small = runner
            .render(&request(CHART, &[]))
            .unwrap_or_else(|e| panic!("attempt {attempt}: the runner is unusable after running out of memory: {e}"));
        assert!(small.manifests.contains(CONFIG_HASH));
    }
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

#[test]
fn a_timeout_is_an_error_not_a_hang() {
    let Some(big) = big_stream("a_timeout_is_an_error_not_a_hang") else {
        return;
    };
    // kube-prometheus four times over (22 MB) takes about 0.3 s to render (0.2 s of it in
    // plugin.wasm). With a 10 ms limit every call must stop with a timeout, quickly. (A 1 ms
    // limit on the 5.6 MB stream is not reliable: extism 1.30 sends the timer its start event
    // before it arms the epoch deadline, and the timer counts from when it handles the event;
    // on a loaded two-core machine about one such 40 ms call in five finished despite the
    // 1 ms limit.)
    let stream = big.repeat(4);
    let options = Options { cache_dir: None, timeout: Duration::from_millis(10), ..Options::default() };
    let mut runner = Runner::new(PLUGIN_WASM, &options).expect("loads");
    for attempt in 1..=3 {
        let started = Instant::now();
        let err = must_fail(runner.render(&request(&stream, &[])), "22 MB with a 10 ms limit");
        let elapsed = started.elapsed();
        let lower = err.message.to_lowercase();
        assert!(
            (lower.contains("timeout") || lower.contains("timed out")) && err.code != 0,
            "attempt {attempt}: the error should say the call timed out: code {}: {:?}",
            err.code,
            err.message
        );
        assert!(elapsed < Duration::from_secs(10), "attempt {attempt}: a 10 ms timeout took {elapsed:?} to fire");
        assert!(
            err.message.contains(" while "),
            "attempt {attempt}: the error should name the step: {:?}",
            err.message
        );
        // The host lives on: the same runner renders a small chart correctly.
        let small = runner
            .render(&request(CHART, &[]))
            .unwrap_or_else(|e| panic!("attempt {attempt}: the runner is unusable after a timeout: {e}"));
        assert!(small.manifests.contains(CONFIG_HASH));
    }
}

/// A stream of `apps` ConfigMaps, each read by a Deployment (`envFrom`), and the stream line
/// where each document starts: the independent check of what a limit error names.
fn config_map_apps(apps: usize) -> (String, Vec<(usize, &'static str)>) {
    let (mut text, mut starts) = (String::new(), Vec::new());
    for i in 0..apps {
        for (kind, body) in [
            ("ConfigMap", format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: v{i}\n")),
            (
                "Deployment",
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{i}\nspec:\n  template:\n    spec:\n      \
                     containers:\n      - name: a\n        image: a\n        envFrom:\n        - configMapRef: {{name: c{i}}}\n"
                ),
            ),
        ] {
            text.push_str("---\n");
            starts.push((text.lines().count() + 1, kind));
            text.push_str(&body);
        }
    }
    (text, starts)
}

/// Defect: a module stopped by its memory cap or timeout said which limit, not where. The
/// module reports each step (plugin/src/lib.rs, host/src/extism_env.rs); the error names the last.
#[test]
fn limit_errors_name_the_document_they_stopped_in() {
    let (stream, starts) = config_map_apps(3000);
    // 12 MiB holds the module and the 0.8 MB input, not every parsed document.
    let options = Options { cache_dir: None, max_memory_pages: 12 * 16, ..Options::default() };
    let mut runner = Runner::new(PLUGIN_WASM, &options).expect("12 MiB holds the module");
    let err = must_fail(runner.render(&request(&stream, &["checksum.enabled=true"])), "3,000 apps in 12 MiB");
    assert!(mentions_memory(&err.message) && err.code == 1, "{err:?}");
    let step = err.message.split(" while ").nth(1).unwrap_or_else(|| panic!("names no step: {:?}", err.message));
    // `parsing document N (Kind, line L)`, and document N really is a Kind at line L.
    let parsed = step.strip_prefix("parsing document ").and_then(|rest| {
        let (number, rest) = rest.split_once(" (")?;
        let (kind, rest) = rest.split_once(", line ")?;
        let line = rest.split_once(')')?.0;
        Some((number.parse::<usize>().ok()?, kind, line.parse::<usize>().ok()?))
    });
    let (number, kind, line) = parsed.unwrap_or_else(|| panic!("expected a parsing step: {step:?}"));
    assert_eq!(starts.get(number - 1).copied(), Some((line, kind)), "document {number} is not where {step:?} says");

    // The runner lives on, and a render that fits names nothing.
    let small = runner.render(&request(CHART, &[])).expect("a small chart renders after running out of memory");
    assert!(small.manifests.contains(CONFIG_HASH));
}

#[test]
fn plugin_wasm_imports_only_the_extism_host_environment() {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, PLUGIN_WASM).expect("plugin.wasm compiles");
    let imports: Vec<(String, String)> =
        module.imports().map(|i| (i.module().to_string(), i.name().to_string())).collect();
    let foreign: Vec<&(String, String)> = imports.iter().filter(|(m, _)| m != "extism:host/env").collect();
    assert!(
        foreign.is_empty(),
        "plugin.wasm must import only extism:host/env (no WASI: no files, sockets, clocks or randomness), also imports {foreign:?}"
    );
    assert!(
        imports.iter().any(|(_, n)| n == "input_load_u8" || n == "input_length"),
        "plugin.wasm should read its input through extism: {imports:?}"
    );
    let exports: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
    for wanted in ["helm_plugin_main", "render"] {
        assert!(exports.iter().any(|e| e == wanted), "plugin.wasm must export {wanted}: {exports:?}");
    }
}

/// The runner provides extism's host environment itself (host/src/extism_env.rs) and loads the
/// module from its own cache: for the same module and request, its answers must be those of
/// extism's own host, the oracle here: a success byte for byte, an error with the same message
/// and code.
#[test]
fn the_runner_answers_as_extisms_own_host_does() {
    let test = "the_runner_answers_as_extisms_own_host_does";
    let mut cases = vec![("a chart".to_string(), request(CHART, &["checksum.mode=aggregate"]))];
    cases.push(("a config error".to_string(), request(CHART, &["checksum.mode=sometimes"])));
    cases.push(("a YAML error".to_string(), request("a: [\n", &[])));
    if let Some(shared) = util::shared(test) {
        let every_wiring = std::fs::read_to_string(shared.join("bench/every-wiring.yaml")).unwrap();
        for stream in ["argo-cd-install.yaml", "istio-bookinfo.yaml", "kube-prometheus-manifests.yaml"] {
            let manifests = std::fs::read_to_string(shared.join("corpus/streams").join(stream)).unwrap();
            cases.push((stream.to_string(), request(&manifests, &[])));
            let mut wired = request(&manifests, &[]);
            wired.config = Some(postwire_core::wire::ConfigFileV1 {
                name: "every-wiring.yaml".into(),
                content: every_wiring.clone(),
            });
            cases.push((format!("{stream} with every wiring"), wired));
        }
    }
    let manifest = Manifest::new([Wasm::data(PLUGIN_WASM.to_vec())]);
    let mut extism = PluginBuilder::new(manifest).with_wasi(false).with_cache_disabled().build().expect("loads");
    let dir = util::TempDir::new(test);
    let options = Options { cache_dir: Some(dir.join("cache")), ..Options::default() };
    let mut ours = Runner::new(PLUGIN_WASM, &options).expect("loads");
    let mut outcomes = std::collections::BTreeSet::new();
    for (what, req) in &cases {
        let theirs = call_raw(&mut extism, "render", &req.to_json());
        match (theirs, ours.render(req)) {
            (Ok(bytes), Ok(mine)) => {
                let theirs: postwire_core::wire::RenderResponseV1 = serde_json::from_slice(&bytes).unwrap();
                assert!(theirs.manifests == mine.manifests, "{what}: the manifests differ");
                assert_eq!(theirs.report, mine.report, "{what}: the reports differ");
                outcomes.insert("rendered");
            }
            (Err((message, code)), Err(mine)) => {
                assert_eq!((message.as_str(), code), (mine.message.as_str(), mine.code), "{what}");
                outcomes.insert("refused");
            }
            (theirs, mine) => panic!(
                "{what}: extism {}, the runner {}",
                theirs.map_or_else(|e| format!("failed: {e:?}"), |_| "rendered".into()),
                mine.map_or_else(|e| format!("failed: {e:?}"), |_| "rendered".into())
            ),
        }
    }
    assert_eq!(outcomes.len(), 2, "both renders and refusals were compared");
}

/// The compiled module is stored once and mapped by later runs; an artifact that is damaged
/// (a truncated copy, another build's bytes) is compiled anew and replaced, never run.
#[test]
fn the_compiled_module_is_reused_and_a_damaged_one_replaced() {
    let dir = util::TempDir::new("the_compiled_module_is_reused_and_a_damaged_one_replaced");
    let options = Options { cache_dir: Some(dir.join("cache")), ..Options::default() };
    let artifacts = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.join("cache/modules")).unwrap().map(|e| e.unwrap().path()).collect()
    };
    let render = || {
        let out = Runner::new(PLUGIN_WASM, &options).expect("loads").render(&request(CHART, &[])).expect("renders");
        assert!(out.manifests.contains(CONFIG_HASH));
    };
    render();
    let [artifact] = artifacts().try_into().expect("one artifact in the cache");
    let stored = std::fs::metadata(&artifact).unwrap().modified().unwrap();
    render();
    assert_eq!(std::fs::metadata(&artifact).unwrap().modified().unwrap(), stored, "a second run compiled again");
    let whole = std::fs::read(&artifact).unwrap();
    for damaged in [&whole[..whole.len() / 2], b"not an artifact".as_slice()] {
        std::fs::write(&artifact, damaged).unwrap();
        render();
        assert_eq!(std::fs::read(&artifact).unwrap().len(), whole.len(), "the damaged artifact was not replaced");
    }
}
