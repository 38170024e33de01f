//! Whole epochs through the policy: the honest beat the rate-limiting, a failed challenge
//! zeroes, task weights split, the state carries history, and the output is deterministic.

use assay_policy_sdk::{EpochOutput, NO_MINER, Outcome, RequestKind, Verdict};

use super::{Epoch, challenge, close, component, miner, perfect_tokens, request, task, weight};
use crate::State;

/// Two miners of capacity 1000 on one task: uid 0 answers 5 of 10 requests and rate-limits
/// the rest, uid 1 answers all 10. One checked request each, perfect tokens, the same speed.
fn honest_and_rate_limiting() -> Epoch {
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
    // × 0.25 (new miners): 0.25 and 0.06875.
    close(component(&out, 1, "chat.period"), 0.25);
    close(component(&out, 0, "chat.period"), 0.068_75);
    // Same speed (20 tokens in 1 s, quality 1): the tie goes to uid 0, +0.25; uid 1 −0.25.
    assert_eq!((component(&out, 0, "chat.speed_bonus"), component(&out, 1, "chat.speed_bonus")), (0.25, -0.25));
    assert_eq!(component(&out, 0, "chat.quality"), 1.0);
    // Volumes: 1 × 1.25 × 0.06875 × 1000 = 85.9375 and 1 × 0.75 × 0.25 × 1000 = 187.5.
    close(component(&out, 0, "chat.volume"), 85.9375);
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
    assert_eq!(second.scores.iter().find(|s| s.uid == 1).map(|s| s.score), Some(0.0));
    assert_eq!(weight(&second, 1), 0);
    // A void counts neither way: uid 0 is alone with a positive score, so it gets 65535.
    assert_eq!(component(&second, 0, "failed_challenges"), 0.0);
    assert_eq!(weight(&second, 0), 65535);
    let state = State::decode(&second.state).expect("state decodes");
    assert!(state.get("hotkey-1", "chat").is_none(), "the cheater's history is dropped");
    assert_eq!(state.get("hotkey-0", "chat").map(|c| c.periods.len()), Some(2));
    // Epoch 3, honest again: uid 1 restarts from one period and one quality record.
    let mut e = honest_and_rate_limiting();
    e.state(second.state);
    let state = State::decode(&e.score().state).expect("state decodes");
    let restarted = state.get("hotkey-1", "chat").expect("carried again");
    assert_eq!((restarted.periods.len(), restarted.records.len()), (1, 1));
    assert_eq!(state.get("hotkey-0", "chat").map(|c| c.periods.len()), Some(3));
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
        let carried = decoded.get("hotkey-1", "chat").expect("carried");
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
    close(component(&e.score(), 0, "chat.period"), 0.025);
    // A timeout is the seed's "500": 1 good of 2, r500 0.5, unqueried 0.8: 0.5 × 0.6² = 0.18, × 0.25.
    let mut e = base();
    e.push(request(0, 0, Outcome::Timeout, 0, 5.0));
    close(component(&e.score(), 0, "chat.period"), 0.045);
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

/// Every byte of an output: weights, scores with their components (as bits), state.
fn output_bytes(out: &EpochOutput) -> Vec<u8> {
    let mut bytes = Vec::new();
    for w in &out.weights {
        bytes.extend_from_slice(&w.uid.to_le_bytes());
        bytes.extend_from_slice(&w.weight.to_le_bytes());
    }
    for s in &out.scores {
        bytes.extend_from_slice(&s.uid.to_le_bytes());
        bytes.extend_from_slice(&s.score.to_bits().to_le_bytes());
        for c in &s.components {
            bytes.extend_from_slice(c.name.as_bytes());
            bytes.extend_from_slice(&c.value.to_bits().to_le_bytes());
        }
    }
    bytes.extend_from_slice(&out.state);
    bytes
}

#[test]
fn the_same_input_gives_the_same_output_bytes() {
    let mut e = honest_and_rate_limiting();
    e.push(request(1, 0, Outcome::Ok, 33, 700.0)).check(&[
        assay_policy_sdk::TokenMeasurement { rank: 1, logprob: -1.2, top_logprob: -0.4 },
        assay_policy_sdk::TokenMeasurement { rank: 0, logprob: -0.01, top_logprob: -0.01 },
    ]);
    let first = e.score();
    e.state(first.state.clone());
    let (a, b) = (e.score(), e.score());
    assert_eq!(output_bytes(&a), output_bytes(&b));
    assert_ne!(output_bytes(&a), output_bytes(&first), "the carried state changes the result");
}

#[test]
fn malformed_inputs_and_parameters_are_errors() {
    let err = |e: &Epoch| crate::score(&e.input).expect_err("refused");
    let mut e = honest_and_rate_limiting();
    e.param("period.decay", 2.0);
    assert!(err(&e).contains("period.decay"));
    let mut e = honest_and_rate_limiting();
    e.param("period.history", 2.5);
    assert!(err(&e).contains("whole number"));
    let mut e = honest_and_rate_limiting();
    e.param("period.history", 8.0);
    assert!(err(&e).contains("must be below period.history"));
    let mut e = honest_and_rate_limiting();
    e.param("token.distance_zero", 0.1);
    assert!(err(&e).contains("must exceed"));
    let mut e = honest_and_rate_limiting();
    e.state(b"garbage".to_vec());
    assert!(err(&e).contains("state blob"));
    let mut e = honest_and_rate_limiting();
    e.input.requests.outcome.pop();
    assert!(err(&e).contains("requests"));
    let mut e = honest_and_rate_limiting();
    e.input.token_checks.request[0] = 999;
    assert!(err(&e).contains("past the end"));
    let mut e = honest_and_rate_limiting();
    e.input.miners.push(miner(1, &[]));
    assert!(err(&e).contains("listed twice"));
    let mut e = honest_and_rate_limiting();
    e.input.tasks[0].weight = f64::NAN;
    assert!(err(&e).contains("weight"));
}

#[test]
fn components_stay_within_the_hosts_bounds() {
    let names: Vec<String> = (0..20).map(|i| format!("{i}-{}", "a-very-long-task-name-".repeat(4))).collect();
    let tasks = names.iter().map(|n| task(n, 0.05)).collect();
    let capacities: Vec<(u16, u32)> = (0..20).map(|t| (t, 1000)).collect();
    let mut e = Epoch::new(tasks, vec![miner(0, &capacities)]);
    for t in 0..20 {
        e.push(request(0, t, Outcome::Ok, 20, 1000.0)).check(&perfect_tokens(3));
    }
    let out = e.score();
    let components = &out.scores[0].components;
    assert_eq!(components.len(), 1 + 5 * crate::TASKS_WITH_COMPONENTS);
    assert!(components.len() <= 64 && components.iter().all(|c| c.name.len() <= 64));
    // Every task still counts toward the score: 20 × 0.05.
    close(out.scores[0].score, 1.0);
}
