//! The ledger's own row types. They mirror what the policy contract needs today but belong to
//! the ledger: a new contract version changes the conversions in `contract.rs`, not the rows a
//! validator has stored (no migration for a contract change). The JSON spelling of a row is the
//! one version 2 ledgers stored, so their rows read back unchanged.

use serde::{Deserialize, Serialize};

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    Organic,
    Synthetic,
    Baseline,
}

/// How a request ended, as the gateway classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    RateLimited,
    ServerError,
    Timeout,
    BadResponse,
    Cancelled,
}

/// A challenge's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Void,
}

/// One request sent to a miner; times by the validator's own clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    pub id: u64,
    pub uid: u16,
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

/// A request as the ledger keeps it: the row, its task by name, policy-specific numbers
/// measured for it (usually none), and what the public dataset may say of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEntry {
    pub task: String,
    pub record: RequestRow,
    pub values: Vec<f64>,
    /// Written with the request (its text only as `RequestContent::kept` lets it); `requests()`
    /// leaves it `None`, `request_contents()` reads it.
    pub content: Option<RequestContent>,
}

/// What a request asked and was answered, for the public dataset (docs/publication.md,
/// "Privacy"): the hashes always; the text only when whoever sent it agreed to its publication
/// (an API key with `publish_text`, or the validator's own traffic). The gateway keeps no text
/// it may not publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContent {
    /// The text may be published.
    pub publish_text: bool,
    /// sha256 (hex) of the prompt's JSON (`messages` or `prompt`, as sent to the miner).
    pub prompt_sha256: String,
    /// sha256 (hex) of the completion's text as relayed.
    pub completion_sha256: String,
    /// The prompt's JSON and the completion's text; `None` unless `publish_text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
}

impl RequestContent {
    /// What may be kept (and published) of a request of `kind`: the text of the validator's own
    /// requests, and of users' requests whose key opted in; of others the hashes only.
    pub fn kept(&self, kind: RequestKind) -> RequestContent {
        let publish_text = self.publish_text || kind != RequestKind::Organic;
        RequestContent {
            publish_text: self.publish_text,
            prompt_sha256: self.prompt_sha256.clone(),
            completion_sha256: self.completion_sha256.clone(),
            prompt: self.prompt.clone().filter(|_| publish_text),
            completion: self.completion.clone().filter(|_| publish_text),
        }
    }
}

/// One challenged (layer, position) point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRow {
    pub layer: u32,
    pub position: u32,
    pub rel_l2: f64,
    pub cosine: f64,
}

/// One judged challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengeRow {
    pub request_id: u64,
    pub uid: u16,
    pub points: Vec<PointRow>,
    pub verdict: Verdict,
    pub reason: String,
    /// Milliseconds the miner took to answer the opening, by the validator's clock; `None` when
    /// it never answered. Kept in its own column (schema v6), not in the stored JSON.
    #[serde(skip)]
    pub response_ms: Option<f64>,
}

/// Completion tokens one request's token check keeps, at most (the first ones): a bound on
/// what a miner's long answer costs the ledger.
pub const MAX_TOKEN_CHECKS: usize = 8192;

/// The per-token measurements of one verified request: each completion token's rank,
/// log-prob and the top log-prob at its position under the reference model.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenCheckRow {
    pub request_id: u64,
    pub uid: u16,
    /// At most [`MAX_TOKEN_CHECKS`] (the ledger keeps the first ones).
    pub tokens: Vec<assay_policy_sdk::TokenMeasurement>,
}

/// Elements one commit-reveal output holds, at most: as many as the protocol lets a miner reveal
/// (`assay_protocol::commit_reveal::MAX_OUTPUT_VALUES`, 65,536; a test in `assay-verify`, which
/// depends on both, keeps the two equal), so a reveal the client accepts is always one the ledger keeps. One f64 each:
/// 512 KiB a row at most.
pub const MAX_REVEAL_ELEMENTS: usize = 65_536;

/// How one miner's reveal in a commit-reveal round turned out (the host decides it; the
/// contract's `reveal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevealStatus {
    /// Revealed in time, and `sha256(salt ‖ output)` equals the commitment.
    Valid,
    /// Committed (or was asked), revealed nothing within the reveal window.
    Missing,
    /// The reveal does not hash to the commitment.
    Mismatch,
    /// Revealed outside the reveal window.
    Late,
}

/// One miner's part in one commit-reveal round, with its task by name (the contract's
/// `commit-reveal`, whose task index is only fixed when the epoch is frozen).
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRevealRow {
    /// Round number within the epoch.
    pub round: u32,
    pub uid: u16,
    pub task: String,
    pub reveal: RevealStatus,
    /// Milliseconds from the round's start to the commitment (validator's clock); `None` for a
    /// miner asked that never committed (its reveal is then `Missing`).
    pub committed_ms: Option<f64>,
    /// Milliseconds from the round's start to the reveal; `None` for a reveal that never came.
    pub revealed_ms: Option<f64>,
    /// The revealed vector, widened to f64 by the host; empty unless `reveal` is `Valid`, at
    /// most [`MAX_REVEAL_ELEMENTS`], every element finite.
    pub output: Vec<f64>,
}

/// One exchange with a miner, kept for verification: what was sent and what the miner signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request's id (the record's `id`).
    pub id: u64,
    pub uid: u16,
    /// SS58 address the evidence must be signed by.
    pub miner_hotkey: String,
    /// `/v1/chat/completions` or `/v1/completions`.
    pub path: String,
    /// The JSON body sent to the miner, `assay` extension included.
    pub request: String,
    /// The miner's `{"assay": …, "assay_signature": …}` as received, when it sent evidence.
    pub evidence: Option<String>,
}

/// An epoch's secret challenge seed and its public commitment (sha256 of the seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochSeed {
    pub seed: [u8; 32],
    pub commitment: [u8; 32],
}

/// A closed epoch as the ledger remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedEpoch {
    pub epoch: u64,
    pub summary_sha256: String,
}

/// Everything closing an epoch decides, written in one transaction: the epoch is closed, the
/// scorer's state kept, and what remains to be done outside (publication, weights) queued.
/// A host that dies after this neither re-signs the epoch nor loses what it must still send.
#[derive(Debug, Clone, PartialEq)]
pub struct Closing {
    pub epoch: u64,
    pub summary_sha256: String,
    pub scorer: String,
    pub state: Vec<u8>,
    /// The objects to publish, in publication order: `(key, bytes)`.
    pub objects: Vec<(String, Vec<u8>)>,
    /// The weights call to send, serialized by its owner (the ledger does not know the chain).
    pub weights: Option<String>,
    /// The chain's head when the epoch closed: weights accepted at or after it are this
    /// epoch's.
    pub head: u64,
}

/// What the weights of a closed epoch became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsState {
    /// Still to be sent.
    Pending { attempts: u32, last_error: Option<String> },
    /// Accepted by the chain at this block.
    Accepted { block: u64 },
    /// A later epoch's weights replaced them before they went through.
    Superseded,
}

/// A closed epoch whose publication or weights are not done.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub epoch: u64,
    pub summary_sha256: String,
    /// Objects still to publish, in order; empty once published.
    pub objects: Vec<(String, Vec<u8>)>,
    pub weights: Option<String>,
    pub weights_state: Option<WeightsState>,
    pub head: u64,
}
