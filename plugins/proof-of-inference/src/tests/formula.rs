//! The seed's arithmetic on hand-computed cases.

use super::close;
use crate::{Bounds, BoundsRule, Rates, derive_bounds, normalized_response_time, on_fail, on_pass, shares, tan_curve};

const SEED: Rates = Rates { recovery: 0.1, decay: 0.4 };
const K: f64 = 0.9;
/// tan(0.45 π) = tan(81°): the curve's half-height before scaling.
const T: f64 = 6.31375151;

#[test]
fn tan_curve_is_zero_half_and_one_at_the_ends_and_middle() {
    close(tan_curve(0.0, K), 0.0);
    assert_eq!(tan_curve(0.5, K), 0.5); // tan(0) = 0, so T / 2T, exactly
    close(tan_curve(1.0, K), 1.0);
}

#[test]
fn tan_curve_on_hand_computed_points() {
    // x = 0.25: tan(0.9 π (0.25 - 0.5)) = tan(-0.225 π) = -tan(40.5°) = -0.85408069;
    // (-0.85408069 + T) / 2T = 5.45967082 / 12.62750303 = 0.43236345.
    assert!((tan_curve(0.25, K) - 0.43236345).abs() < 1e-8);
    // Odd symmetry of tan: tan_curve(0.75) = 1 - tan_curve(0.25) = 0.56763655.
    assert!((tan_curve(0.75, K) - 0.56763655).abs() < 1e-8);
    // x = 0.99 (the seed's cap): tan(0.9 π 0.49) = tan(79.38°) = 5.33315618;
    // (5.33315618 + T) / 2T = 11.64690769 / 12.62750303 = 0.92234448.
    assert!((tan_curve(0.99, K) - 0.92234448).abs() < 1e-8);
    // Steep near the ends, flat in the middle: the first tenth costs more than the middle fifth.
    assert!(tan_curve(0.1, K) - tan_curve(0.0, K) > tan_curve(0.6, K) - tan_curve(0.4, K));
    assert!((T - libm::tan(0.45 * std::f64::consts::PI)).abs() < 1e-8);
}

#[test]
fn response_time_is_normalized_within_the_bounds_and_capped() {
    let bounds = Bounds { min_ms: 100.0, max_ms: 600.0 };
    // (350 - 100) / (600 - 100) = 250 / 500 = 0.5.
    assert_eq!(normalized_response_time(350.0, bounds, 100.0, 0.99), 0.5);
    // Faster than the best is 0; slower than the worst is capped at 0.99.
    assert_eq!(normalized_response_time(50.0, bounds, 100.0, 0.99), 0.0);
    assert_eq!(normalized_response_time(10_000.0, bounds, 100.0, 0.99), 0.99);
    assert_eq!(normalized_response_time(f64::INFINITY, bounds, 100.0, 0.99), 0.99);
    // Bounds 500 ms apart widened to the seed's 1 s: (600 - 100) / 1000 = 0.5.
    assert_eq!(normalized_response_time(600.0, bounds, 1_000.0, 0.99), 0.5);
    // Equal bounds do not divide by zero: (100 - 100) / 1000 = 0.
    assert_eq!(normalized_response_time(100.0, Bounds { min_ms: 100.0, max_ms: 100.0 }, 1_000.0, 0.99), 0.0);
}

#[test]
fn bounds_are_the_fastest_and_the_lower_median_of_the_slowest_five_percent() {
    let rule = BoundsRule { fallback: Bounds { min_ms: 0.0, max_ms: 60_000.0 }, slow_fraction: 0.05 };
    // 3 samples: 5 % of 3 = 0.15, truncated to 0, at least 1: the slowest alone.
    assert_eq!(derive_bounds(&mut [300.0, 100.0, 200.0], &rule), Bounds { min_ms: 100.0, max_ms: 300.0 });
    // 40 samples 10, 20, ..., 400: 5 % of 40 = 2, the slowest two are 390 and 400, and the
    // lower median of two is the first (torch.median's choice).
    let mut forty: Vec<f64> = (1..=40).rev().map(|i| f64::from(i) * 10.0).collect();
    assert_eq!(derive_bounds(&mut forty, &rule), Bounds { min_ms: 10.0, max_ms: 390.0 });
    // Fewer than two samples: the fallback.
    assert_eq!(derive_bounds(&mut [250.0], &rule), rule.fallback);
    assert_eq!(derive_bounds(&mut [], &rule), rule.fallback);
    // Clamped into the fallback range: 90 s becomes the 60 s timeout.
    assert_eq!(derive_bounds(&mut [90_000.0, 200.0], &rule), Bounds { min_ms: 200.0, max_ms: 60_000.0 });
}

#[test]
fn a_pass_moves_a_tenth_of_the_way_to_the_target_and_a_fail_cuts_forty_percent() {
    // n = 4, s = 0, rt_norm = 0.5: target = 1/4 × (1 - 0.5) = 0.125; s = 0 + 0.1 × 0.125 = 0.0125.
    let s = on_pass(0.0, 4, 0.5, K, SEED);
    close(s, 0.0125);
    // A fail: 0.0125 - 0.4 × 0.0125 = 0.0075.
    close(on_fail(s, SEED), 0.0075);
    // n = 2, s = 0.3, rt_norm = 0: target = 1/2 × (1 - 0) = 0.5; s = 0.3 + 0.1 × (0.5 - 0.3) = 0.32.
    close(on_pass(0.3, 2, 0.0, K, SEED), 0.32);
    // Above its target s comes down even on a pass: n = 2, s = 0.5, rt_norm = 0.99:
    // target = 0.5 × (1 - 0.92234448) = 0.03882776; s = 0.5 + 0.1 × (0.03882776 - 0.5) = 0.45388278.
    assert!((on_pass(0.5, 2, 0.99, K, SEED) - 0.45388278).abs() < 1e-8);
    // n = 1, s = 0, rt_norm = 0.25: target = 1 - 0.43236345 = 0.56763655; s = 0.056763655.
    assert!((on_pass(0.0, 1, 0.25, K, SEED) - 0.056763655).abs() < 1e-8);
    // A fail at s = 0 stays 0.
    assert_eq!(on_fail(0.0, SEED), 0.0);
}

#[test]
fn shares_are_strength_over_the_best_to_the_fifth() {
    // 2 : 1 : 0 → 1, (1/2)^5 = 0.03125, 0.
    assert_eq!(shares(&[2.0, 1.0, 0.0], 5), vec![1.0, 0.03125, 0.0]);
    // The same with exponent 1: plain proportion to the best.
    assert_eq!(shares(&[2.0, 1.0, 0.0], 1), vec![1.0, 0.5, 0.0]);
    assert_eq!(shares(&[0.0, 0.0], 5), vec![0.0, 0.0]);
    let weights = crate::to_weights(&[(0, 1.0), (1, 0.03125), (2, 0.0)]);
    // 0.03125 × 65535 = 2047.97, rounded to 2048.
    let got: Vec<(u16, u16)> = weights.iter().map(|w| (w.uid, w.weight)).collect();
    assert_eq!(got, vec![(0, 65535), (1, 2048), (2, 0)]);
    assert!(crate::to_weights(&[(0, 0.0)]).is_empty());
}
