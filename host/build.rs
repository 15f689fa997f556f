//! Embed plugin.wasm into the runner, so a user installs one binary that runs the very module
//! every other host runs.
//!
//! By default this builds `postwire-plugin` for wasm32-unknown-unknown with a nested cargo (in
//! its own target directory, so it never waits on the outer build's lock). Set
//! `POSTWIRE_PLUGIN_WASM=/path/to/plugin.wasm` to embed a module built elsewhere.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=POSTWIRE_PLUGIN_WASM");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("plugin.wasm");
    if let Ok(prebuilt) = env::var("POSTWIRE_PLUGIN_WASM") {
        println!("cargo:rerun-if-changed={prebuilt}");
        std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| panic!("POSTWIRE_PLUGIN_WASM={prebuilt}: {e}"));
        return;
    }
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
    // OUT_DIR is <target>/<profile>/build/<pkg>/out: the nested build goes beside <profile>, in
    // a directory of this checkout's own. Checkouts sharing one CARGO_TARGET_DIR get the same
    // artifact names for their path crates, so a shared nested directory would hand one
    // checkout the plugin.wasm another one built.
    let checkout: u64 = workspace.to_string_lossy().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3) // FNV-1a
    });
    let target_dir = PathBuf::from(env::var("OUT_DIR").unwrap())
        .ancestors()
        .nth(4)
        .unwrap()
        .join("plugin-wasm")
        .join(format!("{checkout:016x}"));
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
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
}
