//! Each formula of `formula.rs` on hand-computed cases.

use super::close;
use crate::formula::{
    CheckedToken, Correctness, Thresholds, best, competition_score, correctness, median, passes_gate, pool,
    request_timing, shares, to_weights, tps_improvement, ttft_improvement, winner,
};

#[test]
fn request_timing_is_tokens_over_the_total_time() {
    // 300 tokens, first at 200 ms, last at 3000 ms: 300 tokens in 3 s = 100 tok/s.
    assert_eq!(request_timing(300, 200.0, 3000.0), Some((200.0, 100.0)));
    // The same 300 tokens sent in one burst after a first token at 2990 ms: still 100 tok/s
    // (a decode rate would say 299 tokens in 10 ms = 29,900 tok/s).
    assert_eq!(request_timing(300, 2990.0, 3000.0), Some((2990.0, 100.0)));
    // One token at 500 ms, the end there too: 1 token in 0.5 s = 2 tok/s.
    assert_eq!(request_timing(1, 500.0, 500.0), Some((500.0, 2.0)));
    // No tokens, or no time at all: 0.
    assert_eq!(request_timing(0, 100.0, 600.0), Some((100.0, 0.0)));
    assert_eq!(request_timing(5, 0.0, 0.0), Some((0.0, 0.0)));
}

#[test]
fn unreadable_timings_are_not_timed() {
    for (ttft, total) in [(f64::NAN, 100.0), (10.0, f64::INFINITY), (-1.0, 100.0), (200.0, 100.0)] {
        assert_eq!(request_timing(10, ttft, total), None, "{ttft} {total}");
    }
    // 10 tokens over a total that is a subnormal number of seconds: the rate overflows.
    assert_eq!(request_timing(10, 0.0, 1e-310), None);
}

#[test]
fn median_of_odd_and_even_counts() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
    // (2 + 3) / 2.
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    // The mean of the middle two does not overflow.
    assert_eq!(median(&mut [f64::MAX, f64::MAX]), Some(f64::MAX));
}

#[test]
fn correctness_statistics() {
    let tokens = [
        CheckedToken { rank: 0, logprob: -0.1 },
        CheckedToken { rank: 0, logprob: -0.3 },
        CheckedToken { rank: 2, logprob: -2.0 },
        CheckedToken { rank: 0, logprob: -0.2 },
    ];
    let c = correctness(&tokens).expect("tokens");
    assert_eq!(c.tokens, 4);
    // 3 of 4 at rank 0.
    close(c.similarity, 0.75);
    // (-0.1 - 0.3 - 2.0 - 0.2) / 4 = -2.6 / 4 = -0.65.
    close(c.mean_logprob, -0.65);
    assert_eq!(c.min_logprob, -2.0);
    assert_eq!(correctness(&[]), None);
}

#[test]
fn the_gate_needs_every_threshold_and_some_tokens() {
    let t = Thresholds { similarity: 0.9, mean_logprob: -1.0, min_logprob: -10.0 };
    let stats = Correctness { tokens: 10, similarity: 0.9, mean_logprob: -1.0, min_logprob: -10.0 };
    // At each threshold exactly: passes.
    assert!(passes_gate(Some(&stats), &t));
    assert!(!passes_gate(Some(&Correctness { similarity: 0.89, ..stats }), &t));
    assert!(!passes_gate(Some(&Correctness { mean_logprob: -1.01, ..stats }), &t));
    // One impossible token (the floor) fails the miner.
    assert!(!passes_gate(Some(&Correctness { min_logprob: -1000.0, ..stats }), &t));
    // No checked token: nothing shows the output correct.
    assert!(!passes_gate(None, &t));
}

#[test]
fn improvements_are_relative_to_the_baseline_and_clipped_at_0() {
    // TTFT 400 ms against 500: (500 - 400) / 500 = 0.2.
    close(ttft_improvement(500.0, 400.0), 0.2);
    // Slower than the baseline: clipped at 0.
    assert_eq!(ttft_improvement(500.0, 600.0), 0.0);
    // 150 tok/s against 100: (150 - 100) / 100 = 0.5.
    close(tps_improvement(100.0, 150.0), 0.5);
    assert_eq!(tps_improvement(100.0, 80.0), 0.0);
    // A baseline of 0 (or not a number): nothing to beat.
    assert_eq!(ttft_improvement(0.0, 10.0), 0.0);
    assert_eq!(tps_improvement(0.0, 10.0), 0.0);
    assert_eq!(tps_improvement(f64::NAN, 10.0), 0.0);
    assert_eq!(tps_improvement(100.0, f64::INFINITY), 0.0);
}

#[test]
fn competition_score_is_the_weighted_sum() {
    // 0.5 × 0.2 + 0.5 × 0.5 = 0.1 + 0.25 = 0.35.
    close(competition_score(0.2, 0.5, 0.5, 0.5), 0.35);
    // 0.25 × 0.2 + 0.75 × 0.5 = 0.05 + 0.375 = 0.425.
    close(competition_score(0.2, 0.5, 0.25, 0.75), 0.425);
}

#[test]
fn best_skips_zero_and_the_excluded_and_breaks_ties_low() {
    let scores = [0.0, 0.3, 0.5, 0.5, f64::NAN];
    assert_eq!(best(&scores, None), Some(2));
    assert_eq!(best(&scores, Some(2)), Some(3));
    assert_eq!(best(&[0.0, 0.0], None), None);
}

#[test]
fn a_challenger_must_beat_the_leaders_fresh_score_by_the_margin() {
    // Leader 1 at 0.40; challenger 2 at 0.403 is under 0.40 × 1.01 = 0.404: the leader stays.
    assert_eq!(winner(&[0.1, 0.40, 0.403], Some(1), 0.01), Some(1));
    // At 0.405 it is over 0.404: it takes the lead.
    assert_eq!(winner(&[0.1, 0.40, 0.405], Some(1), 0.01), Some(2));
    // Exactly at the margin is not beating it: 0.5 × 1.0 vs 0.5 with no margin.
    assert_eq!(winner(&[0.5, 0.5], Some(1), 0.0), Some(1));
    // A leader with no positive fresh score loses the lead to the best.
    assert_eq!(winner(&[0.2, 0.0, 0.1], Some(1), 0.01), Some(0));
    // No leader: the best; nobody positive: nobody.
    assert_eq!(winner(&[0.2, 0.3], None, 0.01), Some(1));
    assert_eq!(winner(&[0.0, 0.0], Some(0), 0.01), None);
    // A leader index past the scores (cannot happen from the epoch) is no leader.
    assert_eq!(winner(&[0.2], Some(5), 0.01), Some(0));
}

#[test]
fn pool_scales_with_the_winner_against_the_target() {
    // 0.35 / 0.5 = 0.7.
    close(pool(0.35, 0.5), 0.7);
    // 0.8 / 0.5 = 1.6, capped at 1.
    assert_eq!(pool(0.8, 0.5), 1.0);
    assert_eq!(pool(0.0, 0.5), 0.0);
    assert_eq!(pool(0.3, 0.0), 0.0);
}

#[test]
fn shares_split_the_pool_and_burn_the_rest() {
    // Pool 0.7: winner 0.7 × 0.8 = 0.56, runner-up 0.7 × 0.2 = 0.14, burned 1 - 0.7 = 0.3.
    let (w, r, b) = shares(0.7, 0.8, 0.2, true);
    close(w, 0.56);
    close(r, 0.14);
    close(b, 0.3);
    // No runner-up: its 0.14 is burned too, 1 - 0.56 = 0.44.
    let (w, r, b) = shares(0.7, 0.8, 0.2, false);
    close(w, 0.56);
    assert_eq!(r, 0.0);
    close(b, 0.44);
    // No pool: everything burned.
    assert_eq!(shares(0.0, 0.8, 0.2, false), (0.0, 0.0, 1.0));
}

#[test]
fn weights_scale_the_largest_share_to_65535() {
    // Shares 0.56, 0.14, 0.3: 65535, 0.14 / 0.56 × 65535 = 16383.75 → 16384, 0.3 / 0.56 ×
    // 65535 = 35108.04 → 35108.
    let w = to_weights(&[(3, 0.56), (7, 0.14), (0, 0.3), (9, 0.0)]);
    let pairs: Vec<(u16, u16)> = w.iter().map(|w| (w.uid, w.weight)).collect();
    assert_eq!(pairs, vec![(3, 65535), (7, 16384), (0, 35108), (9, 0)]);
    assert!(to_weights(&[(1, 0.0)]).is_empty());
    assert!(to_weights(&[]).is_empty());
}
