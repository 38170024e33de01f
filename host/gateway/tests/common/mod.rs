//! Stub miners behind a gateway on loopback, shared by the gateway's hostile-input tests. A stub
//! answers at once, signs its evidence like a miner, and streams without end when asked for
//! `ENDLESS` (a real model's long completion as the gateway sees it; the tiny model's whole
//! answer fits in the sockets' buffers, so it cannot show a stalled stream).

#![allow(dead_code)] // each test binary uses its own part

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assay_chain::{ChainView, Epochs, LocalChain, Metagraph, Neuron};
use assay_gateway::{Gateway, Parts, Settings};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{Ledger, Outcome, RequestRow, SqliteLedger};
use assay_protocol::epistula;
use assay_protocol::wire::{Info, ResponseExtension, VectorDtype};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

pub const KEY: &str = "sk-test";
pub const MODEL: &str = "stub";
pub const EPOCH_BLOCKS: u64 = 1_000_000;
/// The prompt a stub answers with a stream that never ends.
pub const ENDLESS: &str = "endless";
/// A chat whose content is this gets a stream that ends, evidence and all, without `[DONE]`.
pub const NO_DONE: &str = "no done";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Counts a request while it is served (an endless stream until its connection goes away).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a stub behaves.
#[derive(Debug, Clone, Copy)]
pub struct StubOptions {
    /// What its `info` declares.
    pub capacity: u32,
    /// Answers with `Connection: close`, so every request to it needs a new connection.
    pub close_connections: bool,
    /// A streamed answer sends `STREAMED_TOKENS` pieces of content, one every `token_delay`.
    pub token_delay: Duration,
    /// The tasks its `info` declares, with their capacities (none: only `capacity`).
    pub tasks: &'static [(&'static str, u32)],
}

impl StubOptions {
    pub fn capacity(capacity: u32) -> Self {
        Self { capacity, close_connections: false, token_delay: Duration::ZERO, tasks: &[] }
    }
}

/// The pieces of content in a streamed answer.
pub const STREAMED_TOKENS: usize = 32;

#[derive(Clone)]
struct StubState {
    hotkey: Hotkey,
    validator: String,
    options: StubOptions,
    in_flight: Arc<AtomicUsize>,
}

pub struct Stub {
    pub address: SocketAddr,
    pub hotkey: String,
    in_flight: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Stub {
    async fn serve(seed: u8, options: StubOptions, validator: &str) -> Self {
        let hotkey = Hotkey::from_seed(Scheme::Sr25519, [seed; 32]).expect("key");
        let in_flight = Arc::new(AtomicUsize::new(0));
        let state =
            StubState { hotkey: hotkey.clone(), validator: validator.into(), options, in_flight: in_flight.clone() };
        let app = axum::Router::new()
            .route("/assay/v1/info", get(stub_info))
            .route("/v1/chat/completions", post(stub_complete))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { address, hotkey: hotkey.ss58(), in_flight, server }
    }

    /// Requests it is serving now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

async fn stub_info(State(s): State<StubState>) -> Json<Info> {
    Json(Info {
        protocol_version: assay_protocol::PROTOCOL_VERSION,
        model: MODEL.into(),
        layers: 1,
        hidden_size: 1,
        capacity: s.options.capacity,
        open_window_s: 60,
        tasks: s
            .options
            .tasks
            .iter()
            .map(|(name, capacity)| assay_protocol::wire::TaskCapacity { name: name.to_string(), capacity: *capacity })
            .collect(),
        routes: Vec::new(),
    })
}

/// The evidence a miner signs: the request's id, token ids, no commitment.
fn evidence(s: &StubState, request_id: &str) -> (Value, Value) {
    let ext = ResponseExtension {
        request_id: request_id.into(),
        prompt_token_ids: vec![1],
        completion_token_ids: vec![2],
        commitment: None,
        leaf_count: 0,
        dtype: VectorDtype::F32,
        sampler: None,
    };
    let bytes = serde_json::to_vec(&ext).expect("serializes");
    let signed = epistula::sign(&s.hotkey, &bytes, Some(&s.validator), now_ms());
    let headers: Map<String, Value> =
        signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    (json!(ext), Value::Object(headers))
}

async fn stub_complete(State(s): State<StubState>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let guard = InFlight::enter(&s.in_flight);
    if request["messages"][0]["content"] == ENDLESS {
        // A token with its log-probs, about as large as vLLM sends one with `top_logprobs`.
        let chunk = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "x".repeat(1024)}}]});
        let piece = Bytes::from(format!("data: {chunk}\n\n"));
        let pieces = tokio_stream::iter(std::iter::repeat(piece)).map(move |p| {
            let _held = &guard;
            Ok::<_, Infallible>(p)
        });
        return ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(pieces)).into_response();
    }
    let (ext, signature) = evidence(&s, request["assay"]["request_id"].as_str().unwrap_or_default());
    if request["stream"] == true {
        let content =
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi "}}]});
        let last = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": STREAMED_TOKENS, "total_tokens": 1 + STREAMED_TOKENS},
            "assay": ext, "assay_signature": signature});
        let mut pieces = vec![format!("data: {content}\n\n"); STREAMED_TOKENS];
        if request["messages"][0]["content"] == NO_DONE {
            pieces.push(format!("data: {last}\n\n"));
        } else {
            pieces.push(format!("data: {last}\n\ndata: [DONE]\n\n"));
        }
        let delay = s.options.token_delay;
        let pieces = tokio_stream::iter(pieces).then(move |piece| {
            let _held = &guard;
            async move {
                tokio::time::sleep(delay).await;
                Ok::<_, Infallible>(piece)
            }
        });
        return ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(pieces)).into_response();
    }
    let mut response = Json(json!({"id": "stub", "object": "chat.completion", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "assay": ext, "assay_signature": signature}))
    .into_response();
    if s.options.close_connections {
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    response
}

pub struct Net {
    _dir: tempfile::TempDir,
    pub view: ChainView,
    pub ledger: Arc<dyn Ledger>,
    pub stubs: Vec<Stub>,
    pub gateway: Option<Gateway>,
    pub address: SocketAddr,
    pub http: reqwest::Client,
}

/// Stubs of these capacities (uids 0, 1, …) behind a gateway with these settings.
pub async fn start(capacities: &[u32], gateway: Value) -> Net {
    let stubs: Vec<StubOptions> = capacities.iter().map(|&c| StubOptions::capacity(c)).collect();
    start_with(&stubs, gateway, None).await
}

/// Stubs (uids 0, 1, …) behind a gateway with these settings, recording into `ledger` (a
/// SQLite ledger in a temporary folder when `None`).
pub async fn start_with(stubs: &[StubOptions], gateway: Value, ledger: Option<Arc<dyn Ledger>>) -> Net {
    start_serving(stubs, gateway, ledger, None).await
}

/// As [`start_with`], the gateway also serving `publication`'s dataset.
pub async fn start_serving(
    stubs: &[StubOptions],
    gateway: Value,
    ledger: Option<Arc<dyn Ledger>>,
    publication: Option<assay_gateway::Publication>,
) -> Net {
    let dir = tempfile::tempdir().expect("tempdir");
    let validator = Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key");
    let mut running = Vec::new();
    let mut neurons = Vec::new();
    for (i, &options) in stubs.iter().enumerate() {
        let stub = Stub::serve(10 + i as u8, options, &validator.ss58()).await;
        neurons.push(Neuron {
            uid: i as u16,
            hotkey: stub.hotkey.clone(),
            stake: 0,
            axon: Some(format!("http://{}", stub.address)),
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
            validator_permit: false,
        });
        running.push(stub);
    }
    let chain =
        LocalChain::create(&dir.path().join("chain"), &Metagraph { netuid: 1, neurons, owner_hotkey: None }, 12.0)
            .expect("chain");
    let view = ChainView::connect(&chain, 1).await.expect("reads the chain");
    let ledger = ledger.unwrap_or_else(|| Arc::new(SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger")));
    let mut settings = json!({"listen": "127.0.0.1:0", "model": MODEL, "health_interval_ms": 100,
        "keys": [{"name": "tests", "key": KEY, "requests_per_minute": 1_000_000}]});
    let mut tasks = Value::Array(Vec::new());
    if let (Some(base), Value::Object(mut extra)) = (settings.as_object_mut(), gateway) {
        // The node's top-level `[[tasks]]`, handed to the gateway's settings as the node does.
        tasks = extra.remove("tasks").unwrap_or(tasks);
        base.extend(extra);
    }
    let mut settings: Settings = serde_json::from_value(settings).expect("settings");
    settings.tasks = serde_json::from_value(tasks).expect("tasks");
    let parts = Parts {
        settings,
        hotkey: validator,
        view: view.clone(),
        epochs: Epochs::new(EPOCH_BLOCKS).expect("positive"),
        ledger: ledger.clone(),
        miners: assay_miner_client::Settings::private_network(),
        // The stubs' text is not the detokenized ids of their evidence: the text check is the
        // miner client's tests' (and loopback.rs's, against the reference miner).
        detokenizer: None,
        publication,
    };
    let gateway = Gateway::start(parts).await.expect("gateway starts");
    let address = gateway.local_addr();
    let net =
        Net { _dir: dir, view, ledger, stubs: running, gateway: Some(gateway), address, http: reqwest::Client::new() };
    net.wait_until("every miner is up", |n| n.gateway().miners().iter().all(|m| m.up)).await;
    net
}

impl Net {
    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("running")
    }

    pub async fn wait_until(&self, what: &str, done: impl Fn(&Net) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting until {what}; miners: {:?}", self.gateway().miners());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn chat(&self, content: &str, stream: bool) -> reqwest::RequestBuilder {
        let body = json!({"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": stream});
        self.http.post(format!("http://{}/v1/chat/completions", self.address)).bearer_auth(KEY).json(&body)
    }

    /// Stops the gateway (which writes every pending record) and returns the epoch's records.
    pub async fn records(&mut self) -> Vec<RequestRow> {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown(Duration::from_secs(5)).await;
        }
        let epoch = self.view.head() / EPOCH_BLOCKS;
        self.ledger.requests(epoch).expect("reads").into_iter().map(|e| e.record).collect()
    }
}

impl Net {
    /// Stops the gateway and returns the epoch's ledger entries (records with their task names).
    pub async fn entries(&mut self) -> Vec<assay_ledger::RequestEntry> {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown(Duration::from_secs(5)).await;
        }
        let epoch = self.view.head() / EPOCH_BLOCKS;
        self.ledger.requests(epoch).expect("reads")
    }
}

pub fn count(records: &[RequestRow], outcome: Outcome) -> usize {
    records.iter().filter(|r| r.outcome == outcome).count()
}
