//! Per-layer hidden-state calibration: the honest-noise figures the challenger policy judges
//! requests with and the scorer's pooled epoch gate ([`evidence`]) weighs a miner's epoch with.
//!
//! One definition for both policies, so the two can never disagree about what honest noise is.
//! Honest noise is a property of the served model (and of the precisions of miner and
//! reference), so each model has its own [`Calibration`], measured by `assay dev calibrate` on
//! honest runs only (docs/verification.md) and compiled in as data: a new model's table is a new
//! challenger component, with a new hash, and a scorer selects it by index
//! ([`by_index`], constantinople's `evidence.calibration`). Relative L2 error of an honest
//! miner's vector against the validator's reference depends on depth, so each per-layer figure
//! is a function of relative depth `layer / layers`, interpolated linearly between rows.

pub mod evidence;

/// The honest-noise figures of one served model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration<'a> {
    /// The model it was measured on, for people reading logs and docs.
    pub model: &'a str,
    /// (relative depth, relative L2 threshold), depth ascending, first row at 0 and last at 1:
    /// the honest 99.9th percentile times 1.5.
    pub rel_l2_thresholds: &'a [(f64, f64)],
    /// (relative depth, honest median relative L2), the same rows.
    pub honest_medians: &'a [(f64, f64)],
    /// Errors a little above honest noise at every point (int8 weights, a slightly edited
    /// layer) never cross a per-point threshold; pooled over many points they show. A request
    /// with at least [`POOLED_MIN_POINTS`] points fails when the geometric mean of
    /// `rel_l2 / honest median` over its points exceeds this: the honest 99.9th percentile of
    /// that mean (requests planned as in production, 16 points each) times 1.25.
    pub pooled_ratio_limit: f64,
    /// The pooled epoch statistic's honest figures ([`evidence`]).
    pub evidence: evidence::Honest,
}

/// The tiny random Qwen2 of `assay devnet` and the detection experiment (three massive
/// channels): `assay dev calibrate --requests 4000 --positions uniform` (honest miners with bf16 activations against
/// the f32 reference, 16,000 points per hidden state; pooled ratio: honest median 0.945, p99.9
/// 1.334, largest of 4,000 requests 1.431); the evidence figures from
/// `assay dev calibrate --requests 2000` (2,000 honest trials through the real path, seeds
/// disjoint from the experiment's), `z` = 1.5 × the largest standardized mean (5.020) over
/// 500,000 epochs resampled from those honest challenges (4 to 16 each).
pub const TINY_RANDOM: Calibration<'static> = Calibration {
    model: "tiny random Qwen2 (assay devnet, assay dev detect)",
    rel_l2_thresholds: &[(0.0, 4.582e-3), (0.25, 1.128e-2), (0.5, 1.561e-2), (0.75, 1.845e-2), (1.0, 1.525e-2)],
    honest_medians: &[(0.0, 1.708e-3), (0.25, 2.661e-3), (0.5, 3.551e-3), (0.75, 4.150e-3), (1.0, 3.617e-3)],
    pooled_ratio_limit: 1.667,
    evidence: evidence::Honest { mean: -0.0304, sd: 0.0896, z: 7.53 },
};

/// The tiny trained Qwen2 of `assay dev detect --trained` (host/lab/fixtures/trained): peaked
/// next-token distributions and massive channels at 24–60×, so honest noise grows with depth far
/// more than on the random model (3 to 6 × its medians from the middle on).
/// `assay dev calibrate --trained --requests 10000 --positions late` (40,000 points per hidden
/// state drawn where the challenger plans them; pooled ratio: honest median 0.938, p99.9 1.377,
/// largest of 10,000 requests 1.591; evidence over 9,980 honest trials, `z` = 1.5 × 4.592). It
/// replaced a 2,000-request table before any epoch was published with index 1.
pub const TINY_TRAINED: Calibration<'static> = Calibration {
    model: "tiny trained Qwen2 (assay dev detect --trained)",
    rel_l2_thresholds: &[(0.0, 4.740e-3), (0.25, 1.198e-2), (0.5, 2.577e-2), (0.75, 4.763e-2), (1.0, 9.376e-2)],
    honest_medians: &[(0.0, 1.243e-3), (0.25, 2.558e-3), (0.5, 4.943e-3), (0.75, 8.277e-3), (1.0, 1.586e-2)],
    pooled_ratio_limit: 1.722,
    evidence: evidence::Honest { mean: -0.0120, sd: 0.0911, z: 6.89 },
};

/// Every calibration, by the index a scorer's params select it with (`evidence.calibration`):
/// an index, once given, names the same table for good, so a published epoch keeps its meaning
/// (index 1 was re-measured once, before any epoch was published with it: decision 0012).
pub const CALIBRATIONS: [&Calibration<'static>; 2] = [&TINY_RANDOM, &TINY_TRAINED];

/// The calibration at `index` of [`CALIBRATIONS`].
pub fn by_index(index: usize) -> Option<&'static Calibration<'static>> {
    CALIBRATIONS.get(index).copied()
}

/// The pooled request test needs at least this many points.
pub const POOLED_MIN_POINTS: usize = 8;

/// Below this cosine a vector is not the model's, whatever its norm.
pub const MIN_COSINE: f64 = 0.9;

impl Calibration<'_> {
    /// Threshold for hidden state `layer` of a model with `layers` layers (0 = embeddings).
    pub fn rel_l2_threshold(&self, layer: u32, layers: u32) -> f64 {
        interpolate(self.rel_l2_thresholds, layer, layers)
    }

    /// The honest median error at hidden state `layer` of `layers`.
    pub fn honest_median(&self, layer: u32, layers: u32) -> f64 {
        interpolate(self.honest_medians, layer, layers)
    }
}

/// Linear interpolation in a (depth, value) table at hidden state `layer` of `layers`.
fn interpolate(table: &[(f64, f64)], layer: u32, layers: u32) -> f64 {
    let depth = if layers == 0 { 1.0 } else { (f64::from(layer) / f64::from(layers)).clamp(0.0, 1.0) };
    for pair in table.windows(2) {
        let ((d0, t0), (d1, t1)) = (pair[0], pair[1]);
        if depth <= d1 {
            return t0 + (t1 - t0) * (depth - d0) / (d1 - d0);
        }
    }
    table.last().map_or(f64::NAN, |row| row.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_interpolate_between_rows_and_cover_every_depth() {
        let c = &TINY_RANDOM;
        assert_eq!(c.rel_l2_threshold(0, 4), 4.582e-3);
        assert_eq!(c.rel_l2_threshold(4, 4), 1.525e-2);
        assert_eq!(c.rel_l2_threshold(9, 4), 1.525e-2, "past the last layer: the last row");
        // Halfway between the rows at 0 and 0.25.
        assert!((c.rel_l2_threshold(1, 8) - (4.582e-3 + 1.128e-2) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn every_calibration_covers_every_depth_with_positive_figures() {
        for (i, c) in CALIBRATIONS.iter().enumerate() {
            assert_eq!(by_index(i), Some(*c));
            for table in [c.rel_l2_thresholds, c.honest_medians] {
                assert_eq!(table.first().map(|r| r.0), Some(0.0), "{}", c.model);
                assert_eq!(table.last().map(|r| r.0), Some(1.0), "{}", c.model);
                assert!(table.windows(2).all(|w| w[0].0 < w[1].0), "{}: depths ascend", c.model);
            }
            for layers in [1, 4, 28] {
                for layer in 0..=layers {
                    let (t, m) = (c.rel_l2_threshold(layer, layers), c.honest_median(layer, layers));
                    assert!(
                        t.is_finite() && m.is_finite() && 0.0 < m && m < t,
                        "{}: layer {layer} of {layers}",
                        c.model
                    );
                }
            }
            assert!(c.pooled_ratio_limit > 1.0 && c.evidence.sd > 0.0 && c.evidence.z > 0.0, "{}", c.model);
        }
        assert_eq!(by_index(CALIBRATIONS.len()), None);
    }
}
