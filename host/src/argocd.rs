//! `postwire argocd init|generate`: the two steps of the Argo CD config-management plugin
//! (`argocd-cmp/plugin.yaml`).
//!
//! argocd-cmp-server runs each step with no shell, cwd at the application's path inside a fresh
//! copy of the repository, and the build environment plus the application's parameters in the
//! environment. Doing the steps here rather than in `sh -c` means parameter values reach Helm
//! as single arguments whatever they hold (no quoting, no word splitting, no `$(...)`), and the
//! pipe `helm template | postwire` fails when either side does (what `set -o pipefail` is for).
//!
//! Parameters (announced in plugin.yaml; the names are a contract):
//! - `values-files` (array): `helm template -f`, relative to the application's path;
//! - `helm-parameters` (map): `helm template --set key=value`;
//! - `config` (string): a PostwireConfig file in the repository (`--config`);
//! - `set` (map): postwire `--set key=value`.
//!
//! They are read from `ARGOCD_APP_PARAMETERS`, the JSON Argo CD builds (map keys intact); when
//! it is absent, strings and arrays from `PARAM_<NAME>` / `PARAM_<NAME>_<i>`. Map keys cannot be
//! read back from `PARAM_<NAME>_<KEY>` (Argo CD upper-cases them and turns `.` into `_`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::errors::exit;
use crate::runner::Runner;
use postwire_core::wire::{ChartConfig, ConfigFileV1, InputFormat, RenderRequestV1};

/// A failed step: the message for Argo CD (it shows stderr on failure) and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// What went wrong and what to do.
    pub message: String,
    /// The exit code (see the README's table).
    pub code: u8,
}

impl StepError {
    fn other(message: impl Into<String>) -> Self {
        StepError { message: message.into(), code: exit::OTHER }
    }
    fn config(message: impl Into<String>) -> Self {
        StepError { message: message.into(), code: exit::CONFIG }
    }
}

type Step<T> = Result<T, StepError>;

/// The parameters plugin.yaml announces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `values-files`.
    pub values_files: Vec<String>,
    /// `helm-parameters`, in key order.
    pub helm_parameters: Vec<(String, String)>,
    /// `config`.
    pub config: Option<String>,
    /// `set`, in key order.
    pub set: Vec<(String, String)>,
}

/// The parameter names, as announced.
pub const PARAMETERS: [&str; 4] = ["values-files", "helm-parameters", "config", "set"];

/// Argo CD's escaping of parameter names and map keys in `PARAM_*` variables: upper-case,
/// then every character outside `[A-Z0-9_]` becomes `_`.
pub fn escaped(name: &str) -> String {
    name.to_uppercase()
        .chars()
        .map(|c| if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .collect()
}

/// Read the parameters from the environment.
pub fn params(env: &BTreeMap<String, String>) -> Step<Params> {
    let mut out = Params::default();
    let json =
        env.get("ARGOCD_APP_PARAMETERS").map(String::as_str).filter(|j| !j.trim().is_empty() && j.trim() != "null");
    let Some(json) = json else {
        return params_from_param_vars(env);
    };
    let bad = |m: String| StepError::config(format!("ARGOCD_APP_PARAMETERS: {m}"));
    let list: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| bad(format!("not the JSON array Argo CD writes: {e}")))?;
    let mut seen = Vec::new();
    for entry in list {
        let name =
            entry.get("name").and_then(|n| n.as_str()).ok_or_else(|| bad(format!("an entry has no name: {entry}")))?;
        if seen.contains(&name.to_string()) {
            return Err(bad(format!("parameter `{name}` is given twice")));
        }
        seen.push(name.to_string());
        let string = entry.get("string").and_then(|s| s.as_str());
        let array = entry.get("array").filter(|a| !a.is_null());
        let map = entry.get("map").filter(|m| !m.is_null());
        let want = |t: &str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(bad(format!("parameter `{name}` must be {t} (collectionType in plugin.yaml), got {entry}")))
            }
        };
        let strings = |v: &serde_json::Value| -> Step<Vec<String>> {
            v.as_array()
                .ok_or_else(|| bad(format!("parameter `{name}`: array expected")))?
                .iter()
                .map(|s| {
                    s.as_str().map(String::from).ok_or_else(|| bad(format!("parameter `{name}`: strings expected")))
                })
                .collect()
        };
        let pairs = |v: &serde_json::Value| -> Step<Vec<(String, String)>> {
            let map = v.as_object().ok_or_else(|| bad(format!("parameter `{name}`: map expected")))?;
            let mut pairs: Vec<(String, String)> = map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_string()))
                        .ok_or_else(|| bad(format!("parameter `{name}`: `{k}` is not a string")))
                })
                .collect::<Step<_>>()?;
            pairs.sort();
            Ok(pairs)
        };
        match name {
            "values-files" => {
                want("an array", array.is_some() && string.is_none() && map.is_none())?;
                out.values_files = strings(array.expect("checked"))?;
            }
            "helm-parameters" => {
                want("a map", map.is_some() && string.is_none() && array.is_none())?;
                out.helm_parameters = pairs(map.expect("checked"))?;
            }
            "config" => {
                want("a string", array.is_none() && map.is_none())?;
                out.config = string.filter(|s| !s.is_empty()).map(String::from);
            }
            "set" => {
                want("a map", map.is_some() && string.is_none() && array.is_none())?;
                out.set = pairs(map.expect("checked"))?;
            }
            other => {
                return Err(bad(format!(
                    "unknown parameter `{other}`; postwire's parameters are {}",
                    PARAMETERS.map(|p| format!("`{p}`")).join(", ")
                )))
            }
        }
    }
    Ok(out)
}

/// Strings and arrays from `PARAM_*` (what Argo CD sets beside the JSON).
fn params_from_param_vars(env: &BTreeMap<String, String>) -> Step<Params> {
    let mut out = Params {
        config: env.get(&format!("PARAM_{}", escaped("config"))).filter(|s| !s.is_empty()).cloned(),
        ..Params::default()
    };
    let base = format!("PARAM_{}", escaped("values-files"));
    let mut i = 0;
    while let Some(file) = env.get(&format!("{base}_{i}")) {
        out.values_files.push(file.clone());
        i += 1;
    }
    for map in ["helm-parameters", "set"] {
        let prefix = format!("PARAM_{}_", escaped(map));
        if let Some(var) = env.keys().find(|k| k.starts_with(&prefix)) {
            return Err(StepError::config(format!(
                "{var} is set but ARGOCD_APP_PARAMETERS is not: the keys of map parameter `{map}` cannot be read \
                 back from PARAM_* names (Argo CD upper-cases them and replaces `.`); set ARGOCD_APP_PARAMETERS"
            )));
        }
    }
    Ok(out)
}

/// The variables a platform config may use as `${NAME}`: the build environment Argo CD gives
/// plugins and the application's `ARGOCD_ENV_*` variables.
pub fn context_env(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(k, _)| {
            (k.starts_with("ARGOCD_APP_") && k != "ARGOCD_APP_PARAMETERS")
                || k.starts_with("ARGOCD_ENV_")
                || k == "KUBE_VERSION"
                || k == "KUBE_API_VERSIONS"
        })
        .collect()
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The repository root: the application's directory less `ARGOCD_APP_SOURCE_PATH`.
pub fn repo_root(app_dir: &Path, source_path: Option<&str>) -> PathBuf {
    let mut root = normalize(app_dir);
    let rel = normalize(Path::new(source_path.unwrap_or("")));
    let parts: Vec<_> = rel.components().collect();
    if root.ends_with(&rel) {
        for _ in &parts {
            root.pop();
        }
    }
    root
}

/// `rel` (from the application's directory) as a file inside the repository.
pub fn file_in_repo(what: &str, rel: &str, app_dir: &Path, root: &Path) -> Step<PathBuf> {
    let fail = |m: String| StepError::config(format!("{what} `{rel}`: {m}"));
    if Path::new(rel).is_absolute() || rel.contains("://") {
        return Err(fail("must be a path relative to the application's directory".into()));
    }
    let path = normalize(&app_dir.join(rel));
    let inside = |p: &Path, r: &Path| p.starts_with(r);
    if !inside(&path, root) {
        return Err(fail("is outside the repository".into()));
    }
    if !path.is_file() {
        return Err(fail(format!("no such file in the repository (looked for {})", path.display())));
    }
    // A symbolic link must not lead out of the repository either.
    if let (Ok(real), Ok(real_root)) = (path.canonicalize(), root.canonicalize()) {
        if !inside(&real, &real_root) {
            return Err(fail("is a link that leads outside the repository".into()));
        }
    }
    Ok(path)
}

/// The Helm binary: `POSTWIRE_HELM`, else `helm` on PATH.
fn helm(env: &BTreeMap<String, String>) -> String {
    env.get("POSTWIRE_HELM").filter(|h| !h.is_empty()).cloned().unwrap_or_else(|| "helm".into())
}

/// Run a command in `dir`, returning stdout; a failure carries its stderr.
fn run(program: &str, args: &[String], dir: &Path, what: &str) -> Step<Vec<u8>> {
    let out =
        Command::new(program).args(args).current_dir(dir).stdin(std::process::Stdio::null()).output().map_err(|e| {
            StepError::other(format!("{what}: cannot run `{program}`: {e} (is Helm installed in the sidecar?)"))
        })?;
    // Helm's warnings on success go to the sidecar log, like every plugin's stderr.
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        let status = out.status.code().map_or("a signal".to_string(), |c| format!("exit status {c}"));
        return Err(StepError::other(format!("{what} failed ({status}): {stderr}")));
    }
    if !stderr.is_empty() {
        eprintln!("{stderr}");
    }
    Ok(out.stdout)
}

/// `init`: build the chart's dependencies when `Chart.lock` exists and vendored charts are
/// missing. Nothing to do for a chart without dependencies or a directory of manifests.
pub fn init(dir: &Path, env: &BTreeMap<String, String>) -> Step<()> {
    if !dir.join("Chart.yaml").is_file() {
        return Ok(());
    }
    let helm = helm(env);
    let list = run(&helm, &["dependency".into(), "list".into(), ".".into()], dir, "helm dependency list")?;
    let missing: Vec<String> = String::from_utf8_lossy(&list)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("NAME") && !l.starts_with("WARNING"))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').map(str::trim).collect();
            let status = *cols.last()?;
            (cols.len() >= 4 && status != "ok" && status != "unpacked")
                .then(|| format!("{} {} ({status})", cols[0], cols[1]))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names = missing.join(", ");
    if !dir.join("Chart.lock").is_file() {
        return Err(StepError::other(format!(
            "init: the chart's dependencies are not in charts/: {names}, and there is no Chart.lock to build them from. \
             Run `helm dependency update` and commit Chart.lock (and charts/*.tgz to vendor them)"
        )));
    }
    run(&helm, &["dependency".into(), "build".into(), ".".into()], dir, "init: helm dependency build").map_err(
        |e| {
            StepError::other(format!(
                "{}\ninit: cannot download the chart's dependencies: {names}. The sidecar has no Helm repository \
             credentials and may not reach the repositories: vendor them (run `helm dependency build` and commit \
             charts/*.tgz), or make the repositories reachable from the repo-server pod",
                e.message
            ))
        },
    )?;
    Ok(())
}

/// Whether a stream holds at least one Kubernetes object, by its parsed documents (a `List`
/// counts its items; comments and empty kinds count for nothing).
pub fn has_object(text: &str) -> bool {
    postwire_core::objects::count(text) > 0
}

/// The manifests of a directory without Chart.yaml: its `*.yaml`, `*.yml` and `*.json` files
/// (not recursive, by name), each led by a `# Source:` comment so messages name the file.
/// `postwire render -f DIR` reads a directory the same way.
/// A symbolic link that leads out of the directory is refused, naming the link (as
/// `values-files` and `config` refuse one that leads out of the repository); the files
/// together may hold at most `limit` bytes.
pub fn directory_manifests(dir: &Path, skip: Option<&Path>, limit: u64) -> Step<String> {
    for k in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
        if dir.join(k).is_file() {
            return Err(StepError::other(format!(
                "generate: {k} found: this is a kustomize directory; postwire renders Helm charts and plain manifests. \
                 Use Argo CD's kustomize support with postwire as a KRM exec transformer (see the README)"
            )));
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| StepError::other(format!("generate: reading {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !name.starts_with('.') && [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext))
        })
        .filter(|p| skip.is_none_or(|s| normalize(p) != s))
        .collect();
    files.sort();
    refuse_links_out_of(dir, &files)?;
    let mut out = String::new();
    for file in files {
        let budget = limit.saturating_sub(out.len() as u64);
        let reader = std::fs::File::open(&file)
            .map_err(|e| StepError::other(format!("generate: reading {}: {e}", file.display())))?;
        let text = crate::input::read_text(reader, budget, &file.display().to_string()).map_err(|e| {
            StepError::other(if e.contains("input size limit") {
                crate::input::too_large(&format!("the manifests in {}", dir.display()), limit)
            } else {
                format!("generate: {e}")
            })
        })?;
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        out.push_str(&format!("---\n# Source: {name}\n{text}"));
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Refuse any of `files` that is a symbolic link leading outside `dir`.
fn refuse_links_out_of(dir: &Path, files: &[PathBuf]) -> Step<()> {
    let real_dir = dir.canonicalize().map_err(|e| StepError::other(format!("generate: {}: {e}", dir.display())))?;
    for file in files {
        let is_link = std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink());
        if is_link && !file.canonicalize().is_ok_and(|real| real.starts_with(&real_dir)) {
            return Err(StepError::other(format!(
                "{} is a symbolic link that leads outside {}; postwire reads only files inside the directory",
                file.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// `generate`: render the application (a Helm chart, or a directory of manifests) and run it
/// through postwire; the manifests for stdout.
pub fn generate(dir: &Path, env: &BTreeMap<String, String>, chart_config: ChartConfig) -> Step<String> {
    let params = params(env)?;
    let root = repo_root(dir, env.get("ARGOCD_APP_SOURCE_PATH").map(String::as_str));
    let config_path = match &params.config {
        Some(rel) => Some(file_in_repo("parameter config", rel, dir, &root)?),
        None => None,
    };
    let release = env.get("ARGOCD_APP_NAME").filter(|n| !n.is_empty());
    let namespace = env.get("ARGOCD_APP_NAMESPACE").filter(|n| !n.is_empty());

    let manifests = if dir.join("Chart.yaml").is_file() {
        let release = release.ok_or_else(|| {
            StepError::other("generate: ARGOCD_APP_NAME is not set (Argo CD sets it; export it to run this by hand)")
        })?;
        let mut args: Vec<String> = vec!["template".into(), release.clone(), ".".into(), "--include-crds".into()];
        if let Some(ns) = namespace {
            args.extend(["--namespace".into(), ns.clone()]);
        }
        if let Some(v) = env.get("KUBE_VERSION").filter(|v| !v.is_empty()) {
            args.extend(["--kube-version".into(), v.clone()]);
        }
        for api in env.get("KUBE_API_VERSIONS").into_iter().flat_map(|v| v.split(',')).filter(|a| !a.is_empty()) {
            args.extend(["--api-versions".into(), api.to_string()]);
        }
        for file in &params.values_files {
            let path = file_in_repo("parameter values-files", file, dir, &root)?;
            args.extend(["--values".into(), path.display().to_string()]);
        }
        for (k, v) in &params.helm_parameters {
            args.extend(["--set".into(), format!("{k}={v}")]);
        }
        let out = run(&helm(env), &args, dir, "generate: helm template")?;
        String::from_utf8(out)
            .map_err(|e| StepError::other(format!("generate: helm template wrote non-UTF-8 output: {e}")))?
    } else {
        if !params.values_files.is_empty() || !params.helm_parameters.is_empty() {
            return Err(StepError::config(format!(
                "generate: parameters values-files and helm-parameters need a Helm chart, and {} has no Chart.yaml",
                dir.display()
            )));
        }
        let limit = crate::input::max_input_bytes(None).map_err(StepError::config)?;
        directory_manifests(dir, config_path.as_deref(), limit)?
    };

    let mut request = RenderRequestV1::new(manifests);
    request.input = InputFormat::Manifests;
    request.chart_config = chart_config;
    request.context.release_name = release.cloned();
    request.context.namespace = namespace.cloned();
    request.context.env = context_env(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    request.set = params.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let (Some(path), Some(rel)) = (&config_path, &params.config) {
        let content = std::fs::read_to_string(path)
            .map_err(|e| StepError::config(format!("{rel}: invalid config: cannot read it: {e}")))?;
        request.config = Some(ConfigFileV1 { name: rel.clone(), content });
    }
    let mut runner = Runner::embedded().map_err(|e| StepError::other(format!("loading plugin.wasm: {e:#}")))?;
    let response =
        runner.render(&request).map_err(|e| StepError { message: e.message, code: e.code.clamp(1, 125) as u8 })?;
    for warning in response.report.warnings() {
        crate::errors::warn(&warning);
    }
    if !has_object(&response.manifests) {
        return Err(StepError::other(
            "generate: the render holds no Kubernetes objects; postwire does not succeed with empty output, \
             because Argo CD would prune every resource of the application (check the chart's values and the app path)",
        ));
    }
    Ok(response.manifests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn escaping_matches_argo_cd() {
        assert_eq!(escaped("values-files"), "VALUES_FILES");
        assert_eq!(escaped("image.tag"), "IMAGE_TAG");
        assert_eq!(escaped("a/b c_1"), "A_B_C_1");
    }

    #[test]
    fn parameters_come_from_the_json_with_their_keys() {
        let json = r#"[{"name":"values-files","array":["a.yaml","b c.yaml"]},{"name":"helm-parameters","map":{"image.tag":"v1","z":"$(x) 'q'"}},{"name":"config","string":"postwire.yaml"},{"name":"set","map":{"checksum.mode":"aggregate"}}]"#;
        let p = params(&env(&[("ARGOCD_APP_PARAMETERS", json), ("PARAM_HELM_PARAMETERS_IMAGE_TAG", "v1")])).unwrap();
        assert_eq!(p.values_files, ["a.yaml", "b c.yaml"]);
        assert_eq!(p.helm_parameters, [("image.tag".into(), "v1".into()), ("z".into(), "$(x) 'q'".into())]);
        assert_eq!(p.config.as_deref(), Some("postwire.yaml"));
        assert_eq!(p.set, [("checksum.mode".into(), "aggregate".into())]);
        assert_eq!(params(&env(&[("ARGOCD_APP_PARAMETERS", "null")])).unwrap(), Params::default());
    }

    #[test]
    fn wrong_parameters_are_errors_naming_them() {
        let e = |json: &str| params(&env(&[("ARGOCD_APP_PARAMETERS", json)])).unwrap_err().message;
        assert!(e(r#"[{"name":"value-files","array":[]}]"#).contains("unknown parameter `value-files`"));
        assert!(e(r#"[{"name":"values-files","string":"a.yaml"}]"#).contains("must be an array"));
        assert!(e(r#"[{"name":"set","array":["a"]}]"#).contains("must be a map"));
        assert!(e("{").contains("not the JSON array"));
    }

    #[test]
    fn without_the_json_strings_and_arrays_come_from_param_vars() {
        let p =
            params(&env(&[("PARAM_CONFIG", "c.yaml"), ("PARAM_VALUES_FILES_0", "a"), ("PARAM_VALUES_FILES_1", "b")]))
                .unwrap();
        assert_eq!((p.config.as_deref(), p.values_files), (Some("c.yaml"), vec!["a".to_string(), "b".to_string()]));
        let err = params(&env(&[("PARAM_SET_CHECKSUM_MODE", "aggregate")])).unwrap_err();
        assert!(err.message.contains("cannot be read back"), "{}", err.message);
    }

    #[test]
    fn files_stay_in_the_repository() {
        let root = std::env::temp_dir().join(format!("postwire-argocd-unit-{}", std::process::id()));
        let app = root.join("apps/web");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(root.join("shared.yaml"), "a: 1\n").unwrap();
        std::fs::write(app.join("v.yaml"), "a: 1\n").unwrap();
        assert_eq!(repo_root(&app, Some("apps/web")), root);
        assert_eq!(repo_root(&app, Some("./apps/web/")), root);
        assert_eq!(repo_root(&app, None), app);
        assert!(file_in_repo("f", "v.yaml", &app, &root).is_ok());
        assert!(file_in_repo("f", "../../shared.yaml", &app, &root).is_ok());
        assert!(file_in_repo("f", "../../../etc/passwd", &app, &root).unwrap_err().message.contains("outside"));
        assert!(file_in_repo("f", "/etc/passwd", &app, &root).unwrap_err().message.contains("relative"));
        assert!(file_in_repo("f", "nope.yaml", &app, &root).unwrap_err().message.contains("no such file"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn only_streams_with_a_kind_count_as_output() {
        assert!(has_object("apiVersion: v1\nkind: ConfigMap\n"));
        assert!(has_object("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}\n"));
        assert!(!has_object(""));
        assert!(!has_object("---\n# Source: x\n~\n---\n"));
        assert!(!has_object("data:\n  kind: x\n"));
        // What the old line heuristic took for objects: an empty List, comments, an empty kind.
        assert!(!has_object("apiVersion: v1\nkind: List\nitems: []\n"));
        assert!(!has_object("# kind: ConfigMap\n"));
        assert!(!has_object("# the \"kind\" of thing\n"));
        assert!(!has_object("kind:\n"));
    }

    #[cfg(unix)]
    #[test]
    fn directory_links_out_of_the_directory_are_refused() {
        let root = std::env::temp_dir().join(format!("postwire-links-{}", std::process::id()));
        let dir = root.join("app");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(root.join("outside.yaml"), "kind: Secret\n").unwrap();
        std::fs::write(dir.join("a.yaml"), "kind: ConfigMap\n").unwrap();
        std::os::unix::fs::symlink(dir.join("a.yaml"), dir.join("b.yaml")).unwrap();
        assert!(directory_manifests(&dir, None, 1 << 20).is_ok(), "a link inside the directory is fine");
        std::os::unix::fs::symlink(root.join("outside.yaml"), dir.join("c.yaml")).unwrap();
        let err = directory_manifests(&dir, None, 1 << 20).unwrap_err().message;
        assert!(err.contains("c.yaml is a symbolic link that leads outside"), "{err}");
        std::fs::remove_file(dir.join("c.yaml")).unwrap();
        let err = directory_manifests(&dir, None, 20).unwrap_err().message;
        assert!(err.contains("larger than 0 MiB") || err.contains("input size limit"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_context_env_is_the_build_environment_only() {
        let vars = context_env(
            [
                ("ARGOCD_APP_NAME", "web"),
                ("ARGOCD_ENV_TEAM", "x"),
                ("ARGOCD_APP_PARAMETERS", "[]"),
                ("HOME", "/tmp"),
                ("KUBE_VERSION", "1.30.1"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        assert_eq!(vars.keys().collect::<Vec<_>>(), ["ARGOCD_APP_NAME", "ARGOCD_ENV_TEAM", "KUBE_VERSION"]);
    }
}
