//! Real Helm 3.17.3 running postwire with `--post-renderer <path to the runner>` (Helm 3
//! accepts a path and passes the renderer's stderr through on failure).
//!
//! What Helm 3.17.3 itself prints, observed while writing these tests:
//! - a failing renderer: `Error: error while running post render on files: error while running
//!   command <runner path>. error output:\nError: <postwire's message>\n: exit status 3` and
//!   `Use --debug flag to render out invalid YAML`.
//! - hooks (the pre-install Job, the test Pod) are printed after the post-rendered stream,
//!   never post-rendered, each with its `# Source:` comment.
//! - a Helm 4 (`apiVersion: v1`) plugin in $HELM_PLUGINS makes Helm 3 print `failed to load
//!   plugin at ".../plugin.yaml": ... json: unknown field "apiVersion"` on every command and
//!   load no plugin of that directory (plugins.rs covers sharing one directory), so these tests
//!   give Helm 3 an empty plugins directory of its own.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{self, describe, HelmHome, Hooks};

struct Helm3 {
    helm: PathBuf,
    python: PathBuf,
    home: HelmHome,
}

impl Helm3 {
    fn new(test: &str) -> Option<Helm3> {
        let helm = util::helm3(test)?;
        let python = util::python(test)?;
        Some(Helm3 { helm, python, home: HelmHome::new(test) })
    }

    fn template(&self, release: &str, chart: &Path, args: &[&str]) -> Output {
        let mut cmd = self.home.cmd(&self.helm);
        cmd.args(["template", release, chart.to_str().unwrap()]).args(args);
        util::run(&mut cmd, b"")
    }

    /// `helm template` asserting success, and without warnings on stderr.
    fn template_ok(&self, release: &str, chart: &Path, args: &[&str]) -> String {
        let out = self.template(release, chart, args);
        assert!(
            out.status.success(),
            "helm3 template {release} {} {args:?} failed:\n{}",
            chart.display(),
            describe(&out)
        );
        // Quiet success: no plugin-loading noise, no postwire warnings for these charts.
        assert!(out.stderr.is_empty(), "helm3 template {release} {args:?} wrote to stderr:\n{}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn docs(&self, text: &str) -> Vec<Value> {
        util::yaml_docs(&self.python, text)
    }
}

/// `--post-renderer <runner>` plus extra args.
fn with_pr(args: &[&str]) -> Vec<String> {
    let mut all = vec!["--post-renderer".to_string(), util::postwire_bin().display().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `# Source: <path>` lines of a render, in order.
fn sources(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("# Source: ")).collect()
}

/// The fixture chart under Helm 3: checksums on the Deployment; the `# Source:` comments
/// (which `--show-only` and users rely on) are kept; the hook Job is not post-rendered (Helm 3
/// excludes hooks), so it is printed without checksums; nothing else changes.
#[test]
fn helm3_fixture_keeps_sources_and_leaves_hooks_alone() {
    let test = "helm3_fixture_keeps_sources_and_leaves_hooks_alone";
    let Some(h) = Helm3::new(test) else { return };
    let chart = util::fixture_chart();
    let text = h.template_ok("fixture", &chart, &strs(&with_pr(&[])));
    let raw_text = h.template_ok("fixture", &chart, &[]);
    let ctx = format!("helm3 template fixture\n--- output\n{text}");
    assert_eq!(sources(&text), sources(&raw_text), "{ctx}");
    assert!(text.contains("# Source: fixture/templates/deployment.yaml"), "{ctx}");
    assert!(text.contains("# The app's settings and its Service, in one template file."), "{ctx}");

    let docs = h.docs(&text);
    let raw = h.docs(&raw_text);
    let found = util::assert_checksums(&docs, &raw, Hooks::NotPostRendered, &ctx);
    util::assert_only_checksums_added(&docs, &raw, &ctx);
    assert_eq!(found.keys().collect::<Vec<_>>(), ["Deployment/fixture"], "{ctx}");
    assert_eq!(
        found["Deployment/fixture"].keys().collect::<Vec<_>>(),
        ["checksum/configmap-fixture", "checksum/secret-fixture-creds"],
        "{ctx}"
    );
    let job = util::find_object(&docs, "Job/fixture-migrate");
    assert!(util::template_annotations(job).is_empty(), "{ctx}");
    util::find_object(&docs, "Pod/fixture-test");
}

/// (chart, values that make the render deterministic, whether it then is, an object, its keys)
type CorpusCase = (&'static str, &'static [&'static str], bool, &'static str, &'static [&'static str]);

/// Third-party charts under Helm 3: `# Source:` comments kept one for one, checksums exactly
/// where expected, nothing else changed (for renders that are deterministic).
#[test]
fn helm3_corpus_charts_keep_sources_and_get_checksums() {
    let test = "helm3_corpus_charts_keep_sources_and_get_checksums";
    let Some(shared) = util::shared(test) else {
        return;
    };
    let Some(h) = Helm3::new(test) else { return };
    let cases: &[CorpusCase] = &[
        (
            "grafana",
            &["--set", "adminPassword=test-admin-pw"],
            true,
            "Deployment/default/grafana",
            &["checksum/configmap-grafana", "checksum/secret-grafana"],
        ),
        (
            "redis",
            &["--set", "auth.password=test-redis-pw"],
            true,
            "StatefulSet/default/redis-master",
            &["checksum/configmap-redis-configuration", "checksum/secret-redis"],
        ),
        (
            "kafka",
            &[],
            false,
            "StatefulSet/default/kafka-controller",
            &["checksum/configmap-kafka-controller-configuration"],
        ),
    ];
    for (chart, values, deterministic, id, keys) in cases {
        let dir = shared.join("corpus/charts").join(chart);
        let text = h.template_ok(chart, &dir, &strs(&with_pr(values)));
        let raw_text = h.template_ok(chart, &dir, values);
        let ctx = format!("helm3 template {chart}");
        assert_eq!(sources(&text), sources(&raw_text), "{ctx}: # Source: comments");
        let docs = h.docs(&text);
        let raw = h.docs(&raw_text);
        let found = util::assert_checksums(&docs, &raw, Hooks::NotPostRendered, &ctx);
        let got = found.get(*id).unwrap_or_else(|| panic!("{ctx}: {id} has no checksums; found {found:#?}"));
        for key in *keys {
            assert!(got.contains_key(*key), "{ctx}: {id} lacks {key}; has {got:#?}");
        }
        if *deterministic {
            util::assert_only_checksums_added(&docs, &raw, &ctx);
        }
    }
}

/// `--post-renderer-args` reach postwire: aggregate mode gives `checksum/config` and
/// `checksum/secret` on the Deployment (and still nothing on the hook Job).
#[test]
fn helm3_post_renderer_args_reach_postwire() {
    let test = "helm3_post_renderer_args_reach_postwire";
    let Some(h) = Helm3::new(test) else { return };
    let text = h.template_ok(
        "fixture",
        &util::fixture_chart(),
        &strs(&with_pr(&["--post-renderer-args", "--set", "--post-renderer-args", "checksum.mode=aggregate"])),
    );
    let docs = h.docs(&text);
    let deploy = util::template_annotations(util::find_object(&docs, "Deployment/fixture"));
    assert_eq!(deploy.keys().collect::<Vec<_>>(), ["checksum/config", "checksum/secret"], "{text}");
    let job = util::find_object(&docs, "Job/fixture-migrate");
    assert!(util::template_annotations(job).is_empty(), "{text}");
}

/// An invalid config fails `helm template`, and Helm 3's own error output carries postwire's
/// full message (Helm 3 includes the renderer's stderr) with the exit status.
#[test]
fn helm3_invalid_config_message_is_in_helm_error() {
    let test = "helm3_invalid_config_message_is_in_helm_error";
    let Some(h) = Helm3::new(test) else { return };
    let out = h.template(
        "fixture",
        &util::fixture_chart(),
        &strs(&with_pr(&["--post-renderer-args", "--set", "--post-renderer-args", "checksum.mdoe=x"])),
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        "error while running command",
        "error output:\nError: --set checksum.mdoe=x: invalid config: checksum.mdoe: unknown field `mdoe`",
        "(did you mean `mode`?)",
        "exit status 3",
    ] {
        assert!(stderr.contains(want), "lacks `{want}`:\n{}", describe(&out));
    }
}

/// Helm 3 writes `--output-dir` files before post-rendering (helm#8520, "can't fix"): the
/// files carry no checksums, postwire gets an empty stream and its empty output is accepted
/// (exit 0): the Helm 3 limitation the README states.
#[test]
fn helm3_output_dir_files_are_not_post_rendered() {
    let test = "helm3_output_dir_files_are_not_post_rendered";
    let Some(h) = Helm3::new(test) else {
        return;
    };
    let out_dir = h.home.dir.join("out");
    let stdout =
        h.template_ok("fixture", &util::fixture_chart(), &strs(&with_pr(&["--output-dir", out_dir.to_str().unwrap()])));
    let deployment = std::fs::read_to_string(out_dir.join("fixture/templates/deployment.yaml"))
        .unwrap_or_else(|e| panic!("deployment.yaml: {e}\nhelm printed:\n{stdout}"));
    assert!(deployment.contains("kind: Deployment"), "{deployment}");
    assert!(
        !deployment.contains("checksum/"),
        "Helm 3 now post-renders --output-dir files; update the README (Helm 3 section):\n{deployment}"
    );
    assert!(stdout.lines().all(|l| l.starts_with("wrote ") || l.trim().is_empty()), "{stdout}");
}
