//! Native tests: each formula on hand-computed cases (`formula.rs`), the state blob
//! (`state.rs`), whole epochs and edge cases (`epoch.rs`), refused inputs and parameters
//! (`inputs.rs`) and golden data (`golden.rs`). Helpers to build inputs live here.

mod epoch;
mod formula;
mod golden;
mod inputs;
mod state;

use assay_policy_sdk::{
    Challenge, Challenges, EpochInput, EpochOutput, Miner, NO_MINER, Outcome, Param, Request, RequestKind, Requests,
    Task, TokenChecks, TokenMeasurement, Verdict,
};

/// `a` and `b` agree to 1e-12 (hand arithmetic is written in decimals).
#[track_caller]
fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} != {b}");
}

fn miner(uid: u16) -> Miner {
    Miner { uid, hotkey: format!("hotkey-{uid}"), stake: 1_000, capacities: vec![], registered_at_block: 0 }
}

fn task(name: &str, weight: f64) -> Task {
    Task { name: name.to_string(), weight }
}

/// A greedy synthetic competition request of `uid` on `task`: first token after `ttft_ms`, then
/// `tokens − 1` more tokens until `total_ms`.
fn request(uid: u16, task: u16, tokens: u32, ttft_ms: f64, total_ms: f64) -> Request {
    Request {
        id: 0,
        uid,
        task,
        kind: RequestKind::Synthetic,
        outcome: Outcome::Ok,
        greedy: true,
        prompt_tokens: 2000,
        completion_tokens: tokens,
        ttft_ms,
        total_ms,
        reported_ttft_ms: None,
        reported_tps: None,
        started_ms: 0,
    }
}

/// The same, from the validator's baseline server.
fn baseline(task: u16, tokens: u32, ttft_ms: f64, total_ms: f64) -> Request {
    Request { kind: RequestKind::Baseline, ..request(NO_MINER, task, tokens, ttft_ms, total_ms) }
}

/// `n` tokens, each the reference's greedy one at log-prob `logprob`.
fn greedy_tokens(n: usize, logprob: f64) -> Vec<TokenMeasurement> {
    vec![TokenMeasurement { rank: 0, logprob, top_logprob: logprob }; n]
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
                netuid: 7,
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

    fn check(&mut self, tokens: &[TokenMeasurement]) -> &mut Self {
        let at = self.input.requests.len() as u32 - 1;
        self.input.token_checks.push(at, tokens);
        self
    }

    /// Pushes `r`, checked with 4 tokens of the reference's own (rank 0, log-prob -0.2).
    fn checked(&mut self, r: Request) -> &mut Self {
        self.push(r).check(&greedy_tokens(4, -0.2))
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

fn has_component(out: &EpochOutput, uid: u16, name: &str) -> bool {
    out.scores.iter().find(|s| s.uid == uid).is_some_and(|s| s.components.iter().any(|c| c.name == name))
}

fn score_of(out: &EpochOutput, uid: u16) -> f64 {
    out.scores.iter().find(|s| s.uid == uid).expect("uid scored").score
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
