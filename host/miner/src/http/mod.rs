//! The reference miner over HTTP: `GET /assay/v1/info`, `POST /v1/chat/completions`,
//! `POST /v1/completions` (streaming or not) and `POST /assay/v1/open`.
//!
//! Every request except `info` must carry valid Epistula v2 headers signed for this miner's
//! hotkey (missing, stale, replayed or forged: 401). Past `capacity` concurrent requests the
//! miner answers 429. Evidence (token ids and the commitment) is signed by the miner's hotkey.

mod completions;
mod error;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assay_keys::Hotkey;
use assay_protocol::epistula::{Signed, Verifier};
use assay_protocol::wire::{Info, OpenRequest};
use assay_reference_engine::{ChatTokenizer, Engine};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::Semaphore;

pub use error::ApiError;

use crate::Store;

/// What a miner serves with.
pub struct MinerSettings {
    /// The model name it answers to (and reports in `info`).
    pub model_name: String,
    /// Concurrent requests before 429.
    pub capacity: u32,
    /// How long commitments can be opened.
    pub open_window: Duration,
    /// Bytes of hidden states kept for openings, at most.
    pub store_bytes: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Added after every generated token: a slower machine, for `assay devnet`'s miners.
    pub token_delay: Duration,
}

impl Default for MinerSettings {
    fn default() -> Self {
        Self {
            model_name: "assay-tiny".into(),
            capacity: 4,
            open_window: Duration::from_secs(120),
            store_bytes: 1 << 30,
            max_body_bytes: 1 << 20,
            token_delay: Duration::ZERO,
        }
    }
}

#[derive(Clone)]
pub struct MinerState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    tokenizer: ChatTokenizer,
    hotkey: Hotkey,
    verifier: Verifier,
    store: Store,
    slots: Arc<Semaphore>,
    settings: MinerSettings,
}

impl MinerState {
    pub fn new(engine: Engine, tokenizer: ChatTokenizer, hotkey: Hotkey, settings: MinerSettings) -> Self {
        let verifier = Verifier::new(hotkey.ss58(), assay_protocol::epistula::DEFAULT_WINDOW_MS);
        Self {
            inner: Arc::new(Inner {
                store: Store::new(settings.store_bytes),
                slots: Arc::new(Semaphore::new(settings.capacity as usize)),
                engine,
                tokenizer,
                hotkey,
                verifier,
                settings,
            }),
        }
    }

    pub fn info(&self) -> Info {
        let c = self.inner.engine.config();
        Info {
            protocol_version: assay_protocol::PROTOCOL_VERSION,
            model: self.inner.settings.model_name.clone(),
            layers: c.num_layers as u32,
            hidden_size: c.hidden_size as u32,
            capacity: self.inner.settings.capacity,
            open_window_s: self.inner.settings.open_window.as_secs(),
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Checks the Epistula headers over the raw body and returns the signer's SS58 address.
fn authenticate(state: &MinerState, headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let signed = Signed::from_headers(get).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    state.inner.verifier.verify(&signed, body, now_ms()).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    Ok(signed.signed_by)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

async fn info(State(state): State<MinerState>) -> Json<Info> {
    Json(state.info())
}

async fn open(
    State(state): State<MinerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    authenticate(&state, &headers, &body)?;
    let request: OpenRequest = parse(&body)?;
    let inner = state.inner.clone();
    let response = tokio::task::spawn_blocking(move || crate::open(&inner.store, &request.request_id, &request.points))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    match response {
        Ok(r) => Ok(axum::response::IntoResponse::into_response(Json(r))),
        Err(e @ crate::Error::UnknownRequest(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ crate::Error::PointOutOfRange { .. }) => Err(ApiError::BadRequest(e.to_string())),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

/// The miner's routes.
pub fn app(state: MinerState) -> Router {
    let limit = state.inner.settings.max_body_bytes;
    Router::new()
        .route("/assay/v1/info", get(info))
        .route("/assay/v1/open", post(open))
        .route("/v1/chat/completions", post(completions::chat))
        .route("/v1/completions", post(completions::text))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

#[cfg(test)]
mod tests;
