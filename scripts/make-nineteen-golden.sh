#!/usr/bin/env bash
# The nineteen scorer's golden epochs (plugins/nineteen/golden/: three chained epochs of the
# scenario in plugins/nineteen/src/tests/golden.rs, inputs and outputs as canonical JSON):
# regenerates them through the test's NINETEEN_BLESS switch, then runs the golden tests again
# without it, so the new files pass as committed ones must. Review the diff before committing
# it: every changed number is a changed score, and the wasm32 build must reproduce them.
#
#   scripts/make-nineteen-golden.sh [CARGO_TEST_ARGS...]     # e.g. --target-dir target
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

NINETEEN_BLESS=1 cargo test -p assay-plugin-nineteen --lib "$@" golden
cargo test -p assay-plugin-nineteen --lib "$@" golden
git status --short plugins/nineteen/golden
