//! Each formula on cases computed by hand; the arithmetic is in the comments.

use super::close;
use crate::defaults;
use crate::formula::*;

fn counts(requests: u32, rate_limited: u32, server_errors: u32, consumed: f64) -> PeriodCounts {
    PeriodCounts { requests, rate_limited, server_errors, consumed }
}

const RULES: TokenRules = TokenRules {
    max_rank: defaults::TOKEN_MAX_RANK as u32,
    max_failed: defaults::TOKEN_MAX_FAILED as u32,
    distance_full: defaults::TOKEN_DISTANCE_FULL,
    distance_zero: defaults::TOKEN_DISTANCE_ZERO,
};

fn token(rank: u32, p: f64, p_top: f64) -> CheckedToken {
    CheckedToken { rank, logprob: p.ln(), top_logprob: p_top.ln() }
}

#[test]
fn period_score_punishes_429s_and_500s_by_the_unqueried_share() {
    // 10 requests, 2 rate-limited, 1 server error, 250 of 1000 consumed: unqueried = 0.75,
    // good = 0.7, 1 − 0.2 × 0.75 = 0.85, (1 − 0.1 × 0.75)² = 0.925² = 0.855625,
    // 0.7 × 0.85 × 0.855625 = 0.509096875.
    close(period_score(&counts(10, 2, 1, 250.0), 1000.0).expect("scored"), 0.509_096_875);
    // The whole capacity consumed: nothing unqueried, no punishment beyond `good` = 0.7.
    close(period_score(&counts(10, 2, 1, 1000.0), 1000.0).expect("scored"), 0.7);
    close(period_score(&counts(10, 2, 1, 5000.0), 1000.0).expect("scored"), 0.7);
    // Nothing consumed (all 429): good = 0, score 0.
    assert_eq!(period_score(&counts(4, 4, 0, 0.0), 1000.0), Some(0.0));
    // Only 500s counted twice over: 4 requests, 2 errors, 100 of 400 consumed: unqueried 0.75,
    // good 0.5, (1 − 0.5 × 0.75)² = 0.625² = 0.390625, × 0.5 = 0.1953125.
    close(period_score(&counts(4, 0, 2, 100.0), 400.0).expect("scored"), 0.195_312_5);
    // No requests or no declared capacity: no score for the period.
    assert_eq!(period_score(&counts(0, 0, 0, 0.0), 1000.0), None);
    assert_eq!(period_score(&counts(3, 0, 0, 30.0), 0.0), None);
}

#[test]
fn request_quality_follows_rank_then_distance() {
    assert_eq!(request_quality(&[], true, &RULES), 0.0);
    // Top tokens: distance 0, quality 1.
    assert_eq!(request_quality(&[token(0, 0.9, 0.9); 4], true, &RULES), 1.0);
    // 5 tokens outside the top 10 are tolerated, 6 are not.
    let mut tokens = vec![token(0, 0.5, 0.5); 10];
    for t in tokens.iter_mut().take(5) {
        *t = token(10, 0.001, 0.5);
    }
    assert_eq!(request_quality(&tokens, false, &RULES), 1.0);
    tokens[5] = token(12, 0.001, 0.5);
    assert_eq!(request_quality(&tokens, false, &RULES), 0.0);
    // Rank 9 is in the top 10.
    assert_eq!(request_quality(&[token(9, 0.01, 0.01); 6], true, &RULES), 1.0);
    // A token the reference gives no probability fails the rank test too.
    let impossible = CheckedToken { rank: 0, logprob: f64::NEG_INFINITY, top_logprob: 0.0 };
    assert_eq!(request_quality(&[impossible; 6], false, &RULES), 0.0);
    // Greedy: p_top 0.6, p_token 0.4: distance 0.2, 1 − 0.5 × (0.2 − 0.125) / 0.125 = 0.7.
    close(request_quality(&[token(1, 0.4, 0.6)], true, &RULES), 0.7);
    // Distances 0 and 0.3: mean 0.15, 1 − 0.5 × 0.025 / 0.125 = 0.9.
    close(request_quality(&[token(0, 0.5, 0.5), token(1, 0.3, 0.6)], true, &RULES), 0.9);
    // The same tokens sampled: only the rank test applies.
    assert_eq!(request_quality(&[token(1, 0.3, 0.6)], false, &RULES), 1.0);
}

#[test]
fn distance_score_has_the_seeds_thresholds() {
    assert_eq!(distance_score(0.0, &RULES), 1.0);
    assert_eq!(distance_score(0.125, &RULES), 1.0);
    assert_eq!(distance_score(0.25, &RULES), 0.5);
    assert_eq!(distance_score(0.250_001, &RULES), 0.0);
    assert_eq!(distance_score(f64::NAN, &RULES), 0.0);
    // Distances are capped at 1: p_top 1, p_token 0.
    assert_eq!(token_distance(f64::NEG_INFINITY, 0.0), 1.0);
}

#[test]
fn average_quality_is_the_mean_of_q_to_the_1_5_squared_when_low() {
    assert_eq!(average_quality(std::iter::empty(), 0.85), None);
    assert_eq!(average_quality([1.0, 1.0].into_iter(), 0.85), Some(1.0));
    // 1^1.5 = 1, 0.25^1.5 = 0.125: mean 0.5625 ≤ 0.85, squared: 0.31640625.
    assert_eq!(average_quality([1.0, 0.25].into_iter(), 0.85), Some(0.316_406_25));
    // 0.9^1.5 = 0.853815… > 0.85: kept; 0.89^1.5 = 0.839623… ≤ 0.85: squared (0.704967…).
    close(average_quality([0.9].into_iter(), 0.85).expect("some"), 0.9 * 0.9_f64.sqrt());
    close(average_quality([0.89].into_iter(), 0.85).expect("some"), (0.89 * 0.89_f64.sqrt()).powi(2));
    // Out-of-range qualities are clamped into [0, 1].
    assert_eq!(average_quality([2.0, -1.0].into_iter(), 0.0), Some(0.5));
}

#[test]
fn speed_metric_is_the_30th_percentile_and_the_bonus_goes_by_rank() {
    // Sorted [1, 2, 3, 4, 5], index ⌊5 × 0.3⌋ = 1: 2.
    assert_eq!(speed_metric(&mut [5.0, 1.0, 4.0, 2.0, 3.0], 0.3), Some(2.0));
    assert_eq!(speed_metric(&mut [7.0], 0.3), Some(7.0));
    assert_eq!(speed_metric(&mut [7.0, 8.0], 1.0), Some(8.0));
    assert_eq!(speed_metric(&mut [], 0.3), None);
    // Ranks 2, 0, 1 of 3: 0.5 × (0.5 − 2/2) = −0.25, +0.25, 0.5 × (0.5 − 1/2) = 0.
    assert_eq!(speed_bonuses(&[10.0, 30.0, 20.0], 0.5), vec![-0.25, 0.25, 0.0]);
    // Four miners: +0.25, 0.5 × (0.5 − 1/3) = 0.08333…, −0.08333…, −0.25.
    let four = speed_bonuses(&[4.0, 3.0, 2.0, 1.0], 0.5);
    close(four[1], 0.5 * (0.5 - 1.0 / 3.0));
    close(four[2], 0.5 * (0.5 - 2.0 / 3.0));
    assert_eq!((four[0], four[3]), (0.25, -0.25));
    assert_eq!(speed_bonuses(&[9.0], 0.5), vec![0.0]);
    // A tie goes to the earlier (lower uid).
    assert_eq!(speed_bonuses(&[5.0, 5.0], 0.5), vec![0.25, -0.25]);
}

#[test]
fn decayed_period_score_weighs_volume_and_age() {
    let decay = Decay { decay: 0.5, min_periods: 8, new_multiplier: 0.25 };
    let p = |score, consumed| Period { score, consumed };
    // Weights 100 × 1 and 300 × 0.5 = 150: (1 × 100 + 0.5 × 150) / 250 = 0.7; 2 periods ≤ 8: × 0.25 = 0.175.
    close(decayed_period_score(&[p(1.0, 100.0), p(0.5, 300.0)], &decay), 0.175);
    // Nine periods earn full credit: all 0.8, so 0.8.
    close(decayed_period_score(&[p(0.8, 10.0); 9], &decay), 0.8);
    close(decayed_period_score(&[p(0.8, 10.0); 8], &decay), 0.2);
    // A period that consumed nothing weighs nothing; only such periods: 0.
    close(decayed_period_score(&[p(0.0, 0.0), p(0.6, 50.0)], &decay), 0.6 * 0.25);
    assert_eq!(decayed_period_score(&[p(0.0, 0.0); 3], &decay), 0.0);
    assert_eq!(decayed_period_score(&[], &decay), 0.0);
}

#[test]
fn task_shares_normalize_raise_and_renormalize() {
    assert_eq!(task_shares(&[1.0, 1.0], 4), vec![0.5, 0.5]);
    // [2, 1] → [2/3, 1/3] → [16/81, 1/81] → [16/17, 1/17].
    let shares = task_shares(&[2.0, 1.0], 4);
    close(shares[0], 16.0 / 17.0);
    close(shares[1], 1.0 / 17.0);
    assert_eq!(task_shares(&[0.0, 0.0], 4), vec![0.0, 0.0]);
    assert_eq!(task_shares(&[], 4), Vec::<f64>::new());
    assert_eq!(powi(3.0, 4), 81.0);
    assert_eq!(powi(0.5, 0), 1.0);
}

#[test]
fn exp_matches_the_platforms_to_the_last_places() {
    assert_eq!(exp(0.0), 1.0);
    for i in 0..=1900 {
        let x = -(i as f64) * 0.37;
        let (ours, std) = (exp(x), x.exp());
        assert!((ours - std).abs() <= 4.0 * f64::EPSILON * std, "exp({x}) = {ours}, std {std}");
    }
    assert_eq!(exp(-800.0), 0.0);
    assert!(exp(f64::NAN).is_nan());
    assert_eq!(exp(f64::NEG_INFINITY), 0.0);
    close(exp(0.5_f64.ln()), 0.5);
}

#[test]
fn weights_give_the_best_65535() {
    let w = to_weights(&[(0, 2.0), (1, 1.0), (2, 0.0)]);
    // 1/2 × 65535 = 32767.5, rounded half away from zero.
    assert_eq!(w.iter().map(|w| (w.uid, w.weight)).collect::<Vec<_>>(), vec![(0, 65535), (1, 32768), (2, 0)]);
    assert!(to_weights(&[(0, 0.0), (1, 0.0)]).is_empty());
    assert!(to_weights(&[]).is_empty());
}
