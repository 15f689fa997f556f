#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the tools the tests need (wasm target, Helm 4.3.1
# and 3.17.3, kubectl, PyYAML, kubernetes-validate, Go's yaml.v2), builds the runner once, then
# runs the engine's unit and corpus tests and the integration tests against real Helm, then
# fuzzes the render and the edit layer briefly (cargo-fuzz, libFuzzer).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install-tools.sh
# shellcheck disable=SC1091
source "${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}/env.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# Missing tools or shared data fail the run here instead of skipping tests.
export POSTWIRE_REQUIRE_ALL=1

cargo fmt --all -- --check
# The playground's static files (cached: cargo, wasm-bindgen, npm ci and the bundler redo only
# what changed); the runner embeds them for `postwire playground`.
bash playground/build.sh "$CARGO_TARGET_DIR/playground-dist"
export POSTWIRE_PLAYGROUND_DIR="$CARGO_TARGET_DIR/playground-dist"
# One release build serves every test: the runner (with plugin.wasm embedded) and the test
# binaries share all dependencies, so wasmtime is compiled once.
# Cargo names a workspace's artifacts alike in every checkout: when another checkout built in
# this target directory last, the runner's build script would see that checkout's sources as
# unchanged and embed its plugin.wasm. Running the build script again rebuilds plugin.wasm from
# this checkout (incrementally).
touch host/build.rs
cargo build --release --locked -p postwire
log="$CARGO_TARGET_DIR/test-output.txt"
# The style generator's presets seed the fuzzers below.
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
export POSTWIRE_STYLES_DUMP="$seeds/styles"
cargo test --release --locked --workspace --exclude postwire-plugin --lib --tests 2>&1 | tee "$log"

# The playground: its engine is byte-identical to the runner's on every example and corpus
# stream (under Node), and the page works in headless chromium; screenshots are kept.
node playground/web/tests/parity.mjs --postwire "$CARGO_TARGET_DIR/release/postwire" \
  --dist "$POSTWIRE_PLAYGROUND_DIR" --examples examples --corpus ../shared/corpus
node playground/web/tests/browser.mjs --postwire "$CARGO_TARGET_DIR/release/postwire" \
  --artifacts "$CARGO_TARGET_DIR/playground-artifacts" --chromium "$POSTWIRE_CHROMIUM"

# Fuzz briefly: the render (`render(render(x)) == render(x)`, no panic, edited documents parse)
# and the edit layer (no panic, output parses, idempotent). By default each target runs a fixed
# number of inputs from a fixed seed (POSTWIRE_FUZZ_RUNS, default 200000, about 10 s), so a run
# passes or fails the same way every time; POSTWIRE_FUZZ_SECONDS=N explores for N seconds
# instead. cargo-fuzz builds with libFuzzer's coverage instrumentation on stable Rust; the
# sanitizers need nightly, so they are off. Seeds: the fixture inputs and the generated styles.
fuzz_bin="${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}/cargo/bin"
if [ ! -x "$fuzz_bin/cargo-fuzz" ]; then
  cargo install --locked cargo-fuzz@0.13.2 --root "$(dirname "$fuzz_bin")"
fi
shopt -s nullglob
mkdir -p "$seeds/render" "$seeds/edit"
for f in core/tests/cases/*/*/input.yaml; do cp "$f" "$seeds/render/$(basename "$(dirname "$f")").yaml"; done
for f in "$seeds"/styles/*.yaml; do
  cp "$f" "$seeds/render/"
  { printf '\377'; cat "$f"; } > "$seeds/edit/$(basename "$f")"  # first byte: every op
done
if [ -n "${POSTWIRE_FUZZ_SECONDS:-}" ]; then
  fuzz_budget=(-max_total_time="$POSTWIRE_FUZZ_SECONDS")
else
  fuzz_budget=(-seed=1 -runs="${POSTWIRE_FUZZ_RUNS:-200000}" -max_total_time=300)
fi
for target in render edit; do
  flog="$seeds/fuzz-$target.log"
  if ! (cd fuzz && PATH="$fuzz_bin:$PATH" cargo fuzz run --sanitizer none -O "$target" "$seeds/$target" -- \
    "${fuzz_budget[@]}" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$flog" 2>&1); then
    sed -n '/panicked at/,/^stack backtrace/p' "$flog" | head -150
    grep -E '^(SUMMARY|Error:)|Test unit written' "$flog"
    echo "fuzz target $target failed; the input is saved under fuzz/artifacts/$target/"
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$flog" | sed "s/^/fuzz $target: /"
done
# One closing line over all test binaries (several of them hold no tests of their own).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
