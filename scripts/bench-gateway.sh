#!/usr/bin/env bash
# Gateway overhead: the assay gateway and vllm-router side by side, in the same run, in front of
# the same fast mock worker on loopback (so the router in between is the bottleneck), against
# the worker directly. Requests/s and p50/p99 latency, streaming and not, at concurrency 1 and 64,
# each point repeated; prints every run, then medians, spreads and the gateway/vllm-router ratio.
#
#   scripts/bench-gateway.sh [SECONDS_PER_RUN]      (default 3; figures go to stdout)
#
# Knobs (environment):
#   BENCH_REPEATS=5      runs per point; the three paths are interleaved run by run, so that a
#                        neighbour's load on a shared machine falls on all of them alike
#   BENCH_PIN=1          on a machine with 2+ cores: the router under test (the gateway or
#                        vllm-router, whichever is measured) alone on the last CPU, the load
#                        generator and the worker on the others (0 = no pinning)
#   BENCH_KEEP=0         1 keeps the work folder (logs of the worker, the gateway and vllm-router)
#   BENCH_PERF=0         1: after the table, profile the gateway with `perf record` (call graphs,
#                        DWARF) while 64 whole requests are in flight for SECONDS_PER_RUN, and
#                        print where its CPU goes (scripts/perf-classify.py); needs `perf`
#                        (Debian's linux-perf) and the right to use it
#   BENCH_PROFILE=release   the `assay` build measured (`debug` measures target/debug/assay
#                        as built by `cargo build -p assay-cli`, for machines where a release
#                        build does not fit; its figures are not comparable to vllm-router's)
# With the defaults it runs about 4 minutes.
#
# Installs vllm-router (FACTS.md: 0.1.17) into target/bench-venv on first use. The gateway runs as
# `assay run` does in production: signed requests to the worker, routing, and every request
# recorded in the ledger; the mock answers the gateway with evidence signed by its own hotkey,
# which the gateway checks as a miner's (the signature on the recorder thread, off the request
# path), and answers vllm-router plainly.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-3}
repeats=${BENCH_REPEATS:-5}
pin=${BENCH_PIN:-1}
profile=${BENCH_PROFILE:-release}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $work (logs, ledger)" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

venv=$root/target/bench-venv
if [ ! -x "$venv/bin/vllm-router" ]; then
    echo "installing vllm-router into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check vllm-router==0.1.17
fi
echo "building assay ($profile)" >&2
if [ "$profile" = debug ]; then
    cargo build --locked --quiet -p assay-cli
else
    cargo build --release --locked --quiet -p assay-cli
fi
assay=$root/target/$profile/assay

# CPU sets: the router under test alone on the last CPU, everything else on the rest.
cpus=$(nproc)
if [ "$pin" = 1 ] && [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
    router_cpus=$((cpus - 1))
    rest_cpus=0-$((cpus - 2))
    # Arrays, not functions: `taskset` execs the program, so `$!` is the program's pid.
    on_rest=(taskset -c "$rest_cpus")
    on_router=(taskset -c "$router_cpus")
else
    pin=0
    on_rest=()
    on_router=()
fi

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
"${on_rest[@]}" "$assay" dev mock-worker --port "$worker_port" --model mock >worker.out 2>worker.log &
pids+=($!)
wait_http "http://127.0.0.1:$worker_port/health"
# The mock signs its evidence with a key of its own: that key is the miner's hotkey.
miner_hotkey=$(grep -oE '5[1-9A-HJ-NP-Za-km-z]{47}' worker.out | head -n 1)

"$assay" wallet create --root wallets --wallet bench --hotkey validator --force >/dev/null
cat > metagraph.json <<JSON
{"netuid": 1, "neurons": [{"uid": 0, "hotkey": "$miner_hotkey", "axon": "http://127.0.0.1:$worker_port"}]}
JSON
"$assay" chain init --dir chain --metagraph metagraph.json --block-seconds 12 >/dev/null
"$assay" config new --out assay.toml --wallet-root wallets --wallet bench --hotkey validator \
    --set epoch_blocks=1000000 --set miners.allow_private_axons=true --set gateway.listen="\"127.0.0.1:$gateway_port\"" --set gateway.model='"mock"' \
    --set gateway.keys='[{name = "bench", key = "sk-bench", requests_per_minute = 100000000}]' >/dev/null
RUST_LOG=warn "${on_router[@]}" "$assay" run --config assay.toml 2>gateway.log &
gateway_pid=$!
pids+=($gateway_pid)
wait_http "http://127.0.0.1:$gateway_port/health"

"${on_router[@]}" "$venv/bin/vllm-router" --host 127.0.0.1 --port "$router_port" --worker-urls "http://127.0.0.1:$worker_port" \
    --policy round_robin --prometheus-port "$prom_port" --log-level warning >router.log 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$router_port/health"

echo "machine: $cpus cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$pin" = 1 ]; then
    echo "pinned: router under test on CPU $router_cpus, load generator and worker on CPU $rest_cpus"
fi
echo "assay build: $profile; each run: 1 s warm-up, then $seconds s measured, $repeats runs per point, paths interleaved"
echo "latency is the whole request (ttfb: first body bytes)"
runs=$work/runs.txt
load() { "${on_rest[@]}" "$assay" dev load --model mock --seconds "$seconds" "$@" | tee -a "$runs"; }
for stream in "" "--stream"; do
    for c in 1 64; do
        for _ in $(seq 1 "$repeats"); do
            load --label direct --url "http://127.0.0.1:$worker_port" --concurrency "$c" $stream
            load --label assay-gateway --url "http://127.0.0.1:$gateway_port" --key sk-bench --concurrency "$c" $stream
            load --label vllm-router --url "http://127.0.0.1:$router_port" --concurrency "$c" $stream
        done
    done
done
echo
echo "medians over $repeats runs (load after: $(cut -d' ' -f1-3 /proc/loadavg))"
"$assay" dev bench-table "$runs"

if [ "${BENCH_PERF:-0}" = 1 ]; then
    echo
    echo "profile: perf record of the gateway, whole requests at concurrency 64, $seconds s"
    perf record -q -F 499 --call-graph dwarf,16384 -p "$gateway_pid" -o "$work/perf.data" -- sleep "$((seconds + 1))" &
    perf_pid=$!
    sleep 0.5
    "${on_rest[@]}" "$assay" dev load --model mock --seconds "$seconds" --label assay-gateway \
        --url "http://127.0.0.1:$gateway_port" --key sk-bench --concurrency 64 >/dev/null
    wait "$perf_pid"
    perf script -i "$work/perf.data" 2>/dev/null | python3 "$root/scripts/perf-classify.py"
fi
