//! The reference engine: Qwen2 / Qwen2.5 as Hugging Face transformers computes it.
//!
//! Owns: loading a model directory laid out as a Hugging Face snapshot (config, safetensors,
//! tokenizer), the forward pass with hidden states at any (layer, position) and logits,
//! incremental decoding with a KV cache, sampling, and the tiny-model generator for tests.
//! Must not touch: HTTP, policies, the ledger or the chain. It computes; callers judge.

mod config;
mod chat;
mod cpu;
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
pub use sampling::{FinishReason, Generation, Sampler, SamplingParams};
pub use weights::{DType, Tensor, Weights};

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

/// A loaded model: config and weights.
pub struct Engine {
    model: Model,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.config();
        write!(f, "Engine(qwen2, {} layers, hidden {}, vocab {})", c.num_layers, c.hidden_size, c.vocab_size)
    }
}

impl Engine {
    /// Loads `config.json` and the safetensors weights of a model directory.
    pub fn load(dir: &Path) -> Result<Self> {
        let config = Config::load(&dir.join("config.json"))?;
        let weights = Weights::open(dir)?;
        let model = Model::load(&config, &weights)?;
        tracing::debug!(dir = %dir.display(), layers = config.num_layers, hidden = config.hidden_size, "model loaded");
        Ok(Self { model })
    }

    pub fn config(&self) -> &Config {
        self.model.config()
    }

    pub fn model(&self) -> &Model {
        &self.model
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
        let mut cache = self.model.new_cache();
        let logits = self.model.forward(
            tokens,
            &mut cache,
            &mut |index, states| match hidden {
                HiddenSelection::None => {}
                HiddenSelection::All => out[index * n * h..(index + 1) * n * h].copy_from_slice(states),
                HiddenSelection::Points(points) => {
                    for (i, &(layer, position)) in points.iter().enumerate() {
                        if layer == index {
                            out[i * h..(i + 1) * h].copy_from_slice(&states[position * h..(position + 1) * h]);
                        }
                    }
                }
            },
            logit_positions,
        )?;
        Ok(TeacherForced { hidden: out, logits })
    }

    /// Generates after `prompt` until a stop token, `max_tokens`, or the end of the vocabulary's
    /// patience; incremental, with a KV cache.
    pub fn generate(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        max_tokens: usize,
        stop: &[u32],
    ) -> Result<Generation> {
        if prompt.is_empty() {
            return Err(Error::Invalid("the prompt has no tokens".into()));
        }
        let mut sampler = Sampler::new(params)?;
        let mut cache = self.model.new_cache();
        let mut logits = self.model.forward(prompt, &mut cache, &mut |_, _| {}, &[prompt.len() - 1])?;
        let mut tokens = Vec::new();
        let mut finish = FinishReason::Length;
        while tokens.len() < max_tokens {
            let Some(last) = logits.pop() else { break };
            let next = sampler.sample(&last);
            tokens.push(next);
            if stop.contains(&next) {
                finish = FinishReason::Stop;
                break;
            }
            if tokens.len() == max_tokens {
                break;
            }
            logits = self.model.forward(&[next], &mut cache, &mut |_, _| {}, &[0])?;
        }
        Ok(Generation { tokens, finish_reason: finish })
    }
}
