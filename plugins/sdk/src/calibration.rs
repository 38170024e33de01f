//! Per-layer hidden-state calibration: the honest-noise figures the challenger policy judges
//! requests with and the scorer's pooled epoch gate ([`evidence`]) weighs a miner's epoch with.
//!
//! One definition for both policies, so the two can never disagree about what honest noise is.
//! Relative L2 error of an honest miner's vector against the validator's reference depends on
//! depth, so each figure is a function of relative depth `layer / layers`, interpolated
//! linearly between the rows below. Source of these rows: `assay dev calibrate --requests 4000`
//! (honest miners with bf16 activations against the f32 reference, on the tiny Qwen2 family of
//! `assay devnet` and the detection experiment, 16,000 points per hidden state): each threshold
//! is the honest 99.9th percentile times 1.5. The attacks played no part in choosing them
//! (docs/verification.md). A real model needs its own calibration (on the GPU reference); a new
//! table is a new policy, with a new hash.

pub mod evidence;

/// (relative depth, relative L2 threshold), depth ascending, first row at 0 and last at 1.
pub const REL_L2_THRESHOLDS: &[(f64, f64)] =
    &[(0.0, 4.582e-3), (0.25, 1.128e-2), (0.5, 1.561e-2), (0.75, 1.845e-2), (1.0, 1.525e-2)];

/// (relative depth, honest median relative L2), from the same calibration run.
pub const HONEST_MEDIANS: &[(f64, f64)] =
    &[(0.0, 1.708e-3), (0.25, 2.661e-3), (0.5, 3.551e-3), (0.75, 4.150e-3), (1.0, 3.617e-3)];

/// Errors a little above honest noise at every point (int8 weights, a slightly edited layer)
/// never cross a per-point threshold; pooled over many points they show. A request with at least
/// `POOLED_MIN_POINTS` points fails when the geometric mean of `rel_l2 / honest median` over its
/// points exceeds `POOLED_RATIO_LIMIT`: the honest 99.9th percentile of that mean (requests
/// planned as in production, 16 points each) times 1.25, from `assay dev calibrate` (honest
/// median 0.945, p99.9 1.334, largest of 4,000 requests 1.431).
pub const POOLED_RATIO_LIMIT: f64 = 1.667;
pub const POOLED_MIN_POINTS: usize = 8;

/// Below this cosine a vector is not the model's, whatever its norm.
pub const MIN_COSINE: f64 = 0.9;

/// Linear interpolation in a (depth, value) table at hidden state `layer` of `layers`.
fn interpolate(table: &[(f64, f64)], layer: u32, layers: u32) -> f64 {
    let depth = if layers == 0 { 1.0 } else { (f64::from(layer) / f64::from(layers)).clamp(0.0, 1.0) };
    for pair in table.windows(2) {
        let ((d0, t0), (d1, t1)) = (pair[0], pair[1]);
        if depth <= d1 {
            return t0 + (t1 - t0) * (depth - d0) / (d1 - d0);
        }
    }
    table[table.len() - 1].1
}

/// Threshold for hidden state `layer` of a model with `layers` layers (0 = embeddings).
pub fn rel_l2_threshold(layer: u32, layers: u32) -> f64 {
    interpolate(REL_L2_THRESHOLDS, layer, layers)
}

/// The honest median error at hidden state `layer` of `layers`.
pub fn honest_median(layer: u32, layers: u32) -> f64 {
    interpolate(HONEST_MEDIANS, layer, layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_interpolate_between_rows_and_cover_every_depth() {
        assert_eq!(rel_l2_threshold(0, 4), 4.582e-3);
        assert_eq!(rel_l2_threshold(4, 4), 1.525e-2);
        assert_eq!(rel_l2_threshold(9, 4), 1.525e-2, "past the last layer: the last row");
        // Halfway between the rows at 0 and 0.25.
        assert!((rel_l2_threshold(1, 8) - (4.582e-3 + 1.128e-2) / 2.0).abs() < 1e-12);
        for layers in [1, 4, 28] {
            for layer in 0..=layers {
                let t = rel_l2_threshold(layer, layers);
                assert!(t.is_finite() && t > 0.0, "layer {layer} of {layers}");
            }
        }
        assert_eq!(REL_L2_THRESHOLDS.first().map(|r| r.0), Some(0.0));
        assert_eq!(REL_L2_THRESHOLDS.last().map(|r| r.0), Some(1.0));
    }
}
