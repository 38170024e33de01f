#!/usr/bin/env bash
# A long fuzzing run: every target in host/fuzz/tests with CASES mutated inputs each (default
# 100000; scripts/test.sh runs 256). A failure prints the shrunk input; add it to the target's
# corpus under host/fuzz/corpus/ once fixed.
#
#   scripts/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cases=${1:-100000}
case $cases in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [CASES] (a positive integer)" >&2; exit 2;; esac
start=$(date +%s)
ASSAY_FUZZ_CASES=$cases cargo test --locked --release -p assay-fuzz -- --test-threads 2
echo "fuzzed every target with $cases cases in $(( $(date +%s) - start )) s"
