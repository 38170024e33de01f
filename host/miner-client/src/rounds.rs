//! The validator's calls of a commit-reveal round (decision 0009): [`MinerClient::commit`] and
//! [`MinerClient::reveal`] to one miner, each within the window the caller gives (the validator's
//! clock decides `late`) and a read bounded by what was asked, each answer's signature checked;
//! and [`check_reveal`], whether a reveal opens its commitment.
//!
//! Owns: those calls, their bounds, and whose fault a failed one was ([`RoundError`]: never
//! charge a miner for the validator's error). Must not touch: the windows' scheduling, the
//! prompt's drawing, or scoring (the round driver and the consensus policy do those).

use std::time::{Duration, Instant};

use assay_policy_sdk::Outcome;
use assay_protocol::commit_reveal::{self, SALT_BYTES, decode_hex};
use assay_protocol::commitment::Hash;
use assay_protocol::epistula::Signed;
use assay_protocol::wire::{COMMIT_ROUTE, CommitRequest, CommitResponse, REVEAL_ROUTE, RevealRequest, RevealResponse};
use assay_protocol::wire::{VectorDtype, decode_vector};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{ERROR_BODY_BYTES, Miner, MinerClient, ReadError, is_validator_fault, read_capped};

/// The status a miner answers a commit for a round it already holds with another prompt.
const CONFLICT: u16 = 409;

/// Why a round's call failed, and whose fault it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoundError {
    /// The miner's fault: charged (its row scores 0 for the round).
    #[error(transparent)]
    Miner(#[from] MinerFault),
    /// The validator's own (no descriptor, memory or local port to open a connection with; a
    /// body it could not serialize): never charged to the miner.
    #[error("the validator could not make the call: {0}")]
    Validator(String),
}

/// What a miner did wrong in a round's call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinerFault {
    #[error("{url} did not answer whole within {limit:?}")]
    Late { url: String, limit: Duration },
    #[error("{url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("request to {url} failed: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url} sent more than the {limit} bytes its answer may take")]
    TooLarge { url: String, limit: usize },
    #[error("{url} sent a malformed answer: {reason}")]
    Malformed { url: String, reason: String },
    #[error("{url}'s answer is not signed by the miner for this validator: {reason}")]
    Unsigned { url: String, reason: String },
    #[error("the miner's axon is refused: {0}")]
    Axon(String),
}

impl MinerFault {
    /// The contract's outcome for the call.
    pub fn outcome(&self) -> Outcome {
        match self {
            MinerFault::Late { .. } => Outcome::Timeout,
            MinerFault::Status { status: 429, .. } => Outcome::RateLimited,
            MinerFault::Status { status, .. } if *status >= 500 => Outcome::ServerError,
            MinerFault::Transport { .. } => Outcome::ServerError,
            _ => Outcome::BadResponse,
        }
    }
}

/// A miner's signed commitment, and how long it took by the validator's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitAnswer {
    pub commitment: Hash,
    pub response: CommitResponse,
    /// The miner's Epistula headers over `response`'s JSON: evidence anyone can check.
    pub signature: Map<String, Value>,
    pub elapsed: Duration,
}

/// A miner's signed reveal (not yet checked against its commitment: [`check_reveal`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RevealAnswer {
    pub response: RevealResponse,
    pub signature: Map<String, Value>,
    pub elapsed: Duration,
}

/// Whether a reveal opens its commitment.
#[derive(Debug, Clone, PartialEq)]
pub enum Reveal {
    /// It does: the output's `hidden_size` values, all finite.
    Valid(Vec<f32>),
    /// It does not, or opens it to something that is no output: the row scores 0.
    Mismatch(Mismatch),
}

/// Why a reveal does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The salt is not 32 bytes of hex.
    Salt,
    /// The output is not base64.
    Encoding,
    /// The output has this many bytes, not `4 × hidden_size`.
    Length(usize),
    /// `sha256(salt ‖ output)` is not the commitment.
    Commitment,
    /// A value is NaN or infinite.
    NotFinite,
}

/// Checks `reveal` against `commitment` for an output of `hidden_size` values: the revealed
/// bytes are hashed as they came, before they are decoded.
pub fn check_reveal(commitment: &Hash, reveal: &RevealResponse, hidden_size: usize) -> Reveal {
    let Some(salt) = decode_hex::<SALT_BYTES>(&reveal.salt) else { return Reveal::Mismatch(Mismatch::Salt) };
    let Some(output) = decode_vector(&reveal.output) else { return Reveal::Mismatch(Mismatch::Encoding) };
    if output.len() != hidden_size.saturating_mul(4) {
        return Reveal::Mismatch(Mismatch::Length(output.len()));
    }
    if !commit_reveal::opens(commitment, &salt, &output) {
        return Reveal::Mismatch(Mismatch::Commitment);
    }
    match VectorDtype::F32.decode(&output) {
        Some(values) if values.iter().all(|v| v.is_finite()) => Reveal::Valid(values),
        _ => Reveal::Mismatch(Mismatch::NotFinite),
    }
}

impl MinerClient {
    /// Asks `miner` to commit to `request`'s round; the answer must arrive whole within `window`
    /// (the commit window's remainder, by the validator's clock; the client's own timeout when
    /// that is shorter: callers keep windows within it) and be signed by the miner.
    pub async fn commit(
        &self,
        miner: &Miner,
        request: &CommitRequest,
        window: Duration,
    ) -> Result<CommitAnswer, RoundError> {
        let limit = self.settings().commit_bytes();
        let (response, signature, elapsed) =
            self.round_call::<CommitResponse>(miner, COMMIT_ROUTE, request, limit, window).await?;
        let url = format!("{}{COMMIT_ROUTE}", miner.base_url);
        let malformed = |reason: &str| MinerFault::Malformed { url: url.clone(), reason: reason.to_string() };
        if response.round != request.round {
            return Err(malformed("the commitment is for another round").into());
        }
        let commitment =
            decode_hex::<32>(&response.commitment).ok_or_else(|| malformed("the commitment is not 32 bytes of hex"))?;
        Ok(CommitAnswer { commitment, response, signature, elapsed })
    }

    /// Asks `miner` to reveal `round`, whose output has `hidden_size` values (the validator's own
    /// reference model's, never what the miner declares; the read is bounded as for at most
    /// [`commit_reveal::MAX_OUTPUT_VALUES`]), within `window` (or the client's shorter timeout)
    /// and signed by the miner.
    pub async fn reveal(
        &self,
        miner: &Miner,
        round: u64,
        hidden_size: usize,
        window: Duration,
    ) -> Result<RevealAnswer, RoundError> {
        let limit = self.settings().reveal_bytes(hidden_size);
        let request = RevealRequest { round };
        let (response, signature, elapsed) =
            self.round_call::<RevealResponse>(miner, REVEAL_ROUTE, &request, limit, window).await?;
        if response.round != round {
            let url = format!("{}{REVEAL_ROUTE}", miner.base_url);
            return Err(MinerFault::Malformed { url, reason: "the reveal is for another round".into() }.into());
        }
        Ok(RevealAnswer { response, signature, elapsed })
    }

    /// Posts `body` to `route`, reads at most `limit` bytes of a 200 within `window`, and returns
    /// its signed `assay` answer, the signature's headers and the time from send to last byte.
    async fn round_call<T: DeserializeOwned + Serialize>(
        &self,
        miner: &Miner,
        route: &str,
        body: &impl Serialize,
        limit: usize,
        window: Duration,
    ) -> Result<(T, Map<String, Value>, Duration), RoundError> {
        let url = format!("{}{route}", miner.base_url);
        let bytes = serde_json::to_vec(body).map_err(|e| RoundError::Validator(e.to_string()))?;
        let post = self.signed_post(miner, route, &bytes).map_err(|e| MinerFault::Axon(e.to_string()))?;
        let late = MinerFault::Late { url: url.clone(), limit: window.min(self.timeout) };
        let started = Instant::now();
        let exchange = async {
            let response = post.send().await.map_err(|e| -> RoundError {
                if is_validator_fault(&e) {
                    RoundError::Validator(e.to_string())
                } else if e.is_timeout() {
                    late.clone().into()
                } else {
                    MinerFault::Transport { url: url.clone(), reason: e.to_string() }.into()
                }
            })?;
            let status = response.status().as_u16();
            if status == CONFLICT {
                // The miner already holds this round with another prompt: the validator reused a
                // round id (decision 0009), never the miner's fault.
                return Err(RoundError::Validator(format!("{url} already holds this round with another prompt")));
            }
            if status != 200 {
                let body = read_capped(response, ERROR_BODY_BYTES).await.unwrap_or_default();
                let body = String::from_utf8_lossy(&body).into_owned();
                return Err(MinerFault::Status { url: url.clone(), status, body }.into());
            }
            let body = read_capped(response, limit).await.map_err(|e| match e {
                ReadError::TooLarge(limit) => MinerFault::TooLarge { url: url.clone(), limit },
                ReadError::Timeout => late.clone(),
                ReadError::Transport(reason) => MinerFault::Transport { url: url.clone(), reason },
            })?;
            Ok::<_, RoundError>(body)
        };
        let body = match tokio::time::timeout(window, exchange).await {
            Ok(body) => body?,
            Err(_) => return Err(late.into()),
        };
        let elapsed = started.elapsed();
        let (answer, signature) =
            signed_answer(&body, &miner.hotkey, &self.validator()).map_err(|(unsigned, reason)| {
                if unsigned {
                    MinerFault::Unsigned { url: url.clone(), reason }
                } else {
                    MinerFault::Malformed { url: url.clone(), reason }
                }
            })?;
        Ok((answer, signature, elapsed))
    }
}

/// The `assay` answer of `body` and its signature's headers, once checked to be `miner`'s for
/// `validator`. `Err((true, _))`: not signed so; `Err((false, _))`: not an answer at all.
fn signed_answer<T: DeserializeOwned + Serialize>(
    body: &[u8],
    miner: &str,
    validator: &str,
) -> Result<(T, Map<String, Value>), (bool, String)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| (false, e.to_string()))?;
    let answer: T = serde_json::from_value(value["assay"].clone()).map_err(|e| (false, format!("assay: {e}")))?;
    let headers = value["assay_signature"].as_object().ok_or_else(|| (true, "no assay_signature".to_string()))?;
    let signed = Signed::from_headers(|n| headers.get(n).and_then(Value::as_str).map(str::to_string))
        .map_err(|e| (true, e.to_string()))?;
    if signed.signed_by != miner {
        return Err((true, format!("signed by {}, not by the miner", signed.signed_by)));
    }
    if signed.signed_for.as_deref() != Some(validator) {
        return Err((true, "not signed for this validator".into()));
    }
    let bytes = serde_json::to_vec(&answer).map_err(|e| (false, e.to_string()))?;
    signed.verify_signature(&bytes).map_err(|e| (true, e.to_string()))?;
    Ok((answer, headers.clone()))
}

#[cfg(test)]
mod tests {
    use assay_protocol::commit_reveal::output_bytes;
    use assay_protocol::wire::encode_vector;

    use super::*;

    fn reveal(salt: &[u8; 32], output: &[u8]) -> RevealResponse {
        RevealResponse { round: 1, salt: hex::encode(salt), output: encode_vector(output) }
    }

    #[test]
    fn a_reveal_counts_only_when_it_opens_its_commitment_to_an_output() {
        let salt = [3u8; 32];
        let output = output_bytes(&[0.5, -1.0]);
        let committed = commit_reveal::commitment(&salt, &output);
        assert_eq!(check_reveal(&committed, &reveal(&salt, &output), 2), Reveal::Valid(vec![0.5, -1.0]));
        let other = output_bytes(&[0.5, -1.5]);
        assert_eq!(check_reveal(&committed, &reveal(&salt, &other), 2), Reveal::Mismatch(Mismatch::Commitment));
        assert_eq!(check_reveal(&committed, &reveal(&[4; 32], &output), 2), Reveal::Mismatch(Mismatch::Commitment));
        assert_eq!(check_reveal(&committed, &reveal(&salt, &output), 3), Reveal::Mismatch(Mismatch::Length(8)));
        let short_salt = RevealResponse { salt: "0303".into(), ..reveal(&salt, &output) };
        assert_eq!(check_reveal(&committed, &short_salt, 2), Reveal::Mismatch(Mismatch::Salt));
        let not_base64 = RevealResponse { output: "***".into(), ..reveal(&salt, &output) };
        assert_eq!(check_reveal(&committed, &not_base64, 2), Reveal::Mismatch(Mismatch::Encoding));
        // A NaN committed to honestly is still no output.
        let nan = output_bytes(&[f32::NAN, 1.0]);
        let nan_committed = commit_reveal::commitment(&salt, &nan);
        assert_eq!(check_reveal(&nan_committed, &reveal(&salt, &nan), 2), Reveal::Mismatch(Mismatch::NotFinite));
    }

    #[test]
    fn whose_fault_is_an_outcome() {
        let status = |status| MinerFault::Status { url: "u".into(), status, body: String::new() }.outcome();
        assert_eq!(status(429), Outcome::RateLimited);
        assert_eq!(status(503), Outcome::ServerError);
        assert_eq!(status(404), Outcome::BadResponse);
        assert_eq!(MinerFault::Late { url: "u".into(), limit: Duration::ZERO }.outcome(), Outcome::Timeout);
    }
}
