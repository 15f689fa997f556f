//! Real Helm 4.3.1 running postwire through its subprocess post-renderer plugin
//! (`helm-plugin/postwire`), the way users install it: the plugin directory copied into
//! `$HELM_PLUGINS` with the runner beside `run.sh`.
//!
//! What Helm 4.3.1 itself prints, observed while writing these tests:
//! - `helm plugin install <dir>` with HELM_PLUGINS set: `Installing plugin from local directory
//!   (development mode)` / `Installed plugin: postwire`, yet `helm plugin list` is empty and
//!   `--post-renderer postwire` fails with `Error: invalid argument "postwire" for
//!   "--post-renderer" flag: plugin: {Name:postwire Type:postrenderer/v1} not found`.
//! - a failing plugin: `Error: error while running post render on files: failed to invoke
//!   post-renderer plugin "postwire": plugin "postwire" exited with error` and `Use --debug flag
//!   to render out invalid YAML`; postwire's own stderr is dropped.
//! - with `--debug`: `level=DEBUG msg="plugin execution failed" pluginName=postwire
//!   error="exit status 3" exitCode=3 stderr=""`.
//! - `--output-dir` prints `wrote <dir>/fixture/templates/<file>` once per document.
//! - post-rendered documents come back reformatted by kyaml (sequences re-indented), with
//!   `# Source:` comments re-added and the `postrenderer.helm.sh/postrender-filename`
//!   annotation removed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::{self, describe, HelmHome, Hooks};

/// Helm 4 with the postwire plugin installed by copying (`helm plugin install` ignores
/// HELM_PLUGINS, helm/helm#32646), plus Python for reading the output.
struct Helm4 {
    helm: PathBuf,
    python: PathBuf,
    home: HelmHome,
}

/// Copy helm-plugin/postwire into `plugins/postwire` and the built runner beside run.sh.
pub(crate) fn install_plugin_by_copy(plugins: &Path) -> PathBuf {
    let src = util::workspace().join("helm-plugin/postwire");
    let dest = plugins.join("postwire");
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
    }
    std::fs::copy(util::postwire_bin(), dest.join("postwire")).unwrap();
    dest
}

impl Helm4 {
    fn new(test: &str) -> Option<Helm4> {
        let helm = util::helm4(test)?;
        let python = util::python(test)?;
        let home = HelmHome::new(test);
        install_plugin_by_copy(&home.plugins());
        Some(Helm4 { helm, python, home })
    }

    fn cmd(&self) -> Command {
        self.home.cmd(&self.helm)
    }

    /// `helm <args>`.
    fn run(&self, args: &[&str]) -> Output {
        util::run(self.cmd().args(args), b"")
    }

    /// `helm template <release> <chart> <args>`, asserting success.
    fn template_ok(&self, release: &str, chart: &Path, args: &[&str]) -> String {
        let mut all = vec!["template", release, chart.to_str().unwrap()];
        all.extend(args);
        let out = self.run(&all);
        assert!(out.status.success(), "helm {} failed:\n{}", all.join(" "), describe(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn docs(&self, text: &str) -> Vec<Value> {
        util::yaml_docs(&self.python, text)
    }
}

const PR: &[&str] = &["--post-renderer", "postwire"];

fn with_pr<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = PR.to_vec();
    all.extend(args);
    all
}

/// The docs (#32646) tell users to copy the plugin because `helm plugin install` writes to
/// $HELM_DATA_HOME/plugins while lookup uses $HELM_PLUGINS. If Helm fixes that, this fails and
/// the advice can be relaxed. Also proves the copied plugin is what Helm lists.
#[test]
fn helm4_plugin_install_ignores_helm_plugins_so_we_copy() {
    let test = "helm4_plugin_install_ignores_helm_plugins_so_we_copy";
    let Some(helm) = util::helm4(test) else {
        return;
    };
    let home = HelmHome::new(test);
    let src = home.dir.join("src/postwire");
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    install_plugin_by_copy(src.parent().unwrap());

    let install = util::run(home.cmd(&helm).args(["plugin", "install", src.to_str().unwrap()]), b"");
    assert!(install.status.success(), "helm plugin install: {}", describe(&install));
    let list = util::run(home.cmd(&helm).args(["plugin", "list"]), b"");
    assert!(list.status.success(), "{}", describe(&list));
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("postwire"),
        "helm#32646 looks fixed: `helm plugin install` with HELM_PLUGINS set now installs where \
         Helm looks; update the install advice in helm-plugin/postwire/plugin.yaml and the README\n{}",
        describe(&list)
    );
    let template = util::run(
        home.cmd(&helm).args([
            "template",
            "fixture",
            util::fixture_chart().to_str().unwrap(),
            "--post-renderer",
            "postwire",
        ]),
        b"",
    );
    assert!(!template.status.success(), "{}", describe(&template));
    assert!(
        String::from_utf8_lossy(&template.stderr).contains("plugin: {Name:postwire Type:postrenderer/v1} not found"),
        "{}",
        describe(&template)
    );

    // The documented way: copy the directory into $HELM_PLUGINS.
    install_plugin_by_copy(&home.plugins());
    let list = util::run(home.cmd(&helm).args(["plugin", "list"]), b"");
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("postwire") && l.contains("postrenderer/v1")),
        "copied plugin not listed:\n{}",
        describe(&list)
    );
}

/// The fixture chart: the Deployment gets exactly the keys of the ConfigMap (volume) and the
/// Secret (envFrom), with the documented content hashes; the pre-install hook Job is
/// post-rendered and annotated; the test Pod (no references), Service, CRD and everything else
/// are unchanged; the `#` comment line and `# Source:` comments survive; Helm's filename
/// annotation does not leak. A changed ConfigMap changes only its own checksum.
#[test]
fn helm4_fixture_gets_checksums_on_deployment_and_hook_job() {
    let test = "helm4_fixture_gets_checksums_on_deployment_and_hook_job";
    let Some(h) = Helm4::new(test) else { return };
    let chart = util::fixture_chart();
    let text = h.template_ok("fixture", &chart, &with_pr(&["--include-crds"]));
    let raw_text = h.template_ok("fixture", &chart, &["--include-crds"]);
    let docs = h.docs(&text);
    let raw = h.docs(&raw_text);
    let ctx = format!("helm4 template fixture\n--- output\n{text}");

    let found = util::assert_checksums(&docs, &raw, Hooks::PostRendered, &ctx);
    util::assert_only_checksums_added(&docs, &raw, &ctx);

    let cm_hash = util::content_hash(&serde_json::json!({"data": {"greeting": "hello", "log-level": "info"}})).unwrap();
    let secret_hash = util::content_hash(&serde_json::json!({"stringData": {"PASSWORD": "fixture-password"}})).unwrap();
    let deploy = &found["Deployment/fixture"];
    assert_eq!(
        deploy.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
        vec![("checksum/configmap-fixture", cm_hash.as_str()), ("checksum/secret-fixture-creds", secret_hash.as_str()),],
        "{ctx}"
    );
    // Helm 4 post-renders hooks, so the hook Job gets the checksum of the ConfigMap it reads.
    assert_eq!(
        found.get("Job/fixture-migrate").map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["checksum/configmap-fixture".to_string()]),
        "{ctx}"
    );
    assert_eq!(found.len(), 2, "only the Deployment and the hook Job: {found:?}\n{ctx}");
    // Values are double-quoted strings, as documented.
    assert!(text.contains(&format!("checksum/configmap-fixture: \"{cm_hash}\"")), "{ctx}");
    assert!(text.contains("# The app's settings and its Service, in one template file."), "{ctx}");
    assert!(text.contains("# Source: fixture/templates/deployment.yaml"), "{ctx}");
    assert!(text.contains("# Source: fixture/crds/widget-crd.yaml"), "{ctx}");
    assert!(!text.contains("postrender-filename"), "{ctx}");
    util::find_object(&docs, "Pod/fixture-test");

    // A changed ConfigMap rolls the pods; the Secret's checksum stays.
    let changed = h.docs(&h.template_ok("fixture", &chart, &with_pr(&["--set", "greeting=bye"])));
    let changed = util::per_object_checksums(util::find_object(&changed, "Deployment/fixture"));
    assert_ne!(changed["checksum/configmap-fixture"], cm_hash);
    assert_eq!(
        changed["checksum/configmap-fixture"],
        util::content_hash(&serde_json::json!({"data": {"greeting": "bye", "log-level": "info"}})).unwrap()
    );
    assert_eq!(changed["checksum/secret-fixture-creds"], secret_hash);
}

/// Objects of a chart and checksum keys they must have.
type Known = &'static [(&'static str, &'static [&'static str])];
/// (chart, values that make the render deterministic, whether it then is, known keys)
type CorpusCase = (&'static str, &'static [&'static str], bool, Known);

/// Third-party charts with vendored dependencies (grafana, redis, kafka, argo-cd): every Deployment/StatefulSet/DaemonSet that
/// uses a ConfigMap/Secret of the render gets exactly the matching keys, and (for the charts
/// whose render is deterministic with the given values) nothing else changes.
#[test]
fn helm4_corpus_charts_get_checksums_exactly_where_expected() {
    let test = "helm4_corpus_charts_get_checksums_exactly_where_expected";
    let Some(shared) = util::shared(test) else {
        return;
    };
    let Some(h) = Helm4::new(test) else { return };
    let cases: &[CorpusCase] = &[
        (
            "grafana",
            &["--set", "adminPassword=test-admin-pw"],
            true,
            &[("Deployment/default/grafana", &["checksum/configmap-grafana", "checksum/secret-grafana"])],
        ),
        (
            "redis",
            &["--set", "auth.password=test-redis-pw"],
            true,
            &[
                (
                    "StatefulSet/default/redis-master",
                    &[
                        "checksum/configmap-redis-configuration",
                        "checksum/configmap-redis-health",
                        "checksum/configmap-redis-scripts",
                        "checksum/secret-redis",
                    ],
                ),
                ("StatefulSet/default/redis-replicas", &["checksum/secret-redis"]),
            ],
        ),
        (
            // Kafka generates passwords and cluster ids on every render.
            "kafka",
            &[],
            false,
            &[(
                "StatefulSet/default/kafka-controller",
                &["checksum/configmap-kafka-controller-configuration", "checksum/secret-kafka-kraft"],
            )],
        ),
        (
            // A subchart (redis-ha), 18 checksum keys, large CRDs in templates/.
            "argo-cd",
            &[],
            true,
            &[
                (
                    "StatefulSet/default/argo-cd-argocd-application-controller",
                    &["checksum/configmap-argocd-cm", "checksum/configmap-argocd-cmd-params-cm"],
                ),
                (
                    "Deployment/default/argo-cd-argocd-redis",
                    &["checksum/configmap-argo-cd-argocd-redis-health-configmap"],
                ),
            ],
        ),
    ];
    for (chart, values, deterministic, known) in cases {
        let dir = shared.join("corpus/charts").join(chart);
        let text = h.template_ok(chart, &dir, &with_pr(values));
        let raw = h.docs(&h.template_ok(chart, &dir, values));
        let docs = h.docs(&text);
        let ctx = format!("helm4 template {chart}");
        let found = util::assert_checksums(&docs, &raw, Hooks::PostRendered, &ctx);
        for (id, keys) in *known {
            let got = found.get(*id).unwrap_or_else(|| panic!("{ctx}: {id} has no checksums; found {found:#?}"));
            for key in *keys {
                assert!(got.contains_key(*key), "{ctx}: {id} lacks {key}; has {got:#?}");
            }
        }
        if *deterministic {
            util::assert_only_checksums_added(&docs, &raw, &ctx);
        }
        assert!(!text.contains("postrender-filename"), "{ctx}");
        assert!(!text.contains("generated-by-postrender"), "{ctx}: documents lost their file:\n{text}");
    }
}

/// `--output-dir` writes the post-rendered documents back under the chart's own template
/// paths (postwire keeps Helm's filename annotation), so no `generated-by-postrender-*.yaml`.
#[test]
fn helm4_output_dir_writes_post_rendered_files_under_template_paths() {
    let test = "helm4_output_dir_writes_post_rendered_files_under_template_paths";
    let Some(h) = Helm4::new(test) else { return };
    let out_dir = h.home.dir.join("out");
    let stdout = h.template_ok(
        "fixture",
        &util::fixture_chart(),
        &with_pr(&["--include-crds", "--output-dir", out_dir.to_str().unwrap()]),
    );
    let root = out_dir.join("fixture");
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}\nhelm printed:\n{stdout}"));
    let deployment = read("templates/deployment.yaml");
    assert!(deployment.contains("checksum/configmap-fixture: \""), "{deployment}");
    assert!(deployment.contains("checksum/secret-fixture-creds: \""), "{deployment}");
    let configmap = h.docs(&read("templates/configmap.yaml"));
    assert_eq!(
        configmap.iter().map(util::object_id).collect::<Vec<_>>(),
        ["ConfigMap/fixture", "Service/fixture"],
        "configmap.yaml must hold both of its documents"
    );
    assert!(read("templates/hook-job.yaml").contains("checksum/configmap-fixture"));
    assert!(read("templates/tests/test-pod.yaml").contains("kind: Pod"));
    assert!(read("crds/widget-crd.yaml").contains("kind: CustomResourceDefinition"));

    let mut files = Vec::new();
    let mut stack = vec![out_dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p.strip_prefix(&out_dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        [
            "fixture/crds/widget-crd.yaml",
            "fixture/templates/configmap.yaml",
            "fixture/templates/deployment.yaml",
            "fixture/templates/hook-job.yaml",
            "fixture/templates/secret.yaml",
            "fixture/templates/tests/test-pod.yaml",
        ],
        "helm printed:\n{stdout}"
    );
}

/// `--show-only` (which matches on `# Source:`) prints only that template, annotated.
#[test]
fn helm4_show_only_prints_the_annotated_template() {
    let test = "helm4_show_only_prints_the_annotated_template";
    let Some(h) = Helm4::new(test) else { return };
    let text =
        h.template_ok("fixture", &util::fixture_chart(), &with_pr(&["--show-only", "templates/deployment.yaml"]));
    let docs = h.docs(&text);
    assert_eq!(docs.iter().map(util::object_id).collect::<Vec<_>>(), ["Deployment/fixture"], "{text}");
    assert_eq!(
        util::per_object_checksums(&docs[0]).into_keys().collect::<Vec<_>>(),
        ["checksum/configmap-fixture", "checksum/secret-fixture-creds"],
        "{text}"
    );
}

/// `--post-renderer-args --set --post-renderer-args checksum.mode=aggregate` reaches postwire
/// (after the plugin.yaml args): Helm-style `checksum/config` and `checksum/secret` instead.
#[test]
fn helm4_post_renderer_args_switch_to_aggregate_mode() {
    let test = "helm4_post_renderer_args_switch_to_aggregate_mode";
    let Some(h) = Helm4::new(test) else { return };
    let text = h.template_ok(
        "fixture",
        &util::fixture_chart(),
        &with_pr(&["--post-renderer-args", "--set", "--post-renderer-args", "checksum.mode=aggregate"]),
    );
    assert_aggregate(&h.docs(&text), &text);
}

/// Aggregate-mode annotations of the fixture chart: `checksum/config` over the ConfigMap,
/// `checksum/secret` over the Secret (hash of sorted `name=hash` lines).
fn assert_aggregate(docs: &[Value], text: &str) {
    let cm = util::content_hash(&serde_json::json!({"data": {"greeting": "hello", "log-level": "info"}})).unwrap();
    let secret = util::content_hash(&serde_json::json!({"stringData": {"PASSWORD": "fixture-password"}})).unwrap();
    let deploy = util::template_annotations(util::find_object(docs, "Deployment/fixture"));
    let want = [
        ("checksum/config".to_string(), util::sha256_hex(format!("fixture={cm}\n").as_bytes())),
        ("checksum/secret".to_string(), util::sha256_hex(format!("fixture-creds={secret}\n").as_bytes())),
    ];
    assert_eq!(deploy, want.iter().cloned().collect(), "{text}");
    let job = util::template_annotations(util::find_object(docs, "Job/fixture-migrate"));
    assert_eq!(job, want[..1].iter().cloned().collect(), "{text}");
}

/// A chart can ship its own PostwireConfig (here `postwireConfig.enabled=true` renders
/// `templates/postwire-config.yaml` with mode aggregate): postwire applies it and removes it
/// from the output, and `--output-dir` writes no file for it.
#[test]
fn helm4_postwire_config_in_chart_applies_and_is_removed() {
    let test = "helm4_postwire_config_in_chart_applies_and_is_removed";
    let Some(h) = Helm4::new(test) else { return };
    let chart = util::fixture_chart();
    // Without postwire the document is there (so removing it is postwire's doing).
    let raw = h.template_ok("fixture", &chart, &["--set", "postwireConfig.enabled=true"]);
    assert!(raw.contains("kind: PostwireConfig"), "{raw}");

    let text = h.template_ok("fixture", &chart, &with_pr(&["--set", "postwireConfig.enabled=true"]));
    assert!(!text.contains("PostwireConfig"), "{text}");
    assert!(!text.contains("postwire-config.yaml"), "{text}");
    assert_aggregate(&h.docs(&text), &text);

    let out_dir = h.home.dir.join("out");
    h.template_ok(
        "fixture",
        &chart,
        &with_pr(&["--set", "postwireConfig.enabled=true", "--output-dir", out_dir.to_str().unwrap()]),
    );
    let templates = out_dir.join("fixture/templates");
    assert!(templates.join("deployment.yaml").is_file());
    assert!(!templates.join("postwire-config.yaml").exists());
    let names: Vec<_> =
        std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["fixture"], "no generated-by-postrender files");
}

/// An invalid config fails `helm template`, and although Helm 4 drops the plugin's stderr the
/// user still learns what to fix: (a) on their terminal (postwire writes to /dev/tty),
/// (b) in $POSTWIRE_CACHE_DIR/last-error.txt (CI, no terminal), (c) `--debug` shows the exit
/// code (3 = config).
#[test]
fn helm4_invalid_config_reaches_the_user() {
    let test = "helm4_invalid_config_reaches_the_user";
    let Some(h) = Helm4::new(test) else { return };
    let chart = util::fixture_chart();
    let args = [
        "template",
        "fixture",
        chart.to_str().unwrap(),
        "--post-renderer",
        "postwire",
        "--post-renderer-args",
        "--set",
        "--post-renderer-args",
        "checksum.mdoe=x",
    ];
    let wants = ["checksum.mdoe: unknown field", "did you mean `mode`?"];
    let helm_says = "failed to invoke post-renderer plugin \"postwire\": plugin \"postwire\" exited with error";
    let last_error = h.home.postwire_cache().join("last-error.txt");
    assert!(!last_error.exists());

    // Plain run (no terminal): non-zero, nothing on stdout, Helm's own message only.
    let out = h.run(&args);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(helm_says), "{}", describe(&out));
    // Helm 4 drops the plugin's stderr: if this fails, Helm started showing it.
    assert!(!stderr.contains(wants[0]), "{}", describe(&out));

    // (b) the last error is kept for runs without a terminal.
    let kept = std::fs::read_to_string(&last_error)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", last_error.display(), describe(&out)));
    assert!(kept.starts_with("Error: --set checksum.mdoe=x: invalid config:"), "{kept}");
    for want in wants {
        assert!(kept.contains(want), "last-error.txt: {kept}");
    }

    // (c) --debug prints the exit code (3 = invalid config) and the empty stderr.
    let mut debug = args.to_vec();
    debug.push("--debug");
    let out = h.run(&debug);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exitCode=3") && stderr.contains("stderr=\"\""), "{}", describe(&out));

    // (a) Under a terminal. Helm's stderr goes to a file, so whatever the terminal shows was
    // written to /dev/tty by postwire.
    let helm_stderr = h.home.dir.join("helm-stderr.txt");
    let line = format!(
        "{} {} 2>{}",
        util::sh_quote(h.helm.to_str().unwrap()),
        args.iter().map(|a| util::sh_quote(a)).collect::<Vec<_>>().join(" "),
        util::sh_quote(helm_stderr.to_str().unwrap())
    );
    let envs: Vec<(&str, PathBuf)> = h.home.envs();
    let envs: Vec<(&str, &Path)> = envs.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let Some(out) = util::in_pty(test, &line, &envs) else {
        return;
    };
    let terminal = String::from_utf8_lossy(&out.stdout);
    let helm_err = std::fs::read_to_string(&helm_stderr).unwrap_or_default();
    let context = format!("{}\n--- helm stderr\n{helm_err}", describe(&out));
    assert!(!out.status.success(), "{context}");
    for want in wants {
        assert!(terminal.contains(want), "terminal lacks `{want}`:\n{context}");
    }
    assert!(terminal.contains("postwire: Error: --set checksum.mdoe=x"), "{context}");
    assert!(helm_err.contains(helm_says), "{context}");
    assert!(!helm_err.contains(wants[0]), "{context}");
}

/// Through Helm 4 without a terminal, every failure and every warning leaves its message where
/// the README says to look, the newest one unambiguous: `last-error.txt` starts with this run's
/// error and names its exit code and command line, and `postwire.log` gains one line per error
/// or warning. In order: an unknown flag (exit 2), a missing `--config` file (3), a config error
/// (3), a `postwire` binary missing from the plugin and from PATH (run.sh, 127), then a warning
/// on a successful render (a Rollout whose workloadRef is not in the render).
#[test]
fn helm4_failures_and_warnings_without_a_terminal_are_recorded() {
    let test = "helm4_failures_and_warnings_without_a_terminal_are_recorded";
    let Some(h) = Helm4::new(test) else { return };
    let chart = util::fixture_chart();
    let cache = h.home.postwire_cache();
    let last_error = || std::fs::read_to_string(cache.join("last-error.txt")).unwrap_or_default();
    let log_lines = || std::fs::read_to_string(cache.join("postwire.log")).unwrap_or_default().lines().count();
    // PATH without any directory holding a `postwire` (a user may have one installed).
    let path_without_postwire = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| !d.join("postwire").exists())
        .collect::<Vec<_>>();
    let path_without_postwire = std::env::join_paths(path_without_postwire).unwrap();
    let fails = |extra: &[&str], first_line: &str, code: &str, command_has: &str| {
        let before = log_lines();
        let mut args = vec!["template", "fixture", chart.to_str().unwrap(), "--post-renderer", "postwire"];
        for a in extra {
            args.extend(["--post-renderer-args", a]);
        }
        let out = util::run(h.cmd().args(&args).env("PATH", &path_without_postwire), b"");
        assert!(!out.status.success(), "{}", describe(&out));
        let kept = last_error();
        let first = kept.lines().next().unwrap_or_default();
        assert!(first.starts_with("Error: ") && first.contains(first_line), "last-error.txt for {extra:?}:\n{kept}");
        assert!(kept.contains(&format!("\nexit code: {code}\n")), "{kept}");
        let command = kept.lines().find(|l| l.starts_with("command: ")).unwrap_or_default();
        assert!(command.contains(command_has), "{kept}");
        assert!(kept.lines().any(|l| l.starts_with("time: 20") && l.ends_with('Z')), "{kept}");
        let log = std::fs::read_to_string(cache.join("postwire.log")).unwrap();
        assert_eq!(log.lines().count(), before + 1, "one log line per failure:\n{log}");
        assert!(log.lines().last().unwrap().contains(first_line), "{log}");
    };
    fails(&["--confg", "x.yaml"], "unexpected argument '--confg'", "2", "--confg x.yaml");
    fails(
        &["--config", "/nonexistent/postwire.yaml"],
        "cannot read the --config file",
        "3",
        "/nonexistent/postwire.yaml",
    );
    fails(&["--set", "checksum.mdoe=x"], "checksum.mdoe: unknown field", "3", "checksum.mdoe=x");

    // The binary is neither beside run.sh nor on PATH (the test's PATH has no postwire).
    let plugin_bin = h.home.plugins().join("postwire/postwire");
    std::fs::rename(&plugin_bin, h.home.dir.join("postwire.moved")).unwrap();
    fails(&[], "the postwire binary is neither beside", "127", "run.sh");
    std::fs::rename(h.home.dir.join("postwire.moved"), &plugin_bin).unwrap();

    // A warning: the render succeeds, and the warning is logged (Helm drops postwire's stderr).
    let rollout_chart = h.home.dir.join("rollout-chart");
    std::fs::create_dir_all(rollout_chart.join("templates")).unwrap();
    std::fs::write(rollout_chart.join("Chart.yaml"), "apiVersion: v2\nname: rollout\nversion: 0.1.0\n").unwrap();
    std::fs::write(
        rollout_chart.join("templates/rollout.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  workloadRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web-elsewhere\n",
    )
    .unwrap();
    let before = log_lines();
    let error_before = last_error();
    h.template_ok("rollout", &rollout_chart, PR);
    let log = std::fs::read_to_string(cache.join("postwire.log")).unwrap();
    assert_eq!(log.lines().count(), before + 1, "{log}");
    let last = log.lines().last().unwrap();
    assert!(
        last.contains("Warning: ") && last.contains("workloadRef Deployment/web-elsewhere is not part of this render"),
        "{log}"
    );
    assert_eq!(last_error(), error_before, "a warning is not an error");
}

/// Under a terminal, a warning Helm 4 would drop is written to the terminal too.
#[test]
fn helm4_warning_reaches_the_terminal() {
    let test = "helm4_warning_reaches_the_terminal";
    let Some(h) = Helm4::new(test) else { return };
    let chart = h.home.dir.join("rollout-chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: rollout\nversion: 0.1.0\n").unwrap();
    std::fs::write(
        chart.join("templates/rollout.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  workloadRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web-elsewhere\n",
    )
    .unwrap();
    let line = format!(
        "{} template rollout {} --post-renderer postwire >/dev/null 2>/dev/null",
        util::sh_quote(h.helm.to_str().unwrap()),
        util::sh_quote(chart.to_str().unwrap())
    );
    let envs: Vec<(&str, PathBuf)> = h.home.envs();
    let envs: Vec<(&str, &Path)> = envs.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let Some(out) = util::in_pty(test, &line, &envs) else { return };
    assert!(out.status.success(), "{}", describe(&out));
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(
        terminal.contains("postwire: warning: ") && terminal.contains("workloadRef Deployment/web-elsewhere"),
        "{}",
        describe(&out)
    );
}
