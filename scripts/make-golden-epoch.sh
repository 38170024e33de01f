#!/usr/bin/env bash
# Regenerates the golden published epochs that `host/cli/tests/golden.rs` audits:
# two consecutive epochs of a synthetic subnet (8 miners, 400 requests and 40 challenges
# each), closed by the real pipeline (ledger → freeze → constantinople component → signed
# summary → local publication) with a fixed validator key.
#
#   scripts/make-golden-epoch.sh
#
# Rerun it when the scoring policy changes on purpose: the new fixture then names the new
# policy hash. Summaries carry fresh sr25519 signatures each time (they are randomized), so
# a rerun rewrites the summaries even when nothing else changed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fixture=$root/host/cli/tests/fixtures/golden
# The golden validator key. Public on purpose: the tests re-sign tampered copies with it.
seed=676f6c64656e2d76616c696461746f722d6b65792d666f722d74657374732121

"$root/scripts/build-plugins.sh" >/dev/null
assay=$root/target/debug/assay
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$assay" wallet create --root wallets --wallet golden --hotkey validator --seed "$seed" >/dev/null
"$assay" dev synth --out synth --netuid 1 --miners 8 --requests 400 --challenges 40 --epochs 2 --seed 2026 >/dev/null
"$assay" chain init --dir chain --metagraph synth/metagraph.json >/dev/null
"$assay" config new --out assay.toml --wallet-root wallets --wallet golden --hotkey validator \
    --set epoch_blocks=100 --set policy.fuel=1000000000 --set policy.memory_bytes=67108864 >/dev/null
sha=$("$assay" policy add "$root/target/plugins/constantinople.wasm" | cut -d' ' -f1)
"$assay" policy activate "$sha" >/dev/null
"$assay" ledger import synth/records.jsonl >/dev/null
"$assay" epoch close --epoch 0 >/dev/null 2>&1
"$assay" epoch close --epoch 1 >/dev/null 2>&1

rm -rf "$fixture"
mkdir -p "$(dirname "$fixture")"
cp -r published "$fixture"
"$assay" audit "$fixture/epochs/1/1/summary.json"
echo "golden epochs written to $fixture (scorer $sha)"
