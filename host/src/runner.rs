//! Load and call plugin.wasm on wasmtime, as an extism host, with limits and a cache of the
//! compiled module that later runs map into memory instead of reading.
//!
//! plugin.wasm is an extism plugin (Helm 4 and the playground run it through extism), and it
//! imports ten functions of extism's host environment (`extism:host/env`): its input, a block
//! allocator, its output and error, and trace logs. This runner provides those ten natively
//! (see [`crate::extism_env`]) rather than through the extism crate, because extism always
//! compiles a module from its bytes (`wasmtime::Module::new`, extism 1.30.0 `src/manifest.rs`
//! lines 59, 65, 121, 152): with its cache that is a SHA-256 of the 3.7 MB module and a zstd
//! decompression of the artifact on every run (wasmtime-internal-cache 43.0.2 `src/lib.rs`
//! lines 198 and 262-266), which made up most of a small chart's time. Here the artifact is
//! stored uncompressed under a key computed when postwire was built, and a run memory-maps it
//! (`Module::deserialize_file`), so only the pages a render touches are read.
//!
//! A release archive or image also ships the module precompiled beside the binary
//! (`postwire precompile`, compiled for any CPU of the architecture): with an empty cache a run
//! maps that one, so a first run on a new machine, CI job or Argo CD sidecar compiles nothing.
//!
//! Each call gets a fresh instance: no heap left by an earlier call (or by one a limit stopped)
//! can reach the next.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use postwire_core::wire::{HelmPostRendererInputV1, HelmPostRendererOutputV1, RenderRequestV1, RenderResponseV1};
use wasmtime::{Config, Engine, Instance, Linker, Module, Store};

use crate::extism_env::{self, Call, Ended};

/// Limits and cache settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where compiled modules are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Wall-clock limit of one call (Argo CD's default gRPC deadline is 60s).
    pub timeout: Duration,
    /// Memory cap of one call, in 64 KiB wasm pages: the module's memory and its input and
    /// output blocks together (as extism counts them).
    pub max_memory_pages: u32,
    /// Where a precompiled module shipped with postwire is looked for (`postwire precompile`
    /// writes it): the directory of the running binary by default; `None` looks nowhere.
    pub shipped_dir: Option<PathBuf>,
}

impl Default for Options {
    /// A 60 s timeout, a 2 GiB memory cap, the default cache directory and this binary's own.
    fn default() -> Self {
        Options {
            cache_dir: default_cache_dir(),
            timeout: Duration::from_secs(60),
            max_memory_pages: 32_768,
            shipped_dir: binary_dir(),
        }
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

    fn max_memory_bytes(&self) -> usize {
        self.max_memory_pages as usize * 65_536
    }
}

/// The directory of the running binary, where a precompiled module ships beside it.
pub fn binary_dir() -> Option<PathBuf> {
    std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf))
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
    engine: Engine,
    linker: Linker<Call>,
    module: Module,
    /// Where the compiled module came from.
    source: Source,
    limits: Options,
}

/// Where a runner's compiled module came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Mapped from the cache, where an earlier run stored it.
    Cache(PathBuf),
    /// Mapped from the precompiled module shipped beside the binary.
    Shipped(PathBuf),
    /// Compiled by this run, and stored in the cache when it could be.
    Compiled(Option<PathBuf>),
}

/// The settings every run's engine uses, for compiling and for loading an artifact alike (an
/// artifact compiled under other settings is refused by `deserialize_file` and compiled anew).
fn config() -> Config {
    let mut config = Config::new();
    // The timeout interrupts a call at its next epoch check (wasmtime's cheapest interruption).
    config.epoch_interruption(true);
    // Without address maps and wasm backtraces the compiled module is a third smaller;
    // plugin.wasm reports errors itself, not by trapping.
    config.generate_address_map(false).wasm_backtrace_max_frames(None);
    config
}

/// The engine every run uses, tuned to this machine's CPU.
fn engine() -> wasmtime::Result<Engine> {
    Engine::new(&config())
}

/// The engine `postwire precompile` compiles with: the same settings for this binary's target
/// triple, with none of the build machine's CPU features. An explicit target infers no CPU
/// feature (wasmtime 43.0.2 `src/config.rs` lines 381-386), and a feature an artifact leaves
/// off is compatible with every host (`src/engine.rs` lines 531-534), so the artifact loads on
/// any CPU of the architecture.
fn portable_engine() -> wasmtime::Result<Engine> {
    let mut config = config();
    config.target(env!("POSTWIRE_TARGET"))?;
    Engine::new(&config)
}

/// The hex SHA-256 of `wasm` (computed when postwire was built, for the embedded module).
fn digest(wasm: &[u8]) -> String {
    if std::ptr::eq(wasm, crate::PLUGIN_WASM) {
        crate::PLUGIN_WASM_SHA256.to_string()
    } else {
        use sha2::Digest;
        sha2::Sha256::digest(wasm).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The cache file of `wasm` for `engine`: the module's SHA-256 and wasmtime's own hash of what
/// a compiled artifact must agree on (its version, target and settings).
fn artifact_path(dir: &Path, engine: &Engine, wasm: &[u8]) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join("modules").join(format!("plugin-{}-{:016x}.cwasm", &digest(wasm)[..32], hasher.finish()))
}

/// The name of the precompiled `wasm` shipped beside the binary: named by the module's digest,
/// since wasmtime checks an artifact's version and settings but not which module it is, so an
/// artifact left by another postwire is never taken for this one's.
pub fn shipped_name(wasm: &[u8]) -> String {
    format!("plugin-{}.cwasm", &digest(wasm)[..32])
}

/// Compile `wasm` for any CPU of this binary's architecture into `dir` (under
/// [`shipped_name`]), where runs of a binary beside it map it; returns the file written.
pub fn precompile(wasm: &[u8], dir: &Path) -> anyhow::Result<PathBuf> {
    let artifact = portable_engine()?.precompile_module(wasm)?;
    let path = dir.join(shipped_name(wasm));
    write_whole(&path, &artifact)?;
    // Readable by all, writable by its owner alone whatever the umask: a run refuses a module
    // that other users may write (`cache_trust::shipped_refusal`), and archives keep the mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(path)
}

/// Write `bytes` to `path` under a temporary name, then rename it, so no run maps half a file.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Load `wasm` compiled: from the cache in `cache` when it holds it, else the artifact shipped
/// in `shipped` when there is a trusted one that loads, else compiled now (and then stored in
/// the cache).
fn load(
    engine: &Engine,
    wasm: &[u8],
    cache: Option<&Path>,
    shipped: Option<&Path>,
) -> wasmtime::Result<(Module, Source)> {
    let path = cache.map(|dir| artifact_path(dir, engine, wasm));
    if let Some(path) = path.as_ref().filter(|p| p.is_file()) {
        // SAFETY: the file is an artifact this runner serialized (only this user can write the
        // cache: `cache_trust`), renamed into place whole; wasmtime checks its header and the
        // engine settings it was compiled for, and refuses one that does not match.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, path) } {
            return Ok((module, Source::Cache(path.clone())));
        }
    }
    if let Some(file) = shipped.map(|dir| dir.join(shipped_name(wasm))).filter(|f| f.is_file()) {
        match crate::cache_trust::shipped_refusal(&file) {
            // SAFETY: `postwire precompile` wrote the file for this very module (its name is
            // the module's digest), and nobody who cannot replace the binary beside it can
            // write it (`shipped_refusal`); wasmtime checks its header, version and settings.
            None => {
                if let Ok(module) = unsafe { Module::deserialize_file(engine, &file) } {
                    return Ok((module, Source::Shipped(file)));
                }
            }
            Some(why) => eprintln!("postwire: warning: not using the precompiled module: {why}"),
        }
    }
    let Some((dir, path)) = cache.zip(path) else { return Ok((Module::new(engine, wasm)?, Source::Compiled(None))) };
    let artifact = engine.precompile_module(wasm)?;
    let stored = std::fs::create_dir_all(dir.join("modules")).and_then(|()| {
        write_whole(&path, &artifact)?;
        prune(&dir.join("modules"));
        Ok(())
    });
    // A cache that cannot be written (a read-only image, an uncreatable HOME) is not an error:
    // the run goes on, compiling again next time, as the runner always did there.
    // SAFETY: `artifact` was produced just now by this engine.
    let module = unsafe { Module::deserialize(engine, &artifact) }?;
    Ok((module, Source::Compiled(stored.ok().map(|()| path))))
}

/// Artifacts kept in the cache: this postwire's and those of a few others used beside it (a
/// Helm plugin and a CLI of different versions), not one per version ever run (9 MB each).
const ARTIFACTS_KEPT: usize = 4;

/// Remove all but the [`ARTIFACTS_KEPT`] newest artifacts in `modules`.
fn prune(modules: &Path) {
    let Ok(entries) = std::fs::read_dir(modules) else { return };
    let mut artifacts: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    artifacts.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, old) in artifacts.into_iter().skip(ARTIFACTS_KEPT) {
        let _ = std::fs::remove_file(old);
    }
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
        let engine = engine()?;
        let (module, source) = load(&engine, wasm, trusted, options.shipped_dir.as_deref())?;
        let linker = extism_env::linker(&engine)?;
        Ok(Runner { engine, linker, module, source, limits: options.clone() })
    }

    /// Where the compiled module came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Load the embedded module with the options of the environment ([`Options::from_env`]).
    pub fn embedded() -> anyhow::Result<Runner> {
        Runner::new(crate::PLUGIN_WASM, &Options::from_env().map_err(anyhow::Error::msg)?)
    }

    /// Run `body` on a fresh instance whose extism input is `input`, under the timeout and the
    /// memory cap: what it returned (or the trap that stopped it), the host's side of the call,
    /// and whether the timer fired.
    fn in_fresh_instance<R>(
        &self,
        input: Vec<u8>,
        body: impl FnOnce(&mut Store<Call>, &Instance) -> wasmtime::Result<R>,
    ) -> (wasmtime::Result<R>, Call, bool) {
        let mut store = Store::new(&self.engine, Call::new(input, self.limits.max_memory_bytes()));
        store.limiter(|call| call.limiter());
        store.set_epoch_deadline(1);
        store.epoch_deadline_trap();
        let timed_out = Arc::new(AtomicBool::new(false));
        let timer = self.start_timer(Arc::clone(&timed_out));
        let result = self.linker.instantiate(&mut store, &self.module).and_then(|instance| body(&mut store, &instance));
        drop(timer);
        (result, store.into_data(), timed_out.load(Ordering::SeqCst))
    }

    /// Call the extism export `function` with `input` and read its JSON answer straight from
    /// the output block. `manifests` are the stream sent, whose Secret values a limit error
    /// must not repeat.
    fn call<T: serde::de::DeserializeOwned>(
        &mut self,
        function: &str,
        input: Vec<u8>,
        manifests: &str,
    ) -> Result<T, CallError> {
        let input_len = input.len();
        let (result, call, timed_out) = self.in_fresh_instance(input, |store, instance| {
            instance.get_typed_func::<(), i32>(&mut *store, function)?.call(store, ())
        });
        match call.ended(result, timed_out) {
            Ended::Output(out) => serde_json::from_slice(out).map_err(unreadable),
            // 3..=7 are postwire's own errors, already worded for the user.
            Ended::Error { message, code } if (3..=7).contains(&code) => Err(CallError { message, code }),
            other => Err(CallError { message: self.describe_stop(&other, &call, input_len, manifests), code: 1 }),
        }
    }

    /// A thread that interrupts the engine's calls when the timeout passes, unless dropped first.
    fn start_timer(&self, timed_out: Arc<AtomicBool>) -> mpsc::Sender<()> {
        let (cancel, cancelled) = mpsc::channel::<()>();
        let (engine, timeout) = (self.engine.clone(), self.limits.timeout);
        std::thread::spawn(move || {
            if cancelled.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                timed_out.store(true, Ordering::SeqCst);
                engine.increment_epoch();
            }
        });
        cancel
    }

    /// Say which limit stopped a call, the step it stopped (the document, template or patch),
    /// and how to raise the limit.
    fn describe_stop(&self, ended: &Ended, call: &Call, input_len: usize, manifests: &str) -> String {
        // Steps name documents by kind, name and line, but a name could equal a Secret value.
        // No step yet: the module stopped before the engine started, reading its input.
        let step = match call.last_step() {
            Some(step) => format!(" while {}", postwire_core::redact::SecretValues::collect(manifests).scrub(step)),
            None => format!(" while reading the request ({input_len} bytes)"),
        };
        match ended {
            Ended::TimedOut => format!(
                "plugin.wasm timed out after {:?}{step} (POSTWIRE_TIMEOUT_SECONDS raises the limit)",
                self.limits.timeout
            ),
            Ended::OutOfMemory => format!(
                "plugin.wasm ran out of memory at its {} MiB limit{step} (POSTWIRE_MAX_MEMORY_MIB raises it)",
                u64::from(self.limits.max_memory_pages) * 64 / 1024
            ),
            Ended::Error { message, code } => format!("plugin.wasm failed{step} (code {code}): {message}"),
            Ended::Trap(text) => format!("plugin.wasm failed{step}: {text}"),
            Ended::Output(_) => unreachable!("an output is not a stop"),
        }
    }

    /// Render through the module's bytes entry (plugin.wasm's `postwire_render_bytes`): the
    /// manifests are written into its memory as they are, and read back the same way, where
    /// the extism export `render` would take them JSON-escaped, 8 bytes per host call.
    pub fn render(&mut self, request: &RenderRequestV1) -> Result<RenderResponseV1, CallError> {
        let header = request.header_json();
        let manifests = request.manifests.as_bytes();
        let input_len = header.len() + manifests.len();
        let (result, call, timed_out) =
            self.in_fresh_instance(Vec::new(), |store, instance| render_bytes(store, instance, &header, manifests));
        let ended = match result {
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(BytesFailure::Unreadable(e))) => return Err(e),
            Ok(Err(BytesFailure::Refused { message, code })) if (3..=7).contains(&code) => {
                return Err(CallError { message, code })
            }
            Ok(Err(BytesFailure::Refused { message, code })) => Ended::Error { message, code },
            Err(trap) => call.ended(Err(trap), timed_out),
        };
        Err(CallError { message: self.describe_stop(&ended, &call, input_len, &request.manifests), code: 1 })
    }

    /// Call `helm_plugin_main` with Helm 4's message.
    pub fn helm_plugin_main(&mut self, input: &HelmPostRendererInputV1) -> Result<HelmPostRendererOutputV1, CallError> {
        self.call("helm_plugin_main", serde_json::to_vec(input).expect("input serializes"), &input.manifests)
    }
}

/// A bytes-entry call that ended without a response.
enum BytesFailure {
    /// The module refused the request: its message and exit code.
    Refused { message: String, code: i32 },
    /// The module answered something the runner cannot read.
    Unreadable(CallError),
}

fn unreadable(e: impl std::fmt::Display) -> CallError {
    CallError { message: format!("unreadable response from plugin.wasm: {e}"), code: 1 }
}

/// Write the request's JSON header and its manifests into the instance's memory, render, and
/// read the response's manifests and report out of it.
fn render_bytes(
    store: &mut Store<Call>,
    instance: &Instance,
    header: &[u8],
    manifests: &[u8],
) -> wasmtime::Result<Result<RenderResponseV1, BytesFailure>> {
    let alloc = instance.get_typed_func::<u32, u32>(&mut *store, "postwire_alloc")?;
    let render = instance.get_typed_func::<(u32, u32, u32, u32), i32>(&mut *store, "postwire_render_bytes")?;
    let response = instance.get_typed_func::<u32, u64>(&mut *store, "postwire_response")?;
    let memory = instance.get_memory(&mut *store, "memory").ok_or_else(|| wasmtime::format_err!("no memory export"))?;
    let mut place = |bytes: &[u8]| -> wasmtime::Result<(u32, u32)> {
        let len = u32::try_from(bytes.len())?;
        let at = alloc.call(&mut *store, len)?;
        memory.write(&mut *store, at as usize, bytes)?;
        Ok((at, len))
    };
    let (header_at, header_len) = place(header)?;
    let (manifests_at, manifests_len) = place(manifests)?;
    let code = render.call(&mut *store, (header_at, header_len, manifests_at, manifests_len))?;
    let (first, second) = (response.call(&mut *store, 0)?, response.call(&mut *store, 1)?);
    let data = memory.data(&*store);
    let part = |at: u64| data.get((at >> 32) as usize..(at >> 32) as usize + (at & 0xffff_ffff) as usize);
    let (Some(first), Some(second)) = (part(first), part(second)) else {
        return Ok(Err(BytesFailure::Unreadable(unreadable("a response part lies outside the module's memory"))));
    };
    if code != 0 {
        let message = String::from_utf8_lossy(first).into_owned();
        return Ok(Err(BytesFailure::Refused { message, code }));
    }
    let read = || -> Result<RenderResponseV1, CallError> {
        let manifests = String::from_utf8(first.to_vec()).map_err(unreadable)?;
        let report = serde_json::from_slice(second).map_err(unreadable)?;
        Ok(RenderResponseV1::new(manifests, report))
    };
    Ok(read().map_err(BytesFailure::Unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest module: the header alone (loading it still compiles and checks settings).
    const EMPTY: &[u8] = b"\0asm\x01\0\0\0";
    /// Another module: the same with an empty custom section named `x`.
    const OTHER: &[u8] = b"\0asm\x01\0\0\0\x00\x02\x01x";

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postwire-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A scratch directory `name` with an empty `cache` and `EMPTY` precompiled into `bin`:
    /// (the directory, the cache, the binary's directory, the precompiled file).
    fn shipped_setup(name: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        let dir = scratch(name);
        let (cache, shipped) = (dir.join("cache"), dir.join("bin"));
        std::fs::create_dir_all(&shipped).unwrap();
        let file = precompile(EMPTY, &shipped).unwrap();
        (dir, cache, shipped, file)
    }

    #[test]
    fn a_shipped_module_is_mapped_and_nothing_is_compiled() {
        let (dir, cache, shipped, written) = shipped_setup("shipped");
        assert_eq!(written, shipped.join(shipped_name(EMPTY)));
        let engine = engine().unwrap();
        let (_, source) = load(&engine, EMPTY, Some(&cache), Some(&shipped)).unwrap();
        assert_eq!(source, Source::Shipped(written));
        // Nothing was compiled, so nothing was stored.
        assert!(!cache.exists());

        // Another module's artifact is not this one's: it is compiled, and cached.
        let (_, source) = load(&engine, OTHER, Some(&cache), Some(&shipped)).unwrap();
        assert!(matches!(&source, Source::Compiled(Some(path)) if path.is_file()), "{source:?}");
        // A module in the cache is mapped from there first.
        let (_, again) = load(&engine, OTHER, Some(&cache), Some(&shipped)).unwrap();
        assert!(matches!(again, Source::Cache(_)), "{again:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_or_writable_shipped_module_is_compiled_anew() {
        let (dir, cache, shipped, file) = shipped_setup("shipped-damaged");
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
        let engine = engine().unwrap();
        let (_, source) = load(&engine, EMPTY, None, Some(&shipped)).unwrap();
        assert_eq!(source, Source::Compiled(None));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&file, &bytes).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
            let (_, source) = load(&engine, EMPTY, Some(&cache), Some(&shipped)).unwrap();
            assert!(matches!(source, Source::Compiled(Some(_))), "{source:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The shipped artifact must load on a CPU with none of the optional features of the
    /// machine that compiled it. An engine told that its host has none (and inferring none)
    /// stands for such a CPU: it refuses what this machine compiles for itself, and takes what
    /// `precompile` wrote.
    #[test]
    fn a_precompiled_module_loads_on_a_cpu_without_optional_features() {
        let dir = scratch("shipped-portable");
        let file = precompile(EMPTY, &dir).unwrap();
        let mut old_cpu = config();
        old_cpu.target(env!("POSTWIRE_TARGET")).unwrap();
        // SAFETY: the engine only checks artifacts here; it never runs their code.
        unsafe { old_cpu.detect_host_feature(|_| Some(false)) };
        let old_cpu = Engine::new(&old_cpu).unwrap();
        // SAFETY: both artifacts were just compiled by this test, and are not run.
        assert!(unsafe { Module::deserialize_file(&old_cpu, &file) }.is_ok());
        let native = engine().unwrap().precompile_module(EMPTY).unwrap();
        let refused =
            unsafe { Module::deserialize(&old_cpu, &native) }.expect_err("native code needs this CPU's features");
        assert!(format!("{refused:#}").contains("not available on the host"), "{refused:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cache_keeps_the_newest_artifacts_only() {
        let modules = std::env::temp_dir().join(format!("postwire-prune-{}", std::process::id()));
        std::fs::create_dir_all(&modules).unwrap();
        let now = std::time::SystemTime::now();
        for age in 0..7u64 {
            let file = std::fs::File::create(modules.join(format!("plugin-{age}.cwasm"))).unwrap();
            file.set_modified(now - Duration::from_secs(age * 3600)).unwrap();
        }
        std::fs::write(modules.join("notes.txt"), b"").unwrap();
        prune(&modules);
        let mut left: Vec<String> =
            std::fs::read_dir(&modules).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        left.sort();
        assert_eq!(left, ["notes.txt", "plugin-0.cwasm", "plugin-1.cwasm", "plugin-2.cwasm", "plugin-3.cwasm"]);
        std::fs::remove_dir_all(&modules).unwrap();
    }
}
