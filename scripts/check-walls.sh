#!/usr/bin/env bash
# The dependency walls of docs/ARCHITECTURE.md, checked with `cargo tree` (normal dependencies,
# as a build links them). Exits 1 naming the first crate found on the wrong side of a wall.
#
#   scripts/check-walls.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# wall <what> <forbidden crates, a regex alternation> <cargo tree arguments…>
wall() {
    local what=$1 forbidden=$2
    shift 2
    local found
    found=$(cargo tree --locked -e normal --prefix none "$@" | grep -E "^($forbidden) v" | sort -u || true)
    if [ -n "$found" ]; then
        echo "wall broken: $what pulls in:" >&2
        echo "$found" >&2
        exit 1
    fi
    echo "ok: $what"
}

# An auditor reruns published epochs on a laptop: no database, no model, no GPU, no server.
wall "the auditor's assay (--no-default-features)" \
    'rusqlite|libsqlite3-sys|cudarc|tokenizers|minijinja|axum|tokio|hyper' \
    -p assay-cli --no-default-features
# The auditor reading remote publications (s3://, https://): an HTTP client and its runtime,
# still no database, no model, no GPU and no server.
wall "the auditor's assay with remote locations (--no-default-features --features remote)" \
    'rusqlite|libsqlite3-sys|cudarc|tokenizers|minijinja|axum' \
    -p assay-cli --no-default-features --features remote
# The audit path itself: epochs, publication, policies.
for crate in assay-epoch assay-publish assay-policy-runtime; do
    wall "$crate" 'rusqlite|libsqlite3-sys|cudarc|tokenizers|minijinja|axum|tokio|hyper|reqwest' -p "$crate"
done
# The metrics server is plain threads: the auditor's watchtower links it.
wall "assay-metrics" 'tokio|hyper|axum|reqwest|rusqlite|libsqlite3-sys|cudarc|wasmtime' -p assay-metrics
# The engine knows nothing of HTTP, policies, the ledger or the chain.
wall "assay-reference-engine" 'axum|tokio|hyper|reqwest|rusqlite|wasmtime|assay-ledger|assay-chain' \
    -p assay-reference-engine
# The chain's interface and the ledger need no async runtime and no model.
wall "assay-chain" 'tokio|cudarc|tokenizers|rusqlite' -p assay-chain
# The dashboard only serves what a source hands it: none of the node's parts.
wall "assay-dashboard" 'assay-(node|ledger|chain|epoch|gateway|verify|publish|keys|subtensor|policy-[a-z]+|reference-engine)|rusqlite|libsqlite3-sys|cudarc|tokenizers|wasmtime|reqwest' -p assay-dashboard
# The sampler has no dependencies at all: miners, the verifier and wasm32 policies all take it.
if cargo tree --locked -e normal --prefix none -p assay-sampler | grep -qv '^assay-sampler v'; then
    echo "wall broken: assay-sampler has dependencies:" >&2
    cargo tree --locked -e normal --prefix none -p assay-sampler >&2
    exit 1
fi
echo "ok: assay-sampler"
wall "assay-ledger" 'tokio|cudarc|tokenizers|axum|wasmtime' -p assay-ledger
