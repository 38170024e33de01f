#!/usr/bin/env bash
# The sampler's test vectors (docs/sampling-vectors.json: logits, seed, position, parameters ->
# token, per docs/sampling.md): regenerates them through the assay-sampler test's SAMPLER_BLESS
# switch, then checks them again without it, in Rust and in the Python reference
# (scripts/sampler.py). Review the diff before committing it: a changed token is a changed
# specification, which every miner must follow.
#
#   scripts/make-sampling-vectors.sh [CARGO_TEST_ARGS...]     # e.g. --target-dir target
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

SAMPLER_BLESS=1 cargo test -p assay-sampler --lib "$@" vectors_pass_in_rust
cargo test -p assay-sampler --lib "$@" vectors
python3 scripts/sampler.py --check docs/sampling-vectors.json
git status --short docs/sampling-vectors.json
