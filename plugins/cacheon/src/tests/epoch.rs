//! Whole epochs on hand-computed cases, and the edge cases: no miners, a miner with no rows,
//! uids not listed, no baseline, unreadable numbers, the leader rule across epochs, the gates.

use assay_policy_sdk::{Outcome, RequestKind, TokenMeasurement, Verdict};

use super::{Epoch, baseline, challenge, close, component, has_component, miner, request, score_of, task, weight};
use crate::{Leader, State};

/// Checked greedy requests of `uid` on `task`, 100 tokens each: first token after each of
/// `ttfts`, the last at `total_ms` (100 / `total_ms` tokens per millisecond).
fn compete(e: &mut Epoch, uid: u16, task: u16, ttfts: &[f64], total_ms: f64) {
    for &ttft in ttfts {
        e.checked(request(uid, task, 100, ttft, total_ms));
    }
}

/// The baseline on `task`: 3 requests, first token at 500 ms, 100 tokens in 2 s (50 tok/s).
fn baseline_run(e: &mut Epoch, task: u16) {
    for _ in 0..3 {
        e.push(baseline(task, 100, 500.0, 2000.0));
    }
}

/// One task; uid 0 (the burn uid) serves nothing; uid 1 at a median 400 ms and 100 tok/s;
/// uid 2 at 450 ms and 62.5 tok/s; uid 3 slower than the baseline.
fn three_servers() -> Epoch {
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0), miner(1), miner(2), miner(3)]);
    baseline_run(&mut e, 0);
    compete(&mut e, 1, 0, &[430.0, 380.0, 400.0], 1000.0);
    compete(&mut e, 2, 0, &[450.0, 450.0, 450.0], 1600.0);
    compete(&mut e, 3, 0, &[600.0, 600.0, 600.0], 2000.0);
    e
}

#[test]
fn the_fastest_correct_server_wins_80_and_the_runner_up_20() {
    let out = three_servers().score();
    // uid 1: ttft (500 - 400) / 500 = 0.2; tps 100 tokens in 1 s = 100, (100 - 50) / 50 = 1.0;
    // score 0.5 × 0.2 + 0.5 × 1.0 = 0.6.
    close(component(&out, 1, "chat.median_ttft_ms"), 400.0);
    close(component(&out, 1, "chat.median_tps"), 100.0);
    close(component(&out, 1, "chat.baseline_ttft_ms"), 500.0);
    close(component(&out, 1, "chat.baseline_tps"), 50.0);
    close(component(&out, 1, "chat.ttft_improvement"), 0.2);
    close(component(&out, 1, "chat.tps_improvement"), 1.0);
    close(component(&out, 1, "fresh_score"), 0.6);
    // uid 2: ttft 50 / 500 = 0.1; tps 100 / 1.6 = 62.5, 12.5 / 50 = 0.25; 0.05 + 0.125 = 0.175.
    close(component(&out, 2, "fresh_score"), 0.175);
    // uid 3: slower on both, clipped: 0.
    assert_eq!(component(&out, 3, "fresh_score"), 0.0);
    assert_eq!(component(&out, 3, "chat.ttft_improvement"), 0.0);
    // Pool min(1, 0.6 / 0.5) = 1: 0.8 to uid 1, 0.2 to uid 2, nothing burned.
    assert_eq!(component(&out, 1, "winner"), 1.0);
    assert_eq!(component(&out, 2, "runner_up"), 1.0);
    assert_eq!(component(&out, 0, "pool"), 1.0);
    close(score_of(&out, 1), 0.8);
    close(score_of(&out, 2), 0.2);
    assert_eq!(score_of(&out, 0), 0.0);
    // Weights: 65535 and 0.2 / 0.8 × 65535 = 16383.75 → 16384.
    let weights: Vec<(u16, u16)> = out.weights.iter().map(|w| (w.uid, w.weight)).collect();
    assert_eq!(weights, vec![(0, 0), (1, 65535), (2, 16384), (3, 0)]);
    // The winner leads from now on, with its score.
    let next = State::decode(&out.state).expect("state");
    assert_eq!(next.leader, Some(Leader { hotkey: "hotkey-1".to_string(), score: 0.6 }));
    // Gate statistics: 4 tokens a request, each rank 0 at -0.2.
    assert_eq!(component(&out, 1, "chat.similarity"), 1.0);
    close(component(&out, 1, "chat.mean_logprob"), -0.2);
    assert_eq!(component(&out, 1, "correct"), 1.0);
}

#[test]
fn a_small_winner_pays_part_of_the_pool_and_the_rest_is_burned() {
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0), miner(2), miner(3)]);
    baseline_run(&mut e, 0);
    compete(&mut e, 2, 0, &[450.0], 1600.0);
    compete(&mut e, 3, 0, &[600.0], 2000.0);
    let out = e.score();
    // Pool 0.175 / 0.5 = 0.35; winner 0.35 × 0.8 = 0.28; no runner-up (uid 3 has 0), so
    // burned 1 - 0.28 = 0.72, to uid 0.
    close(component(&out, 2, "pool"), 0.35);
    close(score_of(&out, 2), 0.28);
    close(score_of(&out, 0), 0.72);
    close(component(&out, 0, "burned"), 0.72);
    // 0.28 / 0.72 × 65535 = 25485.83 → 25486.
    assert_eq!(weight(&out, 0), 65535);
    assert_eq!(weight(&out, 2), 25486);
    // The burn uid unlisted: the weights are just the winner's; the components keep the split.
    e.input.miners.remove(0);
    let out = e.score();
    let weights: Vec<(u16, u16)> = out.weights.iter().map(|w| (w.uid, w.weight)).collect();
    assert_eq!(weights, vec![(2, 65535), (3, 0)]);
    close(component(&out, 2, "burned"), 0.72);
    // Another burn uid, listed: it gets the burn.
    e.param("burn.uid", 3.0);
    let out = e.score();
    close(score_of(&out, 3), 0.72);
}

#[test]
fn a_challenger_must_beat_the_leaders_fresh_score_by_1_percent() {
    let run = |challenger_ttft: f64| {
        let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(1), miner(2)]);
        baseline_run(&mut e, 0);
        compete(&mut e, 1, 0, &[400.0], 1000.0);
        compete(&mut e, 2, 0, &[challenger_ttft], 1000.0);
        // The carried score (0.9) is not what counts: the leader's fresh 0.6 is.
        let mut carried = State::default();
        carried.leader = Some(Leader { hotkey: "hotkey-1".to_string(), score: 0.9 });
        e.state(carried.encode());
        e.score()
    };
    // uid 2 at 395 ms: 0.5 × 0.21 + 0.5 × 1.0 = 0.605, under 0.6 × 1.01 = 0.606: uid 1 keeps it.
    let out = run(395.0);
    close(component(&out, 2, "fresh_score"), 0.605);
    assert_eq!(component(&out, 1, "previous_leader"), 1.0);
    assert_eq!(component(&out, 1, "winner"), 1.0);
    assert_eq!(component(&out, 2, "runner_up"), 1.0);
    // At 390 ms: 0.5 × 0.22 + 0.5 = 0.61 > 0.606: uid 2 takes the lead.
    let out = run(390.0);
    assert_eq!(component(&out, 2, "winner"), 1.0);
    let next = State::decode(&out.state).expect("state");
    assert!(next.is_leader("hotkey-2"));
}

#[test]
fn a_failed_challenge_scores_nothing_and_costs_the_lead_for_gate_epochs() {
    let mut e = three_servers();
    let mut carried = State::default();
    carried.leader = Some(Leader { hotkey: "hotkey-1".to_string(), score: 0.6 });
    e.state(carried.encode()).param("gate.epochs", 1.0);
    e.challenge(challenge(1, Verdict::Pass)).challenge(challenge(1, Verdict::Fail));
    e.challenge(challenge(2, Verdict::Void));
    let out = e.score();
    assert_eq!(component(&out, 1, "failed_challenges"), 1.0);
    assert_eq!(component(&out, 1, "gated"), 1.0);
    assert_eq!(component(&out, 1, "fresh_score"), 0.0);
    assert_eq!(weight(&out, 1), 0);
    // The leader lost the lead; uid 2 (0.175) wins, void verdicts count neither way.
    assert_eq!(component(&out, 2, "winner"), 1.0);
    // The next epoch, all passes: still gated (gate.epochs 1); the one after: free again.
    let mut e = three_servers();
    e.state(out.state).param("gate.epochs", 1.0);
    let out = e.score();
    assert_eq!(component(&out, 1, "gated"), 1.0);
    assert_eq!(weight(&out, 1), 0);
    let mut e = three_servers();
    e.state(out.state).param("gate.epochs", 1.0);
    let out = e.score();
    assert_eq!(component(&out, 1, "gated"), 0.0);
    assert_eq!(component(&out, 1, "winner"), 1.0);
}

#[test]
fn the_correctness_gate_zeroes_wrong_or_unchecked_output() {
    let mut e = three_servers();
    // uid 1's tokens: half off the reference's greedy choice, similarity 0.5 < 0.9.
    let off = TokenMeasurement { rank: 1, logprob: -1.5, top_logprob: -0.3 };
    let on = TokenMeasurement { rank: 0, logprob: -0.3, top_logprob: -0.3 };
    e.push(request(1, 0, 101, 400.0, 1400.0))
        .check(&(0..14).map(|i| if i % 2 == 0 { off.clone() } else { on.clone() }).collect::<Vec<_>>());
    let out = e.score();
    // 3 × 4 tokens on, 7 of 14 on: (12 + 7) / 26 = 0.7307...
    close(component(&out, 1, "chat.similarity"), 19.0 / 26.0);
    assert_eq!(component(&out, 1, "correct"), 0.0);
    assert_eq!(component(&out, 1, "fresh_score"), 0.0);
    assert_eq!(component(&out, 2, "winner"), 1.0);
    // Unchecked: uid 2's requests without token checks cannot pass.
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(2)]);
    baseline_run(&mut e, 0);
    e.push(request(2, 0, 101, 450.0, 2050.0));
    let out = e.score();
    assert_eq!(component(&out, 2, "correct"), 0.0);
    assert!(!has_component(&out, 2, "chat.similarity"));
    assert!(out.weights.is_empty());
}

#[test]
fn a_check_with_a_non_finite_logprob_is_left_out_whole() {
    let mut e = three_servers();
    let broken = TokenMeasurement { rank: 5, logprob: f64::NAN, top_logprob: -0.1 };
    e.push(request(1, 0, 101, 400.0, 1400.0)).check(&[broken.clone(), broken]);
    let out = e.score();
    // Only the 3 good checks (12 tokens) count: similarity 1, and uid 1 still wins.
    assert_eq!(component(&out, 1, "chat.similarity"), 1.0);
    assert_eq!(component(&out, 1, "winner"), 1.0);
}

#[test]
fn too_few_ok_requests_are_not_timed() {
    let mut e = three_servers();
    let mut timeout = request(1, 0, 0, 0.0, 30_000.0);
    timeout.outcome = Outcome::Timeout;
    e.push(timeout);
    // A cancelled request is the client's doing: not counted.
    let mut cancelled = request(1, 0, 0, 0.0, 10.0);
    cancelled.outcome = Outcome::Cancelled;
    e.push(cancelled);
    let out = e.score();
    // 3 ok of 4 counted = 0.75 < 0.9: not timed, no score on the task.
    close(component(&out, 1, "chat.ok_share"), 0.75);
    assert!(!has_component(&out, 1, "chat.median_ttft_ms"));
    assert_eq!(component(&out, 1, "fresh_score"), 0.0);
    e.param("competition.min_ok_share", 0.75);
    close(component(&e.score(), 1, "fresh_score"), 0.6);
}

#[test]
fn empty_answers_are_not_ok() {
    let mut e = three_servers();
    // uid 3 (600 ms, no better than the baseline) answers 4 more prompts at once with nothing.
    // Timed, they would give a median time to first token of 1 ms (4 of 7 at 1 ms), a
    // ttft_improvement of (500 - 1) / 500 = 0.998 and a score of 0.499, over uid 2's 0.175.
    for _ in 0..4 {
        e.push(request(3, 0, 0, 1.0, 1.0));
    }
    let out = e.score();
    // 3 ok of 7 counted = 3 / 7 < 0.9: not timed, 0; uid 2 stays runner-up.
    close(component(&out, 3, "chat.ok_share"), 3.0 / 7.0);
    assert!(!has_component(&out, 3, "chat.median_ttft_ms"));
    assert_eq!(component(&out, 2, "runner_up"), 1.0);
    // Even where every share passes, the empty answers are not timed: the median is 600 ms.
    e.param("competition.min_ok_share", 0.0);
    let out = e.score();
    assert_eq!(component(&out, 3, "chat.median_ttft_ms"), 600.0);
    assert_eq!(component(&out, 3, "fresh_score"), 0.0);
}

#[test]
fn unreadable_timings_count_but_are_not_timed() {
    let mut e = three_servers();
    e.checked(request(1, 0, 101, f64::NAN, 1400.0));
    e.checked(request(1, 0, 101, 50.0, -3.0));
    let out = e.score();
    // 5 ok of 5: timed on the 3 readable ones, as before.
    close(component(&out, 1, "chat.median_ttft_ms"), 400.0);
    close(component(&out, 1, "fresh_score"), 0.6);
}

#[test]
fn a_burst_after_the_first_token_gains_nothing() {
    // uid 3 buffers its answer: first token at 1990 ms, the other 99 at 2000 ms. A decode rate
    // would be 99 tokens in 10 ms = 9900 tok/s; end to end it is 100 tokens in 2 s = 50 tok/s,
    // the baseline's: no improvement on either count.
    let mut e = three_servers();
    e.input.requests = Default::default();
    e.input.token_checks = Default::default();
    baseline_run(&mut e, 0);
    compete(&mut e, 1, 0, &[400.0], 1000.0);
    compete(&mut e, 3, 0, &[1990.0, 1990.0, 1990.0], 2000.0);
    let out = e.score();
    assert_eq!(component(&out, 3, "chat.median_tps"), 50.0);
    assert_eq!(component(&out, 3, "fresh_score"), 0.0);
    assert_eq!(component(&out, 1, "winner"), 1.0);
}

#[test]
fn tasks_combine_by_their_weights() {
    let mut e = Epoch::new(vec![task("chat", 0.75), task("code", 0.25)], vec![miner(1), miner(2)]);
    baseline_run(&mut e, 0);
    baseline_run(&mut e, 1);
    compete(&mut e, 1, 0, &[400.0], 1000.0);
    compete(&mut e, 2, 1, &[400.0], 1000.0);
    let out = e.score();
    // Each scores 0.6 on its task: 0.75 × 0.6 = 0.45 and 0.25 × 0.6 = 0.15.
    close(component(&out, 1, "fresh_score"), 0.45);
    close(component(&out, 2, "fresh_score"), 0.15);
    assert!(!has_component(&out, 1, "code.score"));
    // Wrong output on one task zeroes the miner everywhere.
    e.push(request(1, 1, 101, 400.0, 1400.0)).check(&[TokenMeasurement { rank: 3, logprob: -9.0, top_logprob: -0.1 }]);
    let out = e.score();
    assert_eq!(component(&out, 1, "fresh_score"), 0.0);
}

#[test]
fn no_baseline_means_nobody_scores() {
    let mut e = Epoch::new(vec![task("chat", 1.0)], vec![miner(0), miner(1)]);
    compete(&mut e, 1, 0, &[400.0], 1000.0);
    let out = e.score();
    assert_eq!(component(&out, 1, "fresh_score"), 0.0);
    assert!(!has_component(&out, 1, "chat.baseline_ttft_ms"));
    // Everything burned, to the listed burn uid.
    assert_eq!(score_of(&out, 0), 1.0);
    assert_eq!(weight(&out, 0), 65535);
    assert_eq!(State::decode(&out.state).expect("state").leader, None);
}

#[test]
fn no_miners_and_miners_with_no_rows() {
    let e = Epoch::new(vec![task("chat", 1.0)], vec![]);
    let out = e.score();
    assert!(out.scores.is_empty() && out.weights.is_empty());
    assert_eq!(out.state, State::default().encode());
    // A listed miner that sent nothing: a score of 0 with the shared components only.
    let mut e = three_servers();
    e.input.miners.push(miner(9));
    let out = e.score();
    assert_eq!(score_of(&out, 9), 0.0);
    assert_eq!(component(&out, 9, "correct"), 0.0);
    assert!(!has_component(&out, 9, "chat.ok_share"));
    assert_eq!(out.scores.len(), 5);
    // No tasks at all: nobody competes.
    let e = Epoch::new(vec![], vec![miner(0), miner(1)]);
    assert_eq!(score_of(&e.score(), 0), 1.0);
}

#[test]
fn rows_of_unlisted_uids_organic_rows_and_odd_baselines_are_ignored() {
    let reference = three_servers().score();
    let mut e = three_servers();
    // Faster than anyone, but uid 30 is not listed.
    compete(&mut e, 30, 0, &[10.0], 100.0);
    // Organic traffic is no part of the competition.
    let mut organic = request(3, 0, 101, 10.0, 110.0);
    organic.kind = RequestKind::Organic;
    e.push(organic);
    // A "baseline" row from a miner's uid, and a baseline row of a task that does not exist.
    e.push(assay_policy_sdk::Request { kind: RequestKind::Baseline, ..request(3, 0, 101, 9000.0, 9999.0) });
    e.push(baseline(7, 101, 1.0, 2.0));
    // A sampled request is timed but not checked.
    let mut sampled = request(2, 0, 100, 450.0, 1600.0);
    sampled.greedy = false;
    e.push(sampled).check(&[TokenMeasurement { rank: 9, logprob: -50.0, top_logprob: -0.1 }]);
    let out = e.score();
    assert_eq!(out.weights, reference.weights);
    close(component(&out, 2, "fresh_score"), 0.175);
    assert_eq!(component(&out, 2, "chat.similarity"), 1.0);
}

#[test]
fn hostile_numbers_give_finite_components() {
    let mut e = three_servers();
    // Log-probs past the contract's range count as its bounds: -1e308 as the floor, +5 as 0.
    let low = TokenMeasurement { rank: 0, logprob: -1e308, top_logprob: -0.1 };
    let high = TokenMeasurement { rank: 0, logprob: 5.0, top_logprob: -0.1 };
    e.push(request(2, 0, 101, 450.0, 2050.0)).check(&[low.clone(), low, high]);
    // Times at the edge of f64.
    e.checked(request(3, 0, 101, f64::MAX, f64::MAX));
    e.checked(request(3, 0, 101, 0.0, 1e-310));
    let out = e.score();
    assert_eq!(component(&out, 2, "chat.min_logprob"), -1000.0);
    // 3 requests × 4 tokens at -0.2, then -1000, -1000, 0: (-2.4 - 2000) / 15 = -133.49...
    close(component(&out, 2, "chat.mean_logprob"), -2002.4 / 15.0);
    assert_eq!(component(&out, 2, "correct"), 0.0);
    for s in &out.scores {
        assert!(s.score.is_finite());
        assert!(s.components.iter().all(|c| c.value.is_finite()), "uid {}: {:?}", s.uid, s.components);
    }
}

#[test]
fn components_fit_the_hosts_limits_with_many_long_named_tasks() {
    // 8 tasks with names longer than a component allows, the miner competing on every one.
    let tasks = (0..8).map(|i| task(&format!("{i}{}", "n".repeat(70)), 0.125)).collect();
    let mut e = Epoch::new(tasks, vec![miner(1)]);
    for t in 0..8 {
        baseline_run(&mut e, t);
        compete(&mut e, 1, t, &[400.0], 1000.0);
    }
    let out = e.score();
    let components = &out.scores[0].components;
    // 9 shared, then 11 for each of the first 5 tasks: 64, the host's limit.
    assert_eq!(components.len(), 9 + 5 * 11);
    assert!(components.iter().all(|c| c.name.len() <= 64), "{components:?}");
    // Each task scores 0.6: 8 × 0.125 × 0.6 = 0.6, including the tasks without components.
    close(component(&out, 1, "fresh_score"), 0.6);
}
