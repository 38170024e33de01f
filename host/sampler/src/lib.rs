//! The exact sampler of the protocol (`docs/sampling.md`): which token a miner must emit for given
//! logits, sampling parameters, seed and position, so that the verifier can replay every sampled
//! token as it replays greedy ones.
//!
//! Owns: the sampling parameters and their validation, temperature, top-k, top-p, the Gumbel-max
//! race over Philox-4x32-10 uniforms, and the replay the verifier reads (the spec's token, whether
//! the miner's token was allowed, the race margin, near ties and near truncation boundaries).
//! Must not touch: models, HTTP, the wire protocol, policies or where the seed comes from; it
//! takes logits and returns token ids. No dependencies, so the reference miner, the verifier and a
//! wasm32 policy can all use it; `scripts/sampler.py` is the same specification in Python, and
//! `docs/sampling-vectors.json` holds the vectors both must pass.
//!
//! The steps, all in IEEE-754 binary64 (f64):
//! 1. each f32 logit is widened to f64; a temperature below [`MIN_TEMPERATURE`] (0 included) is
//!    greedy: the largest logit, ties to the lowest token id, and nothing below applies;
//! 2. `z = logit / temperature`;
//! 3. top-k keeps the k largest z (ties: lower id first);
//! 4. top-p keeps the shortest prefix, by z descending, whose cumulative softmax reaches `top_p`:
//!    the normalizer Σ exp(z − max) over top-k's survivors is added in id order, the running sum
//!    of `exp(z − max) / normalizer` in the prefix's order (so only the prefix is ever sorted);
//! 5. every kept token races with `key = z − ln(−ln u)`, `u` a uniform in (0, 1) from Philox
//!    keyed by the seed and counted by (token id / 4, position); the largest key wins (ties: lower
//!    id). This is the Gumbel-max trick: the winner is distributed as the truncated softmax.

mod error;
pub mod philox;
mod race;
mod replay;
mod truncate;

pub use error::SamplerError;
pub use philox::{philox4x32_10, uniform};
pub use replay::{Replay, replay};

/// Temperatures below this are greedy, as in vLLM (`_SAMPLING_EPS`): a miner serving with vLLM
/// and one serving with this crate agree on which requests are greedy, and `z = logit / T` stays
/// finite for every f32 logit (|z| < 3.5e38 / 1e-5).
pub const MIN_TEMPERATURE: f64 = 1e-5;

/// How a request asks to be sampled. Built by the caller from the request body; checked by
/// [`SamplingParams::validate`] (and by [`sample`] and [`replay`], which refuse bad values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingParams {
    /// Divides the logits; below [`MIN_TEMPERATURE`] (0 included) the sampler is greedy.
    pub temperature: f64,
    /// Keep only the `top_k` largest logits; 0 is off (vLLM's -1 maps to 0).
    pub top_k: u32,
    /// Keep the smallest nucleus of probability at least `top_p`, in (0, 1]; 1 is off.
    pub top_p: f64,
    /// Keys the generator: the user's `seed` where given, else one the validator draws.
    pub seed: u64,
}

/// Greedy decoding (see [`SamplingParams::greedy`]): the engine's default when a caller names nothing.
impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams::greedy()
    }
}

impl SamplingParams {
    /// Greedy decoding (temperature 0, no truncation); the seed is then unused.
    pub fn greedy() -> Self {
        SamplingParams { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 }
    }

    /// Refuses a NaN, infinite or negative temperature and a `top_p` outside (0, 1].
    pub fn validate(&self) -> Result<(), SamplerError> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(SamplerError::BadTemperature(self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(SamplerError::BadTopP(self.top_p));
        }
        Ok(())
    }

    /// Whether these parameters decode greedily (temperature below [`MIN_TEMPERATURE`]).
    pub fn is_greedy(&self) -> bool {
        self.temperature < MIN_TEMPERATURE
    }
}

/// The token the specification emits at `position` (the 0-based index of the completion token)
/// for these logits, one per token id of the vocabulary.
pub fn sample(logits: &[f32], params: &SamplingParams, position: u64) -> Result<u32, SamplerError> {
    params.validate()?;
    let z = scaled_logits(logits, params)?;
    if params.is_greedy() {
        return Ok(race::argmax(&z));
    }
    let truncation = truncate::truncate(&z, params.top_k, params.top_p, truncate::Walk::Kept);
    Ok(race::run(&z, truncation.kept(), params.seed, position).winner)
}

/// The logits as f64, divided by the temperature unless the request is greedy (greedy compares
/// the logits themselves). Refuses an empty vocabulary, one whose ids do not fit in u32, and a
/// NaN or infinite logit (no engine emits one for a real token; refusing keeps the spec small).
pub(crate) fn scaled_logits(logits: &[f32], params: &SamplingParams) -> Result<Vec<f64>, SamplerError> {
    if logits.is_empty() {
        return Err(SamplerError::EmptyLogits);
    }
    if u32::try_from(logits.len()).is_err() {
        return Err(SamplerError::VocabTooLarge(logits.len()));
    }
    let divisor = if params.is_greedy() { 1.0 } else { params.temperature };
    let mut z = Vec::with_capacity(logits.len());
    for (id, &logit) in (0u32..).zip(logits) {
        if !logit.is_finite() {
            return Err(SamplerError::NonFiniteLogit { token: id });
        }
        z.push(f64::from(logit) / divisor);
    }
    Ok(z)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
