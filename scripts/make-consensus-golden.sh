#!/usr/bin/env bash
# The consensus scorer's golden epochs (plugins/consensus/golden/: three chained epochs of the
# scenario in plugins/consensus/src/tests/golden.rs, inputs and outputs as canonical JSON):
# regenerates them through the test's CONSENSUS_BLESS switch, then runs the golden tests again
# without it, so the new files pass as committed ones must. Review the diff before committing
# it: every changed number is a changed score, and the wasm32 build must reproduce them.
#
#   scripts/make-consensus-golden.sh [CARGO_TEST_ARGS...]     # e.g. --target-dir target
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

CONSENSUS_BLESS=1 cargo test -p assay-plugin-consensus --lib "$@" golden
cargo test -p assay-plugin-consensus --lib "$@" golden
git status --short plugins/consensus/golden
