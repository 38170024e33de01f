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
    // Top tokens: distance 0, quality 1.
    assert_eq!(request_quality(&[token(0, 0.9, 0.9); 4], &RULES), Some(1.0));
    // 5 tokens outside the top 10 are tolerated, 6 are not. With 5 failed of 10: positions 0, 9,
    // then failed 0, 1, 2 (0 already in): [0, 9, 1, 2], then one of the rest [3..=8] at
    // ⌊1 × 6 / 2⌋ = 3: position 6. Distances: 0, 1, 2 are |0.5 − 0.001| = 0.499, 9 and 6 are 0:
    // mean 1.497 / 5 = 0.2994 > 0.25: quality 0.
    let mut tokens = vec![token(0, 0.5, 0.5); 10];
    for t in tokens.iter_mut().take(5) {
        *t = token(10, 0.001, 0.5);
    }
    assert_eq!(check_positions(10, &[0, 1, 2, 3, 4]), vec![0, 9, 1, 2, 6]);
    assert_eq!(request_quality(&tokens, &RULES), Some(0.0));
    tokens[5] = token(12, 0.001, 0.5);
    assert_eq!(request_quality(&tokens, &RULES), Some(0.0));
    // Rank 9 is in the top 10.
    assert_eq!(request_quality(&[token(9, 0.01, 0.01); 6], &RULES), Some(1.0));
    // Greedy: p_top 0.6, p_token 0.4: distance 0.2, 1 − 0.5 × (0.2 − 0.125) / 0.125 = 0.7.
    close(request_quality(&[token(1, 0.4, 0.6)], &RULES).expect("judged"), 0.7);
    // Distances 0 and 0.3: mean 0.15, 1 − 0.5 × 0.025 / 0.125 = 0.9.
    close(request_quality(&[token(0, 0.5, 0.5), token(1, 0.3, 0.6)], &RULES).expect("judged"), 0.9);
}

#[test]
fn a_check_the_validator_could_not_complete_judges_nothing() {
    assert_eq!(request_quality(&[], &RULES), None);
    for (logprob, top_logprob) in
        [(f64::NEG_INFINITY, 0.0), (f64::NAN, -0.1), (-0.1, f64::NAN), (-0.1, f64::INFINITY), (-0.1, f64::NEG_INFINITY)]
    {
        let gap = CheckedToken { rank: 0, logprob, top_logprob };
        assert_eq!(request_quality(&[token(0, 0.5, 0.5), gap], &RULES), None, "{logprob}, {top_logprob}");
    }
}

#[test]
fn the_judged_positions_are_first_last_failed_then_evenly_spaced() {
    assert_eq!(check_positions(0, &[]), Vec::<usize>::new());
    assert_eq!(check_positions(1, &[]), vec![0]);
    assert_eq!(check_positions(2, &[1]), vec![0, 1]);
    // 20 tokens, none failed: 0, 19, then 3 of the 18 in 1..=18 at indices ⌊18i/4⌋ = 4, 9, 13:
    // positions 5, 10, 14.
    assert_eq!(check_positions(20, &[]), vec![0, 19, 5, 10, 14]);
    // Failed 7 and 12: 0, 19, 7, 12, then 1 of the 16 remaining at index ⌊16/2⌋ = 8: the rest is
    // 1..=6, 8..=11, 13..=18, whose index 8 is 10.
    assert_eq!(check_positions(20, &[7, 12]), vec![0, 19, 7, 12, 10]);
    // Only the first three failed: 0, 19, 3, 4, 5.
    assert_eq!(check_positions(20, &[3, 4, 5, 6, 7]), vec![0, 19, 3, 4, 5]);
    // 4 tokens: all of them, 0, 3, then 2 of [1, 2] at ⌊2i/3⌋ = 0, 1.
    assert_eq!(check_positions(4, &[]), vec![0, 3, 1, 2]);
    // Only the chosen positions' distances count: 20 tokens whose position 1 is far off (0.5
    // vs 0.9: distance 0.4), not among [0, 19, 5, 10, 14]: quality 1. Moved to position 5: mean
    // 0.4 / 5 = 0.08 ≤ 0.125: still 1; at 5 and 10: 0.16, 1 − 0.5 × 0.035 / 0.125 = 0.86.
    let mut tokens = vec![token(0, 0.9, 0.9); 20];
    tokens[1] = token(1, 0.5, 0.9);
    assert_eq!(request_quality(&tokens, &RULES), Some(1.0));
    tokens[5] = token(1, 0.5, 0.9);
    assert_eq!(request_quality(&tokens, &RULES), Some(1.0));
    tokens[10] = token(1, 0.5, 0.9);
    close(request_quality(&tokens, &RULES).expect("judged"), 0.86);
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
    // Nine periods earn full credit: all 0.75, so 0.75 (values exact in f32, as periods are kept).
    close(decayed_period_score(&[p(0.75, 10.0); 9], &decay), 0.75);
    close(decayed_period_score(&[p(0.75, 10.0); 8], &decay), 0.1875);
    // A period that consumed nothing weighs nothing; only such periods: 0.
    close(decayed_period_score(&[p(0.0, 0.0), p(0.625, 50.0)], &decay), 0.625 * 0.25);
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
fn exp_gives_pinned_bits() {
    // Pinned, not compared with the platform's `exp`: the wasm32 build must give these bits.
    for (x, bits) in [
        (-0.1, 0x3fec_f46d_99d5_2b3b_u64),
        (-0.4, 0x3fe5_7343_0672_70ed),
        (-1.2, 0x3fd3_46c4_167a_12dc),
        (-2.5, 0x3fb5_0385_c094_f425),
        (-10.0, 0x3f07_cd79_b564_7c9b),
        (-700.0, 0x00d1_4f2b_0fb9_307e),
        (-745.0, 0x0000_0000_0000_0001),
    ] {
        assert_eq!(exp(x).to_bits(), bits, "exp({x})");
    }
}

#[test]
fn weights_give_the_best_65535() {
    let w = to_weights(&[(0, 2.0), (1, 1.0), (2, 0.0)]);
    // 1/2 × 65535 = 32767.5, rounded half away from zero.
    assert_eq!(w.iter().map(|w| (w.uid, w.weight)).collect::<Vec<_>>(), vec![(0, 65535), (1, 32768), (2, 0)]);
    assert!(to_weights(&[(0, 0.0), (1, 0.0)]).is_empty());
    assert!(to_weights(&[]).is_empty());
}
