//! consensus's formulas, one function each, on plain numbers.
//!
//! Owns: the arithmetic (the round's common output length, the element-wise mean, the L2
//! distance, a round's score, a miner's epoch score, u16 weights). Must not touch: records or
//! state; `epoch.rs` picks the outputs, this file only computes. Only IEEE-exact operations
//! (+, −, ×, ÷, sqrt) in a fixed order (the caller's row order, then element order), so the
//! native and the wasm32 build give the same bits.

use std::collections::BTreeMap;

use assay_policy_sdk::Weight;

/// Largest magnitude an output element may have. A hidden state is far below it; a reveal with
/// a larger element (or a non-finite one) is malformed, so that one miner's huge numbers can
/// never overflow a round's sums to infinity and zero everyone else. With at most 256 miners
/// (`MAX_MINERS`) every sum and square stays finite.
pub const MAX_ABS_ELEMENT: f64 = 1e12;

/// Whether `output` can be measured: not empty, every element finite and within
/// [`MAX_ABS_ELEMENT`].
pub fn well_formed(output: &[f64]) -> bool {
    !output.is_empty() && output.iter().all(|x| x.is_finite() && x.abs() <= MAX_ABS_ELEMENT)
}

/// The most common of `lengths`. `None` when empty or when two lengths tie for the most: honest
/// miners of one model all reveal its hidden size, so a tie means someone is wrong, and breaking
/// it by position would hand the round to the lower uid. One pass over a sorted map: n log n.
pub fn common_length(lengths: &[usize]) -> Option<usize> {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for &length in lengths {
        *counts.entry(length).or_insert(0) += 1;
    }
    let most = counts.values().copied().max()?;
    let mut top = counts.into_iter().filter(|&(_, count)| count == most);
    match (top.next(), top.next()) {
        (Some((length, _)), None) => Some(length),
        _ => None,
    }
}

/// The element-wise mean of `outputs`, summed in the given order. `None` when there are none
/// or their lengths differ (the caller keeps only outputs of one length).
pub fn mean_output(outputs: &[&[f64]]) -> Option<Vec<f64>> {
    let first = outputs.first()?;
    if outputs.iter().any(|o| o.len() != first.len()) {
        return None;
    }
    let mut sum = vec![0.0; first.len()];
    for output in outputs {
        for (s, x) in sum.iter_mut().zip(output.iter()) {
            *s += x;
        }
    }
    let n = outputs.len() as f64;
    Some(sum.into_iter().map(|s| s / n).collect())
}

/// ‖a − b‖₂, squares summed in element order; infinite when the lengths differ.
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let squares = a.iter().zip(b).fold(0.0, |sum, (x, y)| sum + (x - y) * (x - y));
    squares.sqrt()
}

/// `1 / (1 + distance)`: 1 at the mean, falling towards 0 with distance. 0 for a distance that
/// is not a number or negative (never produced by [`distance`]: a caller's bug scores nothing).
pub fn round_score(distance: f64) -> f64 {
    if distance >= 0.0 { 1.0 / (1.0 + distance) } else { 0.0 }
}

/// A miner's epoch score: the sum of its round scores (in round order) over all `rounds` of the
/// epoch, so a round it had no row in counts 0. 0 when the epoch had no round.
pub fn epoch_score(round_scores: &[f64], rounds: usize) -> f64 {
    if rounds == 0 {
        return 0.0;
    }
    // A fold from +0.0: `Sum` of no f64 is −0.0, which would show as a score of "-0.0".
    round_scores.iter().fold(0.0, |sum, s| sum + s) / rounds as f64
}

/// Scores to u16 weights: the best gets 65535, the others in proportion, zero stays zero
/// (constantinople's convention). Empty when no score is positive (nothing to set on chain).
pub fn to_weights(scores: &[(u16, f64)]) -> Vec<Weight> {
    let best = scores.iter().map(|&(_, s)| s).fold(0.0_f64, f64::max);
    if best <= 0.0 {
        return Vec::new();
    }
    scores
        .iter()
        // In [0, 65535] by construction; `as` saturates anyway.
        .map(|&(uid, s)| Weight { uid, weight: (s.max(0.0) / best * 65535.0).round() as u16 })
        .collect()
}
