//! One Rust type per WIT type of `wit/policy.wit` (contract 0.2.0), field for field and in the
//! same order, plus row views of the columnar records (`rows.rs`).
//!
//! The host serializes [`EpochInput`] to canonical JSON with serde (field order is declaration
//! order), so reordering or renaming a field here changes published bytes: that is a new
//! contract version.

/// The `uid` of a request that belongs to no miner (a baseline request).
pub const NO_MINER: u16 = u16::MAX;

/// The value of a reported time or rate the miner did not report, and of a response time that
/// never came.
pub const NOT_REPORTED: f64 = -1.0;

record! {
    /// A named number: policy parameters, score components.
    pub struct Param {
        pub name: String,
        pub value: f64,
    }
}

record! {
    /// How much work of one task a miner says it can take per epoch, in the task's unit of
    /// volume (completion tokens for text tasks).
    pub struct TaskCapacity {
        /// Index into [`EpochInput::tasks`].
        pub task: u16,
        pub capacity: u32,
    }
}

record! {
    pub struct Miner {
        pub uid: u16,
        /// SS58 address of the miner's hotkey.
        pub hotkey: String,
        /// Stake in rao.
        pub stake: u64,
        pub capacities: Vec<TaskCapacity>,
        pub registered_at_block: u64,
    }
}

enumeration! {
    /// Who asked: a real user, the validator's own traffic, or the validator's baseline run.
    pub enum RequestKind {
        Organic,
        Synthetic,
        Baseline,
    }
}

enumeration! {
    /// How a request ended, as the validator's gateway classified it.
    pub enum Outcome {
        Ok,
        RateLimited,
        ServerError,
        Timeout,
        BadResponse,
        Cancelled,
    }
}

record! {
    /// Policy-specific numbers measured for one request; only requests that have some.
    pub struct RequestValues {
        pub request_id: u64,
        pub values: Vec<f64>,
    }
}

record! {
    /// One challenged (layer, position) point of a request.
    pub struct PointMeasurement {
        pub layer: u32,
        pub position: u32,
        pub rel_l2: f64,
        pub cosine: f64,
    }
}

enumeration! {
    /// What happened when the miner was asked to open its commitment.
    pub enum Opening {
        Verified,
        Missed,
        Invalid,
    }
}

/// The log-prob recorded for a token the reference calls impossible (log-prob `-inf`): JSON
/// cannot carry `-inf`, and any floor below -745 gives `exp() == 0.0` in f64, so a policy
/// computing a probability sees 0 either way.
pub const LOGPROB_FLOOR: f64 = -1000.0;

record! {
    /// Rank and log-prob of one completion token under the reference model.
    pub struct TokenMeasurement {
        pub rank: u32,
        /// Never below [`LOGPROB_FLOOR`] (see [`TokenMeasurement::floored`]).
        pub logprob: f64,
        pub top_logprob: f64,
    }
}

impl TokenMeasurement {
    /// This measurement as recorded: log-probs below [`LOGPROB_FLOOR`] (`-inf` included) raised
    /// to it; `None` when a log-prob is NaN or `+inf`, which only a failed reference pass gives
    /// (the validator's fault, never the miner's).
    pub fn floored(self) -> Option<TokenMeasurement> {
        let floor = |v: f64| if v.is_nan() || v == f64::INFINITY { None } else { Some(v.max(LOGPROB_FLOOR)) };
        Some(TokenMeasurement { rank: self.rank, logprob: floor(self.logprob)?, top_logprob: floor(self.top_logprob)? })
    }
}

record! {
    /// Everything the host measured for one challenged request.
    pub struct Measurements {
        pub request_id: u64,
        pub uid: u16,
        pub greedy: bool,
        pub opening: Opening,
        pub layers: u32,
        pub points: Vec<PointMeasurement>,
        pub tokens: Vec<TokenMeasurement>,
        pub prompt_match: bool,
        pub eos_skipped: bool,
    }
}

enumeration! {
    pub enum Verdict {
        Pass,
        Fail,
        /// Undecided: counts neither way.
        Void,
    }
}

record! {
    pub struct Judgement {
        pub verdict: Verdict,
        pub reason: String,
    }
}

record! {
    pub struct MinerScore {
        pub uid: u16,
        pub score: f64,
        pub components: Vec<Param>,
    }
}

record! {
    pub struct Weight {
        pub uid: u16,
        pub weight: u16,
    }
}

record! {
    /// What a scorer returns: scores for people, weights for the chain, state for next time.
    pub struct EpochOutput {
        pub scores: Vec<MinerScore>,
        pub weights: Vec<Weight>,
        pub state: Vec<u8>,
    }
}

record! {
    /// A completed request the challenger may pick.
    pub struct Candidate {
        pub request_id: u64,
        pub uid: u16,
        pub prompt_tokens: u32,
        pub completion_tokens: u32,
    }
}

record! {
    /// How a miner has fared so far, for the adaptive rate.
    pub struct MinerHistory {
        pub uid: u16,
        pub new: bool,
        pub challenged: u32,
        pub recent_failures: u32,
        pub completed: u32,
    }
}

record! {
    pub struct PlanInput {
        pub seed: Vec<u8>,
        pub layers: u32,
        pub progress: f64,
        pub candidates: Vec<Candidate>,
        pub history: Vec<MinerHistory>,
        pub params: Vec<Param>,
    }
}

record! {
    pub struct PlannedChallenge {
        pub request_id: u64,
        /// (layer, position) points to open.
        pub points: Vec<(u32, u32)>,
    }
}

record! {
    /// A kind of work the subnet pays for: one model behind one endpoint.
    pub struct Task {
        pub name: String,
        /// This task's share of the weights; an epoch's task weights sum to 1.
        pub weight: f64,
    }
}

record! {
    /// Every request of the epoch as columns: entry `i` of each `Vec` belongs to request `i`, and
    /// all have the same length ([`Requests::len`]). Ordered by id. Build with [`Requests::push`],
    /// read one as a row with [`Requests::get`].
    #[derive(Default)]
    pub struct Requests {
        pub id: Vec<u64>,
        /// [`NO_MINER`] for a baseline request.
        pub uid: Vec<u16>,
        /// Index into [`EpochInput::tasks`].
        pub task: Vec<u16>,
        pub kind: Vec<RequestKind>,
        pub outcome: Vec<Outcome>,
        pub greedy: Vec<bool>,
        pub prompt_tokens: Vec<u32>,
        pub completion_tokens: Vec<u32>,
        pub ttft_ms: Vec<f64>,
        pub total_ms: Vec<f64>,
        /// [`NOT_REPORTED`] where the miner reported nothing; read with [`Requests::reported_ttft_ms`].
        pub reported_ttft_ms: Vec<f64>,
        /// [`NOT_REPORTED`] where the miner reported nothing; read with [`Requests::reported_tps`].
        pub reported_tps: Vec<f64>,
        pub started_ms: Vec<u64>,
    }
}

record! {
    /// Completion tokens of some requests scored under the reference model. Checked request `j`
    /// (`request[j]` indexes [`EpochInput::requests`]) owns token entries [`TokenChecks::tokens`]`(j)`.
    #[derive(Default)]
    pub struct TokenChecks {
        /// Ascending positions in [`EpochInput::requests`].
        pub request: Vec<u32>,
        pub token_start: Vec<u32>,
        /// 0 = the reference's most likely token.
        pub rank: Vec<u32>,
        /// ln of the reference's probability of the miner's token.
        pub logprob: Vec<f64>,
        /// ln of the reference's probability of its own most likely token.
        pub top_logprob: Vec<f64>,
    }
}

record! {
    /// Every judged challenge of the epoch as columns (entry `j` belongs to challenge `j`), in the
    /// order judged. Challenge `j` owns point entries [`Challenges::points`]`(j)`; its reason is
    /// [`Challenges::reason_of`]`(j)`.
    #[derive(Default)]
    pub struct Challenges {
        pub request_id: Vec<u64>,
        pub uid: Vec<u16>,
        pub verdict: Vec<Verdict>,
        /// Index into `reasons`.
        pub reason: Vec<u32>,
        /// Milliseconds to answer the opening; [`NOT_REPORTED`] (-1) when it never answered.
        pub response_ms: Vec<f64>,
        pub point_start: Vec<u32>,
        pub layer: Vec<u32>,
        pub position: Vec<u32>,
        pub rel_l2: Vec<f64>,
        pub cosine: Vec<f64>,
        /// Each distinct reason once, in order of first use.
        pub reasons: Vec<String>,
    }
}

enumeration! {
    /// How one miner's reveal in a commit-reveal round turned out.
    pub enum Reveal {
        /// Revealed in time and hashes to the commitment.
        Valid,
        /// Committed, revealed nothing in the window.
        Missing,
        /// The reveal does not hash to the commitment.
        Mismatch,
        /// Revealed outside the window.
        Late,
    }
}

record! {
    /// One miner's part in one commit-reveal round.
    pub struct CommitReveal {
        pub round: u32,
        pub uid: u16,
        pub task: u16,
        pub reveal: Reveal,
        pub committed_ms: f64,
        /// -1 for a reveal that never came.
        pub revealed_ms: f64,
        /// Empty unless `reveal` is [`Reveal::Valid`].
        pub output: Vec<f64>,
    }
}

record! {
    /// Everything a scorer knows about one epoch.
    pub struct EpochInput {
        pub netuid: u16,
        pub epoch: u64,
        pub block_start: u64,
        pub block_end: u64,
        pub tasks: Vec<Task>,
        /// Sorted by uid.
        pub miners: Vec<Miner>,
        pub requests: Requests,
        pub token_checks: TokenChecks,
        /// Only for requests that have such numbers, in request-id order.
        pub request_values: Vec<RequestValues>,
        pub challenges: Challenges,
        /// Sorted by (round, uid).
        pub commit_reveals: Vec<CommitReveal>,
        pub params: Vec<Param>,
        /// The state this policy returned at the previous epoch; empty at the first.
        pub state: Vec<u8>,
    }
}
