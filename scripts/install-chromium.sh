#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages for the dashboard's browser test
# (host/cli/tests/dashboard_browser.rs), without recommended packages. The .debs are kept under
# target/apt-cache (owned by whoever ran this, sudo or not; `apt-get autoclean` drops the ones
# no longer installable), so a later run installs them without downloading. `apt-get update`
# runs only when `apt-cache policy chromium` has no candidate, or the download fails as the
# package lists stand. Not root: apt-get runs through `sudo -n` (never prompts; fails instead).
# Nothing to do when `chromium` is already on the PATH. Exits 1 (installing nothing) on a
# machine without apt-get.
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
    as_root=(sudo -n)
fi
# Whoever invoked this (through sudo too) owns what it leaves under target/.
owner="${SUDO_UID:-$(id -u)}:${SUDO_GID:-$(id -g)}"
new_target=0
[ -d "$root/target" ] || new_target=1
cache=$root/target/apt-cache
mkdir -p "$cache/partial"
give_back() {
    "${as_root[@]}" chown -R "$owner" "$cache" || true
    if [ "$new_target" = 1 ]; then
        "${as_root[@]}" chown "$owner" "$root/target" || true
    fi
}
trap give_back EXIT
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o "Dir::Cache::archives=$cache")
policy=$(apt-cache policy chromium 2>/dev/null || true)
case "$policy" in
    *"Candidate: (none)"* | "") "${as_root[@]}" apt-get update -q >&2 ;;
esac
if ! "${apt[@]}" install --no-install-recommends --download-only chromium >&2; then
    "${as_root[@]}" apt-get update -q >&2
    "${apt[@]}" install --no-install-recommends --download-only chromium >&2
fi
"${apt[@]}" install --no-install-recommends chromium >&2
"${apt[@]}" autoclean >&2
chromium --version >&2
