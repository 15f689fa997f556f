//! Shared helpers: where the runner, the tools and the shared data are; running commands.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `../shared` beside the repository, or None (with a skip message) when it is absent.
pub fn shared(test: &str) -> Option<PathBuf> {
    let dir = workspace().join("../shared");
    if dir.join("corpus").is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        skip(
            test,
            &format!(
                "{} is absent (the shared corpus sits beside the repository)",
                dir.display()
            ),
        );
        None
    }
}

/// Report a skipped test, or fail when everything is required.
pub fn skip(test: &str, why: &str) {
    if std::env::var("POSTWIRE_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{test}: required but cannot run: {why}");
    }
    eprintln!("skipped {test}: {why}");
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
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/postwire/tools")
        })
}

/// A tool by its `POSTWIRE_*` variable or its default location; None (with a skip message)
/// when it is not installed.
pub fn tool(test: &str, var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| tools_dir().join(default));
    if path.is_file() {
        Some(path)
    } else {
        skip(
            test,
            &format!(
                "{} not found (set {var} or run scripts/install-tools.sh)",
                path.display()
            ),
        );
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
        let base =
            std::env::temp_dir().join(format!("postwire-test-{}-{name}", std::process::id()));
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
        Some(Oracle {
            python: python(test)?,
            yamlv2: yamlv2(test)?,
        })
    }

    /// `oracle.py ARGS`, with `POSTWIRE_YAMLV2` pointing at the Go reader.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(&self.python);
        cmd.arg(oracle_py())
            .args(args)
            .env("POSTWIRE_YAMLV2", &self.yamlv2);
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
