//! cacheon's formulas, one function each, on plain numbers.
//!
//! Owns: the arithmetic (a request's rate, medians, the correctness statistics and gate,
//! the improvements over the baseline, the competition score, the choice of winner and
//! runner-up, the pool and its shares, u16 weights). Must not touch: records or state;
//! `epoch.rs` gathers the numbers, this file only computes. Only IEEE-exact operations
//! (+, −, ×, ÷, comparisons), so the native and the wasm32 build give the same bits.

use assay_policy_sdk::Weight;

/// Time to first token and tokens per second of one `ok` request, by the validator's clock;
/// `None` when its timing cannot be read (a time that is not a finite number, negative, a total
/// shorter than the time to first token, or a rate that overflows): the validator's measurement
/// gap, not the miner's doing, so the request counts neither way.
///
/// The rate is end to end: completion tokens over the total time (0 for no tokens or no time).
/// Not constantinople's decode rate (tokens after the first over the time after the first
/// token): with only the first token's and the last byte's times, a server that buffers its
/// whole answer and sends it in one burst after the first token shows a decode time near 0 and
/// an unbounded rate, and would win every epoch on `tps_improvement` alone. End to end, the
/// burst gains nothing: the total is the same.
pub fn request_timing(completion_tokens: u32, ttft_ms: f64, total_ms: f64) -> Option<(f64, f64)> {
    if !(ttft_ms.is_finite() && total_ms.is_finite() && ttft_ms >= 0.0 && total_ms >= ttft_ms) {
        return None;
    }
    let tps =
        if completion_tokens > 0 && total_ms > 0.0 { f64::from(completion_tokens) / (total_ms / 1000.0) } else { 0.0 };
    // A total so short that the rate overflows is no measurement either.
    tps.is_finite().then_some((ttft_ms, tps))
}

/// Median (mean of the middle two for an even count); `None` when empty. The mean is taken as
/// `a/2 + b/2`, which cannot overflow and, halving being exact for normal numbers, rounds as
/// `(a + b) / 2` does.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { values[mid - 1] / 2.0 + values[mid] / 2.0 })
}

/// One checked completion token of a miner's greedy competition request, under the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedToken {
    /// 0 = the reference's greedy token.
    pub rank: u32,
    /// The reference's log-prob of the miner's token (teacher-forced on the miner's output).
    pub logprob: f64,
}

/// What the correctness gate reads of a miner's checked tokens on one task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correctness {
    pub tokens: u32,
    /// Share of tokens at rank 0: the miner's greedy output agrees with the reference's.
    pub similarity: f64,
    /// Mean of the tokens' log-probs, summed in input order.
    pub mean_logprob: f64,
    pub min_logprob: f64,
}

/// The statistics of `tokens`; `None` when there are none (nothing shows the miner correct).
pub fn correctness(tokens: &[CheckedToken]) -> Option<Correctness> {
    if tokens.is_empty() {
        return None;
    }
    let n = tokens.len() as f64;
    let greedy = tokens.iter().filter(|t| t.rank == 0).count() as f64;
    let sum: f64 = tokens.iter().map(|t| t.logprob).sum();
    let min = tokens.iter().map(|t| t.logprob).fold(f64::INFINITY, f64::min);
    Some(Correctness { tokens: tokens.len() as u32, similarity: greedy / n, mean_logprob: sum / n, min_logprob: min })
}

/// The correctness gate's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Least share of rank-0 tokens.
    pub similarity: f64,
    /// Least mean log-prob.
    pub mean_logprob: f64,
    /// Least log-prob of any one token.
    pub min_logprob: f64,
}

/// Whether the statistics meet every threshold (each at or above it). No statistics (no
/// checked token) never pass.
pub fn passes_gate(stats: Option<&Correctness>, t: &Thresholds) -> bool {
    stats.is_some_and(|s| {
        s.similarity >= t.similarity && s.mean_logprob >= t.mean_logprob && s.min_logprob >= t.min_logprob
    })
}

/// `(baseline − miner) / baseline`, at least 0; 0 when the baseline is not positive (nothing to
/// beat) or either number is not finite.
pub fn ttft_improvement(baseline_ms: f64, miner_ms: f64) -> f64 {
    improvement(baseline_ms - miner_ms, baseline_ms)
}

/// `(miner − baseline) / baseline`, at least 0; 0 when the baseline is not positive or either
/// number is not finite.
pub fn tps_improvement(baseline_tps: f64, miner_tps: f64) -> f64 {
    improvement(miner_tps - baseline_tps, baseline_tps)
}

/// `gain / baseline`, at least 0; 0 when the baseline is not positive or the ratio not finite.
fn improvement(gain: f64, baseline: f64) -> f64 {
    let ratio = gain / baseline;
    if baseline > 0.0 && ratio.is_finite() { ratio.max(0.0) } else { 0.0 }
}

/// `ttft_weight × ttft_improvement + tps_weight × tps_improvement` (the seed's 0.5 and 0.5).
pub fn competition_score(ttft_improvement: f64, tps_improvement: f64, ttft_weight: f64, tps_weight: f64) -> f64 {
    ttft_weight * ttft_improvement + tps_weight * tps_improvement
}

/// Index of the highest positive score other than `except`; ties to the lower index.
pub fn best(scores: &[f64], except: Option<usize>) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate() {
        if Some(i) == except || s.is_nan() || s <= 0.0 {
            continue;
        }
        if best.is_none_or(|b| s > scores[b]) {
            best = Some(i);
        }
    }
    best
}

/// This epoch's winner, from the fresh scores (0 for a miner that may not win: gated, failed
/// the correctness gate, or no better than the baseline). A leader with a positive fresh score
/// keeps the lead unless a challenger's fresh score exceeds the leader's × (1 + margin); a
/// leader with none loses it, and then the best score wins.
pub fn winner(scores: &[f64], leader: Option<usize>, margin: f64) -> Option<usize> {
    match leader.filter(|&l| scores.get(l).is_some_and(|&s| s > 0.0)) {
        Some(l) => match best(scores, Some(l)) {
            Some(c) if scores[c] > scores[l] * (1.0 + margin) => Some(c),
            _ => Some(l),
        },
        None => best(scores, None),
    }
}

/// `min(1, winner_score / target)`: the share of the weight the competition pays out; 0 with no
/// winner or a target that is not positive.
pub fn pool(winner_score: f64, target: f64) -> f64 {
    let ratio = winner_score / target;
    if target > 0.0 && ratio.is_finite() { ratio.clamp(0.0, 1.0) } else { 0.0 }
}

/// The winner's, the runner-up's and the burn's shares of the weight: the pool split by the
/// rewards, the rest burned (a runner-up's reward with no runner-up too).
pub fn shares(pool: f64, winner_reward: f64, runner_up_reward: f64, has_runner_up: bool) -> (f64, f64, f64) {
    let winner = pool * winner_reward;
    let runner_up = if has_runner_up { pool * runner_up_reward } else { 0.0 };
    (winner, runner_up, (1.0 - winner - runner_up).max(0.0))
}

/// Shares to u16 weights: the largest gets 65535, the others in proportion, zero stays zero (the
/// chain normalizes). Empty when no share is positive (nothing to set on chain).
pub fn to_weights(shares: &[(u16, f64)]) -> Vec<Weight> {
    let largest = shares.iter().map(|&(_, s)| s).fold(0.0_f64, f64::max);
    if largest <= 0.0 {
        return Vec::new();
    }
    shares
        .iter()
        // In [0, 65535] by construction; `as` saturates anyway.
        .map(|&(uid, s)| Weight { uid, weight: (s.max(0.0) / largest * 65535.0).round() as u16 })
        .collect()
}
