#!/usr/bin/env bash
# Refreshes host/subtensor/metadata/finney-spec365.scale from a live finney node with a plain
# `state_call Metadata_metadata_at_version(16)`, and renames it after the runtime's spec version.
# Needs network access to the node, `curl` and `python3`.
#
#   scripts/refresh-finney-metadata.sh [https://entrypoint-finney.opentensor.ai:443]
#
# After a refresh: rerun scripts/make-subtensor-fixtures.sh (the fixtures name the file) and the
# mock tier (`cargo test -p assay-subtensor`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node=${1:-https://entrypoint-finney.opentensor.ai:443}
rpc() {
    curl --silent --show-error --fail --max-time 60 -H 'Content-Type: application/json' \
        -d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2}" "$node"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rpc state_getRuntimeVersion '[]' > "$work/version.json"
# Option<OpaqueMetadata> of version 16 (u32 little endian 0x10000000).
rpc state_call '["Metadata_metadata_at_version","0x10000000"]' > "$work/metadata.json"
python3 - "$work" "$root/host/subtensor/metadata" <<'PY'
import json, pathlib, sys
work, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
spec = json.loads((work / "version.json").read_text())["result"]["specVersion"]
raw = bytes.fromhex(json.loads((work / "metadata.json").read_text())["result"][2:])
if raw[0] != 1:
    sys.exit("the node has no metadata V16")
# Skip the Option tag and the compact length of the opaque bytes.
mode = raw[1] & 3
skip = {0: 1, 1: 2, 2: 4}.get(mode) or 1 + (raw[1] >> 2) + 4
body = raw[1 + skip:]
if body[:4] != b"meta":
    sys.exit("the answer is not metadata")
out = dest / f"finney-spec{spec}.scale"
out.write_bytes(body)
print(f"wrote {out} ({len(body)} bytes, spec {spec})")
PY
