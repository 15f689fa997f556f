//! postwire as a KRM function: the runner on a ResourceList by hand, under the real kpt
//! (`kpt fn eval --exec`, `kpt fn render` with a Kptfile pipeline) and under kustomize's exec
//! transformer (`kubectl kustomize --enable-alpha-plugins --enable-exec`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{self, TempDir};

const CONFIGMAP: &str = "# settings for the web app\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: \"on\"   # quoted: YAML 1.1 would read a bool\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        envFrom:\n        - configMapRef:\n            name: settings\n";

/// kpt, or None (with a skip message) when it is not on PATH.
fn kpt(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kpt")).find(|p| p.is_file()));
    if found.is_none() {
        util::skip(test, "kpt is not on PATH (these machines have it from the google-cloud-cli-kpt package)");
    }
    found
}

fn package(dir: &Path) {
    std::fs::write(dir.join("configmap.yaml"), CONFIGMAP).unwrap();
    std::fs::write(dir.join("deployment.yaml"), DEPLOYMENT).unwrap();
}

fn docs(python: &Path, text: &str) -> Vec<Value> {
    util::yaml_docs(python, text)
}

fn template_annotations(d: &Value) -> serde_json::Map<String, Value> {
    d.pointer("/spec/template/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default()
}

fn indent(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(if i == 0 { "- " } else { "  " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The ConfigMap file kpt wrote back means what it meant and keeps its comments.
fn assert_unchanged_configmap(python: &Path, path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(docs(python, &text), docs(python, CONFIGMAP), "{text}");
    assert!(
        text.contains("# settings for the web app") && text.contains("# quoted: YAML 1.1 would read a bool"),
        "{text}"
    );
    assert!(!text.contains("checksum"), "{text}");
}

#[test]
fn a_resource_list_by_hand_keeps_unchanged_items_byte_for_byte() {
    let Some(python) = util::python("a_resource_list_by_hand_keeps_unchanged_items_byte_for_byte") else { return };
    let cache = TempDir::new("krm-byhand");
    let list = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  apiVersion: postwire.dev/v1alpha1\n  kind: PostwireConfig\n  checksum: {{mode: aggregate}}\nitems:\n{}{}",
        indent(&CONFIGMAP.replace("metadata:\n", "metadata:\n  annotations:\n    config.kubernetes.io/index: '0'\n    internal.config.kubernetes.io/path: 'configmap.yaml'\n")),
        indent(&DEPLOYMENT.replace("metadata:\n  name: web\n", "metadata:\n  name: web\n  annotations:\n    internal.config.kubernetes.io/path: 'deployment.yaml'\n    internal.config.kubernetes.io/index: '0'\n"))
    );
    for args in [&["krm"][..], &[][..]] {
        let out = util::run(util::postwire(&cache.0).args(args), list.as_bytes());
        assert!(out.status.success(), "{args:?}: {}", util::describe(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        let (cm_text, _) = list.split_once("- apiVersion: apps/v1").unwrap();
        assert!(text.starts_with(cm_text), "the ConfigMap item and everything before it are byte-identical:\n{text}");
        assert!(text.contains("    internal.config.kubernetes.io/path: 'deployment.yaml'\n"), "{text}");
        let value = &docs(&python, &text)[0];
        let d = &value["items"][1];
        assert!(template_annotations(d).contains_key("checksum/config"), "{d}");
        let result = &value["results"][0];
        assert_eq!(result["severity"], "info");
        assert_eq!(result["resourceRef"]["kind"], "Deployment");
        assert_eq!(result["field"]["path"], "spec.template.metadata.annotations.checksum/config");
        assert_eq!(result["file"]["path"], "deployment.yaml");
    }
    // Under --chart-config ignore a render reads its input as manifests: the functionConfig
    // (aggregate mode) does not count, the items get the default per-object checksums, and
    // the output is still the list with its items.
    let out = util::run(util::postwire(&cache.0).args(["--chart-config", "ignore"]), list.as_bytes());
    assert!(out.status.success(), "{}", util::describe(&out));
    let value = &docs(&python, &String::from_utf8(out.stdout).unwrap())[0];
    let annotations = template_annotations(&value["items"][1]);
    assert!(
        annotations.contains_key("checksum/configmap-settings") && !annotations.contains_key("checksum/config"),
        "{value}"
    );
    // `postwire krm` on something else is an error; the plain runner renders it as manifests.
    let out = util::run(util::postwire(&cache.0).arg("krm"), CONFIGMAP.as_bytes());
    assert_eq!(out.status.code(), Some(4), "{}", util::describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a config.kubernetes.io/v1 ResourceList"));
}

#[test]
fn kpt_fn_eval_runs_it_with_exec() {
    let test = "kpt_fn_eval_runs_it_with_exec";
    let (Some(kpt), Some(python)) = (kpt(test), util::python(test)) else { return };
    let cache = TempDir::new("krm-kpt-eval-cache");
    // `-- key=value` becomes a ConfigMap functionConfig; its data are --set overrides.
    let pkg = TempDir::new("krm-kpt-eval");
    package(&pkg.0);
    let results = TempDir::new("krm-kpt-eval-results");
    let exec = format!("{} krm", util::postwire_bin().display());
    let out = Command::new(&kpt)
        .args(["fn", "eval"])
        .arg(&pkg.0)
        .args(["--exec", &exec, "--results-dir"])
        .arg(&results.0)
        .args(["--", "checksum.mode=aggregate"])
        .env("POSTWIRE_CACHE_DIR", &cache.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    // kpt writes every file back with its own YAML writer (comment spacing changes); the
    // ResourceList postwire returned kept the item's bytes (see the test above).
    assert_unchanged_configmap(&python, &pkg.join("configmap.yaml"));
    let d = &docs(&python, &std::fs::read_to_string(pkg.join("deployment.yaml")).unwrap())[0];
    assert!(template_annotations(d).contains_key("checksum/config"), "{d}");
    let written = std::fs::read_to_string(results.join("results.yaml")).unwrap();
    assert!(written.contains("checksum/config") && written.contains("deployment.yaml"), "{written}");

    // --fn-config with a PostwireConfig, and the runner detecting the ResourceList by itself.
    let pkg = TempDir::new("krm-kpt-eval-fnconfig");
    package(&pkg.0);
    let fn_config = TempDir::new("krm-kpt-eval-fnconfig-file");
    std::fs::write(fn_config.join("postwire.yaml"), "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nmetadata:\n  name: postwire\nchecksum:\n  annotationPrefix: example.com/\n").unwrap();
    let out = Command::new(&kpt)
        .args(["fn", "eval"])
        .arg(&pkg.0)
        .arg("--exec")
        .arg(util::postwire_bin())
        .arg("--fn-config")
        .arg(fn_config.join("postwire.yaml"))
        .env("POSTWIRE_CACHE_DIR", &cache.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    let d = &docs(&python, &std::fs::read_to_string(pkg.join("deployment.yaml")).unwrap())[0];
    assert!(template_annotations(d).contains_key("example.com/configmap-settings"), "{d}");
}

#[test]
fn kpt_fn_render_runs_it_from_a_kptfile_pipeline() {
    let test = "kpt_fn_render_runs_it_from_a_kptfile_pipeline";
    let (Some(kpt), Some(python)) = (kpt(test), util::python(test)) else { return };
    let cache = TempDir::new("krm-kpt-render-cache");
    let pkg = TempDir::new("krm-kpt-render");
    package(&pkg.0);
    std::fs::write(
        pkg.join("Kptfile"),
        format!(
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\npipeline:\n  mutators:\n    - exec: {}\n      configPath: postwire.yaml\n",
            util::postwire_bin().display()
        ),
    )
    .unwrap();
    std::fs::write(
        pkg.join("postwire.yaml"),
        "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nmetadata:\n  name: postwire\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nchecksum:\n  mode: aggregate\n",
    )
    .unwrap();
    let out = Command::new(&kpt)
        .args(["fn", "render"])
        .arg(&pkg.0)
        .arg("--allow-exec")
        .env("POSTWIRE_CACHE_DIR", &cache.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    let d = &docs(&python, &std::fs::read_to_string(pkg.join("deployment.yaml")).unwrap())[0];
    assert!(template_annotations(d).contains_key("checksum/config"), "{d}");
    assert_unchanged_configmap(&python, &pkg.join("configmap.yaml"));

    // A config error fails the pipeline with postwire's message.
    std::fs::write(pkg.join("postwire.yaml"), "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nmetadata:\n  name: postwire\nchecksum:\n  mdoe: aggregate\n").unwrap();
    let out = Command::new(&kpt)
        .args(["fn", "render"])
        .arg(&pkg.0)
        .arg("--allow-exec")
        .env("POSTWIRE_CACHE_DIR", &cache.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("did you mean `mode`"), "{said}");
}

#[test]
fn kustomize_runs_it_as_an_exec_transformer() {
    let test = "kustomize_runs_it_as_an_exec_transformer";
    let (Some(kubectl), Some(python)) = (util::tool(test, "POSTWIRE_KUBECTL", "bin/kubectl"), util::python(test))
    else {
        return;
    };
    let cache = TempDir::new("krm-kustomize-cache");
    let dir = TempDir::new("krm-kustomize");
    package(&dir.0);
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources: [configmap.yaml, deployment.yaml]\ntransformers: [postwire.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("postwire.yaml"),
        format!(
            "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nmetadata:\n  name: postwire\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: {}\nchecksum:\n  mode: aggregate\n",
            util::postwire_bin().display()
        ),
    )
    .unwrap();
    let build = |flags: &[&str]| {
        Command::new(&kubectl)
            .arg("kustomize")
            .args(flags)
            .arg(&dir.0)
            .env("POSTWIRE_CACHE_DIR", &cache.0)
            .output()
            .unwrap()
    };
    let out = build(&["--enable-alpha-plugins", "--enable-exec"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() && stderr.contains("unknown flag: --enable-exec") {
        // kubectl 1.37 bundles kustomize v5.8.1 without the --enable-exec flag, and then skips
        // exec functions without a word: the README says to use standalone kustomize.
        let skipped = build(&["--enable-alpha-plugins"]);
        assert!(skipped.status.success(), "{}", util::describe(&skipped));
        let objects = docs(&python, &String::from_utf8(skipped.stdout).unwrap());
        let d = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert!(template_annotations(d).is_empty(), "kubectl ran the exec function after all: update the README: {d}");
        eprintln!("{test}: this kubectl has no --enable-exec; checked that it skips exec functions silently (README: use standalone kustomize)");
        return;
    }
    assert!(out.status.success(), "{}", util::describe(&out));
    let objects = docs(&python, &String::from_utf8(out.stdout).unwrap());
    assert_eq!(objects.len(), 2, "{objects:?}");
    let d = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert!(template_annotations(d).contains_key("checksum/config"), "{d}");
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["data"]["mode"], "on", "still a string");
}

/// kubectl's bundled kustomize runs legacy exec plugins with `--enable-alpha-plugins` alone: a
/// transformer config of kind `PostwireConfig` runs the executable
/// `$XDG_CONFIG_HOME/kustomize/plugin/postwire.dev/v1alpha1/postwireconfig/PostwireConfig` with
/// the config file as its argument and the resources on stdin — postwire's own stream mode.
#[test]
fn kubectl_kustomize_runs_it_as_an_exec_plugin() {
    let test = "kubectl_kustomize_runs_it_as_an_exec_plugin";
    let (Some(kubectl), Some(python)) = (util::tool(test, "POSTWIRE_KUBECTL", "bin/kubectl"), util::python(test))
    else {
        return;
    };
    let cache = TempDir::new("krm-kustomize-plugin-cache");
    let dir = TempDir::new("krm-kustomize-plugin");
    let plugin_dir = dir.join("xdg/kustomize/plugin/postwire.dev/v1alpha1/postwireconfig");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let plugin = plugin_dir.join("PostwireConfig");
    std::fs::write(&plugin, format!("#!/bin/sh\nexec '{}' --config \"$1\"\n", util::postwire_bin().display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    package(&app);
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources: [configmap.yaml, deployment.yaml]\ntransformers: [postwire.yaml]\n",
    )
    .unwrap();
    let build = |config: &str| {
        std::fs::write(app.join("postwire.yaml"), config).unwrap();
        Command::new(&kubectl)
            .args(["kustomize", "--enable-alpha-plugins"])
            .arg(&app)
            .env("XDG_CONFIG_HOME", dir.join("xdg"))
            .env("POSTWIRE_CACHE_DIR", &cache.0)
            .output()
            .unwrap()
    };
    let head = "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nmetadata:\n  name: postwire\n";
    let out = build(&format!("{head}checksum:\n  mode: aggregate\n"));
    assert!(out.status.success(), "{}", util::describe(&out));
    let objects = docs(&python, &String::from_utf8(out.stdout).unwrap());
    assert_eq!(objects.len(), 2, "{objects:?}");
    let d = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert!(template_annotations(d).contains_key("checksum/config"), "{d}");
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["data"]["mode"], "on", "still a string");
    // A config error stops the build with postwire's message.
    let bad = build(&format!("{head}checksum:\n  mdoe: aggregate\n"));
    assert!(!bad.status.success(), "{}", util::describe(&bad));
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("did you mean `mode`"), "{said}");
}
