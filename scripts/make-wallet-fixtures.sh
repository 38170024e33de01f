#!/usr/bin/env bash
# A wallet written by the Bittensor Python tools with a password, for assay-keys' tests of
# encrypted (`$NACL`) coldkeys and hotkeys.
#
#     scripts/make-wallet-fixtures.sh   # writes host/keys/tests/fixtures/wallet-encrypted/
#
# Made with Python 3 and bittensor-wallet==4.1.1 (its only runtime dependency is itself: the
# package is Rust + pyo3, and encrypts with libsodium's argon2i13 + secretbox through sodiumoxide).
# The keys come from fixed mnemonics and the password is fixed, so a rerun writes the same
# keys; the 24-byte nonces are random, so the encrypted bytes differ from run to run (and
# decrypt the same). These are test keys: never fund them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/wallet-venv"
out="$root/host/keys/tests/fixtures/wallet-encrypted"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet "bittensor-wallet==4.1.1"

rm -rf "$out"
mkdir -p "$out"
OUT="$out" "$venv/bin/python" - <<'PY'
import json
import os
import pathlib

import bittensor_wallet
from bittensor_wallet import Keypair, Wallet

OUT = pathlib.Path(os.environ["OUT"])
PASSWORD = "assay-test-password"
# Substrate's development phrase, and BIP-39's first "legal winner" test vector.
COLDKEY_MNEMONIC = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
HOTKEY_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"

wallet = Wallet(name="owner", hotkey="validator", path=str(OUT))
wallet.regenerate_coldkey(mnemonic=COLDKEY_MNEMONIC, use_password=True, overwrite=True,
                          suppress=True, coldkey_password=PASSWORD)
wallet.regenerate_hotkey(mnemonic=HOTKEY_MNEMONIC, use_password=True, overwrite=True,
                         suppress=True, hotkey_password=PASSWORD)

for name in ["coldkey", "hotkeys/validator"]:
    assert (OUT / "owner" / name).read_bytes().startswith(b"$NACL"), name

# A second opinion on the addresses: the keypairs the mnemonics give, and what the wallet
# decrypts from its own files.
coldkey = Keypair.create_from_mnemonic(COLDKEY_MNEMONIC)
hotkey = Keypair.create_from_mnemonic(HOTKEY_MNEMONIC)
assert wallet.get_coldkey(password=PASSWORD).ss58_address == coldkey.ss58_address
assert wallet.get_hotkey(password=PASSWORD).ss58_address == hotkey.ss58_address

expected = {
    "tool": f"bittensor-wallet {bittensor_wallet.__version__}",
    "wallet": {"path": ".", "name": "owner", "hotkey": "validator"},
    "password": PASSWORD,
    "coldkey_ss58": coldkey.ss58_address,
    "coldkey_public": "0x" + coldkey.public_key.hex(),
    "hotkey_ss58": hotkey.ss58_address,
    "hotkey_public": "0x" + hotkey.public_key.hex(),
}
(OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
PY

find "$out" -type f | sort
