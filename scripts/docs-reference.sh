#!/usr/bin/env bash
# Regenerate docs/reference/config.md and docs/reference/report.md from the JSON Schemas
# (`postwire schema config`, `postwire schema report`). Review the result with `git diff docs/`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
POSTWIRE_BLESS=1 cargo test --locked -p postwire-core --test docs_reference
