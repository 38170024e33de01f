//! Native tests: each formula on hand-computed cases (`formula.rs`), the state blob
//! (`state.rs`), whole epochs (`epoch.rs`), refused inputs and parameters (`inputs.rs`) and
//! golden data (`golden.rs`). Helpers to build inputs live here.

mod epoch;
mod formula;
mod golden;
mod inputs;
mod state;

use assay_policy_sdk::{
    Challenge, Challenges, CommitReveal, EpochInput, EpochOutput, Miner, Param, Requests, Reveal, Task, TokenChecks,
    Verdict,
};

/// `a` and `b` agree to 1e-12 (hand arithmetic is written in decimals).
#[track_caller]
fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} != {b}");
}

fn miner(uid: u16) -> Miner {
    Miner { uid, hotkey: format!("hotkey-{uid}"), stake: 1_000, capacities: vec![], registered_at_block: 0 }
}

fn challenge(uid: u16, verdict: Verdict) -> Challenge {
    Challenge { request_id: 0, uid, verdict, reason: String::new(), response_ms: Some(10.0), points: vec![] }
}

/// A valid reveal of `output` in `round`, task 0.
fn valid(round: u32, uid: u16, output: &[f64]) -> CommitReveal {
    CommitReveal {
        round,
        uid,
        task: 0,
        reveal: Reveal::Valid,
        committed_ms: 100.0,
        revealed_ms: 2_000.0,
        output: output.to_vec(),
    }
}

/// A row whose reveal is not valid: no output, and no reveal time when missing.
fn invalid(round: u32, uid: u16, reveal: Reveal) -> CommitReveal {
    let revealed_ms = if reveal == Reveal::Missing { -1.0 } else { 9_000.0 };
    CommitReveal { round, uid, task: 0, reveal, committed_ms: 100.0, revealed_ms, output: vec![] }
}

/// An epoch under construction: miners by uid, one task, rows added in (round, uid) order.
struct Epoch {
    input: EpochInput,
}

impl Epoch {
    fn new(uids: &[u16]) -> Self {
        Self {
            input: EpochInput {
                netuid: 7,
                epoch: 1,
                block_start: 0,
                block_end: 360,
                tasks: vec![Task { name: "hidden".to_string(), weight: 1.0 }],
                miners: uids.iter().map(|&uid| miner(uid)).collect(),
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

    fn row(&mut self, row: CommitReveal) -> &mut Self {
        self.input.commit_reveals.push(row);
        self
    }

    fn challenge(&mut self, uid: u16, verdict: Verdict) -> &mut Self {
        self.input.challenges.push(challenge(uid, verdict));
        self
    }

    /// A passed challenge for each of `uids`.
    fn pass(&mut self, uids: &[u16]) -> &mut Self {
        for &uid in uids {
            self.challenge(uid, Verdict::Pass);
        }
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

    fn error(&self) -> String {
        crate::score(&self.input).expect_err("refused")
    }
}

fn score_of(out: &EpochOutput, uid: u16) -> f64 {
    out.scores.iter().find(|s| s.uid == uid).expect("uid scored").score
}

fn component(out: &EpochOutput, uid: u16, name: &str) -> Option<f64> {
    let s = out.scores.iter().find(|s| s.uid == uid).expect("uid scored");
    s.components.iter().find(|c| c.name == name).map(|c| c.value)
}

fn weight(out: &EpochOutput, uid: u16) -> u16 {
    out.weights.iter().find(|w| w.uid == uid).map_or(0, |w| w.weight)
}
