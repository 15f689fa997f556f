#!/usr/bin/env bash
# Fresh machine to a post-rendered chart: installs the wasm target and Helm 4.3.1, builds the
# postwire runner (which embeds plugin.wasm), installs it as a Helm 4 post-renderer plugin in a
# private Helm home (postwire install-plugin), and renders the livechat example (examples/livechat) through it.
# Prints what postwire added (the diff and the report) and the objects it generated.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install-tools.sh helm
TOOLS="${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}"
HELM="$TOOLS/bin/helm4"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# The demo needs only Helm: build the runner without the browser playground (which needs node,
# npm and the wasm-bindgen CLI; scripts/test.sh builds it).
export POSTWIRE_PLAYGROUND="${POSTWIRE_PLAYGROUND:-off}"
echo "building the postwire runner (the first build compiles wasmtime: about 7 minutes on 2 cores)..."
cargo build --release --locked -p postwire
POSTWIRE="$CARGO_TARGET_DIR/release/postwire"

# A private Helm home, so the demo leaves your Helm setup alone.
DEMO="$CARGO_TARGET_DIR/demo"
rm -rf "$DEMO" && mkdir -p "$DEMO/plugins"
export HELM_PLUGINS="$DEMO/plugins" HELM_DATA_HOME="$DEMO/data" HELM_CONFIG_HOME="$DEMO/config" HELM_CACHE_HOME="$DEMO/cache"
# The documented install step: the plugin, with the binary beside it, where this Helm looks.
"$POSTWIRE" install-plugin --helm 4 --helm-bin "$HELM"
"$HELM" plugin list

CHART=examples/livechat/chart
CONFIG="$ROOT/examples/livechat/postwire.yaml"
"$HELM" template livechat "$CHART" --namespace livechat > "$DEMO/plain.yaml"
"$HELM" template livechat "$CHART" --namespace livechat --post-renderer postwire \
    --post-renderer-args --config --post-renderer-args "$CONFIG" > "$DEMO/post-rendered.yaml"

"$POSTWIRE" render -f "$DEMO/plain.yaml" --config "$CONFIG" --report "$DEMO/report.json" > "$DEMO/piped.yaml"

echo
echo "=== what postwire changed: diff of 'helm template' and 'helm template | postwire'"
"$POSTWIRE" diff -f "$DEMO/plain.yaml" --config "$CONFIG" || true
echo
echo "=== why: postwire's report"
cat "$DEMO/report.json"
echo
echo "=== through Helm 4 (helm template --post-renderer postwire): the objects postwire generated"
awk '/^---/ { if (g) print "  " k "/" n "  (" g ")"; k = n = g = "" }
     /^kind:/ { k = $2 } /^  name:/ && n == "" { n = $2 }
     /postwire.dev\/generated-by:/ { g = $2 }
     END { if (g) print "  " k "/" n "  (" g ")" }' "$DEMO/post-rendered.yaml" | tr -d '"'
echo
echo "=== and its checksums of the ConfigMaps and Secrets the pods use"
grep -n 'checksum/' "$DEMO/post-rendered.yaml"
if cmp -s "$DEMO/post-rendered.yaml" examples/livechat/expected.yaml; then
    echo "(identical to examples/livechat/expected.yaml)"
fi
echo
echo "Outputs in $DEMO: plain.yaml, piped.yaml, post-rendered.yaml (Helm 4 re-serializes"
echo "post-rendered documents itself when it regroups them by file, so that file also differs"
echo "from plain.yaml in sequence indentation)."
echo
echo "=== where the demo put its tools (nothing was installed system-wide or put on your PATH)"
echo "  postwire:    $POSTWIRE"
echo "  Helm 4.3.1:  $HELM   (Helm 3.17.3 beside it as helm3 once scripts/test.sh has run)"
echo "  Helm home:   $DEMO   (plugins, data, config, cache of this demo only)"
echo "To use them in this shell:"
echo "  export PATH=\"$(dirname "$POSTWIRE"):$TOOLS/bin:\$PATH\""
echo "  helm4 template web ./chart --post-renderer postwire   # after: postwire install-plugin --helm 4"
echo "or install postwire for your own Helm: cargo install --locked --path host && postwire install-plugin"
