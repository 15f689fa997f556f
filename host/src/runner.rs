//! Load and call plugin.wasm through extism, with limits and a compiled-module cache.

use std::path::{Path, PathBuf};
use std::time::Duration;

use extism::{Manifest, Plugin, PluginBuilder, Wasm};
use postwire_core::wire::{HelmPostRendererInputV1, HelmPostRendererOutputV1, RenderRequestV1, RenderResponseV1};

/// Limits and cache settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where compiled modules are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Wall-clock limit of one call (Argo CD's default gRPC deadline is 60s).
    pub timeout: Duration,
    /// Memory cap of the module, in 64 KiB wasm pages.
    pub max_memory_pages: u32,
}

impl Default for Options {
    /// A 60 s timeout, a 2 GiB memory cap and the default cache directory.
    fn default() -> Self {
        Options { cache_dir: default_cache_dir(), timeout: Duration::from_secs(60), max_memory_pages: 32_768 }
    }
}

impl Options {
    /// The defaults with `POSTWIRE_TIMEOUT_SECONDS` and `POSTWIRE_MAX_MEMORY_MIB` applied. A
    /// value that is not a whole number in range is an error naming the variable, never
    /// silently ignored.
    pub fn from_env() -> Result<Options, String> {
        let mut options = Options::default();
        let read = |name: &str, max: u64, unit: &str| -> Result<Option<u64>, String> {
            let Some(raw) = std::env::var_os(name) else { return Ok(None) };
            let text = raw.to_string_lossy();
            match text.trim().parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                _ => Err(format!("{name}={text}: expected a whole number of {unit} from 1 to {max}")),
            }
        };
        if let Some(secs) = read("POSTWIRE_TIMEOUT_SECONDS", 86_400, "seconds")? {
            options.timeout = Duration::from_secs(secs);
        }
        // 64 KiB pages; wasm32 addresses at most 4 GiB.
        if let Some(mib) = read("POSTWIRE_MAX_MEMORY_MIB", 4096, "MiB")? {
            options.max_memory_pages = (mib * 16) as u32;
        }
        Ok(options)
    }
}

/// `$POSTWIRE_CACHE_DIR`, else `$XDG_CACHE_HOME/postwire`, else `$HOME/.cache/postwire`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("POSTWIRE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("postwire")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/postwire")))
}

/// A failed call: the plugin's message and its status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// One line for the user.
    pub message: String,
    /// The plugin's return code (see `postwire_core::Error::exit_code`), or 1.
    pub code: i32,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallError {}

/// A loaded plugin.
pub struct Runner {
    plugin: Plugin,
    /// What built `plugin`, kept to build a fresh instance after a trap.
    wasm: &'static [u8],
    cache: Option<PathBuf>,
    /// Set when a call trapped (memory cap, timeout): the instance's heap may hold what the
    /// stopped call allocated and never freed, so the next call gets a fresh instance.
    trapped: bool,
    limits: Options,
    /// Whether the module's steps are collected (see [`crate::steps`]).
    steps: bool,
}

/// Instantiate `wasm` with the limits of `options` and the compiled-module cache config `cache`.
fn build(wasm: &[u8], options: &Options, cache: Option<&Path>) -> anyhow::Result<Plugin> {
    let manifest = Manifest::new([Wasm::data(wasm.to_vec())])
        .with_timeout(options.timeout)
        .with_memory_max(options.max_memory_pages);
    // Without address maps and wasm backtraces the compiled module is a third smaller, and
    // every run loads it from the cache; plugin.wasm reports errors itself, not by trapping.
    let mut config = wasmtime::Config::new();
    config.generate_address_map(false).wasm_backtrace_max_frames(None);
    let builder = PluginBuilder::new(manifest).with_wasi(false).with_wasmtime_config(config);
    let builder = match cache {
        Some(config) => builder.with_cache_config(config.to_path_buf()),
        None => builder.with_cache_disabled(),
    };
    builder.build()
}

/// The wasmtime cache config for `dir`, or None when the directory cannot serve as a cache (the
/// runner then compiles the module each run). The config names `dir/modules` by absolute path,
/// so one copied or moved from elsewhere is rewritten, and a read-only cache is used only when
/// its config already points at itself.
fn cache_config(dir: &Path) -> Option<PathBuf> {
    let config = dir.join("wasmtime-cache.toml");
    let modules = dir.join("modules");
    if !modules.is_dir() {
        std::fs::create_dir_all(&modules).ok()?;
    }
    let text = format!("[cache]\ndirectory = {:?}\n", modules.canonicalize().ok()?.display().to_string());
    if std::fs::read_to_string(&config).is_ok_and(|existing| existing == text) {
        return Some(config);
    }
    // Write then rename, so a concurrent run never reads half a file.
    let tmp = dir.join(format!("wasmtime-cache.toml.{}", std::process::id()));
    std::fs::write(&tmp, text).ok()?;
    std::fs::rename(&tmp, &config).ok()?;
    Some(config)
}

impl Runner {
    /// Load `wasm` with `options`.
    pub fn new(wasm: &'static [u8], options: &Options) -> anyhow::Result<Runner> {
        let trusted = options.cache_dir.as_deref().filter(|dir| match crate::cache_trust::refusal(dir) {
            Some(why) => {
                eprintln!("postwire: warning: not using the compiled-module cache: {why}");
                false
            }
            None => true,
        });
        let cache = trusted.and_then(cache_config);
        let plugin = build(wasm, options, cache.as_deref())?;
        let steps = crate::steps::listen();
        Ok(Runner { plugin, wasm, cache, trapped: false, limits: options.clone(), steps })
    }

    /// Load the embedded module with the options of the environment ([`Options::from_env`]).
    pub fn embedded() -> anyhow::Result<Runner> {
        Runner::new(crate::PLUGIN_WASM, &Options::from_env().map_err(anyhow::Error::msg)?)
    }

    /// Call `function` and read its JSON answer straight from the plugin's output (a copy of a
    /// multi-megabyte stream costs fresh pages). `manifests` are the stream sent, whose Secret
    /// values a limit error must not repeat.
    fn call<T: serde::de::DeserializeOwned>(
        &mut self,
        function: &str,
        input: &[u8],
        manifests: &str,
    ) -> Result<T, CallError> {
        crate::steps::clear();
        // extism keeps one instance across calls; one that trapped stopped mid-allocation.
        if self.trapped {
            self.plugin = build(self.wasm, &self.limits, self.cache.as_deref())
                .map_err(|e| CallError { message: format!("cannot reload plugin.wasm: {e:#}"), code: 1 })?;
            self.trapped = false;
        }
        match self.plugin.call_get_error_code::<&[u8], &[u8]>(function, input) {
            Ok(out) => serde_json::from_slice(out)
                .map_err(|e| CallError { message: format!("unreadable response from plugin.wasm: {e}"), code: 1 }),
            // 3..=7 are postwire's own errors, already worded for the user.
            Err((err, code)) if (3..=7).contains(&code) => Err(CallError { message: err.to_string(), code }),
            Err((err, _)) => {
                self.trapped = true;
                Err(CallError { message: self.describe_runtime_error(&err, input.len(), manifests), code: 1 })
            }
        }
    }

    /// Say which limit a runtime failure hit, the step it stopped (the document, template or
    /// patch), and how to raise the limit.
    fn describe_runtime_error(&self, err: &extism::Error, input_len: usize, manifests: &str) -> String {
        let text = format!("{err:#}");
        // Steps name documents by kind, name and line, but a name could equal a Secret value.
        // No step yet: the module stopped before the engine started, reading its input.
        let step = match crate::steps::last() {
            Some(step) => format!(" while {}", postwire_core::redact::SecretValues::collect(manifests).scrub(&step)),
            None if self.steps => format!(" while reading the request ({} bytes)", input_len),
            None => String::new(),
        };
        if text.contains("timeout") {
            format!(
                "plugin.wasm timed out after {:?}{step} (POSTWIRE_TIMEOUT_SECONDS raises the limit)",
                self.limits.timeout
            )
        } else if text.contains("oom") || text.contains("allocate") || text.contains("memory") {
            format!(
                "plugin.wasm ran out of memory at its {} MiB limit{step} (POSTWIRE_MAX_MEMORY_MIB raises it): {text}",
                u64::from(self.limits.max_memory_pages) * 64 / 1024
            )
        } else {
            format!("plugin.wasm failed{step}: {text}")
        }
    }

    /// Call `render`.
    pub fn render(&mut self, request: &RenderRequestV1) -> Result<RenderResponseV1, CallError> {
        self.call("render", &request.to_json(), &request.manifests)
    }

    /// Call `helm_plugin_main` with Helm 4's message.
    pub fn helm_plugin_main(&mut self, input: &HelmPostRendererInputV1) -> Result<HelmPostRendererOutputV1, CallError> {
        self.call("helm_plugin_main", &serde_json::to_vec(input).expect("input serializes"), &input.manifests)
    }
}
