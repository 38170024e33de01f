use assay_policy_sdk::calibration::{self, Calibration};
use assay_policy_sdk::{Challenge, Miner, Request, Task};

use super::*;

fn miner(uid: u16) -> Miner {
    Miner { uid, hotkey: format!("hotkey-{uid}"), stake: 1_000, capacities: vec![], registered_at_block: 0 }
}

fn request(id: u64, uid: u16, outcome: Outcome, ttft_ms: f64, total_ms: f64) -> Request {
    Request {
        id,
        uid,
        task: 0,
        kind: RequestKind::Synthetic,
        outcome,
        greedy: true,
        prompt_tokens: 20,
        completion_tokens: 101,
        ttft_ms,
        total_ms,
        reported_ttft_ms: None,
        reported_tps: None,
        started_ms: id,
    }
}

fn challenge(uid: u16, verdict: Verdict) -> Challenge {
    Challenge { request_id: 0, uid, points: vec![], verdict, reason: String::new(), response_ms: None }
}

fn input(miners: Vec<Miner>, requests: Vec<Request>, challenges: Vec<Challenge>) -> EpochInput {
    EpochInput {
        netuid: 1,
        epoch: 1,
        block_start: 0,
        block_end: 100,
        tasks: vec![Task { name: "chat".into(), weight: 1.0 }],
        miners,
        requests: requests.into_iter().collect(),
        token_checks: Default::default(),
        request_values: vec![],
        challenges: challenges.into_iter().collect(),
        commit_reveals: vec![],
        params: vec![],
        state: vec![],
    }
}

fn component(out: &EpochOutput, uid: u16, name: &str) -> f64 {
    let s = out.scores.iter().find(|s| s.uid == uid).expect("uid scored");
    s.components.iter().find(|c| c.name == name).expect("component present").value
}

#[test]
fn reported_figures_are_capped_by_the_validators_clock() {
    // A miner claiming half the measured TTFT gets 0.8 x measured.
    assert_eq!(effective_ttft_ms(100.0, Some(50.0), 0.8), 80.0);
    // A slower report than measured is taken as is.
    assert_eq!(effective_ttft_ms(100.0, Some(130.0), 0.8), 130.0);
    assert_eq!(effective_ttft_ms(100.0, None, 0.8), 100.0);
    // 101 tokens, 100 after the first, decoded in 1 s: 100 tok/s measured; a claim of 1000 is capped at 150.
    assert_eq!(effective_tps(101, 100.0, 1100.0, None, 1.5), 100.0);
    assert_eq!(effective_tps(101, 100.0, 1100.0, Some(1000.0), 1.5), 150.0);
    assert_eq!(effective_tps(101, 100.0, 1100.0, Some(90.0), 1.5), 90.0);
    assert_eq!(effective_tps(0, 100.0, 1100.0, None, 1.5), 0.0);
}

#[test]
fn bayesian_smoothing_uses_two_virtual_passes() {
    assert_eq!(smoothed_pass_rate(0.0, 0.0, 2.0), 1.0);
    assert_eq!(smoothed_pass_rate(0.0, 5.0, 2.0), 2.0 / 7.0);
    assert_eq!(smoothed_pass_rate(5.0, 0.0, 2.0), 1.0);
    assert_eq!(smoothed_pass_rate(4.0, 1.0, 2.0), 6.0 / 7.0);
}

#[test]
fn median_and_weights() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    let w = to_weights(&[(0, 2.0), (1, 1.0), (2, 0.0)]);
    assert_eq!(
        w,
        vec![Weight { uid: 0, weight: 65535 }, Weight { uid: 1, weight: 32768 }, Weight { uid: 2, weight: 0 },]
    );
    assert!(to_weights(&[(0, 0.0)]).is_empty());
}

#[test]
fn faster_miner_scores_higher_and_failing_verifier_is_gated() {
    let miners = vec![miner(0), miner(1), miner(2)];
    let mut requests = Vec::new();
    for i in 0..10 {
        requests.push(request(i, 0, Outcome::Ok, 100.0, 1100.0)); // 100 tok/s
        requests.push(request(100 + i, 1, Outcome::Ok, 200.0, 2200.0)); // 50 tok/s
        requests.push(request(200 + i, 2, Outcome::Ok, 50.0, 550.0)); // fastest, but cheats
    }
    let mut challenges = Vec::new();
    for _ in 0..5 {
        challenges.push(challenge(0, Verdict::Pass));
        challenges.push(challenge(1, Verdict::Pass));
        challenges.push(challenge(2, Verdict::Fail));
    }
    let out = score(&input(miners, requests, challenges)).expect("scores");

    assert_eq!(component(&out, 0, "median_tps"), 100.0);
    assert_eq!(component(&out, 1, "median_tps"), 50.0);
    // Throughput and latency relative to the best (miner 2), verification 1.0.
    assert_eq!(component(&out, 0, "throughput"), 0.5);
    assert_eq!(component(&out, 0, "latency"), 0.5);
    assert_eq!(component(&out, 2, "verification"), 2.0 / 7.0);
    assert_eq!(component(&out, 2, "gated"), 1.0);
    let s0 = 0.4 * 0.5 + 0.2 * 0.5 + 0.4;
    let s1 = 0.4 * 0.25 + 0.2 * 0.25 + 0.4;
    assert_eq!(out.scores[0].score, s0);
    assert_eq!(out.scores[1].score, s1);
    assert_eq!(out.scores[2].score, 0.0);
    let weights: Vec<(u16, u16)> = out.weights.iter().map(|w| (w.uid, w.weight)).collect();
    assert_eq!(weights, vec![(0, 65535), (1, (s1 / s0 * 65535.0).round() as u16), (2, 0)]);
}

#[test]
fn errors_lower_success_rate_but_rate_limits_do_not() {
    let mut requests = vec![
        request(1, 0, Outcome::Ok, 100.0, 1100.0),
        request(2, 0, Outcome::ServerError, 0.0, 0.0),
        request(3, 0, Outcome::RateLimited, 0.0, 0.0),
        request(4, 0, Outcome::Cancelled, 0.0, 0.0),
    ];
    // Baseline runs and unknown uids are ignored.
    let mut baseline = request(5, 0, Outcome::Timeout, 0.0, 0.0);
    baseline.kind = RequestKind::Baseline;
    requests.push(baseline);
    requests.push(request(6, 9, Outcome::Timeout, 0.0, 0.0));
    let out = score(&input(vec![miner(0)], requests, vec![])).expect("scores");
    assert_eq!(component(&out, 0, "success_rate"), 0.5);
}

#[test]
fn verification_counts_carry_over_epochs_decayed() {
    let first = score(&input(
        vec![miner(0)],
        vec![request(1, 0, Outcome::Ok, 100.0, 1100.0)],
        vec![challenge(0, Verdict::Fail), challenge(0, Verdict::Fail), challenge(0, Verdict::Void)],
    ))
    .expect("first epoch");
    let state = VerificationState::decode(&first.state).expect("state decodes");
    assert_eq!(state.get("hotkey-0"), Some((0.0, 2.0)));

    let mut second_input =
        input(vec![miner(0)], vec![request(1, 0, Outcome::Ok, 100.0, 1100.0)], vec![challenge(0, Verdict::Pass)]);
    second_input.state = first.state.clone();
    let second = score(&second_input).expect("second epoch");
    assert_eq!(component(&second, 0, "fails"), 1.0); // 2 x 0.5 decay
    assert_eq!(component(&second, 0, "passes"), 1.0);
    assert_eq!(component(&second, 0, "verification"), 3.0 / 4.0);
}

#[test]
fn state_round_trips_and_bad_state_is_refused() {
    let mut s = VerificationState::default();
    s.insert("b".into(), 1.5, 0.25);
    s.insert("a".into(), 3.0, 0.0);
    let bytes = s.encode();
    assert_eq!(VerificationState::decode(&bytes).expect("decodes"), s);
    assert_eq!(bytes[0], 1);
    assert_eq!(&bytes[1..4], &[1, 0, b'a']); // sorted by hotkey
    assert!(VerificationState::decode(&bytes[..bytes.len() - 1]).is_err());
    assert!(VerificationState::decode(&[7]).is_err());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dup = input(vec![miner(3), miner(3)], vec![], vec![]);
    assert!(score(&dup).unwrap_err().contains("listed twice"));
    let mut bad = input(vec![miner(0)], vec![], vec![]);
    bad.params.push(Param { name: "weight.latency".into(), value: f64::NAN });
    assert!(score(&bad).unwrap_err().contains("weight.latency"));
}

#[test]
fn a_miner_that_served_nothing_scores_zero() {
    let out = score(&input(vec![miner(0), miner(1)], vec![request(1, 0, Outcome::Ok, 100.0, 1100.0)], vec![]))
        .expect("scores");
    // Miner 1 served nothing: its verification prior alone must not earn weight.
    assert_eq!(component(&out, 1, "verification"), 1.0);
    assert_eq!(out.scores[1].score, 0.0);
    assert_eq!(out.weights[1], Weight { uid: 1, weight: 0 });
}

/// A challenge of miner `uid` with `n` points spread over layers 1..=4 of a 4-layer model, each
/// at `ratio` × the tiny random model's honest median: its evidence statistic is `ln(ratio)`.
fn measured(uid: u16, verdict: Verdict, n: u32, ratio: f64) -> Challenge {
    measured_in(&calibration::TINY_RANDOM, uid, verdict, n, ratio)
}

/// [`measured`] against the honest medians of `calibration`.
fn measured_in(calibration: &Calibration, uid: u16, verdict: Verdict, n: u32, ratio: f64) -> Challenge {
    use assay_policy_sdk::PointMeasurement;
    let points = (0..n)
        .map(|i| {
            let layer = 1 + i % 4;
            let rel_l2 = ratio * calibration.honest_median(layer, 4);
            PointMeasurement { layer, position: i, rel_l2, cosine: 0.9999 }
        })
        .collect();
    Challenge { points, ..challenge(uid, verdict) }
}

/// One miner serving one request, with `challenges`, scored with `evidence.layers = 4`.
fn pooled(challenges: Vec<Challenge>) -> EpochOutput {
    let mut epoch = input(vec![miner(0)], vec![request(1, 0, Outcome::Ok, 100.0, 1100.0)], challenges);
    epoch.params.push(Param { name: "evidence.layers".into(), value: 4.0 });
    score(&epoch).expect("scores")
}

#[test]
fn pooled_evidence_gates_just_over_the_bound_and_not_just_under() {
    // Bound at 4 challenges: -0.0304 + 7.53 × 0.0896 / √4 = 0.306944. ln 1.357 = 0.305276 is
    // under it, ln 1.361 = 0.308220 over.
    let under = pooled((0..4).map(|_| measured(0, Verdict::Pass, 16, 1.357)).collect());
    assert!((component(&under, 0, "evidence") - 0.305276).abs() < 1e-6);
    assert!((component(&under, 0, "evidence_bound") - 0.306944).abs() < 1e-6);
    assert_eq!(component(&under, 0, "evidence_challenges"), 4.0);
    assert_eq!(component(&under, 0, "evidence_gated"), 0.0);
    assert!(under.scores[0].score > 0.0);

    let over = pooled((0..4).map(|_| measured(0, Verdict::Pass, 16, 1.361)).collect());
    assert!((component(&over, 0, "evidence") - 0.308220).abs() < 1e-6);
    assert_eq!(component(&over, 0, "evidence_gated"), 1.0);
    assert_eq!(component(&over, 0, "gated"), 0.0, "the pass-rate gate is open: every verdict passed");
    assert_eq!(over.scores[0].score, 0.0);
    // The only miner scores zero: nothing to set.
    assert!(over.weights.is_empty());
}

#[test]
fn pooled_evidence_counts_only_four_or_more_judged_challenges_of_eight_points() {
    // A failed challenge counts like a passed one: 3 passes and a fail, all at twice the honest
    // median, each point's ln 2 = 0.693 clamped to ln 1.667 = 0.51102, are over the bound; the
    // pass rate (3 + 2) / (4 + 2) = 5/6 is not gated.
    let mut four = vec![measured(0, Verdict::Fail, 16, 2.0)];
    four.extend((0..3).map(|_| measured(0, Verdict::Pass, 16, 2.0)));
    let out = pooled(four);
    assert!((component(&out, 0, "evidence") - 0.51102).abs() < 1e-5);
    assert_eq!(component(&out, 0, "evidence_gated"), 1.0);

    // Three counted challenges never gate, however far over the bound.
    let three: Vec<Challenge> = (0..3).map(|_| measured(0, Verdict::Pass, 16, 2.0)).collect();
    let out = pooled(three.clone());
    assert_eq!(component(&out, 0, "evidence_challenges"), 3.0);
    assert_eq!(component(&out, 0, "evidence_gated"), 0.0);
    assert!(out.scores[0].score > 0.0);

    // A void verdict and a challenge of 7 points are not counted.
    let mut with_void = three.clone();
    with_void.push(measured(0, Verdict::Void, 16, 2.0));
    with_void.push(measured(0, Verdict::Pass, 7, 2.0));
    let out = pooled(with_void);
    assert_eq!(component(&out, 0, "evidence_challenges"), 3.0);
    assert_eq!(component(&out, 0, "evidence_gated"), 0.0);
}

#[test]
fn without_evidence_layers_the_gate_is_off_and_unpublished() {
    let challenges: Vec<Challenge> = (0..4).map(|_| measured(0, Verdict::Pass, 16, 2.0)).collect();
    let out =
        score(&input(vec![miner(0)], vec![request(1, 0, Outcome::Ok, 100.0, 1100.0)], challenges)).expect("scores");
    assert!(out.scores[0].components.iter().all(|c| !c.name.starts_with("evidence")));
    assert!(out.scores[0].score > 0.0);
    // A miner with no counted challenge publishes zeros.
    let out = pooled(vec![]);
    assert_eq!(component(&out, 0, "evidence"), 0.0);
    assert_eq!(component(&out, 0, "evidence_bound"), 0.0);
    assert_eq!(component(&out, 0, "evidence_challenges"), 0.0);
}

#[test]
fn evidence_layers_must_be_a_whole_positive_number() {
    for value in [0.0, 4.5, f64::NAN] {
        let mut epoch = input(vec![miner(0)], vec![], vec![]);
        epoch.params.push(Param { name: "evidence.layers".into(), value });
        assert!(score(&epoch).unwrap_err().contains("evidence.layers"), "{value}");
    }
}

#[test]
fn evidence_calibration_picks_the_served_models_table() {
    let trained = &calibration::TINY_TRAINED;
    let epoch = |challenges: Vec<Challenge>, index: Option<f64>| {
        let mut epoch = input(vec![miner(0)], vec![request(1, 0, Outcome::Ok, 100.0, 1100.0)], challenges);
        epoch.params.push(Param { name: "evidence.layers".into(), value: 4.0 });
        if let Some(value) = index {
            epoch.params.push(Param { name: "evidence.calibration".into(), value });
        }
        epoch
    };
    // Honest noise of the trained model, 1.1 × its medians: evidence ln 1.1 under its bound.
    let honest = || (0..4).map(|_| measured_in(trained, 0, Verdict::Pass, 16, 1.1)).collect::<Vec<_>>();
    let out = score(&epoch(honest(), Some(1.0))).expect("scores");
    assert!((component(&out, 0, "evidence") - 1.1f64.ln()).abs() < 1e-9);
    let bound = calibration::evidence::bound(trained, 4);
    assert!((component(&out, 0, "evidence_bound") - bound).abs() < 1e-12);
    assert_eq!(component(&out, 0, "evidence_gated"), 0.0);
    // The same errors judged by the random model's medians (the default) are far above them.
    let out = score(&epoch(honest(), None)).expect("scores");
    assert!(component(&out, 0, "evidence") > 0.35);
    assert_eq!(component(&out, 0, "evidence_gated"), 1.0);
    // An index naming no table, or not whole, is refused; so is a table without the gate.
    for value in [2.0, 0.5, -1.0] {
        assert!(score(&epoch(vec![], Some(value))).unwrap_err().contains("evidence.calibration"), "{value}");
    }
    let mut without_layers = epoch(vec![], Some(1.0));
    without_layers.params.retain(|p| p.name != "evidence.layers");
    assert!(score(&without_layers).unwrap_err().contains("needs evidence.layers"));
}
