#!/usr/bin/env bash
# Regenerates the published epochs the watchtower's tests follow (`host/cli/tests/watch.rs`):
# eight consecutive epochs (0 to 7) of a synthetic subnet (8 miners, 60 requests and 6
# challenges each), closed by the real pipeline (ledger → freeze → scorer → signed summary
# chained to the previous one → local publication), as scripts/make-golden-epoch.sh closes the
# golden epochs: the same public validator key and the same scorer, the golden fixture's
# committed component. That component is not copied here (`policies/` is left out): the tests
# take it from the golden fixture, so it is committed once.
#
#   cargo build -p assay-cli && scripts/make-watch-epochs.sh
#
# No Python is involved. Summaries carry fresh sr25519 signatures each time, so a rerun
# rewrites every file even when nothing else changed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fixture=$root/host/cli/tests/fixtures/watch
golden=$root/host/cli/tests/fixtures/golden
# The golden validator key (scripts/make-golden-epoch.sh). Public on purpose: the tests re-sign
# tampered copies with it.
seed=676f6c64656e2d76616c696461746f722d6b65792d666f722d74657374732121
epochs=8

assay=${ASSAY_BIN:-$root/target/debug/assay}
scorer=$(ls "$golden"/policies/*.wasm)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

validator=$("$assay" wallet create --root wallets --wallet golden --hotkey validator --seed "$seed" 2>/dev/null)
"$assay" dev synth --out synth --netuid 1 --miners 8 --requests 60 --challenges 6 --epochs "$epochs" --seed 2027 >/dev/null
"$assay" chain init --dir chain --metagraph synth/metagraph.json >/dev/null
"$assay" config new --out assay.toml --wallet-root wallets --wallet golden --hotkey validator \
    --set epoch_blocks=100 --set policy.fuel=1000000000 --set policy.memory_bytes=67108864 >/dev/null
sha=$("$assay" policy add "$scorer" | cut -d' ' -f1)
"$assay" policy activate "$sha" >/dev/null
"$assay" ledger import synth/records.jsonl >/dev/null
for ((epoch = 0; epoch < epochs; epoch++)); do
    "$assay" epoch close --epoch "$epoch" >/dev/null 2>&1
done

rm -rf "$fixture"
mkdir -p "$fixture"
cp -r published/epochs published/dataset "$fixture/"
"$assay" audit published --validator "$validator" | tail -1
echo "$epochs watch epochs written to $fixture (scorer $sha)"
