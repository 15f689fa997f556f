#!/bin/sh
# The sidecar image's setup steps (argocd-cmp/Dockerfile runs them on /; the tests on a scratch
# directory, with POSTWIRE and HELM naming the binaries there):
#   1. plugin.yaml where argocd-cmp-server reads it, when no ConfigMap is mounted over it;
#   2. the module cache: postwire compiles plugin.wasm once, here, so no request pays for it;
#   3. everything 999 writes at run time owned by 999 (HOME and Helm's dirs are under /tmp, the
#      sidecar's own emptyDir, so nothing of theirs is baked in);
#   4. a self-test: helm template | postwire on a one-ConfigMap chart, through `postwire argocd
#      generate`, exactly as the plugin runs.
set -eu
ROOT="${1:?usage: setup.sh ROOT}"
ROOT="${ROOT%/}"
HERE="$(cd "$(dirname "$0")" && pwd)"
POSTWIRE="${POSTWIRE:-$ROOT/usr/local/bin/postwire}"
HELM="${HELM:-$ROOT/usr/local/bin/helm}"
CACHE="$ROOT/var/cache/postwire"
CONFIG_DIR="$ROOT/home/argocd/cmp-server/config"
PLUGIN_YAML="$HERE/plugin.yaml"
[ -f "$PLUGIN_YAML" ] || PLUGIN_YAML="$HERE/../plugin.yaml"

if [ "$ROOT" = "" ] && [ "$(id -u)" = 0 ] && ! getent passwd 999 >/dev/null; then
    groupadd -g 999 argocd
    useradd -u 999 -g 999 -d /home/argocd -M -s /usr/sbin/nologin argocd
fi

mkdir -p "$CONFIG_DIR" "$ROOT/home/argocd/cmp-server/plugins" "$CACHE"
cp "$PLUGIN_YAML" "$CONFIG_DIR/plugin.yaml"

# Compile the module into the cache: any render loads (and so compiles) plugin.wasm.
POSTWIRE_CACHE_DIR="$CACHE" "$POSTWIRE" render -f /dev/null >/dev/null
[ -n "$(ls -A "$CACHE/modules" 2>/dev/null)" ] || { echo "setup.sh: the module cache is empty" >&2; exit 1; }

# Self-test in a scratch HOME, as user 999 would run it.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/app/templates"
printf 'apiVersion: v2\nname: selftest\nversion: 0.1.0\n' > "$work/app/Chart.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  k: v\n' > "$work/app/templates/cm.yaml"
out="$(cd "$work/app" && env HOME="$work" HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" \
    HELM_DATA_HOME="$work/helm/data" POSTWIRE_CACHE_DIR="$CACHE" POSTWIRE_HELM="$HELM" \
    ARGOCD_APP_NAME=selftest ARGOCD_APP_NAMESPACE=default "$POSTWIRE" argocd generate)"
case "$out" in
    *"kind: ConfigMap"*"name: selftest"*) ;;
    *) echo "setup.sh: self-test render gave: $out" >&2; exit 1 ;;
esac

if [ "$ROOT" = "" ] && [ "$(id -u)" = 0 ]; then
    chown -R 999:999 "$CACHE" "$ROOT/home/argocd"
fi
echo "setup.sh: postwire $("$POSTWIRE" version | cut -d' ' -f2), helm $("$HELM" version --short), module cached in ${CACHE#"$ROOT"}"
