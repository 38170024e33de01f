#!/usr/bin/env bash
# Proves that plugin builds are reproducible: builds every plugin from this checkout and again
# from a copy of the source at another path, each with a fresh target folder, then compares
# the bytes.
#
#   scripts/check-reproducible.sh
#
# Exit 0 and "reproducible" when both builds give identical components; 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

assay=${ASSAY_BIN:-$root/target/debug/assay}
if [ ! -x "$assay" ]; then
    cargo build --locked --quiet -p assay-cli --manifest-path "$root/Cargo.toml"
fi
# First build: this checkout, in a target folder of its own (the shared target/plugins is left
# alone, so tests reading it meanwhile are undisturbed).
echo "building the plugins in $root" >&2
ASSAY_BIN=$assay CARGO_TARGET_DIR=$work/first-target "$root/scripts/build-plugins.sh" "$work/first" >/dev/null

# The same sources (tracked and untracked-but-not-ignored files) at another path.
copy=$work/elsewhere/assay-copy
mkdir -p "$copy"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - 2>/dev/null) | (cd "$copy" && tar xf -)
echo "building the plugins a second time, in $copy" >&2
ASSAY_BIN=$assay CARGO_TARGET_DIR=$copy/target "$copy/scripts/build-plugins.sh" "$work/second" >/dev/null

cat "$work/first/SHA256SUMS"
if diff -u "$work/first/SHA256SUMS" "$work/second/SHA256SUMS" >&2 && cmp -s "$work/first/constantinople.wasm" "$work/second/constantinople.wasm"; then
    echo "reproducible: two builds from two paths gave identical bytes"
else
    echo "NOT reproducible: the builds differ" >&2
    exit 1
fi
