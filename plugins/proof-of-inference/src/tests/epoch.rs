//! Whole epochs through `score`: speed, failures, the gate, samples, state, order.

use assay_policy_sdk::{Challenge, EpochInput, TaskCapacity, Verdict};

use super::{close, component, fail, input, miner, next, pass, proof, weight, with_param};
use crate::{Prover, ProverState, score};

/// 0.9^5: what is left of the distance to the target after five passes from s = 0.
const AFTER_FIVE: f64 = 1.0 - 0.59049;

/// Fixed bounds 100 ms .. 1100 ms, so a pass at 100 ms has rt_norm 0 and target 1/n.
fn fixed_bounds(input: EpochInput) -> EpochInput {
    let input = with_param(input, "rt.from_epoch", 0.0);
    let input = with_param(input, "rt.min_ms", 100.0);
    with_param(input, "rt.max_ms", 1_100.0)
}

#[test]
fn a_fast_honest_prover_beats_a_slow_one() {
    let miners = vec![miner(0, 1_000), miner(1, 1_000), miner(2, 1_000)];
    let mut challenges = Vec::new();
    for _ in 0..5 {
        challenges.extend([pass(0, 100.0), pass(1, 600.0), pass(2, 1_100.0)]);
    }
    let out = score(&input(miners, challenges)).expect("scores");

    // Bounds from the epoch: fastest 100 ms; 5 % of 3 samples is one, the slowest, 1100 ms.
    // rt_norm: 0, (600 - 100) / 1000 = 0.5, (1100 - 100) / 1000 = 1 capped at 0.99.
    close(component(&out, 0, "rt"), 0.0);
    close(component(&out, 1, "rt"), 0.5);
    close(component(&out, 2, "rt"), 0.99);
    // n = 3; targets 1/3 × (1 - tan_curve): 1/3, 1/3 × 0.5, 1/3 × 0.07765552; five passes
    // from 0 reach target × (1 - 0.9^5) = target × 0.40951.
    close(component(&out, 0, "s"), AFTER_FIVE / 3.0); // 0.13650333
    close(component(&out, 1, "s"), 0.5 * AFTER_FIVE / 3.0); // 0.06825167
    assert!((component(&out, 2, "s") - 0.07765552 * AFTER_FIVE / 3.0).abs() < 1e-9); // 0.01060032
    // Equal capacity: shares 1, (0.5)^5 = 0.03125, (0.07765552)^5 = 2.8e-6.
    assert_eq!(weight(&out, 0), 65535);
    assert_eq!(weight(&out, 1), 2048);
    assert_eq!(weight(&out, 2), 0);
    assert!(out.scores[0].score > out.scores[1].score && out.scores[1].score > out.scores[2].score);
}

#[test]
fn a_failure_drops_s_by_forty_percent_and_gates_the_epoch() {
    let miners = || vec![miner(0, 1_000), miner(1, 1_000)];
    let first = score(&fixed_bounds(input(miners(), vec![pass(0, 100.0), pass(0, 100.0), pass(0, 100.0)])))
        .expect("first epoch");
    // n = 2, target 0.5: three passes reach 0.5 × (1 - 0.9^3) = 0.5 × 0.271 = 0.1355.
    let s1 = component(&first, 0, "s");
    close(s1, 0.1355);
    assert_eq!(weight(&first, 0), 65535);

    let second = score(&fixed_bounds(next(&first, miners(), vec![fail(0), pass(1, 100.0), pass(1, 100.0)])))
        .expect("second epoch");
    // One failure: 0.1355 - 0.4 × 0.1355 = 0.0813, 60 % of what it had.
    assert_eq!(component(&second, 0, "s"), s1 - 0.4 * s1);
    close(component(&second, 0, "s"), 0.0813);
    assert_eq!(component(&second, 0, "gated"), 1.0);
    assert_eq!(weight(&second, 0), 0);
    // Miner 1, two passes from 0 toward 0.5: 0.05, then 0.05 + 0.1 × 0.45 = 0.095.
    close(component(&second, 1, "s"), 0.095);
    assert_eq!(weight(&second, 1), 65535);
}

#[test]
fn the_gate_zeroes_a_cheater_however_fast_its_other_proofs() {
    let miners = || vec![miner(0, 1_000), miner(1, 1_000)];
    // Miner 0 proves fast but one proof fails; miner 1 is honest and slower.
    let mut challenges = vec![pass(0, 100.0), pass(0, 100.0), fail(0), pass(0, 100.0), pass(0, 100.0)];
    challenges.extend((0..4).map(|_| pass(1, 600.0)));
    let first = score(&fixed_bounds(input(miners(), challenges))).expect("scores");
    assert_eq!(component(&first, 0, "gated"), 1.0);
    assert_eq!(component(&first, 0, "fails"), 1.0);
    assert_eq!(weight(&first, 0), 0);
    assert_eq!(first.scores[0].score, 0.0);
    assert_eq!(weight(&first, 1), 65535);
    // Its s was cut on the way: 0.05, 0.095, ×0.6 = 0.057, 0.1013, 0.14117 (target 0.5),
    // against 0.5 × (1 - 0.9^4) = 0.17195 had the third proof passed too.
    close(component(&first, 0, "s"), 0.14117);

    // The next epoch it passes everything: weighted again, from where the failure left it.
    let clean = vec![pass(0, 100.0), pass(1, 600.0)];
    let second = score(&fixed_bounds(next(&first, miners(), clean))).expect("second epoch");
    assert_eq!(component(&second, 0, "gated"), 0.0);
    assert!(weight(&second, 0) > 0);
}

#[test]
fn a_miner_is_weighted_only_after_the_minimum_of_samples() {
    let miners = || vec![miner(0, 1_000)];
    let first = score(&fixed_bounds(input(miners(), vec![pass(0, 100.0)]))).expect("first epoch");
    assert_eq!(component(&first, 0, "samples"), 1.0);
    assert!(component(&first, 0, "s") > 0.0);
    // One verified proof of the two required: nothing to set on chain.
    assert!(first.weights.is_empty());
    assert_eq!(first.scores[0].score, 0.0);

    let second = score(&fixed_bounds(next(&first, miners(), vec![pass(0, 100.0)]))).expect("second epoch");
    assert_eq!(component(&second, 0, "samples"), 2.0);
    assert_eq!(weight(&second, 0), 65535);

    // A policy that asks for one sample weights it at once.
    let eager = with_param(fixed_bounds(input(miners(), vec![pass(0, 100.0)])), "weights.min_samples", 1.0);
    assert_eq!(weight(&score(&eager).expect("scores"), 0), 65535);
}

#[test]
fn proofs_apply_in_challenge_order_and_void_changes_nothing() {
    let run = |challenges: Vec<Challenge>| {
        let out = score(&fixed_bounds(input(vec![miner(0, 1_000)], challenges))).expect("scores");
        component(&out, 0, "s")
    };
    // n = 1, target 1: pass then fail: 0.1, then 0.1 × 0.6 = 0.06; fail then pass: 0, then 0.1.
    close(run(vec![pass(0, 100.0), fail(0)]), 0.06);
    close(run(vec![fail(0), pass(0, 100.0)]), 0.1);
    // Void, and a pass the validator recorded no response time for, change nothing.
    let untouched =
        vec![proof(0, Verdict::Void, Some(100.0)), proof(0, Verdict::Void, None), proof(0, Verdict::Pass, None)];
    let out = score(&fixed_bounds(input(vec![miner(0, 1_000)], untouched))).expect("scores");
    assert_eq!(component(&out, 0, "s"), 0.0);
    assert_eq!(component(&out, 0, "samples"), 0.0);
    assert_eq!(component(&out, 0, "passes"), 0.0);
    assert_eq!(component(&out, 0, "untimed"), 1.0);
    assert_eq!(component(&out, 0, "gated"), 0.0);
    assert_eq!(component(&out, 0, "rt"), -1.0);
}

#[test]
fn an_epoch_of_untimed_passes_weights_nobody_and_says_why() {
    // Every proof verified but the validator recorded no response time: all void.
    let untimed = |uid| proof(uid, Verdict::Pass, None);
    let challenges = vec![untimed(0), untimed(0), untimed(0), untimed(1), untimed(1)];
    for min_samples in [2.0, 0.0] {
        let epoch = with_param(
            input(vec![miner(0, 1_000), miner(1, 1_000)], challenges.clone()),
            "weights.min_samples",
            min_samples,
        );
        let out = score(&epoch).expect("scores");
        assert!(out.weights.is_empty(), "min_samples {min_samples}: {:?}", out.weights);
        for (uid, count) in [(0, 3.0), (1, 2.0)] {
            assert_eq!(component(&out, uid, "untimed"), count);
            assert_eq!(component(&out, uid, "passes"), 0.0);
            assert_eq!(component(&out, uid, "samples"), 0.0);
            assert_eq!(component(&out, uid, "s"), 0.0);
            assert_eq!(component(&out, uid, "gated"), 0.0);
            assert_eq!(component(&out, uid, "rt_ms"), -1.0);
        }
    }
}

#[test]
fn a_uid_registered_during_the_epoch_inherits_nothing() {
    // uid 0 changed hands at block 100 of an epoch that began at block 0: its challenges may be
    // its predecessor's, so none counts, neither for it nor for the bounds.
    let mut newcomer = miner(0, 1_000);
    newcomer.registered_at_block = 100;
    let challenges = vec![pass(0, 10.0), fail(0), pass(0, 10.0), pass(1, 100.0), pass(2, 1_100.0)];
    let out = score(&input(vec![newcomer, miner(1, 1_000), miner(2, 1_000)], challenges.clone())).expect("scores");
    assert_eq!(component(&out, 0, "reregistered"), 1.0);
    for name in ["s", "samples", "passes", "fails", "gated"] {
        assert_eq!(component(&out, 0, name), 0.0, "{name}");
    }
    assert_eq!(weight(&out, 0), 0);
    // Bounds 100 .. 1100 ms from uids 1 and 2 alone: uid 1 is the fastest, rt 0 (not 90 / 1090).
    assert_eq!(component(&out, 1, "rt"), 0.0);
    assert_eq!(component(&out, 1, "reregistered"), 0.0);
    assert_eq!(ProverState::decode(&out.state).expect("state decodes").get("hotkey-0").samples, 0);

    // Registered at the epoch's first block: the uid's challenges are its own.
    let mut early = input(vec![miner(0, 1_000), miner(1, 1_000), miner(2, 1_000)], challenges);
    early.block_start = 100;
    early.miners[0].registered_at_block = 100;
    let out = score(&early).expect("scores");
    assert_eq!(component(&out, 0, "reregistered"), 0.0);
    assert_eq!((component(&out, 0, "passes"), component(&out, 0, "fails")), (2.0, 1.0));
}

#[test]
fn a_hotkey_the_state_cannot_hold_is_scored_from_nothing_and_not_remembered() {
    // The previous epoch remembers hotkey-3 with a long history.
    let mut carried = ProverState::default();
    carried.insert("hotkey-3".into(), Prover { s: 0.5, samples: 40 }).expect("fits");
    // Now the host lists hotkey-3 on uids 3 and 4, and uid 5 with a 300-byte hotkey.
    let mut twin = miner(4, 0);
    twin.hotkey = "hotkey-3".into();
    let mut long = miner(5, 0);
    long.hotkey = "x".repeat(300);
    let challenges = vec![pass(3, 100.0), pass(4, 100.0), pass(5, 100.0), pass(6, 100.0), pass(6, 100.0)];
    let mut epoch = fixed_bounds(input(vec![miner(3, 0), twin, long, miner(6, 0)], challenges));
    epoch.state = carried.encode();
    let out = score(&epoch).expect("the other miners' epoch stands");
    // n = 4, target 0.25: one pass from nothing is 0.025, whatever was carried for hotkey-3.
    for uid in [3, 4, 5] {
        assert_eq!(component(&out, uid, "stateless"), 1.0);
        close(component(&out, uid, "s"), 0.025);
        assert_eq!(component(&out, uid, "samples"), 1.0);
    }
    assert_eq!(component(&out, 6, "stateless"), 0.0);
    assert_eq!(weight(&out, 6), 65535);
    // Only uid 6 is written back; hotkey-3's carried entry, which neither uid can be said to own,
    // is dropped with them.
    let state = ProverState::decode(&out.state).expect("state decodes");
    assert_eq!(state.len(), 1);
    assert_eq!(state.get("hotkey-6").samples, 2);
}

#[test]
fn response_times_are_clamped_to_an_hour_before_they_are_summed() {
    // Two passes at 1e308 ms would sum to infinity; each counts as 3,600,000 ms.
    let challenges = vec![pass(0, 1e308), pass(0, 1e308), proof(0, Verdict::Pass, Some(f64::INFINITY)), pass(1, 100.0)];
    let out = score(&input(vec![miner(0, 1_000), miner(1, 1_000)], challenges)).expect("scores");
    assert_eq!(component(&out, 0, "rt_ms"), 3_600_000.0);
    // Bounds from the samples 100 and 3,600,000 ms, the latter clamped to the 60 s timeout.
    assert_eq!(component(&out, 0, "rt"), 0.99);
    // An infinite time is no measurement: untimed, void.
    assert_eq!((component(&out, 0, "passes"), component(&out, 0, "untimed")), (2.0, 1.0));
    assert!(out.scores.iter().all(|s| s.components.iter().all(|c| c.value.is_finite())));
}

#[test]
fn state_carries_s_and_samples_by_hotkey_and_forgets_departed_miners() {
    let first =
        score(&fixed_bounds(input(vec![miner(0, 1_000), miner(1, 1_000)], vec![pass(0, 100.0)]))).expect("first epoch");
    let state = ProverState::decode(&first.state).expect("state decodes");
    assert_eq!(state.len(), 2);
    assert_eq!(state.get("hotkey-0").s, component(&first, 0, "s"));
    assert_eq!(state.get("hotkey-0").samples, 1);

    // Miner 1 left; uid 0 now belongs to a new hotkey, which starts from nothing.
    let mut newcomer = miner(0, 1_000);
    newcomer.hotkey = "hotkey-new".into();
    let second = score(&fixed_bounds(next(&first, vec![newcomer], vec![]))).expect("second epoch");
    assert_eq!(component(&second, 0, "s"), 0.0);
    assert_eq!(component(&second, 0, "samples"), 0.0);
    let state = ProverState::decode(&second.state).expect("state decodes");
    assert_eq!(state.len(), 1);

    // An unchallenged miner keeps its s.
    let third = score(&fixed_bounds(next(&first, vec![miner(0, 1_000)], vec![]))).expect("third epoch");
    assert_eq!(component(&third, 0, "s"), component(&first, 0, "s"));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let err = |input: EpochInput| score(&input).expect_err("refused");
    assert!(err(input(vec![miner(3, 0), miner(3, 0)], vec![])).contains("listed twice"));
    assert!(err(with_param(input(vec![], vec![]), "rate.decay", f64::NAN)).contains("rate.decay"));
    assert!(err(with_param(input(vec![], vec![]), "weights.exponent", 2.5)).contains("whole number"));
    assert!(err(with_param(input(vec![], vec![]), "rt.max_ms", -1.0)).contains("rt.max_ms"));
    let mut corrupt = input(vec![miner(0, 0)], vec![]);
    corrupt.state = b"PoI\x07".to_vec();
    assert!(err(corrupt).contains("version 7"));
    let mut foreign = input(vec![miner(0, 0)], vec![]);
    foreign.state = vec![1, 0, 0];
    assert!(err(foreign).contains("state blob"));
    let mut ragged = input(vec![miner(0, 0)], vec![pass(0, 100.0)]);
    ragged.challenges.verdict.clear();
    assert!(err(ragged).contains("columns differ"));
    let mut stray = input(vec![miner(0, 0)], vec![]);
    stray.miners[0].capacities.push(TaskCapacity { task: 3, capacity: 10 });
    assert!(err(stray).contains("task 3"));
}
