//! The reference miner over HTTP: `GET /assay/v1/info`, `POST /v1/chat/completions`,
//! `POST /v1/completions` (streaming or not), `POST /assay/v1/open`, and the commit-reveal pair
//! `POST /assay/v1/consensus/commit` and `/reveal` (decision 0009).
//!
//! Every request except `info` must carry valid Epistula v2 headers signed for this miner's
//! hotkey by a signer it serves ([`crate::Signers`]: missing, stale, replayed, forged or a
//! stranger: 401). Past `capacity` concurrent requests, or a signer's share of them, the miner
//! answers 429. A body must arrive within its time (408) and size (413); an opening asks for at
//! most `max_open_points`; a round's prompt at most `max_round_prompt_tokens`. Evidence (token
//! ids and the commitment) and a round's commitment and reveal are signed by the miner's hotkey. [`serve`] bounds connections and the time to send headers.

mod completions;
mod error;
mod metrics;
mod quota;
mod rounds;
mod serve;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assay_keys::Hotkey;
use assay_protocol::epistula::{EpistulaError, Signed, Verifier};
use assay_protocol::wire::{COMMIT_ROUTE, Info, OpenRequest, REVEAL_ROUTE};
/// What `info` declares per task, and its bounds (a CLI builds [`MinerSettings::tasks`] with them).
pub use assay_protocol::wire::{MAX_DECLARED_TASKS, MAX_TASK_NAME_BYTES, TaskCapacity};
use assay_reference_engine::{ChatTokenizer, Engine};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::Semaphore;

pub use error::ApiError;
pub use serve::serve;

use crate::{Rounds, Signers, Store};

/// What a miner serves with.
pub struct MinerSettings {
    /// The model name it answers to (and reports in `info`).
    pub model_name: String,
    /// Concurrent requests before 429.
    pub capacity: u32,
    /// Capacity declared per task in `info` (`assay miner --task NAME=CAPACITY`); none: the
    /// miner declares only `capacity`, and validators count it for every task of its model.
    pub tasks: Vec<TaskCapacity>,
    /// How long commitments can be opened.
    pub open_window: Duration,
    /// Bytes of hidden states kept for openings, at most.
    pub store_bytes: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Added after every generated token: a slower machine, for `assay devnet`'s miners.
    pub token_delay: Duration,
    /// A connection has this long to send a request's headers (also how long an idle
    /// keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// A request has this long to send its body once its headers are in (408 after).
    pub body_read_timeout: Duration,
    /// Connections served at once; past it the miner accepts no more until one closes.
    pub max_connections: usize,
    /// Who is served; `None` serves any signer (tests only: `assay miner` always names them).
    pub signers: Option<Arc<Signers>>,
    /// Concurrent requests one signer may hold (`None`: up to `capacity`).
    pub signer_capacity: Option<u32>,
    /// Bytes of hidden states one signer's commitments may keep (`None`: up to `store_bytes`;
    /// either way, past `store_bytes` the largest holder's oldest go first).
    pub signer_store_bytes: Option<usize>,
    /// Points one opening may ask for.
    pub max_open_points: usize,
    /// Commit-reveal rounds kept per signer (its most recent ones); 64 times this in all.
    pub round_memory: usize,
    /// Token ids a round's prompt may have.
    pub max_round_prompt_tokens: usize,
    /// Serves completions to anyone, unsigned, as a plain OpenAI-compatible server (no
    /// evidence unless a request carries the `assay` extension): what a validator's baseline
    /// server is (`assay devnet --scorer cacheon`), never a miner.
    pub unsigned: bool,
}

/// Signers' rounds the miner keeps in all, per `round_memory`.
const ROUND_SIGNERS: usize = 64;

impl Default for MinerSettings {
    fn default() -> Self {
        Self {
            model_name: "assay-tiny".into(),
            capacity: 4,
            tasks: Vec::new(),
            open_window: Duration::from_secs(120),
            store_bytes: 1 << 30,
            max_body_bytes: 1 << 20,
            token_delay: Duration::ZERO,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 256,
            signers: None,
            signer_capacity: None,
            signer_store_bytes: None,
            max_open_points: 256,
            round_memory: 16,
            max_round_prompt_tokens: 8192,
            unsigned: false,
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
    rounds: Rounds,
    slots: Arc<Semaphore>,
    signer_slots: Arc<quota::SignerSlots>,
    settings: MinerSettings,
    metrics: metrics::MinerMetrics,
}

impl MinerState {
    pub fn new(engine: Engine, tokenizer: ChatTokenizer, hotkey: Hotkey, settings: MinerSettings) -> Self {
        let mut verifier = Verifier::new(hotkey.ss58(), assay_protocol::epistula::DEFAULT_WINDOW_MS);
        if let Some(signers) = &settings.signers {
            verifier = verifier.allow(signers.clone());
        }
        let signer_store = settings.signer_store_bytes.unwrap_or(settings.store_bytes);
        let signer_capacity = settings.signer_capacity.unwrap_or(settings.capacity);
        Self {
            inner: Arc::new(Inner {
                store: Store::with_signer_bound(settings.store_bytes, signer_store),
                rounds: Rounds::new(settings.round_memory, settings.round_memory.saturating_mul(ROUND_SIGNERS)),
                slots: Arc::new(Semaphore::new(settings.capacity as usize)),
                signer_slots: Arc::new(quota::SignerSlots::new(signer_capacity as usize)),
                engine,
                tokenizer,
                hotkey,
                verifier,
                settings,
                metrics: metrics::MinerMetrics::default(),
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
            tasks: self.inner.settings.tasks.clone(),
            routes: vec![COMMIT_ROUTE.to_string(), REVEAL_ROUTE.to_string()],
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
    state.inner.verifier.verify(&signed, body, now_ms()).map_err(|e| match e {
        EpistulaError::Busy => ApiError::Busy(e.to_string()),
        other => ApiError::Unauthorized(other.to_string()),
    })?;
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
    let signer = authenticate(&state, &headers, &body)?;
    let request: OpenRequest = parse(&body)?;
    let max = state.inner.settings.max_open_points;
    if request.points.len() > max {
        return Err(ApiError::BadRequest(format!(
            "{} points asked for; an opening has at most {max}",
            request.points.len()
        )));
    }
    let inner = state.inner.clone();
    let response =
        tokio::task::spawn_blocking(move || crate::open(&inner.store, &signer, &request.request_id, &request.points))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    match response {
        Ok(r) => {
            state.inner.metrics.opened();
            Ok(axum::response::IntoResponse::into_response(Json(r)))
        }
        Err(e @ crate::Error::UnknownRequest(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ crate::Error::PointOutOfRange { .. }) => Err(ApiError::BadRequest(e.to_string())),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

/// Reads the body within its time and size before any handler runs: a client that stops
/// sending gets 408 instead of holding the request open.
async fn read_body_within(State(state): State<MinerState>, request: Request, next: Next) -> Response {
    let settings = &state.inner.settings;
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, settings.max_body_bytes);
    match tokio::time::timeout(settings.body_read_timeout, read).await {
        Err(_) => ApiError::RequestTimeout(settings.body_read_timeout).into_response(),
        Ok(Err(_)) => ApiError::TooLarge(settings.max_body_bytes).into_response(),
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

/// The miner's routes.
pub fn app(state: MinerState) -> Router {
    let limit = state.inner.settings.max_body_bytes;
    Router::new()
        .route("/assay/v1/info", get(info))
        .route("/assay/v1/open", post(open))
        .route(COMMIT_ROUTE, post(rounds::commit))
        .route(REVEAL_ROUTE, post(rounds::reveal))
        .route("/v1/chat/completions", post(completions::chat))
        .route("/v1/completions", post(completions::text))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), read_body_within))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count_requests))
        .with_state(state)
}

#[cfg(test)]
mod tests;
