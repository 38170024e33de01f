#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs the pinned toolchain's pieces (rustfmt,
# clippy, the wasm32 target), builds the plugins, checks formatting and lints, runs every test.
#
#   scripts/test.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n== %s\n' "$*" >&2; }

step "toolchain (rust-toolchain.toml)"
rustup show active-toolchain >&2 || rustup toolchain install
rustup component add rustfmt clippy >&2
rustup target add wasm32-unknown-unknown >&2

step "plugins (scripts/build-plugins.sh)"
scripts/build-plugins.sh

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown -p assay-policy-sdk -p assay-plugin-constantinople \
    -p assay-plugin-adaptive-challenger -p assay-plugin-misbehave -- -D warnings

step "tests"
cargo test --locked --workspace
