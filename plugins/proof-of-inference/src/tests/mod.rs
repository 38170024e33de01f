//! Native tests: the formula on hand-computed cases (`formula.rs`), whole epochs (`epoch.rs`),
//! response-time bounds (`bounds.rs`) and credited capacity (`capacity.rs`) through `score`, the
//! state blob (`state.rs`), fixed bits a wasm32 build must reproduce (`golden.rs`). Shared
//! builders here.

mod bounds;
mod capacity;
mod epoch;
mod formula;
mod golden;
mod state;

use assay_policy_sdk::{
    Challenge, EpochInput, EpochOutput, Miner, Outcome, Param, Request, RequestKind, Task, TaskCapacity, Verdict,
};

/// Within `1e-9` of a hand-computed value (the hand values carry 8 to 9 significant digits).
#[track_caller]
fn close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "got {actual}, expected {expected}");
}

fn miner(uid: u16, capacity: u32) -> Miner {
    let capacities = if capacity == 0 { vec![] } else { vec![TaskCapacity { task: 0, capacity }] };
    Miner { uid, hotkey: format!("hotkey-{uid}"), stake: 1_000, capacities, registered_at_block: 0 }
}

/// A judged challenge of `uid`; `response_ms` `None` when the miner never answered.
fn proof(uid: u16, verdict: Verdict, response_ms: Option<f64>) -> Challenge {
    Challenge { request_id: 0, uid, verdict, reason: format!("{verdict:?}"), response_ms, points: vec![] }
}

fn pass(uid: u16, response_ms: f64) -> Challenge {
    proof(uid, Verdict::Pass, Some(response_ms))
}

fn fail(uid: u16) -> Challenge {
    proof(uid, Verdict::Fail, Some(100.0))
}

/// A synthetic request of `uid` for `task` that produced `completion_tokens`.
fn request(uid: u16, task: u16, outcome: Outcome, completion_tokens: u32) -> Request {
    Request {
        id: 0,
        uid,
        task,
        kind: RequestKind::Synthetic,
        outcome,
        greedy: true,
        prompt_tokens: 10,
        completion_tokens,
        ttft_ms: 50.0,
        total_ms: 500.0,
        reported_ttft_ms: None,
        reported_tps: None,
        started_ms: 0,
    }
}

fn input(miners: Vec<Miner>, challenges: Vec<Challenge>) -> EpochInput {
    EpochInput {
        netuid: 2,
        epoch: 1,
        block_start: 0,
        block_end: 360,
        tasks: vec![Task { name: "chat".into(), weight: 1.0 }],
        miners,
        requests: Default::default(),
        token_checks: Default::default(),
        request_values: vec![],
        challenges: challenges.into_iter().collect(),
        commit_reveals: vec![],
        params: vec![],
        state: vec![],
    }
}

fn with_param(mut input: EpochInput, name: &str, value: f64) -> EpochInput {
    input.params.push(Param { name: name.into(), value });
    input
}

/// The next epoch: same miners, new challenges, the previous output's state.
fn next(previous: &EpochOutput, miners: Vec<Miner>, challenges: Vec<Challenge>) -> EpochInput {
    let mut input = input(miners, challenges);
    input.epoch = 2;
    input.state = previous.state.clone();
    input
}

fn component(out: &EpochOutput, uid: u16, name: &str) -> f64 {
    let s = out.scores.iter().find(|s| s.uid == uid).expect("uid scored");
    s.components.iter().find(|c| c.name == name).expect("component present").value
}

fn weight(out: &EpochOutput, uid: u16) -> u16 {
    out.weights.iter().find(|w| w.uid == uid).map_or(0, |w| w.weight)
}
