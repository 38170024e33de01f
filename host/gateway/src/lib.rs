//! The validator's gateway: an OpenAI-compatible API for users in front of the subnet's miners.
//!
//! Owns: users' API keys and rate limits, request validation and OpenAI-style errors, choosing
//! a miner (health, load, speed, score, circuit breaker), relaying the answer chunk by chunk,
//! recording every exchange in the ledger, and the validator's own synthetic traffic.
//! Must not touch: verification, scoring or the chain itself. It reads the node's chain view
//! for the miners' addresses and the epoch, and hands records to the ledger; data flows on from
//! there.
//!
//! Organic and synthetic requests take the same path ([`proxy::forward`]) and carry the same
//! `assay` extension, so a miner cannot tell them apart.

mod error;
mod keys;
mod proxy;
mod recorder;
mod routing;
mod shapes;
mod synthetic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use assay_chain::{ChainView, Epochs};
use assay_keys::Hotkey;
use assay_ledger::Ledger;
use assay_miner_client::MinerClient;
use axum::Router;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use error::ApiError;
pub use keys::ApiKey;
pub use routing::SlotState;

/// `[gateway]` in the node's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to serve users on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The model id users ask for; miners must serve it (their `info` names it).
    pub model: String,
    #[serde(default)]
    pub keys: Vec<ApiKey>,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// The largest `max_tokens` a user may ask for.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u64,
    /// A miner has this long to finish a completion.
    #[serde(default = "default_miner_timeout")]
    pub miner_timeout_s: f64,
    /// Miners tried for one request before giving up (retries happen only before any content
    /// reached the user).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// How often every miner is probed (with the miners of the node's current chain view).
    #[serde(default = "default_health_interval")]
    pub health_interval_ms: u64,
    /// The validator's own requests per minute (0: none).
    #[serde(default)]
    pub synthetic_per_minute: f64,
}

impl Settings {
    /// Settings for serving `model` on `listen`, everything else at its default.
    pub fn new(listen: &str, model: &str) -> Self {
        Self {
            listen: listen.into(),
            model: model.into(),
            keys: Vec::new(),
            max_body_bytes: default_max_body(),
            max_tokens: default_max_tokens(),
            miner_timeout_s: default_miner_timeout(),
            max_attempts: default_attempts(),
            health_interval_ms: default_health_interval(),
            synthetic_per_minute: 0.0,
        }
    }

    /// What serde cannot check: `Err((key, reason))` for the first bad value.
    pub fn check(&self) -> Result<(), (String, String)> {
        if !(self.miner_timeout_s.is_finite() && self.miner_timeout_s > 0.0) {
            return Err((
                "miner_timeout_s".into(),
                format!("{} must be a positive, finite number of seconds", self.miner_timeout_s),
            ));
        }
        if self.miner_timeout_s > MAX_SECONDS {
            return Err((
                "miner_timeout_s".into(),
                format!("{} must be at most {MAX_SECONDS} s", self.miner_timeout_s),
            ));
        }
        if self.health_interval_ms > MAX_SECONDS as u64 * 1000 {
            let reason = format!("{} must be at most {} ms", self.health_interval_ms, MAX_SECONDS as u64 * 1000);
            return Err(("health_interval_ms".into(), reason));
        }
        if !(self.synthetic_per_minute.is_finite() && self.synthetic_per_minute >= 0.0) {
            return Err(("synthetic_per_minute".into(), format!("{} must be 0 or more", self.synthetic_per_minute)));
        }
        if self.synthetic_per_minute > 0.0 && self.synthetic_per_minute < MIN_SYNTHETIC_PER_MINUTE {
            let reason = format!("{} must be 0 or at least {MIN_SYNTHETIC_PER_MINUTE}", self.synthetic_per_minute);
            return Err(("synthetic_per_minute".into(), reason));
        }
        if self.max_attempts == 0 {
            return Err(("max_attempts".into(), "must be at least 1".into()));
        }
        if self.health_interval_ms == 0 {
            return Err(("health_interval_ms".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The longest duration a setting may name: a day (longer ones are mistakes, and past what a
/// clock holds they would panic where they become a `Duration`).
const MAX_SECONDS: f64 = 86_400.0;
/// The lowest synthetic rate (one request in about 17 hours).
const MIN_SYNTHETIC_PER_MINUTE: f64 = 1e-3;

fn default_listen() -> String {
    "127.0.0.1:8000".into()
}
fn default_max_body() -> usize {
    1 << 20
}
fn default_max_tokens() -> u64 {
    4096
}
fn default_miner_timeout() -> f64 {
    120.0
}
fn default_attempts() -> u32 {
    3
}
fn default_health_interval() -> u64 {
    2000
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding the gateway to {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("gateway setting {0}")]
    Setting(String),
    #[error("starting the recorder thread: {0}")]
    Recorder(std::io::Error),
}

/// What the gateway is started with.
pub struct Parts {
    pub settings: Settings,
    /// The validator's hotkey: it signs requests to miners.
    pub hotkey: Hotkey,
    /// The chain as the node keeps it: the head and the metagraph (its miners are the axons).
    pub view: ChainView,
    pub epochs: Epochs,
    pub ledger: Arc<dyn Ledger>,
    /// How miners are talked to (`[miners]`).
    pub miners: assay_miner_client::Settings,
    /// The model's tokenizer: relayed text must be the signed tokens' text. None: unchecked.
    pub detokenizer: Option<assay_miner_client::SharedDetokenizer>,
}

/// What every request handler shares.
pub(crate) struct Shared {
    settings: Settings,
    keys: keys::Keys,
    pool: routing::Pool,
    client: MinerClient,
    recorder: recorder::Recorder,
    /// Organic requests' shapes, which synthetic requests follow.
    shapes: shapes::Shapes,
}

/// A running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    address: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    recorder: recorder::RecorderThread,
}

impl Gateway {
    /// Binds the listener, reads the metagraph, and starts serving, probing miners and (when
    /// configured) sending synthetic traffic.
    pub async fn start(parts: Parts) -> Result<Gateway, Error> {
        let s = &parts.settings;
        s.check().map_err(|(key, reason)| Error::Setting(format!("{key}: {reason}")))?;
        let listener = tokio::net::TcpListener::bind(&s.listen)
            .await
            .map_err(|source| Error::Bind { address: s.listen.clone(), source })?;
        let address = listener.local_addr().map_err(|source| Error::Bind { address: s.listen.clone(), source })?;
        let keys = keys::Keys::new(&s.keys);
        if keys.is_empty() {
            warn!("the gateway has no API keys: users are refused, only synthetic traffic flows");
        }
        let timeout = Duration::try_from_secs_f64(s.miner_timeout_s)
            .map_err(|e| Error::Setting(format!("miner_timeout_s: {e}")))?;
        let mut client = MinerClient::new(parts.hotkey.clone(), timeout, parts.miners.clone())
            .map_err(|e| Error::Setting(e.to_string()))?;
        match parts.detokenizer.clone() {
            Some(detokenizer) => client = client.with_detokenizer(detokenizer),
            None => warn!("the gateway has no tokenizer: relayed text is not checked against the signed tokens"),
        }
        let (recorder, recorder_thread) =
            recorder::Recorder::start(parts.ledger.clone(), parts.view.clone(), parts.epochs, parts.hotkey.ss58())
                .map_err(Error::Recorder)?;
        let shared = Arc::new(Shared {
            settings: parts.settings.clone(),
            keys,
            pool: routing::Pool::default(),
            client,
            recorder,
            shapes: shapes::Shapes::default(),
        });
        // Know the miners before the first user arrives.
        proxy::refresh(&shared, &parts.view).await;

        let (stop, stopped) = watch::channel(false);
        let mut background =
            vec![tokio::spawn(proxy::health_loop(shared.clone(), parts.view.clone(), stopped.clone()))];
        if shared.settings.synthetic_per_minute > 0.0 {
            background.push(tokio::spawn(synthetic::run(shared.clone(), stopped.clone())));
        }
        let app = app(shared.clone());
        let mut until = stopped;
        let server = tokio::spawn(async move {
            let shutdown = async move { until_stopped(&mut until).await };
            // Chunks go out as they come: no Nagle delay on streamed tokens.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "the gateway stopped serving");
            }
        });
        info!(address = %address, model = %shared.settings.model, miners = shared.pool.slots().len(), "gateway listening");
        Ok(Gateway { shared, address, stop, server, background, recorder: recorder_thread })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The miners as the router sees them now.
    pub fn miners(&self) -> Vec<SlotState> {
        self.shared.pool.slots().iter().map(|s| s.describe()).collect()
    }

    /// Lets the last epoch's weights (uid, weight) steer traffic.
    pub fn set_scores(&self, weights: &[(u16, f64)]) {
        self.shared.pool.set_scores(weights);
    }

    /// Stops accepting users, lets requests in flight finish (up to `grace`), stops the
    /// background work and writes every pending record before returning.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.stop.send(true);
        for mut task in std::iter::once(self.server).chain(self.background) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                warn!("requests still in flight after the grace period; stopping them");
                task.abort();
            }
        }
        self.shared.recorder.stop();
        let recorder = self.recorder;
        let _ = tokio::task::spawn_blocking(move || recorder.join()).await;
    }
}

/// Resolves once the gateway is told to stop.
pub(crate) async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    // Dropping the guard here keeps callers' futures `Send`.
    let _ = stopped.wait_for(|stop| *stop).await.map(|_| ());
}

/// The user-facing routes.
fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(proxy::chat))
        .route("/v1/completions", post(proxy::completions))
        .route("/v1/models", get(proxy::models))
        .route("/health", get(proxy::health))
        .fallback(proxy::unknown_route)
        // The body is limited in the handlers, which answer 413 in the OpenAI format.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(shared)
}
