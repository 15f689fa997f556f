#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the tools the tests need (wasm target, Helm 4.3.1
# and 3.17.3, kubectl, PyYAML, kubernetes-validate, Go's yaml.v2), builds the runner once, then
# runs the engine's unit and corpus tests and the integration tests against real Helm.
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
# One release build serves every test: the runner (with plugin.wasm embedded) and the test
# binaries share all dependencies, so wasmtime is compiled once.
cargo build --release --locked -p postwire
log="$CARGO_TARGET_DIR/test-output.txt"
cargo test --release --locked --workspace --exclude postwire-plugin --lib --tests 2>&1 | tee "$log"
# One closing line over all test binaries (several of them hold no tests of their own).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
