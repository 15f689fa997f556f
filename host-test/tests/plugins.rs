//! Installing postwire for Helm the way users do, on machines with Helm 3.17.3, Helm 4.3.1 or
//! both, in the Helms' default plugins directory (`~/.local/share/helm/plugins`, no
//! HELM_PLUGINS set), beside a plain Helm 3 CLI plugin (the shape of helm-diff or helm-secrets).
//!
//! What Helm 3.17.3 does with a Helm 4 (`apiVersion: v1`) plugin.yaml in its plugins directory,
//! observed while writing these tests: every command prints `failed to load plugins: failed to
//! load plugin at ".../postwire/plugin.yaml": error unmarshaling JSON: while decoding JSON: json:
//! unknown field "apiVersion"`, `helm plugin list` exits 1, and no plugin of that directory
//! loads (`Error: unknown command "hello" for "helm"`). Helm 4 reads the older plugin.yaml
//! format (as `cli/v1`), but resolves `--post-renderer` only to `postrenderer/v1` plugins. So
//! one directory cannot serve both Helms with a post-renderer plugin in it; `postwire
//! install-plugin` keeps the shared directory Helm 3-readable and gives Helm 4 a second one.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{self, describe, TempDir};

/// A user's machine: a HOME, a bin directory on PATH with the chosen Helms (and nothing else
/// named helm), the quickstart chart, and a plain Helm 3 CLI plugin `hello` already installed.
struct Machine {
    dir: TempDir,
}

impl Machine {
    fn new(test: &str, helms: &[(&str, &Path)]) -> Machine {
        let dir = TempDir::new(test);
        for d in ["home", "bin", "postwire-cache"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for (name, path) in helms {
            symlink(path, dir.join("bin").join(name)).unwrap();
        }
        let m = Machine { dir };
        let hello = m.shared_plugins().join("hello");
        std::fs::create_dir_all(&hello).unwrap();
        std::fs::write(
            hello.join("plugin.yaml"),
            "name: hello\nversion: 0.1.0\nusage: say hello\ndescription: a plain Helm 3 CLI plugin\ncommand: \"$HELM_PLUGIN_DIR/hello.sh\"\n",
        )
        .unwrap();
        std::fs::write(hello.join("hello.sh"), "#!/bin/sh\necho \"hello from $HELM_PLUGIN_NAME: $*\"\n").unwrap();
        util::run(Command::new("chmod").args(["+x", hello.join("hello.sh").to_str().unwrap()]), b"");
        m
    }

    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// The compiled modules postwire caches on this machine.
    fn cached_modules(&self) -> PathBuf {
        self.dir.join("postwire-cache/modules")
    }

    /// The default plugins directory both Helms read.
    fn shared_plugins(&self) -> PathBuf {
        self.home().join(".local/share/helm/plugins")
    }

    /// `program args` with a clean environment: HOME, PATH = bin + /usr/bin:/bin, and `extra`.
    fn cmd(&self, program: &Path, args: &[&str], extra: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args).env_clear();
        cmd.env("HOME", self.home());
        cmd.env("PATH", format!("{}:/usr/bin:/bin", self.dir.join("bin").display()));
        cmd.env("POSTWIRE_CACHE_DIR", self.dir.join("postwire-cache"));
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn helm(&self, name: &str, args: &[&str], extra: &[(&str, String)]) -> Output {
        util::run(&mut self.cmd(&self.dir.join("bin").join(name), args, extra), b"")
    }

    fn postwire(&self, args: &[&str]) -> Output {
        util::run(&mut self.cmd(&util::postwire_bin(), args, &[]), b"")
    }
}

fn quickstart() -> String {
    util::workspace().join("examples/quickstart/chart").display().to_string()
}

/// A ConfigMap and a Deployment that uses it: a render adds a checksum.
fn quickstart_stream() -> &'static str {
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: b\n---\n\
     apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      \
     app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      \
     - name: web\n        image: nginx\n        envFrom:\n        - configMapRef:\n            name: web\n"
}

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}:\n{}", describe(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The wrapper directory from the `export PATH="DIR:$PATH"` line `postwire install-plugin` prints.
fn wrapper_dir(said: &str) -> PathBuf {
    let line = said
        .lines()
        .find(|l| l.trim_start().starts_with("export PATH="))
        .unwrap_or_else(|| panic!("no export PATH in:\n{said}"));
    PathBuf::from(line.split("PATH=\"").nth(1).and_then(|r| r.split(':').next()).unwrap())
}

impl Machine {
    /// `sh -c script` non-interactively (no aliases, no profile), with `first` before PATH.
    fn sh(&self, first: &Path, script: &str) -> Output {
        let path = format!("{}:{}:/usr/bin:/bin", first.display(), self.dir.join("bin").display());
        util::run(&mut self.cmd(Path::new("/bin/sh"), &["-c", script], &[("PATH", path)]), b"")
    }
}

/// Helm 3.17.3 and Helm 4.3.1 on one machine, one shared plugins directory holding a plain
/// Helm 3 CLI plugin: the Helm 4 plugin in that directory breaks every Helm 3 plugin (the
/// failure the README warns about); `postwire install-plugin` repairs it. Afterwards Helm 3
/// lists and runs both its plugins with nothing on stderr and post-renders with the binary;
/// Helm 4, reading the shared directory plus its own as printed, lists and runs them too and
/// post-renders with `--post-renderer postwire`.
#[test]
fn plugins_helm3_and_helm4_share_one_plugins_directory() {
    let test = "plugins_helm3_and_helm4_share_one_plugins_directory";
    let (Some(helm3), Some(helm4)) = (util::helm3(test), util::helm4(test)) else { return };
    let m = Machine::new(test, &[("helm3", &helm3), ("helm", &helm4)]);

    // The trap: a Helm 4 plugin copied into the shared directory.
    let broken = m.shared_plugins().join("postwire");
    std::fs::create_dir_all(&broken).unwrap();
    for f in ["plugin.yaml", "run.sh"] {
        std::fs::copy(util::workspace().join("helm-plugin/postwire").join(f), broken.join(f)).unwrap();
    }
    let list = m.helm("helm3", &["plugin", "list"], &[]);
    assert!(!list.status.success(), "Helm 3 now reads Helm 4 plugins; revisit install-plugin:\n{}", describe(&list));
    assert!(String::from_utf8_lossy(&list.stderr).contains("unknown field \"apiVersion\""), "{}", describe(&list));
    let hello = m.helm("helm3", &["hello"], &[]);
    assert!(String::from_utf8_lossy(&hello.stderr).contains("unknown command \"hello\""), "{}", describe(&hello));

    let said = ok(&m.postwire(&["install-plugin"]), "postwire install-plugin");
    assert!(said.contains("Helm 3 (") && said.contains("Helm 4 ("), "{said}");
    // The module is compiled at install, so no Helm run pays for it.
    let modules = m.dir.join("postwire-cache/modules");
    let artifacts = std::fs::read_dir(&modules).map(|d| d.count()).unwrap_or(0);
    assert!(said.contains("compiled plugin.wasm into") && artifacts == 1, "{said}\n{artifacts} artifacts");
    assert!(said.contains("replaced the Helm 4 plugin"), "{said}");
    let own = m.home().join(".local/share/helm/plugins-helm4");
    let wrappers = wrapper_dir(&said);
    assert_eq!(wrappers, own.join("bin"), "{said}");

    // Helm 3: both plugins listed and running, no loader errors.
    let list = m.helm("helm3", &["plugin", "list"], &[]);
    let text = ok(&list, "helm3 plugin list");
    assert!(list.stderr.is_empty(), "{}", describe(&list));
    assert!(text.lines().any(|l| l.starts_with("hello")) && text.lines().any(|l| l.starts_with("postwire")), "{text}");
    assert_eq!(ok(&m.helm("helm3", &["hello", "a"], &[]), "helm3 hello"), "hello from hello: a\n");
    assert!(ok(&m.helm("helm3", &["postwire", "version"], &[]), "helm3 postwire").starts_with("postwire "));
    let binary = m.shared_plugins().join("postwire/postwire");
    let out = m.helm("helm3", &["template", "demo", &quickstart(), "--post-renderer", binary.to_str().unwrap()], &[]);
    assert!(ok(&out, "helm3 template").contains("checksum/configmap-demo-web: \""), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));

    // Helm 4 through the wrapper first on PATH, non-interactively (a CI step, a Makefile).
    let text = ok(&m.sh(&wrappers, "helm plugin list"), "helm4 plugin list");
    for want in ["hello", "cli/v1", "postrenderer/v1"] {
        assert!(text.contains(want), "helm4 plugin list lacks {want}:\n{text}");
    }
    assert_eq!(ok(&m.sh(&wrappers, "helm hello b"), "helm4 hello"), "hello from hello: b\n");
    let out = m.sh(&wrappers, &format!("helm template demo {} --post-renderer postwire", quickstart()));
    let text = ok(&out, "helm4 template --post-renderer postwire");
    assert!(text.contains("checksum/configmap-demo-web: \"") && text.contains("checksum/secret-demo-db: \""), "{text}");
    let list = m.sh(&wrappers, "helm3 plugin list");
    assert!(ok(&list, "helm3 beside the wrapper").contains("hello") && list.stderr.is_empty(), "{}", describe(&list));

    // Helm 3 still fine after the Helm 4 install, and install-plugin is repeatable.
    ok(&m.postwire(&["install-plugin"]), "second install-plugin");
    let list = m.helm("helm3", &["plugin", "list"], &[]);
    ok(&list, "helm3 plugin list after reinstall");
    assert!(list.stderr.is_empty(), "{}", describe(&list));

    // `postwire uninstall-plugin` removes both plugins and the wrapper; hello stays, and both
    // Helms list their plugins without errors.
    let path = format!("{}:{}:/usr/bin:/bin", wrappers.display(), m.dir.join("bin").display());
    let said =
        ok(&util::run(&mut m.cmd(&util::postwire_bin(), &["uninstall-plugin"], &[("PATH", path)]), b""), "uninstall");
    assert!(said.contains("removed") && said.contains("take its directory off PATH"), "{said}");
    assert!(!m.shared_plugins().join("postwire").exists() && !own.join("postwire").exists(), "{said}");
    assert!(!wrappers.join("helm").exists(), "{said}");
    for helm in ["helm3", "helm"] {
        let list = m.helm(helm, &["plugin", "list"], &[]);
        let text = ok(&list, "plugin list after uninstall");
        assert!(list.stderr.is_empty() && text.contains("hello") && !text.contains("postwire"), "{}", describe(&list));
    }
}

/// Only Helm 4 on the machine: `postwire install-plugin` puts the post-renderer plugin, with the
/// binary beside run.sh, in Helm's own plugins directory (created), prints no alias, and
/// `--post-renderer postwire` works with nothing else set up. `helm plugin install DIR` of the
/// release archive's plugin directory works too (HELM_PLUGINS unset, so helm#32646 does not bite).
#[test]
fn plugins_helm4_alone_installs_into_helms_own_directory() {
    let test = "plugins_helm4_alone_installs_into_helms_own_directory";
    let Some(helm4) = util::helm4(test) else { return };
    let m = Machine::new(test, &[("helm", &helm4)]);
    let said = ok(&m.postwire(&["install-plugin", "--helm", "4"]), "install-plugin --helm 4");
    assert!(!said.contains("alias"), "{said}");
    let plugin = m.shared_plugins().join("postwire");
    assert!(plugin.join("postwire").is_file() && plugin.join("run.sh").is_file(), "{said}");
    let out = m.helm("helm", &["template", "demo", &quickstart(), "--post-renderer", "postwire"], &[]);
    assert!(ok(&out, "helm template").contains("checksum/configmap-demo-web: \""));

    // `helm plugin install` of a plugin directory with the binary beside run.sh.
    std::fs::remove_dir_all(&plugin).unwrap();
    let staged = m.dir.join("archive/helm-plugin/postwire");
    std::fs::create_dir_all(&staged).unwrap();
    for f in ["plugin.yaml", "run.sh"] {
        std::fs::copy(util::workspace().join("helm-plugin/postwire").join(f), staged.join(f)).unwrap();
    }
    std::fs::copy(util::postwire_bin(), staged.join("postwire")).unwrap();
    ok(&m.helm("helm", &["plugin", "install", staged.to_str().unwrap()], &[]), "helm plugin install DIR");
    let out = m.helm("helm", &["template", "demo", &quickstart(), "--post-renderer", "postwire"], &[]);
    assert!(ok(&out, "helm template after helm plugin install").contains("checksum/configmap-demo-web: \""));
}

/// `install-plugin --plugins-dir` into a directory Helm 3 reads is refused (it would break
/// Helm 3), with a message saying why; nothing is written there.
#[test]
fn plugins_install_refuses_a_helm4_plugin_where_helm3_reads() {
    let test = "plugins_install_refuses_a_helm4_plugin_where_helm3_reads";
    let (Some(helm3), Some(helm4)) = (util::helm3(test), util::helm4(test)) else { return };
    let m = Machine::new(test, &[("helm3", &helm3), ("helm4", &helm4)]);
    let dir = m.shared_plugins();
    let out = m.postwire(&["install-plugin", "--helm", "4", "--plugins-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loads no plugin at all"), "{}", describe(&out));
    assert!(!dir.join("postwire").exists());
}

/// scripts/package.sh (with a prebuilt binary, so no build): a `.tar.gz` holding the binary
/// and its precompiled module, both plugin directories with the two beside them, and the
/// schemas; SHA256SUMS matches.
#[test]
fn plugins_package_script_builds_a_checksummed_archive() {
    let test = "plugins_package_script_builds_a_checksummed_archive";
    let dir = TempDir::new(test);
    let dist = dir.join("dist");
    let out = util::run(
        Command::new("bash")
            .arg(util::workspace().join("scripts/package.sh"))
            .env("POSTWIRE_BIN", util::postwire_bin())
            .env("POSTWIRE_DIST", &dist),
        b"",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let (sum, name) = line.split_once("  ").unwrap_or_else(|| panic!("SHA256SUMS: {sums}"));
        assert_eq!(sum, util::sha256_hex(&std::fs::read(dist.join(name)).unwrap()), "{sums}");
    }
    let name = sums.lines().next().and_then(|l| l.split_once("  ")).unwrap().1;
    assert!(name.ends_with(".tar.gz") && !name.ends_with("-helm3.tar.gz"), "{sums}");
    let list = util::run(Command::new("tar").args(["tzf", dist.join(name).to_str().unwrap()]), b"");
    let files = String::from_utf8_lossy(&list.stdout).into_owned();
    let top = name.trim_end_matches(".tar.gz");
    for want in [
        "postwire",
        "helm-plugin/postwire/plugin.yaml",
        "helm-plugin/postwire/run.sh",
        "helm-plugin/postwire/postwire",
        "helm-plugin/postwire-cli/plugin.yaml",
        "helm-plugin/postwire-cli/postwire",
        "schemas/postwire-config.json",
        "schemas/report.json",
        "LICENSE",
        "docs/index.md",
    ] {
        assert!(files.lines().any(|l| l == format!("{top}/{want}")), "archive lacks {want}:\n{files}");
    }
    for dir in ["", "helm-plugin/postwire/", "helm-plugin/postwire-cli/"] {
        let shipped = files.lines().filter(|l| l.starts_with(&format!("{top}/{dir}plugin-")) && l.ends_with(".cwasm"));
        assert_eq!(shipped.count(), 1, "no precompiled module beside {top}/{dir}postwire:\n{files}");
    }
}

/// Unpack `archive` into `into` with the system tar.
fn unpack(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let out = util::run(Command::new("tar").arg("xzf").arg(archive).arg("-C").arg(into), b"");
    assert!(out.status.success(), "{}", describe(&out));
}

/// The release path as a user without Rust takes it: scripts/package.sh's archive, unpacked
/// into a clean directory on a machine with Helm 3.17.3 and Helm 4.3.1 and a PATH with no cargo
/// or rustc. Its `postwire install-plugin` sets up both Helms, and both post-render from it
/// alone; the Helm 4 plugin archive installs with `helm plugin install FILE` and post-renders
/// with nothing else on the machine.
#[test]
fn plugins_release_archive_installs_and_post_renders_without_rust() {
    let test = "plugins_release_archive_installs_and_post_renders_without_rust";
    let (Some(helm3), Some(helm4)) = (util::helm3(test), util::helm4(test)) else { return };
    let m = Machine::new(test, &[("helm3", &helm3), ("helm", &helm4)]);
    let dist = m.dir.join("dist");
    let out = util::run(
        Command::new("bash")
            .arg(util::workspace().join("scripts/package.sh"))
            .env("POSTWIRE_BIN", util::postwire_bin())
            .env("POSTWIRE_DIST", &dist),
        b"",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = sums.lines().filter_map(|l| l.split_once("  ").map(|(_, n)| n)).collect();
    let main = names.iter().find(|n| !n.contains("-helm")).unwrap();
    let download = m.dir.join("download");
    unpack(&dist.join(main), &download);
    let top = download.join(main.trim_end_matches(".tar.gz"));
    let path = format!("{}:{}:/usr/bin:/bin", top.display(), m.dir.join("bin").display());
    let mut rust =
        m.cmd(Path::new("/bin/sh"), &["-c", "command -v cargo || command -v rustc"], &[("PATH", path.clone())]);
    assert!(!util::run(&mut rust, b"").status.success(), "cargo or rustc on the clean PATH");

    // A first run compiles nothing: it maps the module precompiled beside the binary, so it
    // stores nothing in the (empty) cache.
    let modules = m.cached_modules();
    let first = util::run(&mut m.cmd(&top.join("postwire"), &["render"], &[]), quickstart_stream().as_bytes());
    assert!(ok(&first, "a first run").contains("checksum/"), "{}", describe(&first));
    assert!(!modules.exists(), "a first run from the archive compiled the module into {}", modules.display());

    let said = ok(
        &util::run(&mut m.cmd(&top.join("postwire"), &["install-plugin"], &[("PATH", path.clone())]), b""),
        "install",
    );
    let wrappers = wrapper_dir(&said);
    let chart = quickstart();
    let script = format!(
        "export PATH=\"{}:{path}\"; helm template demo {chart} --post-renderer postwire; \
         helm3 template demo {chart} --post-renderer postwire",
        wrappers.display()
    );
    let out = util::run(&mut m.cmd(Path::new("/bin/sh"), &["-c", &script], &[("PATH", path.clone())]), b"");
    let text = ok(&out, "helm and helm3 template from the archive");
    assert_eq!(text.matches("checksum/configmap-demo-web: \"").count(), 2, "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    // install-plugin put the precompiled module beside each copy of the binary: no Helm compiled it.
    assert!(!modules.exists(), "a Helm run of the installed plugins compiled the module into {}", modules.display());

    // The Helm 4 plugin archive alone, on a machine with only Helm 4.
    let m4 = Machine::new(&format!("{test}-helm4"), &[("helm", &helm4)]);
    let tgz = dist.join(names.iter().find(|n| n.ends_with("-helm4.tgz")).unwrap());
    ok(&m4.helm("helm", &["plugin", "install", tgz.to_str().unwrap(), "--verify=false"], &[]), "helm plugin install");
    let out = m4.helm("helm", &["template", "demo", &chart, "--post-renderer", "postwire"], &[]);
    assert!(ok(&out, "helm template with the installed archive").contains("checksum/configmap-demo-web: \""));
    let modules = m4.cached_modules();
    assert!(!modules.exists(), "the installed Helm 4 plugin compiled the module into {}", modules.display());
}
