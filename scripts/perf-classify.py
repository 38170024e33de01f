#!/usr/bin/env python3
"""Where the gateway's CPU goes: classify `perf script` samples by the frames in their stack.

    perf script -i perf.data | scripts/perf-classify.py

A sample counts toward the first category (in the order below) that any frame of its stack
matches, so a sample in a signing function counts as signing whether its leaf is in the
kernel, the allocator or the curve arithmetic. Two more columns say how much of each share has
its leaf frame in the kernel, or in the allocator and memcpy. Used by `scripts/bench-gateway.sh`
with BENCH_PERF=1; the table in docs/benchmarks.md ("Where a request's CPU goes") is its output.
"""

import re
import sys

# (label, pattern over one frame's symbol); first match over the whole stack wins.
CATEGORIES = [
    ("recorder: checking the miners' evidence signatures (sr25519 verify)",
     r"check_evidence|verify_sr25519|schnorrkel::sign::.*verify|verify_batch"),
    ("recorder: ledger write (SQLite)", r"rusqlite|sqlite3|assay_ledger"),
    ("recorder: rows, content hashes", r"assay_gateway::recorder"),
    ("signing each request (Epistula: sha256 of the body, sr25519 sign)",
     r"epistula|schnorrkel::sign|assay_keys::.*sign|sr25519.*sign"),
    ("JSON: parse, validate, re-serialize with the extension", r"serde_json|serde::de|jsonschema"),
    ("metering the answer", r"assay_gateway::meter"),
    ("HTTP to the miner (reqwest/hyper client, connection pool)",
     r"reqwest|hyper_util::client|hyper::client|dispatch::Client|assay_miner_client"),
    ("HTTP from the user (hyper server, axum routing, key check)",
     r"hyper::server|dispatch::Server|axum|tower|hyper_util::server|assay_gateway::keys"),
    ("metrics", r"prometheus|assay_metrics"),
    ("tokio scheduling", r"tokio::runtime|tokio::task"),
]
ALLOCATOR = re.compile(r"mi_|mimalloc|malloc|free|memcpy|memmove|memset|realloc")


def samples(lines):
    """Yields each sample's frames as (symbol, dso), leaf first."""
    frames, in_sample = [], False
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if in_sample:
                yield frames
            frames, in_sample = [], False
        elif line[0] not in " \t":
            in_sample = True
        else:
            m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
            if m:
                frames.append((m.group(1), m.group(2)))
    if in_sample:
        yield frames


def main():
    compiled = [(label, re.compile(p)) for label, p in CATEGORIES]
    counts, kernel, alloc, total = {}, {}, {}, 0
    for frames in samples(sys.stdin):
        if not frames:
            continue
        total += 1
        label = "other"
        for name, pattern in compiled:
            if any(pattern.search(sym) for sym, _ in frames):
                label = name
                break
        counts[label] = counts.get(label, 0) + 1
        leaf_sym, leaf_dso = frames[0]
        if "kernel" in leaf_dso:
            kernel[label] = kernel.get(label, 0) + 1
        elif ALLOCATOR.search(leaf_sym):
            alloc[label] = alloc.get(label, 0) + 1
    if total == 0:
        sys.exit("no samples in the input (was perf recording the gateway?)")
    pct = lambda n: f"{100.0 * n / total:.1f} %"
    print(f"{total} samples")
    print("| cost | share of the gateway's CPU | of which kernel | of which allocator + memcpy |")
    print("| --- | --- | --- | --- |")
    order = [label for label, _ in CATEGORIES] + ["other"]
    for label in sorted(order, key=lambda l: -counts.get(l, 0)):
        if counts.get(label):
            print(f"| {label} | {pct(counts[label])} | {pct(kernel.get(label, 0))} | {pct(alloc.get(label, 0))} |")
    print(f"| **kernel (leaf in the kernel), all categories** | **{pct(sum(kernel.values()))}** | | |")
    print(f"| **allocator + memcpy (leaf), all categories** | **{pct(sum(alloc.values()))}** | | |")


if __name__ == "__main__":
    main()
