//! The validator's side of the miner protocol.
//!
//! Owns: sending signed requests to miners (never following a redirect, never to an address the
//! config refuses), timing them by the validator's own clock (a miner's reports are never trusted
//! beyond it), bounding what a miner may send back by what was asked, tying the relayed text to
//! the signed tokens, classifying how requests ended (the contract's `outcome`), checking the
//! miner's signed evidence, checking openings against the committed root, and the calls of a
//! commit-reveal round with their check ([`MinerClient::commit`], [`check_reveal`]; decision 0009).
//! Must not touch: routing, the ledger or scoring; the gateway and the verification loop do those.

mod axon;
mod evidence;
mod limits;
mod meter;
mod rounds;
pub mod sse;
mod text;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assay_keys::Hotkey;
use assay_policy_sdk::Outcome;
use assay_protocol::epistula;
use assay_protocol::wire::{Info, OpenRequest, OpenResponse, ResponseExtension};
use serde_json::{Map, Value};

pub use axon::{AxonError, check_axon};
pub use evidence::{OpeningError, check_evidence, check_evidence_batch, verify_opening};
pub use limits::{Expect, Settings, max_tokens_asked};
pub use meter::Meter;
pub use rounds::{CommitAnswer, MinerFault, Mismatch, Reveal, RevealAnswer, RoundError, check_reveal};
pub use text::{Detokenize, SharedDetokenizer};

/// Idle connections to miners are dropped after this, before a miner's server would close them
/// (uvicorn's default keep-alive is 5 s): a request sent on a connection the server is closing
/// fails, and the miner would be charged for it.
const POOL_IDLE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request to {url} failed: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("{url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("{url} sent a malformed answer: {reason}")]
    Malformed { url: String, reason: String },
    #[error("{url} sent more than the {limit} bytes its answer may take")]
    TooLarge { url: String, limit: usize },
    #[error(transparent)]
    Axon(#[from] AxonError),
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("{url} did not answer within {limit:?}")]
    TimedOut { url: String, limit: Duration },
}

/// A miner's answer to an opening and how long it took: from sending the request to the
/// body's last byte, by the validator's clock, before the validator parsed it. Waiting for the
/// miner's slot and signing are the validator's time, not in it.
#[derive(Debug, Clone)]
pub struct OpenAnswer {
    pub response: OpenResponse,
    pub elapsed: Duration,
}

/// A miner as the validator addresses it.
#[derive(Debug, Clone)]
pub struct Miner {
    /// `http://host:port`
    pub base_url: String,
    /// The miner's hotkey (SS58): requests are signed for it, evidence must be signed by it.
    pub hotkey: String,
}

/// A finished completion, measured by the validator.
#[derive(Debug, Clone)]
pub struct Completion {
    pub outcome: Outcome,
    /// Until the first content byte (the first chunk with text, when streaming).
    pub ttft: Duration,
    pub total: Duration,
    pub text: String,
    pub finish_reason: Option<String>,
    /// The `assay` extension, when the miner sent one whose signature verified.
    pub evidence: Option<ResponseExtension>,
    /// Why the evidence was refused, when it was.
    pub evidence_error: Option<String>,
    /// The raw final body (non-streaming) or the last chunk (streaming).
    pub last: Value,
}

/// How an attempt ended before the miner sent any content.
#[derive(Debug, Clone)]
pub struct Refused {
    pub outcome: Outcome,
    /// The HTTP status, when the miner answered one.
    pub status: Option<u16>,
    /// The miner's error body, or the transport error.
    pub body: String,
    /// The request never left the validator (no file descriptor, memory or local port to
    /// open a connection with): the validator's fault, never to be charged to the miner.
    pub validator_fault: bool,
}

/// Whether a failed send was the validator's own doing: somewhere in its causes the host ran
/// out of file descriptors, memory, buffers or local ports.
pub fn is_validator_fault(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::OutOfMemory
                || matches!(
                    io.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL)
                ))
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Signs and sends requests to miners and measures their answers.
pub struct MinerClient {
    http: reqwest::Client,
    hotkey: Hotkey,
    timeout: Duration,
    settings: Settings,
    detokenizer: Option<SharedDetokenizer>,
    /// One opening per miner (by hotkey) at a time: a miner is never timed on two at once.
    openings: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Why a body could not be read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the body is longer than the {0} bytes it may take")]
    TooLarge(usize),
    #[error("the body did not arrive in time")]
    Timeout,
    #[error("reading the body failed: {0}")]
    Transport(String),
}

impl ReadError {
    /// The miner's outcome.
    pub fn outcome(&self) -> Outcome {
        match self {
            ReadError::TooLarge(_) => Outcome::BadResponse,
            ReadError::Timeout => Outcome::Timeout,
            ReadError::Transport(_) => Outcome::ServerError,
        }
    }
}

/// Reads `response`'s body, refusing it past `limit` bytes (its declared length first, then
/// as it arrives) rather than buffering whatever a miner sends.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge(limit));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(piece)) if body.len() + piece.len() > limit => return Err(ReadError::TooLarge(limit)),
            Ok(Some(piece)) => body.extend_from_slice(&piece),
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(ReadError::Timeout),
            Err(e) => return Err(ReadError::Transport(e.to_string())),
        }
    }
}

impl MinerClient {
    /// A client signing with `hotkey`, giving each request `timeout` in all, under `settings`.
    pub fn new(hotkey: Hotkey, timeout: Duration, settings: Settings) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            // A redirect would re-send the signed body elsewhere and relay whatever answers there.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(POOL_IDLE)
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self { http, hotkey, timeout, settings, detokenizer: None, openings: Default::default() })
    }

    /// Relayed text is checked against the signed tokens, detokenized by `detokenizer`.
    pub fn with_detokenizer(mut self, detokenizer: SharedDetokenizer) -> Self {
        self.detokenizer = Some(detokenizer);
        self
    }

    /// The validator's SS58 address: what miners sign their evidence for.
    pub fn validator(&self) -> String {
        self.hotkey.ss58()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether requests may go to `axon` (see [`check_axon`]).
    pub fn admits(&self, axon: &str) -> Result<(), AxonError> {
        check_axon(axon, self.settings.allow_private_axons)
    }

    /// A meter for the answer to `request` (its JSON, and its length as sent).
    pub fn meter(&self, request: &Map<String, Value>, request_bytes: usize) -> Meter {
        Meter::new(Expect::of(request, request_bytes, &self.settings), self.detokenizer.clone())
    }

    fn signed_post(&self, miner: &Miner, path: &str, body: &[u8]) -> Result<reqwest::RequestBuilder, AxonError> {
        self.admits(&miner.base_url)?;
        let signed = epistula::sign(&self.hotkey, body, Some(&miner.hotkey), now_ms());
        let mut request = self
            .http
            .post(format!("{}{path}", miner.base_url))
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        Ok(request)
    }

    pub async fn info(&self, miner: &Miner) -> Result<Info, Error> {
        self.info_within(miner, self.timeout).await
    }

    /// `GET /assay/v1/info` with its own time limit (health probes want a short one).
    pub async fn info_within(&self, miner: &Miner, timeout: Duration) -> Result<Info, Error> {
        self.admits(&miner.base_url)?;
        let url = format!("{}/assay/v1/info", miner.base_url);
        let response = self
            .http
            .get(&url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|source| Error::Transport { url: url.clone(), source })?;
        let limit = usize::try_from(self.settings.info_max_bytes).unwrap_or(usize::MAX);
        let body = read_body(response, &url, limit).await?;
        serde_json::from_slice(&body).map_err(|e| Error::Malformed { url, reason: e.to_string() })
    }

    /// Sends a signed completion request and waits for the miner's status line. `Ok` is a 200
    /// whose body is still to be read (see [`Meter`]); `Err` says how the attempt ended before
    /// any content, so that a caller may try another miner.
    pub async fn start(&self, miner: &Miner, path: &str, body: &[u8]) -> Result<reqwest::Response, Refused> {
        let request = self.signed_post(miner, path, body).map_err(|e| Refused {
            outcome: Outcome::BadResponse,
            status: None,
            body: e.to_string(),
            validator_fault: false,
        })?;
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let outcome = if e.is_timeout() { Outcome::Timeout } else { Outcome::ServerError };
                let validator_fault = is_validator_fault(&e);
                return Err(Refused { outcome, status: None, body: e.to_string(), validator_fault });
            }
        };
        let status = response.status().as_u16();
        let outcome = match status {
            200 => return Ok(response),
            429 => Outcome::RateLimited,
            s if s >= 500 => Outcome::ServerError,
            // Redirects too: they are not followed.
            _ => Outcome::BadResponse,
        };
        let body = read_capped(response, ERROR_BODY_BYTES).await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body).into_owned();
        Err(Refused { outcome, status: Some(status), body, validator_fault: false })
    }

    /// Sends a completion request (`path` is `/v1/chat/completions` or `/v1/completions`; the
    /// body's `stream` flag decides the mode) and measures it. Failures of the miner are
    /// outcomes, not errors.
    pub async fn complete(&self, miner: &Miner, path: &str, body: &Value) -> Completion {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let empty = Map::new();
        let mut meter = self.meter(body.as_object().unwrap_or(&empty), bytes.len());
        let mut response = match self.start(miner, path, &bytes).await {
            Ok(r) => r,
            Err(refused) => return meter.failed(refused.outcome),
        };
        while !meter.is_finished() {
            match response.chunk().await {
                Ok(Some(piece)) => {
                    meter.feed(&piece);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return meter.failed(Outcome::Timeout),
                Err(_) => return meter.failed(Outcome::ServerError),
            }
        }
        meter.finish(&miner.hotkey, &self.hotkey.ss58())
    }

    /// The miner's opening slot: held for the whole of one opening.
    fn opening_slot(&self, hotkey: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut slots = self.openings.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded by the miners with an opening in flight: idle slots are dropped.
        slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        slots.entry(hotkey.to_string()).or_default().clone()
    }

    /// Asks the miner to open `points` of a committed request whose vectors have `hidden_size`
    /// values; the answer may take no more than that many points need, nor longer than `limit`.
    /// At most one opening per miner runs at a time; `limit` and the answer's time start when
    /// this one has the miner's slot and its request is signed ([`OpenAnswer::elapsed`]).
    pub async fn open(
        &self,
        miner: &Miner,
        request: &OpenRequest,
        hidden_size: usize,
        limit: Duration,
    ) -> Result<OpenAnswer, Error> {
        let url = format!("{}/assay/v1/open", miner.base_url);
        let bytes = serde_json::to_vec(request).map_err(|e| Error::Client(e.to_string()))?;
        let slot = self.opening_slot(&miner.hotkey);
        let _held = slot.lock().await;
        let post = self.signed_post(miner, "/assay/v1/open", &bytes)?;
        let started = Instant::now();
        let exchange = async {
            let response = post.send().await.map_err(|source| Error::Transport { url: url.clone(), source })?;
            let status = response.status().as_u16();
            if status != 200 {
                let body = read_capped(response, ERROR_BODY_BYTES).await.unwrap_or_default();
                return Err(Error::Status {
                    url: url.clone(),
                    status,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
            }
            read_body(response, &url, self.settings.open_bytes(request.points.len(), hidden_size)).await
        };
        let body = match tokio::time::timeout(limit, exchange).await {
            Ok(body) => body?,
            Err(_) => return Err(Error::TimedOut { url, limit }),
        };
        let elapsed = started.elapsed();
        let response = serde_json::from_slice(&body).map_err(|e| Error::Malformed { url, reason: e.to_string() })?;
        Ok(OpenAnswer { response, elapsed })
    }
}

/// A miner's error body is read this far, for the log and the user.
const ERROR_BODY_BYTES: usize = 16 << 10;

async fn read_body(response: reqwest::Response, url: &str, limit: usize) -> Result<Vec<u8>, Error> {
    read_capped(response, limit).await.map_err(|e| match e {
        ReadError::TooLarge(limit) => Error::TooLarge { url: url.to_string(), limit },
        other => Error::Malformed { url: url.to_string(), reason: other.to_string() },
    })
}
