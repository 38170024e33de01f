#!/usr/bin/env python3
"""Tiny random Qwen2 models and what Hugging Face transformers computes for them.

    python3 -m venv .venv && .venv/bin/pip install torch transformers safetensors numpy
    .venv/bin/python scripts/make-engine-fixtures.py        # rewrites reference-engine/tests/fixtures

For each model (GQA ratios 1, 2 and 7; tied and untied embeddings; rope theta 1e6 and 1e4;
f32 and bf16 weights; nonzero biases and norm weights; v4- and v5-style config keys; one
sharded checkpoint) it writes the model directory as `save_pretrained` does, and
`expected.safetensors` with, for fixed token ids:
  - `hidden`: every hidden state, [layers + 1, tokens, hidden], computed in float32;
  - `logits`: [tokens, vocab], float32;
  - `tokens`: the token ids;
  - for bf16 models, `hidden_bf16`: the same pass computed in bfloat16, to state the drift of
    honest bf16 compute.
Everything is seeded: a rerun with the same library versions writes the same numbers.
"""
import json
import pathlib
import shutil

import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "reference-engine" / "tests" / "fixtures"

MODELS = [
    dict(name="gqa1-untied-f32-theta1e6", hidden=64, heads=4, kv=4, layers=3, inter=128, vocab=128,
         theta=1e6, tied=False, dtype=torch.float32, style="v5", shard=None, seed=1),
    dict(name="gqa2-tied-f32-theta1e4-v4config", hidden=64, heads=4, kv=2, layers=3, inter=128, vocab=128,
         theta=1e4, tied=True, dtype=torch.float32, style="v4", shard=None, seed=2),
    dict(name="gqa7-untied-bf16-theta1e6-sharded", hidden=112, heads=7, kv=1, layers=2, inter=160, vocab=128,
         theta=1e6, tied=False, dtype=torch.bfloat16, style="v5", shard="150KB", seed=3),
]
TOKENS = 24


def randomize(model, seed):
    """Weights large enough that every layer matters: matrices ~ N(0, 1/fan_in), embeddings
    ~ N(0, 0.5), norm weights ~ 1 + N(0, 0.1), biases ~ N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for m in MODELS:
        directory = OUT / m["name"]
        shutil.rmtree(directory, ignore_errors=True)
        config = Qwen2Config(
            vocab_size=m["vocab"], hidden_size=m["hidden"], intermediate_size=m["inter"],
            num_hidden_layers=m["layers"], num_attention_heads=m["heads"], num_key_value_heads=m["kv"],
            rms_norm_eps=1e-6, rope_theta=m["theta"], tie_word_embeddings=m["tied"],
            max_position_embeddings=512, use_sliding_window=False,
        )
        torch.manual_seed(m["seed"])
        model = Qwen2ForCausalLM(config).eval()
        randomize(model, m["seed"])
        model = model.to(m["dtype"])
        kwargs = {"max_shard_size": m["shard"]} if m["shard"] else {}
        model.save_pretrained(directory, safe_serialization=True, **kwargs)
        for extra in ("generation_config.json",):
            (directory / extra).unlink(missing_ok=True)

        cfg_path = directory / "config.json"
        cfg = json.loads(cfg_path.read_text())
        if m["style"] == "v4":
            theta = (cfg.pop("rope_parameters", None) or {}).get("rope_theta", m["theta"])
            cfg["rope_theta"] = theta
            if "dtype" in cfg:
                cfg["torch_dtype"] = cfg.pop("dtype")
        cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

        g = torch.Generator().manual_seed(100 + m["seed"])
        tokens = torch.randint(0, m["vocab"], (1, TOKENS), generator=g)
        expected = {"tokens": tokens[0].to(torch.int32)}
        # What transformers computes for the checkpoint as a user loads it (from_pretrained keeps
        # RoPE's inv_freq in f32 whatever the dtype; casting a built model would round it).
        with torch.no_grad():
            f32 = Qwen2ForCausalLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager").eval()
            out = f32(tokens, output_hidden_states=True)
            expected["hidden"] = torch.stack([h[0] for h in out.hidden_states]).contiguous()
            expected["logits"] = out.logits[0].float().contiguous()
            if m["dtype"] == torch.bfloat16:
                b16 = Qwen2ForCausalLM.from_pretrained(directory, dtype=torch.bfloat16, attn_implementation="eager").eval()
                out = b16(tokens, output_hidden_states=True)
                expected["hidden_bf16"] = torch.stack([h[0].float() for h in out.hidden_states]).contiguous()
        save_file(expected, directory / "expected.safetensors")
        size = sum(f.stat().st_size for f in directory.iterdir())
        print(f"{m['name']}: {size} bytes, hidden {tuple(expected['hidden'].shape)}")


if __name__ == "__main__":
    main()
