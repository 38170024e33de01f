//! The gateway on loopback in front of three reference miners serving a tiny model: users'
//! requests and their errors, routing around a stopped miner, 429s, disconnects, synthetic
//! traffic, and what reaches the ledger. The `openai` Python client test runs when the test
//! command set up its venv (`ASSAY_TEST_PYTHON`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assay_chain::{ChainView, Epochs, LocalChain, Metagraph, Neuron};
use assay_gateway::{Gateway, Parts, Settings};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{Exchange, Ledger, SqliteLedger};
use assay_ledger::{Outcome, RequestKind};
use assay_miner::http::{MinerSettings, MinerState, app};
use assay_protocol::wire::Info;
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const KEY: &str = "sk-test";
const EPOCH_BLOCKS: u64 = 1_000_000;

struct RunningMiner {
    address: SocketAddr,
    state: MinerState,
    server: Option<JoinHandle<()>>,
}

impl RunningMiner {
    async fn serve(address: SocketAddr, state: MinerState) -> Self {
        let listener = tokio::net::TcpListener::bind(address).await.expect("binds a loopback port");
        let address = listener.local_addr().expect("address");
        let app = app(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { address, state, server: Some(server) }
    }

    /// Like a crash: the listener and every connection go away.
    async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    async fn restart(&mut self) {
        *self = Self::serve(self.address, self.state.clone()).await;
    }
}

struct Net {
    dir: tempfile::TempDir,
    view: ChainView,
    ledger: Arc<dyn Ledger>,
    miners: Vec<RunningMiner>,
    gateway: Option<Gateway>,
    base: String,
    http: reqwest::Client,
}

/// The tiny model's tokenizer, as the node hands it to the gateway.
fn detokenizer(model_dir: &std::path::Path) -> assay_miner_client::SharedDetokenizer {
    let tokenizer = ChatTokenizer::load(model_dir).expect("tokenizer");
    Arc::new(move |ids: &[u32]| tokenizer.decode(ids, true).map_err(|e| e.to_string()))
}

async fn start(miners: usize, capacity: u32, gateway: Value) -> Net {
    let dir = tempfile::tempdir().expect("tempdir");
    let model_dir = dir.path().join("model");
    tiny::write(&model_dir, &TinySpec::default(), None).expect("writes the tiny model");
    let mut running = Vec::new();
    let mut neurons = Vec::new();
    for i in 0..miners {
        let engine = Engine::load(&model_dir).expect("loads");
        let tokenizer = ChatTokenizer::load(&model_dir).expect("tokenizer");
        let hotkey = Hotkey::from_seed(Scheme::Sr25519, [10 + i as u8; 32]).expect("key");
        neurons.push(Neuron {
            uid: i as u16,
            hotkey: hotkey.ss58(),
            stake: 0,
            validator_permit: false,
            axon: None,
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
        });
        let settings = MinerSettings { capacity, ..MinerSettings::default() };
        let miner = RunningMiner::serve(
            "127.0.0.1:0".parse().expect("address"),
            MinerState::new(engine, tokenizer, hotkey, settings),
        )
        .await;
        neurons[i].axon = Some(format!("http://{}", miner.address));
        running.push(miner);
    }
    let chain =
        LocalChain::create(&dir.path().join("chain"), &Metagraph { netuid: 1, neurons, owner_hotkey: None }, 12.0)
            .expect("chain");
    let view = ChainView::connect(&chain, 1).await.expect("reads the chain");
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger"));
    let mut settings = json!({"listen": "127.0.0.1:0", "model": "assay-tiny", "health_interval_ms": 100,
        "keys": [{"name": "tests", "key": KEY, "requests_per_minute": 1_000_000}]});
    if let (Some(base), Value::Object(extra)) = (settings.as_object_mut(), gateway) {
        base.extend(extra);
    }
    let settings: Settings = serde_json::from_value(settings).expect("settings");
    let parts = Parts {
        settings,
        hotkey: Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key"),
        view: view.clone(),
        epochs: Epochs::new(EPOCH_BLOCKS).expect("positive"),
        ledger: ledger.clone(),
        miners: assay_miner_client::Settings::private_network(),
        detokenizer: Some(detokenizer(&model_dir)),
        publication: None,
    };
    let gateway = Gateway::start(parts).await.expect("gateway starts");
    let base = format!("http://{}", gateway.local_addr());
    let net = Net { dir, view, ledger, miners: running, gateway: Some(gateway), base, http: reqwest::Client::new() };
    net.wait_until(|g| g.miners().iter().all(|m| m.up)).await;
    net
}

impl Net {
    fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("running")
    }

    async fn wait_until(&self, done: impl Fn(&Gateway) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self.gateway()) {
            assert!(Instant::now() < deadline, "timed out; miners: {:?}", self.gateway().miners());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(KEY).json(body)
    }

    fn exchanges(&self, epoch: u64) -> Vec<Exchange> {
        self.ledger.exchanges_after(epoch, 0).expect("reads").into_iter().map(|(_, x)| x).collect()
    }

    fn epoch(&self) -> u64 {
        self.view.head() / EPOCH_BLOCKS
    }

    /// Stops the gateway (which writes every pending record) and returns the epoch's records.
    async fn records(&mut self) -> Vec<assay_ledger::RequestRow> {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown(Duration::from_secs(5)).await;
        }
        self.ledger.requests(self.epoch()).expect("reads").into_iter().map(|e| e.record).collect()
    }
}

fn chat(stream: bool) -> Value {
    json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8,
           "temperature": 0, "stream": stream})
}

fn text(stream: bool) -> Value {
    json!({"model": "assay-tiny", "prompt": "Once upon a time", "max_tokens": 8, "stream": stream, "seed": 3})
}

/// The content of an SSE body, checked for the OpenAI chunk shape and the final `[DONE]`.
fn read_sse(body: &str) -> Vec<Value> {
    let events: Vec<&str> = body.split("\n\n").filter(|e| !e.trim().is_empty()).collect();
    assert_eq!(events.last().map(|e| e.trim()), Some("data: [DONE]"), "{body}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.trim().strip_prefix("data: ").expect("data event")).expect("a JSON chunk"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_stream_and_not_and_every_exchange_is_recorded_with_evidence() {
    let mut net = start(3, 4, json!({})).await;
    let whole: Value =
        net.post("/v1/chat/completions", &chat(false)).send().await.expect("sends").json().await.expect("JSON");
    assert_eq!(whole["object"], "chat.completion");
    assert!(whole["choices"][0]["message"]["content"].is_string(), "{whole}");
    assert!(whole["usage"]["completion_tokens"].as_u64().is_some_and(|n| n >= 1), "{whole}");

    let response = net.post("/v1/chat/completions", &chat(true)).send().await.expect("sends");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let chunks = read_sse(&response.text().await.expect("body"));
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.iter().any(|c| c["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty())));

    let whole: Value =
        net.post("/v1/completions", &text(false)).send().await.expect("sends").json().await.expect("JSON");
    assert_eq!(whole["object"], "text_completion");
    let streamed = net.post("/v1/completions", &text(true)).send().await.expect("sends").text().await.expect("body");
    assert!(read_sse(&streamed).iter().all(|c| c["object"] == "text_completion"));

    let epoch = net.epoch();
    let records = net.records().await;
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        assert_eq!((r.outcome, r.kind), (Outcome::Ok, RequestKind::Organic), "{r:?}");
        assert!(r.prompt_tokens > 0 && r.completion_tokens > 0, "{r:?}");
        assert!(r.ttft_ms > 0.0 && r.ttft_ms <= r.total_ms, "{r:?}");
    }
    assert_eq!(records.iter().filter(|r| r.greedy).count(), 2, "the chat requests were greedy");
    let exchanges = net.exchanges(epoch);
    assert_eq!(exchanges.len(), 4);
    for x in &exchanges {
        let sent: Value = serde_json::from_str(&x.request).expect("the body sent");
        assert_eq!(sent["assay"]["commit"], true);
        let evidence: Value = serde_json::from_str(x.evidence.as_deref().expect("evidence")).expect("JSON");
        assert_eq!(evidence["assay"]["request_id"], sent["assay"]["request_id"]);
        assert!(evidence["assay"]["commitment"].is_string());
        // Every body names its sampling (decision 0010): the completions' user seed 3 kept, the
        // chats' drawn; and the reference miner signs that it sampled with the protocol's sampler.
        // top_k is absent ("no limit"): it is sent only when it is at least 1.
        let fields = ["temperature", "top_p", "seed"];
        assert!(fields.iter().all(|f| sent[*f].is_number()), "{sent}");
        if x.path == "/v1/completions" {
            assert_eq!(
                (sent["temperature"].as_f64(), sent.get("top_k"), sent["seed"].as_u64()),
                (Some(1.0), None, Some(3))
            );
        }
        assert_eq!(evidence["assay"]["sampler"], assay_protocol::wire::SAMPLER_SPEC);
    }
    drop(net.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors_and_the_gateway_keeps_serving() {
    let net = start(
        1,
        4,
        json!({"max_body_bytes": 4096, "keys": [
        {"name": "tests", "key": KEY, "requests_per_minute": 1_000_000},
        {"name": "slow", "key": "sk-slow", "requests_per_minute": 1, "burst": 1}]}),
    )
    .await;
    let url = format!("{}/v1/chat/completions", net.base);
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, Option<&str>)> = vec![
        (
            "malformed JSON",
            net.http.post(&url).bearer_auth(KEY).header("content-type", "application/json").body("{\"model\":"),
            400,
            None,
        ),
        (
            "wrong content type",
            net.http.post(&url).bearer_auth(KEY).header("content-type", "text/plain").body(chat(false).to_string()),
            400,
            None,
        ),
        (
            "oversized body",
            net.http.post(&url).bearer_auth(KEY).header("content-type", "application/json").body(vec![b' '; 10_000]),
            413,
            Some("request_too_large"),
        ),
        (
            "unknown model",
            net.http
                .post(&url)
                .bearer_auth(KEY)
                .json(&json!({"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]})),
            404,
            Some("model_not_found"),
        ),
        ("missing key", net.http.post(&url).json(&chat(false)), 401, Some("invalid_api_key")),
        ("unknown key", net.http.post(&url).bearer_auth("sk-nope").json(&chat(false)), 401, Some("invalid_api_key")),
        (
            "no messages",
            net.http.post(&url).bearer_auth(KEY).json(&json!({"model": "assay-tiny", "messages": []})),
            400,
            None,
        ),
        (
            "unknown route",
            net.http.post(format!("{}/v1/embeddings", net.base)).bearer_auth(KEY).json(&chat(false)),
            404,
            Some("unknown_url"),
        ),
    ];
    for (what, request, status, code) in cases {
        let response = request.send().await.expect("sends");
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = response.json().await.expect("a JSON error");
        let error = &body["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        assert!(error["type"].is_string(), "{what}: {body}");
        if let Some(code) = code {
            assert_eq!(error["code"], code, "{what}: {body}");
        }
    }
    let slow = || net.http.post(&url).bearer_auth("sk-slow").json(&chat(false)).send();
    assert_eq!(slow().await.expect("sends").status(), 200);
    let limited = slow().await.expect("sends");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.json::<Value>().await.expect("JSON")["error"]["code"], "rate_limit_exceeded");
    // Still serving.
    assert_eq!(net.post("/v1/chat/completions", &chat(false)).send().await.expect("sends").status(), 200);
    let models: Value = net
        .http
        .get(format!("{}/v1/models", net.base))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("sends")
        .json()
        .await
        .expect("JSON");
    assert_eq!(models["data"][0]["id"], "assay-tiny");
}

/// `base` with `extra`'s fields added (or replaced).
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_an_honest_miner_would_refuse_or_compute_differently_are_refused_here_and_never_reach_a_miner() {
    let mut net = start(1, 4, json!({})).await;
    let (chat_path, text_path) = ("/v1/chat/completions", "/v1/completions");
    let image = json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]);
    let tool = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    // Before the gateway checked them, the first five reached the miner and came back as its
    // 400 (recorded against it as a bad response); the rest were served as if plain.
    let cases = [
        ("an empty prompt", text_path, with(text(false), json!({"prompt": ""})), "prompt"),
        ("top_k as a string", chat_path, with(chat(false), json!({"top_k": "5"})), "top_k"),
        ("a negative seed", chat_path, with(chat(false), json!({"seed": -1})), "seed"),
        ("stop as a number", text_path, with(text(false), json!({"stop": 5})), "stop"),
        (
            "a negative top_logprobs",
            chat_path,
            with(chat(false), json!({"logprobs": true, "top_logprobs": -1})),
            "top_logprobs",
        ),
        ("logit_bias", chat_path, with(chat(false), json!({"logit_bias": {"42": 100}})), "logit_bias"),
        ("a presence penalty", chat_path, with(chat(true), json!({"presence_penalty": 1.5})), "presence_penalty"),
        ("tools", chat_path, with(chat(false), json!({"tools": tool})), "tools"),
        (
            "chat_template_kwargs",
            chat_path,
            with(chat(false), json!({"chat_template_kwargs": {"x": 1}})),
            "chat_template_kwargs",
        ),
        ("echo", text_path, with(text(false), json!({"echo": true})), "echo"),
        ("an image", chat_path, with(chat(false), json!({"messages": image})), "messages"),
        ("the validator's own extension", chat_path, with(chat(false), json!({"assay": {"commit": false}})), ""),
    ];
    let mut answers = Vec::new();
    for (what, path, body, param) in cases {
        let response = net.post(path, &body).send().await.expect("sends");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        answers.push((what, status, body, param));
    }
    // Still serving: a plain request right after is served and recorded.
    assert_eq!(net.post(chat_path, &chat(false)).send().await.expect("sends").status(), 200);
    let records = net.records().await;
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Ok], "only the plain request may reach a miner: {records:?}");
    for (what, status, body, param) in answers {
        assert_eq!(status, 400, "{what}: {body}");
        let error = &body["error"];
        assert_eq!(error["type"], "invalid_request_error", "{what}: {body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        let expected = if param.is_empty() { Value::Null } else { json!(param) };
        assert_eq!(error["param"], expected, "{what}: {body}");
    }
}

/// A miner that serves `info` but answers every completion with a 400, counting them.
async fn refusing_miner() -> (SocketAddr, Arc<AtomicUsize>) {
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    let info = Info {
        protocol_version: assay_protocol::PROTOCOL_VERSION,
        model: "assay-tiny".into(),
        layers: 2,
        hidden_size: 64,
        capacity: 4,
        open_window_s: 120,
        tasks: Vec::new(),
        routes: Vec::new(),
    };
    let refuse = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let error = json!({"error": {"message": "no", "type": "invalid_request_error", "param": null, "code": null}});
        async move { (axum::http::StatusCode::BAD_REQUEST, axum::Json(error)) }
    };
    let app = axum::Router::new()
        .route("/assay/v1/info", axum::routing::get(move || async move { axum::Json(info) }))
        .route("/v1/chat/completions", axum::routing::post(refuse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (address, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_that_refuses_a_request_the_schema_admits_is_charged_and_another_serves_the_user() {
    // The honest miner takes one request at a time, so of two at once one goes to the other
    // miner whatever the routing's preference (the honest one is usually the faster).
    let mut net = start(1, 1, json!({})).await;
    let (address, refused) = refusing_miner().await;
    let chain = LocalChain::open(&net.dir.path().join("chain")).expect("opens the chain");
    let mut metagraph = chain.read_metagraph(1).expect("reads the metagraph");
    metagraph.neurons.push(Neuron {
        uid: 1,
        hotkey: Hotkey::from_seed(Scheme::Sr25519, [30; 32]).expect("key").ss58(),
        stake: 0,
        axon: Some(format!("http://{address}")),
        registered_at_block: 0,
        coldkey: None,
        last_update: 0,
        capacities: Default::default(),
        validator_permit: false,
    });
    chain.write_metagraph(&metagraph).expect("writes the metagraph");
    net.view.refresh_metagraph(&chain).await.expect("refreshes the view");
    net.wait_until(|g| g.miners().len() == 2 && g.miners().iter().all(|m| m.up)).await;
    let mut sent = 0;
    while refused.load(Ordering::SeqCst) == 0 {
        assert!(sent < 40, "the refusing miner was never tried: {:?}", net.gateway().miners());
        let (a, b) = tokio::join!(
            net.post("/v1/chat/completions", &chat(false)).send(),
            net.post("/v1/chat/completions", &chat(false)).send()
        );
        for response in [a.expect("sends"), b.expect("sends")] {
            let status = response.status();
            assert_eq!(status, 200, "request {sent}: {}", response.text().await.unwrap_or_default());
            sent += 1;
        }
    }
    let records = net.records().await;
    let charged: Vec<Outcome> = records.iter().filter(|r| r.uid == 1).map(|r| r.outcome).collect();
    assert!(!charged.is_empty() && charged.iter().all(|o| *o == Outcome::BadResponse), "{records:?}");
    let served = records.iter().filter(|r| r.uid == 0 && r.outcome == Outcome::Ok).count();
    assert_eq!(served, sent, "every user was served by the honest miner: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_miner_is_routed_around_and_comes_back_when_restarted() {
    let mut net = start(3, 4, json!({})).await;
    net.miners[0].stop().await;
    // At once, before any probe noticed: failures before the first token are retried elsewhere.
    for i in 0..12 {
        let body = if i % 2 == 0 { chat(i % 4 == 0) } else { text(false) };
        let path = if i % 2 == 0 { "/v1/chat/completions" } else { "/v1/completions" };
        let response = net.post(path, &body).send().await.expect("sends");
        assert_eq!(response.status(), 200, "request {i}: {}", response.text().await.unwrap_or_default());
    }
    net.wait_until(|g| !g.miners()[0].up).await;
    net.miners[0].restart().await;
    // Up again; its circuit (opened by the failures) closes on its first successful trial request.
    net.wait_until(|g| g.miners()[0].up).await;
    let after_restart = Instant::now();
    let mut served_by_restarted = false;
    while !served_by_restarted {
        if after_restart.elapsed() > Duration::from_secs(20) {
            let epoch = net.epoch();
            let records: Vec<_> =
                net.ledger.requests(epoch).expect("reads").into_iter().filter(|e| e.record.uid == 0).collect();
            panic!("the restarted miner never served again: {:?}\n{records:?}", net.gateway().miners());
        }
        for _ in 0..6 {
            assert_eq!(net.post("/v1/chat/completions", &chat(false)).send().await.expect("sends").status(), 200);
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        let epoch = net.epoch();
        served_by_restarted = net
            .ledger
            .requests(epoch)
            .expect("reads")
            .iter()
            .any(|e| e.record.uid == 0 && e.record.outcome == Outcome::Ok);
    }
    let records = net.records().await;
    let failed_on_0 = records.iter().filter(|r| r.uid == 0 && r.outcome == Outcome::ServerError).count();
    let ok = records.iter().filter(|r| r.outcome == Outcome::Ok).count();
    assert!(ok >= 13, "{records:?}");
    // Miner 0 failed at most until its probe or its circuit kept it out.
    assert!(failed_on_0 <= 4, "{failed_on_0} failures recorded against the stopped miner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_miners_429_is_recorded_as_rate_limited() {
    let mut net = start(1, 1, json!({})).await;
    // Another validator fills the miner's only slot with a long stream it does not read.
    let other = assay_miner_client::MinerClient::new(
        Hotkey::from_seed(Scheme::Sr25519, [2; 32]).expect("key"),
        Duration::from_secs(60),
        assay_miner_client::Settings::private_network(),
    )
    .expect("client");
    let miner = assay_miner_client::Miner {
        base_url: format!("http://{}", net.miners[0].address),
        hotkey: Hotkey::from_seed(Scheme::Sr25519, [10; 32]).expect("key").ss58(),
    };
    let long = json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3000, "stream": true,
        "ignore_eos": true, "assay": {"request_id": "other", "nonce": "n", "commit": false}});
    let held =
        other.start(&miner, "/v1/chat/completions", &serde_json::to_vec(&long).expect("JSON")).await.expect("accepted");
    let response = net.post("/v1/chat/completions", &chat(false)).send().await.expect("sends");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("JSON");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("capacity")), "{body}");
    drop(held);
    let records = net.records().await;
    assert_eq!(records.iter().map(|r| r.outcome).collect::<Vec<_>>(), vec![Outcome::RateLimited]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_disconnects_cancels_the_miner_request() {
    let mut net = start(1, 1, json!({})).await;
    let long = json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3000,
        "stream": true, "ignore_eos": true});
    let mut response = net.post("/v1/chat/completions", &long).send().await.expect("sends");
    let first = response.chunk().await.expect("reads").expect("a first chunk");
    assert!(!first.is_empty());
    drop(response);
    // The miner's only slot is freed, so the next request is served.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = net.post("/v1/chat/completions", &chat(false)).send().await.expect("sends").status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the miner's slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let records = net.records().await;
    let Some(cancelled) = records.iter().find(|r| r.outcome == Outcome::Cancelled) else {
        panic!("no cancellation in {records:?}")
    };
    assert!(cancelled.completion_tokens < 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_traffic_looks_like_users_traffic_and_is_recorded_as_synthetic() {
    // Low limits keep the synthetic requests short (the prior stays under what users may send),
    // so that on the tiny model (a token per byte) they finish within the shutdown grace.
    let limits = json!({"synthetic_per_minute": 1200.0, "max_tokens": 64, "max_body_bytes": 4096});
    let mut net = start(3, 4, limits).await;
    let organic = net.post("/v1/chat/completions", &chat(false)).send().await.expect("sends");
    assert_eq!(organic.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let epoch = net.epoch();
    let records = net.records().await;
    let synthetic: Vec<_> = records.iter().filter(|r| r.kind == RequestKind::Synthetic).collect();
    assert!(synthetic.len() >= 5, "{records:?}");
    assert!(synthetic.iter().all(|r| r.outcome == Outcome::Ok), "{synthetic:?}");
    // The same extension, the same keys: nothing marks a request as the validator's own.
    let exchanges = net.exchanges(epoch);
    for x in exchanges {
        let sent: Value = serde_json::from_str(&x.request).expect("JSON");
        let mut keys: Vec<&String> = sent["assay"].as_object().expect("extension").keys().collect();
        keys.sort();
        assert_eq!(keys, ["commit", "nonce", "request_id", "sampler"]);
        assert_eq!(sent["assay"]["commit"], true);
        // Every request asks for the protocol's sampler (decision 0010), organic or synthetic.
        assert_eq!(sent["assay"]["sampler"], assay_protocol::wire::SAMPLER_SPEC);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_client_works_through_the_gateway() {
    let Some(python) = std::env::var_os("ASSAY_TEST_PYTHON") else {
        eprintln!("skipped: ASSAY_TEST_PYTHON is not set (scripts/test.sh sets it to a venv with `openai`)");
        return;
    };
    let net = start(
        3,
        4,
        json!({"keys": [
        {"name": "tests", "key": KEY, "requests_per_minute": 1_000_000},
        {"name": "slow", "key": "sk-slow", "requests_per_minute": 1, "burst": 1}]}),
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/openai-client-check.py");
    let base = format!("{}/v1", net.base);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, "--base-url", &base, "--key", KEY, "--slow-key", "sk-slow", "--model", "assay-tiny"])
            .output()
    })
    .await
    .expect("joins")
    .expect("runs python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the openai client check failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
