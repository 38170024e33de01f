//! Native tests: each formula on hand-computed cases (`formula.rs`), the state blob
//! (`state.rs`), whole epochs (`epoch.rs`), refused inputs (`inputs.rs`), golden data
//! (`golden.rs`) and sizes (`scale.rs`). Helpers to build inputs live here.

mod epoch;
mod formula;
mod golden;
mod inputs;
mod scale;
mod state;

use assay_policy_sdk::{
    Challenge, Challenges, EpochInput, EpochOutput, Miner, Outcome, Param, Request, RequestKind, Requests, Task,
    TaskCapacity, TokenChecks, TokenMeasurement, Verdict,
};

/// `a` and `b` agree to 1e-12 (hand arithmetic is written in decimals).
#[track_caller]
fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} != {b}");
}

/// `x` as the state keeps a period score: rounded to f32.
fn f32ish(x: f64) -> f64 {
    f64::from(x as f32)
}

fn miner(uid: u16, capacities: &[(u16, u32)]) -> Miner {
    Miner {
        uid,
        hotkey: format!("hotkey-{uid}"),
        stake: 1_000,
        capacities: capacities.iter().map(|&(task, capacity)| TaskCapacity { task, capacity }).collect(),
        registered_at_block: 0,
    }
}

fn task(name: &str, weight: f64) -> Task {
    Task { name: name.to_string(), weight }
}

/// A synthetic greedy request of `tokens` completion tokens that took `total_ms`.
fn request(uid: u16, task: u16, outcome: Outcome, tokens: u32, total_ms: f64) -> Request {
    Request {
        id: 0,
        uid,
        task,
        kind: RequestKind::Synthetic,
        outcome,
        greedy: true,
        prompt_tokens: 20,
        completion_tokens: tokens,
        ttft_ms: 50.0,
        total_ms,
        reported_ttft_ms: None,
        reported_tps: None,
        started_ms: 0,
    }
}

/// Tokens where the miner's token is the reference's top one: quality 1.
fn perfect_tokens(n: usize) -> Vec<TokenMeasurement> {
    vec![TokenMeasurement { rank: 0, logprob: -0.1, top_logprob: -0.1 }; n]
}

fn challenge(uid: u16, verdict: Verdict) -> Challenge {
    Challenge { request_id: 0, uid, verdict, reason: String::new(), response_ms: Some(10.0), points: vec![] }
}

/// An epoch under construction: requests get ids in order; `check` attaches token measurements
/// to the request just pushed.
struct Epoch {
    input: EpochInput,
}

impl Epoch {
    fn new(tasks: Vec<Task>, miners: Vec<Miner>) -> Self {
        Self {
            input: EpochInput {
                netuid: 19,
                epoch: 1,
                block_start: 0,
                block_end: 360,
                tasks,
                miners,
                requests: Requests::default(),
                token_checks: TokenChecks::default(),
                request_values: vec![],
                challenges: Challenges::default(),
                commit_reveals: vec![],
                params: vec![],
                state: vec![],
            },
        }
    }

    fn push(&mut self, mut r: Request) -> &mut Self {
        r.id = self.input.requests.len() as u64;
        r.started_ms = r.id;
        self.input.requests.push(r);
        self
    }

    /// `count` copies of `r`.
    fn push_n(&mut self, count: usize, r: Request) -> &mut Self {
        for _ in 0..count {
            self.push(r.clone());
        }
        self
    }

    fn check(&mut self, tokens: &[TokenMeasurement]) -> &mut Self {
        let at = self.input.requests.len() as u32 - 1;
        self.input.token_checks.push(at, tokens);
        self
    }

    fn challenge(&mut self, c: Challenge) -> &mut Self {
        self.input.challenges.push(c);
        self
    }

    fn param(&mut self, name: &str, value: f64) -> &mut Self {
        self.input.params.push(Param { name: name.to_string(), value });
        self
    }

    fn state(&mut self, state: Vec<u8>) -> &mut Self {
        self.input.state = state;
        self
    }

    fn score(&self) -> EpochOutput {
        crate::score(&self.input).expect("epoch scores")
    }
}

fn component(out: &EpochOutput, uid: u16, name: &str) -> f64 {
    let s = out.scores.iter().find(|s| s.uid == uid).expect("uid scored");
    s.components.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("component {name} present")).value
}

fn weight(out: &EpochOutput, uid: u16) -> u16 {
    out.weights.iter().find(|w| w.uid == uid).map_or(0, |w| w.weight)
}

/// xorshift64: a fixed pseudo-random sequence for synthetic epochs.
struct Draw(u64);

impl Draw {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}
