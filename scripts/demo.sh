#!/usr/bin/env bash
# The validator host on one machine, from a fresh checkout: a local chain of 16 synthetic
# miners (two of them cheat), three short epochs scored by the constantinople component,
# each published to a local folder, signed, audited, and its weights set on the local chain.
#
#   scripts/demo.sh [WORK_DIR]        (default: a new temporary folder)
#
# Until `assay devnet` exists (it adds real miners, the gateway and verification), this is
# the main job on embedded defaults.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

echo "building assay and the plugins" >&2
"$root/scripts/build-plugins.sh" >/dev/null
assay=$root/target/debug/assay
cd "$work"

"$assay" wallet create --root wallets --wallet demo --hotkey validator --force >/dev/null
"$assay" dev synth --out synth --netuid 1 --miners 16 --requests 2000 --challenges 200 --epochs 40 >/dev/null
rm -rf chain data published
"$assay" chain init --dir chain --metagraph synth/metagraph.json --block-seconds 0.5 >/dev/null
"$assay" config new --out assay.toml --wallet-root wallets --wallet demo --hotkey validator --set epoch_blocks=10 >/dev/null
sha=$("$assay" policy add "$root/target/plugins/constantinople.wasm" | cut -d' ' -f1)
"$assay" policy activate "$sha"
"$assay" ledger import synth/records.jsonl | tail -n 1
echo "running the host for 3 epochs (about 15 seconds)" >&2
"$assay" run --config assay.toml --epochs 3 --tick-ms 200

echo
for summary in published/epochs/1/*/summary.json; do
    "$assay" audit "$summary" | tail -n 1 | sed "s|^|$summary: |"
done
echo
echo "weights set on the local chain (uid:weight; uids 7 and 15 cheat):"
"$assay" chain weights --dir chain
echo
echo "everything is in $work (published/ is what a bucket would hold)"
