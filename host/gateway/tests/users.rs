//! Users who misbehave, in front of stub miners: a stub answers at once, signs its evidence like
//! a miner, and streams without end when asked for `ENDLESS` (a real model's long completion as
//! the gateway sees it; the tiny model's whole answer fits in the sockets' buffers, so it
//! cannot show a stalled stream). Each test names the issue-10 item it covers.

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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

const KEY: &str = "sk-test";
const MODEL: &str = "stub";
const EPOCH_BLOCKS: u64 = 1_000_000;
/// The prompt a stub answers with a stream that never ends.
const ENDLESS: &str = "endless";

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

#[derive(Clone)]
struct StubState {
    hotkey: Hotkey,
    validator: String,
    capacity: u32,
    in_flight: Arc<AtomicUsize>,
}

struct Stub {
    address: SocketAddr,
    hotkey: String,
    in_flight: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl Stub {
    async fn serve(seed: u8, capacity: u32, validator: &str) -> Self {
        let hotkey = Hotkey::from_seed(Scheme::Sr25519, [seed; 32]).expect("key");
        let in_flight = Arc::new(AtomicUsize::new(0));
        let state =
            StubState { hotkey: hotkey.clone(), validator: validator.into(), capacity, in_flight: in_flight.clone() };
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

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

async fn stub_info(State(s): State<StubState>) -> Json<Info> {
    Json(Info {
        protocol_version: assay_protocol::PROTOCOL_VERSION,
        model: MODEL.into(),
        layers: 1,
        hidden_size: 1,
        capacity: s.capacity,
        open_window_s: 60,
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
    Json(json!({"id": "stub", "object": "chat.completion", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "assay": ext, "assay_signature": signature}))
    .into_response()
}

struct Net {
    _dir: tempfile::TempDir,
    view: ChainView,
    ledger: Arc<dyn Ledger>,
    stubs: Vec<Stub>,
    gateway: Option<Gateway>,
    address: SocketAddr,
    http: reqwest::Client,
}

/// Stubs of these capacities (uids 0, 1, …) behind a gateway with these settings.
async fn start(capacities: &[u32], gateway: Value) -> Net {
    let dir = tempfile::tempdir().expect("tempdir");
    let validator = Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key");
    let mut stubs = Vec::new();
    let mut neurons = Vec::new();
    for (i, &capacity) in capacities.iter().enumerate() {
        let stub = Stub::serve(10 + i as u8, capacity, &validator.ss58()).await;
        neurons.push(Neuron {
            uid: i as u16,
            hotkey: stub.hotkey.clone(),
            stake: 0,
            axon: Some(format!("http://{}", stub.address)),
            registered_at_block: 0,
            capacities: Default::default(),
        });
        stubs.push(stub);
    }
    let chain = LocalChain::create(&dir.path().join("chain"), &Metagraph { netuid: 1, neurons }, 12.0).expect("chain");
    let view = ChainView::connect(&chain, 1).await.expect("reads the chain");
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger"));
    let mut settings = json!({"listen": "127.0.0.1:0", "model": MODEL, "health_interval_ms": 100,
        "keys": [{"name": "tests", "key": KEY, "requests_per_minute": 1_000_000}]});
    if let (Some(base), Value::Object(extra)) = (settings.as_object_mut(), gateway) {
        base.extend(extra);
    }
    let settings: Settings = serde_json::from_value(settings).expect("settings");
    let parts = Parts {
        settings,
        hotkey: validator,
        view: view.clone(),
        epochs: Epochs::new(EPOCH_BLOCKS).expect("positive"),
        ledger: ledger.clone(),
    };
    let gateway = Gateway::start(parts).await.expect("gateway starts");
    let address = gateway.local_addr();
    let net = Net { _dir: dir, view, ledger, stubs, gateway: Some(gateway), address, http: reqwest::Client::new() };
    net.wait_until("every miner is up", |n| n.gateway().miners().iter().all(|m| m.up)).await;
    net
}

impl Net {
    fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("running")
    }

    async fn wait_until(&self, what: &str, done: impl Fn(&Net) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting until {what}; miners: {:?}", self.gateway().miners());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn chat(&self, content: &str, stream: bool) -> reqwest::RequestBuilder {
        let body = json!({"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": stream});
        self.http.post(format!("http://{}/v1/chat/completions", self.address)).bearer_auth(KEY).json(&body)
    }

    /// Stops the gateway (which writes every pending record) and returns the epoch's records.
    async fn records(&mut self) -> Vec<RequestRow> {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown(Duration::from_secs(5)).await;
        }
        let epoch = self.view.head() / EPOCH_BLOCKS;
        self.ledger.requests(epoch).expect("reads").into_iter().map(|e| e.record).collect()
    }
}

/// A user who sends a streamed request on a socket with a small receive buffer, then reads one
/// byte a second until the gateway closes the connection.
async fn slow_reader(address: SocketAddr, body: &Value) -> JoinHandle<()> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("a small receive buffer");
    let mut stream = socket.connect(address).await.expect("connects");
    let body = body.to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("sends the head");
    stream.write_all(body.as_bytes()).await.expect("sends the body");
    tokio::spawn(async move {
        let mut byte = [0u8; 1];
        while let Ok(1) = stream.read(&mut byte).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

fn count(records: &[RequestRow], outcome: Outcome) -> usize {
    records.iter().filter(|r| r.outcome == outcome).count()
}

/// Item 1: sixteen users stop reading their streams (one byte a second); the miner's sixteen
/// slots come back after the idle timeout, a normal request is served well before the miner's
/// timeout, and the stalled exchanges are the users' (`cancelled`), not the miner's (before the
/// fix they were recorded as `timeout` once the miner's timeout ran out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_who_stop_reading_free_the_miners_slots_and_are_not_charged_to_the_miner() {
    let miner_timeout = Duration::from_secs(10);
    let settings = json!({"stream_idle_timeout_ms": 300, "miner_timeout_s": miner_timeout.as_secs_f64()});
    let mut net = start(&[16], settings).await;
    let endless = json!({"model": MODEL, "messages": [{"role": "user", "content": ENDLESS}], "stream": true,
        "max_tokens": 4096});
    let started = Instant::now();
    let mut readers = Vec::new();
    for _ in 0..16 {
        readers.push(slow_reader(net.address, &endless).await);
    }
    net.wait_until("the miner serves the 16 streams", |n| n.stubs[0].in_flight() == 16).await;

    let deadline = started + miner_timeout - Duration::from_secs(2);
    loop {
        let response = net.chat("hello", false).send().await.expect("sends");
        let status = response.status();
        if status == 200 {
            break;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(Instant::now() < deadline, "a normal request was never served while 16 users stalled: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.wait_until("the miner's stalled requests are cancelled", |n| n.stubs[0].in_flight() == 0).await;
    for reader in readers {
        reader.abort();
    }
    let records = net.records().await;
    assert_eq!(count(&records, Outcome::Timeout), 0, "stalled users were charged to the miner: {records:?}");
    assert_eq!(count(&records, Outcome::Cancelled), 16, "{records:?}");
    assert_eq!(count(&records, Outcome::Ok), 1, "{records:?}");
    assert_eq!(records.len(), 17, "{records:?}");
    net.stubs[0].server.abort();
}
