#!/usr/bin/env bash
# Regenerates the golden published epochs that `host/cli/tests/golden.rs` (constantinople) and
# `host/cli/tests/golden_scorers.rs` (nineteen, proof-of-inference, cacheon, consensus) audit: two consecutive
# epochs of a synthetic subnet (8 miners, uid 7 cheating), closed by the real pipeline
# (`assay dev synth` → `assay ledger import` → `assay epoch close`: ledger → freeze → the
# scorer's component → signed summary → local publication) with a fixed validator key.
#
#   scripts/make-golden-epoch.sh [constantinople|nineteen|proof-of-inference|cacheon|consensus]
#
#   constantinople (the default)  host/cli/tests/fixtures/golden: 400 requests and 40
#       challenges per epoch, no [[tasks]]. The committed fixture is the 0.1.0 build's
#       (scorer 6553c9e1…), kept as published: rerunning this writes today's 0.2.0 port
#       instead, a new hash that the tests pinning 6553c9e1… refuse. Do it only on purpose.
#   nineteen, proof-of-inference  host/cli/tests/fixtures/golden-<scorer>: epochs 1 and 2,
#       300 requests and 40 challenges per epoch, [[tasks]] chat 0.6 and completion 0.4 (assay_epoch::synth::TASKS),
#       each miner's declared capacity per task, token checks, challenge response times.
#   cacheon  host/cli/tests/fixtures/golden-cacheon: the same, but the epochs' traffic is a
#       competition (`assay dev synth --traffic competition`): per task 16 prompts sent to the
#       baseline (uid 65535, kind baseline) and to each miner, every answer token-checked, 40
#       challenges; uid 7 is fastest but fails its token checks and every challenge.
#   consensus  host/cli/tests/fixtures/golden-consensus: the nineteen epochs plus one
#       commit-reveal round each (`--traffic commit-reveal`): uid 7 reveals far from the
#       others (and fails challenges), uid 6 a mismatch, uid 5 late.
#
# Rerun it when a scoring policy changes on purpose: the new fixture then names the new policy
# hash. Summaries carry fresh sr25519 signatures each time (they are randomized), so a rerun
# rewrites the summaries even when nothing else changed.
set -euo pipefail

scorer=${1:-constantinople}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case $scorer in
constantinople)
    fixture=$root/host/cli/tests/fixtures/golden
    requests=400 first=0
    ;;
nineteen | proof-of-inference | cacheon | consensus)
    fixture=$root/host/cli/tests/fixtures/golden-$scorer
    # Epochs 1 and 2: every synthetic miner registered before they start (by block 21), so
    # none is new to the scorer (proof-of-inference does not count a new miner's proofs).
    requests=300 first=1
    ;;
*)
    echo "unknown scorer $scorer: constantinople, nineteen, proof-of-inference, cacheon or consensus" >&2
    exit 2
    ;;
esac
case $scorer in
cacheon) traffic=competition ;;
consensus) traffic=commit-reveal ;;
*) traffic=ordinary ;;
esac
# The golden validator key. Public on purpose: the tests re-sign tampered copies with it.
seed=676f6c64656e2d76616c696461746f722d6b65792d666f722d74657374732121

"$root/scripts/build-plugins.sh" >/dev/null
assay=$root/target/debug/assay
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$assay" wallet create --root wallets --wallet golden --hotkey validator --seed "$seed" >/dev/null
"$assay" dev synth --out synth --netuid 1 --miners 8 --requests "$requests" --challenges 40 --epochs 2 --first-epoch "$first" --seed 2026 --traffic "$traffic" >/dev/null
"$assay" chain init --dir chain --metagraph synth/metagraph.json >/dev/null
"$assay" config new --out assay.toml --wallet-root wallets --wallet golden --hotkey validator \
    --set epoch_blocks=100 --set policy.fuel=1000000000 --set policy.memory_bytes=67108864 >/dev/null
if [ "$scorer" != constantinople ]; then
    # The synthetic tasks and weights (assay_epoch::synth::TASKS), one model on both routes.
    cat >>assay.toml <<'TOML'

[[tasks]]
name = "chat"
model = "assay-tiny"
weight = 0.6
route = "chat"

[[tasks]]
name = "completion"
model = "assay-tiny"
weight = 0.4
route = "completion"
TOML
fi
sha=$("$assay" policy add "$root/target/plugins/$scorer.wasm" | cut -d' ' -f1)
"$assay" policy activate "$sha" >/dev/null
"$assay" ledger import synth/records.jsonl >/dev/null
"$assay" epoch close --epoch "$first" >/dev/null 2>&1
"$assay" epoch close --epoch $((first + 1)) >/dev/null 2>&1

rm -rf "$fixture"
mkdir -p "$(dirname "$fixture")"
cp -r published "$fixture"
"$assay" audit "$fixture/epochs/1/$((first + 1))/summary.json"
echo "golden epochs written to $fixture (scorer $scorer $sha)"
