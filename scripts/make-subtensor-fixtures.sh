#!/usr/bin/env bash
# Regenerates host/subtensor/tests/fixtures/finney.json, the SCALE fixtures of assay-subtensor's
# mock tier, with the Python `bittensor` SDK's own codec (see make-subtensor-fixtures.py).
#
#   scripts/make-subtensor-fixtures.sh
#
# Python packages (in target/chain-venv, made here when missing): bittensor==11.3.0, which brings
# bittensor-core 0.1.5 (its Rust codec). That codec reads metadata V14/V15 only, so the committed
# V16 finney metadata is first rewritten as V15 (same types) by the metadata_v15 example.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$root/target/chain-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import bittensor' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet bittensor==11.3.0 bittensor-core==0.1.5
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo run --quiet -p assay-subtensor --example metadata_v15 -- \
    "$root/host/subtensor/metadata/finney-spec365.scale" "$work/finney-v15.scale"
"$venv/bin/python" "$root/scripts/make-subtensor-fixtures.py" "$work/finney-v15.scale"
