//! Shared helpers: where the runner, the tools and the shared data are; running commands.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `../shared` beside the repository, or None (with a skip message) when it is absent.
pub fn shared(test: &str) -> Option<PathBuf> {
    let dir = workspace().join("../shared");
    if dir.join("corpus").is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        skip(test, &format!("{} is absent (the shared corpus sits beside the repository)", dir.display()));
        None
    }
}

/// Report a skipped test, or fail when everything is required.
pub fn skip(test: &str, why: &str) {
    if std::env::var("POSTWIRE_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{test}: required but cannot run: {why}");
    }
    eprintln!("skipped {test} because {why}");
    // The test harness captures stderr of passing tests: the test command counts skips from here.
    if let Some(path) = std::env::var_os("POSTWIRE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut log) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(log, "skipped {test} because {why}");
        }
    }
}

/// The built runner beside this test binary (`target/<profile>/postwire`).
pub fn postwire_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("postwire");
    assert!(
        bin.is_file(),
        "{} is missing: build the runner first (cargo build --release -p postwire), or run scripts/test.sh",
        bin.display()
    );
    bin
}

/// The tools directory `scripts/install-tools.sh` fills.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("POSTWIRE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/postwire/tools"))
}

/// A tool by its `POSTWIRE_*` variable or its default location; None (with a skip message)
/// when it is not installed.
pub fn tool(test: &str, var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| tools_dir().join(default));
    if path.is_file() {
        Some(path)
    } else {
        skip(test, &format!("{} not found (set {var} or run scripts/install-tools.sh)", path.display()));
        None
    }
}

/// Helm 4.3.1.
pub fn helm4(test: &str) -> Option<PathBuf> {
    tool(test, "POSTWIRE_HELM4", "bin/helm4")
}

/// Helm 3.17.3.
pub fn helm3(test: &str) -> Option<PathBuf> {
    tool(test, "POSTWIRE_HELM3", "bin/helm3")
}

/// The Python of the tools venv (PyYAML, kubernetes-validate).
pub fn python(test: &str) -> Option<PathBuf> {
    tool(test, "POSTWIRE_PYTHON", "venv/bin/python")
}

/// Go yaml.v2 oracle binary.
pub fn yamlv2(test: &str) -> Option<PathBuf> {
    tool(test, "POSTWIRE_YAMLV2", "bin/yamlv2json")
}

/// host-test/oracle/oracle.py
pub fn oracle_py() -> PathBuf {
    workspace().join("host-test/oracle/oracle.py")
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Create one named after the test.
    pub fn new(name: &str) -> TempDir {
        let base = std::env::temp_dir().join(format!("postwire-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        TempDir(base)
    }

    /// A path inside it.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run a command with `stdin` and return its output.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The runner with its cache in a private directory (so tests do not share state).
pub fn postwire(cache: &Path) -> Command {
    let mut cmd = Command::new(postwire_bin());
    cmd.env("POSTWIRE_CACHE_DIR", cache);
    cmd
}

/// stdout and stderr as text, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The YAML reader oracle (`host-test/oracle/oracle.py`) with both of its readers installed.
#[derive(Debug, Clone)]
pub struct Oracle {
    /// The venv Python with PyYAML.
    pub python: PathBuf,
    /// The Go yaml.v2 reader binary.
    pub yamlv2: PathBuf,
}

impl Oracle {
    /// The oracle, or None (with a skip message) when Python or yaml.v2 is not installed.
    pub fn find(test: &str) -> Option<Oracle> {
        Some(Oracle { python: python(test)?, yamlv2: yamlv2(test)? })
    }

    /// `oracle.py ARGS`, with `POSTWIRE_YAMLV2` pointing at the Go reader.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(&self.python);
        cmd.arg(oracle_py()).args(args).env("POSTWIRE_YAMLV2", &self.yamlv2);
        cmd
    }

    /// Run `oracle.py ARGS` (no stdin) and return its output.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run(&mut self.command(args), b"")
    }

    /// Run `oracle.py ARGS` and parse its stdout as JSON; panics with the output on failure.
    pub fn json<I, S>(&self, args: I) -> serde_json::Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command(args);
        let shown = format!("{cmd:?}");
        let out = run(&mut cmd, b"");
        assert!(out.status.success(), "{shown} failed:\n{}", describe(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{shown}: stdout is not JSON ({e}):\n{}", describe(&out)))
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for the Helm and CLI tests (helm4.rs, helm3.rs, cli.rs).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse a YAML stream with PyYAML (an independent reader) into JSON values, one per
/// non-empty document.
pub fn yaml_docs(python: &Path, text: &str) -> Vec<Value> {
    const SCRIPT: &str = "import sys, json, yaml\n\
        Loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\n\
        docs = [d for d in yaml.load_all(sys.stdin.read(), Loader=Loader) if d is not None]\n\
        json.dump(docs, sys.stdout, default=str)\n";
    let out = run(Command::new(python).args(["-c", SCRIPT]), text.as_bytes());
    assert!(out.status.success(), "PyYAML could not read the stream: {}\n--- stream\n{text}", describe(&out));
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(docs) => docs,
        other => panic!("PyYAML gave {other}"),
    }
}

/// Quote a word for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Run `shell_cmd` (sh syntax) under a pseudo-terminal with `script`, so that the command has
/// a controlling terminal like a user's shell. stdout of the result is what the terminal
/// showed. None (with a skip message) when `script` is not available.
pub fn in_pty(test: &str, shell_cmd: &str, envs: &[(&str, &Path)]) -> Option<Output> {
    if Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        skip(test, "`script` (util-linux) is not available to run a pseudo-terminal");
        return None;
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", shell_cmd, "/dev/null"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Some(cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("spawn script: {e}")))
}

/// Private Helm directories (plugins, data, config, cache, HOME) and a private postwire cache,
/// so a test neither reads nor changes the user's Helm setup.
pub struct HelmHome {
    pub dir: TempDir,
}

impl HelmHome {
    pub fn new(name: &str) -> HelmHome {
        let dir = TempDir::new(name);
        for d in ["plugins", "data", "config", "cache", "home", "postwire-cache"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        HelmHome { dir }
    }

    /// `$HELM_PLUGINS`.
    pub fn plugins(&self) -> PathBuf {
        self.dir.join("plugins")
    }

    /// `$POSTWIRE_CACHE_DIR` of postwire runs under this Helm.
    pub fn postwire_cache(&self) -> PathBuf {
        self.dir.join("postwire-cache")
    }

    /// The environment variables of a Helm run.
    pub fn envs(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("HOME", self.dir.join("home")),
            ("HELM_PLUGINS", self.plugins()),
            ("HELM_DATA_HOME", self.dir.join("data")),
            ("HELM_CONFIG_HOME", self.dir.join("config")),
            ("HELM_CACHE_HOME", self.dir.join("cache")),
            ("POSTWIRE_CACHE_DIR", self.postwire_cache()),
        ]
    }

    /// `helm` with a clean environment: PATH plus the private directories.
    pub fn cmd(&self, helm: &Path) -> Command {
        let mut cmd = Command::new(helm);
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in self.envs() {
            cmd.env(k, v);
        }
        cmd
    }
}

/// host-test/charts/fixture
pub fn fixture_chart() -> PathBuf {
    workspace().join("host-test/charts/fixture")
}

/// A value at a path of JSON object keys.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// `Kind/namespace/name` (or `Kind/name`) of a manifest.
pub fn object_id(doc: &Value) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("?");
    let name = at(doc, &["metadata", "name"]).and_then(Value::as_str).unwrap_or("?");
    match at(doc, &["metadata", "namespace"]).and_then(Value::as_str) {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// The manifest with `Kind/.../name` `id`; panics with the list of ids when absent.
pub fn find_object<'a>(docs: &'a [Value], id: &str) -> &'a Value {
    docs.iter()
        .find(|d| object_id(d) == id)
        .unwrap_or_else(|| panic!("{id} not found; objects: {:?}", docs.iter().map(object_id).collect::<Vec<_>>()))
}

/// A Helm hook (`helm.sh/hook` annotation).
pub fn is_hook(doc: &Value) -> bool {
    at(doc, &["metadata", "annotations", "helm.sh/hook"]).is_some()
}

/// Where a kind keeps its pod template (the object holding `metadata` and `spec`).
pub fn pod_template_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" => {
            Some(&["spec", "template"])
        }
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"]),
        "Pod" => Some(&[]),
        _ => None,
    }
}

/// The pod template annotations of a workload (empty when it has none).
pub fn template_annotations(doc: &Value) -> BTreeMap<String, String> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(path) = pod_template_path(kind) else {
        return BTreeMap::new();
    };
    let mut full: Vec<&str> = path.to_vec();
    full.extend(["metadata", "annotations"]);
    at(doc, &full)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))).collect()
        })
        .unwrap_or_default()
}

/// Per-object checksum keys (`checksum/configmap-*`, `checksum/secret-*`) of a pod template.
pub fn per_object_checksums(doc: &Value) -> BTreeMap<String, String> {
    template_annotations(doc)
        .into_iter()
        .filter(|(k, _)| k.starts_with("checksum/configmap-") || k.starts_with("checksum/secret-"))
        .collect()
}

/// The ConfigMaps and Secrets a pod spec uses: (`configmap`|`secret`, name), read
/// independently of postwire from volumes, projected volumes, envFrom and env valueFrom.
pub fn pod_spec_refs(pod_spec: &Value) -> BTreeSet<(&'static str, String)> {
    let mut refs = BTreeSet::new();
    let mut add = |kind: &'static str, name: Option<&Value>| {
        if let Some(n) = name.and_then(Value::as_str).filter(|n| !n.is_empty()) {
            refs.insert((kind, n.to_string()));
        }
    };
    let items = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    for vol in items(pod_spec.get("volumes")) {
        add("configmap", at(&vol, &["configMap", "name"]));
        add("secret", at(&vol, &["secret", "secretName"]));
        for src in items(at(&vol, &["projected", "sources"])) {
            add("configmap", at(&src, &["configMap", "name"]));
            add("secret", at(&src, &["secret", "name"]));
        }
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(pod_spec.get(list)) {
            for e in items(c.get("envFrom")) {
                add("configmap", at(&e, &["configMapRef", "name"]));
                add("secret", at(&e, &["secretRef", "name"]));
            }
            for e in items(c.get("env")) {
                add("configmap", at(&e, &["valueFrom", "configMapKeyRef", "name"]));
                add("secret", at(&e, &["valueFrom", "secretKeyRef", "name"]));
            }
        }
    }
    refs
}

/// postwire's documented content hash of a ConfigMap or Secret (`doc` as a YAML reader loaded
/// it): the engine's one rule, `postwire_core::wiring::checksum::content_hash`, over the same
/// content written as JSON. None when a `binaryData`, `data` or `stringData` value is not a
/// string (the reader then no longer tells what was written).
pub fn content_hash(doc: &Value) -> Option<String> {
    let mut content = serde_json::Map::new();
    for field in ["binaryData", "data", "stringData"] {
        match doc.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) if m.values().all(Value::is_string) => {
                content.insert(field.to_string(), Value::Object(m.clone()));
            }
            Some(_) => return None,
        }
    }
    let text = serde_json::to_string(&Value::Object(content)).unwrap();
    let tree = postwire_core::yaml::Tree::parse(&text, 0).expect("JSON is YAML");
    Some(postwire_core::wiring::checksum::content_hash(&tree, tree.root().expect("a mapping")))
}

/// The annotation key postwire documents for a ConfigMap or Secret (`checksum/configmap-<name>`,
/// shortened with a hash of the name past 63 characters).
pub fn checksum_key(kind: &str, name: &str) -> String {
    let mut suffix = format!("{kind}-{name}");
    if suffix.len() > 63 {
        let mut cut = 54;
        while !suffix.is_char_boundary(cut) {
            cut -= 1;
        }
        suffix = format!("{}-{}", &suffix[..cut], &sha256_hex(name.as_bytes())[..8]);
    }
    format!("checksum/{suffix}")
}

/// Which documents the post-renderer saw: Helm 4 post-renders hooks, Helm 3 does not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hooks {
    PostRendered,
    NotPostRendered,
}

/// Check the per-object checksum annotations of a rendered stream against expectations
/// computed here from the stream itself: every workload whose pod spec uses a ConfigMap or
/// Secret that the post-renderer saw has exactly the matching `checksum/<kind>-<name>` keys
/// (Jobs only when they are hooks), each a 64-hex value equal to the content hash of that
/// object; no other object gets such keys. `raw` is the same render without post-renderer:
/// keys the chart writes itself are not postwire's. Returns the keys found per object id.
pub fn assert_checksums(
    docs: &[Value],
    raw: &[Value],
    hooks: Hooks,
    context: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let seen = |d: &&Value| hooks == Hooks::PostRendered || !is_hook(d);
    let contents: Vec<(&'static str, String, Option<String>, Option<String>)> = docs
        .iter()
        .filter(seen)
        .filter_map(|d| {
            let kind = match d.get("kind").and_then(Value::as_str)? {
                "ConfigMap" => "configmap",
                "Secret" => "secret",
                _ => return None,
            };
            Some((
                kind,
                at(d, &["metadata", "name"])?.as_str()?.to_string(),
                at(d, &["metadata", "namespace"]).and_then(Value::as_str).map(String::from),
                content_hash(d),
            ))
        })
        .collect();
    let mut found = BTreeMap::new();
    for doc in docs {
        let id = object_id(doc);
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        let chart_own: BTreeMap<String, String> =
            raw.iter().find(|r| object_id(r) == id).map(per_object_checksums).unwrap_or_default();
        let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
        let wired = pod_template_path(kind).is_some() && seen(&doc) && (kind != "Job" || is_hook(doc));
        if wired {
            let path = pod_template_path(kind).unwrap();
            let mut spec_path = path.to_vec();
            spec_path.push("spec");
            let ns = at(doc, &["metadata", "namespace"]).and_then(Value::as_str);
            if let Some(spec) = at(doc, &spec_path) {
                for (rkind, rname) in pod_spec_refs(spec) {
                    let target = contents.iter().find(|(k, n, cns, _)| {
                        *k == rkind
                            && *n == rname
                            && match (cns.as_deref(), ns) {
                                (Some(a), Some(b)) => a == b,
                                _ => true,
                            }
                    });
                    if let Some((_, _, _, hash)) = target {
                        expected.insert(checksum_key(rkind, &rname), hash.clone());
                    }
                }
            }
        }
        let actual: BTreeMap<String, String> = per_object_checksums(doc)
            .into_iter()
            .filter(|(k, v)| expected.contains_key(k) || chart_own.get(k) != Some(v))
            .collect();
        assert_eq!(
            actual.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{context}: checksum keys of {id} (hooks {hooks:?})"
        );
        for (key, value) in &actual {
            assert!(
                value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{context}: {id} {key}: `{value}` is not 64 lowercase hex digits"
            );
            if let Some(Some(hash)) = expected.get(key) {
                assert_eq!(value, hash, "{context}: {id} {key} is not the content hash");
            }
        }
        if !actual.is_empty() {
            found.insert(id, actual);
        }
    }
    found
}

/// Assert that `post` (a post-rendered stream) equals `raw` (the same render without
/// post-renderer) except for the per-object checksum annotations postwire adds to pod
/// templates: nothing else was changed, dropped or added.
pub fn assert_only_checksums_added(post: &[Value], raw: &[Value], context: &str) {
    let index = |docs: &[Value]| -> BTreeMap<String, Vec<Value>> {
        let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for d in docs {
            map.entry(object_id(d)).or_default().push(d.clone());
        }
        map
    };
    let (post_ix, raw_ix) = (index(post), index(raw));
    assert_eq!(
        post_ix.keys().collect::<Vec<_>>(),
        raw_ix.keys().collect::<Vec<_>>(),
        "{context}: objects differ from the render without post-renderer"
    );
    for (id, posts) in post_ix {
        let raws = &raw_ix[&id];
        assert_eq!(posts.len(), raws.len(), "{context}: number of {id}");
        for (mut p, r) in posts.into_iter().zip(raws) {
            let kind = p.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
            if let Some(path) = pod_template_path(&kind) {
                let raw_meta = at(r, path).and_then(|t| t.get("metadata"));
                let raw_ann = raw_meta.and_then(|m| m.get("annotations")).and_then(Value::as_object);
                let mut t = &mut p;
                for k in path {
                    t = t.get_mut(*k).unwrap();
                }
                if let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                    if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
                        ann.retain(|k, _| {
                            !((k.starts_with("checksum/configmap-") || k.starts_with("checksum/secret-"))
                                && !raw_ann.is_some_and(|a| a.contains_key(k)))
                        });
                        if ann.is_empty() && raw_ann.is_none() {
                            meta.remove("annotations");
                        }
                    }
                }
            }
            assert!(
                &p == r,
                "{context}: {id} changed beyond checksum annotations\n--- post-rendered (checksums removed)\n{}\n--- without post-renderer\n{}",
                serde_json::to_string_pretty(&p).unwrap(),
                serde_json::to_string_pretty(r).unwrap()
            );
        }
    }
}

/// Lines of `before` missing from `after` (a longest common subsequence), and added lines.
pub fn line_diff<'a>(before: &'a str, after: &'a str) -> (Vec<&'a str>, Vec<&'a str>) {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut removed, mut added) = (0, 0, Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            added.push(b[j]);
            j += 1;
        } else {
            removed.push(a[i]);
            i += 1;
        }
    }
    (removed, added)
}
