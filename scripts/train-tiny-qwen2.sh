#!/usr/bin/env bash
# Trains the detection experiment's tiny Qwen2s (scripts/train-tiny-qwen2.py: reference, other,
# smaller) on the CPU, one thread, and prints the sha256 of each file written. The committed
# ones are host/lab/fixtures/trained/, which host/lab/src/trained.rs pins; a rerun writes the
# same bytes (same packages, same CPU backend), so `git status` after it shows no change.
#
#   scripts/train-tiny-qwen2.sh [OUT] [--steps N] [--models reference,other,smaller]
#
# OUT defaults to host/lab/fixtures/trained. The packages go to a virtual environment under
# target/ (PyPI). About 8 minutes per 64-wide model, 3.5 for the small one, 20 in all, on one core here.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-host/lab/fixtures/trained}
[ $# -gt 0 ] && shift

venv=target/tiny-qwen2-venv
pins=(jax==0.10.2 jaxlib==0.10.2 numpy==2.4.6 ml_dtypes==0.7.0 opt_einsum==3.4.0 scipy==1.17.1)
if ! "$venv/bin/python" -c 'import jax, numpy' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "${pins[@]}"
fi
# One XLA thread and no other device: the same floating-point order on every run.
export JAX_PLATFORMS=cpu OMP_NUM_THREADS=1 PYTHONHASHSEED=0
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
"$venv/bin/python" scripts/train-tiny-qwen2.py --out "$out" "$@"
(cd "$out" && sha256sum -- *.safetensors *.logits.json)
