//! Per-layer hidden-state thresholds: the calibration data this policy ships with.
//!
//! Relative L2 error of an honest miner's vector against the validator's reference grows with
//! depth, so the threshold is a function of relative depth `layer / layers`, interpolated
//! linearly between the rows below. Source of these rows: honest bf16 compute against an f32
//! reference on a random Qwen2 (FACTS.md, "Verification noise"): median 1.5e-3 at the
//! embeddings, 4.3e-3 after the first of six layers, 8.0e-3 at the last; each threshold is three
//! times that median. A recalibration from honest runs replaces this table and, with it, the
//! policy's hash.

/// (relative depth, relative L2 threshold), depth ascending, first row at 0 and last at 1.
pub const REL_L2_THRESHOLDS: &[(f64, f64)] = &[(0.0, 4.5e-3), (1.0 / 6.0, 1.29e-2), (1.0, 2.4e-2)];

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
    fn thresholds_interpolate_and_grow_with_depth() {
        assert_eq!(rel_l2_threshold(0, 6), 4.5e-3);
        assert!((rel_l2_threshold(1, 6) - 1.29e-2).abs() < 1e-12);
        assert_eq!(rel_l2_threshold(6, 6), 2.4e-2);
        assert_eq!(rel_l2_threshold(9, 6), 2.4e-2);
        let mut last = 0.0;
        for layer in 0..=28 {
            let t = rel_l2_threshold(layer, 28);
            assert!(t >= last, "threshold falls at layer {layer}");
            last = t;
        }
    }
}
