#!/usr/bin/env bash
# Everything about the reference engine that only a GPU can show, in one run (meant to take under
# 10 minutes on an H200 machine without network):
#   1. the CUDA tests (reference-engine/tests/cuda.rs): kernels compile with NVRTC, bf16 GPU
#      parity against the f32 CPU reference on the transformers fixtures, no f32 copy of the
#      weights in host memory when loading on CUDA;
#   2. GPU prefill on Qwen2.5-7B's shape (28 layers, hidden 3584, random bf16 weights, ~15 GB
#      written to disk), the engine and, when torch and transformers are importable, PyTorch;
#   3. drift of the bf16 GPU pass from the f32 CPU reference per hidden state (median and max
#      relative L2 over positions) on the calibrated tiny family and on 4 layers at the 7B
#      width, beside the CPU bf16 emulation the challenger's calibration uses.
# Ends with a markdown block to paste into docs/benchmarks.md.
#
#   scripts/gpu-check.sh                        # on the GPU machine
#   GPU_CHECK_DRY_RUN=1 scripts/gpu-check.sh    # anywhere: every step on the CPU with small shapes
#
# Exit status: 0 every step passed (torch missing is a skip, not a failure); 1 a step failed (the
# other steps still run, so one run shows everything); 2 no GPU was found: nothing was checked
# (not a pass), and the message says so.
#
# Settings (environment): GPU_CHECK_DIR (models and logs; default target/gpu-check, ~20 GB),
# GPU_CHECK_SUMMARY (also write the summary block to this file), GPU_CHECK_TOKENS (prefill
# lengths, default 512,2048), GPU_CHECK_RUNS (default 5), GPU_CHECK_BUILD_LIMIT (seconds the
# build may take, default 420; 1800 in a dry run), GPU_CHECK_FEATURES (cargo features;
# default chosen from the CUDA libraries found: cuda-13, else cuda-12), GPU_CHECK_KEEP=1 (keep
# the written models), GPU_CHECK_PYTHON (default python3).
# Needs, the machine having no network: the crates in cargo's cache (`cargo fetch --locked`
# beforehand), the NVIDIA driver, and cuBLAS and NVRTC libraries (a CUDA toolkit, or the nvidia-*
# wheels beside torch, or target/nvrtc-venv from scripts/test.sh).
set -uo pipefail # not -e: a failed step is recorded and the next one runs

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

dry=${GPU_CHECK_DRY_RUN:-0}
work=${GPU_CHECK_DIR:-$root/target/gpu-check}
tokens=${GPU_CHECK_TOKENS:-512,2048}
runs=${GPU_CHECK_RUNS:-5}
python=${GPU_CHECK_PYTHON:-python3}
# A cold release build of the crate and its dependencies took ~11 minutes on a shared 2-core
# machine; on the GPU machine's 16 cores it should take a small part of that (not yet measured).
build_limit=${GPU_CHECK_BUILD_LIMIT:-420}
started_all=$SECONDS

say() { printf '%s\n' "$*" >&2; }
heading() { printf '\n== %s\n' "$*" >&2; }

# ---- 0. Is there a GPU? -----------------------------------------------------------------------
if [ "$dry" = 1 ]; then
    gpu="none (dry run: the CPU stands in for the GPU, shapes are small; no figure here is a GPU figure)"
    device=cpu
    drift_sides=(cpu-bf16)
    torch_device=cpu
    # Small stand-ins for the 7B shape and for 4 layers at its width.
    bench_shape=(tiny hidden=256 layers=2 heads=4 kv_heads=2 intermediate=512 vocab=2048 dtype=bf16)
    wide_shape=(tiny hidden=256 layers=4 heads=4 kv_heads=2 intermediate=512 vocab=2048 dtype=bf16)
    tokens=${GPU_CHECK_TOKENS:-64,128}
    runs=${GPU_CHECK_RUNS:-2}
    build_limit=${GPU_CHECK_BUILD_LIMIT:-1800}
else
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        say "gpu-check: no GPU: nvidia-smi is not installed. Nothing was checked (exit 2)."
        say "Run this on the GPU machine, or GPU_CHECK_DRY_RUN=1 $0 to exercise the script on the CPU."
        exit 2
    fi
    gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
    if [ -z "$gpu" ]; then
        say "gpu-check: no GPU: nvidia-smi lists none ($(nvidia-smi -L 2>&1 | head -n 1)). Nothing was checked (exit 2)."
        exit 2
    fi
    device=cuda:0
    drift_sides=(cuda:0 cpu-bf16)
    torch_device=cuda
    bench_shape=(qwen2.5-7b)
    wide_shape=(qwen2.5-7b layers=4)
fi
say "gpu-check: GPU: $gpu"

# ---- CUDA libraries, opened at run time by cudarc ---------------------------------------------
add_library_dir() {
    case ":${LD_LIBRARY_PATH:-}:" in
        *":$1:"*) ;;
        *) export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
}
# Directories where a CUDA library may be: the NVRTC venv scripts/test.sh makes, CUDA toolkits,
# the nvidia-* wheels of any Python around (torch ships cuBLAS and NVRTC that way).
library_dirs() {
    ls -d "$root"/target/nvrtc-venv/lib/python3*/site-packages/nvidia/*/lib 2>/dev/null
    for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /usr/local/cuda-* /opt/cuda; do
        [ -n "$d" ] && ls -d "$d"/lib64 "$d"/targets/*/lib 2>/dev/null
    done
    "$python" - 2>/dev/null <<'EOF'
import glob, site, sys
for base in site.getsitepackages() + [site.getusersitepackages()]:
    for d in sorted(glob.glob(base + "/nvidia/*/lib")):
        print(d)
EOF
}
# Makes `$1` (e.g. libcublas.so.13) loadable; true when it is.
find_library() {
    if ldconfig -p 2>/dev/null | grep -q "[[:space:]]$1 "; then return 0; fi
    local d
    while read -r d; do
        if [ -e "$d/$1" ]; then
            add_library_dir "$d"
            return 0
        fi
    done < <(library_dirs)
    return 1
}
if [ -n "${GPU_CHECK_FEATURES:-}" ]; then
    features=(--no-default-features --features "$GPU_CHECK_FEATURES")
    cuda_note="features $GPU_CHECK_FEATURES (GPU_CHECK_FEATURES)"
elif [ "$dry" = 1 ]; then
    features=()
    cuda_note="default features (cuda-13 bindings)"
    find_library libnvrtc.so.13 || say "gpu-check: no libnvrtc.so.13: the kernel compilation test will skip"
else
    # The driver's CUDA version bounds the bindings: 13 needs driver 580 or newer.
    driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -n 1)
    if [ "${driver_cuda:-0}" -ge 13 ] && find_library libcublas.so.13 && find_library libcublasLt.so.13 &&
        find_library libnvrtc.so.13; then
        features=()
        cuda_note="cuda-13 bindings (driver CUDA $driver_cuda)"
    elif find_library libcublas.so.12 && find_library libcublasLt.so.12 && find_library libnvrtc.so.12; then
        features=(--no-default-features --features cuda-12)
        cuda_note="cuda-12 bindings (driver CUDA ${driver_cuda:-unknown})"
    else
        say "gpu-check: no cuBLAS and NVRTC of CUDA 13 or 12 found (looked in ldconfig, CUDA_HOME,"
        say "/usr/local/cuda*, Python's nvidia-* wheels, target/nvrtc-venv). Install a CUDA toolkit, or"
        say "set LD_LIBRARY_PATH and GPU_CHECK_FEATURES (cuda-13 or cuda-12)."
        exit 1
    fi
fi
say "gpu-check: $cuda_note; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

mkdir -p "$work"
logs=$work/logs
mkdir -p "$logs"
if [ "${GPU_CHECK_KEEP:-0}" != 1 ]; then
    # The models are tens of GB; the logs stay.
    trap 'rm -rf "$work/model-bench" "$work/model-wide" "$work/model-calibrated"' EXIT
fi

# ---- steps --------------------------------------------------------------------------------------
# Steps run as `bash -c` under `timeout` (which stops a step's whole process group), so what
# they use is exported: functions, and the cargo flags as one string of words without spaces.
export GC_PKG="-p assay-reference-engine ${features[*]}" GC_WORK=$work GC_DRIFT_SIDES="${drift_sides[*]}"
results=()
failed=0
# run_step NAME LIMIT_S LOG CMD...: runs CMD (a command or an exported function) with a time
# limit; its stdout goes to the terminal and to LOG, its stderr to the terminal.
run_step() {
    local name=$1 limit=$2 log=$3
    shift 3
    heading "$name"
    local start=$SECONDS rc
    timeout --kill-after=10 "$limit" bash -c '"$@"' _ "$@" | tee "$log"
    rc=${PIPESTATUS[0]}
    local took=$((SECONDS - start))
    case $rc in
        0) results+=("| $name | ok | $took s |") ;;
        124 | 137) results+=("| $name | **FAILED**: over its ${limit} s limit | $took s |") ;;
        *) results+=("| $name | **FAILED** (exit $rc) | $took s |") ;;
    esac
    [ "$rc" = 0 ] || failed=1
    return "$rc"
}
skip_step() {
    results+=("| $1 | skipped: $2 | |")
    say "gpu-check: $1 skipped: $2"
}
# $GC_PKG is unquoted on purpose: it is several flags.
# shellcheck disable=SC2086
example() { cargo run -q --release --locked $GC_PKG --example "$@"; }
# 1. Build everything once, in release (`cargo test --release` and `cargo bench` share its
# dependencies), so the later steps' time limits measure the work, not compilation.
# shellcheck disable=SC2086
build() {
    cargo build --release --locked $GC_PKG --example tiny_model --example drift &&
        cargo test --release --locked $GC_PKG --test cuda --no-run &&
        cargo bench --locked $GC_PKG --bench prefill --no-run
}
# shellcheck disable=SC2086
cuda_tests() { cargo test -q --release --locked $GC_PKG --test cuda -- --nocapture --test-threads=1; }
# shellcheck disable=SC2086
bench_assay() {
    ASSAY_BENCH_MODEL="$GC_WORK/model-bench" ASSAY_BENCH_DEVICE="$1" ASSAY_BENCH_TOKENS="$2" ASSAY_BENCH_RUNS="$3" \
        cargo bench -q --locked $GC_PKG --bench prefill
}
# drift_step DIR TOKENS SHAPE...: writes the model, then prints the drift table.
# shellcheck disable=SC2086
drift_step() {
    local dir=$1 n=$2
    shift 2
    example tiny_model -- "$dir" "$@" >&2 && example drift -- "$dir" $GC_DRIFT_SIDES "tokens=$n"
}
export -f example build cuda_tests bench_assay drift_step

built=0
run_step "build (release)" "$build_limit" "$logs/build.log" build && built=1

# 2. The CUDA tests. With a GPU there, a test that skips is a failure: the GPU or the libraries
# were not usable from the tests.
if [ "$built" = 1 ]; then
    run_step "CUDA tests (tests/cuda.rs)" 240 "$logs/cuda-tests.log" cuda_tests
    if [ "$dry" != 1 ] && grep "SKIPPED" "$logs/cuda-tests.log" | grep -v "this machine has a GPU" >&2; then
        results+=("| CUDA tests ran on the GPU | **FAILED**: a test skipped (above) | |")
        failed=1
    fi
else
    skip_step "CUDA tests (tests/cuda.rs)" "the build failed"
fi

# 3. Prefill on the 7B shape: the engine, then torch on the same files.
bench_ready=0
if [ "$built" = 1 ]; then
    run_step "write the benchmark model (${bench_shape[*]})" 300 "$logs/write-bench.log" \
        example tiny_model -- "$work/model-bench" "${bench_shape[@]}" && bench_ready=1
else
    skip_step "write the benchmark model" "the build failed"
fi
if [ "$bench_ready" = 1 ]; then
    run_step "prefill, assay on $device" 240 "$logs/bench-assay.log" bench_assay "$device" "$tokens" "$runs"
    heading "prefill, torch on $torch_device"
    start=$SECONDS
    timeout --kill-after=10 300 "$python" scripts/bench-engine-gpu.py --model "$work/model-bench" \
        --device "$torch_device" --tokens "$tokens" --runs "$runs" 2>"$logs/bench-torch.err" | tee "$logs/bench-torch.log"
    rc=${PIPESTATUS[0]}
    cat "$logs/bench-torch.err" >&2
    case $rc in
        0) results+=("| prefill, torch on $torch_device | ok | $((SECONDS - start)) s |") ;;
        3) skip_step "prefill, torch on $torch_device" "$(tail -n 1 "$logs/bench-torch.err")" ;;
        *)
            results+=("| prefill, torch on $torch_device | **FAILED** (exit $rc) | $((SECONDS - start)) s |")
            failed=1
            ;;
    esac
else
    skip_step "prefill" "no benchmark model"
fi
rm -rf "$work/model-bench" # 15 GB on the GPU machine, not needed past here

# 4. Drift per hidden state, against the f32 CPU reference.
if [ "$built" = 1 ]; then
    run_step "drift, calibrated tiny family" 120 "$logs/drift-calibrated.log" \
        drift_step "$work/model-calibrated" 128 calibrated
    run_step "drift, ${wide_shape[*]}" 300 "$logs/drift-wide.log" \
        drift_step "$work/model-wide" 64 "${wide_shape[@]}"
else
    skip_step "drift" "the build failed"
fi

# ---- summary ------------------------------------------------------------------------------------
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo ", uncommitted changes" || true)
summary() {
    echo "### GPU check, $(date -u +%Y-%m-%d), commit $commit$dirty"
    echo
    if [ "$dry" = 1 ]; then
        echo "**DRY RUN on the CPU with small shapes: these are not GPU figures.**"
        echo
    fi
    echo "GPU: $gpu; $cuda_note; \`scripts/gpu-check.sh\`, $((SECONDS - started_all)) s in all."
    echo
    echo "| step | result | time |"
    echo "| --- | --- | --- |"
    printf '%s\n' "${results[@]}"
    echo
    if [ -s "$logs/cuda-tests.log" ]; then
        echo "CUDA tests:"
        echo
        # `cargo test -q` prints a dot per test, which can run into a line.
        grep -E "rel-L2|resident memory|SKIPPED|test result" "$logs/cuda-tests.log" | sed 's/^\.*/    /'
        echo
    fi
    local prefill
    prefill=$(cat "$logs/bench-assay.log" "$logs/bench-torch.log" 2>/dev/null | grep " prefill ")
    if [ -n "$prefill" ]; then
        echo "Prefill, ${bench_shape[*]} (random weights), every hidden state copied to the host in f32:"
        echo
        echo "| engine | tokens | device | ms | tokens/s |"
        echo "| --- | --- | --- | --- | --- |"
        echo "$prefill" | sed -E 's/^([a-z]+) prefill ([0-9]+) tokens on (.*): ([0-9.]+) ms, ([0-9.]+) tokens\/s.*/| \1 | \2 | \3 | \4 | \5 |/'
        echo
        grep "resident memory" "$logs/bench-assay.log" 2>/dev/null
        echo
    fi
    for log in "$logs/drift-calibrated.log" "$logs/drift-wide.log"; do
        if [ -s "$log" ]; then
            cat "$log"
            echo
        fi
    done
}
heading "summary (for docs/benchmarks.md)"
block=$(summary)
echo "$block"
if [ -n "${GPU_CHECK_SUMMARY:-}" ]; then
    echo "$block" >"$GPU_CHECK_SUMMARY"
fi
if [ "$failed" != 0 ]; then
    say "gpu-check: a step FAILED (see the table above and $logs)"
    exit 1
fi
say "gpu-check: every step passed"
