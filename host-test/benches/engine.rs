//! Engine benchmark: the same render natively and inside plugin.wasm, module load, peak heap.
//!
//! `cargo bench -p postwire-host-test --bench engine` (release code, see BENCHMARKS.md). For each
//! corpus file it prints, as a markdown table:
//! - module load: `Runner::embedded()` with a warm compiled-module cache (the disk cache is warmed
//!   first; "first" is the first load in this process, "median" the following ones);
//! - native: `postwire_core::render(&request)`, in process;
//! - native plugin-equivalent: what the plugin does inside one call, natively: decode the request
//!   JSON, `render_response`, encode the response JSON;
//! - wasm: `Runner::render(&request)` on a loaded runner: host JSON encode, the extism call, host
//!   JSON decode;
//! - wasm in-call: wasm minus the host-side JSON (the runner's own encode and decode, measured
//!   natively on the same request and response): copying into and out of the module plus the
//!   plugin's own JSON and render;
//! - fresh runner: `Runner::embedded()` then the first `render` on it, what one CLI run pays
//!   (the module's linear memory is new and must be faulted in, unlike in the steady state);
//! - peak heap of the native render: a counting global allocator wrapping `System`, bytes above
//!   the live heap just before the call (the request is already allocated), divided by input size;
//!   the peak for an empty stream shows the fixed part.
//!
//! Every time is the median of `POSTWIRE_BENCH_ITERS` (default 21, at least 15) iterations after
//! `POSTWIRE_BENCH_WARMUP` (default 3) warm-up runs; min and max show the spread. Set
//! `POSTWIRE_BENCH_JSON=FILE` to also write the figures as JSON (bench/run.sh reads it).
//! Without `../shared` beside the repository the corpus part prints why and is skipped.
//!
//! Then rows for `kind: List` (issue 11): `POSTWIRE_BENCH_LIST_N` (default 20,000) small
//! Deployments, each using its own ConfigMap (then all using one), rendered natively as separate
//! documents and as the same objects in one `kind: List`; the target is the List within 2x of
//! the separate documents.
//! `POSTWIRE_BENCH_ONLY=list cargo bench -p postwire-host-test --bench engine` runs this row
//! alone (median of `POSTWIRE_BENCH_LIST_ITERS` runs, default 5, after one warm-up).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postwire::runner::Runner;
use postwire_core::wire::{RenderRequestV1, RenderResponseV1};

/// `System` with a count of live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run `f` once and return the most heap it held above what was live before it.
fn peak_heap<T>(f: impl FnOnce() -> T) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed);
    drop(black_box(out));
    peak - base
}

/// Median, min and max of a set of durations.
#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        let n = samples.len();
        let median = if n % 2 == 1 { samples[n / 2] } else { (samples[n / 2 - 1] + samples[n / 2]) / 2 };
        Stats { median, min: samples[0], max: samples[n - 1] }
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    /// `median (min–max)` in ms.
    fn cell(&self) -> String {
        format!("{} ({}–{})", fmt_ms(Self::ms(self.median)), fmt_ms(Self::ms(self.min)), fmt_ms(Self::ms(self.max)))
    }

    fn json(&self) -> String {
        format!(
            "{{\"median_ms\":{:.4},\"min_ms\":{:.4},\"max_ms\":{:.4}}}",
            Self::ms(self.median),
            Self::ms(self.min),
            Self::ms(self.max)
        )
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Plan {
    warmup: usize,
    iters: usize,
}

impl Plan {
    /// Time `f` `iters` times after `warmup` untimed runs.
    fn time<T>(&self, mut f: impl FnMut() -> T) -> Stats {
        for _ in 0..self.warmup {
            black_box(f());
        }
        let samples = (0..self.iters)
            .map(|_| {
                let start = Instant::now();
                let out = f();
                let elapsed = start.elapsed();
                drop(black_box(out));
                elapsed
            })
            .collect();
        Stats::of(samples)
    }
}

struct Row {
    name: &'static str,
    input_bytes: usize,
    native: Stats,
    native_plugin_equiv: Stats,
    wasm: Stats,
    host_json: Stats,
    wasm_in_call_ms: f64,
    fresh: Stats,
    peak_heap: usize,
}

const FILES: [(&str, &str); 3] = [
    ("grafana.yaml", "corpus/rendered/grafana.yaml"),
    ("argo-cd-install.yaml", "corpus/streams/argo-cd-install.yaml"),
    ("kube-prometheus-manifests.yaml", "corpus/streams/kube-prometheus-manifests.yaml"),
];

/// `n` Deployments and the ConfigMaps they use (one each, or one for all): as separate
/// documents, and as one `kind: List`.
fn list_inputs(n: usize, own: bool) -> (String, String) {
    let mut docs = String::new();
    let mut items = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..n {
        let c = if own { i } else { 0 };
        let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: v{i}\n");
        let deploy = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{i}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx\n        envFrom:\n        - configMapRef:\n            name: c{c}\n"
        );
        let objects: &[&String] = if own || i == 0 { &[&cm, &deploy] } else { &[&deploy] };
        for obj in objects {
            docs.push_str("---\n");
            docs.push_str(obj);
            for (j, line) in obj.lines().enumerate() {
                items.push_str(if j == 0 { "- " } else { "  " });
                items.push_str(line);
                items.push('\n');
            }
        }
    }
    (docs, items)
}

/// The `kind: List` rows: each Deployment using its own ConfigMap, then all using one; both as
/// separate documents and as one List, timed, and checked to annotate every Deployment.
fn list_row() {
    let n = env_usize("POSTWIRE_BENCH_LIST_N", 20_000);
    let plan = Plan { warmup: 1, iters: env_usize("POSTWIRE_BENCH_LIST_ITERS", 5).max(1) };
    println!("\n### kind: List vs separate documents ({n} Deployments; native render, ms)\n");
    println!("| Deployments use | input | size | native render, median (min–max) | List / separate |");
    println!("|---|---|---:|---:|---:|");
    for own in [true, false] {
        list_rows(n, own, &plan);
    }
    println!("\nTarget: the List within 2x of the separate documents.");
}

fn list_rows(n: usize, own: bool, plan: &Plan) {
    let (docs, list) = list_inputs(n, own);
    let uses = if own { "a ConfigMap each" } else { "one ConfigMap" };
    let mut stats = Vec::new();
    for (name, text) in [("separate documents", &docs), ("one kind: List", &list)] {
        let request = RenderRequestV1::new(text.as_str());
        let started = Instant::now();
        let out = postwire_core::render(&request).expect("native render");
        let first = started.elapsed();
        let annotated = out.manifests.matches("checksum/configmap-c").count();
        assert_eq!(annotated, n, "{name}: every Deployment gets its checksum");
        // A render slower than a minute is reported from its first run rather than repeated.
        let s = if first > Duration::from_secs(60) {
            Stats { median: first, min: first, max: first }
        } else {
            plan.time(|| postwire_core::render(&request).expect("native render"))
        };
        stats.push((name, text.len(), s));
    }
    let ratio = Stats::ms(stats[1].2.median) / Stats::ms(stats[0].2.median);
    for (k, (name, bytes, s)) in stats.iter().enumerate() {
        let last = if k == 1 {
            format!("{ratio:.2}x {}", if ratio <= 2.0 { "(met)" } else { "(NOT met)" })
        } else {
            String::new()
        };
        println!("| {uses} | {name} | {:.1} MiB | {} | {last} |", *bytes as f64 / (1024.0 * 1024.0), s.cell());
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    if std::env::var("POSTWIRE_BENCH_ONLY").as_deref() == Ok("list") {
        list_row();
        return;
    }
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if !shared.join("corpus").is_dir() {
        println!("engine bench skipped: {} is absent (the shared corpus sits beside the repository)", shared.display());
        list_row();
        return;
    }
    let plan =
        Plan { warmup: env_usize("POSTWIRE_BENCH_WARMUP", 3), iters: env_usize("POSTWIRE_BENCH_ITERS", 21).max(15) };
    let started = Instant::now();

    let inputs: Vec<(&str, String)> = FILES
        .iter()
        .map(|(name, rel)| {
            let path = shared.join(rel);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (*name, text)
        })
        .collect();

    // Peak heap first, before any wasmtime engine (and its threads) exists. One untimed render
    // first, so lazily initialised statics do not count.
    let native_peak = |text: &str| {
        let request = RenderRequestV1::new(text);
        black_box(postwire_core::render(&request).expect("native render"));
        (0..3).map(|_| peak_heap(|| postwire_core::render(&request).expect("native render"))).max().unwrap()
    };
    let empty_peak = native_peak("");
    let peaks: Vec<usize> = inputs.iter().map(|(_, text)| native_peak(text)).collect();

    // Module load: make sure the disk cache is warm, then time loads in this process.
    drop(Runner::embedded().expect("loading plugin.wasm"));
    let first_load = {
        let start = Instant::now();
        let runner = Runner::embedded().expect("loading plugin.wasm");
        let elapsed = start.elapsed();
        drop(runner);
        elapsed
    };
    let load = plan.time(|| Runner::embedded().expect("loading plugin.wasm"));
    let mut runner = Runner::embedded().expect("loading plugin.wasm");
    let empty_call = plan.time(|| runner.render(&RenderRequestV1::new("")).expect("empty render"));

    let mut rows = Vec::new();
    for ((name, text), peak_heap) in inputs.iter().zip(peaks) {
        let request = RenderRequestV1::new(text.clone());
        let native_out = postwire_core::render(&request).expect("native render");
        let wasm_out = runner.render(&request).expect("wasm render");
        assert!(native_out.manifests == wasm_out.manifests, "{name}: native and wasm renders differ");

        let native = plan.time(|| postwire_core::render(&request).expect("native render"));
        // The same encoders and decoders as plugin/src/lib.rs (extism-pdk's `Json` input is
        // serde_json; the output is `to_json`) and host/src/runner.rs (`to_json` out, serde_json in).
        let request_json = request.to_json();
        let native_plugin_equiv = plan.time(|| {
            let req: RenderRequestV1 = serde_json::from_slice(&request_json).unwrap();
            postwire_core::render_response(&req).expect("native render").to_json()
        });
        let response_json = RenderResponseV1::new(native_out.manifests.clone(), native_out.report.clone()).to_json();
        let host_json = plan.time(|| {
            let encoded = request.to_json();
            let decoded: RenderResponseV1 = serde_json::from_slice(&response_json).unwrap();
            (encoded, decoded)
        });
        let wasm = plan.time(|| runner.render(&request).expect("wasm render"));
        let fresh = plan.time(|| {
            let mut fresh = Runner::embedded().expect("loading plugin.wasm");
            fresh.render(&request).expect("wasm render")
        });
        rows.push(Row {
            name,
            input_bytes: text.len(),
            native,
            native_plugin_equiv,
            wasm,
            host_json,
            wasm_in_call_ms: Stats::ms(wasm.median) - Stats::ms(host_json.median),
            fresh,
            peak_heap,
        });
    }

    println!(
        "\n### Engine: native vs plugin.wasm (median (min–max) of {} runs after {} warm-up, ms)\n",
        plan.iters, plan.warmup
    );
    println!(
        "| file | input | native render | native, plugin-equivalent | wasm `Runner::render` | host JSON | wasm in-call | wasm/native | in-call / plugin-equiv. | fresh runner: load + first render | native peak heap | peak / input |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let native_ms = Stats::ms(r.native.median);
        let equiv_ms = Stats::ms(r.native_plugin_equiv.median);
        println!(
            "| {} | {:.1} KiB | {} | {} | {} | {} | {} | {:.2}x | {:.2}x | {} | {:.1} KiB | {:.2}x |",
            r.name,
            r.input_bytes as f64 / 1024.0,
            r.native.cell(),
            r.native_plugin_equiv.cell(),
            r.wasm.cell(),
            fmt_ms(Stats::ms(r.host_json.median)),
            fmt_ms(r.wasm_in_call_ms),
            Stats::ms(r.wasm.median) / native_ms,
            r.wasm_in_call_ms / equiv_ms,
            r.fresh.cell(),
            r.peak_heap as f64 / 1024.0,
            r.peak_heap as f64 / r.input_bytes as f64,
        );
    }
    println!(
        "\nModule load (`Runner::embedded()`, warm compiled-module cache): first in process {} ms, then median {}.",
        fmt_ms(Stats::ms(first_load)),
        load.cell()
    );
    println!("Fixed cost of one call (`Runner::render` of an empty stream): median {}.", empty_call.cell());
    println!("Native peak heap of an empty stream (the fixed part): {:.1} KiB.", empty_peak as f64 / 1024.0);
    println!(
        "Columns: native, plugin-equivalent = request JSON decode + render_response + response JSON encode, natively; \
host JSON = the runner's own request encode + response decode; wasm in-call = wasm − host JSON; \
fresh runner = `Runner::embedded()` + first render on it."
    );
    println!("Engine bench took {:.1} s.", started.elapsed().as_secs_f64());

    if let Ok(path) = std::env::var("POSTWIRE_BENCH_JSON") {
        let files: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"file\":\"{}\",\"input_bytes\":{},\"native\":{},\"native_plugin_equiv\":{},\"wasm\":{},\"host_json\":{},\"wasm_in_call_ms\":{:.4},\"fresh\":{},\"peak_heap_bytes\":{}}}",
                    r.name,
                    r.input_bytes,
                    r.native.json(),
                    r.native_plugin_equiv.json(),
                    r.wasm.json(),
                    r.host_json.json(),
                    r.wasm_in_call_ms,
                    r.fresh.json(),
                    r.peak_heap
                )
            })
            .collect();
        let json = format!(
            "{{\"iters\":{},\"warmup\":{},\"first_load_ms\":{:.4},\"load\":{},\"empty_call\":{},\"empty_peak_heap_bytes\":{},\"files\":[{}]}}\n",
            plan.iters,
            plan.warmup,
            Stats::ms(first_load),
            load.json(),
            empty_call.json(),
            empty_peak,
            files.join(",")
        );
        std::fs::write(&path, json).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    list_row();
}
