#!/usr/bin/env bash
# The Argo CD image's build stage (argocd-cmp/Dockerfile), run as written without Docker: its
# `RUN` steps, in order, in a fresh copy of the repository (the `COPY . .`) with a clean target
# directory and an environment holding only the Rust toolchain (no wasm-bindgen, Helm or the
# tools cache; `cargo install --path host` on a machine with only Rust is the same build). Then
# the binary it left where the image's next stage copies it from must run, render, and say it
# was built without the playground; the image's setup steps (image/setup.sh) run on a scratch
# root with it. The first build compiles wasmtime: about 10 minutes on two cores.
#   scripts/clean-build.sh [WORKDIR]    (default: a temporary directory, removed afterwards)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-}"
if [ -z "$WORK" ]; then WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK/src" "$WORK/home"
DOCKERFILE="$ROOT/argocd-cmp/Dockerfile"

# The repository as `COPY . .` sees it: tracked and new files, not ignored ones (no target/).
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/src")

# The build stage: from `FROM ... AS build` to the next `FROM`; its WORKDIR is /src.
steps="$(awk '/^FROM .* AS build/{on=1; next} /^FROM /{on=0} on && /^RUN /{sub(/^RUN /, ""); print}' "$DOCKERFILE")"
[ -n "$steps" ] || { echo "clean-build.sh: no RUN steps in the build stage of $DOCKERFILE" >&2; exit 1; }
grep -q '^WORKDIR /src$' "$DOCKERFILE" || { echo "clean-build.sh: the build stage no longer works in /src" >&2; exit 1; }
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
while IFS= read -r step; do
    echo "clean-build.sh: RUN $step" >&2
    (cd "$WORK/src" && env -i HOME="$WORK/home" PATH="$cargo_home/bin:/usr/bin:/bin" \
        CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home" bash -euo pipefail -c "$step")
done <<< "$steps"

# What the image's second stage copies: /src/target/release/postwire.
copied="$(sed -n 's|^COPY --from=build /src/\(target/release/postwire\) .*|\1|p' "$DOCKERFILE")"
bin="$WORK/src/${copied:?the image no longer copies target/release/postwire}"
"$bin" version
helm_bin="${POSTWIRE_HELM4:-$(command -v helm4 || command -v helm || true)}"
if [ -n "$helm_bin" ]; then
    "$helm_bin" template demo "$ROOT/examples/quickstart/chart" | "$bin" render | grep -q 'checksum/configmap-demo-web'
fi
if "$bin" playground --port 0 >/dev/null 2>"$WORK/playground.err"; then
    echo "clean-build.sh: a build without wasm-bindgen embedded the playground" >&2; exit 1
fi
grep -q 'built without the playground' "$WORK/playground.err"
if [ -n "$helm_bin" ]; then
    POSTWIRE="$bin" HELM="$helm_bin" sh "$ROOT/argocd-cmp/image/setup.sh" "$WORK/image-root"
fi
echo "clean-build.sh: the Dockerfile's build steps work with only Rust ($bin)"
