//! The 95 % confidence interval the detection experiment prints beside each rate (Wilson's score
//! interval). Owns only the arithmetic; must not touch how trials are run or counted.

/// The standard normal quantile of 0.975: a two-sided 95 % interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Wilson's 95 % score interval for `successes` of `trials`, as fractions `(low, high)`; `None`
/// for no trials. Chosen over the normal approximation because the experiment's rates sit at
/// 0 % and 100 %, where that one collapses to a width of zero.
pub fn wilson_95(successes: usize, trials: usize) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// `[low, high]` in percent with one decimal, or `[–]` for no trials.
pub fn format_95(successes: usize, trials: usize) -> String {
    match wilson_95(successes, trials) {
        Some((low, high)) => format!("[{:.1}, {:.1}]", low * 100.0, high * 100.0),
        None => "[–]".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(successes: usize, trials: usize, low: f64, high: f64) {
        let (l, h) = wilson_95(successes, trials).expect("trials");
        assert!((l - low).abs() < 1e-6 && (h - high).abs() < 1e-6, "{successes}/{trials}: ({l}, {h})");
    }

    #[test]
    fn wilson_intervals_match_hand_computed_values() {
        // z² = 3.841459. 0 of 100: denominator 1 + z²/100 = 1.0384146, center = (z²/200) / 1.0384146
        // = 0.0184967, half = z / 1.0384146 × sqrt(z² / 40000) = 1.8874587 × 0.0097998 = 0.0184967:
        // (0, 0.0369935).
        check(0, 100, 0.0, 0.036_993_5);
        // 100 of 100 mirrors it: (1 − 0.0369935, 1).
        check(100, 100, 0.963_006_5, 1.0);
        // 5 of 10: center 0.5; half = z / 1.3841459 × sqrt(0.025 + z²/400) = 1.4159979 × 0.1860205
        // = 0.2634069: (0.2365931, 0.7634069).
        check(5, 10, 0.236_593_1, 0.763_406_9);
        assert_eq!(wilson_95(0, 0), None);
        assert_eq!(format_95(5, 10), "[23.7, 76.3]");
        assert_eq!(format_95(0, 0), "[–]");
    }
}
