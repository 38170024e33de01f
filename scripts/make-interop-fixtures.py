#!/usr/bin/env python3
"""Signatures and wallet files made by the Bittensor Python tools, for assay's interop tests.

    .venv/bin/pip install bittensor-wallet==4.1.1
    .venv/bin/python scripts/make-interop-fixtures.py   # writes host/protocol/tests/fixtures/bittensor-wallet.json

With a fixed seed, `bittensor_wallet` writes a plaintext hotkey file and signs an Epistula v2
request; the Rust tests read the file with assay-keys and verify the signature with
assay-protocol. sr25519 signatures are randomized, so a rerun writes a different (equally
valid) signature.
"""
import hashlib
import json
import pathlib
import tempfile

from bittensor_wallet import Keypair, Wallet

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "host" / "protocol" / "tests" / "fixtures" / "bittensor-wallet.json"
SEED = "0x" + "42" * 32


def main():
    with tempfile.TemporaryDirectory() as tmp:
        wallet = Wallet(name="interop", hotkey="default", path=tmp)
        wallet.regenerate_hotkey(seed=SEED, use_password=False, overwrite=True, suppress=True)
        hotkey_file = pathlib.Path(tmp, "interop", "hotkeys", "default").read_text()
    validator = Keypair.create_from_seed(SEED)
    miner = Keypair.create_from_seed("0x" + "24" * 32)
    body = json.dumps({"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "hi"}]}).encode()
    uuid, timestamp = "2f1c7d9e-8b4a-4c3d-9e2f-1a0b9c8d7e6f", 1795330000000
    message = f"{hashlib.sha256(body).hexdigest()}.{uuid}.{timestamp}.{miner.ss58_address}"
    signature = "0x" + validator.sign(message.encode()).hex()
    assert validator.verify(message.encode(), bytes.fromhex(signature[2:]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "tool": "bittensor-wallet 4.1.1",
        "seed": SEED,
        "ss58": validator.ss58_address,
        "hotkey_file": hotkey_file,
        "body": body.decode(),
        "headers": {
            "Epistula-Version": "2",
            "Epistula-Timestamp": str(timestamp),
            "Epistula-Uuid": uuid,
            "Epistula-Signed-By": validator.ss58_address,
            "Epistula-Signed-For": miner.ss58_address,
            "Epistula-Request-Signature": signature,
        },
    }, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
