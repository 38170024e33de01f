//! Turning measurements into a verdict.

use assay_policy_sdk::{Judgement, Measurements, Opening, PointMeasurement, TokenMeasurement, Verdict};

use crate::calibration::{Calibration, MIN_COSINE, POOLED_MIN_POINTS};

/// The fixed rules of the judge, besides the per-layer thresholds.
pub mod rules {
    /// Error above this many thresholds fails when another point of the request is past its
    /// threshold too (or alone past [`LONE_FAIL_FACTOR`]); between one and this, the point voids.
    pub const FAIL_FACTOR: f64 = 2.0;
    /// A point alone past
    /// `FAIL_FACTOR` voids unless it is past this many thresholds: honest bf16 drift has a heavy
    /// tail at single points (`assay dev calibrate` prints the largest honest point and how
    /// often a point past `FAIL_FACTOR` came alone), a model that is not the served one drifts
    /// everywhere.
    pub const LONE_FAIL_FACTOR: f64 = 4.0;
    /// A greedy token that is not the reference's top one counts as a mismatch only when the
    /// reference prefers its top token by more than this (nats): near-ties are precision noise.
    pub const GREEDY_MARGIN: f64 = 0.5;
    /// Mismatches allowed per greedy completion: this fraction of its tokens, at least one.
    pub const GREEDY_MISMATCH_FRACTION: f64 = 0.02;
    /// A sampled token this unlikely under the reference fails the request on its own.
    pub const LOGPROB_FLOOR: f64 = -13.0;
    /// Sampled tokens below this count as unlikely...
    pub const UNLIKELY_LOGPROB: f64 = -8.0;
    /// ...and more than this fraction of them fails the request.
    pub const UNLIKELY_FRACTION: f64 = 0.05;
}

/// A token that is not the reference's top one, and not by a near-tie ([`rules::GREEDY_MARGIN`]).
fn clear_mismatch(t: &TokenMeasurement) -> bool {
    t.rank > 0 && t.top_logprob - t.logprob > rules::GREEDY_MARGIN
}

/// What a request's hidden-state points say on their own.
enum Points {
    Within,
    /// A precision disagreement or an uncorroborated outlier: not the miner's fault for sure.
    Void(String),
    Fail(String),
    /// A point past the model's layers: the validator asked for something that does not exist.
    PastModel(String),
}

fn describe(p: &PointMeasurement, threshold: f64) -> String {
    format!(
        "layer {} position {}: rel-l2 {:.3e} (threshold {:.3e}), cosine {:.4}",
        p.layer, p.position, p.rel_l2, threshold, p.cosine
    )
}

/// The per-point rules: a non-finite vector or a cosine below [`MIN_COSINE`] fails; the largest
/// error past [`rules::LONE_FAIL_FACTOR`] thresholds fails, past [`rules::FAIL_FACTOR`] fails
/// when a second point is past its threshold and voids when alone; any point past its threshold
/// voids.
fn judge_points(m: &Measurements, calibration: &Calibration) -> Points {
    use rules::*;
    // The point farthest past its threshold, in thresholds, and how many are past one.
    let mut worst: Option<(f64, &PointMeasurement, f64)> = None;
    let mut past = 0;
    for p in &m.points {
        if p.layer > m.layers {
            return Points::PastModel(format!("layer {} is past the model's {}", p.layer, m.layers));
        }
        if !p.rel_l2.is_finite() || !p.cosine.is_finite() {
            return Points::Fail(format!("non-finite hidden state at layer {} position {}", p.layer, p.position));
        }
        let threshold = calibration.rel_l2_threshold(p.layer, m.layers);
        if p.cosine < MIN_COSINE {
            return Points::Fail(format!("hidden state at {}", describe(p, threshold)));
        }
        let ratio = p.rel_l2 / threshold;
        past += usize::from(ratio > 1.0);
        if worst.is_none_or(|(r, _, _)| ratio > r) {
            worst = Some((ratio, p, threshold));
        }
    }
    match worst {
        Some((ratio, p, threshold)) if ratio > LONE_FAIL_FACTOR || (ratio > FAIL_FACTOR && past > 1) => {
            Points::Fail(format!(
                "hidden state at {} ({past} of {} points past their thresholds)",
                describe(p, threshold),
                m.points.len()
            ))
        }
        Some((ratio, p, threshold)) if ratio > FAIL_FACTOR => Points::Void(format!(
            "lone outlier at {}; every other point within its threshold (honest drift has a heavy tail)",
            describe(p, threshold)
        )),
        Some((ratio, p, threshold)) if ratio > 1.0 => {
            Points::Void(format!("precision disagreement at {}", describe(p, threshold)))
        }
        _ => Points::Within,
    }
}

fn verdict(verdict: Verdict, reason: String) -> Judgement {
    Judgement { verdict, reason }
}

/// The verdict on `m` under `calibration`, the served model's honest-noise figures.
pub fn judge(m: &Measurements, calibration: &Calibration) -> Judgement {
    use rules::*;
    match m.opening {
        Opening::Verified => {}
        Opening::Missed => return verdict(Verdict::Fail, "opening missed its window".into()),
        Opening::Invalid => {
            return verdict(Verdict::Fail, "opening did not verify against the commitment".into());
        }
    }
    if !m.prompt_match {
        return verdict(Verdict::Fail, "prompt tokens differ from the chat template".into());
    }
    if m.points.is_empty() && m.tokens.is_empty() {
        return verdict(Verdict::Void, "nothing was measured".into());
    }

    let void_reason = match judge_points(m, calibration) {
        Points::Within => None,
        Points::Void(reason) => Some(reason),
        Points::Fail(reason) => return verdict(Verdict::Fail, reason),
        Points::PastModel(reason) => return verdict(Verdict::Void, reason),
    };

    if m.points.len() >= POOLED_MIN_POINTS {
        let mean_log: f64 = m
            .points
            .iter()
            .map(|p| (p.rel_l2.max(1e-12) / calibration.honest_median(p.layer, m.layers)).ln())
            .sum::<f64>()
            / m.points.len() as f64;
        let ratio = mean_log.exp();
        let limit = calibration.pooled_ratio_limit;
        if ratio > limit {
            return verdict(
                Verdict::Fail,
                format!(
                    "hidden states are {ratio:.2}× the honest error over {} points (limit {limit:.2}×)",
                    m.points.len()
                ),
            );
        }
    }

    if m.eos_skipped {
        // Where the reference's top token was end-of-sequence the miner's token has rank > 0. When
        // every such token of the completion is a near-tie, the skipped end may be one of them:
        // bf16 against f32 flips near-ties, so an honest miner can run on there.
        if !m.tokens.iter().any(clear_mismatch) {
            return verdict(Verdict::Void, "the reference's end of sequence, skipped, was a near-tie".into());
        }
        return verdict(Verdict::Fail, "completion ran past the reference's end of sequence".into());
    }
    let n = m.tokens.len();
    if m.tokens.iter().any(|t| t.logprob.is_nan() || t.top_logprob.is_nan()) {
        return verdict(Verdict::Fail, "non-finite token log-prob".into());
    }
    if m.greedy {
        let mismatches = m.tokens.iter().filter(|t| clear_mismatch(t)).count();
        let allowed = ((n as f64 * GREEDY_MISMATCH_FRACTION) as usize).max(1);
        if mismatches > allowed {
            return verdict(
                Verdict::Fail,
                format!("{mismatches} of {n} greedy tokens are not the reference's choice (allowed {allowed})"),
            );
        }
    } else {
        if let Some(t) = m.tokens.iter().find(|t| t.logprob < LOGPROB_FLOOR) {
            return verdict(
                Verdict::Fail,
                format!("a sampled token has log-prob {:.2} under the reference", t.logprob),
            );
        }
        let unlikely = m.tokens.iter().filter(|t| t.logprob < UNLIKELY_LOGPROB).count();
        if n > 0 && unlikely as f64 > UNLIKELY_FRACTION * n as f64 {
            return verdict(
                Verdict::Fail,
                format!("{unlikely} of {n} sampled tokens are below {UNLIKELY_LOGPROB} nats"),
            );
        }
    }

    match void_reason {
        Some(reason) => verdict(Verdict::Void, reason),
        None => verdict(Verdict::Pass, format!("{} points within thresholds, {n} tokens consistent", m.points.len())),
    }
}

#[cfg(test)]
mod tests {
    use assay_policy_sdk::TokenMeasurement;

    use super::*;
    use crate::calibration::TINY_RANDOM;

    fn honest() -> Measurements {
        Measurements {
            request_id: 1,
            uid: 0,
            greedy: true,
            opening: Opening::Verified,
            layers: 28,
            points: vec![
                PointMeasurement { layer: 28, position: 10, rel_l2: 0.01, cosine: 0.9999 },
                PointMeasurement { layer: 3, position: 4, rel_l2: 0.005, cosine: 0.9999 },
            ],
            tokens: (0..100).map(|_| TokenMeasurement { rank: 0, logprob: -0.1, top_logprob: -0.1 }).collect(),
            prompt_match: true,
            eos_skipped: false,
        }
    }

    fn check(m: Measurements, expected: Verdict, reason_contains: &str) {
        let j = judge(&m, &TINY_RANDOM);
        assert_eq!(j.verdict, expected, "{}", j.reason);
        assert!(j.reason.contains(reason_contains), "reason {:?} lacks {:?}", j.reason, reason_contains);
    }

    /// `n` points spread over a 4-layer model, each at `ratio` times the honest median.
    fn pooled(n: u32, ratio: f64) -> Measurements {
        let points = (0..n)
            .map(|i| {
                let layer = 1 + i % 4;
                let rel_l2 = ratio * TINY_RANDOM.honest_median(layer, 4);
                PointMeasurement { layer, position: i, rel_l2, cosine: 0.9999 }
            })
            .collect();
        Measurements { layers: 4, points, ..honest() }
    }

    #[test]
    fn errors_consistently_above_honest_noise_fail_when_pooled() {
        check(pooled(16, 1.0), Verdict::Pass, "within thresholds");
        check(pooled(16, 1.5), Verdict::Pass, "within thresholds");
        // Twice the honest median is under every per-point threshold, but not pooled.
        check(pooled(16, 2.0), Verdict::Fail, "the honest error over 16 points");
        // Too few points to pool: per-point rules only.
        check(pooled(4, 2.0), Verdict::Pass, "within thresholds");
    }

    #[test]
    fn a_point_far_past_its_threshold_fails_only_when_corroborated_or_beyond_the_lone_factor() {
        let last = TINY_RANDOM.rel_l2_threshold(28, 28);
        let early = TINY_RANDOM.rel_l2_threshold(3, 28);
        let mut m = honest();
        m.points[0].rel_l2 = 3.0 * last;
        check(m.clone(), Verdict::Void, "lone outlier at layer 28");
        m.points[1].rel_l2 = 1.2 * early;
        check(m.clone(), Verdict::Fail, "2 of 2 points past their thresholds");
        let mut m = honest();
        m.points[0].rel_l2 = 1.01 * rules::LONE_FAIL_FACTOR * last;
        check(m.clone(), Verdict::Fail, "1 of 2 points past their thresholds");
        // A point at a layer past the model is the validator's own mistake: void, whatever else.
        m.points.push(PointMeasurement { layer: 29, position: 1, rel_l2: 0.001, cosine: 0.9999 });
        check(m, Verdict::Void, "past the model's 28");
        // "Past" is strict: exactly 2 or 4 thresholds is not past them.
        let mut m = honest();
        m.points[0].rel_l2 = 2.0 * last;
        check(m.clone(), Verdict::Void, "precision disagreement");
        m.points[0].rel_l2 = rules::LONE_FAIL_FACTOR * last;
        check(m, Verdict::Void, "lone outlier");
    }

    #[test]
    fn honest_measurements_pass() {
        check(honest(), Verdict::Pass, "2 points within thresholds");
    }

    #[test]
    fn openings_prompts_and_vectors() {
        let mut m = honest();
        m.opening = Opening::Missed;
        check(m, Verdict::Fail, "missed");
        let mut m = honest();
        m.opening = Opening::Invalid;
        check(m, Verdict::Fail, "did not verify");
        let mut m = honest();
        m.prompt_match = false;
        check(m, Verdict::Fail, "prompt");
        let mut m = honest();
        m.points[0].rel_l2 = f64::NAN;
        check(m, Verdict::Fail, "non-finite");
        let mut m = honest();
        m.points[0].rel_l2 = 0.2; // another model
        check(m, Verdict::Fail, "rel-l2");
        let mut m = honest();
        m.points[0].cosine = 0.5;
        check(m, Verdict::Fail, "cosine");
        let mut m = honest();
        m.points[0].rel_l2 = 0.03; // between 1x and 2x the last layer's 1.525e-2
        check(m, Verdict::Void, "precision disagreement");
        let mut m = honest();
        m.points.clear();
        m.tokens.clear();
        check(m, Verdict::Void, "nothing");
    }

    #[test]
    fn greedy_tokens_allow_near_ties_only() {
        let mut m = honest();
        for t in m.tokens.iter_mut().take(5) {
            *t = TokenMeasurement { rank: 1, logprob: -0.8, top_logprob: -0.6 }; // near-tie
        }
        check(m.clone(), Verdict::Pass, "");
        for t in m.tokens.iter_mut().take(3) {
            *t = TokenMeasurement { rank: 4, logprob: -5.0, top_logprob: -0.1 };
        }
        check(m, Verdict::Fail, "3 of 100 greedy tokens");
    }

    #[test]
    fn sampled_tokens_are_judged_by_log_prob() {
        let mut m = honest();
        m.greedy = false;
        for t in m.tokens.iter_mut().take(5) {
            t.logprob = -9.0;
        }
        check(m.clone(), Verdict::Pass, "");
        m.tokens[50].logprob = -9.0;
        check(m.clone(), Verdict::Fail, "6 of 100 sampled tokens");
        let mut m = honest();
        m.greedy = false;
        m.tokens[7].logprob = -14.0;
        check(m, Verdict::Fail, "-14.00");
    }

    #[test]
    fn a_skipped_end_of_sequence_fails_unless_it_was_a_near_tie() {
        let mut m = honest();
        m.eos_skipped = true;
        m.tokens[40] = TokenMeasurement { rank: 1, logprob: -3.0, top_logprob: -0.1 };
        check(m.clone(), Verdict::Fail, "ran past the reference's end of sequence");
        // The only token that is not the reference's top one lost by 0.2 nats: precision noise.
        m.tokens[40] = TokenMeasurement { rank: 1, logprob: -0.9, top_logprob: -0.7 };
        check(m, Verdict::Void, "near-tie");
    }
}
