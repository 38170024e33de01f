//! One Rust type per WIT type of `wit/policy.wit`, field for field and in the same order.
//!
//! The host serializes [`EpochInput`] to canonical JSON with serde (field order is declaration
//! order), so reordering or renaming a field here changes published bytes: that is a new
//! contract version.

macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty,)* }
    };
}

macro_rules! enumeration {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
        pub enum $name { $($(#[$vmeta])* $variant,)* }
    };
}

record! {
    /// A named number: policy parameters, score components.
    pub struct Param {
        pub name: String,
        pub value: f64,
    }
}

record! {
    /// How much work of one task a miner says it can take per epoch.
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

record! {
    /// Rank and log-prob of one completion token under the reference model.
    pub struct TokenMeasurement {
        pub rank: u32,
        pub logprob: f64,
        pub top_logprob: f64,
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
