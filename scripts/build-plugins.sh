#!/usr/bin/env bash
# Builds every policy plugin reproducibly (all on contract 0.2.0) and prints "<sha256>  <name>".
#
#   scripts/build-plugins.sh [OUT_DIR]        (default: target/plugins)
#
# The same source and toolchain give the same bytes on any machine: the toolchain is pinned
# (rust-toolchain.toml), the `plugin` profile has one codegen unit, LTO, no debug info and is
# stripped, and the paths of this checkout and of the cargo home are remapped so that no
# machine-specific path ends up in the output. Each core module is then wrapped into a
# component by `assay policy pack` (set ASSAY_BIN to use an already built `assay`).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/target/plugins}
target_dir=${CARGO_TARGET_DIR:-$root/target}
# Every plugin crate under plugins/ (all but the SDK), in name order: a new policy is built and
# hashed without editing this list.
plugins=()
for dir in "$root"/plugins/*/; do
    name=$(basename "$dir")
    [ "$name" != sdk ] && [ -f "$dir/Cargo.toml" ] && plugins+=("$name")
done

cd "$root"
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "installing the wasm32-unknown-unknown target" >&2
    rustup target add wasm32-unknown-unknown >&2
fi

cargo_home=${CARGO_HOME:-$HOME/.cargo}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=$root=/assay --remap-path-prefix=$cargo_home=/cargo"

packages=()
for p in "${plugins[@]}"; do packages+=(-p "assay-plugin-$p"); done
echo "building ${plugins[*]} for wasm32-unknown-unknown" >&2
cargo build --locked --quiet --target wasm32-unknown-unknown --profile plugin --target-dir "$target_dir" "${packages[@]}"

if [ -n "${ASSAY_BIN:-}" ]; then
    assay=("$ASSAY_BIN")
else
    cargo build --locked --quiet -p assay-cli --target-dir "$target_dir"
    assay=("$target_dir/debug/assay")
fi

mkdir -p "$out"
for p in "${plugins[@]}"; do
    core="$target_dir/wasm32-unknown-unknown/plugin/assay_plugin_${p//-/_}.wasm"
    "${assay[@]}" policy pack "$core" --out "$out/$p.wasm" 2>/dev/null >/dev/null
done
(cd "$out" && sha256sum "${plugins[@]/%/.wasm}" | sed 's/\.wasm$//' | tee SHA256SUMS)
