//! The sampler's one error type: what the caller passed that the specification refuses.
//!
//! Owns: the variants and their messages. Must not touch: sampling.

use std::fmt;

/// Why the sampler refused its input. Messages start lowercase and name the bad value.
#[derive(Clone, Debug, PartialEq)]
pub enum SamplerError {
    /// No logits at all.
    EmptyLogits,
    /// More logits than u32 token ids.
    VocabTooLarge(usize),
    /// A NaN or infinite logit, at this token id.
    NonFiniteLogit { token: u32 },
    /// A NaN, infinite or negative temperature.
    BadTemperature(f64),
    /// A `top_p` outside (0, 1], or NaN.
    BadTopP(f64),
    /// A token id past the vocabulary (replay).
    TokenOutOfRange { token: u32, vocab: usize },
    /// A NaN, infinite or negative tolerance (replay).
    BadTolerance(f64),
}

impl fmt::Display for SamplerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplerError::EmptyLogits => write!(f, "no logits to sample from"),
            SamplerError::VocabTooLarge(n) => write!(f, "{n} logits: token ids must fit in u32"),
            SamplerError::NonFiniteLogit { token } => write!(f, "logit of token {token} is not finite"),
            SamplerError::BadTemperature(t) => write!(f, "temperature {t} is not a finite number >= 0"),
            SamplerError::BadTopP(p) => write!(f, "top_p {p} is outside (0, 1]"),
            SamplerError::TokenOutOfRange { token, vocab } => {
                write!(f, "token {token} is outside a vocabulary of {vocab}")
            }
            SamplerError::BadTolerance(t) => write!(f, "tolerance {t} is not a finite number >= 0"),
        }
    }
}

impl std::error::Error for SamplerError {}
