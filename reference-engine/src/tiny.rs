//! A deterministic generator of tiny Qwen2 models, laid out as a Hugging Face snapshot:
//! `config.json`, `model.safetensors`, a byte-level `tokenizer.json`, `tokenizer_config.json`
//! with a ChatML template, `generation_config.json`. Used by tests, and by the verification
//! work, which also needs perturbed variants of a model ([`Perturbation`]).

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use serde_json::json;

use crate::{DType, Error, Result};

/// The shape and numbers of a tiny model.
#[derive(Debug, Clone, PartialEq)]
pub struct TinySpec {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub intermediate: usize,
    /// At least 259: 256 byte tokens and three special tokens.
    pub vocab: usize,
    pub rope_theta: f64,
    pub tied: bool,
    pub dtype: DType,
    pub seed: u64,
    /// Channels of the residual stream made large (real LLMs have a few such "massive" channels):
    /// the embedding column of each is multiplied by the factor.
    pub massive_channels: Vec<(usize, f32)>,
}

impl Default for TinySpec {
    fn default() -> Self {
        Self {
            hidden: 64,
            layers: 4,
            heads: 4,
            kv_heads: 2,
            intermediate: 160,
            vocab: 320,
            rope_theta: 1e6,
            tied: false,
            dtype: DType::F32,
            seed: 1,
            massive_channels: Vec::new(),
        }
    }
}

/// A change to a model's weights that a cheating miner might serve.
#[derive(Debug, Clone, PartialEq)]
pub enum Perturbation {
    /// Every matrix quantized per output channel to `bits` (8 or 4) and back.
    Quantized { bits: u32, group: usize },
    /// Every matrix of one layer multiplied by `factor`.
    ScaleLayer { layer: usize, factor: f32 },
}

/// Special tokens, after the 256 byte tokens.
pub const ENDOFTEXT: u32 = 256;
pub const IM_START: u32 = 257;
pub const IM_END: u32 = 258;

/// The ChatML template Qwen2.5 uses, without tools.
pub const CHATML_TEMPLATE: &str = "{%- for message in messages %}{%- if loop.first and message['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/// splitmix64: the state after `k` outputs is `seed + k·γ`, which is what lets [`tensors`] start
/// a generator anywhere in the sequence.
struct Rng(u64);

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl Rng {
    /// The generator of `seed` after `outputs` outputs.
    fn at(seed: u64, outputs: u64) -> Rng {
        Rng(seed.wrapping_add(outputs.wrapping_mul(GAMMA)))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// One tensor to generate: name, shape, standard deviation, mean.
type Draw = (String, Vec<usize>, f32, f32);

/// The tensors of `spec` in the order the generator draws them (the order fixes their values).
fn draws(spec: &TinySpec) -> Vec<Draw> {
    let s = spec;
    let head_dim = s.hidden / s.heads;
    let (q_dim, kv_dim) = (s.heads * head_dim, s.kv_heads * head_dim);
    let mut out = vec![("model.embed_tokens.weight".to_string(), vec![s.vocab, s.hidden], 0.5, 0.0)];
    for i in 0..s.layers {
        let p = format!("model.layers.{i}");
        out.push((format!("{p}.input_layernorm.weight"), vec![s.hidden], 0.1, 1.0));
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![s.hidden], 0.1, 1.0));
        for (name, rows, inp, bias) in [
            ("self_attn.q_proj", q_dim, s.hidden, true),
            ("self_attn.k_proj", kv_dim, s.hidden, true),
            ("self_attn.v_proj", kv_dim, s.hidden, true),
            ("self_attn.o_proj", s.hidden, q_dim, false),
            ("mlp.gate_proj", s.intermediate, s.hidden, false),
            ("mlp.up_proj", s.intermediate, s.hidden, false),
            ("mlp.down_proj", s.hidden, s.intermediate, false),
        ] {
            let std = 1.0 / (inp as f32).sqrt();
            out.push((format!("{p}.{name}.weight"), vec![rows, inp], std, 0.0));
            if bias {
                out.push((format!("{p}.{name}.bias"), vec![rows], 0.1, 0.0));
            }
        }
    }
    out.push(("model.norm.weight".into(), vec![s.hidden], 0.1, 1.0));
    if !s.tied {
        out.push(("lm_head.weight".into(), vec![s.vocab, s.hidden], 1.0 / (s.hidden as f32).sqrt(), 0.0));
    }
    out
}

/// Values at or above which a tensor is generated (or converted) on several threads; below, the
/// threads cost more than they save.
const PARALLEL_FROM: usize = 1 << 20;

/// Calls `f(first, part)` over `out` cut into one part per thread (a single call when `out`
/// holds fewer than [`PARALLEL_FROM`] values); `out` holds `width` items per value, and `first`
/// is the index of a part's first value.
fn split_work<T: Send>(out: &mut [T], width: usize, f: &(dyn Fn(usize, &mut [T]) + Sync)) {
    let values = out.len() / width.max(1);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if values < PARALLEL_FROM || threads == 1 {
        f(0, out);
        return;
    }
    let per = values.div_ceil(threads);
    std::thread::scope(|scope| {
        for (i, part) in out.chunks_mut(per * width).enumerate() {
            scope.spawn(move || f(i * per, part));
        }
    });
}

/// The model's tensors in f32, by name. Every value is `mean + std · N(0, 1)` with the normals
/// drawn in sequence from one generator seeded with `spec.seed`; the generator is counter-based
/// (its `k`-th output depends only on the seed and `k`), so big tensors are filled in parallel
/// parts with exactly the values a sequential walk gives (a 7B shape has 7.6 billion values).
pub fn tensors(spec: &TinySpec) -> Tensors {
    let s = spec;
    let mut t = BTreeMap::new();
    // Outputs of the generator consumed so far: two per normal.
    let mut drawn: u64 = 0;
    for (name, shape, std, mean) in draws(s) {
        let n: usize = shape.iter().product();
        let mut values = vec![0.0f32; n];
        split_work(&mut values, 1, &|first, part| {
            let mut rng = Rng::at(s.seed, drawn + 2 * first as u64);
            for v in part {
                *v = mean + std * rng.normal();
            }
        });
        drawn += 2 * n as u64;
        t.insert(name, (shape, values));
    }
    if let Some((_, embed)) = t.get_mut("model.embed_tokens.weight") {
        for &(channel, factor) in &s.massive_channels {
            for row in embed.chunks_exact_mut(s.hidden) {
                if let Some(v) = row.get_mut(channel) {
                    *v *= factor;
                }
            }
        }
    }
    t
}

/// Applies `p` to the matrices of `tensors` (norms, biases and embeddings are left alone).
pub fn perturb(tensors: &mut Tensors, p: &Perturbation) {
    for (name, (shape, values)) in tensors.iter_mut() {
        let is_matrix = shape.len() == 2 && name.starts_with("model.layers.");
        match p {
            Perturbation::Quantized { bits, group } if is_matrix => {
                let levels = ((1u32 << (bits - 1)) - 1) as f32;
                let group = (*group).max(1);
                for chunk in values.chunks_mut(group.min(shape[1])) {
                    let max = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    if max > 0.0 {
                        let step = max / levels;
                        chunk.iter_mut().for_each(|v| *v = (*v / step).round() * step);
                    }
                }
            }
            Perturbation::ScaleLayer { layer, factor }
                if is_matrix && name.starts_with(&format!("model.layers.{layer}.")) =>
            {
                values.iter_mut().for_each(|v| *v *= factor);
            }
            _ => {}
        }
    }
}

fn byte_to_unicode() -> Vec<char> {
    // GPT-2's reversible byte-to-character map, which byte-level BPE vocabularies use.
    let mut printable: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    let mut map = vec!['\0'; 256];
    for (b, c) in printable.iter().zip(chars) {
        map[*b as usize] = char::from_u32(c).unwrap_or('?');
    }
    map
}

fn tokenizer_json() -> serde_json::Value {
    let map = byte_to_unicode();
    let vocab: serde_json::Map<String, serde_json::Value> =
        map.iter().enumerate().map(|(i, c)| (c.to_string(), json!(i))).collect();
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
               "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(ENDOFTEXT, "<|endoftext|>"), special(IM_START, "<|im_start|>"), special(IM_END, "<|im_end|>")],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": []}
    })
}

/// A model's tensors in f32, by name: shape and values.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads the f32 tensors of a safetensors file's bytes (a trained model committed as a fixture:
/// the same layout [`write`] gives the engine).
pub fn read_tensors(bytes: &[u8]) -> Result<Tensors> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::Invalid(format!("reading safetensors bytes: {e}")))?;
    let mut out = Tensors::new();
    for (name, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(Error::Tensor { name, reason: format!("dtype {:?}, expected F32", view.dtype()) });
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// Writes a model directory for `spec`, with `perturbation` applied to its weights.
pub fn write(dir: &Path, spec: &TinySpec, perturbation: Option<&Perturbation>) -> Result<()> {
    check_shape(spec)?;
    write_tensors(dir, spec, tensors(spec), perturbation)
}

fn check_shape(s: &TinySpec) -> Result<()> {
    if s.vocab < 259
        || !s.heads.is_multiple_of(s.kv_heads.max(1))
        || !s.hidden.is_multiple_of(s.heads)
        || !(s.hidden / s.heads).is_multiple_of(2)
    {
        return Err(Error::Invalid(format!("tiny spec {s:?} is not a valid Qwen2 shape")));
    }
    Ok(())
}

/// Writes a model directory of `spec`'s shape holding `t` (trained weights, say) instead of
/// generated ones, with `perturbation` applied; every tensor the shape needs must be there, at
/// its shape, and no other.
pub fn write_with(dir: &Path, spec: &TinySpec, t: Tensors, perturbation: Option<&Perturbation>) -> Result<()> {
    check_shape(spec)?;
    let wanted: BTreeMap<String, Vec<usize>> = draws(spec).into_iter().map(|(n, shape, ..)| (n, shape)).collect();
    let got: BTreeMap<String, Vec<usize>> = t.iter().map(|(n, (shape, _))| (n.clone(), shape.clone())).collect();
    if wanted != got {
        let differ = wanted.keys().chain(got.keys()).find(|n| wanted.get(*n) != got.get(*n)).cloned();
        let name = differ.unwrap_or_default();
        let reason = format!("shape {:?} where the spec wants {:?}", got.get(&name), wanted.get(&name));
        return Err(Error::Tensor { name, reason });
    }
    write_tensors(dir, spec, t, perturbation)
}

fn write_tensors(dir: &Path, spec: &TinySpec, mut t: Tensors, perturbation: Option<&Perturbation>) -> Result<()> {
    let s = spec;
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    if let Some(p) = perturbation {
        perturb(&mut t, p);
    }
    // Each tensor's f32 values are dropped as soon as they are converted, so writing a big model
    // holds about its f32 size in memory, not its f32 size plus the file's.
    let bytes: BTreeMap<String, (Vec<usize>, Vec<u8>)> = t
        .into_iter()
        .map(|(name, (shape, values))| {
            let size = s.dtype.size();
            let mut data = vec![0u8; values.len() * size];
            split_work(&mut data, size, &|first, part| {
                for (v, out) in values[first..].iter().zip(part.chunks_exact_mut(size)) {
                    match s.dtype {
                        DType::F32 => out.copy_from_slice(&v.to_le_bytes()),
                        DType::BF16 => out.copy_from_slice(&half::bf16::from_f32(*v).to_le_bytes()),
                        DType::F16 => out.copy_from_slice(&half::f16::from_f32(*v).to_le_bytes()),
                    }
                }
            });
            (name, (shape, data))
        })
        .collect();
    let dtype = match s.dtype {
        DType::F32 => safetensors::Dtype::F32,
        DType::BF16 => safetensors::Dtype::BF16,
        DType::F16 => safetensors::Dtype::F16,
    };
    let mut views = Vec::new();
    for (name, (shape, data)) in &bytes {
        let view = TensorView::new(dtype, shape.clone(), data).map_err(|e| Error::Invalid(e.to_string()))?;
        views.push((name.clone(), view));
    }
    let weights = dir.join("model.safetensors");
    safetensors::serialize_to_file(views, None, &weights)
        .map_err(|e| Error::Invalid(format!("writing {}: {e}", weights.display())))?;

    let dtype_name = match s.dtype {
        DType::F32 => "float32",
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
    };
    let config = json!({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
        "vocab_size": s.vocab, "hidden_size": s.hidden, "intermediate_size": s.intermediate,
        "num_hidden_layers": s.layers, "num_attention_heads": s.heads, "num_key_value_heads": s.kv_heads,
        "rms_norm_eps": 1e-6, "rope_parameters": {"rope_theta": s.rope_theta, "rope_type": "default"},
        "tie_word_embeddings": s.tied, "dtype": dtype_name, "max_position_embeddings": 4096,
        "bos_token_id": ENDOFTEXT, "eos_token_id": IM_END, "use_sliding_window": false,
    });
    let tokenizer_config = json!({
        "model_max_length": 4096, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": null,
        "chat_template": CHATML_TEMPLATE, "tokenizer_class": "Qwen2Tokenizer",
        "added_tokens_decoder": {
            ENDOFTEXT.to_string(): {"content": "<|endoftext|>", "special": true},
            IM_START.to_string(): {"content": "<|im_start|>", "special": true},
            IM_END.to_string(): {"content": "<|im_end|>", "special": true}
        }
    });
    let generation = json!({"bos_token_id": ENDOFTEXT, "eos_token_id": [IM_END, ENDOFTEXT]});
    for (name, value) in [
        ("config.json", config),
        ("tokenizer.json", tokenizer_json()),
        ("tokenizer_config.json", tokenizer_config),
        ("generation_config.json", generation),
    ] {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&value).map_err(|e| Error::Invalid(e.to_string()))?;
        std::fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_generation_gives_the_sequential_values() {
        // Big enough that the embedding and the MLP matrices are generated in parallel slices.
        let spec = TinySpec {
            hidden: 1024,
            intermediate: 1536,
            vocab: 1100,
            layers: 2,
            massive_channels: vec![(3, 10.0)],
            ..TinySpec::default()
        };
        let mut rng = Rng(spec.seed);
        let got = tensors(&spec);
        for (name, shape, std, mean) in draws(&spec) {
            let (got_shape, values) = &got[&name];
            assert_eq!(got_shape, &shape);
            for (i, v) in values.iter().enumerate() {
                let mut expect = mean + std * rng.normal();
                if name == "model.embed_tokens.weight" && i % spec.hidden == 3 {
                    expect *= 10.0;
                }
                assert_eq!(v.to_bits(), expect.to_bits(), "{name}[{i}]");
            }
        }
        assert!(draws(&spec).iter().any(|d| d.1.iter().product::<usize>() >= PARALLEL_FROM));
    }

    #[test]
    fn written_files_hold_the_generated_values() {
        let spec = TinySpec { hidden: 1024, vocab: 1100, layers: 1, ..TinySpec::default() };
        let values = tensors(&spec);
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let dir = tempfile::tempdir().expect("tempdir");
            write(dir.path(), &TinySpec { dtype, ..spec.clone() }, None).expect("writes");
            let weights = crate::Weights::open(dir.path()).expect("opens");
            // The embedding (1.1 M values) is converted in parallel parts.
            let embed = weights.get("model.embed_tokens.weight", &[1100, 1024]).expect("embed").to_f32();
            let expect = &values["model.embed_tokens.weight"].1;
            for (i, (got, want)) in embed.iter().zip(expect).enumerate() {
                let want = match dtype {
                    DType::F32 => *want,
                    DType::BF16 => half::bf16::from_f32(*want).to_f32(),
                    DType::F16 => half::f16::from_f32(*want).to_f32(),
                };
                assert_eq!(got.to_bits(), want.to_bits(), "{dtype:?} [{i}]");
            }
        }
    }

    #[test]
    fn tensors_read_back_and_write_with_gives_the_same_file() {
        let spec = TinySpec { layers: 1, ..TinySpec::default() };
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        write(&a, &spec, None).expect("writes");
        let bytes = std::fs::read(a.join("model.safetensors")).expect("reads");
        let read = read_tensors(&bytes).expect("parses");
        assert_eq!(read, tensors(&spec));
        write_with(&b, &spec, read.clone(), None).expect("writes");
        assert_eq!(std::fs::read(b.join("model.safetensors")).expect("reads"), bytes);
        let mut missing = read;
        missing.remove("lm_head.weight");
        let refused = write_with(&c, &spec, missing, None).expect_err("a tensor is missing");
        assert!(refused.to_string().contains("lm_head.weight"), "{refused}");
    }
}
