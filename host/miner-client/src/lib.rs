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
        let url = format!("{}/assay/v1/info", miner.base_url);
        let response = self
            .http
            .get(&url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|source| Error::Transport { url: url.clone(), source })?;
        response.json().await.map_err(|e| Error::Malformed { url, reason: e.to_string() })
    }

    /// Sends a completion request (`path` is `/v1/chat/completions` or `/v1/completions`; the
    /// body's `stream` flag decides the mode) and measures it. Failures of the miner are
    /// outcomes, not errors: only a request that could not be built is an `Err`.
    pub async fn complete(&self, miner: &Miner, path: &str, body: &Value) -> Completion {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let streaming = body["stream"].as_bool().unwrap_or(false);
        let started = Instant::now();
        let failed = |outcome, started: Instant| Completion {
            outcome,
            ttft: started.elapsed(),
            total: started.elapsed(),
            text: String::new(),
            finish_reason: None,
            evidence: None,
            evidence_error: None,
            last: Value::Null,
        };
        let response = match self.signed_post(miner, path, &bytes).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return failed(Outcome::Timeout, started),
            Err(_) => return failed(Outcome::ServerError, started),
        };
        match response.status().as_u16() {
            200 => {}
            429 => return failed(Outcome::RateLimited, started),
            s if s >= 500 => return failed(Outcome::ServerError, started),
            _ => return failed(Outcome::BadResponse, started),
        }
        let mut ttft = None;
        let mut text = String::new();
        let mut last = Value::Null;
        if streaming {
            let mut stream = response.bytes_stream();
            let mut buffer = String::new();
            let mut done = false;
            while let Some(piece) = stream.next().await {
                let Ok(piece) = piece else { return failed(Outcome::ServerError, started) };
                buffer.push_str(&String::from_utf8_lossy(&piece));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    for data in event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim) {
                        if data == "[DONE]" {
                            done = true;
                            continue;
                        }
                        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
                            return failed(Outcome::BadResponse, started);
                        };
                        let choice = &chunk["choices"][0];
                        let delta = choice["delta"]["content"].as_str().or(choice["text"].as_str()).unwrap_or("");
                        if !delta.is_empty() && ttft.is_none() {
                            ttft = Some(started.elapsed());
                        }
                        text.push_str(delta);
                        last = chunk;
                    }
                }
            }
            if !done {
                return failed(Outcome::ServerError, started);
            }
        } else {
            let Ok(body) = response.json::<Value>().await else { return failed(Outcome::BadResponse, started) };
            ttft = Some(started.elapsed());
            let choice = &body["choices"][0];
            text = choice["message"]["content"].as_str().or(choice["text"].as_str()).unwrap_or("").to_string();
            last = body;
        }
        let total = started.elapsed();
        let finish_reason = last["choices"][0]["finish_reason"].as_str().map(str::to_string);
        let (evidence, evidence_error) = match check_evidence(&last, &miner.hotkey, &self.hotkey.ss58()) {
            Ok(e) => (e, None),
            Err(reason) => (None, Some(reason)),
        };
        let outcome = if evidence_error.is_some() { Outcome::BadResponse } else { Outcome::Ok };
        Completion { outcome, ttft: ttft.unwrap_or(total), total, text, finish_reason, evidence, evidence_error, last }
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
