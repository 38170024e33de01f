//! The seed's arithmetic, one function per step: the tangent curve, the normalized response
//! time and its bounds, the moving-average update on a pass and on a failure, and the weights.
//!
//! Owns: numbers in, numbers out. Must not touch: records, parameters by name or the state blob
//! (`lib.rs` and `state.rs` hold those). `tan` comes from `libm`, so these functions give the
//! same bits natively and in wasm32.

use assay_policy_sdk::Weight;

/// The seed's normalized tangent curve: `tan(k·π·(x − ½))` shifted and scaled so that
/// `tan_curve(0) = 0`, `tan_curve(½) = ½` and `tan_curve(1) = 1`. `k` (the seed's flattening
/// coefficient, 0.9) keeps the tangent away from its poles; the curve is steep near both ends
/// and flat in the middle, so small differences among the fastest provers matter most.
pub fn tan_curve(x: f64, flattening: f64) -> f64 {
    let shifted = |x: f64| libm::tan(core::f64::consts::PI * (x - 0.5) * flattening);
    (shifted(x) - shifted(0.0)) / (shifted(1.0) - shifted(0.0))
}

/// The response times a prover is measured against: `min_ms` is the best, `max_ms` the worst
/// that still earns something.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min_ms: f64,
    pub max_ms: f64,
}

/// How the seed derives [`Bounds`] from what it has seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundsRule {
    /// The bounds with fewer than two samples, and the range derived bounds are clamped to
    /// (the seed: 0 and its circuit timeout, 60 s).
    pub fallback: Bounds,
    /// The slowest fraction of samples whose median is the upper bound (the seed: 5 %).
    pub slow_fraction: f64,
}

/// The seed's bounds from verified response times (one per prover): the fastest, and the lower
/// median (as `torch.median` takes it) of the slowest `slow_fraction` of them (at least one),
/// both clamped into the fallback range. Fewer than two samples give the fallback.
pub fn derive_bounds(samples_ms: &mut [f64], rule: &BoundsRule) -> Bounds {
    if samples_ms.len() < 2 {
        return rule.fallback;
    }
    samples_ms.sort_unstable_by(f64::total_cmp);
    // `as usize` truncates like the seed's `int(...)`; the fraction is in [0, 1].
    let slow = ((samples_ms.len() as f64 * rule.slow_fraction) as usize).max(1);
    let slowest = &samples_ms[samples_ms.len() - slow..];
    let lower_median = slowest[(slowest.len() - 1) / 2];
    let clamp = |v: f64| v.clamp(rule.fallback.min_ms, rule.fallback.max_ms);
    Bounds { min_ms: clamp(samples_ms[0]), max_ms: clamp(lower_median) }
}

/// The response time as a fraction of the bounds, clamped to `[0, max_norm]` (the seed: 0.99, so
/// even the slowest verified proof keeps a little of its reward). Bounds narrower than
/// `min_span_ms` are widened to it (the seed: 1 s), which also avoids a division by zero.
pub fn normalized_response_time(response_ms: f64, bounds: Bounds, min_span_ms: f64, max_norm: f64) -> f64 {
    let span = (bounds.max_ms - bounds.min_ms).max(min_span_ms);
    let x = (response_ms - bounds.min_ms) / span;
    // NaN (an infinite time over an infinite span cannot happen: the bounds are finite) clamps high.
    if x.is_nan() { max_norm } else { x.clamp(0.0, max_norm) }
}

/// The moving-average rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Share of the distance to the target recovered per verified proof (the seed: 0.1).
    pub recovery: f64,
    /// Share of the score lost per failed proof (the seed: 0.4).
    pub decay: f64,
}

/// A verified proof: `s += recovery × (1/n × (1 − tan_curve(rt_norm)) − s)`.
pub fn on_pass(s: f64, n: usize, rt_norm: f64, flattening: f64, rates: Rates) -> f64 {
    let target = (1.0 / n.max(1) as f64) * (1.0 - tan_curve(rt_norm, flattening));
    s + rates.recovery * (target - s)
}

/// A failed proof: `s −= decay × s`.
pub fn on_fail(s: f64, rates: Rates) -> f64 {
    s - rates.decay * s
}

/// `x^exponent` by repeated multiplication: `powi` may round differently per platform.
pub fn power(x: f64, exponent: u32) -> f64 {
    (0..exponent).fold(1.0, |acc, _| acc * x)
}

/// Weight shares: each strength (`s × capacity`, 0 for a miner not weighted this epoch) over the
/// best one, raised to `exponent`. Dividing first keeps `x^5` within range whatever the units.
/// All zero when no strength is positive.
pub fn shares(strengths: &[f64], exponent: u32) -> Vec<f64> {
    let best = strengths.iter().copied().filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    strengths
        .iter()
        .map(|&v| if best > 0.0 && v.is_finite() && v > 0.0 { power(v / best, exponent) } else { 0.0 })
        .collect()
}

/// Shares to u16 weights: the best gets 65535, rounded half away from zero. Empty when no share
/// is positive (nothing to set on chain).
pub fn to_weights(shares: &[(u16, f64)]) -> Vec<Weight> {
    if !shares.iter().any(|&(_, s)| s > 0.0) {
        return Vec::new();
    }
    // Shares are in [0, 1] with the best at exactly 1; `as` saturates anyway.
    shares.iter().map(|&(uid, s)| Weight { uid, weight: (s.clamp(0.0, 1.0) * 65535.0).round() as u16 }).collect()
}
