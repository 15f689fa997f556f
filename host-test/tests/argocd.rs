//! The Argo CD config-management plugin (`argocd-cmp/`) under a harness that behaves like
//! argocd-cmp-server, which cannot be built here (it needs a newer Go and its module proxy).
//!
//! What the harness reproduces of cmp-server and the repo-server (reference part A2):
//! - plugin.yaml is read as Argo CD reads it (a YAML 1.1 reader), and `init` then `generate` run
//!   exactly as it says: `command[0]` looked up on PATH with `command[1:] + args`, no shell,
//!   stdin empty, their own process group;
//! - each request gets a fresh copy of the repository under `_cmp_server/<unique>`, with file
//!   modes reset to 0644 / 0755, cwd at the application's path; the copy is deleted afterwards;
//! - the environment is the sidecar's own followed by the request's (later wins): the build
//!   environment (`ARGOCD_APP_*`, `KUBE_VERSION`, `KUBE_API_VERSIONS`), `ARGOCD_ENV_<name>` for
//!   each plugin env entry (expanded against the build environment, `$$` escaping `$`),
//!   `ARGOCD_APP_PARAMETERS` (the JSON of the parameters set, `null` for none) and `PARAM_*`
//!   with Argo CD's escaping;
//! - `init`'s stdout is discarded; a failing step gives "`<cmd args>` failed exit status N:
//!   <stderr>"; one deadline (minus cmp-server's 100 ms buffer) covers both steps, and on expiry
//!   the process group gets SIGTERM, then SIGKILL 5 s later;
//! - stdout is split the way apimachinery's YAML-or-JSON decoder splits it (`---` lines, or a
//!   JSON stream when it starts with `{`), empty and `null` documents are dropped, every other
//!   document must be an object with a `kind`, and objects with an `items` array are flattened.
//!
//! Not reproduced: the gRPC transport and its chunking, tar exclusions, discovery (the plugin has
//! no discover rules), `provideGitCreds`, and the manifest cache.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{self, TempDir};

/// The YAML 1.1 reader Argo CD's Go libraries stand for: PyYAML, one document per chunk.
fn load_chunks(python: &Path, chunks: &[String]) -> Vec<Value> {
    const SCRIPT: &str = "import sys, json, yaml\n\
        Loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\n\
        json.dump([yaml.load(c, Loader=Loader) for c in json.load(sys.stdin)], sys.stdout, default=str)\n";
    let out = util::run(Command::new(python).args(["-c", SCRIPT]), serde_json::to_string(chunks).unwrap().as_bytes());
    assert!(out.status.success(), "PyYAML: {}", util::describe(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// Argo CD's reading of a plugin's stdout: the objects it would apply, or its error.
pub(crate) fn parse_manifests(python: &Path, stdout: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = if stdout.trim_start().starts_with('{') {
        serde_json::Deserializer::from_str(stdout)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("error unmarshaling JSON: {e}"))?
    } else {
        // apimachinery YAMLReader: a line starting with `---` followed by nothing or a comment.
        let mut chunks = vec![String::new()];
        for line in stdout.split_inclusive('\n') {
            let rest = line.strip_prefix("---").map(str::trim);
            if rest.is_some_and(|r| r.is_empty() || r.starts_with('#')) {
                chunks.push(String::new());
            } else {
                chunks.last_mut().unwrap().push_str(line);
            }
        }
        chunks.retain(|c| !c.trim().is_empty());
        load_chunks(python, &chunks)
    };
    let mut objects = Vec::new();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        if doc.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!(
                "failed to convert CMP manifests to unstructured objects: Object 'Kind' is missing in '{doc}'"
            ));
        }
        match doc.get("items") {
            Some(Value::Array(items)) => objects.extend(items.iter().cloned()),
            _ => objects.push(doc),
        }
    }
    Ok(objects)
}

/// Argo CD's `escaped`: upper-case, then every character outside `[A-Z0-9_]` becomes `_`.
fn escaped(s: &str) -> String {
    s.to_uppercase()
        .chars()
        .map(|c| if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .collect()
}

/// `os.Expand` with Argo CD's mapping: `$$` is `$`, unknown variables are empty.
fn envsubst(s: &str, vars: &[(String, String)]) -> String {
    let lookup = |name: &str| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some('{') => {
                let rest = &s[i + 2..];
                let end = rest.find('}').unwrap_or(rest.len());
                out.push_str(&lookup(&rest[..end]));
                for _ in 0..end + 2 {
                    chars.next();
                }
            }
            _ => {
                let rest = &s[i + 1..];
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                out.push_str(&lookup(&rest[..end]));
                for _ in 0..end {
                    chars.next();
                }
            }
        }
    }
    out
}

/// A parameter as an Application sets it.
#[derive(Clone)]
pub(crate) enum Param {
    Str(&'static str, String),
    Array(&'static str, Vec<String>),
    Map(&'static str, Vec<(String, String)>),
}

/// An Application using the plugin.
#[derive(Clone)]
pub(crate) struct App {
    name: String,
    pub(crate) namespace: String,
    repo: PathBuf,
    path: String,
    revision: String,
    pub(crate) params: Option<Vec<Param>>,
    plugin_env: Vec<(String, String)>,
}

impl App {
    pub(crate) fn new(name: &str, repo: &Path, path: &str) -> App {
        App {
            name: name.into(),
            namespace: format!("{name}-ns"),
            repo: repo.to_path_buf(),
            path: path.into(),
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            params: Some(Vec::new()),
            plugin_env: Vec::new(),
        }
    }

    /// The request's environment, as the repo-server builds it.
    fn environ(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("ARGOCD_APP_NAME", self.name.clone()),
            ("ARGOCD_APP_NAMESPACE", self.namespace.clone()),
            ("ARGOCD_APP_PROJECT_NAME", "default".into()),
            ("ARGOCD_APP_REVISION", self.revision.clone()),
            ("ARGOCD_APP_REVISION_SHORT", self.revision[..7].into()),
            ("ARGOCD_APP_REVISION_SHORT_8", self.revision[..8].into()),
            ("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example.com/platform/apps.git".into()),
            ("ARGOCD_APP_SOURCE_PATH", self.path.clone()),
            ("ARGOCD_APP_SOURCE_TARGET_REVISION", "main".into()),
            ("KUBE_VERSION", "1.33.2".into()),
            ("KUBE_API_VERSIONS", "v1,apps/v1,batch/v1,networking.k8s.io/v1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let build = env.clone();
        for (name, value) in &self.plugin_env {
            env.push((format!("ARGOCD_ENV_{name}"), envsubst(value, &build)));
        }
        let Some(params) = &self.params else { return env };
        let json = |p: &Param| match p {
            Param::Str(n, s) => format!(r#"{{"name":{},"string":{}}}"#, json!(n), json!(s)),
            Param::Array(n, a) => format!(r#"{{"name":{},"array":{}}}"#, json!(n), json!(a)),
            Param::Map(n, m) => {
                let map: serde_json::Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                format!(r#"{{"name":{},"map":{}}}"#, json!(n), Value::Object(map))
            }
        };
        let all = if params.is_empty() {
            "null".to_string()
        } else {
            format!("[{}]", params.iter().map(json).collect::<Vec<_>>().join(","))
        };
        env.push(("ARGOCD_APP_PARAMETERS".into(), all));
        for p in params {
            match p {
                Param::Str(n, s) => env.push((format!("PARAM_{}", escaped(n)), s.clone())),
                Param::Array(n, a) => {
                    for (i, v) in a.iter().enumerate() {
                        env.push((format!("PARAM_{}_{i}", escaped(n)), v.clone()));
                    }
                }
                Param::Map(n, m) => {
                    for (k, v) in m {
                        env.push((format!("PARAM_{}_{}", escaped(n), escaped(k)), v.clone()));
                    }
                }
            }
        }
        env
    }
}

/// What a successful generate gave.
pub(crate) struct Generated {
    pub(crate) objects: Vec<Value>,
    stdout: String,
    stderr: String,
}

/// One sidecar: plugin.yaml, its container environment and the request deadline.
pub(crate) struct Sidecar {
    python: PathBuf,
    plugin: Value,
    env: Vec<(String, String)>,
    work: TempDir,
    deadline: Duration,
}

static REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// Copy a directory tree with modes reset as cmp-server's untar does (0644 files, 0755 dirs).
fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

impl Sidecar {
    /// The sidecar with the repository's plugin.yaml, Helm 4.3.1 and the built runner on PATH.
    pub(crate) fn new(test: &str) -> Option<Sidecar> {
        let python = util::python(test)?;
        let helm = util::helm4(test)?;
        let text = std::fs::read_to_string(util::workspace().join("argocd-cmp/plugin.yaml")).unwrap();
        let plugin = load_chunks(&python, &[text]).remove(0);
        let work = TempDir::new(&format!("cmp-{test}"));
        let bin = work.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(util::postwire_bin(), bin.join("postwire")).unwrap();
        std::os::unix::fs::symlink(&helm, bin.join("helm")).unwrap();
        for d in ["home", "cache"] {
            std::fs::create_dir_all(work.join(d)).unwrap();
        }
        let env = vec![
            ("PATH".to_string(), format!("{}:/usr/bin:/bin", bin.display())),
            ("HOME".to_string(), work.join("home").display().to_string()),
            ("HELM_CACHE_HOME".to_string(), work.join("home/helm/cache").display().to_string()),
            ("HELM_CONFIG_HOME".to_string(), work.join("home/helm/config").display().to_string()),
            ("HELM_DATA_HOME".to_string(), work.join("home/helm/data").display().to_string()),
            ("POSTWIRE_CACHE_DIR".to_string(), work.join("cache").display().to_string()),
        ];
        Some(Sidecar { python, plugin, env, work, deadline: Duration::from_secs(60) })
    }

    fn step(&self, name: &str) -> Option<Vec<String>> {
        let step = self.plugin.pointer(&format!("/spec/{name}"))?;
        let mut argv: Vec<String> =
            step["command"].as_array()?.iter().map(|c| c.as_str().unwrap().to_string()).collect();
        if let Some(args) = step.get("args").and_then(Value::as_array) {
            argv.extend(args.iter().map(|a| a.as_str().unwrap().to_string()));
        }
        (!argv.is_empty()).then_some(argv)
    }

    /// One GenerateManifest request.
    pub(crate) fn generate(&self, app: &App) -> Result<Generated, String> {
        let start = Instant::now();
        let until = start + self.deadline - Duration::from_millis(100);
        let n = REQUESTS.fetch_add(1, Ordering::SeqCst);
        let root = self.work.join(format!("_cmp_server/{}-{n}", std::process::id()));
        copy_tree(&app.repo, &root);
        let dir = root.join(&app.path);
        let mut env = self.env.clone();
        env.extend(app.environ());
        let result = (|| {
            if let Some(init) = self.step("init") {
                run_step(&init, &dir, &env, until)?;
            }
            let generate = self.step("generate").expect("plugin.yaml has spec.generate.command");
            run_step(&generate, &dir, &env, until)
        })();
        std::fs::remove_dir_all(&root).unwrap();
        let (stdout, stderr) = result?;
        let objects = parse_manifests(&self.python, &stdout)?;
        Ok(Generated { objects, stdout, stderr })
    }
}

/// Run one step as cmp-server's runCommand does; stdout and stderr, or its error text.
fn run_step(argv: &[String], dir: &Path, env: &[(String, String)], until: Instant) -> Result<(String, String), String> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.process_group(0);
    let shown = argv.join(" ");
    let mut child = cmd.spawn().map_err(|e| format!("`{shown}` failed: {e}"))?;
    let pgid = child.id().to_string();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let signal = |sig: &str| {
        let _ = Command::new("kill").args([sig, "--", &format!("-{pgid}")]).status();
    };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= until {
            signal("-TERM");
            let grace = Instant::now() + Duration::from_secs(5);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() >= grace {
                    signal("-KILL");
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Err(format!("`{shown}` failed timeout: context deadline exceeded"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out_reader.join().unwrap().map_err(|e| format!("`{shown}`: stdout is not UTF-8: {e}"))?;
    let stderr = err_reader.join().unwrap();
    if !status.success() {
        let cause = status.code().map_or("signal".to_string(), |c| format!("exit status {c}"));
        return Err(format!("`{shown}` failed {cause}: {}", stderr.trim()));
    }
    Ok((stdout, stderr))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {:?}", objects.iter().map(util::object_id).collect::<Vec<_>>()))
}

fn template_annotations(o: &Value) -> serde_json::Map<String, Value> {
    o.pointer("/spec/template/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// `helm template | postwire` by hand, parsed the same way: what the plugin must give.
fn by_hand(side: &Sidecar, app: &App, chart: &Path, helm_args: &[&str], postwire_args: &[&str]) -> Vec<Value> {
    let helm = util::helm4("by_hand").unwrap();
    let out = Command::new(&helm)
        .args(["template", &app.name, ".", "--include-crds", "--namespace", &app.namespace])
        .args(helm_args)
        .args(["--kube-version", "1.33.2", "--api-versions", "v1", "--api-versions", "apps/v1"])
        .args(["--api-versions", "batch/v1", "--api-versions", "networking.k8s.io/v1"])
        .current_dir(chart)
        .envs(side.env.iter().filter(|(k, _)| k != "PATH").cloned())
        .output()
        .unwrap();
    assert!(out.status.success(), "helm: {}", util::describe(&out));
    let cache = side.work.join("cache");
    let post = util::run(
        util::postwire(&cache).args(["--namespace", &app.namespace, "--release", &app.name]).args(postwire_args),
        &out.stdout,
    );
    assert!(post.status.success(), "postwire: {}", util::describe(&post));
    parse_manifests(&side.python, &String::from_utf8(post.stdout).unwrap()).unwrap()
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

const WEB_CHART: &[(&str, &str)] = &[
    ("Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n"),
    ("values.yaml", "replicas: 1\nimage:\n  tag: v1\nnote: none\nmarker: default\n"),
    (
        "templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  marker: {{ .Values.marker | quote }}\n",
    ),
    (
        "templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  annotations:\n    note: {{ .Values.note | quote }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: \"nginx:{{ .Values.image.tag }}\"\n        envFrom:\n        - configMapRef:\n            name: {{ .Release.Name }}-config\n",
    ),
];

#[test]
fn the_harness_builds_the_environment_as_argo_cd_does() {
    let mut app = App::new("web", Path::new("/nonexistent"), "apps/web");
    app.plugin_env = vec![("DD_env".into(), "prod-$ARGOCD_APP_NAME".into()), ("COST".into(), "$$5 ${NOPE}".into())];
    app.params = Some(vec![
        Param::Array("values-files", vec!["a.yaml".into(), "b.yaml".into()]),
        Param::Map("helm-parameters", vec![("image.tag".into(), "v2".into())]),
        Param::Str("config", "postwire.yaml".into()),
    ]);
    let env = app.environ();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("ARGOCD_ENV_DD_env"), Some("prod-web"));
    assert_eq!(get("ARGOCD_ENV_COST"), Some("$5 "));
    assert_eq!(get("ARGOCD_APP_REVISION_SHORT"), Some("0123456"));
    assert_eq!(get("PARAM_VALUES_FILES_1"), Some("b.yaml"));
    assert_eq!(get("PARAM_HELM_PARAMETERS_IMAGE_TAG"), Some("v2"));
    assert_eq!(get("PARAM_CONFIG"), Some("postwire.yaml"));
    assert_eq!(
        get("ARGOCD_APP_PARAMETERS"),
        Some(
            r#"[{"name":"values-files","array":["a.yaml","b.yaml"]},{"name":"helm-parameters","map":{"image.tag":"v2"}},{"name":"config","string":"postwire.yaml"}]"#
        )
    );
    app.params = Some(Vec::new());
    assert_eq!(app.environ().last().unwrap(), &("ARGOCD_APP_PARAMETERS".to_string(), "null".to_string()));
}

#[test]
fn the_harness_parses_stdout_as_argo_cd_does() {
    let Some(python) = util::python("the_harness_parses_stdout_as_argo_cd_does") else { return };
    let objects = parse_manifests(
        &python,
        "---\n~\n--- # c\napiVersion: v1\nkind: List\nitems:\n- {kind: A}\n- {kind: B}\n---\n\n",
    )
    .unwrap();
    assert_eq!(objects.iter().map(|o| o["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["A", "B"]);
    assert!(parse_manifests(&python, "foo: bar\n").unwrap_err().contains("Object 'Kind' is missing"));
    assert_eq!(parse_manifests(&python, "{\"kind\": \"A\"}\n{\"kind\": \"B\"}").unwrap().len(), 2);
    assert!(parse_manifests(&python, "").unwrap().is_empty());
}

#[test]
fn plugin_yaml_is_a_named_plugin_with_the_contract_parameters() {
    let Some(side) = Sidecar::new("plugin_yaml_is_a_named_plugin_with_the_contract_parameters") else { return };
    let p = &side.plugin;
    assert_eq!(
        (p["apiVersion"].as_str(), p["kind"].as_str()),
        (Some("argoproj.io/v1alpha1"), Some("ConfigManagementPlugin"))
    );
    assert_eq!(p["metadata"]["name"], "postwire");
    assert_eq!(p["spec"]["version"], "v1", "Applications name it postwire-v1 (README)");
    assert!(p["spec"].get("discover").is_none(), "no discovery by default");
    for key in p["spec"].as_object().unwrap().keys() {
        assert!(
            ["version", "init", "generate", "discover", "parameters", "preserveFileMode", "provideGitCreds"]
                .contains(&key.as_str()),
            "{key} is not a PluginConfigSpec field"
        );
    }
    let params: Vec<(String, String)> = p["spec"]["parameters"]["static"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().into(), a["collectionType"].as_str().unwrap_or("string").into()))
        .collect();
    let want = [("values-files", "array"), ("helm-parameters", "map"), ("config", "string"), ("set", "map")];
    assert_eq!(params, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // The copy the kustomize component packs is the same file.
    let root = util::workspace().join("argocd-cmp");
    assert_eq!(
        std::fs::read(root.join("plugin.yaml")).unwrap(),
        std::fs::read(root.join("kustomize/plugin.yaml")).unwrap()
    );
}

#[test]
fn the_example_chart_renders_as_by_hand() {
    let Some(side) = Sidecar::new("the_example_chart_renders_as_by_hand") else { return };
    let repo = util::workspace().join("examples");
    let mut app = App::new("shop", &repo, "quickstart/chart");
    app.params = Some(vec![Param::Str("config", "../postwire.yaml".into())]);
    let got = side.generate(&app).unwrap_or_else(|e| panic!("{e}"));
    let config = repo.join("quickstart/postwire.yaml");
    let want = by_hand(&side, &app, &repo.join("quickstart/chart"), &[], &["--config", config.to_str().unwrap()]);
    assert_eq!(got.objects, want);
    let deployment = got.objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert!(template_annotations(deployment).keys().any(|k| k.starts_with("checksum/")), "{deployment}");
    assert!(got.objects.iter().all(|o| o["kind"] != "PostwireConfig"));
}

#[test]
fn a_corpus_chart_with_vendored_dependencies_renders_as_by_hand() {
    let test = "a_corpus_chart_with_vendored_dependencies_renders_as_by_hand";
    let (Some(side), Some(shared)) = (Sidecar::new(test), util::shared(test)) else { return };
    // redis: Chart.lock with its `common` dependency unpacked in charts/ (init has nothing to do).
    let repo = shared.join("corpus/charts/redis");
    let mut app = App::new("cache", &repo, ".");
    // The chart makes up a random password unless it is given one.
    app.params = Some(vec![Param::Map("helm-parameters", vec![("auth.password".into(), "fixed".into())])]);
    let got = side.generate(&app).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.objects, by_hand(&side, &app, &repo, &["--set", "auth.password=fixed"], &[]));
    let sts = got.objects.iter().find(|o| o["kind"] == "StatefulSet").expect("a StatefulSet");
    assert!(template_annotations(sts).keys().any(|k| k.starts_with("checksum/configmap-")), "{sts}");
    assert!(got
        .objects
        .iter()
        .all(|o| o["metadata"]["namespace"] == "cache-ns" || o["metadata"].get("namespace").is_none()));
}

#[test]
fn parameters_of_every_type_reach_helm_and_postwire() {
    let Some(side) = Sidecar::new("parameters_of_every_type_reach_helm_and_postwire") else { return };
    let repo = TempDir::new("cmp-params-repo");
    write(
        &repo.0,
        &WEB_CHART
            .iter()
            .map(|(p, t)| (Box::leak(format!("apps/web/{p}").into_boxed_str()) as &str, *t))
            .collect::<Vec<_>>(),
    );
    write(
        &repo.0,
        &[
            ("values/prod.yaml", "replicas: 3\n"),
            ("apps/web/values-extra.yaml", "marker: extra\n"),
            ("platform/postwire.yaml", "checksum:\n  annotationPrefix: ${ARGOCD_ENV_TEAM}.example.com/\n"),
        ],
    );
    let mut app = App::new("web", &repo.0, "apps/web");
    let tricky = "a b $(touch pwned) 'single' \"double\" `tick`";
    app.plugin_env = vec![("TEAM".into(), "payments".into())];
    app.params = Some(vec![
        Param::Array("values-files", vec!["../../values/prod.yaml".into(), "values-extra.yaml".into()]),
        Param::Map("helm-parameters", vec![("image.tag".into(), "v2".into()), ("note".into(), tricky.into())]),
        Param::Str("config", "../../platform/postwire.yaml".into()),
        Param::Map("set", vec![("checksum.mode".into(), "aggregate".into())]),
    ]);
    let got = side.generate(&app).unwrap_or_else(|e| panic!("{e}"));
    let d = find(&got.objects, "Deployment", "web");
    assert_eq!(d["spec"]["replicas"], 3, "values-files: the repository's values/prod.yaml");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:v2",
        "helm-parameters with a dotted key"
    );
    assert_eq!(d["metadata"]["annotations"]["note"], tricky, "a value reaches Helm as one argument, unexpanded");
    assert_eq!(find(&got.objects, "ConfigMap", "web-config")["data"]["marker"], "extra");
    let annotations = template_annotations(d);
    assert!(annotations.contains_key("payments.example.com/config"), "config + set + ARGOCD_ENV_TEAM: {annotations:?}");
    assert_eq!(annotations.len(), 1, "{annotations:?}");
    // A values file outside the repository is refused.
    app.params = Some(vec![Param::Array("values-files", vec!["../../../../etc/passwd".into()])]);
    let err = side.generate(&app).err().unwrap();
    assert!(err.contains("failed exit status 3") && err.contains("outside the repository"), "{err}");
}

#[test]
fn a_failing_config_fails_generate_with_the_message() {
    let Some(side) = Sidecar::new("a_failing_config_fails_generate_with_the_message") else { return };
    let repo = TempDir::new("cmp-badconfig-repo");
    write(&repo.0, WEB_CHART);
    write(&repo.0, &[("postwire.yaml", "checksum:\n  mdoe: aggregate\n")]);
    let mut app = App::new("web", &repo.0, ".");
    app.params = Some(vec![Param::Str("config", "postwire.yaml".into())]);
    let err = side.generate(&app).err().expect("generate must fail");
    assert!(err.starts_with("`postwire argocd generate` failed exit status 3: "), "{err}");
    assert!(err.contains("postwire.yaml line 2") && err.contains("did you mean `mode`"), "{err}");
    // An unknown parameter name is refused, not ignored.
    app.params = Some(vec![Param::Array("value-files", vec!["x.yaml".into()])]);
    let err = side.generate(&app).err().unwrap();
    assert!(err.contains("unknown parameter `value-files`"), "{err}");
}

#[test]
fn missing_dependencies_are_built_or_explained() {
    let Some(side) = Sidecar::new("missing_dependencies_are_built_or_explained") else { return };
    let helm = util::helm4("missing_dependencies_are_built_or_explained").unwrap();
    // A file:// dependency that is not vendored: init builds it (no network needed).
    let repo = TempDir::new("cmp-deps-repo");
    write(
        &repo.0,
        &WEB_CHART
            .iter()
            .map(|(p, t)| (Box::leak(format!("lib/{p}").into_boxed_str()) as &str, *t))
            .collect::<Vec<_>>(),
    );
    write(
        &repo.0,
        &[
            ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: web\n  version: 0.1.0\n  repository: file://../lib\n"),
            ("app/templates/sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}\n"),
        ],
    );
    let lock = side.env.iter().filter(|(k, _)| k.starts_with("HELM_") || k == "HOME").cloned().collect::<Vec<_>>();
    let out = Command::new(&helm)
        .args(["dependency", "update", "."])
        .current_dir(repo.join("app"))
        .envs(lock)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    std::fs::remove_dir_all(repo.join("app/charts")).unwrap();
    let got = side.generate(&App::new("shop", &repo.0, "app")).unwrap_or_else(|e| panic!("{e}"));
    find(&got.objects, "ServiceAccount", "shop");
    assert!(
        template_annotations(find(&got.objects, "Deployment", "shop")).contains_key("checksum/configmap-shop-config")
    );

    // A dependency from a repository the sidecar cannot reach: init fails and says what to do.
    let unreachable = TempDir::new("cmp-deps-unreachable");
    write(
        &unreachable.0,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 20.1.0\n  repository: https://charts.invalid.example\n"),
            ("Chart.lock", "dependencies:\n- name: redis\n  repository: https://charts.invalid.example\n  version: 20.1.0\ndigest: sha256:0000000000000000000000000000000000000000000000000000000000000000\ngenerated: \"2026-01-01T00:00:00Z\"\n"),
            ("templates/sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n"),
        ],
    );
    let err = side.generate(&App::new("shop", &unreachable.0, ".")).err().expect("init must fail");
    assert!(err.starts_with("`postwire argocd init` failed exit status 1: "), "{err}");
    assert!(err.contains("redis 20.1.0 (missing)") && err.contains("vendor them"), "{err}");
    // Without a Chart.lock there is nothing to build from.
    std::fs::remove_file(unreachable.join("Chart.lock")).unwrap();
    let err = side.generate(&App::new("shop", &unreachable.0, ".")).err().unwrap();
    assert!(err.contains("no Chart.lock"), "{err}");
}

#[test]
fn plain_manifests_and_empty_renders() {
    let Some(side) = Sidecar::new("plain_manifests_and_empty_renders") else { return };
    let repo = TempDir::new("cmp-plain-repo");
    write(
        &repo.0,
        &[
            ("a-config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n"),
            ("b-pod.json", "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}, \"spec\": {\"volumes\": [{\"name\": \"s\", \"configMap\": {\"name\": \"settings\"}}]}}\n"),
            ("postwire.yaml", "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nchecksum: {mode: aggregate}\n"),
            ("README.md", "not a manifest\n"),
        ],
    );
    let mut app = App::new("plain", &repo.0, ".");
    app.params = Some(vec![Param::Str("config", "postwire.yaml".into())]);
    let got = side.generate(&app).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.objects.len(), 2, "{}", got.stdout);
    assert!(find(&got.objects, "Pod", "p")["metadata"]["annotations"]["checksum/config"].is_string());

    // A chart that renders nothing: generate fails instead of letting Argo CD prune everything.
    let empty = TempDir::new("cmp-empty-repo");
    write(
        &empty.0,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: e\nversion: 0.1.0\n"),
            ("templates/x.yaml", "{{- if false }}\nkind: ConfigMap\n{{- end }}\n"),
        ],
    );
    let err = side.generate(&App::new("e", &empty.0, ".")).err().expect("empty output must fail");
    assert!(err.contains("failed exit status 1") && err.contains("holds no Kubernetes objects"), "{err}");
}

#[test]
fn a_charts_postwire_config_counts_unless_the_sidecar_ignores_it() {
    let Some(mut side) = Sidecar::new("a_charts_postwire_config_counts_unless_the_sidecar_ignores_it") else { return };
    let repo = TempDir::new("cmp-chartconfig-repo");
    write(&repo.0, WEB_CHART);
    write(
        &repo.0,
        &[(
            "templates/postwire.yaml",
            "apiVersion: postwire.dev/v1alpha1\nkind: PostwireConfig\nchecksum:\n  mode: aggregate\n",
        )],
    );
    let app = App::new("web", &repo.0, ".");
    let merged = side.generate(&app).unwrap_or_else(|e| panic!("{e}"));
    assert!(template_annotations(find(&merged.objects, "Deployment", "web")).contains_key("checksum/config"));
    side.env.push(("POSTWIRE_CHART_CONFIG".into(), "ignore".into()));
    let ignored = side.generate(&app).unwrap_or_else(|e| panic!("{e}"));
    let annotations = template_annotations(find(&ignored.objects, "Deployment", "web"));
    assert!(annotations.contains_key("checksum/configmap-web-config"), "{annotations:?}");
    assert!(ignored.objects.iter().all(|o| o["kind"] != "PostwireConfig"));
    assert!(
        ignored.stderr.contains("--chart-config=ignore"),
        "the warning reaches the sidecar log: {}",
        ignored.stderr
    );
}

#[test]
fn sixteen_concurrent_generates_are_isolated_and_correct() {
    let Some(side) = Sidecar::new("sixteen_concurrent_generates_are_isolated_and_correct") else { return };
    let repo = TempDir::new("cmp-concurrent-repo");
    for i in 0..16 {
        let files: Vec<(String, String)> = WEB_CHART
            .iter()
            .map(|(p, t)| (format!("apps/app-{i}/{p}"), t.replace("marker: default", &format!("marker: app-{i}-only"))))
            .collect();
        write(&repo.0, &files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>());
    }
    let apps: Vec<App> = (0..16).map(|i| App::new(&format!("app-{i}"), &repo.0, &format!("apps/app-{i}"))).collect();
    // Each app alone first: the answers the concurrent runs must give.
    let alone: Vec<Vec<Value>> =
        apps.iter().map(|a| side.generate(a).unwrap_or_else(|e| panic!("{e}")).objects).collect();
    let start = Instant::now();
    let together: Vec<Result<Generated, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = apps.iter().map(|a| s.spawn(|| side.generate(a))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("16 concurrent generates took {:?}", start.elapsed());
    let hashes: std::collections::BTreeSet<String> = together
        .iter()
        .zip(&alone)
        .enumerate()
        .map(|(i, (got, want))| {
            let got = got.as_ref().unwrap_or_else(|e| panic!("app-{i}: {e}"));
            assert_eq!(&got.objects, want, "app-{i}");
            assert!(!got.stdout.contains(&format!("app-{}-only", (i + 1) % 16)), "app-{i} saw another app's data");
            let d = find(&got.objects, "Deployment", &format!("app-{i}"));
            assert_eq!(d["metadata"]["namespace"].as_str().map(String::from), None);
            template_annotations(d)[&format!("checksum/configmap-app-{i}-config")].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(hashes.len(), 16, "each app's checksum is of its own ConfigMap");
}

#[test]
fn the_deadline_is_enforced() {
    let Some(mut side) = Sidecar::new("the_deadline_is_enforced") else { return };
    side.plugin["spec"]["init"] = json!({"command": ["sleep", "30"]});
    side.deadline = Duration::from_millis(600);
    let repo = TempDir::new("cmp-deadline-repo");
    write(&repo.0, WEB_CHART);
    let started = Instant::now();
    let err = side.generate(&App::new("web", &repo.0, ".")).err().unwrap();
    assert_eq!(err, "`sleep 30` failed timeout: context deadline exceeded");
    assert!(started.elapsed() < Duration::from_secs(20), "the process group was killed");
}

// --- the deployment pieces -------------------------------------------------------------------

/// Check a repo-server pod spec for the postwire sidecar: command, user, HOME, mounts and the
/// volumes they name.
fn assert_sidecar(pod: &Value, config_volume: &str, sub_path: &str) {
    let containers = pod["containers"].as_array().unwrap();
    let c = containers.iter().find(|c| c["name"] == "postwire").expect("a postwire container");
    assert_eq!(c["command"], json!(["/var/run/argocd/argocd-cmp-server"]));
    assert_eq!(c["securityContext"]["runAsUser"], 999);
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    let env: Vec<(&str, &str)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert!(
        env.contains(&("HOME", "/tmp")) && env.iter().any(|(k, v)| *k == "HELM_CACHE_HOME" && v.starts_with("/tmp/")),
        "{env:?}"
    );
    let mounts: Vec<&Value> = c["volumeMounts"].as_array().unwrap().iter().collect();
    let mount = |path: &str| {
        mounts.iter().find(|m| m["mountPath"] == path).unwrap_or_else(|| panic!("no mount at {path}: {mounts:?}"))
    };
    assert_eq!(mount("/var/run/argocd")["name"], "var-files");
    assert_eq!(mount("/home/argocd/cmp-server/plugins")["name"], "plugins");
    let config = mount("/home/argocd/cmp-server/config/plugin.yaml");
    assert_eq!((config["name"].as_str(), config["subPath"].as_str()), (Some(config_volume), Some(sub_path)));
    let tmp = mount("/tmp")["name"].as_str().unwrap();
    let volumes = pod["volumes"].as_array().unwrap();
    for m in &mounts {
        assert!(volumes.iter().any(|v| v["name"] == m["name"]), "mount {} has no volume", m["name"]);
    }
    let tmp_volume = volumes.iter().find(|v| v["name"] == tmp).unwrap();
    assert!(tmp_volume.get("emptyDir").is_some(), "its own /tmp emptyDir");
    let repo_server =
        containers.iter().find(|c| c["name"] == "repo-server" || c["name"] == "argocd-repo-server").unwrap();
    assert!(
        repo_server["volumeMounts"].as_array().unwrap().iter().all(|m| m["name"] != tmp),
        "the sidecar does not share the repo-server's tmp"
    );
}

fn plugin_spec() -> Option<(PathBuf, Value)> {
    let python = util::python("plugin_spec")?;
    let text = std::fs::read_to_string(util::workspace().join("argocd-cmp/plugin.yaml")).unwrap();
    let spec = load_chunks(&python, &[text]).remove(0);
    Some((python, spec))
}

#[test]
fn the_argo_cd_chart_renders_the_sidecar_with_these_values() {
    let test = "the_argo_cd_chart_renders_the_sidecar_with_these_values";
    let (Some(helm), Some(shared), Some((python, plugin))) = (util::helm4(test), util::shared(test), plugin_spec())
    else {
        return;
    };
    let home = util::HelmHome::new("cmp-argo-chart");
    let values = util::workspace().join("argocd-cmp/helm/values.yaml");
    let out = home
        .cmd(&helm)
        .args(["template", "argocd", shared.join("corpus/charts/argo-cd").to_str().unwrap(), "-n", "argocd", "-f"])
        .arg(&values)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    let docs = util::yaml_docs(&python, &String::from_utf8(out.stdout).unwrap());
    let cm = util::find_object(&docs, "ConfigMap/argocd/argocd-cmp-cm");
    let rendered = load_chunks(&python, &[cm["data"]["postwire.yaml"].as_str().unwrap().to_string()]).remove(0);
    assert_eq!(rendered, plugin, "the ConfigMap holds argocd-cmp/plugin.yaml");
    let deployment = util::find_object(&docs, "Deployment/argocd/argocd-repo-server");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_sidecar(pod, "argocd-cmp-cm", "postwire.yaml");
    let annotations = template_annotations(deployment);
    assert!(
        annotations.contains_key("checksum/cmp-cm"),
        "a plugin.yaml change restarts the repo-server: {annotations:?}"
    );
}

#[test]
fn the_kustomize_component_adds_the_sidecar() {
    let test = "the_kustomize_component_adds_the_sidecar";
    let (Some(helm), Some(shared), Some((python, plugin))) = (util::helm4(test), util::shared(test), plugin_spec())
    else {
        return;
    };
    let Some(kubectl) = util::tool(test, "POSTWIRE_KUBECTL", "bin/kubectl") else { return };
    let home = util::HelmHome::new("cmp-kustomize");
    // The base: Argo CD's repo-server Deployment, as the upstream chart renders it.
    let out = home
        .cmd(&helm)
        .args(["template", "argocd", shared.join("corpus/charts/argo-cd").to_str().unwrap(), "-n", "argocd"])
        .args(["-s", "templates/argocd-repo-server/deployment.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    let dir = TempDir::new("cmp-kustomize-base");
    std::fs::write(dir.join("repo-server.yaml"), &out.stdout).unwrap();
    // kustomize takes components by relative path only.
    let up = "../".repeat(dir.0.components().count() - 1);
    let component =
        format!("{up}{}", util::workspace().join("argocd-cmp/kustomize").display().to_string().trim_start_matches('/'));
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("resources: [repo-server.yaml]\ncomponents: [{component}]\n"),
    )
    .unwrap();
    let out = Command::new(&kubectl)
        .args(["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    let docs = util::yaml_docs(&python, &String::from_utf8(out.stdout).unwrap());
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").expect("the generated ConfigMap");
    let name = cm["metadata"]["name"].as_str().unwrap();
    assert_eq!(name, "postwire-cmp-plugin");
    assert_eq!(load_chunks(&python, &[cm["data"]["plugin.yaml"].as_str().unwrap().to_string()]).remove(0), plugin);
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_sidecar(pod, "postwire-cmp-plugin", "plugin.yaml");
    let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "postwire-cmp-plugin").unwrap();
    assert_eq!(volume["configMap"]["name"], name);
}

#[test]
fn the_image_setup_precompiles_the_module_and_passes_its_self_test() {
    let test = "the_image_setup_precompiles_the_module_and_passes_its_self_test";
    let Some(helm) = util::helm4(test) else { return };
    let root = TempDir::new("cmp-image-root");
    let out = Command::new("sh")
        .arg(util::workspace().join("argocd-cmp/image/setup.sh"))
        .arg(&root.0)
        .env("POSTWIRE", util::postwire_bin())
        .env("HELM", &helm)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    assert_eq!(
        std::fs::read(root.join("home/argocd/cmp-server/config/plugin.yaml")).unwrap(),
        std::fs::read(util::workspace().join("argocd-cmp/plugin.yaml")).unwrap()
    );
    let cache = root.join("var/cache/postwire");
    let files = |dir: &Path| -> usize {
        fn count(d: &Path) -> usize {
            std::fs::read_dir(d)
                .map_or(0, |r| r.flatten().map(|e| if e.path().is_dir() { count(&e.path()) } else { 1 }).sum())
        }
        count(dir)
    };
    let before = files(&cache.join("modules"));
    assert!(before > 0, "the module is cached");
    // A request with the image's cache compiles nothing new.
    let chart = TempDir::new("cmp-image-chart");
    write(&chart.0, WEB_CHART);
    let out = Command::new(util::postwire_bin())
        .args(["argocd", "generate"])
        .current_dir(&chart.0)
        .env("POSTWIRE_CACHE_DIR", &cache)
        .env("POSTWIRE_HELM", &helm)
        .env("ARGOCD_APP_NAME", "web")
        .env("HOME", chart.join("home"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", util::describe(&out));
    assert_eq!(files(&cache.join("modules")), before, "no request compiles the module again");
}
