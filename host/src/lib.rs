//! The native postwire runner: an extism host (on wasmtime) that runs the embedded `plugin.wasm`.
//!
//! Thin by design: all logic is in the module. This crate reads files and stdin, keeps a
//! compiled-module cache so a warm run does not recompile the module, and reports errors in a
//! way Helm 4 cannot swallow (see [`errors`]).

pub mod argocd;
pub mod cache_trust;
pub mod errors;
pub mod extism_env;
pub mod input;
pub mod install;
pub mod playground;
pub mod runner;

/// The plugin module every postwire host runs, embedded at build time.
pub static PLUGIN_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/plugin.wasm"));

/// Hex SHA-256 of [`PLUGIN_WASM`], computed when postwire was built: `postwire version` prints
/// it, and it keys the module's compiled form in the cache, so no run hashes the module.
pub static PLUGIN_WASM_SHA256: &str = include_str!(concat!(env!("OUT_DIR"), "/plugin.wasm.sha256"));
