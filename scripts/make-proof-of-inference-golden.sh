#!/usr/bin/env bash
# The proof-of-inference scorer's golden epochs (plugins/proof-of-inference/golden/: the two
# chained busy epochs of plugins/proof-of-inference/src/tests/golden.rs, inputs and outputs as
# canonical JSON): regenerates them through the test's PROOF_OF_INFERENCE_BLESS switch, then
# runs the golden tests again without it, so the new files pass as committed ones must. The
# host's host/epoch/tests/wasm_goldens.rs feeds them to the wasm32 component.
#
#   scripts/make-proof-of-inference-golden.sh [CARGO_TEST_ARGS...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

PROOF_OF_INFERENCE_BLESS=1 cargo test -p assay-plugin-proof-of-inference --lib "$@" golden
cargo test -p assay-plugin-proof-of-inference --lib "$@" golden
git status --short plugins/proof-of-inference/golden
