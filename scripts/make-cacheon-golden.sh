#!/usr/bin/env bash
# The cacheon scorer's golden epochs (plugins/cacheon/golden/: three chained epochs of the
# scenario in plugins/cacheon/src/tests/golden.rs, inputs and outputs as canonical JSON):
# regenerates them through the test's CACHEON_BLESS switch, then runs the golden tests again
# without it, so the new files pass as committed ones must. Review the diff before committing
# it: every changed number is a changed score, and the wasm32 build must reproduce them.
#
#   scripts/make-cacheon-golden.sh [CARGO_TEST_ARGS...]     # e.g. --target-dir target
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

CACHEON_BLESS=1 cargo test -p assay-plugin-cacheon --lib "$@" golden
cargo test -p assay-plugin-cacheon --lib "$@" golden
git status --short plugins/cacheon/golden
