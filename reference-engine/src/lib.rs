//! The reference engine: Qwen2 / Qwen2.5 as Hugging Face transformers computes it.
//!
//! Owns: loading a model directory laid out as a Hugging Face snapshot (config, safetensors,
//! tokenizer), the forward pass with hidden states at any (layer, position) and logits,
//! incremental decoding with a KV cache, sampling, and the tiny-model generator for tests.
//! Must not touch: HTTP, policies, the ledger or the chain. It computes; callers judge.

mod chat;
mod config;
mod cpu;
pub mod cuda;
mod error;
mod model;
pub mod sampling;
pub mod tiny;
mod weights;

use std::path::Path;

pub use chat::ChatTokenizer;
pub use config::Config;
pub use cpu::log_softmax;
pub use error::{Error, Result};
pub use model::{KvCache, Model};
pub use sampling::{FinishReason, Generation, SamplingParams};
pub use weights::{DType, Tensor, Weights};

/// The `k` most likely tokens under `logits`, with their log-probs, most likely first (ties by id).
pub fn top_logprobs(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let logprobs = log_softmax(logits);
    let mut order: Vec<usize> = (0..logprobs.len()).collect();
    order.sort_by(|&a, &b| logprobs[b].total_cmp(&logprobs[a]).then(a.cmp(&b)));
    order.into_iter().take(k).map(|i| (i as u32, logprobs[i])).collect()
}

/// How the reference model rates one token that followed a prefix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    /// 0 when the token is the reference's most likely one.
    pub rank: u32,
    pub logprob: f32,
    /// Log-prob of the reference's most likely token at this position.
    pub top_logprob: f32,
}

impl TokenScore {
    /// How `logits` (one position's) rate `token`; a token past the vocabulary gets log-prob -inf.
    pub fn of(logits: &[f32], token: u32) -> TokenScore {
        let logprobs = log_softmax(logits);
        let own = logprobs.get(token as usize).copied().unwrap_or(f32::NEG_INFINITY);
        let rank = logprobs.iter().filter(|&&l| l > own).count() as u32;
        let top_logprob = logprobs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        TokenScore { rank, logprob: own, top_logprob }
    }
}

/// Hidden states to return from a teacher-forced pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HiddenSelection {
    None,
    /// Every index 0..=L at every position: `[(L + 1), tokens, hidden]`.
    All,
    /// Only these `(index, position)` points, in this order.
    Points(Vec<(usize, usize)>),
}

/// What a teacher-forced pass returned.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherForced {
    /// With `All`: `[(L + 1) × tokens × hidden]`; with `Points`: one vector per point, concatenated.
    pub hidden: Vec<f32>,
    /// Logits at the requested positions, in order.
    pub logits: Vec<Vec<f32>>,
}

/// Where the forward pass runs. Written and parsed as `auto`, `cpu`, `cuda` (GPU 0) or `cuda:N`
/// ([`FromStr`](std::str::FromStr) and [`Display`](std::fmt::Display) round-trip; serde uses the
/// same text), so every caller (command-line flags, config files) accepts the same spellings and
/// a typo is an error instead of a silent fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// f32 compute on the CPU (the exact reference; incremental decoding with a KV cache).
    Cpu,
    /// bf16 compute on CUDA device `ordinal`.
    Cuda(usize),
    /// CUDA device 0 when the CUDA libraries and a GPU are there, else the CPU (said in one line).
    Auto,
}

/// The spellings [`Device`] accepts, for error messages and help texts.
pub const DEVICE_SPELLINGS: &str = "auto, cpu, cuda (= cuda:0), cuda:N (N a GPU ordinal)";

impl std::str::FromStr for Device {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || Error::Device { value: text.to_string() };
        match text {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => {
                let ordinal = text.strip_prefix("cuda:").ok_or_else(bad)?;
                // Digits only: `usize::from_str` would also take "+1", and a leading zero would
                // give one GPU two spellings.
                let canonical = !ordinal.is_empty()
                    && ordinal.bytes().all(|b| b.is_ascii_digit())
                    && (ordinal == "0" || !ordinal.starts_with('0'));
                if !canonical {
                    return Err(bad());
                }
                ordinal.parse().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Auto => f.write_str("auto"),
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
        }
    }
}

impl serde::Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The tokens that end a generation: the config's `eos_token_id`s and, where the tokenizer has
/// them, ChatML's `<|im_end|>` and `<|endoftext|>` (a chat model ends its turn with `<|im_end|>`
/// even when its config names only one eos id). Sorted, without duplicates. The one definition
/// the miner, the verifier and the CLI share, so they stop at the same tokens.
pub fn stop_token_ids(config: &Config, tokenizer: &ChatTokenizer) -> Vec<u32> {
    let mut stop = config.eos_token_ids.clone();
    stop.extend(["<|im_end|>", "<|endoftext|>"].into_iter().filter_map(|special| tokenizer.token_id(special)));
    stop.sort_unstable();
    stop.dedup();
    stop
}

/// The weights, in the one form the chosen device computes with: a CUDA engine holds no CPU copy
/// (for a 7B model the f32 CPU copy alone is about 30 GB of host memory).
enum Backend {
    Cpu(Box<Model>),
    Cuda(Box<cuda::CudaModel>),
}

/// A loaded model: config and weights.
pub struct Engine {
    config: Config,
    backend: Backend,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.config();
        write!(f, "Engine(qwen2, {} layers, hidden {}, vocab {})", c.num_layers, c.hidden_size, c.vocab_size)
    }
}

impl Engine {
    /// Loads `config.json` and the safetensors weights of a model directory, for the CPU.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, Device::Cpu)
    }

    /// Loads a model directory for `device`, converting the weights only for that device.
    /// `Cuda(n)` fails when CUDA or GPU `n` cannot be used; `Auto` then runs on the CPU instead
    /// and logs why, once.
    pub fn load_on(dir: &Path, device: Device) -> Result<Self> {
        let config = Config::load(&dir.join("config.json"))?;
        let weights = Weights::open(dir)?;
        let on_cpu = |why: &dyn std::fmt::Display| -> Result<Backend> {
            tracing::info!("{why}: running on the CPU");
            Ok(Backend::Cpu(Box::new(Model::load(&config, &weights)?)))
        };
        let backend = match device {
            Device::Cpu => Backend::Cpu(Box::new(Model::load(&config, &weights)?)),
            Device::Cuda(ordinal) => Backend::Cuda(Box::new(cuda::CudaModel::load(&config, &weights, ordinal)?)),
            Device::Auto => match cuda::libraries_present() {
                Err(why) => on_cpu(&why)?,
                Ok(()) => match cuda::CudaModel::load(&config, &weights, 0) {
                    Ok(m) => Backend::Cuda(Box::new(m)),
                    Err(e) => on_cpu(&e)?,
                },
            },
        };
        tracing::debug!(dir = %dir.display(), layers = config.num_layers, hidden = config.hidden_size, "model loaded");
        Ok(Self { config, backend })
    }

    /// "cpu", or the GPU's name.
    pub fn device(&self) -> String {
        match &self.backend {
            Backend::Cpu(_) => "cpu".into(),
            Backend::Cuda(m) => format!("cuda ({})", m.device_name()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The CPU model (for incremental decoding with an explicit [`KvCache`]); `None` on CUDA,
    /// where no CPU copy of the weights exists.
    pub fn model(&self) -> Option<&Model> {
        match &self.backend {
            Backend::Cpu(model) => Some(model.as_ref()),
            Backend::Cuda(_) => None,
        }
    }

    /// Rounds every activation to bf16 on the CPU backend (an honest miner's precision noise,
    /// for calibration and the detection experiment). The reference never does. The CUDA backend
    /// computes in bf16 already, so there it changes nothing.
    pub fn set_bf16_activations(&mut self, on: bool) {
        if let Backend::Cpu(model) = &mut self.backend {
            model.set_bf16_activations(on);
        }
    }

    /// One pass over `tokens` from position 0, returning the selected hidden states and the
    /// logits at `logit_positions`.
    pub fn teacher_forced(
        &self,
        tokens: &[u32],
        hidden: &HiddenSelection,
        logit_positions: &[usize],
    ) -> Result<TeacherForced> {
        let c = self.config();
        let (n, h) = (tokens.len(), c.hidden_size);
        if let HiddenSelection::Points(points) = hidden {
            for &(layer, position) in points {
                if layer > c.num_layers {
                    return Err(Error::LayerOutOfRange { layer, max: c.num_layers });
                }
                if position >= n {
                    return Err(Error::PositionOutOfRange { position, len: n });
                }
            }
        }
        let mut out = match hidden {
            HiddenSelection::None => Vec::new(),
            HiddenSelection::All => vec![0.0; (c.num_layers + 1) * n * h],
            HiddenSelection::Points(points) => vec![0.0; points.len() * h],
        };
        for (position, &id) in tokens.iter().enumerate() {
            if id as usize >= c.vocab_size {
                return Err(Error::TokenOutOfRange { id, position, vocab: c.vocab_size });
            }
        }
        if let Some(&position) = logit_positions.iter().find(|&&p| p >= n) {
            return Err(Error::PositionOutOfRange { position, len: n });
        }
        let mut on_hidden = |index: usize, states: &[f32]| match hidden {
            HiddenSelection::None => {}
            HiddenSelection::All => out[index * n * h..(index + 1) * n * h].copy_from_slice(states),
            HiddenSelection::Points(points) => {
                for (i, &(layer, position)) in points.iter().enumerate() {
                    if layer == index {
                        out[i * h..(i + 1) * h].copy_from_slice(&states[position * h..(position + 1) * h]);
                    }
                }
            }
        };
        let logits = match &self.backend {
            Backend::Cpu(model) => model.forward(tokens, &mut model.new_cache(), &mut on_hidden, logit_positions)?,
            Backend::Cuda(gpu) => {
                if n == 0 {
                    return Ok(TeacherForced { hidden: out, logits: Vec::new() });
                }
                let wants = |index: usize| match hidden {
                    HiddenSelection::None => false,
                    HiddenSelection::All => true,
                    HiddenSelection::Points(points) => points.iter().any(|p| p.0 == index),
                };
                gpu.forward(tokens, &wants, &mut on_hidden, logit_positions)?
            }
        };
        Ok(TeacherForced { hidden: out, logits })
    }

    /// Median seconds of `runs` teacher-forced prefills of `tokens` pseudo-random tokens, keeping
    /// every hidden state (after one short warm-up pass). The CLI's `engine bench` and the
    /// `prefill` bench target both measure with this.
    pub fn time_prefill(&self, tokens: usize, runs: usize) -> Result<f64> {
        let vocab = self.config().vocab_size as u64;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let ids: Vec<u32> = (0..tokens)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % vocab) as u32
            })
            .collect();
        self.teacher_forced(&ids[..tokens.min(16)], &HiddenSelection::None, &[])?;
        let mut times = Vec::new();
        for _ in 0..runs.max(1) {
            let started = std::time::Instant::now();
            std::hint::black_box(self.teacher_forced(&ids, &HiddenSelection::All, &[])?);
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }

    /// Rank and log-prob of each token of `tokens[from..]` given the tokens before it, from one
    /// teacher-forced pass (what verification needs for a completion after its prompt).
    pub fn score_tokens(&self, tokens: &[u32], from: usize) -> Result<Vec<TokenScore>> {
        if from == 0 || from > tokens.len() {
            return Err(Error::PositionOutOfRange { position: from, len: tokens.len() });
        }
        let positions: Vec<usize> = (from - 1..tokens.len() - 1).collect();
        let out = self.teacher_forced(tokens, &HiddenSelection::None, &positions)?;
        Ok(out.logits.iter().zip(&tokens[from..]).map(|(logits, &token)| TokenScore::of(logits, token)).collect())
    }

    /// Generates after `prompt` until a stop token or `max_tokens`; incremental, with a KV cache
    /// on the CPU.
    pub fn generate(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        max_tokens: usize,
        stop: &[u32],
    ) -> Result<Generation> {
        self.generate_with(prompt, params, max_tokens, stop, &mut |_, _| true)
    }

    /// Like [`Engine::generate`], calling `on_token(token, logits it was sampled from)` after
    /// each token; returning `false` stops generation there (finish reason `Stop`), which is how
    /// callers implement stop strings, streaming and cancellation.
    pub fn generate_with(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        max_tokens: usize,
        stop: &[u32],
        on_token: &mut dyn FnMut(u32, &[f32]) -> bool,
    ) -> Result<Generation> {
        if prompt.is_empty() {
            return Err(Error::Invalid("the prompt has no tokens".into()));
        }
        sampling::check(params)?;
        let mut tokens = Vec::new();
        // Only the CPU backend decodes incrementally; the CUDA one leaves the cache empty.
        let mut cache = self.model().map(Model::new_cache).unwrap_or_default();
        let next_logits = |sequence: &[u32], fresh: &[u32], cache: &mut KvCache| -> Result<Vec<f32>> {
            match &self.backend {
                Backend::Cpu(model) => {
                    let mut out = model.forward(fresh, cache, &mut |_, _| {}, &[fresh.len() - 1])?;
                    Ok(out.pop().unwrap_or_default())
                }
                // The CUDA backend recomputes the whole pass for each new token (no KV cache yet).
                Backend::Cuda(_) => {
                    let mut out = self.teacher_forced(sequence, &HiddenSelection::None, &[sequence.len() - 1])?;
                    Ok(out.logits.pop().unwrap_or_default())
                }
            }
        };
        let mut sequence = prompt.to_vec();
        let mut logits = next_logits(&sequence, prompt, &mut cache)?;
        while tokens.len() < max_tokens {
            // The position is the token's index in the completion (docs/sampling.md).
            let next = sampling::next_token(&logits, params, tokens.len())?;
            tokens.push(next);
            let go_on = on_token(next, &logits);
            if stop.contains(&next) || !go_on {
                return Ok(Generation { tokens, finish_reason: FinishReason::Stop });
            }
            if tokens.len() == max_tokens {
                break;
            }
            sequence.push(next);
            logits = next_logits(&sequence, &[next], &mut cache)?;
        }
        Ok(Generation { tokens, finish_reason: FinishReason::Length })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_accepts_exactly_the_documented_spellings() {
        for (text, device) in [
            ("auto", Device::Auto),
            ("cpu", Device::Cpu),
            ("cuda", Device::Cuda(0)),
            ("cuda:0", Device::Cuda(0)),
            ("cuda:1", Device::Cuda(1)),
            ("cuda:17", Device::Cuda(17)),
        ] {
            assert_eq!(text.parse::<Device>().expect(text), device, "{text}");
        }
    }

    #[test]
    fn device_refuses_everything_else_naming_the_value_and_the_spellings() {
        for text in [
            "",
            "cdua",
            "gpu",
            "CPU",
            "Cuda",
            " cpu",
            "cpu ",
            "cuda:",
            "cuda:x",
            "cuda:-1",
            "cuda:+1",
            "cuda:1.0",
            "cuda:01",
            "cuda:0:1",
            "cuda0",
            "cuda 0",
            "cuda:99999999999999999999999",
            "auto:0",
            "cpu:0",
        ] {
            let message = match text.parse::<Device>() {
                Ok(d) => panic!("{text:?} parsed as {d:?}"),
                Err(e) => e.to_string(),
            };
            assert!(message.contains(&format!("{text:?}")), "{message}");
            assert!(message.contains("auto, cpu, cuda (= cuda:0), cuda:N"), "{message}");
        }
    }

    #[test]
    fn device_display_round_trips_and_serde_uses_the_same_text() {
        for device in [Device::Auto, Device::Cpu, Device::Cuda(0), Device::Cuda(3)] {
            let text = device.to_string();
            assert_eq!(text.parse::<Device>().expect(&text), device);
            let json = serde_json::to_string(&device).expect("serializes");
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Device>(&json).expect("deserializes"), device);
        }
        assert_eq!(Device::Cuda(0).to_string(), "cuda:0");
        assert_eq!(serde_json::from_str::<Device>("\"cuda\"").expect("cuda"), Device::Cuda(0));
        let refused = serde_json::from_str::<Device>("\"gpu\"").map(|_| ()).expect_err("gpu is no device");
        assert!(refused.to_string().contains("\"gpu\" is not one of"), "{refused}");
        assert!(serde_json::from_str::<Device>("0").is_err(), "a number is no device");
    }

    #[test]
    fn stop_tokens_are_the_eos_ids_and_the_chatml_ends_sorted_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        tiny::write(dir.path(), &tiny::TinySpec::default(), None).expect("writes");
        let engine = Engine::load(dir.path()).expect("loads");
        let tokenizer = ChatTokenizer::load(dir.path()).expect("tokenizer");
        let stop = stop_token_ids(engine.config(), &tokenizer);
        for id in &engine.config().eos_token_ids {
            assert!(stop.contains(id), "eos {id} in {stop:?}");
        }
        for special in ["<|im_end|>", "<|endoftext|>"] {
            let id = tokenizer.token_id(special).expect(special);
            assert!(stop.contains(&id), "{special} ({id}) in {stop:?}");
        }
        // The tiny config's eos is <|im_end|> itself: listed once, and in order.
        assert_eq!(stop, vec![tiny::ENDOFTEXT, tiny::IM_END]);
    }

    #[test]
    fn bf16_upload_values_equal_rounding_the_f32_values() {
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let dir = tempfile::tempdir().expect("tempdir");
            // 1100 × 64 values: more than one of the slices `to_bf16` converts at a time.
            let spec = tiny::TinySpec { dtype, vocab: 1100, layers: 1, ..tiny::TinySpec::default() };
            tiny::write(dir.path(), &spec, None).expect("writes");
            let weights = Weights::open(dir.path()).expect("opens");
            let t = weights.get("model.embed_tokens.weight", &[1100, 64]).expect("embed");
            let expect: Vec<half::bf16> = t.to_f32().into_iter().map(half::bf16::from_f32).collect();
            assert_eq!(t.to_bf16(), expect, "{dtype:?}");
        }
    }
}
