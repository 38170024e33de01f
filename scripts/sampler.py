#!/usr/bin/env python3
"""The assay sampler in plain Python 3 (stdlib only): the reference for Python miners.

Implements docs/sampling.md exactly as host/sampler (Rust) does; both pass
docs/sampling-vectors.json. Owns nothing else: no model, no HTTP.

    python3 scripts/sampler.py --check docs/sampling-vectors.json   # prints "N/N vectors pass"

As a library:

    from sampler import sample
    token = sample(logits, temperature=0.7, top_k=0, top_p=0.9, seed=42, position=0)

Every step is f64 (Python's float) on f32 logits; sums are added left to right in a loop
(Python 3.12's sum() of floats is compensated, and would round differently).
"""

import json
import math
import struct
import sys

MIN_TEMPERATURE = 1e-5  # below it (0 included) the sampler is greedy, as in vLLM

MASK32 = 0xFFFFFFFF
M0, M1 = 0xD2511F53, 0xCD9E8D57  # Philox-4x32 multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments


def philox4x32_10(counter, key):
    """Philox-4x32-10 (Random123): four u32 counter words, two u32 key words -> four u32."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for rnd in range(10):
        if rnd > 0:
            k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK32, p1 & MASK32, ((p0 >> 32) ^ c3 ^ k1) & MASK32, p0 & MASK32
    return [c0, c1, c2, c3]


def uniform(seed, position, token):
    """The token's uniform in (0, 1): word token % 4 of Philox at counter
    (token // 4, position low, position high, 0) and key (seed low, seed high), as (x + 0.5) / 2^32."""
    counter = [token >> 2, position & MASK32, (position >> 32) & MASK32, 0]
    key = [seed & MASK32, (seed >> 32) & MASK32]
    bits = philox4x32_10(counter, key)[token & 3]
    return (bits + 0.5) / 4294967296.0


def to_f32(x):
    """Round a Python float to the nearest f32 value (logits are f32)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def check_params(logits, temperature, top_p):
    if not logits:
        raise ValueError("no logits to sample from")
    if not math.isfinite(temperature) or temperature < 0.0:
        raise ValueError(f"temperature {temperature} is not a finite number >= 0")
    if not (0.0 < top_p <= 1.0):
        raise ValueError(f"top_p {top_p} is outside (0, 1]")
    for token, logit in enumerate(logits):
        if not math.isfinite(logit):
            raise ValueError(f"logit of token {token} is not finite")


def kept_tokens(z, top_k, top_p):
    """Top-k, then top-p: the surviving ids by z descending (ties: lower id).

    Top-p's normalizer is added in id order over top-k's survivors; its running sum in the
    survivors' z-descending order (docs/sampling.md, step 5). A plain sort is fine here: only
    the order of the additions is specified, not how the order is found."""
    order = sorted(range(len(z)), key=lambda i: (-z[i], i))
    if 0 < top_k < len(order):
        order = order[:top_k]
    if top_p >= 1.0:
        return order
    top = max(z[i] for i in order)
    total = 0.0
    for i in sorted(order):  # id order
        total += math.exp(z[i] - top)
    cumulative = 0.0
    for n, i in enumerate(order):  # z descending, ties to the lower id
        cumulative += math.exp(z[i] - top) / total
        if cumulative >= top_p:
            return order[: n + 1]
    return order


def sample(logits, temperature, top_k, top_p, seed, position):
    """The token the specification emits; logits is a list of numbers (rounded to f32 here)."""
    logits = [to_f32(float(x)) for x in logits]
    check_params(logits, temperature, top_p)
    if temperature < MIN_TEMPERATURE:
        best = 0
        for token, logit in enumerate(logits):
            if logit > logits[best]:
                best = token
        return best
    z = [logit / temperature for logit in logits]
    winner, winner_key = None, -math.inf
    for token in kept_tokens(z, top_k, top_p):
        key = z[token] - math.log(-math.log(uniform(seed, position, token)))
        if key > winner_key or (key == winner_key and token < winner):
            winner, winner_key = token, key
    return winner


def check(path):
    with open(path) as f:
        vectors = json.load(f)["vectors"]
    failed = 0
    for v in vectors:
        got = sample(v["logits"], v["temperature"], v["top_k"], v["top_p"], v["seed"], v["position"])
        if got != v["token"]:
            failed += 1
            print(f"FAIL {v['name']!r}: got token {got}, expected {v['token']}")
    print(f"{len(vectors) - failed}/{len(vectors)} vectors pass")
    return failed == 0


def self_test():
    """Random123's known answers for Philox-4x32-10."""
    cases = [
        ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ([MASK32] * 4, [MASK32] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
         [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    ]
    return all(philox4x32_10(c, k) == out for c, k, out in cases)


def main(argv):
    if len(argv) != 3 or argv[1] != "--check":
        print(__doc__.strip().splitlines()[0])
        print("usage: sampler.py --check docs/sampling-vectors.json")
        return 2
    if not self_test():
        print("philox4x32_10 fails Random123's known answers")
        return 1
    return 0 if check(argv[2]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
