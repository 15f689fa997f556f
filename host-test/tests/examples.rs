//! The seed systems in `examples/`, end to end: each example's chart (or, for tick-storm, its
//! manifest directory) through real Helm 4.3.1 with the postwire plugin reproduces its
//! `expected.yaml` byte for byte; Helm 3.17.3 with `--post-renderer postwire`, the Argo CD plugin
//! under the cmp-server harness and (for the manifests) kpt running postwire as a KRM function
//! give the same documents; every document validates strictly; a second run changes nothing; and
//! each example's README (what postwire added, why, and the diff) is what this module generates.
//!
//! `POSTWIRE_BLESS=1` (what `scripts/examples.sh` sets) rewrites `expected*.yaml` and `README.md`
//! from postwire's actual output instead of comparing; review the change with `git diff`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::argocd::{parse_manifests, App, Param, Sidecar};
use crate::helm4::install_plugin_by_copy;
use crate::istio::kubecheck;
use crate::util::{self, HelmHome, TempDir};

/// One example and one of its configs: `examples/<name>/<config>` gives `examples/<name>/<expected>`.
struct Case {
    name: &'static str,
    config: &'static str,
    expected: &'static str,
}

const CASES: &[Case] = &[
    Case { name: "livechat", config: "postwire.yaml", expected: "expected.yaml" },
    Case { name: "tick-storm", config: "postwire.yaml", expected: "expected.yaml" },
    Case { name: "hotswap", config: "postwire.yaml", expected: "expected.yaml" },
    Case { name: "robot-shop", config: "postwire.yaml", expected: "expected.yaml" },
    Case { name: "fastapi-gitops-starter", config: "postwire.yaml", expected: "expected.yaml" },
    Case { name: "fastapi-gitops-starter", config: "postwire-bluegreen.yaml", expected: "expected-bluegreen.yaml" },
];

/// The examples that are not seed systems (the README's quick-start chart).
const NOT_SEEDS: &[&str] = &["quickstart"];

fn bless() -> bool {
    std::env::var_os("POSTWIRE_BLESS").is_some_and(|v| v == "1")
}

impl Case {
    fn dir(&self) -> PathBuf {
        util::workspace().join("examples").join(self.name)
    }
    fn config_path(&self) -> PathBuf {
        self.dir().join(self.config)
    }
    /// `chart` or, for plain manifests, `manifests`.
    fn source(&self) -> &'static str {
        if self.dir().join("chart/Chart.yaml").is_file() {
            "chart"
        } else {
            "manifests"
        }
    }
    fn is_chart(&self) -> bool {
        self.source() == "chart"
    }
    fn expected_path(&self) -> PathBuf {
        self.dir().join(self.expected)
    }
    fn expected(&self) -> String {
        std::fs::read_to_string(self.expected_path())
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/examples.sh)", self.expected_path().display()))
    }
    fn id(&self) -> String {
        format!("{}/{}", self.name, self.config)
    }
}

/// Write `text` to `path` under `POSTWIRE_BLESS=1`; otherwise it must be what `path` holds.
fn check_or_bless(path: &Path, text: &str) {
    if bless() {
        std::fs::write(path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    if want != text {
        let dir = TempDir::new("examples-actual");
        let actual = dir.join(path.file_name().unwrap());
        std::fs::write(&actual, text).unwrap();
        let diff = Command::new("diff").arg("-u").arg(path).arg(&actual).output().unwrap();
        panic!(
            "{} is stale; run scripts/examples.sh (POSTWIRE_BLESS=1) and review the change:\n{}",
            path.display(),
            String::from_utf8_lossy(&diff.stdout)
        );
    }
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = util::run(cmd, b"");
    assert!(out.status.success(), "{what}:\n{}", util::describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `helm template <name> examples/<name>/chart --namespace <name>` with Helm 4 and the plugin.
fn helm4_render(home: &HelmHome, helm: &Path, case: &Case) -> String {
    let chart = case.dir().join("chart");
    run_ok(
        home.cmd(helm)
            .args(["template", case.name])
            .arg(&chart)
            .args(["--namespace", case.name, "--post-renderer", "postwire"])
            .args(["--post-renderer-args", "--config", "--post-renderer-args"])
            .arg(case.config_path()),
        &format!("helm 4 template {}", case.id()),
    )
}

/// The chart's render without postwire (Helm 4).
fn helm4_plain(home: &HelmHome, helm: &Path, case: &Case) -> String {
    run_ok(
        home.cmd(helm).args(["template", case.name]).arg(case.dir().join("chart")).args(["--namespace", case.name]),
        &format!("helm 4 template {} (plain)", case.id()),
    )
}

/// `postwire <sub> -f FILE|DIR --config <config> [extra]`.
fn postwire(cache: &Path, sub: &str, input: &Path, case: &Case, extra: &[&str]) -> std::process::Output {
    util::run(
        util::postwire(cache).args([sub, "-f"]).arg(input).arg("--config").arg(case.config_path()).args(extra),
        b"",
    )
}

/// The example's output: Helm 4 through the plugin, or `postwire render` over the manifests.
fn render(home: &HelmHome, helm: &Path, case: &Case) -> String {
    if case.is_chart() {
        helm4_render(home, helm, case)
    } else {
        let out = postwire(&home.postwire_cache(), "render", &case.dir().join("manifests"), case, &[]);
        assert!(out.status.success(), "postwire render {}:\n{}", case.id(), util::describe(&out));
        String::from_utf8(out.stdout).unwrap()
    }
}

fn helm_home(test: &str) -> HelmHome {
    let home = HelmHome::new(test);
    install_plugin_by_copy(&home.plugins());
    home
}

/// Every directory of `examples/` but the quick start is a case here, with its files.
#[test]
fn every_seed_example_is_tested_and_follows_the_conventions() {
    let root = util::workspace().join("examples");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !NOT_SEEDS.contains(&n.as_str()))
        .collect();
    dirs.sort();
    let mut tested: Vec<String> = CASES.iter().map(|c| c.name.to_string()).collect();
    tested.dedup();
    tested.sort();
    assert_eq!(dirs, tested, "every example directory is a case of this module");
    for case in CASES {
        let dir = case.dir();
        assert!(dir.join("README.md").is_file(), "{}: README.md", case.name);
        assert!(case.config_path().is_file() && case.expected_path().is_file(), "{}", case.id());
        let source = dir.join(case.source());
        assert!(source.is_dir(), "{}: chart/ or manifests/", case.name);
        if !case.is_chart() {
            assert!(std::fs::read_dir(&source).unwrap().count() > 0, "{}: manifests/ is empty", case.name);
        }
    }
}

/// Real Helm 4.3.1 through the plugin (or `postwire render` over a manifest directory)
/// reproduces `expected.yaml` exactly, and does so twice.
#[test]
fn helm4_reproduces_each_expected_yaml() {
    let test = "helm4_reproduces_each_expected_yaml";
    let Some(helm) = util::helm4(test) else { return };
    let home = helm_home(test);
    for case in CASES {
        let out = render(&home, &helm, case);
        assert_eq!(render(&home, &helm, case), out, "{}: not deterministic", case.id());
        check_or_bless(&case.expected_path(), &out);
    }
}

/// Helm 3.17.3 with `--post-renderer <postwire>` gives the documents of `expected.yaml`.
#[test]
fn helm3_gives_the_same_documents() {
    let test = "helm3_gives_the_same_documents";
    let (Some(helm), Some(python)) = (util::helm3(test), util::python(test)) else { return };
    let home = HelmHome::new(test);
    for case in CASES.iter().filter(|c| c.is_chart()) {
        let out = run_ok(
            home.cmd(&helm)
                .args(["template", case.name])
                .arg(case.dir().join("chart"))
                .args(["--namespace", case.name, "--post-renderer"])
                .arg(util::postwire_bin())
                .args(["--post-renderer-args", "--config", "--post-renderer-args"])
                .arg(case.config_path()),
            &format!("helm 3 template {}", case.id()),
        );
        let (got, want) = (util::yaml_docs(&python, &out), util::yaml_docs(&python, &case.expected()));
        assert_same_documents(got, want, &format!("{} under Helm 3", case.id()));
    }
}

/// The Argo CD plugin (`postwire argocd init|generate` under the cmp-server harness, as an
/// Application named after the example in the namespace of that name) gives the same objects.
#[test]
fn the_argo_cd_plugin_gives_the_same_documents() {
    let test = "the_argo_cd_plugin_gives_the_same_documents";
    let Some(side) = Sidecar::new(test) else { return };
    let Some(python) = util::python(test) else { return };
    let repo = util::workspace().join("examples");
    for case in CASES {
        let mut app = App::new(case.name, &repo, &format!("{}/{}", case.name, case.source()));
        app.namespace = case.name.to_string();
        app.params = Some(vec![Param::Str("config", format!("../{}", case.config))]);
        let got = side.generate(&app).unwrap_or_else(|e| panic!("{}: {e}", case.id()));
        let want = parse_manifests(&python, &case.expected()).unwrap();
        assert_same_documents(got.objects, want, &format!("{} under the Argo CD plugin", case.id()));
    }
}

/// The same objects, each equal as a value. Order is the host's: Helm 4 regroups post-rendered
/// documents by their filename annotation, the other hosts keep postwire's order.
fn assert_same_documents(mut got: Vec<Value>, mut want: Vec<Value>, what: &str) {
    let key = |v: &Value| util::object_id(v);
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got.iter().map(key).collect::<Vec<_>>(), want.iter().map(key).collect::<Vec<_>>(), "{what}: objects");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{what}: {} differs", key(w));
    }
}

/// kpt's writer adds these to every object it reads from files.
fn without_kpt_annotations(mut v: Value) -> Value {
    if let Some(a) = v.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.retain(|k, _| !k.starts_with("config.kubernetes.io/") && !k.starts_with("internal.config.kubernetes.io/"));
        if a.is_empty() {
            v["metadata"].as_object_mut().unwrap().remove("annotations");
        }
    }
    v
}

/// The manifest examples under kpt (`kpt fn eval DIR --exec "postwire krm --config ..."`) over a
/// copy of the same directory: the files kpt writes back hold the documents of `expected.yaml`.
#[test]
fn kpt_runs_the_manifest_examples_as_a_krm_function() {
    let test = "kpt_runs_the_manifest_examples_as_a_krm_function";
    let Some(python) = util::python(test) else { return };
    let kpt = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kpt")).find(|p| p.is_file()));
    let Some(kpt) = kpt else {
        util::skip(test, "kpt is not on PATH (these machines have it from the google-cloud-cli-kpt package)");
        return;
    };
    let cache = TempDir::new("examples-kpt-cache");
    for case in CASES.iter().filter(|c| !c.is_chart()) {
        let pkg = TempDir::new(&format!("examples-kpt-{}", case.name));
        for entry in std::fs::read_dir(case.dir().join("manifests")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), pkg.join(entry.file_name())).unwrap();
        }
        let exec = format!("{} krm --config {}", util::postwire_bin().display(), case.config_path().display());
        let out = Command::new(&kpt)
            .args(["fn", "eval"])
            .arg(&pkg.0)
            .args(["--exec", &exec])
            .env("POSTWIRE_CACHE_DIR", &cache.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "kpt {}: {}", case.id(), util::describe(&out));
        // kpt writes the items postwire generated (no path annotation) to `<namespace>/<kind>_<name>.yaml`.
        let mut files: Vec<PathBuf> = Vec::new();
        let mut dirs = vec![pkg.0.clone()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut got: Vec<Value> = Vec::new();
        for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
            got.extend(util::yaml_docs(&python, &std::fs::read_to_string(f).unwrap()));
        }
        let got: Vec<Value> = got.into_iter().map(without_kpt_annotations).collect();
        assert_same_documents(got, util::yaml_docs(&python, &case.expected()), &format!("{} under kpt", case.id()));
    }
}

/// Every document of every `expected.yaml` validates: core kinds with kubernetes-validate
/// (strict), custom resources against the Istio, Argo Rollouts and prometheus-operator CRDs.
#[test]
fn every_expected_document_validates_strictly() {
    let test = "every_expected_document_validates_strictly";
    let (Some(python), Some(shared)) = (util::python(test), util::shared(test)) else { return };
    for case in CASES {
        let lines = kubecheck(&python, &shared, &case.expected_path());
        assert_eq!(
            lines.len(),
            util::yaml_docs(&python, &case.expected()).len(),
            "{}: every document checked",
            case.id()
        );
    }
}

/// Idempotent: postwire over its own output changes no byte, and over `expected.yaml` (which
/// Helm 4 regrouped by file) gives the same documents.
#[test]
fn each_example_is_idempotent() {
    let test = "each_example_is_idempotent";
    let (Some(helm), Some(python)) = (util::helm4(test), util::python(test)) else { return };
    let home = HelmHome::new(test);
    let dir = TempDir::new(test);
    for case in CASES {
        let input = if case.is_chart() {
            let plain = dir.join(format!("{}-plain.yaml", case.name));
            std::fs::write(&plain, helm4_plain(&home, &helm, case)).unwrap();
            plain
        } else {
            case.dir().join("manifests")
        };
        let once = postwire(&home.postwire_cache(), "render", &input, case, &[]);
        assert!(once.status.success(), "{}: {}", case.id(), util::describe(&once));
        let piped = dir.join(format!("{}-once.yaml", case.name));
        std::fs::write(&piped, &once.stdout).unwrap();
        let twice = postwire(&home.postwire_cache(), "render", &piped, case, &[]);
        assert!(twice.status.success(), "{}: {}", case.id(), util::describe(&twice));
        if twice.stdout != once.stdout {
            let second = dir.join(format!("{}-twice.yaml", case.name));
            std::fs::write(&second, &twice.stdout).unwrap();
            let diff = Command::new("diff").arg("-u").arg(&piped).arg(&second).output().unwrap();
            panic!("{}: a second run changed the output:\n{}", case.id(), String::from_utf8_lossy(&diff.stdout));
        }
        let again = postwire(&home.postwire_cache(), "render", &case.expected_path(), case, &[]);
        assert!(again.status.success(), "{}: {}", case.id(), util::describe(&again));
        assert_same_documents(
            util::yaml_docs(&python, &String::from_utf8(again.stdout).unwrap()),
            util::yaml_docs(&python, &case.expected()),
            &format!("{}: postwire over expected.yaml", case.id()),
        );
    }
}

/// The lines of a config file's leading comment, without the `# `.
fn leading_comment(config: &str) -> String {
    let mut out = String::new();
    for line in config.lines() {
        let Some(text) = line.strip_prefix('#') else { break };
        out.push_str(text.strip_prefix(' ').unwrap_or(text));
        out.push('\n');
    }
    out
}

/// Markdown table cell text.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as a table: one row per object, wiring and reason, naming the fields it set.
fn changes_table(report: &Value) -> String {
    let mut out = String::from("| object | wiring | what | why |\n|---|---|---|---|\n");
    for doc in report["documents"].as_array().into_iter().flatten() {
        let object = doc["object"].as_str().unwrap_or_default();
        let mut rows: Vec<((String, String), Vec<String>)> = Vec::new();
        for change in doc["changes"].as_array().into_iter().flatten() {
            let s = |k: &str| change[k].as_str().unwrap_or_default().to_string();
            let what = match (s("path").as_str(), s("key").as_str()) {
                ("", "") => format!("{} (new object)", s("action")),
                (p, "") => format!("{} `{p}`", s("action")),
                ("", k) => format!("{} `{k}`", s("action")),
                (p, k) => format!("{} `{p}`: `{k}`", s("action")),
            };
            let group = (s("wiring"), s("reason"));
            match rows.iter_mut().find(|(g, _)| *g == group) {
                Some((_, whats)) => whats.push(what),
                None => rows.push((group, vec![what])),
            }
        }
        for ((wiring, reason), whats) in rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(object),
                cell(&wiring),
                cell(&whats.join("<br>")),
                cell(&reason)
            );
        }
        for note in doc["notes"].as_array().into_iter().flatten() {
            let s = |k: &str| note[k].as_str().unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | note ({}) | {} |",
                cell(object),
                cell(s("wiring")),
                s("level"),
                cell(s("message"))
            );
        }
    }
    out
}

/// The example's README, generated from its files and postwire's own diff and report.
fn readme(home: &HelmHome, helm: &Path, name: &str, cases: &[&Case], dir: &TempDir) -> String {
    let first = cases[0];
    let mut out = format!("# {name}\n\n");
    out.push_str(
        "<!-- Generated by host-test/tests/examples.rs (`scripts/examples.sh` rewrites it); do not edit. -->\n\n",
    );
    let source = if first.is_chart() {
        format!("`chart/` is a Helm chart modelled on the `{name}` seed system")
    } else {
        format!("`manifests/` holds the plain manifests of the `{name}` seed system")
    };
    let _ = writeln!(
        out,
        "{source}, without the wiring postwire adds. `{}` finishes it; `{}` is the exact output.\n",
        first.config, first.expected
    );
    let input = if first.is_chart() {
        let plain = dir.join(format!("{name}-plain.yaml"));
        std::fs::write(&plain, helm4_plain(home, helm, first)).unwrap();
        plain
    } else {
        first.dir().join("manifests")
    };
    for case in cases {
        let config = std::fs::read_to_string(case.config_path()).unwrap();
        let _ = writeln!(out, "## `{}`\n", case.config);
        out.push_str(&leading_comment(&config));
        out.push('\n');
        let reproduce = if case.is_chart() {
            format!(
                "helm template {name} examples/{name}/chart --namespace {name} \\\n    --post-renderer postwire --post-renderer-args --config --post-renderer-args examples/{name}/{} > examples/{name}/{}",
                case.config, case.expected
            )
        } else {
            format!(
                "postwire render -f examples/{name}/manifests --config examples/{name}/{} > examples/{name}/{}",
                case.config, case.expected
            )
        };
        let _ = writeln!(out, "```sh\n{reproduce}\n```\n");
        let report_path = dir.join(format!("{name}-{}.report.json", case.config));
        let report_arg = report_path.display().to_string();
        let rendered = postwire(&home.postwire_cache(), "render", &input, case, &["--report", &report_arg]);
        assert!(rendered.status.success(), "{}: {}", case.id(), util::describe(&rendered));
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
        let summary = &report["summary"];
        let generated = report["documents"].as_array().into_iter().flatten().filter(|d| d["source"].is_null()).count();
        let _ = writeln!(
            out,
            "### What postwire added, and why\n\nOf the {} documents {}, postwire changed {} and added {} (its report, `postwire render --report`):\n",
            summary["documents"].as_u64().unwrap_or_default(),
            if case.is_chart() { "the chart renders" } else { "in the directory" },
            summary["changed"].as_u64().unwrap_or_default(),
            generated
        );
        out.push_str(&changes_table(&report));
        let diff = postwire(&home.postwire_cache(), "diff", &input, case, &[]);
        assert_eq!(
            diff.status.code(),
            Some(1),
            "{}: postwire diff finds changes: {}",
            case.id(),
            util::describe(&diff)
        );
        let diff = String::from_utf8(diff.stdout).unwrap();
        let shown_input = if case.is_chart() {
            format!("helm template {name} chart --namespace {name}")
        } else {
            "manifests/".into()
        };
        let diff = diff.replacen(&format!("--- {}", input.display()), &format!("--- {shown_input}"), 1).replacen(
            &format!("+++ {} (postwire)", input.display()),
            &format!("+++ {shown_input} (postwire)"),
            1,
        );
        // What Argo CD must leave to the controllers (Argo Rollouts, an HPA), when anything.
        let ignore = postwire(&home.postwire_cache(), "ignore-differences", &input, case, &[]);
        assert!(ignore.status.success(), "{}: {}", case.id(), util::describe(&ignore));
        let ignore = String::from_utf8(ignore.stdout).unwrap();
        if ignore.contains("ignoreDifferences:") {
            let _ = writeln!(
                out,
                "\n### Under Argo CD\n\nArgo Rollouts rewrites some fields at run time; `postwire ignore-differences --config {}` prints what the Application must leave to it (merge it into the Application's `spec`):\n\n```yaml\n{ignore}```",
                case.config
            );
        }
        let _ = writeln!(
            out,
            "\n### The diff\n\n`postwire diff --config {}` over {}: every line postwire added or changed; documents it did not change are byte for byte the input.\n\n```diff\n{diff}```\n",
            case.config,
            if case.is_chart() { "the chart's plain render" } else { "the directory" },
        );
    }
    out
}

/// Each example's README is what `readme` generates now: the diff and the table cannot go stale.
#[test]
fn each_readme_is_generated_and_current() {
    let test = "each_readme_is_generated_and_current";
    let Some(helm) = util::helm4(test) else { return };
    let home = HelmHome::new(test);
    let dir = TempDir::new(test);
    let mut by_name: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in CASES {
        by_name.entry(case.name).or_default().push(case);
    }
    for (name, cases) in by_name {
        let text = readme(&home, &helm, name, &cases, &dir);
        check_or_bless(&cases[0].dir().join("README.md"), &text);
    }
}
