#!/usr/bin/env bash
# The soak (issue #10): `assay devnet --hostile` (the devnet, plus one hostile miner per attack and
# a stranger attacking the reference miners) and users at a bounded rate with hostile ones mixed in
# (`assay dev users --hostile`: invalid bodies, streams read one byte a second, a burst of 32
# streams a minute), for MINUTES minutes, all on loopback. Every minute: the devnet process's RSS
# and open file descriptors (that process is the validator and, as on one machine, the four
# reference and nine hostile miners). At the end: the users' requests served and errors by cause,
# the per-miner table of the whole run (requests by outcome, challenges by verdict, last weights)
# and what each attacker got through.
#
# Exits 1 when RSS grew by more than SOAK_RSS_MARGIN_PCT (default 25) % between minute
# SOAK_WARM_MINUTES (default 3: the reference miners keep every commitment for their 2-minute open
# window, so their stores, in the same process, fill until then) and the end (judged from one
# minute after it on), when an honest miner was charged for anything (a server error, a
# timeout, a bad response, a failed challenge), or when the devnet failed otherwise (an audit).
#
#   scripts/soak.sh [MINUTES]                        default 10; builds the policies and assay
#                                                    (release) once
#   ASSAY_BIN=target/debug/assay scripts/soak.sh 1   with a binary already built
#
# SOAK_RATE: the users' requests per second (default 2). SOAK_OUT: where everything is kept
# (default a new temporary folder; its path is printed).
set -euo pipefail

minutes=${1:-10}
if ! [[ $minutes =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/soak.sh [MINUTES] (a whole number of minutes, at least 1)" >&2
    exit 2
fi
rate=${SOAK_RATE:-2}
margin=${SOAK_RSS_MARGIN_PCT:-25}
warm=${SOAK_WARM_MINUTES:-3}
if ! [[ $warm =~ ^[1-9][0-9]*$ && $margin =~ ^[0-9]+$ ]]; then
    echo "soak: SOAK_WARM_MINUTES must be a whole number of minutes (at least 1), SOAK_RSS_MARGIN_PCT a whole percentage" >&2
    exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ -n ${ASSAY_BIN:-} ]]; then
    assay=$ASSAY_BIN
else
    echo "building the policies and assay (release; the first build takes several minutes)" >&2
    scripts/build-plugins.sh >/dev/null
    cargo build --release --locked --quiet -p assay-cli
    assay=$root/target/release/assay
fi
plugins=${ASSAY_PLUGIN_DIR:-$root/target/plugins}
out=${SOAK_OUT:-$(mktemp -d -t assay-soak.XXXXXX)}
mkdir -p "$out"

devnet_pid=""
users_pid=""
cleanup() {
    for pid in $users_pid $devnet_pid; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: $minutes minute(s), users at $rate/s; everything in $out"
"$assay" devnet --hostile --epochs "$minutes" --epoch-seconds 60 --out "$out/devnet" --plugins "$plugins" \
    >"$out/devnet.out" 2>"$out/devnet.log" &
devnet_pid=$!

gateway=""
for _ in $(seq 1 600); do
    gateway=$(grep -o 'gateway at http://127\.0\.0\.1:[0-9]*' "$out/devnet.log" 2>/dev/null | head -n 1 | cut -d' ' -f3 || true)
    [[ -n $gateway ]] && break
    if ! kill -0 "$devnet_pid" 2>/dev/null; then
        echo "soak: the devnet stopped before its gateway was up:" >&2
        tail -n 20 "$out/devnet.log" >&2
        exit 1
    fi
    sleep 0.5
done
if [[ -z $gateway ]]; then
    echo "soak: no gateway after 5 minutes" >&2
    exit 1
fi
echo "soak: gateway at $gateway"

# The users stop a little before the devnet's last epoch closes; a stalled stream outlives the
# miners' 120 s timeout on long runs (issue #10, item 1).
seconds=$((minutes * 60 - 15))
stall=$((minutes >= 5 ? 130 : 20))
"$assay" dev users --url "$gateway" --key sk-devnet --model assay-tiny --rate "$rate" --seconds "$seconds" \
    --hostile --stall-seconds "$stall" --burst 32 --burst-every-seconds 60 >"$out/users.out" 2>"$out/users.log" &
users_pid=$!

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

rss_first=""
rss_warm=""
rss_last=""
minute=0
while kill -0 "$devnet_pid" 2>/dev/null; do
    for _ in $(seq 1 60); do
        kill -0 "$devnet_pid" 2>/dev/null || break
        sleep 1
    done
    rss=$(rss_kb "$devnet_pid")
    [[ -z $rss ]] && break
    minute=$((minute + 1))
    [[ -z $rss_first ]] && rss_first=$rss
    [[ $minute -eq $warm ]] && rss_warm=$rss
    rss_last=$rss
    users_line=$(grep '^users \[' "$out/users.out" 2>/dev/null | tail -n 1 || true)
    printf 'minute %3d: validator rss %7.1f MB, open fds %5d%s\n' \
        "$minute" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$(fds "$devnet_pid")" "${users_line:+; $users_line}"
done
devnet_code=0
wait "$devnet_pid" || devnet_code=$?
devnet_pid=""
users_code=0
wait "$users_pid" || users_code=$?
users_pid=""

echo
echo "== users (requests by kind and cause)"
sed -n '/^users: /,$p' "$out/users.out"
[[ $users_code -ne 0 ]] && echo "the users exited with $users_code (see $out/users.log)"
echo "== devnet (exit $devnet_code)"
cat "$out/devnet.out"
echo

failed=0
if [[ $minute -gt $warm && -n $rss_warm ]]; then
    limit=$((rss_warm * (100 + margin) / 100))
    if [[ $rss_last -gt $limit ]]; then
        echo "soak: FAIL: RSS grew from $((rss_warm / 1024)) MB at minute $warm to $((rss_last / 1024)) MB (more than $margin %)"
        failed=1
    else
        echo "soak: RSS flat: $((rss_warm / 1024)) MB at minute $warm, $((rss_last / 1024)) MB at the end (margin $margin %)"
    fi
else
    echo "soak: too short to judge memory (minute $warm against the end needs $((warm + 1)) minutes); RSS ${rss_first:-?} kB first, ${rss_last:-?} kB last"
fi
if grep -q '^honest miners charged: none$' "$out/devnet.out"; then
    echo "soak: no honest miner was charged"
else
    echo "soak: FAIL: $(grep '^honest miners charged' "$out/devnet.out" || echo 'the devnet did not say whether an honest miner was charged')"
    failed=1
fi
if [[ $devnet_code -ne 0 && $failed -eq 0 ]]; then
    echo "soak: FAIL: the devnet exited with $devnet_code (see $out/devnet.log)"
    failed=1
fi
echo "soak: everything is in $out"
exit $failed
