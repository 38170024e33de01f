//! Message types of the protocol, as JSON.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// `GET /assay/v1/info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub protocol_version: u32,
    pub model: String,
    /// Transformer layers; hidden states are numbered 0..=layers.
    pub layers: u32,
    pub hidden_size: u32,
    /// Concurrent requests the miner accepts before answering 429.
    pub capacity: u32,
    /// Seconds a commitment can be opened after its response.
    pub open_window_s: u64,
    /// Declared capacity per task. Absent (older miners): the miner serves every task of its
    /// model with `capacity` (see [`Info::declared_capacities`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskCapacity>,
    /// Optional routes the miner speaks beyond version 1's (from version 2: [`COMMIT_ROUTE`]
    /// and [`REVEAL_ROUTE`]). Absent (a version-1 miner): none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
}

/// `POST` here commits to a round's output (decision 0009).
pub const COMMIT_ROUTE: &str = "/assay/v1/consensus/commit";
/// `POST` here reveals a committed round's salt and output.
pub const REVEAL_ROUTE: &str = "/assay/v1/consensus/reveal";

/// One task a miner serves and the concurrent requests it accepts for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCapacity {
    pub name: String,
    pub capacity: u32,
}

/// Tasks one miner may declare, at most: more is a hostile `info`, refused.
pub const MAX_DECLARED_TASKS: usize = 64;
/// Bytes of a declared task's name, at most.
pub const MAX_TASK_NAME_BYTES: usize = 64;

/// Why a miner's declared capacities were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclaredError {
    #[error("the miner declares {0} tasks (at most {MAX_DECLARED_TASKS})")]
    TooManyTasks(usize),
    #[error("the miner declares a task name of {0} bytes (1 to {MAX_TASK_NAME_BYTES})")]
    BadTaskName(usize),
    #[error("the miner declares task `{0}` twice")]
    Duplicate(String),
}

impl Info {
    /// Whether the miner declares both routes of the commit-reveal pair; a version-1 miner
    /// declares none, and the validator does not ask it (its rows are `missing`).
    pub fn speaks_commit_reveal(&self) -> bool {
        [COMMIT_ROUTE, REVEAL_ROUTE].iter().all(|route| self.routes.iter().any(|r| r == route))
    }

    /// The miner's capacity per task, checked against the bounds above: its `tasks`, or, for a
    /// miner that lists none (an older one), `capacity` for each of `default_tasks`.
    pub fn declared_capacities(
        &self,
        default_tasks: &[&str],
    ) -> Result<std::collections::BTreeMap<String, u32>, DeclaredError> {
        if self.tasks.is_empty() {
            return Ok(default_tasks.iter().map(|t| (t.to_string(), self.capacity)).collect());
        }
        if self.tasks.len() > MAX_DECLARED_TASKS {
            return Err(DeclaredError::TooManyTasks(self.tasks.len()));
        }
        let mut out = std::collections::BTreeMap::new();
        for t in &self.tasks {
            if t.name.is_empty() || t.name.len() > MAX_TASK_NAME_BYTES {
                return Err(DeclaredError::BadTaskName(t.name.len()));
            }
            if out.insert(t.name.clone(), t.capacity).is_some() {
                return Err(DeclaredError::Duplicate(t.name.clone()));
            }
        }
        Ok(out)
    }
}

/// The `assay` extension every validator request carries, challenged or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestExtension {
    pub request_id: String,
    /// Random, so that two requests with the same text still differ.
    pub nonce: String,
    /// Whether the miner must commit to its hidden states.
    pub commit: bool,
    /// The sampler specification the validator replays ([`SAMPLER_SPEC`], decision 0010): a
    /// miner signs [`ResponseExtension::sampler`] only when asked, so a validator that does not
    /// ask (and whose `ResponseExtension` has no `sampler` to re-serialise) verifies its evidence
    /// unchanged. Absent from an older validator's requests; an older miner ignores it (this
    /// struct does not deny unknown fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<String>,
}

impl RequestExtension {
    /// What a miner that samples with the protocol's sampler signs in
    /// [`ResponseExtension::sampler`]: [`SAMPLER_SPEC`] when this request asks for it, else
    /// nothing (the evidence an older validator re-serialises must not carry the field).
    pub fn signed_sampler(&self) -> Option<String> {
        (self.sampler.as_deref() == Some(SAMPLER_SPEC)).then(|| SAMPLER_SPEC.to_string())
    }
}

/// Hidden-state precision the miner reports vectors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorDtype {
    F32,
    Bf16,
}

impl VectorDtype {
    pub fn size(self) -> usize {
        match self {
            VectorDtype::F32 => 4,
            VectorDtype::Bf16 => 2,
        }
    }

    /// Little-endian bytes to f32 values; `None` when the length is not a whole number of values.
    pub fn decode(self, bytes: &[u8]) -> Option<Vec<f32>> {
        if !bytes.len().is_multiple_of(self.size()) {
            return None;
        }
        Some(match self {
            VectorDtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            VectorDtype::Bf16 => bytes
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
        })
    }
}

/// The `assay` extension of a completion's final chunk (or body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseExtension {
    pub request_id: String,
    pub prompt_token_ids: Vec<u32>,
    pub completion_token_ids: Vec<u32>,
    /// Hex Merkle root over the hidden states (see `commitment`), when the request asked for one.
    pub commitment: Option<String>,
    pub leaf_count: u64,
    pub dtype: VectorDtype,
    /// [`SAMPLER_SPEC`] when the miner generated with the protocol's sampler
    /// (`docs/sampling.md`, decision 0010) and the request asked ([`RequestExtension::sampler`]):
    /// the verifier then replays each sampled token.
    /// Absent (a miner that samples its own way): sampled tokens are judged on their log-probs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<String>,
}

/// What a miner that samples exactly as `docs/sampling.md` specifies signs in
/// [`ResponseExtension::sampler`] (decision 0010); a later revision of the specification takes
/// a new name.
pub const SAMPLER_SPEC: &str = "assay-sampler/1";

impl ResponseExtension {
    /// Whether the miner signed that it sampled with the protocol's sampler ([`SAMPLER_SPEC`]).
    pub fn samples_to_spec(&self) -> bool {
        self.sampler.as_deref() == Some(SAMPLER_SPEC)
    }
}

/// `POST /assay/v1/open`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRequest {
    pub request_id: String,
    /// `[layer, position]` pairs.
    pub points: Vec<[u32; 2]>,
}

/// One opened point: the vector (base64 of little-endian values) and its Merkle path (hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenedPoint {
    pub layer: u32,
    pub position: u32,
    pub vector: String,
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenResponse {
    pub request_id: String,
    pub points: Vec<OpenedPoint>,
}

/// `POST /assay/v1/consensus/commit`: run `prompt_token_ids` (exact ids, no template) through
/// `model` and commit to the final hidden state at the last position; nothing is generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRequest {
    /// The validator's round id; one commitment per (validator, round).
    pub round: u64,
    pub epoch: u64,
    pub model: String,
    pub prompt_token_ids: Vec<u32>,
}

/// The miner's commitment, signed by its hotkey for the validator (the `assay` field of the
/// answer, its Epistula headers in `assay_signature`, as a completion's evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitResponse {
    pub round: u64,
    /// Hex `sha256(salt ‖ output)` (see [`crate::commit_reveal`]).
    pub commitment: String,
}

/// `POST /assay/v1/consensus/reveal`: a round this validator had the miner commit to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealRequest {
    pub round: u64,
}

/// The salt and output behind a commitment, signed as [`CommitResponse`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealResponse {
    pub round: u64,
    /// Hex, 32 bytes.
    pub salt: String,
    /// Base64 of the little-endian f32 values: `hidden_size` of them.
    pub output: String,
}

pub fn encode_vector(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_vector(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_bad_ones_are_refused() {
        let values = [1.5f32, -0.25, 3.0e-3];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let text = encode_vector(&bytes);
        assert_eq!(VectorDtype::F32.decode(&decode_vector(&text).expect("base64")).expect("whole"), values);
        assert_eq!(VectorDtype::Bf16.decode(&[0x80, 0x3f]).expect("whole"), vec![1.0]);
        assert!(VectorDtype::F32.decode(&bytes[..5]).is_none());
        assert!(decode_vector("not base64!").is_none());
        let ext: ResponseExtension = serde_json::from_str(
            r#"{"request_id":"r","prompt_token_ids":[1],"completion_token_ids":[2],"commitment":null,"leaf_count":0,"dtype":"bf16"}"#,
        )
        .expect("parses");
        assert_eq!(ext.dtype, VectorDtype::Bf16);
    }

    #[test]
    fn a_miner_signs_the_sampler_only_when_asked() {
        let parse = |json: serde_json::Value| serde_json::from_value::<RequestExtension>(json).expect("parses");
        // An older validator's request does not ask: nothing to sign.
        let old = parse(serde_json::json!({"request_id": "r", "nonce": "n", "commit": true}));
        assert_eq!((old.sampler.as_deref(), old.signed_sampler()), (None, None));
        // A field this build does not know is ignored, as an older miner ignores `sampler`.
        let newer = parse(serde_json::json!({"request_id": "r", "nonce": "n", "commit": true, "later": 1}));
        assert_eq!(newer, old);
        let asked =
            parse(serde_json::json!({"request_id": "r", "nonce": "n", "commit": true, "sampler": SAMPLER_SPEC}));
        assert_eq!(asked.signed_sampler().as_deref(), Some(SAMPLER_SPEC));
        // Another revision is not this miner's sampler.
        let other =
            parse(serde_json::json!({"request_id": "r", "nonce": "n", "commit": true, "sampler": "assay-sampler/2"}));
        assert_eq!(other.signed_sampler(), None);
        // Unasked, the request serialises as an older validator's did.
        assert!(!serde_json::to_string(&old).expect("json").contains("sampler"));
    }

    fn info(tasks: serde_json::Value) -> Info {
        let mut json = serde_json::json!({"protocol_version": 1, "model": "m", "layers": 2, "hidden_size": 8,
            "capacity": 3, "open_window_s": 60});
        if !tasks.is_null() {
            json["tasks"] = tasks;
        }
        serde_json::from_value(json).expect("an info")
    }

    #[test]
    fn an_old_miner_declares_its_capacity_for_every_default_task() {
        let old = info(serde_json::Value::Null);
        let declared = old.declared_capacities(&["chat", "completion"]).expect("bounded");
        assert_eq!(declared.into_iter().collect::<Vec<_>>(), [("chat".into(), 3), ("completion".into(), 3)]);
        assert!(!serde_json::to_string(&old).expect("json").contains("tasks"), "an old info stays as it was");
    }

    #[test]
    fn a_version_1_info_speaks_no_commit_reveal() {
        let old = info(serde_json::Value::Null);
        assert_eq!((old.protocol_version, old.routes.len()), (1, 0));
        assert!(!old.speaks_commit_reveal());
        assert!(!serde_json::to_string(&old).expect("json").contains("routes"), "an old info stays as it was");
        let mut json = serde_json::to_value(&old).expect("json");
        json["protocol_version"] = 2.into();
        json["routes"] = serde_json::json!([COMMIT_ROUTE]);
        let half: Info = serde_json::from_value(json.clone()).expect("an info");
        assert!(!half.speaks_commit_reveal(), "a commit without its reveal is not the pair");
        json["routes"] = serde_json::json!(["/assay/v1/other", REVEAL_ROUTE, COMMIT_ROUTE]);
        let new: Info = serde_json::from_value(json).expect("an info");
        assert!(new.speaks_commit_reveal());
    }

    #[test]
    fn a_new_miner_declares_each_task() {
        let new = info(serde_json::json!([{"name": "chat-7b", "capacity": 9}, {"name": "code", "capacity": 2}]));
        let declared = new.declared_capacities(&["ignored"]).expect("bounded");
        assert_eq!(declared.into_iter().collect::<Vec<_>>(), [("chat-7b".into(), 9), ("code".into(), 2)]);
    }

    #[test]
    fn hostile_declarations_are_refused() {
        let many: Vec<_> =
            (0..=MAX_DECLARED_TASKS).map(|i| serde_json::json!({"name": format!("t{i}"), "capacity": 1})).collect();
        let check = |tasks, want: DeclaredError| assert_eq!(info(tasks).declared_capacities(&[]), Err(want));
        check(serde_json::json!(many), DeclaredError::TooManyTasks(MAX_DECLARED_TASKS + 1));
        check(serde_json::json!([{"name": "x".repeat(65), "capacity": 1}]), DeclaredError::BadTaskName(65));
        check(serde_json::json!([{"name": "", "capacity": 1}]), DeclaredError::BadTaskName(0));
        check(
            serde_json::json!([{"name": "a", "capacity": 1}, {"name": "a", "capacity": 2}]),
            DeclaredError::Duplicate("a".into()),
        );
    }
}
