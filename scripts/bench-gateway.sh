#!/usr/bin/env bash
# Gateway overhead: the assay gateway and vllm-router side by side, in the same run, in front of
# the same fast mock worker on loopback (so the router in between is the bottleneck), against
# the worker directly. Requests/s and p50/p99 latency, streaming and not, at concurrency 1 and 64.
#
#   scripts/bench-gateway.sh [SECONDS_PER_RUN]      (default 5; figures go to stdout)
#
# Installs vllm-router (FACTS.md: 0.1.17) into target/bench-venv on first use. The gateway runs as
# `assay run` does in production: signed requests to the worker, routing, and every request
# recorded in the ledger (the mock sends no evidence, so its records say bad-response; the
# evidence check runs on the recorder thread, off the request path).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-5}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

venv=$root/target/bench-venv
if [ ! -x "$venv/bin/vllm-router" ]; then
    echo "installing vllm-router into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check vllm-router==0.1.17
fi
echo "building assay (release)" >&2
cargo build --release --locked --quiet -p assay-cli
assay=$root/target/release/assay

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
worker_port=$(free_port); gateway_port=$(free_port); router_port=$(free_port); prom_port=$(free_port)
wait_http() {
    for _ in $(seq 1 200); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing answered at $1" >&2
    exit 1
}

cd "$work"
"$assay" dev mock-worker --port "$worker_port" --model mock 2>worker.log &
pids+=($!)
wait_http "http://127.0.0.1:$worker_port/health"

"$assay" wallet create --root wallets --wallet bench --hotkey validator --force >/dev/null
miner_hotkey=$("$assay" wallet create --root wallets --wallet bench --hotkey miner --force | grep -oE '5[1-9A-HJ-NP-Za-km-z]{47}' | head -n 1)
cat > metagraph.json <<JSON
{"netuid": 1, "neurons": [{"uid": 0, "hotkey": "$miner_hotkey", "axon": "http://127.0.0.1:$worker_port"}]}
JSON
"$assay" chain init --dir chain --metagraph metagraph.json --block-seconds 12 >/dev/null
"$assay" config new --out assay.toml --wallet-root wallets --wallet bench --hotkey validator \
    --set epoch_blocks=1000000 --set gateway.listen="\"127.0.0.1:$gateway_port\"" --set gateway.model='"mock"' \
    --set gateway.keys='[{name = "bench", key = "sk-bench", requests_per_minute = 100000000}]' >/dev/null
RUST_LOG=warn "$assay" run --config assay.toml 2>gateway.log &
pids+=($!)
wait_http "http://127.0.0.1:$gateway_port/health"

"$venv/bin/vllm-router" --host 127.0.0.1 --port "$router_port" --worker-urls "http://127.0.0.1:$worker_port" \
    --policy round_robin --prometheus-port "$prom_port" --log-level warning >router.log 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$router_port/health"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "each run: 1 s warm-up, then $seconds s measured; latency is the whole request (ttfb: first body bytes)"
for stream in "" "--stream"; do
    for c in 1 64; do
        "$assay" dev load --label direct --url "http://127.0.0.1:$worker_port" --model mock --concurrency "$c" --seconds "$seconds" $stream
        "$assay" dev load --label assay-gateway --url "http://127.0.0.1:$gateway_port" --key sk-bench --model mock --concurrency "$c" --seconds "$seconds" $stream
        "$assay" dev load --label vllm-router --url "http://127.0.0.1:$router_port" --model mock --concurrency "$c" --seconds "$seconds" $stream
    done
done
