#!/usr/bin/env bash
# The main job on embedded defaults: the whole system on this machine, no network, no GPU.
# Builds the policies and `assay` (release), then runs `assay devnet`: a local chain, a tiny model
# and two cheating variants, four reference miners (two honest at different speeds, two
# cheating), the gateway with synthetic traffic (and the public dataset at /v1/dataset/*),
# verification, and one-minute epochs, each published (to a local s3s-fs when
# target/s3s-fs/bin/s3s-fs is installed, as scripts/test.sh does; else to a folder), audited, and
# followed by a watchtower (`assay watch`) whose verdict per epoch the table shows. The cheaters
# end at weight zero. The subnet owner announces a second scorer in epoch 1: epoch 2 runs it in
# shadow, epoch 3 with it.
#
#   scripts/devnet.sh                       runs until Ctrl-C
#   scripts/devnet.sh --epochs 4 --out DIR  four epochs, then the scorers and the table; exit 0
#                                           when they all audit PASS, the watchtower passed
#                                           every epoch and both cheaters are at weight zero
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
echo "building the policies and assay (release; the first build takes several minutes)" >&2
scripts/build-plugins.sh >/dev/null
cargo build --release --locked --quiet -p assay-cli
exec "$root/target/release/assay" devnet --plugins "$root/target/plugins" "$@"
