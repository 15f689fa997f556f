#!/bin/sh
# Run the postwire binary installed beside this plugin, else the one on PATH.
# Helm 4 discards this plugin's stderr; postwire also writes errors to the terminal and to
# ~/.cache/postwire/last-error.txt (see the README).
here=$(dirname "$0")
if [ -x "$here/postwire" ]; then
  exec "$here/postwire" "$@"
fi
exec postwire "$@"
