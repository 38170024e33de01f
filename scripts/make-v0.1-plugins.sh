#!/usr/bin/env bash
# Rebuilds the contract 0.1.0 plugins from this repository's history and writes the fixtures
# the port comparison (host/epoch/tests/ports.rs) runs them from:
#
#   scripts/make-v0.1-plugins.sh
#
# The sources are exported at commit e548501 (the last one on contract 0.1.0) with `git archive`
# and built the way scripts/build-plugins.sh builds (pinned toolchain, `plugin` profile, the
# export's path remapped to /assay), then packed with this checkout's `assay policy pack`. The
# 0.1.0 constantinople must reproduce the golden fixture's hash (6553c9e1…): that proves the
# build is the one that made it, so the adaptive challenger built beside it is 0.1.0's too.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=e548501
golden=6553c9e1265d0388bf6297a0798d0ef1fd5059ba340db2aa03d573c098209a41
out=$root/host/epoch/tests/fixtures/v0.1
# A target folder of its own inside target/: the export's rustflags differ from this checkout's.
target_dir=${CARGO_TARGET_DIR:-$root/target}/v0.1-plugins
cargo_home=${CARGO_HOME:-$HOME/.cargo}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$root" archive "$commit" | tar -x -C "$work"

echo "building constantinople and adaptive-challenger at $commit (contract 0.1.0)" >&2
(
    cd "$work"
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=$work=/assay --remap-path-prefix=$cargo_home=/cargo"
    cargo build --locked --quiet --target wasm32-unknown-unknown --profile plugin --target-dir "$target_dir" \
        -p assay-plugin-constantinople -p assay-plugin-adaptive-challenger
)

if [ -n "${ASSAY_BIN:-}" ]; then
    assay=$ASSAY_BIN
else
    cargo build --locked --quiet -p assay-cli --manifest-path "$root/Cargo.toml"
    assay=${CARGO_TARGET_DIR:-$root/target}/debug/assay
fi

packed=$work/packed
mkdir -p "$packed" "$out"
for p in constantinople adaptive-challenger; do
    "$assay" policy pack "$target_dir/wasm32-unknown-unknown/plugin/assay_plugin_${p//-/_}.wasm" \
        --out "$packed/$p.wasm" >/dev/null 2>&1
done
actual=$(sha256sum "$packed/constantinople.wasm" | cut -d' ' -f1)
if [ "$actual" != "$golden" ]; then
    echo "constantinople at $commit built to $actual, not the golden $golden: not the 0.1.0 build" >&2
    exit 1
fi
# Constantinople's 0.1.0 bytes are the golden fixture's; only the challenger is written here.
cp "$packed/adaptive-challenger.wasm" "$out/adaptive-challenger.wasm"
(cd "$out" && sha256sum adaptive-challenger.wasm | tee SHA256SUMS)
echo "constantinople reproduces $golden; fixtures written to $out" >&2
