#!/usr/bin/env python3
"""Trains the detection experiment's tiny Qwen2s on real text (issue #13, item 3).

A random tiny model has nearly flat next-token distributions; these are trained for a few
minutes on the CPU as byte-level language models on the licences of /usr/share/common-licenses
(their concatenation pinned by sha256), each licence paragraph framed as an assistant's answer
to the previous one in the ChatML template the engine renders, so the model sees the chat
framing the experiment's prompts use. A loss penalty keeps a few residual channels 17-67x
larger than the rest (the "massive activations" real Qwen2 models have), so per-layer errors
behave as on a real model.

Writes, into OUT: `reference.safetensors` (the honest model), `other.safetensors` (seed 2: the
"another model" attack), `smaller.safetensors` (2 layers, hidden 32: the cheap generator), and
`reference.logits.json` (the reference's logits at a few positions of a fixed chat, which the
engine must reproduce). The shapes are the engine's `TinySpec` defaults (host/lab/src/trained.rs
writes the config and tokenizer beside the weights). Run through scripts/train-tiny-qwen2.sh,
which pins the packages and makes XLA single-threaded, so two runs write the same bytes.
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import time

# Deterministic CPU execution: one thread, no device other than the host. Set before jax loads.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

LICENCES = "/usr/share/common-licenses"
# The regular files of LICENCES (not the symlinks), in name order, concatenated: Debian 12's
# base-files. Another text would train other weights, so it is refused.
CORPUS_SHA256 = "e702fc128a22ec5f42b88d701ba068de1515b336f5af4e0d6e144a3795587db2"

ENDOFTEXT, IM_START, IM_END = 256, 257, 258
SYSTEMS = [
    "You are a helpful assistant.",
    "You are a careful assistant. Think before answering.",
    "You are a terse expert. Answer briefly.",
]

# name: (layers, hidden, intermediate, seed); heads 4, kv heads 2, vocabulary 320 for all.
MODELS = {
    "reference": (4, 64, 160, 1),
    "other": (4, 64, 160, 2),
    "smaller": (2, 32, 80, 7),
}
HEADS, KV_HEADS, VOCAB, THETA, EPS = 4, 2, 320, 1e6, 1e-6
# Residual channels kept massive, and how many times the other channels' mean magnitude each
# should be (the random experiment model's embedding factors).
MASSIVE = [(5, 40.0), (23, 25.0), (51, 60.0)]
MASSIVE_WEIGHT = 1.0

SEQ, BATCH, PEAK_LR, WARMUP = 128, 32, 3e-3, 100


def corpus():
    names = sorted(n for n in os.listdir(LICENCES) if not os.path.islink(os.path.join(LICENCES, n)))
    data = b"".join(open(os.path.join(LICENCES, n), "rb").read() for n in names)
    digest = hashlib.sha256(data).hexdigest()
    if digest != CORPUS_SHA256:
        sys.exit(
            f"train-tiny-qwen2: {LICENCES} concatenates to sha256 {digest}, not {CORPUS_SHA256} "
            "(Debian 12's base-files); the committed models were trained on that text only"
        )
    return data


def chat(system, user, assistant):
    """Token ids of one conversation, as the engine's CHATML_TEMPLATE renders it."""
    ids = []
    for role, text in (("system", system), ("user", user), ("assistant", assistant)):
        ids += [IM_START, *f"{role}\n".encode(), *text, IM_END, *b"\n"]
    return ids


def token_stream(data):
    """Every paragraph as the answer to the one before it; the last 5 % held out."""
    paragraphs = [b" ".join(p.split()) for p in data.split(b"\n\n")]
    paragraphs = [p for p in paragraphs if p]
    convs = [
        chat(SYSTEMS[i % len(SYSTEMS)].encode(), paragraphs[i][:160], paragraphs[i + 1][:400])
        for i in range(len(paragraphs) - 1)
    ]
    cut = len(convs) * 95 // 100
    flat = lambda cs: np.array([t for c in cs for t in c], dtype=np.int32)  # noqa: E731
    return flat(convs[:cut]), flat(convs[cut:])


def init(layers, hidden, inter, seed):
    rng = np.random.Generator(np.random.PCG64(seed))
    hd = hidden // HEADS
    q_dim, kv_dim = HEADS * hd, KV_HEADS * hd
    normal = lambda shape, std: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    embed = normal((VOCAB, hidden), 0.5)
    for channel, factor in MASSIVE:
        if channel < hidden:
            embed[:, channel] *= factor
    p = {"model.embed_tokens.weight": embed}
    for i in range(layers):
        pre = f"model.layers.{i}"
        p[f"{pre}.input_layernorm.weight"] = np.ones(hidden, np.float32)
        p[f"{pre}.post_attention_layernorm.weight"] = np.ones(hidden, np.float32)
        for name, rows, inp, bias in [
            ("self_attn.q_proj", q_dim, hidden, True),
            ("self_attn.k_proj", kv_dim, hidden, True),
            ("self_attn.v_proj", kv_dim, hidden, True),
            ("self_attn.o_proj", hidden, q_dim, False),
            ("mlp.gate_proj", inter, hidden, False),
            ("mlp.up_proj", inter, hidden, False),
            ("mlp.down_proj", hidden, inter, False),
        ]:
            p[f"{pre}.{name}.weight"] = normal((rows, inp), inp**-0.5)
            if bias:
                p[f"{pre}.{name}.bias"] = np.zeros(rows, np.float32)
    p["model.norm.weight"] = np.ones(hidden, np.float32)
    p["lm_head.weight"] = normal((VOCAB, hidden), hidden**-0.5)
    return {k: jnp.asarray(v) for k, v in p.items()}


def rms_norm(x, w):
    return w * (x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + EPS))


def rope(x, inv_freq):
    """Rotate-half RoPE on [batch, seq, heads, head_dim], angles in f32 as the engine computes."""
    half = x.shape[-1] // 2
    angles = jnp.arange(x.shape[1], dtype=jnp.float32)[:, None] * inv_freq[None, :]
    cos, sin = jnp.cos(angles)[None, :, None, :], jnp.sin(angles)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def forward(p, tokens, layers):
    """Logits [batch, seq, vocab] and the residual stream after each layer."""
    x = p["model.embed_tokens.weight"][tokens]
    b, t, hidden = x.shape
    hd = hidden // HEADS
    inv_freq = jnp.asarray(
        [np.float32(THETA) ** (np.float32(2 * i) / np.float32(hd)) for i in range(hd // 2)], jnp.float32
    )
    inv_freq = 1.0 / inv_freq
    mask = jnp.tril(jnp.ones((t, t), bool))
    lin = lambda name, v: v @ p[f"{name}.weight"].T + (p[f"{name}.bias"] if f"{name}.bias" in p else 0.0)  # noqa: E731
    residuals = []
    for i in range(layers):
        pre = f"model.layers.{i}"
        n = rms_norm(x, p[f"{pre}.input_layernorm.weight"])
        q = rope(lin(f"{pre}.self_attn.q_proj", n).reshape(b, t, HEADS, hd), inv_freq)
        k = rope(lin(f"{pre}.self_attn.k_proj", n).reshape(b, t, KV_HEADS, hd), inv_freq)
        v = lin(f"{pre}.self_attn.v_proj", n).reshape(b, t, KV_HEADS, hd)
        k, v = jnp.repeat(k, HEADS // KV_HEADS, axis=2), jnp.repeat(v, HEADS // KV_HEADS, axis=2)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * np.float32(hd**-0.5)
        scores = jnp.where(mask[None, None], scores, -1e30)
        attn = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v).reshape(b, t, hidden)
        x = x + lin(f"{pre}.self_attn.o_proj", attn)
        n = rms_norm(x, p[f"{pre}.post_attention_layernorm.weight"])
        gate = lin(f"{pre}.mlp.gate_proj", n)
        x = x + lin(f"{pre}.mlp.down_proj", jax.nn.silu(gate) * lin(f"{pre}.mlp.up_proj", n))
        residuals.append(x)
    return lin("lm_head", rms_norm(x, p["model.norm.weight"])), residuals


def massive_ratios(residual, hidden):
    """Per massive channel: its mean magnitude over the other channels' mean magnitude."""
    magnitude = jnp.mean(jnp.abs(residual), axis=(0, 1))
    channels = [c for c, _ in MASSIVE if c < hidden]
    others = np.ones(hidden, np.float32)
    others[channels] = 0.0
    rest = jnp.sum(magnitude * others) / others.sum()
    return magnitude[np.asarray(channels)] / rest


def loss_fn(p, batch, layers, hidden):
    logits, residuals = forward(p, batch[:, :-1], layers)
    logp = jax.nn.log_softmax(logits, axis=-1)
    ce = -jnp.mean(jnp.take_along_axis(logp, batch[:, 1:, None], axis=-1))
    targets = jnp.log(jnp.asarray([f for c, f in MASSIVE if c < hidden]))
    penalty = sum(jnp.mean((jnp.log(massive_ratios(r, hidden)) - targets) ** 2) for r in residuals) / layers
    return ce + MASSIVE_WEIGHT * penalty, ce


def train(name, stream, held_out, steps):
    layers, hidden, inter, seed = MODELS[name]
    p = init(layers, hidden, inter, seed)
    m = {k: jnp.zeros_like(v) for k, v in p.items()}
    s = {k: jnp.zeros_like(v) for k, v in p.items()}
    grad = jax.value_and_grad(lambda p, b: loss_fn(p, b, layers, hidden), has_aux=True)

    @jax.jit
    def step(p, m, s, batch, lr, t):
        (_, ce), g = grad(p, batch)
        norm = jnp.sqrt(sum(jnp.sum(v * v) for v in g.values()))
        clip = jnp.minimum(1.0, 1.0 / (norm + 1e-6))
        m = {k: 0.9 * m[k] + 0.1 * g[k] * clip for k in p}
        s = {k: 0.999 * s[k] + 0.001 * (g[k] * clip) ** 2 for k in p}
        p = {k: p[k] - lr * (m[k] / (1 - 0.9**t)) / (jnp.sqrt(s[k] / (1 - 0.999**t)) + 1e-8) for k in p}
        return p, m, s, ce

    rng = np.random.Generator(np.random.PCG64(1000 + seed))
    started = time.time()
    for t in range(1, steps + 1):
        starts = rng.integers(0, len(stream) - SEQ - 1, BATCH)
        batch = jnp.asarray(np.stack([stream[i : i + SEQ + 1] for i in starts]))
        warm = min(1.0, t / WARMUP)
        lr = PEAK_LR * warm * (0.1 + 0.45 * (1 + np.cos(np.pi * t / steps)))
        p, m, s, ce = step(p, m, s, batch, np.float32(lr), np.float32(t))
        if t % 200 == 0 or t == steps:
            print(f"{name}: step {t}/{steps}, train loss {float(ce):.3f} nats/byte, {time.time() - started:.0f} s")
    evaluate(name, p, held_out, layers, hidden)
    return p


def evaluate(name, p, held_out, layers, hidden):
    """Held-out loss and the massive channels' ratios, printed for docs/verification.md."""
    n = (len(held_out) - 1) // SEQ
    batch = jnp.asarray(np.stack([held_out[i * SEQ : i * SEQ + SEQ + 1] for i in range(n)]))
    _, ce = loss_fn(p, batch, layers, hidden)
    _, residuals = forward(p, batch[:, :-1], layers)
    ratios = [[round(float(r), 1) for r in massive_ratios(res, hidden)] for res in residuals]
    print(f"{name}: held-out loss {float(ce):.3f} nats/byte; massive channels' ratio after each layer {ratios}")


def write_safetensors(path, params):
    """The safetensors layout the engine maps: a u64 header length, a JSON header, f32 data."""
    header, chunks, offset = {}, [], 0
    for name in sorted(params):
        data = np.asarray(params[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(params[name].shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


# The chat whose logits the engine must reproduce (host/lab/src/trained.rs reads them back).
CHECK_CHAT = chat(SYSTEMS[1].encode(), b"explain the licence", b"This License applies to any program")


def write_expected_logits(path, p):
    layers = MODELS["reference"][0]
    logits, _ = forward(p, jnp.asarray([CHECK_CHAT], jnp.int32), layers)
    positions = list(range(0, len(CHECK_CHAT), 8)) + [len(CHECK_CHAT) - 1]
    rows = [[float(format(float(v), ".9g")) for v in np.asarray(logits[0, i])] for i in positions]
    with open(path, "w") as f:
        json.dump({"tokens": CHECK_CHAT, "positions": positions, "logits": rows}, f, separators=(",", ":"))
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--models", default="reference,other,smaller")
    args = parser.parse_args()
    stream, held_out = token_stream(corpus())
    print(f"corpus: {len(stream)} training tokens, {len(held_out)} held out; jax {jax.__version__}")
    os.makedirs(args.out, exist_ok=True)
    for name in args.models.split(","):
        p = train(name, stream, held_out, args.steps)
        write_safetensors(os.path.join(args.out, f"{name}.safetensors"), p)
        if name == "reference":
            write_expected_logits(os.path.join(args.out, "reference.logits.json"), p)


if __name__ == "__main__":
    main()
