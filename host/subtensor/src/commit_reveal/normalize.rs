//! Weights as the chain takes them: max-upscaled to u16, zeros dropped, exactly as the Python SDK.
//!
//! The reference is bittensor 11.3.0's `bittensor.intents.weights.normalize` (the one canonical
//! implementation `SetWeights` and `CommitWeights` call before they encrypt or submit), which
//! works in Python floats (f64) and rounds with Python's `round` (ties to even). Older SDKs
//! (`bittensor.utils.weight_utils.convert_weights_and_uids_for_emit`, bittensor ≤ 10) did the
//! same arithmetic on numpy float32 arrays; assay follows the current SDK, bit for bit.

use thiserror::Error;

/// `u16::MAX` as the SDK's `U16_MAX` multiplies by it.
const U16_MAX: f64 = 65535.0;

/// Weights the SDK refuses, with the SDK's reasons.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WeightsError {
    #[error("uids and weights must be equal length: {uids} vs {weights}")]
    LengthMismatch { uids: usize, weights: usize },
    #[error("weight {index} is {value}: weights must be finite and non-negative")]
    NotFiniteOrNegative { index: usize, value: f64 },
}

/// Max-upscales `weights` so the largest is 65535, rounds each (ties to even) and drops the uids
/// whose value rounds to zero; all-zero (or empty) weights give two empty lists.
///
/// Mirrors the SDK's `normalize(uids, weights)`: same refusals (unequal lengths, a negative,
/// infinite or NaN weight), same arithmetic `round((w / max) * 65535)` in f64, same order.
pub fn convert_weights_and_uids_for_emit(uids: &[u16], weights: &[f64]) -> Result<(Vec<u16>, Vec<u16>), WeightsError> {
    if uids.len() != weights.len() {
        return Err(WeightsError::LengthMismatch { uids: uids.len(), weights: weights.len() });
    }
    if let Some((index, &value)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite() || **w < 0.0) {
        return Err(WeightsError::NotFiniteOrNegative { index, value });
    }
    let top = weights.iter().copied().fold(0.0_f64, f64::max);
    if top == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut out_uids = Vec::with_capacity(uids.len());
    let mut out_values = Vec::with_capacity(uids.len());
    for (&uid, &weight) in uids.iter().zip(weights) {
        // weight / top is in [0, 1], so the rounded value is in [0, 65535]: the cast is exact.
        let value = ((weight / top) * U16_MAX).round_ties_even() as u16;
        if value != 0 {
            out_uids.push(uid);
            out_values.push(value);
        }
    }
    Ok((out_uids, out_values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_the_sdk_refuses() {
        assert_eq!(
            convert_weights_and_uids_for_emit(&[1, 2], &[1.0]),
            Err(WeightsError::LengthMismatch { uids: 2, weights: 1 })
        );
        for bad in [-0.5, f64::NAN, f64::INFINITY] {
            let err = convert_weights_and_uids_for_emit(&[1, 2], &[1.0, bad]).unwrap_err();
            assert!(matches!(err, WeightsError::NotFiniteOrNegative { index: 1, .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn all_zero_and_empty_give_nothing() {
        assert_eq!(convert_weights_and_uids_for_emit(&[3, 4], &[0.0, -0.0]), Ok((vec![], vec![])));
        assert_eq!(convert_weights_and_uids_for_emit(&[], &[]), Ok((vec![], vec![])));
    }
}
