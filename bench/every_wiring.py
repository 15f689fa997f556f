#!/usr/bin/env python3
"""Every wiring on, side by side in one run: postwire (plugin.wasm under the runner), the same
engine natively (core/examples/render.rs), and `kubectl kustomize` doing the comparable job (one
annotation on every pod template and one JSON patch per Deployment), over generated streams of N
apps and the corpus streams; `helm template` alone and with postwire as its post-renderer; a
cold first run (empty compiled-module cache) against a warm one.

Each command runs in rounds, every command once per round in turn, so a slow spell of the
machine touches all of them; a figure is the median over the rounds. Time is wall-clock, CPU is
user + system, memory is the process's peak RSS (wait4). Prints markdown and writes JSON.

Usage: every_wiring.py --bin postwire --native render --kubectl kubectl [--helm helm]
                       --shared ../shared --work DIR [--sizes 100,1000,5000,20000] [--quick]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# A run longer than this is stopped and reported as such (kustomize's patches grow faster than
# its input: it takes minutes where postwire takes seconds).
TIMEOUT = float(os.environ.get("POSTWIRE_BENCH_TIMEOUT", "300"))


def run(argv, stdin_path=None, env=None):
    """One run: (ok, wall s, cpu s, max RSS MiB, the last stderr line if it failed)."""
    with open(stdin_path or os.devnull, "rb") as stdin, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err, env=env)
        timer = threading.Timer(TIMEOUT, p.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        except KeyboardInterrupt:
            p.kill()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        why = err.read().decode(errors="replace").strip().splitlines()
        if wall >= TIMEOUT:
            why = [f"stopped after {TIMEOUT:.0f} s"]
        ok = code == 0
        return ok, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, (why[-1] if why and not ok else "")


def measure(commands, rounds, skip=()):
    """commands: name -> (argv, stdin, env); a name in `skip` is not run (it timed out on a
    smaller input). Returns name -> summary dict."""
    samples = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (argv, stdin, env) in commands.items():
            if name in skip:
                continue
            if samples[name] and not samples[name][-1][0]:
                continue  # failed once: the same again would only take time
            samples[name].append(run(argv, stdin, env))
    out = {}
    for name, runs in samples.items():
        if not runs:
            out[name] = {"ok": False, "error": "not run: it was stopped on a smaller input", "wall": 0}
            continue
        failed = [r for r in runs if not r[0]]
        if failed:
            out[name] = {"ok": False, "error": failed[0][4][:160], "wall": statistics.median(r[1] for r in runs)}
            continue
        out[name] = {
            "ok": True,
            "wall": statistics.median(r[1] for r in runs),
            "cpu": statistics.median(r[2] for r in runs),
            "rss_mib": statistics.median(r[3] for r in runs),
            "runs": len(runs),
        }
    return out


KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- manifests.yaml
patches:
- target:
    kind: (Deployment|StatefulSet|DaemonSet)
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
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/priorityClassName
      value: high
"""


def was_stopped(r):
    """Whether a summary says its command was stopped for time (or not run for that reason)."""
    return isinstance(r, dict) and not r["ok"] and ("stopped after" in r["error"] or r["error"].startswith("not run"))


def kustomize_dir(work, name, src):
    d = os.path.join(work, "kustomize", name)
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(src, os.path.join(d, "manifests.yaml"))
    with open(os.path.join(d, "kustomization.yaml"), "w") as f:
        f.write(KUSTOMIZATION)
    return d


def corpus_config(config, work):
    """every-wiring.yaml for third-party streams: its `*` entries may match nothing (a chart
    without Deployments), and Services there may be TCP (no canary traffic routing)."""
    text = open(config).read()
    istio = '    - name: "*"\n      gateways: [public]\n'
    rollouts = '    - name: "*"\n      strategy:\n'
    template = "    forEach: {kind: Deployment}\n"
    patch = "  - target: {kind: Deployment}\n"
    if any(t not in text for t in (istio, rollouts, template, patch)):
        sys.exit("bench: every-wiring.yaml changed; update corpus_config")
    text = text.replace(istio, istio + "      optional: true\n")
    text = text.replace(rollouts, '    - name: "*"\n      optional: true\n      trafficRouting: none\n      strategy:\n')
    text = text.replace(template, "    forEach: {kind: Deployment, optional: true}\n")
    text = text.replace(patch, "  - target: {kind: Deployment, optional: true}\n")
    path = os.path.join(work, "every-wiring-corpus.yaml")
    open(path, "w").write(text)
    return path


def fmt_s(x):
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.2f} s"


def times(slow, fast):
    """How many times `fast`'s wall time `slow`'s is, or a dash when either run failed."""
    return f"{slow['wall'] / fast['wall']:.2f}x" if slow["ok"] and fast["ok"] else "–"


def cell(r):
    if not r["ok"]:
        return f"failed ({r['error']})"
    return f"{fmt_s(r['wall'])}, {r['rss_mib']:.0f} MiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--native", required=True)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--parse", help="core/examples/parse.rs built: the floor of parsing each document once")
    ap.add_argument("--helm")
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--sizes", default="100,1000,5000,20000")
    ap.add_argument("--quick", action="store_true", help="one round each, for a smoke run")
    a = ap.parse_args()
    config = os.path.join(a.shared, "bench/every-wiring.yaml")
    gen = os.path.join(a.shared, "bench/gen_apps.py")
    env = dict(os.environ, POSTWIRE_TIMEOUT_SECONDS="900", POSTWIRE_MAX_MEMORY_MIB="4096")
    results = {"apps": {}, "corpus": {}, "helm": {}, "cold": {}}

    def rounds_for(size_bytes):
        if a.quick:
            return 1
        return 5 if size_bytes < 2e6 else 3 if size_bytes < 1e7 else 1

    # Generated streams: checksums only (the default config) and every wiring.
    last = None
    for n in [int(s) for s in a.sizes.split(",")]:
        src = os.path.join(a.work, f"apps-{n}.yaml")
        with open(src, "w") as f:
            subprocess.run([sys.executable, gen, str(n)], stdout=f, check=True)
        kz = kustomize_dir(a.work, f"apps-{n}", src)
        size = os.path.getsize(src)
        print(f"bench: {n} apps ({size / 1e6:.1f} MB)", file=sys.stderr)
        common = ["--release", "bench", "-n", "default", "-f", src]
        commands = {
            "postwire, checksums": ([a.bin, "render", *common], None, env),
            "postwire, every wiring": ([a.bin, "render", *common, "-c", config], None, env),
            "native, checksums": ([a.native], src, env),
            "native, every wiring": ([a.native, config], src, env),
            "kustomize": ([a.kubectl, "kustomize", kz], None, env),
        }
        skip = [name for name, r in results["apps"].get(last, {}).items() if was_stopped(r)]
        results["apps"][n] = {"bytes": size, **measure(commands, rounds_for(size), skip)}
        if a.parse:
            with open(src, "rb") as stdin:
                floor = json.loads(subprocess.run([a.parse], stdin=stdin, capture_output=True, check=True).stdout)
            results["apps"][n]["parse_floor_ms"] = floor["trees_ms"]
            results["apps"][n]["parser_events_ms"] = floor["events_ms"]
        last = n

    # The corpus streams, every wiring: plugin.wasm against the same engine natively.
    config = corpus_config(config, a.work)
    corpus = []
    for sub in ("streams", "rendered"):
        d = os.path.join(a.shared, "corpus", sub)
        corpus += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".yaml"))
    for src in corpus:
        name = os.path.basename(src)
        common = ["--release", "bench", "-n", "default", "-f", src]
        commands = {
            "postwire": ([a.bin, "render", *common, "-c", config], None, env),
            "native": ([a.native, config], src, env),
            "postwire, checksums": ([a.bin, "render", *common], None, env),
        }
        results["corpus"][name] = {"bytes": os.path.getsize(src), **measure(commands, 1 if a.quick else 5)}

    # helm template alone and with postwire as its post-renderer (Helm 3 runs an executable).
    if a.helm:
        for chart in sorted(os.listdir(os.path.join(a.shared, "corpus/charts"))):
            path = os.path.join(a.shared, "corpus/charts", chart)
            base = [a.helm, "template", "bench", path, "--namespace", "default"]
            commands = {"helm": (base, None, env), "helm + postwire": (base + ["--post-renderer", a.bin], None, env)}
            results["helm"][chart] = measure(commands, 1 if a.quick else 7)

    # Cold (a fresh compiled-module cache each run) against warm, on the smallest corpus chart:
    # the binary alone (it compiles the module), and as a release archive lays it out, with the
    # module precompiled beside it (`postwire precompile`, as scripts/package.sh ships it).
    small = os.path.join(a.shared, "corpus/rendered/grafana.yaml")
    cold_rounds = 1 if a.quick else 3
    release = tempfile.mkdtemp(prefix="postwire-release-")
    shipped_bin = os.path.join(release, "postwire")
    shutil.copy2(a.bin, shipped_bin)
    subprocess.run([shipped_bin, "precompile"], check=True, stdout=subprocess.DEVNULL)
    cold, cold_shipped = [], []
    for _ in range(cold_rounds):
        for binary, into in ((a.bin, cold), (shipped_bin, cold_shipped)):
            cache = tempfile.mkdtemp(prefix="postwire-cold-")
            into.append(run([binary, "render", "-f", small], None, dict(env, POSTWIRE_CACHE_DIR=cache)))
            shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(release, ignore_errors=True)
    warm = measure({"warm": ([a.bin, "render", "-f", small], None, env),
                    "version": ([a.bin, "version"], None, env)}, 1 if a.quick else 11)
    results["cold"] = {"cold_wall": statistics.median(r[1] for r in cold),
                       "cold_shipped_wall": statistics.median(r[1] for r in cold_shipped), **warm}

    json.dump(results, open(os.path.join(a.work, "every-wiring.json"), "w"), indent=1)
    report(results)


def report(r):
    print("### Every wiring on: generated streams (median wall time, peak RSS)\n")
    print("| apps | input | postwire, every wiring | native, every wiring | wasm / native | postwire, checksums "
          "| native, checksums | kustomize (annotation + patch) | kustomize / postwire, every wiring "
          "| floor: parse once, native (parser alone) |")
    print("|---:|---:|---|---|---:|---|---|---|---:|---|")
    for n, row in r["apps"].items():
        pw, nat, kz = row["postwire, every wiring"], row["native, every wiring"], row["kustomize"]
        ratio, vs = times(pw, nat), times(kz, pw)
        floor = (f"{row['parse_floor_ms']:.0f} ms ({row['parser_events_ms']:.0f} ms)"
                 if "parse_floor_ms" in row else "–")
        print(f"| {n:,} | {row['bytes'] / 1e6:.2f} MB | {cell(pw)} | {cell(nat)} | {ratio} | "
              f"{cell(row['postwire, checksums'])} | {cell(row['native, checksums'])} | {cell(kz)} | {vs} | {floor} |")
    print("\n### Every wiring on: corpus streams\n")
    print("| stream | input | postwire | native | wasm / native | postwire, checksums |")
    print("|---|---:|---|---|---:|---|")
    for name, row in r["corpus"].items():
        pw, nat = row["postwire"], row["native"]
        ratio = times(pw, nat)
        print(f"| {name} | {row['bytes'] / 1e3:.0f} KB | {cell(pw)} | {cell(nat)} | {ratio} | "
              f"{cell(row['postwire, checksums'])} |")
    if r["helm"]:
        print("\n### helm template alone and with postwire (checksums, Helm 3 `--post-renderer`)\n")
        print("| chart | helm template | with postwire | postwire's share |")
        print("|---|---|---|---:|")
        for chart, row in r["helm"].items():
            h, hp = row["helm"], row["helm + postwire"]
            share = f"{(hp['wall'] - h['wall']) / hp['wall'] * 100:.0f}%" if h["ok"] and hp["ok"] else "–"
            print(f"| {chart} | {cell(h)} | {cell(hp)} | {share} |")
    c = r["cold"]
    print(f"\n### Module load\n\ngrafana.yaml: cold first run (empty compiled-module cache) {fmt_s(c['cold_wall'])}, "
          f"warm {fmt_s(c['warm']['wall'])} ({c['cold_wall'] / c['warm']['wall']:.0f}x); "
          f"cold first run of a release archive's binary (module precompiled beside it) "
          f"{fmt_s(c['cold_shipped_wall'])} ({c['cold_shipped_wall'] / c['warm']['wall']:.1f}x warm); "
          f"`postwire version` (no module) {fmt_s(c['version']['wall'])}, warm render / version "
          f"{c['warm']['wall'] / c['version']['wall']:.1f}x.")


if __name__ == "__main__":
    main()
