//! Whole epochs through the policy: the honest beat the rate-limiting, a failed challenge
//! gates, task weights split, the state carries history, which requests and checks count, and
//! a fixed epoch's pinned output.

use assay_policy_sdk::{EpochOutput, NO_MINER, Outcome, RequestKind, TokenMeasurement, Verdict};

use super::{Epoch, challenge, close, component, f32ish, miner, perfect_tokens, request, task, weight};
use crate::State;

/// Two miners of capacity 1000 on one task: uid 0 answers 5 of 10 requests and rate-limits
/// the rest, uid 1 answers all 10. One checked request each, perfect tokens, the same speed.
pub(super) fn honest_and_rate_limiting() -> Epoch {
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 1000)]), miner(1, &[(0, 1000)])]);
    let ok = |uid| request(uid, 0, Outcome::Ok, 20, 1000.0);
    e.push(ok(0)).check(&perfect_tokens(20)).push_n(4, ok(0)).push_n(5, request(0, 0, Outcome::RateLimited, 0, 5.0));
    e.push(ok(1)).check(&perfect_tokens(20)).push_n(9, ok(1));
    e
}

#[test]
fn an_honest_miner_beats_a_429_heavy_one() {
    let out = honest_and_rate_limiting().score();
    // Periods: uid 1 consumed 200 of 1000 with every request good: 1. uid 0: good 0.5, r429
    // 0.5, unqueried (1000 − 100) / 1000 = 0.9: 0.5 × (1 − 0.45) = 0.275. One period each, so
    // × 0.25 (new miners): 0.25 and 0.06875 (0.275 as the state keeps it, in f32).
    close(component(&out, 1, "chat.period"), 0.25);
    close(component(&out, 0, "chat.period"), 0.25 * f32ish(0.275));
    // Same speed (20 tokens in 1 s, quality 1): the tie goes to uid 0, +0.25; uid 1 −0.25.
    assert_eq!((component(&out, 0, "chat.speed_bonus"), component(&out, 1, "chat.speed_bonus")), (0.25, -0.25));
    assert_eq!(component(&out, 0, "chat.quality"), 1.0);
    // Volumes: 1 × 1.25 × 0.06875 × 1000 = 85.9375 and 1 × 0.75 × 0.25 × 1000 = 187.5.
    close(component(&out, 0, "chat.volume"), 1.25 * 0.25 * f32ish(0.275) * 1000.0);
    close(component(&out, 1, "chat.volume"), 187.5);
    // Shares after ^4: the honest miner gets 65535, the other (85.9375 / 187.5)^4 of it.
    assert_eq!(weight(&out, 1), 65535);
    assert_eq!(weight(&out, 0), (65535.0 * (85.9375_f64 / 187.5).powi(4)).round() as u16);
    assert!(weight(&out, 0) < 3000);
}

#[test]
fn a_failed_challenge_zeroes_the_miner_and_clears_its_state() {
    let mut e = honest_and_rate_limiting();
    let first = e.score();
    // Epoch 2: uid 1 (the better one) fails one challenge and passes another; uid 0 has a void.
    e.state(first.state.clone());
    e.challenge(challenge(1, Verdict::Pass))
        .challenge(challenge(1, Verdict::Fail))
        .challenge(challenge(0, Verdict::Void));
    let second = e.score();
    assert_eq!(component(&second, 1, "failed_challenges"), 1.0);
    assert_eq!(component(&second, 1, "gated"), 1.0);
    assert_eq!(second.scores.iter().find(|s| s.uid == 1).map(|s| s.score), Some(0.0));
    assert_eq!(weight(&second, 1), 0);
    // A void counts neither way: uid 0 is alone with a positive score, so it gets 65535.
    assert_eq!((component(&second, 0, "failed_challenges"), component(&second, 0, "gated")), (0.0, 0.0));
    assert_eq!(weight(&second, 0), 65535);
    let state = State::decode(&second.state).expect("state decodes");
    let cheater = state.get("hotkey-1").expect("the gate is carried");
    assert!(cheater.tasks.is_empty(), "the cheater's history is dropped");
    assert_eq!(cheater.gated_epochs_left, crate::defaults::GATE_EPOCHS as u16);
    assert_eq!(state.task("hotkey-0", "chat").map(|c| c.periods.len()), Some(2));
}

#[test]
fn a_caught_cheater_stays_at_zero_while_gated_then_restarts_as_new() {
    // gate.epochs 2: the failing epoch and the next 2 at 0 however well it does, then back.
    let mut state = Vec::new();
    for epoch in 1..=5 {
        let mut e = honest_and_rate_limiting();
        e.param("gate.epochs", 2.0).state(state);
        // Fails once in epoch 2, passes every other challenge.
        let verdict = if epoch == 2 { Verdict::Fail } else { Verdict::Pass };
        e.challenge(challenge(1, verdict))
            .challenge(challenge(1, Verdict::Pass))
            .challenge(challenge(1, Verdict::Void));
        let out = e.score();
        let gated = (2..=4).contains(&epoch);
        assert_eq!(component(&out, 1, "gated"), if gated { 1.0 } else { 0.0 }, "epoch {epoch}");
        assert_eq!(weight(&out, 1) == 0, gated, "epoch {epoch}: {:?}", out.weights);
        let decoded = State::decode(&out.state).expect("state decodes");
        let left = decoded.get("hotkey-1").map_or(0, |m| m.gated_epochs_left);
        assert_eq!(left, [0, 2, 1, 0, 0][epoch - 1], "epoch {epoch}");
        if epoch == 5 {
            // Back as a new miner: one period, one quality record.
            let restarted = decoded.task("hotkey-1", "chat").expect("carried again");
            assert_eq!((restarted.periods.len(), restarted.records.len()), (1, 1));
            assert_eq!(decoded.task("hotkey-0", "chat").map(|c| c.periods.len()), Some(5));
        }
        state = out.state;
    }
}

#[test]
fn a_miner_that_keeps_failing_stays_at_zero() {
    let mut state = Vec::new();
    for _ in 0..5 {
        let mut e = honest_and_rate_limiting();
        e.state(state).challenge(challenge(1, Verdict::Fail));
        let out = e.score();
        assert_eq!(weight(&out, 1), 0);
        assert_eq!(weight(&out, 0), 65535);
        state = out.state;
    }
}

#[test]
fn task_weights_split_the_scores() {
    // uid 0 serves only chat (0.6), uid 1 only code (0.4): each has its task's whole share.
    let mut e =
        Epoch::new(vec![task("chat", 0.6), task("code", 0.4)], vec![miner(0, &[(0, 1000)]), miner(1, &[(1, 1000)])]);
    e.push(request(0, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
    e.push(request(1, 1, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
    let out = e.score();
    close(component(&out, 0, "chat.score"), 0.6);
    close(component(&out, 1, "code.score"), 0.4);
    // 0.4 / 0.6 × 65535 = 43690.
    assert_eq!((weight(&out, 0), weight(&out, 1)), (65535, 43690));

    // Both on chat, uid 0 also on code, no speed bonus: chat splits 0.3 / 0.3, uid 0 adds 0.4.
    let mut e = Epoch::new(
        vec![task("chat", 0.6), task("code", 0.4)],
        vec![miner(0, &[(0, 1000), (1, 1000)]), miner(1, &[(0, 1000)])],
    );
    e.param("speed.spread", 0.0);
    e.push(request(0, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
    e.push(request(0, 1, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
    e.push(request(1, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
    let out = e.score();
    close(out.scores[0].score, 0.7);
    close(out.scores[1].score, 0.3);
    // 0.3 / 0.7 × 65535 = 28086.43 → 28086.
    assert_eq!((weight(&out, 0), weight(&out, 1)), (65535, 28086));
}

#[test]
fn state_round_trips_and_full_credit_comes_after_nine_periods() {
    let mut state = Vec::new();
    for epoch in 1..=10 {
        let mut e = honest_and_rate_limiting();
        e.state(state);
        let out = e.score();
        let decoded = State::decode(&out.state).expect("state decodes");
        assert_eq!(decoded.encode(), out.state, "round trip is byte-exact");
        let carried = decoded.task("hotkey-1", "chat").expect("carried");
        assert_eq!(carried.periods.len(), epoch);
        assert_eq!(carried.records.len(), epoch);
        // Every period of uid 1 scores 1: 0.25 × 1 while it has at most 8, then 1.
        close(component(&out, 1, "chat.period"), if epoch > 8 { 1.0 } else { 0.25 });
        state = out.state;
    }
}

#[test]
fn quality_is_carried_when_an_epoch_checks_nothing() {
    let first = honest_and_rate_limiting().score();
    // Epoch 2 checks no request: the carried records still give both miners a quality.
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 1000)]), miner(1, &[(0, 1000)])]);
    e.push_n(10, request(1, 0, Outcome::Ok, 20, 1000.0)).push_n(10, request(0, 0, Outcome::Ok, 20, 1000.0));
    e.state(first.state);
    let out = e.score();
    assert_eq!(component(&out, 1, "chat.quality"), 1.0);
    assert!(weight(&out, 0) > 0 && weight(&out, 1) > 0);
    // Without any record ever, a miner has no quality and no weight (as in the seed).
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 1000)])]);
    e.push_n(3, request(0, 0, Outcome::Ok, 20, 1000.0));
    assert!(e.score().weights.is_empty());
}

#[test]
fn only_the_miners_own_synthetic_requests_count_toward_its_period() {
    let base = || {
        let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 100)])]);
        e.push(request(0, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
        e
    };
    let organic_429 = {
        let mut r = request(0, 0, Outcome::RateLimited, 0, 5.0);
        r.kind = RequestKind::Organic;
        r
    };
    let mut baseline = request(NO_MINER, 0, Outcome::ServerError, 0, 5.0);
    baseline.kind = RequestKind::Baseline;
    // Cancelled, organic and baseline requests, and records of a uid that is not a miner or of a
    // task that does not exist, leave the period at 1 (× 0.25).
    let mut e = base();
    e.push_n(3, request(0, 0, Outcome::Cancelled, 0, 5.0)).push_n(3, organic_429.clone()).push(baseline);
    e.push(request(42, 0, Outcome::Ok, 20, 100.0)).check(&perfect_tokens(2)).challenge(challenge(42, Verdict::Fail));
    e.push(request(0, 7, Outcome::RateLimited, 0, 5.0))
        .push(request(0, 7, Outcome::Ok, 9, 5.0))
        .check(&perfect_tokens(9));
    close(component(&e.score(), 0, "chat.period"), 0.25);
    // Counting organic traffic: 1 good of 4, r429 0.75, unqueried (100 − 20) / 100 = 0.8:
    // 0.25 × (1 − 0.6) = 0.1, × 0.25 = 0.025.
    e.param("period.include_organic", 1.0);
    close(component(&e.score(), 0, "chat.period"), 0.25 * f32ish(0.1));
    // A timeout is the seed's "500": 1 good of 2, r500 0.5, unqueried 0.8: 0.5 × 0.6² = 0.18, × 0.25.
    let mut e = base();
    e.push(request(0, 0, Outcome::Timeout, 0, 5.0));
    close(component(&e.score(), 0, "chat.period"), 0.25 * f32ish(0.18));
}

#[test]
fn parameters_change_the_formula() {
    // A power of 1 instead of 4: weights in proportion to the volumes 85.9375 and 187.5.
    let mut e = honest_and_rate_limiting();
    e.param("task.exponent", 1.0);
    let out = e.score();
    assert_eq!(weight(&out, 0), (65535.0 * 85.9375 / 187.5_f64).round() as u16);
    // No new-miner discount: uid 1's period is its score, 1.
    let mut e = honest_and_rate_limiting();
    e.param("period.new_multiplier", 1.0);
    close(component(&e.score(), 1, "chat.period"), 1.0);
}

#[test]
fn declared_capacity_is_capped_per_task() {
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 4_000_000_000)])]);
    e.push(request(0, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
    e.param("capacity.max", 1000.0).param("capacity.max.chat", 500.0);
    // Volume: quality 1 × (1 + 0) × 0.25 × 500.
    close(component(&e.score(), 0, "chat.volume"), 125.0);
}

/// The epoch whose exact output is pinned below: the honest and the rate-limiting miner, plus
/// a checked request of uid 1 with an off-top token.
fn pinned_epoch() -> Epoch {
    let mut e = honest_and_rate_limiting();
    e.push(request(1, 0, Outcome::Ok, 33, 700.0)).check(&[
        TokenMeasurement { rank: 1, logprob: -1.2, top_logprob: -0.4 },
        TokenMeasurement { rank: 0, logprob: -0.01, top_logprob: -0.01 },
    ]);
    e
}

#[test]
fn a_fixed_epoch_gives_pinned_outputs() {
    // Pinned numbers, not a comparison of two native runs: the wasm32 build must reproduce
    // them when the integration tests run these inputs through the host.
    let first = pinned_epoch().score();
    let pinned = |out: &EpochOutput| -> Vec<(u16, u16, u64)> {
        out.scores.iter().map(|s| (s.uid, weight(out, s.uid), s.score.to_bits())).collect()
    };
    // uid 0 ≈ 0.1606, uid 1 ≈ 0.8394 of the task.
    let expected = vec![(0, 12545, 4_594_956_580_930_124_300), (1, 65535, 4_605_735_278_640_120_189)];
    assert_eq!(pinned(&first), expected);
    // Carried into a second epoch like it: two equal periods each, so the same shares. State:
    // 4 header bytes, per miner 10 (hotkey) + 3 (gate, task count) + 6 (task) + 1 + 8 per
    // period + 2 + 8 per record: uid 0 with 1 period and 1 record, uid 1 with 1 and 2, is 4 + 38
    // + 46 = 88 bytes; a period and a record (uid 1: two) more each, 4 + 54 + 70 = 128.
    let mut e = pinned_epoch();
    e.state(first.state.clone());
    let second = e.score();
    assert_eq!(pinned(&second), expected);
    assert_eq!((first.state.len(), second.state.len()), (88, 128));
}

#[test]
fn components_stay_within_the_hosts_bounds() {
    let names: Vec<String> = (0..20).map(|i| format!("{i}-{}", "a-very-long-task-name-".repeat(4))).collect();
    let tasks = names.iter().map(|n| task(n, 0.05)).collect();
    let capacities: Vec<(u16, u32)> = (0..20).map(|t| (t, 1000)).collect();
    let mut e = Epoch::new(tasks, vec![miner(0, &capacities)]);
    // 256 miners × 20 tasks could carry more than the host's default 1 MiB: a larger limit.
    e.param("state.max_bytes", 4.0 * 1_048_576.0);
    for t in 0..20 {
        e.push(request(0, t, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(3));
    }
    let out = e.score();
    let components = &out.scores[0].components;
    assert_eq!(components.len(), 2 + 5 * crate::TASKS_WITH_COMPONENTS);
    assert!(components.len() <= 64 && components.iter().all(|c| c.name.len() <= 64));
    // Every task still counts toward the score: 20 × 0.05.
    close(out.scores[0].score, 1.0);
}

#[test]
fn sampled_requests_give_no_quality_record() {
    // uid 0's only checked request is sampled: no record, so no quality and no weight, even with
    // tokens far off the reference's top (the seed's rank limit would widen with temperature).
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 1000)]), miner(1, &[(0, 1000)])]);
    let mut sampled = request(0, 0, Outcome::Ok, 20, 1000.0);
    sampled.greedy = false;
    e.push(sampled).check(&vec![TokenMeasurement { rank: 40, logprob: -6.0, top_logprob: -0.1 }; 20]);
    e.push(request(1, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(20));
    let out = e.score();
    let state = State::decode(&out.state).expect("state decodes");
    assert_eq!(state.task("hotkey-0", "chat").map(|c| c.records.len()), Some(0));
    assert_eq!((weight(&out, 0), weight(&out, 1)), (0, 65535));
    // Its period still counts: the request was answered.
    close(component(&out, 0, "chat.period"), 0.25);
}

#[test]
fn checks_the_validator_could_not_complete_give_no_quality_record() {
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 1000)])]);
    let ok = request(0, 0, Outcome::Ok, 20, 1000.0);
    // A check with no tokens, one with a NaN log-prob, one with an infinite top log-prob.
    e.push(ok.clone()).check(&[]);
    e.push(ok.clone()).check(&[TokenMeasurement { rank: 0, logprob: f64::NAN, top_logprob: -0.1 }]);
    e.push(ok.clone()).check(&[TokenMeasurement { rank: 0, logprob: -0.1, top_logprob: f64::NEG_INFINITY }]);
    let state = State::decode(&e.score().state).expect("state decodes");
    assert_eq!(state.task("hotkey-0", "chat").map(|c| c.records.len()), Some(0));
    // The same with one complete check: exactly one record, of quality 1.
    e.push(ok).check(&perfect_tokens(3));
    let out = e.score();
    let state = State::decode(&out.state).expect("state decodes");
    assert_eq!(
        state.task("hotkey-0", "chat").map(|c| c.records.clone()),
        Some(vec![crate::QualityRecord { quality: 1.0, metric: 20.0 }])
    );
    assert_eq!(component(&out, 0, "chat.quality"), 1.0);
}

#[test]
fn every_ok_request_consumes_capacity_but_only_counted_ones_set_the_shares() {
    // Capacity 100: one synthetic ok (20 tokens), one synthetic 429, two organic ok (30 each).
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 100)])]);
    e.push(request(0, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(5));
    e.push(request(0, 0, Outcome::RateLimited, 0, 5.0));
    let mut organic = request(0, 0, Outcome::Ok, 30, 1000.0);
    organic.kind = RequestKind::Organic;
    e.push_n(2, organic);
    // Synthetic shares: good 1/2, r429 1/2; consumed 20 + 60 = 80: unqueried 0.2.
    // 0.5 × (1 − 0.5 × 0.2) = 0.45; × 0.25.
    close(component(&e.score(), 0, "chat.period"), 0.25 * f32ish(0.45));
    let state = State::decode(&e.score().state).expect("state decodes");
    assert_eq!(state.task("hotkey-0", "chat").map(|c| c.periods[0].consumed), Some(80.0));
    // Organic outcomes counted too: good 3/4, r429 1/4, unqueried 0.2: 0.75 × 0.95 = 0.7125.
    e.param("period.include_organic", 1.0);
    close(component(&e.score(), 0, "chat.period"), 0.25 * f32ish(0.7125));
}

#[test]
fn the_first_capacity_declaration_of_a_task_counts() {
    // uid 0 declares chat twice: 500 first, then 4000. The first wins (a repeat is the miner's
    // doing and is ignored): volume 1 × 1 × 0.25 × 500.
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 500), (0, 4000)])]);
    e.push(request(0, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(5));
    close(component(&e.score(), 0, "chat.volume"), 125.0);
}

#[test]
fn a_miner_absent_from_the_epoch_has_its_state_dropped() {
    let first = honest_and_rate_limiting().score();
    // Epoch 2 has only uid 1; uid 0's hotkey is gone from the state.
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(1, &[(0, 1000)])]);
    e.push(request(1, 0, Outcome::Ok, 20, 1000.0)).state(first.state);
    let state = State::decode(&e.score().state).expect("state decodes");
    assert!(state.get("hotkey-0").is_none());
    assert_eq!(state.task("hotkey-1", "chat").map(|c| c.periods.len()), Some(2));
    assert_eq!(state.len(), 1);
}

#[test]
fn speed_percentile_picks_the_metric_that_is_ranked() {
    // uid 0's two records: 10 and 100 tokens/s; uid 1's: 50 and 60. At the 30th percentile
    // (index ⌊2 × 0.3⌋ = 0) uid 0's metric is 10 < 50: uid 1 is the faster, +0.25. At 0.5
    // (index 1) uid 0's is 100 > 60: uid 0 is the faster.
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 1000)]), miner(1, &[(0, 1000)])]);
    e.push(request(0, 0, Outcome::Ok, 10, 1000.0)).check(&perfect_tokens(3));
    e.push(request(0, 0, Outcome::Ok, 100, 1000.0)).check(&perfect_tokens(3));
    e.push(request(1, 0, Outcome::Ok, 50, 1000.0)).check(&perfect_tokens(3));
    e.push(request(1, 0, Outcome::Ok, 60, 1000.0)).check(&perfect_tokens(3));
    let out = e.score();
    assert_eq!((component(&out, 0, "chat.speed_bonus"), component(&out, 1, "chat.speed_bonus")), (-0.25, 0.25));
    e.param("speed.percentile", 0.5);
    let out = e.score();
    assert_eq!((component(&out, 0, "chat.speed_bonus"), component(&out, 1, "chat.speed_bonus")), (0.25, -0.25));
}

#[test]
fn a_miner_without_quality_records_shows_its_period_and_no_made_up_quality() {
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0, &[(0, 1000)]), miner(1, &[(0, 1000)])]);
    e.push(request(0, 0, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(3));
    // uid 1: answered, never checked.
    e.push(request(1, 0, Outcome::Ok, 20, 1000.0));
    let out = e.score();
    let s = out.scores.iter().find(|s| s.uid == 1).expect("uid 1 scored");
    let names: Vec<&str> = s.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["failed_challenges", "gated", "chat.period", "chat.score"]);
    close(component(&out, 1, "chat.period"), 0.25);
    assert_eq!(component(&out, 1, "chat.score"), 0.0);
}
