#!/usr/bin/env python3
"""CPU prefill, the reference engine against PyTorch transformers, on the same random Qwen2
(hidden 1024, 8 layers, intermediate 2816, 16 heads, 2 KV heads, f32), the same 512 tokens'
length, the same thread count, in one run. Both keep the hidden states of every layer.

    .venv/bin/python scripts/bench-engine-cpu.py [--threads 1] [--tokens 512] [--runs 3]
"""
import argparse
import pathlib
import re
import statistics
import subprocess
import time
import os

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    model_dir = ROOT / "target" / "bench-model-1024x8"
    config = Qwen2Config(vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                         num_attention_heads=16, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
                         tie_word_embeddings=False, max_position_embeddings=4096)
    if not (model_dir / "model.safetensors").exists():
        torch.manual_seed(0)
        Qwen2ForCausalLM(config).save_pretrained(model_dir, safe_serialization=True)

    torch.set_num_threads(args.threads)
    model = Qwen2ForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = torch.randint(0, config.vocab_size, (1, args.tokens), generator=torch.Generator().manual_seed(1))
    times = []
    with torch.no_grad():
        model.model(ids[:, :16], output_hidden_states=True)
        for _ in range(args.runs):
            start = time.perf_counter()
            model.model(ids, output_hidden_states=True)
            times.append(time.perf_counter() - start)
    torch_tps = args.tokens / statistics.median(times)
    print(f"torch {torch.__version__} f32, {args.threads} thread(s): {statistics.median(times) * 1e3:.1f} ms, {torch_tps:.1f} tokens/s")

    env = dict(os.environ, ASSAY_BENCH_MODEL=str(model_dir), ASSAY_BENCH_TOKENS=str(args.tokens),
               ASSAY_BENCH_RUNS=str(args.runs))
    out = subprocess.run(["cargo", "bench", "-q", "-p", "assay-reference-engine", "--bench", "prefill"],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    print(out.strip() + f" (single-threaded)")
    ours = float(re.search(r"([0-9.]+) tokens/s", out).group(1))
    print(f"ratio assay / torch: {ours / torch_tps:.2f}x (target at least 1.0x)")


if __name__ == "__main__":
    main()
