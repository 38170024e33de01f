//! Qwen2 on the CPU, f32 compute, as transformers' `modeling_qwen2.py` computes it.
//!
//! Per layer: `h = x + o_proj(attn(rms_norm(x)))`, `x = h + down(silu(gate(n)) * up(n))` with
//! `n = rms_norm(h)`; q/k/v have biases, the rest do not; RoPE rotate-half; grouped-query
//! attention. Hidden states are numbered as transformers numbers them: 0 the embeddings, `i` the
//! residual stream after layer `i`, `L` the final-normed output.

use crate::cpu;
use crate::weights::{Tensor, Weights};
use crate::{Config, Error, Result};

/// Query rows per block of the causal attention: the score buffer is this many rows by the
/// sequence length, not the sequence length squared (256 MB at 8k tokens).
const ATTENTION_BLOCK: usize = 128;

/// A weight matrix, converted once at load to f32 and stored transposed (`[inp, out]`), the
/// layout in which matrixmultiply packs it with contiguous copies (measured: packing the stored
/// `[out, inp]` layout through strides took a fifth of a prefill).
struct Linear {
    transposed: Vec<f32>,
    bias: Option<Vec<f32>>,
    out: usize,
    inp: usize,
}

impl Linear {
    fn load(w: &Weights, prefix: &str, out: usize, inp: usize, bias: bool) -> Result<Self> {
        let weight = w.get(&format!("{prefix}.weight"), &[out, inp])?;
        let bias = if bias { Some(w.get(&format!("{prefix}.bias"), &[out])?.to_f32()) } else { None };
        Ok(Self::from_tensor(weight, out, inp, bias))
    }

    fn from_tensor(weight: &Tensor, out: usize, inp: usize, bias: Option<Vec<f32>>) -> Self {
        let mut transposed = vec![0.0f32; out * inp];
        let mut row = vec![0.0f32; inp];
        for o in 0..out {
            weight.convert_range(o * inp..(o + 1) * inp, &mut row);
            for (k, v) in row.iter().enumerate() {
                transposed[k * out + o] = *v;
            }
        }
        Self { transposed, bias, out, inp }
    }

    /// `y[rows, out] = x[rows, inp] · wᵀ + b`.
    fn forward(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        cpu::linear(x, rows, &self.transposed, self.out, self.inp, self.bias.as_deref(), y);
    }
}

struct Layer {
    input_norm: Vec<f32>,
    post_norm: Vec<f32>,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Keys (after RoPE) and values of every position seen so far, per layer: `[len, kv_heads × head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.keys.iter().chain(&self.values).map(|v| v.len() * 4).sum()
    }
}

pub struct Model {
    config: Config,
    embed: Tensor,
    lm_head: Linear,
    norm: Vec<f32>,
    layers: Vec<Layer>,
    inv_freq: Vec<f32>,
    /// Round every activation to bf16 (accumulating in f32, as bf16 GPU kernels do): how an
    /// honest miner on other hardware differs from the f32 reference. Off for the reference.
    bf16_activations: bool,
}

/// Rounds to the nearest bf16 (ties to even), in place, when `on`.
fn round_bf16(on: bool, values: &mut [f32]) {
    if on {
        for v in values {
            *v = half::bf16::from_f32(*v).to_f32();
        }
    }
}

impl Model {
    pub fn load(config: &Config, w: &Weights) -> Result<Self> {
        let c = config;
        let (h, q_dim, kv_dim) = (c.hidden_size, c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
        let embed = w.get("model.embed_tokens.weight", &[c.vocab_size, h])?.clone();
        let lm_head = if c.tie_word_embeddings {
            Linear::from_tensor(&embed, c.vocab_size, h, None)
        } else if w.contains("lm_head.weight") {
            Linear::from_tensor(w.get("lm_head.weight", &[c.vocab_size, h])?, c.vocab_size, h, None)
        } else {
            return Err(Error::Tensor {
                name: "lm_head.weight".into(),
                reason: "missing, and tie_word_embeddings is false".into(),
            });
        };
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("model.layers.{i}");
            layers.push(Layer {
                input_norm: w.get(&format!("{p}.input_layernorm.weight"), &[h])?.to_f32(),
                post_norm: w.get(&format!("{p}.post_attention_layernorm.weight"), &[h])?.to_f32(),
                q: Linear::load(w, &format!("{p}.self_attn.q_proj"), q_dim, h, true)?,
                k: Linear::load(w, &format!("{p}.self_attn.k_proj"), kv_dim, h, true)?,
                v: Linear::load(w, &format!("{p}.self_attn.v_proj"), kv_dim, h, true)?,
                o: Linear::load(w, &format!("{p}.self_attn.o_proj"), h, q_dim, false)?,
                gate: Linear::load(w, &format!("{p}.mlp.gate_proj"), c.intermediate_size, h, false)?,
                up: Linear::load(w, &format!("{p}.mlp.up_proj"), c.intermediate_size, h, false)?,
                down: Linear::load(w, &format!("{p}.mlp.down_proj"), h, c.intermediate_size, false)?,
            });
        }
        Ok(Self {
            config: c.clone(),
            norm: w.get("model.norm.weight", &[h])?.to_f32(),
            inv_freq: cpu::inv_freq(c.rope_theta, c.head_dim),
            embed,
            lm_head,
            layers,
            bf16_activations: false,
        })
    }

    /// Rounds every activation to bf16 from now on (an honest miner's precision noise, for
    /// calibration and the detection experiment); the reference keeps f32.
    pub fn set_bf16_activations(&mut self, on: bool) {
        self.bf16_activations = on;
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            keys: vec![Vec::new(); self.config.num_layers],
            values: vec![Vec::new(); self.config.num_layers],
            len: 0,
        }
    }

    /// Runs `tokens` (appended after what `cache` holds) through the model.
    /// `on_hidden(index, states)` receives hidden state `index` (0..=L) for these tokens as
    /// `[tokens, hidden]`; the return value holds the logits of the rows in `logit_rows`
    /// (indices into `tokens`).
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        on_hidden: &mut dyn FnMut(usize, &[f32]),
        logit_rows: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        let c = &self.config;
        let (n, h, hd) = (tokens.len(), c.hidden_size, c.head_dim);
        for (i, &t) in tokens.iter().enumerate() {
            if t as usize >= c.vocab_size {
                return Err(Error::TokenOutOfRange { id: t, position: cache.len + i, vocab: c.vocab_size });
            }
        }
        if let Some(&r) = logit_rows.iter().find(|&&r| r >= n) {
            return Err(Error::PositionOutOfRange { position: r, len: n });
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let (q_dim, kv_dim) = (c.num_heads * hd, c.num_kv_heads * hd);
        let group = c.num_heads / c.num_kv_heads;
        let start = cache.len;
        let total = start + n;
        let scale = (hd as f64).powf(-0.5) as f32;

        let mut x = vec![0.0f32; n * h];
        for (row, &t) in x.chunks_exact_mut(h).zip(tokens) {
            let t = t as usize;
            self.embed.convert_range(t * h..(t + 1) * h, row);
        }
        let r = self.bf16_activations;
        round_bf16(r, &mut x);
        on_hidden(0, &x);

        let mut normed = vec![0.0f32; n * h];
        let mut q = vec![0.0f32; n * q_dim];
        let mut k = vec![0.0f32; n * kv_dim];
        let mut v = vec![0.0f32; n * kv_dim];
        let mut attn = vec![0.0f32; n * q_dim];
        let mut scores = vec![0.0f32; ATTENTION_BLOCK.min(n) * total];
        let mut proj = vec![0.0f32; n * h];
        let mut gate = vec![0.0f32; n * c.intermediate_size];
        let mut up = vec![0.0f32; n * c.intermediate_size];

        for (li, layer) in self.layers.iter().enumerate() {
            cpu::rms_norm(&x, &layer.input_norm, c.rms_norm_eps, &mut normed);
            round_bf16(r, &mut normed);
            layer.q.forward(&normed, n, &mut q);
            layer.k.forward(&normed, n, &mut k);
            layer.v.forward(&normed, n, &mut v);
            cpu::rope(&mut q, c.num_heads, hd, start, &self.inv_freq);
            cpu::rope(&mut k, c.num_kv_heads, hd, start, &self.inv_freq);
            round_bf16(r, &mut q);
            round_bf16(r, &mut k);
            round_bf16(r, &mut v);
            let keys = &mut cache.keys[li];
            let values = &mut cache.values[li];
            keys.extend_from_slice(&k);
            values.extend_from_slice(&v);

            // Causal attention in blocks of query rows, each against only the keys it can see,
            // so the masked half of the score matrix is never computed.
            for head in 0..c.num_heads {
                let kv_head = head / group;
                for block in (0..n).step_by(ATTENTION_BLOCK) {
                    let rows = ATTENTION_BLOCK.min(n - block);
                    let seen = start + block + rows; // keys visible to the block's last row
                    // scores[rows, seen] = q_h · K_hᵀ
                    cpu::gemm(
                        (rows, hd, seen),
                        &q[block * q_dim + head * hd..],
                        (q_dim, 1),
                        &keys[kv_head * hd..],
                        (1, kv_dim),
                        0.0,
                        &mut scores,
                        (seen, 1),
                    );
                    for (r, row) in scores[..rows * seen].chunks_exact_mut(seen).enumerate() {
                        let visible = start + block + r + 1;
                        for s in &mut row[..visible] {
                            *s *= scale;
                        }
                        cpu::softmax(&mut row[..visible]);
                        row[visible..].fill(0.0);
                    }
                    // attn_h[rows, hd] = P · V_h
                    cpu::gemm(
                        (rows, seen, hd),
                        &scores,
                        (seen, 1),
                        &values[kv_head * hd..],
                        (kv_dim, 1),
                        0.0,
                        &mut attn[block * q_dim + head * hd..],
                        (q_dim, 1),
                    );
                }
            }
            round_bf16(r, &mut attn);
            layer.o.forward(&attn, n, &mut proj);
            round_bf16(r, &mut proj);
            cpu::add_in_place(&mut x, &proj);
            round_bf16(r, &mut x);

            cpu::rms_norm(&x, &layer.post_norm, c.rms_norm_eps, &mut normed);
            round_bf16(r, &mut normed);
            layer.gate.forward(&normed, n, &mut gate);
            layer.up.forward(&normed, n, &mut up);
            round_bf16(r, &mut gate);
            round_bf16(r, &mut up);
            cpu::silu_mul(&mut gate, &up);
            round_bf16(r, &mut gate);
            layer.down.forward(&gate, n, &mut proj);
            round_bf16(r, &mut proj);
            cpu::add_in_place(&mut x, &proj);
            round_bf16(r, &mut x);
            if li + 1 < self.layers.len() {
                on_hidden(li + 1, &x);
            }
        }
        cache.len = total;

        cpu::rms_norm(&x, &self.norm, c.rms_norm_eps, &mut normed);
        round_bf16(r, &mut normed);
        on_hidden(c.num_layers, &normed);

        let mut logits = Vec::with_capacity(logit_rows.len());
        if !logit_rows.is_empty() {
            let rows: Vec<f32> = logit_rows.iter().flat_map(|&r| normed[r * h..(r + 1) * h].iter().copied()).collect();
            let mut out = vec![0.0f32; logit_rows.len() * c.vocab_size];
            self.lm_head.forward(&rows, logit_rows.len(), &mut out);
            logits.extend(out.chunks_exact(c.vocab_size).map(<[f32]>::to_vec));
        }
        Ok(logits)
    }
}
