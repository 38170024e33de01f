#!/usr/bin/env bash
# Writes the fuzz targets' seed corpora into host/fuzz/corpus/ (small, valid instances of each
# format read from peers: canonical epoch inputs, zstd files, signed summaries, Epistula headers).
#
#   scripts/make-fuzz-corpus.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --locked --quiet -p assay-fuzz --bin make-corpus
