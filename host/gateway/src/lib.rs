//! The validator's gateway: an OpenAI-compatible API for users in front of the subnet's miners.
//!
//! Owns: users' connections and their limits (a cap, header and body timeouts), API keys and
//! rate limits, the one schema of what miners are sent (`request`) and OpenAI-style errors, a bounded queue for busy miners
//! (fair between keys), choosing a miner (health, load, speed, score, good standing, circuit
//! breaker), relaying the answer chunk by chunk (cut when its user stops reading), recording
//! every exchange in the ledger (a bounded backlog that sheds load), and the validator's own
//! synthetic traffic. What a user or the validator itself did is never charged to a miner.
//! Must not touch: verification, scoring or the chain itself. It reads the node's chain view
//! for the miners' addresses and the epoch, and hands records to the ledger; data flows on from
//! there.
//!
//! Organic and synthetic requests pass the same schema, take the same path ([`proxy::forward`])
//! and carry the same `assay` extension, so the wire alone does not tell them apart. The
//! competition's requests (`competition`, cacheon) are synthetic requests sent one at a time to
//! one miner, beside the same prompts sent to the validator's baseline server; they are
//! recognisable (their fixed instruction, word list and shape), the price of one set of prompts
//! every server is measured on: a miner may tell them apart and serve them first.

mod admission;
mod competition;
mod counters;
mod dataset;
mod error;
mod keys;
mod metrics;
mod proxy;
mod recorder;
mod relay;
pub mod request;
mod routing;
mod server;
mod shapes;
mod standing;
mod synthetic;
pub mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use assay_chain::{ChainView, Epochs};
use assay_keys::Hotkey;
use assay_ledger::Ledger;
use assay_miner_client::MinerClient;
use axum::Router;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use competition::{Baseline, BaselineAnswer, Competition, ContestError, ContestRequest, Turn};
pub use counters::Counters;
pub use dataset::{Limits as DatasetLimits, Publication};
pub use error::ApiError;
pub use keys::ApiKey;
pub use routing::SlotState;
pub use tasks::{Task, TaskRoute, check_tasks, task_weights};

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
    /// The served model's context in tokens (vLLM's `max_model_len`): a request whose prompt
    /// (counted as one token per byte) and `max_tokens` may not fit it is refused, since an
    /// honest miner would refuse it (docs/requests.md).
    #[serde(default = "default_context_tokens")]
    pub context_tokens: u64,
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
    /// How the validator's own traffic is paced: `rate` (`synthetic_per_minute`, Poisson) or
    /// `capacity` (each `synthetic_period_s`, a fraction of each miner's declared capacity per
    /// task, as nineteen's validators do).
    #[serde(default)]
    pub synthetic_mode: SyntheticMode,
    /// `capacity` mode: the scoring period a plan covers.
    #[serde(default = "default_synthetic_period")]
    pub synthetic_period_s: f64,
    /// `capacity` mode: requests per unit of declared capacity (times the drawn fraction) per
    /// period.
    #[serde(default = "default_synthetic_per_capacity")]
    pub synthetic_per_capacity: f64,
    /// The most requests one miner is given at once, whatever capacity its `info` declares.
    #[serde(default = "default_max_miner_capacity")]
    pub max_miner_capacity: u32,
    /// A streamed answer the user takes nothing of for this long is cut: the miner's request is
    /// cancelled and recorded as the user's (`cancelled`), never as the miner's.
    #[serde(default = "default_stream_idle_timeout")]
    pub stream_idle_timeout_ms: u64,
    /// The kernel's send buffer for each user's connection (Linux doubles it). Bounded rather
    /// than autotuned (up to `tcp_wmem`, 4 MiB): a user who stops reading pins this much
    /// kernel memory at most, and is noticed once it is full.
    #[serde(default = "default_user_send_buffer")]
    pub user_send_buffer_bytes: usize,
    /// Users' connections open at once; past it a connection gets a 503 and is closed. Keep the
    /// process's file limit (`ulimit -n`) well above it: miners need sockets too.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A request's headers must arrive within this; an idle keep-alive connection is closed
    /// after it.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_ms: u64,
    /// A request's body must arrive within this (408 otherwise).
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_ms: u64,
    /// How long a user's request waits for a busy miner's slot before a 503 (`Retry-After`).
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_ms: u64,
    /// Users' requests waiting at once, in all and per API key (past them: 503 at once).
    #[serde(default = "default_queue_max")]
    pub queue_max: usize,
    #[serde(default = "default_queue_per_key")]
    pub queue_per_key: usize,
    /// Records waiting for the ledger, at most, in number and in bytes (bodies and answers):
    /// past either, new requests are shed (503 to users) instead of the backlog growing, as it
    /// would on a full disk.
    #[serde(default = "default_recorder_queue_max")]
    pub recorder_queue_max: usize,
    #[serde(default = "default_recorder_queue_bytes")]
    pub recorder_queue_bytes: usize,
    /// The subnet's tasks: the node sets them from the config's top-level `[[tasks]]` (empty:
    /// `model` only, tasks `chat` and `completion` by route).
    #[serde(skip)]
    pub tasks: Vec<Task>,
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
            context_tokens: default_context_tokens(),
            miner_timeout_s: default_miner_timeout(),
            max_attempts: default_attempts(),
            health_interval_ms: default_health_interval(),
            synthetic_per_minute: 0.0,
            synthetic_mode: SyntheticMode::Rate,
            synthetic_period_s: default_synthetic_period(),
            synthetic_per_capacity: default_synthetic_per_capacity(),
            max_miner_capacity: default_max_miner_capacity(),
            stream_idle_timeout_ms: default_stream_idle_timeout(),
            user_send_buffer_bytes: default_user_send_buffer(),
            max_connections: default_max_connections(),
            header_read_timeout_ms: default_header_read_timeout(),
            body_read_timeout_ms: default_body_read_timeout(),
            queue_timeout_ms: default_queue_timeout(),
            queue_max: default_queue_max(),
            queue_per_key: default_queue_per_key(),
            recorder_queue_max: default_recorder_queue_max(),
            recorder_queue_bytes: default_recorder_queue_bytes(),
            tasks: Vec::new(),
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
        if !(self.synthetic_period_s.is_finite() && (1.0..=MAX_SECONDS).contains(&self.synthetic_period_s)) {
            let reason = format!("{} must be from 1 to {MAX_SECONDS} s", self.synthetic_period_s);
            return Err(("synthetic_period_s".into(), reason));
        }
        if !(self.synthetic_per_capacity.is_finite() && (0.0..=10_000.0).contains(&self.synthetic_per_capacity)) {
            let reason = format!("{} must be from 0 to 10000", self.synthetic_per_capacity);
            return Err(("synthetic_per_capacity".into(), reason));
        }
        if self.health_interval_ms > MAX_SECONDS as u64 * 1000 {
            let reason = format!("{} must be at most {} ms", self.health_interval_ms, MAX_SECONDS as u64 * 1000);
            return Err(("health_interval_ms".into(), reason));
        }
        if !(self.synthetic_per_minute.is_finite() && self.synthetic_per_minute >= 0.0) {
            return Err(("synthetic_per_minute".into(), format!("{} must be 0 or more", self.synthetic_per_minute)));
        }
        if self.context_tokens <= self.max_tokens {
            return Err((
                "context_tokens".into(),
                format!("{} must be larger than max_tokens ({})", self.context_tokens, self.max_tokens),
            ));
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
        if self.user_send_buffer_bytes < 4096 {
            return Err(("user_send_buffer_bytes".into(), "must be at least 4096".into()));
        }
        for (key, value) in [
            ("max_miner_capacity", u64::from(self.max_miner_capacity)),
            ("stream_idle_timeout_ms", self.stream_idle_timeout_ms),
            ("max_connections", self.max_connections as u64),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("queue_per_key", self.queue_per_key as u64),
            ("recorder_queue_max", self.recorder_queue_max as u64),
            ("recorder_queue_bytes", self.recorder_queue_bytes as u64),
        ] {
            if value == 0 {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        if self.queue_per_key > self.queue_max {
            return Err(("queue_per_key".into(), format!("must be at most queue_max ({})", self.queue_max)));
        }
        // Past what a clock holds they would panic where a deadline is computed.
        let most = MAX_SECONDS as u64 * 1000;
        for (key, value) in [
            ("stream_idle_timeout_ms", self.stream_idle_timeout_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("queue_timeout_ms", self.queue_timeout_ms),
        ] {
            if value > most {
                return Err((key.into(), format!("{value} must be at most {most} ms")));
            }
        }
        Ok(())
    }
}

impl Settings {
    /// What bounds the requests the gateway forwards.
    pub fn limits(&self) -> request::Limits<'_> {
        request::Limits {
            model: &self.model,
            tasks: &self.tasks,
            max_tokens: self.max_tokens,
            context_tokens: self.context_tokens,
        }
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
/// Qwen2.5-7B-Instruct's, as vLLM serves it by default.
fn default_context_tokens() -> u64 {
    32768
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
fn default_max_miner_capacity() -> u32 {
    128
}
fn default_stream_idle_timeout() -> u64 {
    10_000
}
fn default_user_send_buffer() -> usize {
    128 << 10
}
fn default_max_connections() -> usize {
    1024
}
fn default_header_read_timeout() -> u64 {
    10_000
}
fn default_body_read_timeout() -> u64 {
    30_000
}
fn default_queue_timeout() -> u64 {
    5_000
}
fn default_queue_max() -> usize {
    1024
}
fn default_queue_per_key() -> usize {
    256
}
fn default_recorder_queue_max() -> usize {
    16_384
}
fn default_recorder_queue_bytes() -> usize {
    256 << 20
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
    /// The node's publication, which `/v1/dataset/*` serves. None: no dataset routes.
    pub publication: Option<Publication>,
}

/// How the validator's own traffic is paced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyntheticMode {
    /// `synthetic_per_minute` requests a minute, spread over every miner.
    #[default]
    Rate,
    /// Each period, a drawn fraction (0.04, 0.08, 0.12 or 0.8) of each miner's declared
    /// capacity per task.
    Capacity,
}

fn default_synthetic_period() -> f64 {
    600.0
}
fn default_synthetic_per_capacity() -> f64 {
    10.0
}

/// What every request handler shares.
pub(crate) struct Shared {
    settings: Settings,
    keys: keys::Keys,
    pool: routing::Pool,
    /// Users' requests waiting for a slot.
    queue: admission::Queue,
    client: MinerClient,
    recorder: recorder::Recorder,
    /// Organic requests' shapes, which synthetic requests follow.
    shapes: shapes::Shapes,
    tally: Arc<counters::Tally>,
    /// Which miners users may be sent to.
    standing: standing::Standing,
    metrics: metrics::GatewayMetrics,
    /// Which task a request belongs to, and which tasks each model serves.
    tasks: tasks::TaskTable,
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
        let backlog = recorder::Limits { records: s.recorder_queue_max, bytes: s.recorder_queue_bytes };
        let metrics = metrics::GatewayMetrics::default();
        let (recorder, recorder_thread) = recorder::Recorder::start(
            parts.ledger.clone(),
            parts.view.clone(),
            parts.epochs,
            parts.hotkey.ss58(),
            (backlog, metrics.clone()),
        )
        .map_err(Error::Recorder)?;
        let shared = Arc::new(Shared {
            settings: parts.settings.clone(),
            keys,
            pool: routing::Pool::new(s.max_miner_capacity),
            queue: admission::Queue::new(admission::Limits { max: s.queue_max, per_key: s.queue_per_key }),
            client,
            recorder,
            shapes: shapes::Shapes::default(),
            tally: Arc::default(),
            standing: standing::Standing::new(parts.ledger.clone(), parts.view.clone(), parts.epochs),
            metrics,
            tasks: tasks::TaskTable::new(&s.model, &s.tasks),
        });
        // Know the miners, and which of them users may be sent to, before the first user arrives.
        proxy::refresh(&shared, &parts.view).await;
        shared.standing.refresh(&shared.pool).await;

        let (stop, stopped) = watch::channel(false);
        let mut background =
            vec![tokio::spawn(proxy::health_loop(shared.clone(), parts.view.clone(), stopped.clone()))];
        background.push(tokio::spawn(standing::run(shared.clone(), stopped.clone())));
        match shared.settings.synthetic_mode {
            SyntheticMode::Rate if shared.settings.synthetic_per_minute > 0.0 => {
                background.push(tokio::spawn(synthetic::run(shared.clone(), stopped.clone())));
            }
            SyntheticMode::Rate => {}
            SyntheticMode::Capacity => {
                background.push(tokio::spawn(synthetic::run_by_capacity(shared.clone(), stopped.clone())));
            }
        }
        let mut routes = app(shared.clone());
        if let Some(publication) = parts.publication {
            let dataset = dataset::Dataset::new(publication);
            background.push(tokio::spawn(dataset::run(dataset.clone(), stopped.clone())));
            routes = routes.merge(dataset::routes(dataset));
        }
        let limits = server::Limits {
            max_connections: s.max_connections,
            header_read_timeout: Duration::from_millis(s.header_read_timeout_ms),
            send_buffer: s.user_send_buffer_bytes,
        };
        let server = tokio::spawn(server::serve(listener, routes, limits, shared.tally.clone(), stopped));
        info!(address = %address, model = %shared.settings.model, miners = shared.pool.slots().len(), "gateway listening");
        Ok(Gateway { shared, address, stop, server, background, recorder: recorder_thread })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The competition's side of the gateway (cacheon's traffic, driven by the node).
    pub fn competition(&self) -> Result<Competition, Error> {
        let http = reqwest::Client::builder()
            // A redirect would send the prompt elsewhere and time whatever answers there.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Setting(format!("the competition's HTTP client: {e}")))?;
        Ok(Competition { shared: self.shared.clone(), http })
    }

    /// The miners as the router sees them now.
    pub fn miners(&self) -> Vec<SlotState> {
        self.shared.pool.slots().iter().map(|s| s.describe()).collect()
    }

    /// The gateway's counters now.
    pub fn counters(&self) -> Counters {
        self.shared.tally.snapshot(self.shared.recorder.backlog())
    }

    /// A reader of [`Gateway::counters`] that can outlive this handle: what a metrics scrape
    /// calls to read them live.
    pub fn counters_reader(&self) -> impl Fn() -> Counters + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.tally.snapshot(shared.recorder.backlog())
    }

    /// Adds the gateway's families (requests, attempts, latency, in-flight, circuits) to the
    /// registry a metrics server reads.
    pub fn register_metrics(&self, registry: &mut assay_metrics::prometheus_client::registry::Registry) {
        self.shared.metrics.register(registry, self.shared.clone());
    }

    /// The families [`Gateway::register_metrics`] adds that fill with traffic, each with one
    /// example series: for tools and tests that check names against what is served.
    pub fn describe_metrics(registry: &mut assay_metrics::prometheus_client::registry::Registry) {
        metrics::describe(registry);
    }

    /// Lets the weights (uid, weight) that `epoch` closed with steer traffic: a miner's score
    /// factor, and whether one that failed verification in `epoch` was zeroed for it (then it
    /// serves no user during the next epoch).
    pub fn set_scores(&self, epoch: u64, weights: &[(u16, f64)]) {
        self.shared.pool.set_scores(weights);
        self.shared.standing.set_weights(epoch, weights);
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
