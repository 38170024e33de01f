#!/usr/bin/env bash
# The real-runtime test tier's chain: a real subtensor runtime (node-subtensor spec 218, early
# 2025, from the raw chain spec ../shared/chain/subtensor-raonet-spec218.json) run offline by
# chopsticks (npm @acala-network/chopsticks 1.1.0; 1.5 needs Node >= 22). docs/chain.md,
# "Testing against a real runtime".
#
#   scripts/chopsticks.sh install       installs chopsticks into target/chopsticks (npm ci on the
#                                       committed scripts/chopsticks/package-lock.json; skipped
#                                       when that version is there; ~2 min and 334 MB fresh)
#   scripts/chopsticks.sh start [PORT]  runs the chain on 127.0.0.1:PORT (default 9944; 0 = any
#                                       free port, printed as "RPC listening on ...") until
#                                       Ctrl-C; blocks are built only on `dev_newBlock`
#   scripts/chopsticks.sh check         exit 0 when node, the install and the spec are all there
#                                       (else the reason on stderr, exit 1)
#
# Environment: ASSAY_CHOPSTICKS_SPEC overrides the spec's path. The tests
# (host/subtensor/tests/chopsticks.rs) start their own chains the way `start` does.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=1.1.0
dir=$root/target/chopsticks
bin=$dir/node_modules/.bin/chopsticks
spec=${ASSAY_CHOPSTICKS_SPEC:-$root/../shared/chain/subtensor-raonet-spec218.json}

installed_version() {
    node -p "require('$dir/node_modules/@acala-network/chopsticks/package.json').version" 2>/dev/null || true
}

install() {
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        echo "chopsticks: node and npm are needed (Node >= 20)" >&2
        return 1
    fi
    if [ -x "$bin" ] && [ "$(installed_version)" = "$version" ]; then
        return 0
    fi
    # Installed beside, then moved into place: an interrupted install never looks complete.
    local fresh=$dir.partial
    rm -rf "$fresh"
    mkdir -p "$fresh"
    cp "$root/scripts/chopsticks/package.json" "$root/scripts/chopsticks/package-lock.json" "$fresh/"
    local started=$SECONDS
    (cd "$fresh" && npm ci --no-audit --no-fund --loglevel=error >&2)
    rm -rf "$dir"
    mv "$fresh" "$dir"
    echo "chopsticks $version installed into $dir in $((SECONDS - started)) s" >&2
}

check() {
    if ! command -v node >/dev/null 2>&1; then
        echo "node is not installed" >&2
        return 1
    fi
    if [ ! -x "$bin" ]; then
        echo "chopsticks is not installed (scripts/chopsticks.sh install)" >&2
        return 1
    fi
    if [ ! -f "$spec" ]; then
        echo "the chain spec $spec is not there" >&2
        return 1
    fi
}

start() {
    check
    exec "$bin" --genesis "$spec" --build-block-mode Manual --mock-signature-host \
        --host 127.0.0.1 --port "${1:-9944}"
}

case "${1:-}" in
    install) install ;;
    start) shift; start "$@" ;;
    check) check ;;
    *)
        sed -n '2,17p' "$0" >&2
        exit 2
        ;;
esac
