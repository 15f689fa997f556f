#!/usr/bin/env bash
# Builds release archives into dist/, per target:
#   postwire-VERSION-TARGET.tar.gz        the postwire binary and its precompiled plugin.wasm
#                                         (plugin-DIGEST.cwasm, so no run compiles it), the Helm
#                                         plugin directories with both beside them (helm-plugin/postwire for Helm 4,
#                                         helm-plugin/postwire-cli for `helm postwire` under Helm 3
#                                         and 4), README, LICENSE, docs/ and the JSON Schemas;
#   postwire-VERSION-TARGET-helm4.tgz     the Helm 4 post-renderer plugin as `helm plugin package`
#                                         lays it out (postwire/plugin.yaml, run.sh, the binary):
#                                         `helm plugin install FILE-or-URL` (Helm 4 verifies a
#                                         .prov beside it when the release workflow signed one);
#   postwire-VERSION-TARGET-helm3.tar.gz  `helm postwire` with the binary, flat as Helm 3's URL
#                                         installer wants it: `helm plugin install URL`;
# plus dist/SHA256SUMS. Not part of scripts/test.sh: each new target is a cold build.
#
#   ./scripts/package.sh                      static x86_64-unknown-linux-musl (and aarch64-unknown-linux-musl
#                                             when a linker for it is installed), else the host target
#   POSTWIRE_TARGETS="x86_64-unknown-linux-gnu" ./scripts/package.sh
#   POSTWIRE_BIN=path/to/postwire ./scripts/package.sh   package a binary built elsewhere (host target)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DIST="${POSTWIRE_DIST:-$ROOT/dist}"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
HOST=$(rustc -vV | sed -n 's/^host: //p')
say() { echo "package: $*" >&2; }

targets=()
if [ -n "${POSTWIRE_BIN:-}" ]; then
    targets=("$HOST")
elif [ -n "${POSTWIRE_TARGETS:-}" ]; then
    read -r -a targets <<<"$POSTWIRE_TARGETS"
else
    if rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1; then
        targets+=(x86_64-unknown-linux-musl)
    else
        say "rustup cannot add x86_64-unknown-linux-musl here: building $HOST instead (dynamically linked against glibc)"
        targets+=("$HOST")
    fi
    if command -v aarch64-linux-musl-gcc >/dev/null 2>&1 && rustup target add aarch64-unknown-linux-musl >/dev/null 2>&1; then
        targets+=(aarch64-unknown-linux-musl)
    else
        say "no aarch64-linux-musl-gcc linker (or rustup target): skipping aarch64-unknown-linux-musl"
    fi
fi

mkdir -p "$DIST"
archives=()
for target in "${targets[@]}"; do
    if [ -n "${POSTWIRE_BIN:-}" ]; then
        bin="$POSTWIRE_BIN"
    elif [ "$target" = "$HOST" ]; then
        cargo build --release --locked -p postwire
        bin="$CARGO_TARGET_DIR/release/postwire"
    else
        linker_var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER"
        # Cross-linking from another architecture needs the cross linker; natively, musl-gcc.
        if [ "$target" = aarch64-unknown-linux-musl ] && [ "${HOST%%-*}" != aarch64 ]; then
            export "$linker_var=aarch64-linux-musl-gcc"
        fi
        if ! cargo build --release --locked -p postwire --target "$target"; then
            say "building $target failed (wasmtime's C parts need a C compiler for the target, e.g. musl-tools); skipping it"
            continue
        fi
        bin="$CARGO_TARGET_DIR/$target/release/postwire"
    fi
    name="postwire-$VERSION-$target"
    stage="$(mktemp -d)"
    dir="$stage/$name"
    mkdir -p "$dir/helm-plugin" "$dir/schemas"
    cp "$bin" "$dir/postwire"
    # The module compiled for any CPU of the target, beside each copy of the binary: a first
    # run maps it instead of compiling (1.5 s). Only a binary that runs here can compile it.
    cwasm=()
    if artifact=$("$dir/postwire" precompile --dir "$dir" 2>/dev/null); then
        cwasm=("$(basename "$artifact")")
    else
        say "$target: this machine cannot run its binary, so its archives ship no precompiled module"
    fi
    cp -r helm-plugin/postwire helm-plugin/postwire-cli "$dir/helm-plugin/"
    # Hard links: the archive stores the binary once.
    for f in postwire "${cwasm[@]}"; do
        ln "$dir/$f" "$dir/helm-plugin/postwire/$f"
        ln "$dir/$f" "$dir/helm-plugin/postwire-cli/$f"
    done
    cp README.md LICENSE "$dir/"
    cp -r docs "$dir/docs"
    "$dir/postwire" schema config >"$dir/schemas/postwire-config.json"
    "$dir/postwire" schema report >"$dir/schemas/report.json"
    tar -C "$stage" -czf "$DIST/$name.tar.gz" "$name"
    # Helm 4: a top directory named like the plugin (Helm 4 looks for NAME/plugin.yaml in a
    # local NAME-VERSION*.tgz), as `helm plugin package` writes it.
    mkdir -p "$stage/helm4/postwire" "$stage/helm3"
    cp helm-plugin/postwire/plugin.yaml helm-plugin/postwire/run.sh LICENSE "$stage/helm4/postwire/"
    for f in postwire "${cwasm[@]}"; do
        ln "$dir/$f" "$stage/helm4/postwire/$f"
        ln "$dir/$f" "$stage/helm3/$f"
    done
    tar -C "$stage/helm4" -czf "$DIST/$name-helm4.tgz" postwire
    # Helm 3: plugin.yaml at the top, which its URL installer requires.
    cp helm-plugin/postwire-cli/plugin.yaml LICENSE "$stage/helm3/"
    tar -C "$stage/helm3" -czf "$DIST/$name-helm3.tar.gz" plugin.yaml postwire "${cwasm[@]}" LICENSE
    rm -rf "$stage"
    archives+=("$name.tar.gz" "$name-helm4.tgz" "$name-helm3.tar.gz")
    say "wrote $DIST/$name.tar.gz and the Helm plugin archives $name-helm4.tgz, $name-helm3.tar.gz"
done
[ ${#archives[@]} -gt 0 ] || { say "no archive was built"; exit 1; }
(cd "$DIST" && sha256sum "${archives[@]}" >SHA256SUMS)
say "wrote $DIST/SHA256SUMS"
cat "$DIST/SHA256SUMS"
