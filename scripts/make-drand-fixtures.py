#!/usr/bin/env python3
"""Commit-reveal v4 vectors made by the Bittensor Python packages, for assay-subtensor's tests.

    scripts/make-drand-fixtures.sh        # makes target/chain-venv, runs `generate` (and `check-assay`)

Subcommands (run with a python that has the packages below):
    generate         writes host/subtensor/tests/fixtures/drand/{normalize,reveal-rounds,python-commits}.json
    decrypt HEX      decrypts a bare commit with drand quicknet's round-1000 signature, prints the plaintext
                     as hex (assay's tests call this when ASSAY_TEST_CHAIN_PYTHON is set)
    check-assay BIN  runs `BIN chain encrypt-weights --round 1000 …` and decrypts its output here

Packages (pinned by the .sh): bittensor 11.3.0 (with bittensor-core 0.1.5) for `normalize` and the
reveal round of `_build_timelocked`; bittensor-drand 2.0.0 for the ciphertexts (`decrypt` and
`check-assay` need only bittensor-drand). Python 3.11.

- normalize.json: `bittensor.intents.weights.normalize` (what SetWeights / CommitWeights call before
  encrypting) on edge and seeded random cases, one case a line; finite weights are JSON numbers in
  Python's shortest round-trip form (the Rust test parses them to the same f64s), NaN and the
  infinities are the strings "nan", "inf", "-inf".
- reveal-rounds.json: the reveal round bittensor 11.3's `_build_timelocked` computes on a fake node
  (its storage reads, block number and block time answered from each case). The round depends on
  the wall clock inside bittensor-core, so each case records the clock just before and after the
  call; calls are made early in a 3-second drand period, so for block times that are multiples of
  3 s the bracket is one round and, for 3 s blocks, the reveal block follows exactly.
- python-commits.json: a known payload encrypted to round 1000 by bittensor-drand's
  `encrypt_at_round` (its `UserData` envelope: SCALE `{encrypted_data: Vec<u8>, reveal_round: u64}`)
  and by `get_encrypted_commit_v2` (the v4 commit function; a negative block time lands its round
  on 1000, so drand's published round-1000 signature opens it).
"""
import asyncio
import json
import math
import pathlib
import random
import struct
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "host" / "subtensor" / "tests" / "fixtures" / "drand"
GENESIS = 1692803367
PERIOD = 3
ROUND = 1000
# Drand quicknet's signature of round 1000 (published by drand; FACTS.md).
SIGNATURE_1000 = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39"
# The payload of the ciphertext vectors (and of the CLI's check): any 32 bytes serve as the hotkey.
HOTKEY = bytes(range(1, 33))
UIDS, VALUES, VERSION_KEY = [0, 1, 7, 300], [65535, 32768, 1, 12345], 1_000_042


def json_float(x):
    """A float as JSON: finite ones as numbers (repr round-trips exactly), the others by name."""
    return x if math.isfinite(x) else repr(x)


def compact(n):
    """SCALE compact encoding (lengths here are < 2**30)."""
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return struct.pack("<H", (n << 2) | 1)
    return struct.pack("<I", (n << 2) | 2)


def scale_payload(hotkey, uids, values, version_key):
    """WeightsTlockPayload {hotkey: Vec<u8>, uids: Vec<u16>, values: Vec<u16>, version_key: u64}, by hand."""
    out = compact(len(hotkey)) + hotkey
    out += compact(len(uids)) + b"".join(struct.pack("<H", u) for u in uids)
    out += compact(len(values)) + b"".join(struct.pack("<H", v) for v in values)
    return out + struct.pack("<Q", version_key)


def envelope(commit, round_):
    """bittensor-drand's UserData envelope around a bare commit, as its decrypt functions take it."""
    return compact(len(commit)) + commit + struct.pack("<Q", round_)


# ---------- normalize ----------

def normalize_cases():
    rng = random.Random(11)
    cases = [
        ("single", [5], [0.3]),
        ("all_zero", [1, 2, 3], [0.0, 0.0, -0.0]),
        ("empty", [], []),
        ("some_zero", [4, 5, 6], [0.0, 2.0, 1.0]),
        ("equal", [9, 8, 7], [0.25, 0.25, 0.25]),
        ("issue_example", [1, 2, 3], [0.5, 0.25, 1.0]),
        ("tiny", [0, 1], [5e-324, 1e-300]),
        ("tiny_beside_one", [0, 1, 2], [1.0, 1e-300, 5e-324]),
        ("huge", [0, 1, 2], [1.7976931348623157e308, 1e308, 1.0]),
        ("zero_cutoff", [0, 1, 2, 3], [1.0, 0.5 / 65535, 0.4999999 / 65535, 0.5000001 / 65535]),
        ("max_uid", [65535, 0], [1.0, 2.0]),
        ("duplicate_uids", [3, 3], [1.0, 3.0]),
        ("length_mismatch", [1, 2], [1.0]),
        ("negative", [1, 2], [1.0, -1e-9]),
        ("nan", [1, 2], [1.0, math.nan]),
        ("infinite", [1, 2], [math.inf, 1.0]),
    ]
    # Ties: weights whose scaled value is exactly k + 0.5, half with k even (Python's round keeps
    # k) and half with k odd (it goes up), so rounding half up would fail the first half.
    ties = {0: [], 1: []}
    while min(len(t) for t in ties.values()) < 12:
        k = rng.randrange(0, 65535)
        w = (k + 0.5) / 65535
        if w * 65535 == k + 0.5 and len(ties[k % 2]) < 12:
            ties[k % 2].append(w)
    ties = ties[0] + ties[1]
    cases.append(("ties", list(range(len(ties))) + [999], ties + [1.0]))
    draws = {
        "uniform": lambda: rng.random(),
        "exponential": lambda: rng.expovariate(1.0),
        "wide": lambda: 10 ** rng.uniform(-12, 12),
        "integers": lambda: float(rng.randrange(0, 1000)),
        "sparse": lambda: rng.random() if rng.random() < 0.3 else 0.0,
    }
    for i in range(100):
        kind = list(draws)[i % len(draws)]
        n = rng.randrange(1, 33)
        uids = rng.sample(range(4096), n)
        cases.append((f"random_{kind}_{i}", uids, [draws[kind]() for _ in range(n)]))
    return cases


def make_normalize():
    from bittensor.intents.weights import normalize
    from bittensor.result import BittensorError

    out = []
    for name, uids, weights in normalize_cases():
        case = {"name": name, "uids": uids, "weights": [json_float(w) for w in weights]}
        try:
            got_uids, got_values = normalize(uids, weights)
            case["expected"] = {"uids": got_uids, "values": got_values}
        except BittensorError as e:
            message = str(e)
            case["error"] = "length" if "equal length" in message else "weight" if "finite" in message else message
        out.append(case)
    return {"tool": "bittensor 11.3.0 bittensor.intents.weights.normalize", "cases": out}


# ---------- reveal rounds ----------

class FakeNode:
    """What `_build_timelocked` asks a node for, answered from one case."""

    def __init__(self, storage, current_block, block_time):
        self.storage, self.current_block, self._block_time = storage, current_block, block_time

    async def block_number(self):
        return self.current_block

    async def block_hash(self, number):
        return "0x" + "00" * 32

    async def query(self, module, name, params=None, block_hash=None):
        assert module == "SubtensorModule", module
        return self.storage[name]

    async def block_time(self):
        return self._block_time

    async def compose(self, call):
        return call


def reveal_cases():
    rng = random.Random(7)
    cases = [
        # The vectors bittensor-drand pins in its own tests, and a commit with nothing stored.
        ("sdk_cycle_reset", dict(Tempo=50, RevealPeriodEpochs=1, LastEpochBlock=10, PendingEpochAt=0,
                                 SubnetEpochIndex=0, BlocksSinceLastStep=0), 10, 12.0),
        ("sdk_pending_fires_before_auto", dict(Tempo=20, RevealPeriodEpochs=1, LastEpochBlock=80, PendingEpochAt=95,
                                               SubnetEpochIndex=0, BlocksSinceLastStep=0), 91, 12.0),
        ("nothing_stored", dict(Tempo=360, RevealPeriodEpochs=1, LastEpochBlock=None, PendingEpochAt=None,
                                SubnetEpochIndex=None, BlocksSinceLastStep=None), 5_000_000, 12.0),
        ("finney_like", dict(Tempo=360, RevealPeriodEpochs=1, LastEpochBlock=6_543_000, PendingEpochAt=0,
                             SubnetEpochIndex=18_175, BlocksSinceLastStep=211), 6_543_211, 12.0),
        ("stalled_past_max_tempo", dict(Tempo=360, RevealPeriodEpochs=2, LastEpochBlock=100, PendingEpochAt=0,
                                        SubnetEpochIndex=3, BlocksSinceLastStep=50_401), 200, 12.0),
        ("max_reveal_period", dict(Tempo=10, RevealPeriodEpochs=100, LastEpochBlock=1000, PendingEpochAt=0,
                                   SubnetEpochIndex=99, BlocksSinceLastStep=4), 1004, 12.0),
        ("fast_blocks", dict(Tempo=10, RevealPeriodEpochs=3, LastEpochBlock=7, PendingEpochAt=0,
                             SubnetEpochIndex=1, BlocksSinceLastStep=2), 9, 0.25),
        ("tempo_zero", dict(Tempo=0, RevealPeriodEpochs=1, LastEpochBlock=0, PendingEpochAt=0,
                            SubnetEpochIndex=0, BlocksSinceLastStep=0), 100, 12.0),
    ]
    for i in range(48):
        tempo = rng.choice([1, 2, 10, 99, 100, 360, 361, 1000, 7200])
        current = rng.randrange(0, 10_000_000)
        last = max(0, current - rng.randrange(0, tempo + 3))
        pending = 0 if rng.random() < 0.6 else max(1, current + rng.randrange(-5, 2 * tempo + 5))
        since = rng.randrange(0, tempo + 2) if rng.random() < 0.9 else rng.randrange(50_399, 50_403)
        storage = dict(Tempo=tempo, RevealPeriodEpochs=rng.randrange(1, 6), LastEpochBlock=last, PendingEpochAt=pending,
                       SubnetEpochIndex=rng.randrange(0, 100_000), BlocksSinceLastStep=since)
        cases.append((f"random_{i}", storage, current, rng.choice([12.0, 12.0, 3.0, 6.0, 0.25, 7.3])))
    return cases


def early_in_a_drand_period():
    """Wait until the clock is early in a 3-second drand period, so a call does not straddle two."""
    while True:
        phase = (time.time() - GENESIS) % PERIOD
        if 0.2 <= phase <= 1.5:
            return
        time.sleep(0.05)


def make_reveal_rounds():
    from bittensor.intents.weights import _build_timelocked

    out = []
    for name, storage, current_block, block_time in reveal_cases():
        node = FakeNode(storage, current_block, block_time)
        case = {"name": name, "storage": storage, "current_block": current_block, "block_time": block_time}
        early_in_a_drand_period()
        before = time.time()
        try:
            built = asyncio.run(_build_timelocked(node, HOTKEY, 1, 0, UIDS, VALUES, VERSION_KEY, 4))
            after = time.time()
            case.update(now_before=before, now_after=after, reveal_round=built.extras["reveal_round"])
            if block_time == 3.0 and math.floor((before - GENESIS) / 3) == math.floor((after - GENESIS) / 3):
                # One round per block: the round pins the reveal block (target = reveal block + 3).
                blocks_until_target = built.extras["reveal_round"] - math.floor((before - GENESIS) / 3)
                case["reveal_block"] = current_block + blocks_until_target - 3
        except Exception as e:  # the SDK raises a plain ValueError-like error from bittensor-core
            case["error"] = str(e)
        out.append(case)
    return {"tool": "bittensor 11.3.0 bittensor.intents.weights._build_timelocked (bittensor-core 0.1.5)",
            "cases": out}


# ---------- ciphertexts ----------

def commit_v2_at_round_1000(drand):
    """get_encrypted_commit_v2 with a negative block time that lands the reveal round on 1000."""
    # The SDK's own vector: tempo 50, last epoch at 10, head at 10 → reveal block 60, target 63.
    blocks_until_target = 63 - 10
    for _ in range(5):
        block_time = (GENESIS + ROUND * PERIOD + 1.5 - time.time()) / blocks_until_target
        commit, round_ = drand.get_encrypted_commit_v2(UIDS, VALUES, VERSION_KEY, 10, 0, 0, 50, 0, 10, 1,
                                                       block_time, HOTKEY)
        if round_ == ROUND:
            return commit
    raise SystemExit("get_encrypted_commit_v2 did not land on round 1000")


def make_python_commits():
    import bittensor_core
    import bittensor_drand as drand

    payload = scale_payload(HOTKEY, UIDS, VALUES, VERSION_KEY)
    wrapped, round_ = drand.encrypt_at_round(payload, ROUND)
    assert round_ == ROUND
    commit = commit_v2_at_round_1000(drand)
    for data in (wrapped, envelope(commit, ROUND)):
        assert drand.decrypt_with_signature(data, SIGNATURE_1000) == payload
    return {
        "tool": "bittensor-drand 2.0.0",
        "round": ROUND,
        "signature": SIGNATURE_1000,
        "payload": {"hotkey": HOTKEY.hex(), "hotkey_ss58": bittensor_core.ss58_encode(HOTKEY, 42),
                    "uids": UIDS, "values": VALUES, "version_key": VERSION_KEY},
        "payload_scale": payload.hex(),
        "encrypt_at_round": wrapped.hex(),
        "get_encrypted_commit_v2": commit.hex(),
    }


def write(name, data):
    """JSON with one case a line: small, and a diff shows which cases changed."""
    head = {k: v for k, v in data.items() if k != "cases"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "cases": [\n'
    text += ",\n".join("  " + json.dumps(case) for case in data.get("cases", [])) + "\n ]\n}\n"
    if "cases" not in data:
        text = json.dumps(data, indent=1) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(text)
    print(f"wrote {OUT / name}")


def decrypt(commit_hex):
    import bittensor_drand as drand

    commit = bytes.fromhex(commit_hex.removeprefix("0x"))
    print(drand.decrypt_with_signature(envelope(commit, ROUND), SIGNATURE_1000).hex())


def check_assay(binary):
    """assay's commit for round 1000 decrypts here, to the payload encoded by hand."""
    import bittensor_core

    ss58 = bittensor_core.ss58_encode(HOTKEY, 42)
    weights = ",".join(str(v) for v in VALUES)  # already u16-scaled: normalization keeps them
    out = subprocess.run([binary, "chain", "encrypt-weights", "--round", str(ROUND), "--hotkey-ss58", ss58,
                          "--uids", ",".join(map(str, UIDS)), "--weights", weights, "--version-key", str(VERSION_KEY)],
                         check=True, capture_output=True, text=True).stdout.strip()
    import bittensor_drand as drand

    plain = drand.decrypt_with_signature(envelope(bytes.fromhex(out.removeprefix("0x")), ROUND), SIGNATURE_1000)
    assert plain == scale_payload(HOTKEY, UIDS, VALUES, VERSION_KEY), plain.hex()
    print(f"bittensor-drand decrypted the commit of {binary} to the expected payload: ok")


def main(argv):
    if argv[:1] == ["generate"]:
        write("normalize.json", make_normalize())
        write("python-commits.json", make_python_commits())
        write("reveal-rounds.json", make_reveal_rounds())
    elif argv[:1] == ["decrypt"] and len(argv) == 2:
        decrypt(argv[1])
    elif argv[:1] == ["check-assay"] and len(argv) == 2:
        check_assay(argv[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
