//! Embed plugin.wasm into the runner, so a user installs one binary that runs the very module
//! every other host runs.
//!
//! By default this builds `postwire-plugin` for wasm32-unknown-unknown with a nested cargo (in
//! its own target directory, so it never waits on the outer build's lock). Set
//! `POSTWIRE_PLUGIN_WASM=/path/to/plugin.wasm` to embed a module built elsewhere.
//!
//! It also embeds the playground's static files (`postwire playground` serves them): those in
//! `POSTWIRE_PLAYGROUND_DIR` when set (`scripts/test.sh` builds them there first with
//! `playground/build.sh`), else it runs `playground/build.sh` into the target directory (cached:
//! cargo, wasm-bindgen, npm and the bundler each redo only what changed). That needs the
//! wasm-bindgen CLI, node and npm, and Helm for the example presets (`scripts/install-tools.sh`).
//! `POSTWIRE_PLAYGROUND` says what to do: unset or `auto`, embed it when those tools are there
//! and build the runner without it (with a warning) when they are not, so `cargo install --path
//! host` needs only Rust; `on` requires it; `off` never builds it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    commit();
    // The triple `postwire precompile` compiles for, with no CPU feature of the build machine.
    println!("cargo:rustc-env=POSTWIRE_TARGET={}", env::var("TARGET").unwrap());
    playground();
    println!("cargo:rerun-if-env-changed=POSTWIRE_PLUGIN_WASM");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("plugin.wasm");
    if let Ok(prebuilt) = env::var("POSTWIRE_PLUGIN_WASM") {
        println!("cargo:rerun-if-changed={prebuilt}");
        std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| panic!("POSTWIRE_PLUGIN_WASM={prebuilt}: {e}"));
    } else {
        build_plugin(&out);
    }
    // The module's digest, so no run hashes 3.7 MB to find its compiled form in the cache.
    use sha2::Digest;
    let digest: String =
        sha2::Sha256::digest(std::fs::read(&out).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(out.with_extension("wasm.sha256"), digest).unwrap();
}

/// Build `postwire-plugin` for wasm32-unknown-unknown and copy it to `out`.
fn build_plugin(out: &Path) {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for path in [
        "core/src",
        "core/Cargo.toml",
        "plugin/src",
        "plugin/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    // OUT_DIR is <target>/<profile>/build/<pkg>/out: the nested build goes beside <profile>.
    let target_dir = PathBuf::from(env::var("OUT_DIR").unwrap()).ancestors().nth(4).unwrap().join("plugin-wasm");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--profile", "wasm", "--locked", "-p", "postwire-plugin", "--target", "wasm32-unknown-unknown"])
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the host build must not leak into the wasm build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run cargo to build plugin.wasm");
    assert!(
        status.success(),
        "building plugin.wasm failed; is the wasm target installed? (rustup target add wasm32-unknown-unknown)"
    );
    let built = target_dir.join("wasm32-unknown-unknown/wasm/postwire_plugin.wasm");
    std::fs::copy(&built, out).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
}

/// `POSTWIRE_COMMIT` for `postwire version`: the variable when set (a build from a source
/// archive), else the checkout's `git rev-parse --short=12 HEAD`, else `unknown`.
fn commit() {
    println!("cargo:rerun-if-env-changed=POSTWIRE_COMMIT");
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = match env::var("POSTWIRE_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            // Rebuild when HEAD moves: HEAD itself, and the branch it points at.
            for path in [git(&["rev-parse", "--git-path", "HEAD"]), git(&["rev-parse", "--git-path", "packed-refs"])] {
                path.into_iter().for_each(|p| println!("cargo:rerun-if-changed={p}"));
            }
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                git(&["rev-parse", "--git-path", &branch])
                    .into_iter()
                    .for_each(|p| println!("cargo:rerun-if-changed={p}"));
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=POSTWIRE_COMMIT={commit}");
}

/// Write `$OUT_DIR/playground.rs`: `PLAYGROUND`, every file of the built playground as
/// `(path, bytes)`, or `None` when built with `POSTWIRE_PLAYGROUND=off`.
fn playground() {
    for var in
        ["POSTWIRE_PLAYGROUND", "POSTWIRE_PLAYGROUND_DIR", "POSTWIRE_HELM4", "POSTWIRE_TOOLS", "POSTWIRE_WASM_BINDGEN"]
    {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let generated = out_dir.join("playground.rs");
    let without = "pub const PLAYGROUND: Option<&[(&str, &[u8])]> = None;\n";
    let workspace = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).parent().unwrap().to_path_buf();
    let prebuilt = env::var("POSTWIRE_PLAYGROUND_DIR").is_ok_and(|d| !d.is_empty());
    match env::var("POSTWIRE_PLAYGROUND").as_deref() {
        Ok("off") => return std::fs::write(&generated, without).unwrap(),
        Ok("on") => {}
        Ok("") | Ok("auto") | Err(_) if prebuilt => {}
        Ok("") | Ok("auto") | Err(_) => {
            // Tools appearing on PATH (or HOME's tool cache) later should embed it then.
            println!("cargo:rerun-if-env-changed=PATH");
            println!("cargo:rerun-if-env-changed=HOME");
            if let Some(missing) = playground_tools_missing(&workspace) {
                println!(
                    "cargo:warning=postwire is built without `postwire playground`: {missing} \
                     (POSTWIRE_PLAYGROUND=off silences this)"
                );
                return std::fs::write(&generated, without).unwrap();
            }
        }
        Ok(other) => panic!("POSTWIRE_PLAYGROUND={other}: expected auto, on or off"),
    }
    let dir = match env::var("POSTWIRE_PLAYGROUND_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            // The page's sources, the engine and the examples (a directory is scanned whole).
            for path in ["playground/src", "playground/Cargo.toml", "playground/build.sh", "core/src", "examples"] {
                println!("cargo:rerun-if-changed={}", workspace.join(path).display());
            }
            let web = workspace.join("playground/web");
            for name in ["package.json", "package-lock.json", "build.mjs", "src"] {
                println!("cargo:rerun-if-changed={}", web.join(name).display());
            }
            let target = out_dir.ancestors().nth(4).unwrap().to_path_buf();
            let dist = target.join("playground-dist");
            let status = Command::new("bash")
                .arg(workspace.join("playground/build.sh"))
                .arg(&dist)
                .current_dir(&workspace)
                .env("POSTWIRE_PLAYGROUND_TARGET_DIR", target.join("playground-wasm"))
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET")
                .status()
                .expect("run bash playground/build.sh");
            assert!(
                status.success(),
                "building the playground failed: run scripts/install-tools.sh (wasm-bindgen, node, npm, Helm), \
                 or set POSTWIRE_PLAYGROUND=off to build postwire without `postwire playground`"
            );
            dist
        }
    };
    let mut files = Vec::new();
    collect(&dir, &dir, &mut files);
    files.sort();
    assert!(
        files.iter().any(|(name, _)| name == "index.html"),
        "{}: no index.html (build it with playground/build.sh DIR)",
        dir.display()
    );
    let mut code = String::from("pub const PLAYGROUND: Option<&[(&str, &[u8])]> = Some(&[\n");
    for (name, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("]);\n");
    std::fs::write(&generated, code).unwrap();
}

/// What `playground/build.sh --check` says is missing (wasm-bindgen, node, npm, Helm), or None
/// when everything the playground build needs is there.
fn playground_tools_missing(workspace: &std::path::Path) -> Option<String> {
    let check = Command::new("bash").arg(workspace.join("playground/build.sh")).arg("--check").output();
    match check {
        Ok(out) if out.status.success() => None,
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr);
            Some(why.trim().trim_start_matches("playground/build.sh: error: ").to_string())
        }
        Err(e) => Some(format!("cannot run bash: {e}")),
    }
}

fn collect(root: &std::path::Path, dir: &std::path::Path, files: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let name = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            files.push((name, path));
        }
    }
}
