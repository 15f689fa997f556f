//! The native postwire runner: an extism host that runs the embedded `plugin.wasm`.
//!
//! Thin by design: all logic is in the module. This crate reads files and stdin, keeps a
//! compiled-module cache so a warm run does not recompile the module, and reports errors in a
//! way Helm 4 cannot swallow (see [`errors`]).

pub mod argocd;
pub mod cache_trust;
pub mod errors;
pub mod input;
pub mod install;
pub mod playground;
pub mod runner;
pub mod steps;

/// The plugin module every postwire host runs, embedded at build time.
pub static PLUGIN_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/plugin.wasm"));

/// Hex SHA-256 of [`PLUGIN_WASM`].
pub fn plugin_sha256() -> String {
    use sha2::Digest;
    sha2::Sha256::digest(PLUGIN_WASM).iter().map(|b| format!("{b:02x}")).collect()
}
