//! Credited capacity through `score`: delivery caps declarations, task weights, the fallbacks.

use assay_policy_sdk::{EpochInput, Outcome, Request, RequestKind, Task, TaskCapacity};

use super::{close, component, input, miner, pass, request, weight, with_param};
use crate::score;

/// Two miners with equal `s` (two passes each at 100 ms, bounds fixed) and the given requests,
/// so that weights differ only by capacity.
fn epoch(declared: [u32; 2], requests: Vec<Request>) -> EpochInput {
    let proofs = vec![pass(0, 100.0), pass(0, 100.0), pass(1, 100.0), pass(1, 100.0)];
    let mut input = input(vec![miner(0, declared[0]), miner(1, declared[1])], proofs);
    input.requests = requests.into_iter().collect();
    let input = with_param(input, "rt.from_epoch", 0.0);
    let input = with_param(input, "rt.min_ms", 100.0);
    with_param(input, "rt.max_ms", 1_100.0)
}

fn ok(uid: u16, task: u16, tokens: u32) -> Request {
    request(uid, task, Outcome::Ok, tokens)
}

#[test]
fn weights_follow_credited_capacity_to_the_fifth() {
    // Capacity 2000 against 1000: (1/2)^5 = 0.03125 → 2048.
    let mut requests = vec![ok(0, 0, 1_500), ok(0, 0, 500), ok(1, 0, 1_000)];
    // Neither a failed request's tokens nor a baseline run count as delivered.
    requests.push(request(1, 0, Outcome::Timeout, 5_000));
    requests.push(Request { kind: RequestKind::Baseline, ..ok(1, 0, 5_000) });
    let out = score(&epoch([2_000, 5_000], requests)).expect("scores");
    assert_eq!(component(&out, 0, "capacity"), 2_000.0);
    assert_eq!(component(&out, 1, "capacity"), 1_000.0);
    assert_eq!((weight(&out, 0), weight(&out, 1)), (65535, 2048));
}

#[test]
fn an_inflated_declaration_does_not_beat_an_honest_miner() {
    // Miner 0 claims 4,294,967,295 tokens and serves 800; miner 1 claims and serves 1000.
    let out = score(&epoch([u32::MAX, 1_000], vec![ok(0, 0, 800), ok(1, 0, 1_000)])).expect("scores");
    assert_eq!(component(&out, 0, "capacity"), 800.0);
    // (800 / 1000)^5 = 0.32768; × 65535 = 21474.5 → 21475.
    assert_eq!((weight(&out, 0), weight(&out, 1)), (21475, 65535));
    // Serving as much as the honest one, the claim earns it nothing more.
    let out = score(&epoch([u32::MAX, 1_000], vec![ok(0, 0, 1_000), ok(1, 0, 1_000)])).expect("scores");
    assert_eq!((weight(&out, 0), weight(&out, 1)), (65535, 65535));
}

#[test]
fn a_zero_weight_task_credits_nothing() {
    let two_tasks = |weights: [f64; 2], requests| {
        let mut input = epoch([0, 0], requests);
        input.tasks =
            vec![Task { name: "chat".into(), weight: weights[0] }, Task { name: "code".into(), weight: weights[1] }];
        input
    };
    // Miner 1 serves 50,000 more tokens, all of the task weighted 0: the same capacity.
    let requests = vec![ok(0, 0, 1_000), ok(1, 0, 1_000), ok(1, 1, 50_000)];
    let out = score(&two_tasks([1.0, 0.0], requests)).expect("scores");
    assert_eq!(component(&out, 1, "capacity"), 1_000.0);
    assert_eq!((weight(&out, 0), weight(&out, 1)), (65535, 65535));

    // Weights 0.6 and 0.2 (divided by their sum 0.8): miner 0 serves 1000 of each but declares
    // 400 for code, (0.6 × 1000 + 0.2 × 400) / 0.8 = 850; miner 1, (0.6 × 0 + 0.2 × 50,000) / 0.8.
    let mut input = two_tasks([0.6, 0.2], vec![ok(0, 0, 1_000), ok(0, 1, 1_000), ok(1, 1, 50_000)]);
    input.miners[0].capacities = vec![TaskCapacity { task: 1, capacity: 400 }];
    let out = score(&input).expect("scores");
    close(component(&out, 0, "capacity"), 850.0);
    close(component(&out, 1, "capacity"), 12_500.0);
}

#[test]
fn a_missing_declaration_is_not_a_zero() {
    // Miner 0 declares nothing (the validator may have failed to fetch it): its delivery counts.
    let out = score(&epoch([0, 1_000], vec![ok(0, 0, 1_000), ok(1, 0, 1_000)])).expect("scores");
    assert_eq!(component(&out, 0, "capacity"), 1_000.0);
    assert_eq!((weight(&out, 0), weight(&out, 1)), (65535, 65535));
    // A declaration of 0 is a declaration: the miner says it takes nothing.
    let mut input = epoch([0, 1_000], vec![ok(0, 0, 1_000), ok(1, 0, 1_000)]);
    input.miners[0].capacities = vec![TaskCapacity { task: 0, capacity: 0 }];
    let out = score(&input).expect("scores");
    assert_eq!(component(&out, 0, "capacity"), 0.0);
    assert_eq!((weight(&out, 0), weight(&out, 1)), (0, 65535));
}

#[test]
fn nobody_credited_is_capacity_one_for_all() {
    // No request records (nobody has shown anything): s alone ranks, declarations or not.
    let out = score(&epoch([u32::MAX, 0], vec![])).expect("scores");
    assert_eq!(component(&out, 0, "capacity"), 1.0);
    assert_eq!(component(&out, 1, "capacity"), 1.0);
    assert_eq!((weight(&out, 0), weight(&out, 1)), (65535, 65535));
}

#[test]
fn records_that_break_the_hosts_invariants_are_errors() {
    let err = |input: EpochInput| score(&input).expect_err("refused");
    let stray = epoch([0, 0], vec![Request { id: 7, ..ok(0, 3, 10) }]);
    assert!(err(stray).contains("request 7 is of task 3"));
    let mut nan = epoch([0, 0], vec![]);
    nan.tasks[0].weight = f64::NAN;
    assert!(err(nan).contains("task 0 (chat) has weight NaN"));
    let mut ragged = epoch([0, 0], vec![ok(0, 0, 10)]);
    ragged.requests.outcome.clear();
    assert!(err(ragged).contains("request columns differ"));
}
