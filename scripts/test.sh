#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the tools the tests need (wasm target, Helm 4.3.1
# and 3.17.3, kubectl, PyYAML, kubernetes-validate, Go's yaml.v2), builds the runner once, then
# runs the engine's unit and corpus tests and the integration tests against real Helm, then
# fuzzes the render and the edit layer briefly (cargo-fuzz, libFuzzer).
#
# Every stage runs even when an earlier one fails, and the run always ends with one line
# `N passed, N failed, N skipped` (exit status 1 when anything failed). Tests that read the shared
# corpus (`../shared` beside the checkout) are required where it exists (CI) and skipped, each
# saying why, where it does not (a user's clone).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install-tools.sh || { echo "FAILED: installing the test tools"; exit 1; }
# shellcheck disable=SC1091
source "${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}/env.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$CARGO_TARGET_DIR"
log="$CARGO_TARGET_DIR/test-output.txt"
: >"$log"
# Tests that cannot run write `skipped NAME because WHY` here (their stderr is captured).
export POSTWIRE_SKIP_LOG="$CARGO_TARGET_DIR/test-skips.txt"
: >"$POSTWIRE_SKIP_LOG"
# Where the shared corpus is present, a test that cannot run fails instead of skipping.
if [ -d "$ROOT/../shared/corpus" ]; then
  export POSTWIRE_REQUIRE_ALL=1
  corpus=(--corpus "$ROOT/../shared/corpus")
else
  echo "../shared is absent: the tests that read the shared corpus are skipped (each says so)" | tee -a "$log"
  corpus=()
fi

# A stage outside cargo test counts as one test; a failing one does not stop the others.
stage_passed=0
stage_failed=0
stage() {
  local name="$1"
  shift
  if "$@"; then
    stage_passed=$((stage_passed + 1))
  else
    stage_failed=$((stage_failed + 1))
    echo "FAILED: $name" | tee -a "$log"
  fi
}
# One closing line over all test binaries and stages; skipped tests (the `skipped NAME because`
# lines the tests print) are counted apart from those that passed.
closing_line() {
  sort -u "$POSTWIRE_SKIP_LOG" | tee -a "$log"
  awk -v sp="$stage_passed" -v sf="$stage_failed" '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    /^skipped [^ ]+ because / { if (!($2 in seen)) { seen[$2] = 1; s++ } }
    END { p = p - s + sp; if (p < 0) p = 0; printf "%d passed, %d failed, %d skipped\n", p, f + sf, s }' "$log"
}
trap 'rm -rf "${seeds:-}"; closing_line' EXIT

stage "cargo fmt --check" cargo fmt --all -- --check
# The playground's static files (cached: cargo, wasm-bindgen, npm ci and the bundler redo only
# what changed); the runner embeds them for `postwire playground`.
playground_built=0
failed_before=$stage_failed
stage "playground build" bash playground/build.sh "$CARGO_TARGET_DIR/playground-dist"
if [ "$stage_failed" = "$failed_before" ]; then
  playground_built=1
  export POSTWIRE_PLAYGROUND_DIR="$CARGO_TARGET_DIR/playground-dist"
else
  export POSTWIRE_PLAYGROUND=off
fi
# One release build serves every test: the runner (with plugin.wasm embedded) and the test
# binaries share all dependencies, so wasmtime is compiled once.
# Cargo names a workspace's artifacts alike in every checkout: when another checkout built in
# this target directory last, the runner's build script would see that checkout's sources as
# unchanged and embed its plugin.wasm. Running the build script again rebuilds plugin.wasm from
# this checkout (incrementally).
touch host/build.rs
if ! cargo build --release --locked -p postwire; then
  stage_failed=$((stage_failed + 1))
  echo "FAILED: the runner does not build; no test can run" | tee -a "$log"
  exit 1
fi
# The style generator's presets seed the fuzzers below.
seeds="$(mktemp -d)"
export POSTWIRE_STYLES_DUMP="$seeds/styles"
# --no-fail-fast: a failing test binary does not keep the others from running.
cargo test --release --locked --no-fail-fast --workspace --exclude postwire-plugin --lib --tests 2>&1 | tee -a "$log"
# A test binary that fails to build reports no `test result` line: count it as a failed stage.
if [ "${PIPESTATUS[0]}" != 0 ] && ! grep -q '^test result: FAILED' "$log"; then
  stage_failed=$((stage_failed + 1))
  echo "FAILED: cargo test" | tee -a "$log"
fi

# The playground: its engine is byte-identical to the runner's on every example and corpus
# stream (under Node), and the page works in headless chromium; screenshots are kept.
if [ "$playground_built" = 1 ]; then
  stage "playground parity" node playground/web/tests/parity.mjs --postwire "$CARGO_TARGET_DIR/release/postwire" \
    --dist "$POSTWIRE_PLAYGROUND_DIR" --examples examples "${corpus[@]}"
  stage "playground browser" node playground/web/tests/browser.mjs --postwire "$CARGO_TARGET_DIR/release/postwire" \
    --artifacts "$CARGO_TARGET_DIR/playground-artifacts" --chromium "$POSTWIRE_CHROMIUM"
fi

# Fuzz briefly: the render (`render(render(x)) == render(x)`, no panic, edited documents parse)
# and the edit layer (no panic, output parses, idempotent). By default each target runs a fixed
# number of inputs from a fixed seed (POSTWIRE_FUZZ_RUNS, default 200000 here, fewer below), so a run
# passes or fails the same way every time; POSTWIRE_FUZZ_SECONDS=N explores for N seconds
# instead. cargo-fuzz builds with libFuzzer's coverage instrumentation on stable Rust; the
# sanitizers need nightly, so they are off. Seeds: the fixture inputs and the generated styles.
fuzz_bin="${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}/cargo/bin"
if [ ! -x "$fuzz_bin/cargo-fuzz" ]; then
  stage "install cargo-fuzz" cargo install --locked cargo-fuzz@0.13.2 --root "$(dirname "$fuzz_bin")"
fi
shopt -s nullglob
mkdir -p "$seeds/render" "$seeds/edit" "$seeds/wirings" "$seeds/config" "$seeds/krm" "$seeds/argocd"
for f in core/tests/cases/*/*/input.yaml; do cp "$f" "$seeds/render/$(basename "$(dirname "$f")").yaml"; done
for f in "$seeds"/styles/*.yaml; do
  cp "$f" "$seeds/render/"
  { printf '\377'; cat "$f"; } > "$seeds/edit/$(basename "$f")"  # first byte: every op
done
# wirings: the first byte picks the wirings (all on); config: even first byte, a config file.
for f in "$seeds"/render/*.yaml; do { printf '\377'; cat "$f"; } > "$seeds/wirings/$(basename "$f")"; done
i=0
for f in examples/*/postwire*.yaml core/tests/cases/*/*/postwire.yaml; do
  i=$((i + 1)); { printf '\0'; cat "$f"; } > "$seeds/config/$i.yaml"
done
# krm: each fixture input as the items of a ResourceList.
for f in core/tests/cases/*/*/input.yaml; do
  { printf 'apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n'
    awk '/^---/ { start = 1; next } { printf "%s%s\n", (start ? "- " : "  "), $0; start = 0 } BEGIN { start = 1 }' "$f"
  } > "$seeds/krm/$(basename "$(dirname "$f")").yaml"
done
# argocd: even first byte, ARGOCD_APP_PARAMETERS as Argo CD writes it; odd, NAME=VALUE lines.
printf '\0[{"name":"set","map":{"checksum.mode":"aggregate","values.team":"shop"}},{"name":"config","string":""}]' \
  > "$seeds/argocd/json.txt"
printf '\0[{"name":"values-files","array":["values.yaml"]},{"name":"helm-parameters","map":{"image.tag":"v1"}}]' \
  > "$seeds/argocd/helm.txt"
printf '\1PARAM_CONFIG=postwire.yaml\nPARAM_VALUES_FILES_0=a.yaml\nARGOCD_ENV_TEAM=payments\nARGOCD_APP_NAME=shop\n' \
  > "$seeds/argocd/vars.txt"
if [ -n "${POSTWIRE_FUZZ_SECONDS:-}" ]; then
  fuzz_budget=(-max_total_time="$POSTWIRE_FUZZ_SECONDS")
else
  fuzz_budget=(-seed=1 -runs="${POSTWIRE_FUZZ_RUNS:-200000}" -max_total_time=300)
fi
fuzz() {
  local target="$1" flog="$seeds/fuzz-$1.log"
  if ! (cd fuzz && PATH="$fuzz_bin:$PATH" cargo fuzz run --sanitizer none -O "$target" "$seeds/$target" -- \
    "${fuzz_budget[@]}" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$flog" 2>&1); then
    sed -n '/panicked at/,/^stack backtrace/p' "$flog" | head -400
    grep -E '^(SUMMARY|Error:)|Test unit written' "$flog"
    # The failing input, whole, so a run whose artifacts are gone can still be reproduced:
    # `base64 -d > crash` then `cargo fuzz run TARGET crash`.
    for artifact in $(sed -n 's/.*Test unit written to //p' "$flog" | sort -u); do
      if [ -f "$artifact" ]; then echo "input $artifact (base64): $(base64 -w0 "$artifact")"; fi
    done
    echo "fuzz target $target failed; the input is saved under fuzz/artifacts/$target/"
    return 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$flog" | sed "s/^/fuzz $target: /"
}
for target in render edit; do
  stage "fuzz $target" fuzz "$target"
done
# The wirings, config, KRM and Argo CD parameters targets get about 10 s each in the fixed-seed
# run: a number of inputs, never a time, so a slower or faster machine runs the same inputs (a
# time limit made the run depend on the machine's speed). The time limit is only a backstop.
for target_runs in wirings:20000 config:100000 krm:100000 argocd:60000; do
  target="${target_runs%%:*}"
  if [ -z "${POSTWIRE_FUZZ_SECONDS:-}" ]; then
    fuzz_budget=(-seed=1 -runs="${POSTWIRE_FUZZ_RUNS:-${target_runs#*:}}" -max_total_time=600)
  fi
  stage "fuzz $target" fuzz "$target"
done
[ "$stage_failed" = 0 ] && ! grep -q '^test result: FAILED' "$log"
