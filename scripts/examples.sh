#!/usr/bin/env bash
# Regenerate every example's expected output (expected*.yaml) and README.md from postwire's actual
# output (Helm 4.3.1 through the plugin; `postwire render` over a manifest directory), then run the
# examples' tests against them. Review the result with `git diff examples/`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install-tools.sh >/dev/null
# shellcheck disable=SC1091
source "${POSTWIRE_TOOLS:-$HOME/.cache/postwire/tools}/env.sh"
cargo build --release --locked -p postwire
POSTWIRE_BLESS=1 cargo test --release --locked -p postwire-host-test --test tests -- \
    examples::helm4_reproduces_each_expected_yaml examples::each_readme_is_generated_and_current
cargo test --release --locked -p postwire-host-test --test tests examples::
