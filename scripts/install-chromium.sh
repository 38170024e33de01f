#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages for the dashboard's browser test
# (host/cli/tests/dashboard_browser.rs). The .debs are kept under target/apt-cache, so a later
# run installs them without downloading; `apt-get update` runs only when they cannot be fetched
# as the package lists stand. Nothing to do when `chromium` is already on the PATH.
# Exits 1 (installing nothing) on a machine without apt-get.
#
#   scripts/install-chromium.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: install chromium yourself (the browser test skips without it)" >&2
    exit 1
fi
as_root=()
if [ "$(id -u)" != 0 ]; then
    as_root=(sudo)
fi
cache=$root/target/apt-cache
mkdir -p "$cache/partial"
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o "Dir::Cache::archives=$cache")
if ! "${apt[@]}" install --download-only chromium >&2; then
    "${as_root[@]}" apt-get update -q >&2
    "${apt[@]}" install --download-only chromium >&2
fi
"${apt[@]}" install chromium >&2
chromium --version >&2
