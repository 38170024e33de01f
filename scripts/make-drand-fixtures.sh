#!/usr/bin/env bash
# Commit-reveal v4 fixtures from the Bittensor Python packages (scripts/make-drand-fixtures.py says
# what each file holds): installs them into target/chain-venv, writes
# host/subtensor/tests/fixtures/drand/, then, where an assay binary is built, checks that
# bittensor-drand decrypts the commit `assay chain encrypt-weights` prints.
#
#   scripts/make-drand-fixtures.sh [ASSAY_BINARY]     # default target/debug/assay
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

venv=target/chain-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check bittensor==11.3.0 bittensor-core==0.1.5 bittensor-drand==2.0.0
"$venv/bin/python" scripts/make-drand-fixtures.py generate

assay=${1:-target/debug/assay}
if [ -x "$assay" ]; then
    "$venv/bin/python" scripts/make-drand-fixtures.py check-assay "$assay"
else
    echo "skipped the Python check of assay's commit: no $assay (cargo build -p assay-cli)" >&2
fi
