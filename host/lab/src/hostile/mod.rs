//! Hostile miners and strangers, for the soak (`scripts/soak.sh`) and `assay devnet --hostile`:
//! one HTTP server per [`Attack`] of issue #10 that speaks the miner protocol well enough to be
//! routed to and challenged, and a [`stranger`] that attacks the reference miners themselves.
//!
//! Each attack costs its sender little: big bodies are made as they are read from one static
//! buffer ([`bodies`]), nothing is computed (commitments are to hidden states never computed),
//! and every server counts what it was asked and what it sent ([`Counters`]), so a soak can say
//! which attacks still reach the validator.

mod answers;
mod bodies;
mod fleet;
pub mod stranger;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use assay_keys::Hotkey;
use assay_protocol::epistula::HEADER_SIGNED_BY;
use assay_protocol::wire::Info;
use assay_reference_engine::ChatTokenizer;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use answers::{Asked, Forger};
pub use fleet::Fleet;

/// One way a miner attacks the validator (issue #10's item in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attack {
    /// Signs 100,000 completion tokens whatever `max_tokens` asked (7).
    LongEvidence,
    /// 200 MB without an SSE separator, or a 200 MB whole body (8).
    Flood,
    /// Well-formed chunks that never end (8).
    Endless,
    /// A well-formed answer, one byte a second (8).
    Trickle,
    /// A 200 MB `/assay/v1/info` (8).
    HugeInfo,
    /// A 200 MB `/assay/v1/open` (8).
    HugeOpen,
    /// One space at once (a fake time to first token), then text other than the signed tokens (9).
    UntiedText,
    /// 307 to another address, where it answers (11).
    Redirect,
    /// Declares a capacity of 2^32 - 1 and never answers (13).
    Hoard,
}

impl Attack {
    pub const ALL: [Attack; 9] = [
        Attack::LongEvidence,
        Attack::Flood,
        Attack::Endless,
        Attack::Trickle,
        Attack::HugeInfo,
        Attack::HugeOpen,
        Attack::UntiedText,
        Attack::Redirect,
        Attack::Hoard,
    ];

    /// A short name for tables and logs.
    pub fn name(self) -> &'static str {
        match self {
            Attack::LongEvidence => "long-evidence",
            Attack::Flood => "flood",
            Attack::Endless => "endless",
            Attack::Trickle => "trickle",
            Attack::HugeInfo => "huge-info",
            Attack::HugeOpen => "huge-open",
            Attack::UntiedText => "untied-text",
            Attack::Redirect => "redirect",
            Attack::Hoard => "hoard",
        }
    }
}

/// How hard the attacks push; the defaults are the figures.
#[derive(Debug, Clone)]
pub struct HostileSettings {
    /// The model the miners claim to serve (the gateway routes only to miners that name its model).
    pub model: String,
    /// The model's transformer layers (hidden states per position are one more).
    pub layers: u32,
    pub hidden_size: u32,
    /// Bytes of a flood (a stream without separator, a whole body, `info`, `open`).
    pub flood_bytes: u64,
    /// Completion tokens signed by [`Attack::LongEvidence`].
    pub long_evidence_tokens: usize,
    /// Between two bytes of [`Attack::Trickle`].
    pub trickle_every: Duration,
    /// Between two chunks of [`Attack::Endless`].
    pub endless_every: Duration,
    /// Between the fake first token and the rest, for [`Attack::UntiedText`].
    pub untied_delay: Duration,
}

impl HostileSettings {
    pub fn new(model: &str, layers: u32, hidden_size: u32) -> Self {
        Self {
            model: model.into(),
            layers,
            hidden_size,
            flood_bytes: 200 << 20,
            long_evidence_tokens: 100_000,
            trickle_every: Duration::from_secs(1),
            endless_every: Duration::from_millis(10),
            untied_delay: Duration::from_millis(500),
        }
    }
}

/// What a hostile miner was asked and what it sent.
#[derive(Debug, Default)]
pub struct Counters {
    pub info: AtomicU64,
    pub completions: AtomicU64,
    pub opens: AtomicU64,
    /// Bodies that followed a redirect to the attacker's other address.
    pub redirected: AtomicU64,
    /// Bytes of attack bodies handed to the network (floods, trickles, endless streams).
    pub bytes_sent: AtomicU64,
}

impl Counters {
    /// `info=… completions=… opens=… redirected=… sent=… MB`, for the soak's last table.
    pub fn describe(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "info={} completions={} opens={} redirected={} sent={:.1} MB",
            get(&self.info),
            get(&self.completions),
            get(&self.opens),
            get(&self.redirected),
            get(&self.bytes_sent) as f64 / 1e6
        )
    }
}

/// A running hostile miner.
#[derive(Debug)]
pub struct HostileMiner {
    pub attack: Attack,
    pub address: SocketAddr,
    /// Its hotkey (SS58), for the metagraph.
    pub hotkey: String,
    pub counters: Arc<Counters>,
}

struct Shared {
    attack: Attack,
    settings: HostileSettings,
    forger: Forger,
    counters: Arc<Counters>,
    /// `http://address`, where a redirect points (under `/elsewhere`).
    base_url: String,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Starts `attack` on 127.0.0.1 (a free port) on the current runtime, signing as `hotkey`; with
/// `tokenizer` its token ids look like the model's.
pub async fn start(
    attack: Attack,
    hotkey: Hotkey,
    settings: HostileSettings,
    tokenizer: Option<Arc<ChatTokenizer>>,
) -> anyhow::Result<HostileMiner> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a hostile miner's port")?;
    let address = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    let ss58 = hotkey.ss58();
    let forger = Forger { hotkey, model: settings.model.clone(), states: u64::from(settings.layers) + 1, tokenizer };
    let shared = Arc::new(Shared {
        attack,
        settings,
        forger,
        counters: counters.clone(),
        base_url: format!("http://{address}"),
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app(shared)).await {
            tracing::warn!(attack = attack.name(), error = %e, "a hostile miner stopped");
        }
    });
    Ok(HostileMiner { attack, address, hotkey: ss58, counters })
}

fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/assay/v1/info", get(info))
        .route("/assay/v1/open", post(open))
        .route("/v1/chat/completions", post(completion))
        .route("/v1/completions", post(completion))
        .route("/elsewhere/v1/chat/completions", post(elsewhere))
        .route("/elsewhere/v1/completions", post(elsewhere))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(shared)
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

fn typed(content_type: &'static str, body: Body) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

async fn info(State(shared): State<Arc<Shared>>) -> Response {
    shared.counters.info.fetch_add(1, Ordering::Relaxed);
    let s = &shared.settings;
    let capacity = if shared.attack == Attack::Hoard { u32::MAX } else { 4 };
    let info = Info {
        protocol_version: assay_protocol::PROTOCOL_VERSION,
        model: s.model.clone(),
        layers: s.layers,
        hidden_size: s.hidden_size,
        capacity,
        open_window_s: 120,
        tasks: Vec::new(),
        routes: Vec::new(),
    };
    if shared.attack != Attack::HugeInfo {
        return axum::Json(info).into_response();
    }
    // A valid answer, once 200 MB of padding have been read.
    let text = serde_json::to_string(&info).unwrap_or_default();
    let prefix = format!("{},\"pad\":\"", text.trim_end_matches('}'));
    typed("application/json", bodies::flood(prefix, s.flood_bytes, "\"}", shared.counters.clone()))
}

async fn open(State(shared): State<Arc<Shared>>) -> Response {
    shared.counters.opens.fetch_add(1, Ordering::Relaxed);
    if shared.attack != Attack::HugeOpen {
        return error(StatusCode::NOT_FOUND, "unknown request id");
    }
    let prefix = "{\"request_id\":\"\",\"points\":[],\"pad\":\"".to_string();
    typed("application/json", bodies::flood(prefix, shared.settings.flood_bytes, "\"}", shared.counters.clone()))
}

/// Whom the request was signed by: the validator the evidence is signed for.
fn signer(headers: &HeaderMap) -> String {
    headers.get(HEADER_SIGNED_BY).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn completion(State(shared): State<Arc<Shared>>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    shared.counters.completions.fetch_add(1, Ordering::Relaxed);
    let chat = uri.path().ends_with("/chat/completions");
    let Some(asked) = shared.forger.asked(&body, chat) else {
        return error(StatusCode::BAD_REQUEST, "invalid JSON body");
    };
    let validator = signer(&headers);
    match shared.attack {
        Attack::LongEvidence => long_evidence(&shared, &asked, &validator),
        Attack::Flood => flood(&shared, &asked),
        Attack::Endless => endless(&shared, &asked),
        Attack::Trickle => trickle(&shared, &asked, &validator),
        Attack::UntiedText => untied(&shared, &asked, &validator),
        Attack::Redirect => {
            let location = format!("{}/elsewhere{}", shared.base_url, uri.path());
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response()
        }
        Attack::Hoard => std::future::pending().await,
        Attack::HugeInfo | Attack::HugeOpen => plausible(&shared, &asked, &validator),
    }
}

/// Where [`Attack::Redirect`] sends the validator's signed body: it counts it and answers.
async fn elsewhere(State(shared): State<Arc<Shared>>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    shared.counters.redirected.fetch_add(1, Ordering::Relaxed);
    let chat = uri.path().ends_with("/chat/completions");
    match shared.forger.asked(&body, chat) {
        Some(asked) => plausible(&shared, &asked, &signer(&headers)),
        None => error(StatusCode::BAD_REQUEST, "invalid JSON body"),
    }
}

/// The claimed completion, with its evidence, at once.
fn answer(shared: &Shared, asked: &Asked, text: &str, completion_ids: Vec<u32>, validator: &str) -> String {
    let evidence = shared.forger.evidence(asked, completion_ids, validator);
    if asked.streaming {
        let pieces = answers::pieces(text, 8);
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        shared.forger.events(asked, &pieces, evidence)
    } else {
        shared.forger.whole(asked, text, evidence).to_string()
    }
}

fn respond(asked: &Asked, body: impl Into<Body>) -> Response {
    typed(if asked.streaming { "text/event-stream" } else { "application/json" }, body.into())
}

fn plausible(shared: &Shared, asked: &Asked, validator: &str) -> Response {
    let claim = shared.forger.claim(asked);
    respond(asked, answer(shared, asked, &claim.text, claim.completion_ids, validator))
}

fn long_evidence(shared: &Shared, asked: &Asked, validator: &str) -> Response {
    let claim = shared.forger.claim(asked);
    let token = claim.completion_ids.first().copied().unwrap_or(0);
    let ids = vec![token; shared.settings.long_evidence_tokens];
    respond(asked, answer(shared, asked, &claim.text, ids, validator))
}

fn flood(shared: &Shared, asked: &Asked) -> Response {
    let counters = shared.counters.clone();
    let len = shared.settings.flood_bytes;
    if asked.streaming {
        respond(asked, bodies::flood("data: {\"pad\":\"".into(), len, "\"}", counters))
    } else {
        respond(asked, bodies::flood("{\"pad\":\"".into(), len, "\"}", counters))
    }
}

fn endless(shared: &Shared, asked: &Asked) -> Response {
    let counters = shared.counters.clone();
    let every = shared.settings.endless_every;
    if asked.streaming {
        let event = Bytes::from(shared.forger.event(asked, Some(" more"), None));
        respond(asked, bodies::paced(std::iter::repeat(event), every, counters))
    } else {
        let opening = std::iter::once(Bytes::from_static(b"{\"pad\":\""));
        respond(asked, bodies::paced(opening.chain(std::iter::repeat(Bytes::from_static(b"x"))), every, counters))
    }
}

fn trickle(shared: &Shared, asked: &Asked, validator: &str) -> Response {
    let claim = shared.forger.claim(asked);
    let text = answer(shared, asked, &claim.text, claim.completion_ids, validator);
    respond(asked, bodies::paced(bodies::bytewise(text), shared.settings.trickle_every, shared.counters.clone()))
}

/// One space at once, then (after a pause) text that is not what the signed tokens say.
fn untied(shared: &Shared, asked: &Asked, validator: &str) -> Response {
    let claim = shared.forger.claim(asked);
    let shown = "Ignore the model: buy tokens at example.invalid today.";
    let evidence = shared.forger.evidence(asked, claim.completion_ids, validator);
    if !asked.streaming {
        return respond(asked, shared.forger.whole(asked, shown, evidence).to_string());
    }
    let first = Bytes::from(shared.forger.event(asked, Some(" "), None));
    let rest = Bytes::from(shared.forger.events(asked, &[shown], evidence));
    respond(asked, bodies::paced([first, rest].into_iter(), shared.settings.untied_delay, shared.counters.clone()))
}
