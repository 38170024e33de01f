//! Per-layer hidden-state thresholds: the calibration data this policy ships with.
//!
//! Relative L2 error of an honest miner's vector against the validator's reference depends on
//! depth, so the threshold is a function of relative depth `layer / layers`, interpolated
//! linearly between the rows below. Source of these rows: `assay dev calibrate --requests 4000`
//! (honest miners with bf16 activations against the f32 reference, on the tiny Qwen2 family of
//! `assay devnet` and the detection experiment, 16,000 points per hidden state): each threshold
//! is the honest 99.9th percentile times 1.5. The attacks played no part in choosing them
//! (docs/verification.md). A real model needs its own calibration (on the GPU reference); a new
//! table is a new policy, with a new hash.

/// (relative depth, relative L2 threshold), depth ascending, first row at 0 and last at 1.
pub const REL_L2_THRESHOLDS: &[(f64, f64)] =
    &[(0.0, 4.582e-3), (0.25, 1.128e-2), (0.5, 1.561e-2), (0.75, 1.845e-2), (1.0, 1.525e-2)];

/// Below this cosine a vector is not the model's, whatever its norm.
pub const MIN_COSINE: f64 = 0.9;

/// Threshold for hidden state `layer` of a model with `layers` layers (0 = embeddings).
pub fn rel_l2_threshold(layer: u32, layers: u32) -> f64 {
    let depth = if layers == 0 { 1.0 } else { (f64::from(layer) / f64::from(layers)).clamp(0.0, 1.0) };
    let table = REL_L2_THRESHOLDS;
    for pair in table.windows(2) {
        let ((d0, t0), (d1, t1)) = (pair[0], pair[1]);
        if depth <= d1 {
            return t0 + (t1 - t0) * (depth - d0) / (d1 - d0);
        }
    }
    table[table.len() - 1].1
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
