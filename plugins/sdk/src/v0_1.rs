//! Contract 0.1.0 (`wit/v0.1/policy.wit`): the row-shaped records it had of its own. The host
//! still runs 0.1.0 components, so epochs published with them keep auditing; everything the two
//! versions share is re-exported from the crate root.

pub use crate::{
    Candidate, EpochOutput, Judgement, Measurements, Miner, MinerHistory, MinerScore, Opening, Outcome, Param,
    PlanInput, PlannedChallenge, PointMeasurement, RequestKind, RequestValues, TaskCapacity, TokenMeasurement,
    Verdict, Weight,
};

/// The contract version of this module; its WIT package is `assay:policy@0.1.0`.
pub const CONTRACT_VERSION: &str = "0.1.0";

record! {
    /// One request sent to a miner; times are the validator's own clock.
    pub struct RequestRecord {
        pub id: u64,
        pub uid: u16,
        pub task: u16,
        pub kind: RequestKind,
        pub outcome: Outcome,
        pub greedy: bool,
        pub prompt_tokens: u32,
        pub completion_tokens: u32,
        pub ttft_ms: f64,
        pub total_ms: f64,
        pub reported_ttft_ms: Option<f64>,
        pub reported_tps: Option<f64>,
        pub quality: Option<f64>,
        pub started_ms: u64,
    }
}

record! {
    /// A judged challenge, as the scorer sees it.
    pub struct ChallengeRecord {
        pub request_id: u64,
        pub uid: u16,
        pub points: Vec<PointMeasurement>,
        pub verdict: Verdict,
        pub reason: String,
    }
}

record! {
    /// Everything a scorer knows about one epoch.
    pub struct EpochInput {
        pub netuid: u16,
        pub epoch: u64,
        pub block_start: u64,
        pub block_end: u64,
        pub tasks: Vec<String>,
        pub miners: Vec<Miner>,
        pub requests: Vec<RequestRecord>,
        pub request_values: Vec<RequestValues>,
        pub challenges: Vec<ChallengeRecord>,
        pub params: Vec<Param>,
        /// The state this policy returned at the previous epoch; empty at the first.
        pub state: Vec<u8>,
    }
}
