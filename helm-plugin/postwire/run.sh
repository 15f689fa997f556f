#!/bin/sh
# Run the postwire binary installed beside this plugin, else the one on PATH.
# Helm 4 discards this plugin's stderr; postwire also writes errors to the terminal and to
# ~/.cache/postwire/last-error.txt and postwire.log (see the README). So does this script when
# it cannot find postwire at all.
here=$(dirname "$0")
if [ -x "$here/postwire" ]; then
  exec "$here/postwire" "$@"
fi
if command -v postwire >/dev/null 2>&1; then
  exec postwire "$@"
fi
msg="Error: the postwire binary is neither beside $0 nor on PATH ($PATH): copy it there, or reinstall the plugin with \`postwire install-plugin\`"
dir=${POSTWIRE_CACHE_DIR:-${XDG_CACHE_HOME:+$XDG_CACHE_HOME/postwire}}
dir=${dir:-$HOME/.cache/postwire}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if mkdir -p "$dir" 2>/dev/null; then
  printf '%s\n\ntime: %s\ncommand: %s\ndirectory: %s\nexit code: 127\n' "$msg" "$now" "$0 $*" "$PWD" \
    >"$dir/.last-error.txt.$$" && mv -f "$dir/.last-error.txt.$$" "$dir/last-error.txt"
  printf '%s [pid %s] %s  (exit code 127; command: %s)\n' "$now" "$$" "${msg#Error: }" "$0 $*" >>"$dir/postwire.log"
fi
echo "$msg" >&2
{ printf 'postwire: %s\n' "$msg" >/dev/tty; } 2>/dev/null
exit 127
