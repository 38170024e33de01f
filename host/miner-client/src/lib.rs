//! The validator's side of the miner protocol.
//!
//! Owns: sending signed requests to miners, timing them by the validator's own clock (a miner's
//! reports are never trusted beyond it), classifying how they ended (the contract's `outcome`),
//! checking the miner's signed evidence, and checking openings against the committed root.
//! Must not touch: routing, the ledger or scoring; the gateway and the verification loop do those.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assay_keys::Hotkey;
use assay_policy_sdk::Outcome;
use assay_protocol::commitment::{self, Hash};
use assay_protocol::epistula::{self, Signed};
use assay_protocol::wire::{Info, OpenRequest, OpenResponse, ResponseExtension, decode_vector};
use serde_json::Value;
use tokio_stream::StreamExt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request to {url} failed: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("{url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("{url} sent a malformed answer: {reason}")]
    Malformed { url: String, reason: String },
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

/// Watches a completion's body as it passes (the caller may forward each piece unchanged) and
/// measures it by the validator's clock: time to the first content, the text, the last chunk.
#[derive(Debug)]
pub struct Meter {
    started: Instant,
    streaming: bool,
    /// Bytes not yet split into events (streaming), or the whole body so far (not streaming).
    pending: Vec<u8>,
    ttft: Option<Duration>,
    text: String,
    last: Value,
    done: bool,
    malformed: bool,
}

impl Meter {
    /// Starts the clock.
    pub fn new(streaming: bool) -> Self {
        Self {
            started: Instant::now(),
            streaming,
            pending: Vec::new(),
            ttft: None,
            text: String::new(),
            last: Value::Null,
            done: false,
            malformed: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether content has arrived (after which a request can no longer be retried elsewhere).
    pub fn has_content(&self) -> bool {
        self.ttft.is_some()
    }

    /// Takes the next piece of the body, as it came off the wire.
    pub fn feed(&mut self, piece: &[u8]) {
        self.pending.extend_from_slice(piece);
        if !self.streaming {
            return;
        }
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.pending.drain(..end + 2).collect();
            let Ok(event) = std::str::from_utf8(&event) else {
                self.malformed = true;
                continue;
            };
            for data in event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim) {
                if data == "[DONE]" {
                    self.done = true;
                    continue;
                }
                let Ok(chunk) = serde_json::from_str::<Value>(data) else {
                    self.malformed = true;
                    continue;
                };
                let choice = &chunk["choices"][0];
                let delta = choice["delta"]["content"].as_str().or(choice["text"].as_str()).unwrap_or("");
                if !delta.is_empty() && self.ttft.is_none() {
                    self.ttft = Some(self.started.elapsed());
                }
                self.text.push_str(delta);
                self.last = chunk;
            }
        }
    }

    /// The measurement of a request that ended with `outcome` before finishing.
    pub fn failed(&self, outcome: Outcome) -> Completion {
        let elapsed = self.started.elapsed();
        Completion {
            outcome,
            ttft: self.ttft.unwrap_or(elapsed),
            total: elapsed,
            text: self.text.clone(),
            finish_reason: None,
            evidence: None,
            evidence_error: None,
            last: self.last.clone(),
        }
    }

    /// The measurement of a body that ended: `Ok` when it was well-formed and complete; the
    /// evidence is not checked (see [`check_evidence`], or [`Meter::finish`]).
    pub fn end(mut self) -> Completion {
        let total = self.started.elapsed();
        if self.streaming {
            if !self.done {
                return self.failed(Outcome::ServerError);
            }
            if self.malformed {
                return self.failed(Outcome::BadResponse);
            }
        } else {
            let Ok(body) = serde_json::from_slice::<Value>(&self.pending) else {
                return self.failed(Outcome::BadResponse);
            };
            // Not streaming: the first content is the whole body.
            self.ttft = Some(total);
            let choice = &body["choices"][0];
            self.text = choice["message"]["content"].as_str().or(choice["text"].as_str()).unwrap_or("").to_string();
            self.last = body;
        }
        let finish_reason = self.last["choices"][0]["finish_reason"].as_str().map(str::to_string);
        Completion {
            outcome: Outcome::Ok,
            ttft: self.ttft.unwrap_or(total),
            total,
            text: self.text,
            finish_reason,
            evidence: None,
            evidence_error: None,
            last: self.last,
        }
    }

    /// [`Meter::end`], then the evidence `miner` signed for `validator`: a response whose
    /// evidence does not verify is a bad response.
    pub fn finish(self, miner: &str, validator: &str) -> Completion {
        let mut completion = self.end();
        if completion.outcome == Outcome::Ok {
            match check_evidence(&completion.last, miner, validator) {
                Ok(e) => completion.evidence = e,
                Err(reason) => {
                    completion.evidence_error = Some(reason);
                    completion.outcome = Outcome::BadResponse;
                }
            }
        }
        completion
    }
}

pub struct MinerClient {
    http: reqwest::Client,
    hotkey: Hotkey,
    timeout: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl MinerClient {
    pub fn new(hotkey: Hotkey, timeout: Duration) -> Self {
        Self { http: reqwest::Client::new(), hotkey, timeout }
    }

    /// The validator's SS58 address: what miners sign their evidence for.
    pub fn validator(&self) -> String {
        self.hotkey.ss58()
    }

    fn signed_post(&self, miner: &Miner, path: &str, body: &[u8]) -> reqwest::RequestBuilder {
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
        request
    }

    pub async fn info(&self, miner: &Miner) -> Result<Info, Error> {
        self.info_within(miner, self.timeout).await
    }

    /// `GET /assay/v1/info` with its own time limit (health probes want a short one).
    pub async fn info_within(&self, miner: &Miner, timeout: Duration) -> Result<Info, Error> {
        let url = format!("{}/assay/v1/info", miner.base_url);
        let response = self
            .http
            .get(&url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|source| Error::Transport { url: url.clone(), source })?;
        response.json().await.map_err(|e| Error::Malformed { url, reason: e.to_string() })
    }

    /// Sends a signed completion request and waits for the miner's status line. `Ok` is a 200
    /// whose body is still to be read (see [`Meter`]); `Err` says how the attempt ended before
    /// any content, so that a caller may try another miner.
    pub async fn start(&self, miner: &Miner, path: &str, body: &[u8]) -> Result<reqwest::Response, Refused> {
        let response = match self.signed_post(miner, path, body).send().await {
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
            _ => Outcome::BadResponse,
        };
        let body = response.text().await.unwrap_or_default();
        Err(Refused { outcome, status: Some(status), body, validator_fault: false })
    }

    /// Sends a completion request (`path` is `/v1/chat/completions` or `/v1/completions`; the
    /// body's `stream` flag decides the mode) and measures it. Failures of the miner are
    /// outcomes, not errors.
    pub async fn complete(&self, miner: &Miner, path: &str, body: &Value) -> Completion {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut meter = Meter::new(body["stream"].as_bool().unwrap_or(false));
        let response = match self.start(miner, path, &bytes).await {
            Ok(r) => r,
            Err(refused) => return meter.failed(refused.outcome),
        };
        let mut stream = response.bytes_stream();
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(piece) => meter.feed(&piece),
                Err(e) if e.is_timeout() => return meter.failed(Outcome::Timeout),
                Err(_) => return meter.failed(Outcome::ServerError),
            }
        }
        meter.finish(&miner.hotkey, &self.hotkey.ss58())
    }

    /// Asks the miner to open `points` of a committed request.
    pub async fn open(&self, miner: &Miner, request: &OpenRequest) -> Result<OpenResponse, Error> {
        let url = format!("{}/assay/v1/open", miner.base_url);
        let bytes = serde_json::to_vec(request).unwrap_or_default();
        let response = self
            .signed_post(miner, "/assay/v1/open", &bytes)
            .send()
            .await
            .map_err(|source| Error::Transport { url: url.clone(), source })?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Status { url, status, body });
        }
        response.json().await.map_err(|e| Error::Malformed { url, reason: e.to_string() })
    }
}

/// The `assay` extension of a final body or chunk, if any, after checking that the miner signed
/// it for this validator. `Err` says why it was refused.
pub fn check_evidence(last: &Value, miner: &str, validator: &str) -> Result<Option<ResponseExtension>, String> {
    let Some(ext) = last.get("assay").filter(|v| !v.is_null()) else { return Ok(None) };
    let ext: ResponseExtension =
        serde_json::from_value(ext.clone()).map_err(|e| format!("malformed assay extension: {e}"))?;
    let headers = last["assay_signature"].as_object().ok_or("the evidence is not signed")?;
    let signed = Signed::from_headers(|n| headers.get(n).and_then(|v| v.as_str()).map(str::to_string))
        .map_err(|e| e.to_string())?;
    if signed.signed_by != miner {
        return Err(format!("evidence signed by {}, not by the miner {miner}", signed.signed_by));
    }
    if signed.signed_for.as_deref() != Some(validator) {
        return Err("evidence is not signed for this validator".into());
    }
    let bytes = serde_json::to_vec(&ext).map_err(|e| e.to_string())?;
    signed.verify_signature(&bytes).map_err(|e| e.to_string())?;
    Ok(Some(ext))
}

/// Why an opening was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpeningError {
    #[error("the request was not committed")]
    NotCommitted,
    #[error("point ({0}, {1}) was asked for but not opened")]
    Missing(u32, u32),
    #[error("point ({0}, {1}) has a malformed vector")]
    Malformed(u32, u32),
    #[error("point ({0}, {1}) does not verify against the commitment")]
    BadPath(u32, u32),
}

/// Checks every asked point of an opening against the committed root; returns the vectors.
pub fn verify_opening(
    ext: &ResponseExtension,
    asked: &[[u32; 2]],
    opened: &OpenResponse,
    hidden_size: usize,
) -> Result<Vec<Vec<f32>>, OpeningError> {
    let root_hex = ext.commitment.as_deref().ok_or(OpeningError::NotCommitted)?;
    let mut root: Hash = [0; 32];
    hex::decode_to_slice(root_hex, &mut root).map_err(|_| OpeningError::NotCommitted)?;
    let positions = (ext.prompt_token_ids.len() + ext.completion_token_ids.len()) as u32;
    let mut out = Vec::with_capacity(asked.len());
    for &[layer, position] in asked {
        let point = opened
            .points
            .iter()
            .find(|p| p.layer == layer && p.position == position)
            .ok_or(OpeningError::Missing(layer, position))?;
        let bytes = decode_vector(&point.vector).ok_or(OpeningError::Malformed(layer, position))?;
        let values = ext
            .dtype
            .decode(&bytes)
            .filter(|v| v.len() == hidden_size)
            .ok_or(OpeningError::Malformed(layer, position))?;
        let mut path = Vec::with_capacity(point.path.len());
        for step in &point.path {
            let mut h: Hash = [0; 32];
            hex::decode_to_slice(step, &mut h).map_err(|_| OpeningError::BadPath(layer, position))?;
            path.push(h);
        }
        let leaf = commitment::leaf(&opened.request_id, layer, position, &bytes);
        let index = commitment::leaf_index(layer, position, positions);
        if opened.request_id != ext.request_id || !commitment::verify(&root, leaf, index, ext.leaf_count, &path) {
            return Err(OpeningError::BadPath(layer, position));
        }
        out.push(values);
    }
    Ok(out)
}
