#!/usr/bin/env bash
# Builds the playground into OUT (default playground/dist): plain static files, no server-side code.
#   pkg/                 the engine (postwire-core) for browsers: wasm-bindgen --target web
#   app.js, index.html   the page, CodeMirror 6 bundled by esbuild from npm (package-lock.json)
#   presets.json         every example under examples/ (a directory with a postwire.yaml and a
#                        chart/, rendered with `helm template <name> chart --namespace <name>`,
#                        a manifests/ directory, or a manifests.yaml), one per config
#                        (postwire-<variant>.yaml is the preset <name>-<variant>)
# Every step is cached: cargo builds incrementally, wasm-bindgen runs when the module changed,
# `npm ci` when package-lock.json changed, and files are rewritten only when their bytes change
# (so the runner, which embeds OUT, rebuilds only when the page did).
# Needs: cargo with the wasm32 target, wasm-bindgen (the version of the crate, from
# scripts/install-tools.sh), node and npm, and Helm 4 (POSTWIRE_HELM4, else helm on PATH).
# `build.sh --check` only looks for those tools: exit 0 when all are there, else 3 with what is
# missing on stderr (the runner's build script then builds the runner without the playground).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
CHECK_ONLY=0
if [ "${1:-}" = "--check" ]; then CHECK_ONLY=1; shift; fi
TOOLS="${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}"
die() { echo "playground/build.sh: error: $*" >&2; if [ "$CHECK_ONLY" = 1 ]; then exit 3; fi; exit 1; }

# The wasm-bindgen CLI must be exactly the crate's version.
want="$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' "$HERE/Cargo.toml")"
WASM_BINDGEN="${POSTWIRE_WASM_BINDGEN:-}"
if [ -z "$WASM_BINDGEN" ]; then
    if [ -x "$TOOLS/cargo/bin/wasm-bindgen" ]; then WASM_BINDGEN="$TOOLS/cargo/bin/wasm-bindgen"
    else WASM_BINDGEN="$(command -v wasm-bindgen || true)"; fi
fi
[ -n "$WASM_BINDGEN" ] || die "wasm-bindgen $want not found: run scripts/install-tools.sh (or set POSTWIRE_PLAYGROUND=off to build the runner without the playground)"
got="$("$WASM_BINDGEN" --version | awk '{print $2}')"
[ "$got" = "$want" ] || die "$WASM_BINDGEN is version $got, the crate needs $want (scripts/install-tools.sh installs it)"
command -v npm >/dev/null || die "npm not found: run scripts/install-tools.sh"
command -v node >/dev/null || die "node not found: run scripts/install-tools.sh"
HELM="${POSTWIRE_HELM4:-$(command -v helm4 || ls "$TOOLS/bin/helm4" 2>/dev/null || command -v helm || true)}"
[ -n "$HELM" ] || die "Helm not found (the presets are rendered with it): run scripts/install-tools.sh"
[ "$CHECK_ONLY" = 0 ] || exit 0
OUT="${1:-$HERE/dist}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# 1. The engine for browsers, in its own target directory (never waits on an outer build's lock).
target="${POSTWIRE_PLAYGROUND_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/playground-wasm}"
(cd "$ROOT" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET \
    cargo build --quiet --profile playground --locked -p postwire-playground --target wasm32-unknown-unknown \
    --target-dir "$target")
wasm="$target/wasm32-unknown-unknown/playground/postwire_playground.wasm"
gen="$target/bindgen"
if [ ! -f "$gen/postwire_playground_bg.wasm" ] || [ "$wasm" -nt "$gen/postwire_playground_bg.wasm" ]; then
    rm -rf "$gen.partial"
    "$WASM_BINDGEN" --target web --no-typescript --out-dir "$gen.partial" "$wasm"
    rm -rf "$gen" && mv "$gen.partial" "$gen"
fi

# 2. npm dependencies, exactly as locked.
web="$HERE/web"
if ! cmp -s "$web/package-lock.json" "$web/node_modules/.postwire-package-lock.json"; then
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$web/package-lock.json" "$web/node_modules/.postwire-package-lock.json"
fi

# 3. The page, the presets and the engine into OUT.
node "$web/build.mjs" --out "$OUT" --bindgen "$gen" --examples "$ROOT/examples" --helm "$HELM"
