#!/usr/bin/env python3
"""Teacher-forced prefill in PyTorch transformers, bf16, on a model directory the engine's
`tiny_model` example wrote: every hidden state kept and copied to the host in f32, which is what
the engine's `time_prefill` returns (`cargo bench --bench prefill`). scripts/gpu-check.sh runs the
two one after the other on the same model.

    python3 scripts/bench-engine-gpu.py --model DIR [--device cuda] [--tokens 512,2048] [--runs 5]

Prints one line per token count, in the format of the engine's bench:
    torch prefill N tokens on DEVICE: X ms, Y tokens/s (median of R)
Exits 3 (and says so) when torch or transformers is not importable, or the device is not there:
the GPU machine has no network to install them, and the check goes on without this comparison.
"""
import argparse
import statistics
import sys
import time

SKIP = 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tokens", default="512")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    try:
        import torch
        import transformers
        from transformers import Qwen2ForCausalLM
    except ImportError as e:
        print(f"torch or transformers is not importable ({e}; the GPU machine has no network to install it)",
              file=sys.stderr)
        return SKIP
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        return SKIP

    device = torch.device(args.device)
    # transformers 5 names the argument `dtype`; 4.x before 4.56 only knew `torch_dtype`.
    try:
        model = Qwen2ForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16)
    except TypeError:
        model = Qwen2ForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16)
    model = model.to(device).eval()
    vocab = model.config.vocab_size
    label = f"{args.device} (torch {torch.__version__}, transformers {transformers.__version__}, bf16)"
    if device.type == "cuda":
        label = f"{args.device} ({torch.cuda.get_device_name(device)}; torch {torch.__version__}, " \
                f"transformers {transformers.__version__}, bf16)"

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def prefill(ids):
        out = model.model(ids, output_hidden_states=True, use_cache=False)
        # The engine hands every hidden state back on the host in f32; so does this.
        return [h.float().cpu() for h in out.hidden_states]

    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n in [int(t) for t in args.tokens.split(",")]:
            ids = torch.randint(0, vocab, (1, n), generator=generator).to(device)
            prefill(ids[:, :16])
            times = []
            for _ in range(max(args.runs, 1)):
                sync()
                start = time.perf_counter()
                prefill(ids)
                sync()
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            print(f"torch prefill {n} tokens on {label}: {median * 1e3:.1f} ms, {n / median:.1f} tokens/s "
                  f"(median of {len(times)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
