#!/usr/bin/env python3
"""SCALE fixtures for assay-subtensor's mock tier, encoded by the Python `bittensor` SDK.

Run through scripts/make-subtensor-fixtures.sh, which makes the venv (bittensor==11.3.0, with
bittensor-core 0.1.5) and a V15 copy of the committed finney metadata (the SDK's codec reads
V14/V15 only; the types are the same). Writes host/subtensor/tests/fixtures/finney.json:

- the subnet the tests see (netuid 3 at block 1000, tempo 99): keys made from fixed seeds by the
  SDK's Keypair, storage keys and values, runtime-API answers (get_metagraph, get_neurons_lite,
  Core_version, the account nonce) and System.Events records, all encoded by the SDK's codec
  against the metadata;
- the calls assay must submit for the same inputs (set_weights after the SDK's own weight
  normalization, serve_axon as the SDK's ServeAxon intent builds it, set_commitment with a Raw
  text field), composed by the SDK, with the SDK's decoding of each.

Deterministic: a rerun writes the same bytes.
"""
import ipaddress
import json
import pathlib
import sys

import bittensor_core as core
from bittensor._transport.codec import RuntimeCodec
from bittensor.intents.weights import normalize

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "host" / "subtensor" / "tests" / "fixtures" / "finney.json"

NETUID = 3
HEAD = 1000
TEMPO = 99
BLOCKS_SINCE_LAST_STEP = 5
VERSION_KEY = 1000
RATE_LIMIT = 100
SPEC_VERSION = 365
TRANSACTION_VERSION = 1
NONCE = 5
COMMITMENT = "assay-policy:scorer:sha256:" + "ab" * 32
# The policy's weights, as the node hands them over (u16 per uid); normalized as the SDK does.
POLICY_UIDS = [1, 2, 3]
POLICY_WEIGHTS = [30000, 60000, 0]

SEEDS = {
    "validator": "01" * 32,
    "miner1": "02" * 32,
    "miner2": "03" * 32,
    "owner": "04" * 32,
    "stranger": "09" * 32,
}
# uid, key name, axon (ip, port) or None, validator permit, stake (rao), last update
NEURONS = [
    (0, "validator", None, True, 5_000_000_000_000, 880),
    (1, "miner1", ("10.0.0.1", 8091), False, 20_000_000_000, 0),
    (2, "miner2", ("2001:db8::1", 8092), False, 10_000_000_000, 0),
    (3, "owner", None, False, 1_000_000_000, 0),
]


def hexs(b: bytes) -> str:
    return "0x" + bytes(b).hex()


class Registry:
    """Default values for any type of the metadata, so that big structs are filled in whole."""

    def __init__(self, rc: RuntimeCodec):
        self.types = {t["id"]: t["type"] for t in rc.registry_types()}

    def by_path(self, *path):
        return next(i for i, t in self.types.items() if t.get("path") == list(path))

    def default(self, type_id: int):
        d = self.types[type_id]["def"]
        if "composite" in d:
            fields = d["composite"]["fields"]
            if fields and "name" not in fields[0]:
                return self.default(fields[0]["type"]) if len(fields) == 1 else [self.default(f["type"]) for f in fields]
            return {f["name"]: self.default(f["type"]) for f in fields}
        if "variant" in d:
            variants = d["variant"]["variants"]
            if self.types[type_id].get("path") == ["Option"]:
                return None
            return variants[0]["name"]
        if "sequence" in d:
            return []
        if "array" in d:
            inner = self.types[d["array"]["type"]]["def"]
            if inner.get("primitive") == "u8":
                return "0x" + "00" * d["array"]["len"]
            return [self.default(d["array"]["type"])] * d["array"]["len"]
        if "tuple" in d:
            return [self.default(t) for t in d["tuple"]]
        if "primitive" in d:
            return {"bool": False, "str": ""}.get(d["primitive"], 0)
        if "compact" in d:
            return 0
        raise ValueError(f"no default for type {type_id}: {d}")


def keys():
    out = {}
    for name, seed in SEEDS.items():
        kp = core.Keypair.create_from_seed(bytes.fromhex(seed))
        out[name] = {"seed": "0x" + seed, "public": hexs(kp.public_key), "ss58": kp.ss58_address}
    return out


def coldkey(uid: int) -> str:
    return "0x" + f"{0x10 + uid:02x}" * 32


def axon_info(axon):
    if axon is None:
        return {"block": 0, "version": 0, "ip": 0, "port": 0, "ip_type": 0, "protocol": 0, "placeholder1": 0, "placeholder2": 0}
    ip = ipaddress.ip_address(axon[0])
    return {"block": 900, "version": 1, "ip": int(ip), "port": axon[1], "ip_type": ip.version, "protocol": 4,
            "placeholder1": 0, "placeholder2": 0}


def metagraph(rc, reg, k):
    ty = reg.by_path("pallet_subtensor", "rpc_info", "metagraph", "Metagraph")
    m = reg.default(ty)
    hot = [k[n[1]]["public"] for n in NEURONS]
    m.update({
        "netuid": NETUID, "name": [ord(c) for c in "assay"], "symbol": [ord(c) for c in "A"],
        "owner_hotkey": k["owner"]["public"], "owner_coldkey": coldkey(3), "block": HEAD, "tempo": TEMPO,
        "last_step": HEAD - BLOCKS_SINCE_LAST_STEP, "blocks_since_last_step": BLOCKS_SINCE_LAST_STEP,
        "weights_version": VERSION_KEY, "weights_rate_limit": RATE_LIMIT, "num_uids": len(NEURONS), "max_uids": 256,
        "hotkeys": hot, "coldkeys": [coldkey(n[0]) for n in NEURONS], "identities": [None] * len(NEURONS),
        "axons": [axon_info(n[2]) for n in NEURONS], "active": [True] * len(NEURONS),
        "validator_permit": [n[3] for n in NEURONS], "pruning_score": [0] * len(NEURONS),
        "last_update": [n[5] for n in NEURONS], "emission": [0] * len(NEURONS), "dividends": [0] * len(NEURONS),
        "incentives": [0] * len(NEURONS), "consensus": [0] * len(NEURONS), "trust": [0] * len(NEURONS),
        "rank": [0] * len(NEURONS), "block_at_registration": [100 + 10 * n[0] for n in NEURONS],
        "alpha_stake": [n[4] // 2 for n in NEURONS], "tao_stake": [n[4] // 2 for n in NEURONS],
        "total_stake": [n[4] for n in NEURONS],
    })
    return rc.encode(f"scale_info::{option_of(reg, ty)}", m)


def option_of(reg, inner):
    return next(i for i, t in reg.types.items() if t.get("path") == ["Option"] and t["params"][0]["type"] == inner)


def neurons_lite(rc, reg, k):
    ty = reg.by_path("pallet_subtensor", "rpc_info", "neuron_info", "NeuronInfoLite")
    out = []
    for uid, name, axon, permit, stake, last in NEURONS:
        n = reg.default(ty)
        n.update({"hotkey": k[name]["public"], "coldkey": coldkey(uid), "uid": uid, "netuid": NETUID, "active": True,
                  "axon_info": axon_info(axon), "stake": [[coldkey(uid), stake]], "last_update": last,
                  "validator_permit": permit})
        out.append(n)
    seq = next(i for i, t in reg.types.items() if t["def"].get("sequence", {}).get("type") == ty)
    return rc.encode(f"scale_info::{seq}", out)


def storage(rc, pallet, entry, params, value):
    e = rc.storage_entry(pallet, entry)
    key = rc.storage_key(e, params)
    return {"pallet": pallet, "entry": entry, "params": params, "key": hexs(key),
            "value": None if value is None else hexs(rc.encode(e.value_type, value))}


def storage_items(rc, k):
    v, o = k["validator"]["public"], k["owner"]["public"]
    commit_epoch = (995 + NETUID + 1) // (TEMPO + 1)  # the pallet's get_epoch_index at block 995
    info = {"fields": [{f"Raw{len(COMMITMENT)}": hexs(COMMITMENT.encode())}]}
    s = {
        "uids_validator": storage(rc, "SubtensorModule", "Uids", [NETUID, v], 0),
        "uids_miner1": storage(rc, "SubtensorModule", "Uids", [NETUID, k["miner1"]["public"]], 1),
        "uids_owner": storage(rc, "SubtensorModule", "Uids", [NETUID, o], 3),
        "uids_stranger": storage(rc, "SubtensorModule", "Uids", [NETUID, k["stranger"]["public"]], None),
        "validator_permit": storage(rc, "SubtensorModule", "ValidatorPermit", [NETUID], [n[3] for n in NEURONS]),
        "validator_permit_none": storage(rc, "SubtensorModule", "ValidatorPermit", [NETUID], [False] * len(NEURONS)),
        "weights_version_key": storage(rc, "SubtensorModule", "WeightsVersionKey", [NETUID], VERSION_KEY),
        "weights_rate_limit": storage(rc, "SubtensorModule", "WeightsSetRateLimit", [NETUID], RATE_LIMIT),
        "last_update": storage(rc, "SubtensorModule", "LastUpdate", [NETUID], [n[5] for n in NEURONS]),
        "last_update_recent": storage(rc, "SubtensorModule", "LastUpdate", [NETUID], [950, 0, 0, 0]),
        # A timelocked commit sets LastUpdate to its block.
        "last_update_at_commit": storage(rc, "SubtensorModule", "LastUpdate", [NETUID], [995, 0, 0, 0]),
        "cr_disabled": storage(rc, "SubtensorModule", "CommitRevealWeightsEnabled", [NETUID], False),
        "cr_enabled": storage(rc, "SubtensorModule", "CommitRevealWeightsEnabled", [NETUID], True),
        "cr_version": storage(rc, "SubtensorModule", "CommitRevealWeightsVersion", [], 4),
        "tempo": storage(rc, "SubtensorModule", "Tempo", [NETUID], TEMPO),
        "blocks_since_last_step": storage(rc, "SubtensorModule", "BlocksSinceLastStep", [NETUID], BLOCKS_SINCE_LAST_STEP),
        "reveal_period": storage(rc, "SubtensorModule", "RevealPeriodEpochs", [NETUID], 1),
        "owner_hotkey": storage(rc, "SubtensorModule", "SubnetOwnerHotkey", [NETUID], o),
        "weights_validator": storage(rc, "SubtensorModule", "Weights", [NETUID, 0], [[u, w] for u, w in zip(*normalize(POLICY_UIDS, POLICY_WEIGHTS))]),
        "timelocked_commits": storage(rc, "SubtensorModule", "TimelockedWeightCommits", [NETUID, commit_epoch],
                                      [[v, 995, "0x" + "00" * 299, 1_000_000]]),
        "commitment_owner": storage(rc, "Commitments", "CommitmentOf", [NETUID, o], {"deposit": 0, "block": 990, "info": info}),
        "commitment_stranger": storage(rc, "Commitments", "CommitmentOf", [NETUID, k["stranger"]["public"]], None),
    }
    return s


def events(rc):
    ty = rc.storage_entry("System", "Events").value_type
    info = {"weight": {"ref_time": 1_000_000, "proof_size": 0}, "class": "Normal", "pays_fee": "Yes"}

    def record(event):
        return [{"phase": {"ApplyExtrinsic": 0}, "event": {"System": event}, "topics": []}]

    # SubtensorModule (pallet 7) error 28 is SettingWeightsTooFast in spec 365.
    failed = {"dispatch_error": {"Module": {"index": 7, "error": "0x1c000000"}}, "dispatch_info": info}
    return {
        "success": hexs(rc.encode(ty, record({"ExtrinsicSuccess": {"dispatch_info": info}}))),
        "setting_weights_too_fast": hexs(rc.encode(ty, record({"ExtrinsicFailed": failed}))),
    }


def call(rc, pallet, function, args):
    data = rc.call_data(rc.compose_call(pallet, function, args))
    return {"hex": hexs(data), "decoded": rc.decode_call(data)}


def calls(rc, k):
    uids, values = normalize(POLICY_UIDS, POLICY_WEIGHTS)
    axon_ip = ipaddress.ip_address("192.0.2.7")
    info = {"fields": [{f"Raw{len(COMMITMENT)}": hexs(COMMITMENT.encode())}]}
    return {
        "set_weights": call(rc, "SubtensorModule", "set_weights",
                            {"netuid": NETUID, "dests": uids, "weights": values, "version_key": VERSION_KEY}),
        "serve_axon": call(rc, "SubtensorModule", "serve_axon",
                           {"netuid": NETUID, "version": 1, "ip": int(axon_ip), "port": 8093, "ip_type": axon_ip.version,
                            "protocol": 4, "placeholder1": 0, "placeholder2": 0}),
        "set_commitment": call(rc, "Commitments", "set_commitment", {"netuid": NETUID, "info": info}),
        "facts_set_weights": call(rc, "SubtensorModule", "set_weights",
                                  {"netuid": 2, "dests": [0, 1, 2], "weights": [100, 200, 65535], "version_key": 1000}),
    }


def runtime_version(rc, reg):
    ty = reg.by_path("sp_version", "RuntimeVersion")
    v = reg.default(ty)
    v.update({"spec_name": "node-subtensor", "impl_name": "node-subtensor", "authoring_version": 1,
              "spec_version": SPEC_VERSION, "impl_version": 1, "transaction_version": TRANSACTION_VERSION,
              "system_version": 1})
    return hexs(rc.encode(f"scale_info::{ty}", v))


def main():
    md = pathlib.Path(sys.argv[1]).read_bytes()
    rc = RuntimeCodec(md, spec_version=SPEC_VERSION, transaction_version=TRANSACTION_VERSION)
    reg = Registry(rc)
    k = keys()
    uids, values = normalize(POLICY_UIDS, POLICY_WEIGHTS)
    fixtures = {
        "generated_by": "scripts/make-subtensor-fixtures.sh (bittensor 11.3.0, bittensor-core 0.1.5)",
        "metadata": "host/subtensor/metadata/finney-spec365.scale",
        "netuid": NETUID, "head": HEAD, "tempo": TEMPO, "blocks_since_last_step": BLOCKS_SINCE_LAST_STEP,
        "version_key": VERSION_KEY, "rate_limit": RATE_LIMIT, "commitment": COMMITMENT,
        "keys": k, "coldkeys": [coldkey(n[0]) for n in NEURONS],
        "neurons": [{"uid": n[0], "key": n[1], "axon": None if n[2] is None else list(n[2]), "validator_permit": n[3],
                     "stake": n[4], "last_update": n[5]} for n in NEURONS],
        "normalize": {"uids": POLICY_UIDS, "weights": POLICY_WEIGHTS, "out_uids": uids, "out_values": values},
        "runtime_version": runtime_version(rc, reg),
        "nonce": hexs(rc.encode("scale_info::4", NONCE)),
        "runtime_api": {
            "get_metagraph": {"args": hexs(rc.encode("scale_info::40", NETUID)), "result": hexs(metagraph(rc, reg, k))},
            "get_neurons_lite": {"args": hexs(rc.encode("scale_info::40", NETUID)), "result": hexs(neurons_lite(rc, reg, k))},
            "slot_duration": {"args": "0x", "result": hexs(rc.encode(f"scale_info::{reg.by_path('sp_consensus_slots', 'SlotDuration')}", 12000))},
        },
        "storage": storage_items(rc, k),
        "events": events(rc),
        "calls": calls(rc, k),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixtures, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
