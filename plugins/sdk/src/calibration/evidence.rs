//! The pooled epoch statistic: how far above honest noise a miner's hidden states sat over all
//! of its challenges in one epoch, and the bound an honest miner stays under.
//!
//! Owns: the per-challenge statistic, its honest mean and spread (calibration data, like the
//! rest of this module's parent) and the epoch gate's bound. Must not touch: verdicts or weights
//! (the scorer decides what a gated miner gets).
//!
//! A challenge's statistic is the mean over its points of `ln(rel_l2 / honest median of that
//! layer)`, each term clamped to `±ln(pooled_ratio_limit)` so that one wild point (which the
//! judge fails on its own anyway) cannot carry a whole epoch. The epoch's statistic is the mean
//! over the miner's counted challenges; the gate closes when it exceeds
//! `mean + z · sd / √n` of the model's [`Honest`] figures with at least [`MIN_CHALLENGES`] of them. Treating the
//! challenges as independent is an assumption (docs/verification.md, "Pooled over the epoch").

use super::Calibration;

/// The honest figures of the per-challenge statistic, measured for each model by
/// `assay dev calibrate` (honest trials through the real path, seeds disjoint from the
/// experiment's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Honest {
    /// Mean of the statistic over honest challenges.
    pub mean: f64,
    /// Its standard deviation.
    pub sd: f64,
    /// Standard errors above the honest mean at which the gate closes: 1.5 × the largest
    /// standardized epoch mean over 500,000 epochs resampled from those honest challenges (4 to
    /// 16 each). Chosen from honest data only.
    pub z: f64,
}

/// Fewer counted challenges than this in an epoch never close the gate: the mean of two or
/// three is too easily moved by one unlucky request.
pub const MIN_CHALLENGES: usize = 4;

/// A challenge counts only with at least this many points (the planner asks for 16; fewer
/// remain only after duplicates are removed, on very short requests).
pub const MIN_POINTS: usize = 8;

/// One point's term: `ln(rel_l2 / honest median)`, clamped. A non-finite error (a NaN vector)
/// is as far above honest noise as the clamp allows. `libm`'s logarithm, not the platform's, so
/// a native build computes the bits the component does.
pub fn term(calibration: &Calibration, rel_l2: f64, layer: u32, layers: u32) -> f64 {
    let limit = libm::log(calibration.pooled_ratio_limit);
    if rel_l2.is_nan() {
        return limit;
    }
    libm::log(rel_l2.max(1e-12) / calibration.honest_median(layer, layers)).clamp(-limit, limit)
}

/// The statistic of one challenge from its `(layer, rel_l2)` points, `None` with fewer than
/// [`MIN_POINTS`] points.
pub fn challenge(calibration: &Calibration, points: impl IntoIterator<Item = (u32, f64)>, layers: u32) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for (layer, rel_l2) in points {
        sum += term(calibration, rel_l2, layer, layers);
        n += 1;
    }
    (n >= MIN_POINTS).then_some(sum / n as f64)
}

/// The largest epoch mean an honest miner may show over `n` counted challenges (`n` ≥ 1).
pub fn bound(calibration: &Calibration, n: usize) -> f64 {
    let Honest { mean, sd, z } = calibration.evidence;
    mean + z * sd / (n.max(1) as f64).sqrt()
}

/// One miner's epoch under the gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch {
    /// Mean of the counted challenges' statistics; 0 when none counted.
    pub mean: f64,
    /// [`bound`] for their number; 0 when none counted.
    pub bound: f64,
    pub challenges: usize,
    /// The mean is above the bound with at least [`MIN_CHALLENGES`] challenges.
    pub gated: bool,
}

/// The gate over the statistics of a miner's counted challenges.
pub fn epoch(calibration: &Calibration, statistics: &[f64]) -> Epoch {
    let n = statistics.len();
    if n == 0 {
        return Epoch { mean: 0.0, bound: 0.0, challenges: 0, gated: false };
    }
    let mean = statistics.iter().sum::<f64>() / n as f64;
    let bound = bound(calibration, n);
    Epoch { mean, bound, challenges: n, gated: n >= MIN_CHALLENGES && mean > bound }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::TINY_RANDOM as C;

    #[test]
    fn bounds_shrink_with_the_square_root_of_the_challenges() {
        // -0.0304 + 7.53 × 0.0896 / √4 = 0.306944; over √10, 0.182955; over √16, 0.138272.
        assert!((bound(&C, 4) - 0.306944).abs() < 1e-6);
        assert!((bound(&C, 10) - 0.182955).abs() < 1e-6);
        assert!((bound(&C, 16) - 0.138272).abs() < 1e-6);
    }

    #[test]
    fn terms_are_clamped_and_nan_counts_as_the_clamp() {
        let limit = libm::log(C.pooled_ratio_limit);
        let median = C.honest_median(2, 4);
        assert!(term(&C, median, 2, 4).abs() < 1e-12);
        assert!((term(&C, 1.5 * median, 2, 4) - 1.5f64.ln()).abs() < 1e-12);
        assert_eq!(term(&C, 100.0 * median, 2, 4), limit);
        assert_eq!(term(&C, 0.0, 2, 4), -limit);
        assert_eq!(term(&C, f64::NAN, 2, 4), limit);
        assert_eq!(term(&C, f64::INFINITY, 2, 4), limit);
    }

    #[test]
    fn a_challenge_needs_eight_points() {
        let at = |ratio: f64, n: u32| (0..n).map(move |i| (1 + i % 4, ratio * C.honest_median(1 + i % 4, 4)));
        assert_eq!(challenge(&C, at(1.0, 7), 4), None);
        let s = challenge(&C, at(1.5, 8), 4).expect("eight points count");
        assert!((s - 1.5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn the_epoch_gate_needs_four_challenges_above_the_bound() {
        assert_eq!(epoch(&C, &[]), Epoch { mean: 0.0, bound: 0.0, challenges: 0, gated: false });
        let high = epoch(&C, &[0.5; 3]);
        assert!(!high.gated && high.mean > high.bound, "three challenges never gate");
        assert!(epoch(&C, &[0.308; 4]).gated);
        assert!(!epoch(&C, &[0.306; 4]).gated);
    }
}
