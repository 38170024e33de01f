//! Choosing the next token: the protocol's sampler (`assay-sampler`, `docs/sampling.md`) and
//! what a generation returns.
//!
//! Owns: [`Generation`], [`FinishReason`], [`argmax`] and the glue from the engine's logits to
//! [`assay_sampler::sample`]. Must not touch: how tokens are chosen (that is the sampler's
//! specification, and there is one sampler in the codebase) or where the seed comes from.

use crate::{Error, Result};

pub use assay_sampler::SamplingParams;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token was produced (it is the last token).
    Stop,
    /// `max_tokens` was reached.
    Length,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
}

/// The top token; the lowest id among equal maxima (the sampler's greedy rule).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Refuses parameters the sampler would refuse (a NaN, infinite or negative temperature, a
/// `top_p` outside (0, 1]) before anything is computed.
pub fn check(params: &SamplingParams) -> Result<()> {
    params.validate().map_err(|e| Error::Invalid(e.to_string()))
}

/// The token the protocol's sampler emits for `logits` as the completion's token number
/// `position` (0 for the first generated token, whatever the prompt's length).
pub fn next_token(logits: &[f32], params: &SamplingParams, position: usize) -> Result<u32> {
    assay_sampler::sample(logits, params, position as u64).map_err(|e| Error::Invalid(format!("sampling: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_top_and_the_lowest_id_on_ties() {
        assert_eq!(argmax(&[0.1, 0.9, 0.9, -1.0]), 1);
        assert_eq!(next_token(&[0.0, 2.0, 2.0], &SamplingParams::default(), 0).expect("sample"), 1);
    }

    #[test]
    fn the_engine_samples_as_the_specification_s_worked_example() {
        // docs/sampling.md, "A worked example": temperature 0.8, top-k 4, top-p 0.9, seed 42,
        // position 3 keeps ids {2, 4, 0}, whose keys are 2.915, 3.090 and 3.840: id 4 wins.
        let logits = [1.5, -0.25, 2.0, 0.75, 2.0, -1.0];
        let params = SamplingParams { temperature: 0.8, top_k: 4, top_p: 0.9, seed: 42 };
        assert_eq!(next_token(&logits, &params, 3).expect("sample"), 4);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let bad = |params: SamplingParams| check(&params).is_err();
        assert!(bad(SamplingParams { temperature: -1.0, ..Default::default() }));
        assert!(bad(SamplingParams { top_p: 0.0, ..Default::default() }));
        assert!(bad(SamplingParams { temperature: f64::NAN, ..Default::default() }));
        assert!(check(&SamplingParams::default()).is_ok());
    }
}
