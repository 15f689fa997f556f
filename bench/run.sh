#!/usr/bin/env bash
# Benchmarks postwire against its performance targets (see BENCHMARKS.md) and prints one markdown
# summary:
#   1. builds the release runner and warms the compiled-module cache;
#   2. hyperfine, in one run: postwire < grafana.yaml, postwire < argo-cd-install.yaml, and the
#      baseline `kubectl kustomize` adding one annotation to every pod template of the same files
#      (bench/kustomize/README.md), after checking that the baseline really annotates every one;
#   3. max RSS of the runner (wait4 rusage) on both files and on an empty stream;
#   4. the in-process engine bench (cargo bench -p postwire-host-test --bench engine);
#   5. the summary: medians, min/max, speedup vs kustomize, pass/fail per target;
#   6. every wiring on (bench/every_wiring.py): generated streams of 100 to 20,000 apps and the
#      corpus streams through plugin.wasm and natively, kustomize's annotation + patch on the
#      same inputs, `helm template` alone and with postwire, a cold first run against a warm
#      one (the binary alone, and as a release archive lays it out, with the module precompiled
#      beside it), and the playground's re-render of a 50-document chart in headless Chromium.
#
# Needs ../shared (the corpus), kubectl with kustomize (POSTWIRE_KUBECTL, else
# ~/.cache/postwire/tools/bin/kubectl from scripts/install-tools.sh, else kubectl on PATH),
# hyperfine and python3; skips with a message (exit 0) when one is missing.
# Knobs: POSTWIRE_BENCH_SIZES (apps per generated stream, default 100,1000,5000,20000),
# POSTWIRE_BENCH_RUNS (hyperfine runs, default 20), POSTWIRE_BENCH_WARMUP (default 3),
# POSTWIRE_BENCH_ITERS (engine bench iterations, default 21), CARGO_TARGET_DIR,
# POSTWIRE_BENCH_WAIT_QUIET=SECONDS (before measuring, wait up to that long for the CPUs to be
# at least 85% idle over 3 s, e.g. while other builds finish on a shared machine).
# Raw results (hyperfine JSON, RSS samples, engine JSON, logs) stay in a temp dir it names.
set -euo pipefail

START=$SECONDS
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$ROOT/../shared"
TOOLS="${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}"
RUNS="${POSTWIRE_BENCH_RUNS:-20}"
WARMUP="${POSTWIRE_BENCH_WARMUP:-3}"
RSS_RUNS=10

skip() { echo "bench: skipped: $*"; exit 0; }

[ -d "$SHARED/corpus" ] || skip "$SHARED/corpus is absent (the shared corpus sits beside the repository)"
SHARED="$(cd "$SHARED" && pwd)"
KUBECTL="${POSTWIRE_KUBECTL:-}"
if [ -z "$KUBECTL" ]; then
    if [ -x "$TOOLS/bin/kubectl" ]; then KUBECTL="$TOOLS/bin/kubectl"; else KUBECTL="$(command -v kubectl || true)"; fi
fi
[ -n "$KUBECTL" ] && [ -x "$KUBECTL" ] || skip "kubectl not found (set POSTWIRE_KUBECTL or run scripts/install-tools.sh)"
command -v hyperfine >/dev/null || skip "hyperfine not found (apt-get install -y hyperfine)"
command -v python3 >/dev/null || skip "python3 not found"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/postwire-build}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/postwire-bench.XXXXXX")"
# Keep the small results; drop the copies of the corpus the kustomize baseline needs.
trap 'rm -rf "$WORK/kustomize"' EXIT

GRAFANA="$SHARED/corpus/rendered/grafana.yaml"
ARGOCD="$SHARED/corpus/streams/argo-cd-install.yaml"
for f in "$GRAFANA" "$ARGOCD"; do [ -f "$f" ] || skip "$f is missing"; done

cut -d' ' -f1-3 /proc/loadavg >"$WORK/load-start"
echo "bench: building the release runner (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
(cd "$ROOT" && cargo build --release --locked -p postwire) >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log" >&2; echo "bench: build failed" >&2; exit 1; }
BIN="$CARGO_TARGET_DIR/release/postwire"

echo "bench: warming the compiled-module cache and checking the runner" >&2
for f in "$GRAFANA" "$ARGOCD" "$GRAFANA"; do "$BIN" <"$f" >/dev/null; done

# Fraction of CPU time idle over 3 seconds, from /proc/stat.
idle_fraction() {
    local a b
    a=($(head -1 /proc/stat)); sleep 3; b=($(head -1 /proc/stat))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    echo $(( (b[4] - a[4] + b[5] - a[5]) * 100 / (total > 0 ? total : 1) ))
}
if [ -n "${POSTWIRE_BENCH_WAIT_QUIET:-}" ]; then
    deadline=$((SECONDS + POSTWIRE_BENCH_WAIT_QUIET))
    while idle="$(idle_fraction)"; [ "$idle" -lt 85 ] && [ $SECONDS -lt $deadline ]; do
        echo "bench: waiting for a quiet machine (CPU idle ${idle}%)" >&2
    done
    echo "bench: CPU idle ${idle}% before measuring" >&2
fi

# --- the kustomize baseline ----------------------------------------------------------------------
# One annotation on every pod template, nothing else: a strategic-merge patch per pod-template
# path, selected by kind, so no other object (and no object's own metadata) is touched.
kustomize_dir() {
    local name="$1" src="$2" dir="$WORK/kustomize/$1"
    mkdir -p "$dir"
    cp "$src" "$dir/manifests.yaml"
    cat >"$dir/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- manifests.yaml
patches:
- target:
    kind: (Deployment|StatefulSet|DaemonSet|ReplicaSet|Job|ReplicationController)
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        metadata:
          annotations:
            checksum/baseline: "0000000000000000000000000000000000000000000000000000000000000000"
- target:
    kind: CronJob
  patch: |-
    apiVersion: batch/v1
    kind: CronJob
    metadata:
      name: any
    spec:
      jobTemplate:
        spec:
          template:
            metadata:
              annotations:
                checksum/baseline: "0000000000000000000000000000000000000000000000000000000000000000"
EOF
    echo "$dir"
}

# Every pod template of the input must carry the annotation in kustomize's output, and nothing
# else may: structurally with PyYAML when python3 has it, else by counting kinds and lines.
verify_baseline() {
    local name="$1" src="$2" out="$3"
    python3 - "$name" "$src" "$out" <<'EOF'
import re, sys
name, src, out = sys.argv[1:]
KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
KEY = "checksum/baseline"
try:
    import yaml
except ImportError:
    yaml = None
if yaml is not None:
    def templates(path):
        found = []
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not isinstance(doc, dict):
                    continue
                spec = doc.get("spec") or {}
                if doc.get("kind") == "CronJob":
                    spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
                elif doc.get("kind") not in KINDS:
                    spec = {}
                t = spec.get("template")
                if isinstance(t, dict):
                    ann = ((t.get("metadata") or {}).get("annotations")) or {}
                    found.append((doc["kind"], doc["metadata"]["name"], KEY in ann))
        return found
    want = templates(src)
    got = templates(out)
    annotated = sum(1 for t in got if t[2])
    total_lines = open(out).read().count(KEY + ":")
    ok = len(want) == len(got) == annotated == total_lines and len(want) > 0
    how = "PyYAML"
else:
    text = open(src).read()
    want = re.findall(r"^kind: (%s|CronJob)\s*$" % "|".join(KINDS), text, re.M)
    annotated = open(out).read().count(KEY + ":")
    ok = len(want) == annotated and len(want) > 0
    how = "line count"
print(f"bench: kustomize baseline {name}: {annotated}/{len(want)} pod templates annotated ({how})",
      file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}

KZ_GRAFANA="$(kustomize_dir grafana "$GRAFANA")"
KZ_ARGOCD="$(kustomize_dir argo-cd-install "$ARGOCD")"
for pair in "grafana:$GRAFANA:$KZ_GRAFANA" "argo-cd-install:$ARGOCD:$KZ_ARGOCD"; do
    IFS=: read -r name src dir <<<"$pair"
    "$KUBECTL" kustomize "$dir" >"$WORK/kustomize-$name.out" 2>"$WORK/kustomize-$name.err" \
        || { cat "$WORK/kustomize-$name.err" >&2; echo "bench: kubectl kustomize failed on $name" >&2; exit 1; }
    verify_baseline "$name" "$src" "$WORK/kustomize-$name.out" \
        || { echo "bench: the kustomize baseline does not annotate every pod template of $name" >&2; exit 1; }
done

# --- end to end ----------------------------------------------------------------------------------
echo "bench: hyperfine (warmup $WARMUP, runs $RUNS); kustomize takes about a second a run" >&2
hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --output pipe \
    --export-json "$WORK/hyperfine.json" \
    -n "postwire < grafana.yaml" "'$BIN' < '$GRAFANA'" \
    -n "postwire < argo-cd-install.yaml" "'$BIN' < '$ARGOCD'" \
    -n "kubectl kustomize (grafana)" "'$KUBECTL' kustomize '$KZ_GRAFANA'" \
    -n "kubectl kustomize (argo-cd-install)" "'$KUBECTL' kustomize '$KZ_ARGOCD'" \
    >"$WORK/hyperfine.log" 2>&1 || { cat "$WORK/hyperfine.log" >&2; exit 1; }
# Cross-check without a shell (hyperfine subtracts its estimate of the shell's start, which is
# only good to a millisecond or so): the same render reading the file itself, and the bare
# process start (`postwire version` loads no module).
hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" --output pipe \
    --export-json "$WORK/hyperfine-noshell.json" \
    -n "postwire render -f grafana.yaml (no shell)" "'$BIN' render -f '$GRAFANA'" \
    -n "postwire render -f argo-cd-install.yaml (no shell)" "'$BIN' render -f '$ARGOCD'" \
    -n "postwire version (process start and exit only)" "'$BIN' version" \
    >"$WORK/hyperfine-noshell.log" 2>&1 || { cat "$WORK/hyperfine-noshell.log" >&2; exit 1; }

# --- max RSS -------------------------------------------------------------------------------------
echo "bench: max RSS ($RSS_RUNS runs each)" >&2
python3 - "$WORK/rss.json" "$RSS_RUNS" "$BIN" "$GRAFANA" "$ARGOCD" "$KUBECTL" "$KZ_ARGOCD" <<'EOF'
import json, os, subprocess, sys
out, runs, binary, grafana, argocd, kubectl, kz_argocd = sys.argv[1:]
def max_rss_kb(argv, stdin_path):
    samples = []
    for _ in range(int(runs)):
        with open(stdin_path, "rb") as stdin:
            p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            if p.returncode != 0:
                sys.exit(f"bench: {argv} failed with {p.returncode}")
        samples.append(usage.ru_maxrss)  # KiB on Linux
    return sorted(samples)
results = {
    "empty": max_rss_kb([binary], os.devnull),
    "grafana.yaml": max_rss_kb([binary], grafana),
    "argo-cd-install.yaml": max_rss_kb([binary], argocd),
    "kustomize argo-cd-install.yaml": max_rss_kb([kubectl, "kustomize", kz_argocd], os.devnull),
}
sizes = {"grafana.yaml": os.path.getsize(grafana), "argo-cd-install.yaml": os.path.getsize(argocd)}
json.dump({"runs": int(runs), "rss_kb": results, "input_bytes": sizes}, open(out, "w"))
EOF

# --- engine, in process --------------------------------------------------------------------------
echo "bench: engine bench (cargo bench -p postwire-host-test --bench engine)" >&2
(cd "$ROOT" && POSTWIRE_BENCH_JSON="$WORK/engine.json" \
    cargo bench --locked -p postwire-host-test --bench engine) >"$WORK/engine.md" 2>"$WORK/engine.log" \
    || { cat "$WORK/engine.log" >&2; echo "bench: engine bench failed" >&2; exit 1; }

# --- every wiring on ------------------------------------------------------------------------------
echo "bench: every wiring (bench/every_wiring.py); 20,000 apps take minutes" >&2
(cd "$ROOT" && cargo build --release --locked -p postwire-core --example render --example parse) >"$WORK/native-build.log" 2>&1 \
    || { cat "$WORK/native-build.log" >&2; echo "bench: the native render example does not build" >&2; exit 1; }
helm=()
if [ -x "$TOOLS/bin/helm3" ]; then helm=(--helm "$TOOLS/bin/helm3"); fi
python3 "$ROOT/bench/every_wiring.py" --bin "$BIN" --native "$CARGO_TARGET_DIR/release/examples/render" \
    --parse "$CARGO_TARGET_DIR/release/examples/parse" \
    --kubectl "$KUBECTL" "${helm[@]}" --shared "$SHARED" \
    --work "$WORK" --sizes "${POSTWIRE_BENCH_SIZES:-100,1000,5000,20000}" >"$WORK/every-wiring.md" 2>"$WORK/every-wiring.log" \
    || { cat "$WORK/every-wiring.log" >&2; echo "bench: every_wiring.py failed" >&2; exit 1; }
# The playground (built into the runner) re-rendering a 50-document chart (cert-manager) in
# headless Chromium, when a browser and the test's node modules are at hand (scripts/test.sh).
PLAYGROUND_BENCH="skipped: chromium or playground/web/node_modules is absent (scripts/test.sh installs them)"
if [ -x "${POSTWIRE_CHROMIUM:-/usr/bin/chromium}" ] && [ -d "$ROOT/playground/web/node_modules" ]; then
    if node "$ROOT/playground/web/tests/browser.mjs" --postwire "$BIN" --artifacts "$WORK/playground" \
        --bench "$SHARED/corpus/rendered/cert-manager.yaml" >"$WORK/playground.log" 2>&1; then
        PLAYGROUND_BENCH="$(grep '^bench:' "$WORK/playground.log" | tail -1)"
    else
        PLAYGROUND_BENCH="failed (see $WORK/playground.log)"
    fi
fi

# --- summary -------------------------------------------------------------------------------------
python3 - "$WORK" "$BIN" "$KUBECTL" "$ROOT" "$((SECONDS - START))" <<'EOF'
import json, os, platform, subprocess, sys, datetime
work, binary, kubectl, root, elapsed = sys.argv[1:]
hf = {r["command"]: r for r in json.load(open(f"{work}/hyperfine.json"))["results"]}
noshell = {r["command"]: r for r in json.load(open(f"{work}/hyperfine-noshell.json"))["results"]}
rss = json.load(open(f"{work}/rss.json"))
eng = json.load(open(f"{work}/engine.json"))

def sh(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=root).stdout.strip()
    except OSError:
        return "?"
def ms(s): return s * 1e3
def fmt(x): return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 10 else f"{x:.1f}"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
kver = sh(kubectl, "version", "--client").replace("\n", ", ")

print(f"## postwire benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}\n")
print(f"- machine: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}; load average at start "
      f"{open(f'{work}/load-start').read().split()[0]}, at the end {os.getloadavg()[0]:.2f} (other work on the machine widens the spread)")
rev = sh('git', 'rev-parse', '--short', 'HEAD') or "unknown (not a git checkout)"
print(f"- {sh('rustc', '--version')}; {sh(binary, 'version')}; git {rev}"
      f"{' (dirty tree)' if sh('git', 'status', '--porcelain') else ''}")
print(f"- kubectl: {kver}; {sh('hyperfine', '--version')}")
print(f"- raw results: {work}\n")

runs = next(iter(hf.values()))["times"]
print(f"### End to end (hyperfine, {len(runs)} runs after warm-up, ms, warm module cache, output to a pipe)\n")
print("| command | median | min | max | mean ± σ |")
print("|---|---:|---:|---:|---:|")
for name, r in list(hf.items()) + list(noshell.items()):
    print(f"| {name} | {fmt(ms(r['median']))} | {fmt(ms(r['min']))} | {fmt(ms(r['max']))} | "
          f"{fmt(ms(r['mean']))} ± {fmt(ms(r['stddev']))} |")

def speedup(f):
    return hf[f"kubectl kustomize ({f})"]["median"] / hf[f"postwire < {f}.yaml"]["median"]
print(f"\nSpeedup vs kustomize (ratio of medians): grafana {speedup('grafana'):.1f}x, "
      f"argo-cd-install {speedup('argo-cd-install'):.1f}x\n")

empty = rss["rss_kb"]["empty"][0]  # floor: the smallest RSS of a run on an empty stream
print(f"### Max RSS (wait4 rusage, {rss['runs']} runs, KiB: median (min–max); floor = smallest RSS on an empty stream, {empty} KiB)\n")
print("| process | input | max RSS | RSS / input | (RSS − floor) / input |")
print("|---|---:|---:|---:|---:|")
def med(xs): return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
for key, samples in rss["rss_kb"].items():
    size = rss["input_bytes"].get(key.replace("kustomize ", ""))
    m = med(samples)
    ratio = f"{m * 1024 / size:.1f}x" if size else "–"
    over = f"{max(m - empty, 0) * 1024 / size:.2f}x" if size and not key.startswith("kustomize") else "–"
    label = key if key.startswith("kustomize") else f"postwire < {key}" if key != "empty" else "postwire < /dev/null"
    print(f"| {label} | {f'{size / 1024:.1f} KiB' if size else '0'} | {m:.0f} ({samples[0]}–{samples[-1]}) | {ratio} | {over} |")

print()
print("\n".join(l for l in open(f"{work}/engine.md").read().splitlines()
                if not l.startswith("Engine bench took")).strip())

files = {f["file"]: f for f in eng["files"]}
rows = []
def target(name, measured, ok):
    rows.append((name, measured, "PASS" if ok else "FAIL"))
a = hf["postwire < argo-cd-install.yaml"]["median"] * 1e3
g = hf["postwire < grafana.yaml"]["median"] * 1e3
target("argo-cd-install end to end < 40 ms", f"{fmt(a)} ms median", a < 40)
target("argo-cd-install ≥ 30x faster than kustomize", f"{speedup('argo-cd-install'):.1f}x", speedup("argo-cd-install") >= 30)
target("grafana end to end < 10 ms", f"{fmt(g)} ms median", g < 10)
for name, f in files.items():
    r = f["wasm"]["median_ms"] / f["native"]["median_ms"]
    target(f"wasm within 2x of native: {name}", f"{r:.2f}x (Runner::render / native render; "
           f"in-call / native plugin-equivalent {f['wasm_in_call_ms'] / f['native_plugin_equiv']['median_ms']:.2f}x)", r <= 2)
for name, f in files.items():
    r = f["peak_heap_bytes"] / f["input_bytes"]
    target(f"native peak heap < 4x input: {name}", f"{r:.2f}x ({f['peak_heap_bytes'] / 1024:.0f} KiB)", r < 4)
for key in ("grafana.yaml", "argo-cd-install.yaml"):
    m = med(rss["rss_kb"][key]); size = rss["input_bytes"][key]
    target(f"runner max RSS < 4x input: {key}", f"{m * 1024 / size:.1f}x ({m:.0f} KiB; above the {empty} KiB empty-stream floor {max(m - empty, 0) * 1024 / size:.2f}x)",
           m * 1024 / size < 4)
print("\n### Targets\n")
print("| target | measured | result |")
print("|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
passed = sum(1 for r in rows if r[2] == "PASS")
print(f"\n{passed}/{len(rows)} targets met. Bench wall time {elapsed} s.")
EOF
echo
cat "$WORK/every-wiring.md"
echo
echo "### Playground (headless Chromium, cert-manager.yaml, 50 documents)"
echo
echo "$PLAYGROUND_BENCH"
