//! nineteen's formulas, one function each, on plain numbers.
//!
//! Owns: the arithmetic (period score, a checked request's quality, the quality average, the
//! speed metric and bonus, the decayed period score, the per-task shares, u16 weights).
//! Must not touch: records or state; `epoch.rs` gathers the numbers, this file only computes.
//! Only IEEE-exact operations (+, −, ×, ÷, sqrt) and [`exp`] written out here, so the native
//! and the wasm32 build give the same bits (a libm's `pow` or `exp` may differ in the last place
//! between platforms, or use FMA on one and not the other).

use assay_policy_sdk::Weight;

/// What the validator's requests to one miner for one task gave in one scoring period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeriodCounts {
    /// Requests that count: every outcome but `cancelled` (the client left: nobody's verdict).
    pub requests: u32,
    /// Answered 429.
    pub rate_limited: u32,
    /// 5xx, broken stream, timeout or unparseable answer: the seed's "500" bucket.
    pub server_errors: u32,
    /// Completion tokens of the `ok` requests: the capacity consumed.
    pub consumed: f64,
}

/// `good × (1 − r429 × unqueried) × (1 − r500 × unqueried)²`, where `unqueried` is the share of
/// the declared capacity the period did not consume. `None` when nothing was asked or nothing
/// declared: such a period enters no history (the seed stores no score for it either).
pub fn period_score(counts: &PeriodCounts, capacity: f64) -> Option<f64> {
    if counts.requests == 0 || capacity <= 0.0 {
        return None;
    }
    let unqueried = (capacity - counts.consumed).max(0.0) / capacity;
    let total = f64::from(counts.requests);
    let r429 = f64::from(counts.rate_limited) / total;
    let r500 = f64::from(counts.server_errors) / total;
    let good =
        f64::from(counts.requests.saturating_sub(counts.rate_limited).saturating_sub(counts.server_errors)) / total;
    let server_factor = 1.0 - r500 * unqueried;
    Some((good * (1.0 - r429 * unqueried) * server_factor * server_factor).max(0.0))
}

/// The seed's thresholds for a checked request's tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenRules {
    /// A token passes when its rank under the reference is below this (0 = the reference's top).
    pub max_rank: u32,
    /// More failed tokens than this and the request's quality is 0.
    pub max_failed: u32,
    /// Mean probability distance at or under which the quality is 1.
    pub distance_full: f64,
    /// Above `distance_full` the quality falls linearly to 0.5 here, and is 0 beyond.
    pub distance_zero: f64,
}

/// One token of a checked request: its rank under the reference, the reference's log-prob of
/// it, and of the reference's own top token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedToken {
    pub rank: u32,
    pub logprob: f64,
    pub top_logprob: f64,
}

/// Most positions whose probability distance is judged (the seed's `MAX_CHECKS`).
pub const CHECKED_POSITIONS: usize = 5;
/// Most failed positions among them (the seed's `failed_tokens_idx[:3]`).
pub const CHECKED_FAILED_POSITIONS: usize = 3;

/// Quality of one checked greedy request in [0, 1], `None` when the check cannot judge it (no
/// tokens, or a log-prob that is not a finite number: the validator's gap, not the miner's).
/// 0 with more than `max_failed` tokens at or past rank `max_rank`; otherwise the score of the
/// mean probability distance over the positions [`check_positions`] picks.
pub fn request_quality(tokens: &[CheckedToken], rules: &TokenRules) -> Option<f64> {
    if tokens.is_empty() || tokens.iter().any(|t| !(t.logprob.is_finite() && t.top_logprob.is_finite())) {
        return None;
    }
    let failed: Vec<usize> = (0..tokens.len()).filter(|&i| tokens[i].rank >= rules.max_rank).collect();
    if failed.len() > rules.max_failed as usize {
        return Some(0.0);
    }
    let positions = check_positions(tokens.len(), &failed);
    let total: f64 = positions.iter().map(|&i| token_distance(tokens[i].logprob, tokens[i].top_logprob)).sum();
    Some(distance_score(total / positions.len() as f64, rules))
}

/// The positions of `n` tokens whose distance is judged, as the seed picks them: the first, the
/// last, the first [`CHECKED_FAILED_POSITIONS`] of `failed` (ascending), then positions evenly
/// spaced among the rest, up to [`CHECKED_POSITIONS`] in all, each once. The seed draws the
/// rest at random; here the `i`-th of `k` extra positions (i = 1..=k) is the one at index
/// ⌊i × m / (k + 1)⌋ of the `m` remaining positions, ascending, so the choice is reproducible.
pub fn check_positions(n: usize, failed: &[usize]) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(CHECKED_POSITIONS);
    let fixed = [0, n.saturating_sub(1)].into_iter().chain(failed.iter().copied().take(CHECKED_FAILED_POSITIONS));
    for i in fixed {
        if i < n && !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    let rest: Vec<usize> = (0..n).filter(|i| !chosen.contains(i)).collect();
    let k = CHECKED_POSITIONS.saturating_sub(chosen.len()).min(rest.len());
    chosen.extend((1..=k).map(|i| rest[i * rest.len() / (k + 1)]));
    chosen
}

/// How much more probability the reference gave its own top token than the miner's token, at
/// most 1. Under greedy decoding an honest miner's token is its top token, so this is the
/// seed's |p_reference − p_miner| for the token the miner chose.
pub fn token_distance(logprob: f64, top_logprob: f64) -> f64 {
    let gap = (exp(top_logprob) - exp(logprob)).abs();
    if gap.is_nan() { 1.0 } else { gap.min(1.0) }
}

/// The seed's distance score: 1 up to `distance_full`, then linearly down to 0.5 at
/// `distance_zero`, 0 beyond.
pub fn distance_score(mean_distance: f64, rules: &TokenRules) -> f64 {
    if mean_distance <= rules.distance_full {
        1.0
    } else if mean_distance <= rules.distance_zero {
        1.0 - 0.5 * (mean_distance - rules.distance_full) / (rules.distance_zero - rules.distance_full)
    } else {
        0.0
    }
}

/// mean(q^1.5) over the qualities, squared when at or under `square_below`; `None` when empty.
pub fn average_quality(qualities: impl ExactSizeIterator<Item = f64>, square_below: f64) -> Option<f64> {
    let n = qualities.len();
    if n == 0 {
        return None;
    }
    let sum: f64 = qualities.map(|q| q.clamp(0.0, 1.0)).map(|q| q * q.sqrt()).sum();
    let mean = sum / n as f64;
    Some(if mean <= square_below { mean * mean } else { mean })
}

/// The `percentile` (0..1) of the speed metrics: the value at index ⌊n × percentile⌋ of the
/// sorted values, as the seed takes it; `None` when empty.
pub fn speed_metric(metrics: &mut [f64], percentile: f64) -> Option<f64> {
    if metrics.is_empty() {
        return None;
    }
    metrics.sort_unstable_by(f64::total_cmp);
    let at = ((metrics.len() as f64 * percentile) as usize).min(metrics.len() - 1);
    Some(metrics[at])
}

/// Speed bonuses by rank: the fastest gets `+spread / 2`, the slowest `−spread / 2`, evenly
/// between; a lone miner gets 0. Equal metrics keep the input order (ascending uid).
pub fn speed_bonuses(metrics: &[f64], spread: f64) -> Vec<f64> {
    let n = metrics.len();
    let mut bonuses = vec![0.0; n];
    if n <= 1 {
        return bonuses;
    }
    let mut order: Vec<usize> = (0..n).collect();
    // Stable: ties keep ascending index.
    order.sort_by(|&a, &b| metrics[b].total_cmp(&metrics[a]));
    for (rank, &i) in order.iter().enumerate() {
        bonuses[i] = spread * (0.5 - rank as f64 / (n - 1) as f64);
    }
    bonuses
}

/// One scoring period as the history keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// In [0, 1]; f32 as the state keeps it.
    pub score: f32,
    /// Completion tokens the period consumed.
    pub consumed: f32,
}

/// How earlier periods fade, and how long a new miner waits for full credit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decay {
    /// Period `i` back (0 = this one) weighs `(1 − decay)^i`.
    pub decay: f64,
    /// With no more periods than this the result is multiplied by `new_multiplier`.
    pub min_periods: usize,
    pub new_multiplier: f64,
}

/// Volume-weighted, time-decayed mean of the period scores (newest first), times the new
/// miner multiplier; 0 when the periods consumed nothing.
pub fn decayed_period_score(history: &[Period], decay: &Decay) -> f64 {
    let mut weighted = 0.0;
    let mut weights = 0.0;
    let mut time_weight = 1.0;
    for period in history {
        let weight = f64::from(period.consumed) * time_weight;
        weighted += f64::from(period.score) * weight;
        weights += weight;
        time_weight *= 1.0 - decay.decay;
    }
    if weights <= 0.0 {
        return 0.0;
    }
    let multiplier = if history.len() > decay.min_periods { 1.0 } else { decay.new_multiplier };
    multiplier * weighted / weights
}

/// Effective volumes to shares of a task: normalize, raise to `exponent`, normalize again. All
/// zero when no volume is positive.
pub fn task_shares(volumes: &[f64], exponent: u32) -> Vec<f64> {
    let normalized = normalize(volumes);
    let raised: Vec<f64> = normalized.iter().map(|&v| powi(v, exponent)).collect();
    normalize(&raised)
}

fn normalize(values: &[f64]) -> Vec<f64> {
    let sum: f64 = values.iter().map(|v| v.max(0.0)).sum();
    if sum <= 0.0 {
        return vec![0.0; values.len()];
    }
    values.iter().map(|v| v.max(0.0) / sum).collect()
}

/// `x^n` by repeated squaring: exact operations only.
pub fn powi(x: f64, n: u32) -> f64 {
    let (mut base, mut n, mut acc) = (x, n, 1.0);
    while n > 0 {
        if n & 1 == 1 {
            acc *= base;
        }
        base *= base;
        n >>= 1;
    }
    acc
}

/// `e^x` from exact operations: `x = k·ln2 + r` with |r| ≤ ln2/2, a degree-13 Taylor series of
/// `e^r` (error under 1e-15 relative), scaled by `2^k`. Only non-positive `x` matter here
/// (log-probabilities), but any finite `x` works; NaN gives NaN.
pub fn exp(x: f64) -> f64 {
    // ln 2 split as fdlibm does: the high part has trailing zero bits, so `k × LN2_HI` is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    if x.is_nan() {
        return x;
    }
    if x < -745.2 {
        return 0.0;
    }
    if x > 709.7 {
        return f64::INFINITY;
    }
    let k = (x / std::f64::consts::LN_2).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=13 {
        term = term * r / f64::from(i);
        sum += term;
    }
    // 2^k in two steps so that k down to -1075 stays representable along the way.
    let k = k as i32;
    let half = k / 2;
    sum * two_to(half) * two_to(k - half)
}

/// `2^k` for -1022 ≤ k ≤ 1023.
fn two_to(k: i32) -> f64 {
    f64::from_bits(((i64::from(k) + 1023) as u64) << 52)
}

/// Scores to u16 weights: the best gets 65535, zero stays zero (constantinople's convention).
/// Empty when no score is positive (nothing to set on chain).
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
