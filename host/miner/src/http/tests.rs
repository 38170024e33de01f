use assay_keys::{Hotkey, Scheme};
use assay_protocol::epistula;
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
    pub(super) state: MinerState,
    pub(super) validator: Hotkey,
    pub(super) miner: String,
}

/// Bytes a committed chat request of `chat({})` keeps, at most: fewer than 100 positions (the
/// templated prompt and 8 tokens), 5 hidden states of 64 values each, and the tree.
const COMMITTED_BYTES: usize = 5 * 100 * 64 * 4 + 5 * 100 * 64;

pub(super) fn fixture(capacity: u32) -> Fixture {
    fixture_with(MinerSettings { capacity, ..MinerSettings::default() })
}

pub(super) fn fixture_with(settings: MinerSettings) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &TinySpec::default(), None).expect("writes");
    let engine = Engine::load(dir.path()).expect("loads");
    let tokenizer = ChatTokenizer::load(dir.path()).expect("tokenizer");
    let hotkey = Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key");
    let miner = hotkey.ss58();
    let state = MinerState::new(engine, tokenizer, hotkey, settings);
    let app = app(state.clone());
    Fixture { _dir: dir, app, state, validator: Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key"), miner }
}

impl Fixture {
    pub(super) fn signed(&self, path: &str, body: &Value) -> Request<Body> {
        self.signed_by(&self.validator, path, body)
    }

    /// A request to `path` signed by `signer` (another validator than the fixture's, say).
    pub(super) fn signed_by(&self, signer: &Hotkey, path: &str, body: &Value) -> Request<Body> {
        let bytes = serde_json::to_vec(body).expect("json");
        let signed = epistula::sign(signer, &bytes, Some(&self.miner), now_ms());
        let mut request = Request::post(path).header("content-type", "application/json");
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        request.body(Body::from(bytes)).expect("request")
    }

    pub(super) async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.app.clone().oneshot(request).await.expect("responds");
        let status = response.status();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

#[tokio::test]
async fn chat_completion_with_commitment_and_signed_evidence() {
    let f = fixture(4);
    let (status, text) = f
        .send(f.signed(
            "/v1/chat/completions",
            &chat(json!({
                "assay": {"request_id": "r1", "nonce": "n", "commit": true}, "logprobs": true, "top_logprobs": 2
            })),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["usage"]["completion_tokens"], 8);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["choices"][0]["logprobs"]["content"].as_array().expect("logprobs").len(), 8);
    assert_eq!(v["choices"][0]["logprobs"]["content"][0]["top_logprobs"].as_array().expect("top").len(), 2);
    let ext: assay_protocol::wire::ResponseExtension = serde_json::from_value(v["assay"].clone()).expect("extension");
    assert_eq!(ext.completion_token_ids.len(), 8);
    assert!(ext.commitment.is_some());
    // Not asked for the sampler (an older validator): the evidence does not name it, so the
    // bytes such a validator re-serialises from its own struct are the bytes signed.
    assert!(v["assay"].get("sampler").is_none(), "{}", v["assay"]);

    // The evidence is signed by the miner's hotkey, for this validator.
    let sig = v["assay_signature"].as_object().expect("signature");
    let signed =
        epistula::Signed::from_headers(|n| sig.get(n).and_then(|x| x.as_str()).map(str::to_string)).expect("headers");
    assert_eq!(signed.signed_by, f.miner);
    signed.verify_signature(&serde_json::to_vec(&ext).expect("json")).expect("evidence verifies");

    // Openings verify against the committed root.
    let (status, text) =
        f.send(f.signed("/assay/v1/open", &json!({"request_id": "r1", "points": [[4, 3], [1, 0]]}))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let opened: assay_protocol::wire::OpenResponse = serde_json::from_str(&text).expect("open response");
    let root = hex::decode(ext.commitment.as_deref().expect("root")).expect("hex");
    let positions = (ext.prompt_token_ids.len() + ext.completion_token_ids.len()) as u32;
    for p in &opened.points {
        let bytes = assay_protocol::wire::decode_vector(&p.vector).expect("base64");
        let path: Vec<[u8; 32]> = p.path.iter().map(|h| hex::decode(h).expect("hex").try_into().expect("32")).collect();
        let leaf = assay_protocol::commitment::leaf("r1", p.layer, p.position, &bytes);
        let index = assay_protocol::commitment::leaf_index(p.layer, p.position, positions);
        assert!(assay_protocol::commitment::verify(
            &root.clone().try_into().expect("32"),
            leaf,
            index,
            ext.leaf_count,
            &path
        ));
    }
    let (status, _) = f.send(f.signed("/assay/v1/open", &json!({"request_id": "nope", "points": [[0, 0]]}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f.send(f.signed("/assay/v1/open", &json!({"request_id": "r1", "points": [[99, 0]]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn streaming_sends_chunks_then_done() {
    let f = fixture(4);
    let (status, text) = f
        .send(f.signed(
            "/v1/chat/completions",
            &chat(json!({
                "stream": true, "assay": {"request_id": "s1", "nonce": "n", "commit": false, "sampler": "assay-sampler/1"}
            })),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).expect("chunk")).collect();
    let last = chunks.last().expect("a final chunk");
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["usage"]["completion_tokens"], 8);
    assert_eq!(last["assay"]["request_id"], "s1");
    // Asked for the protocol's sampler (decision 0010): the reference miner signs it.
    assert_eq!(last["assay"]["sampler"], assay_protocol::wire::SAMPLER_SPEC);
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == last["id"]));

    // The streamed text equals the non-streamed text of the same greedy request.
    let streamed: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    let (_, whole) = f.send(f.signed("/v1/chat/completions", &chat(json!({})))).await;
    let whole: Value = serde_json::from_str(&whole).expect("json");
    assert_eq!(streamed, whole["choices"][0]["message"]["content"].as_str().expect("content"));
}

#[tokio::test]
async fn completions_stop_strings_and_bad_requests() {
    let f = fixture(4);
    let body = json!({"model": "assay-tiny", "prompt": "hello", "max_tokens": 12, "temperature": 0, "logprobs": 1});
    let (status, text) = f.send(f.signed("/v1/completions", &body)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["object"], "text_completion");
    let full = v["choices"][0]["text"].as_str().expect("text").to_string();
    assert_eq!(v["choices"][0]["logprobs"]["token_logprobs"].as_array().expect("logprobs").len(), 12);
    // A stop string taken from the middle of the greedy text cuts it there.
    let chars: Vec<char> = full.chars().collect();
    if chars.len() >= 4 {
        let stop: String = chars[2..4].iter().collect();
        let mut with_stop = body.clone();
        with_stop["stop"] = json!([stop.clone()]);
        let (_, text) = f.send(f.signed("/v1/completions", &with_stop)).await;
        let v: Value = serde_json::from_str(&text).expect("json");
        let cut = v["choices"][0]["text"].as_str().expect("text");
        assert_eq!(cut, &full[..full.find(&stop).expect("stop in text")]);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    for (body, status, message) in [
        (json!({"model": "assay-tiny"}), StatusCode::BAD_REQUEST, "messages is required"),
        (json!({"model": "other", "messages": []}), StatusCode::NOT_FOUND, "is not served here"),
        (chat(json!({"temperature": -1})), StatusCode::BAD_REQUEST, "temperature"),
    ] {
        let (got, text) = f.send(f.signed("/v1/chat/completions", &body)).await;
        assert_eq!(got, status, "{text}");
        let v: Value = serde_json::from_str(&text).expect("OpenAI error JSON");
        assert!(v["error"]["message"].as_str().expect("message").contains(message), "{text}");
    }
    let mut bad_json = f.signed("/v1/chat/completions", &json!({}));
    *bad_json.body_mut() = Body::from("{not json");
    let (status, _) = f.send(bad_json).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the signature covers the body");
}

#[tokio::test]
async fn unsigned_stale_replayed_and_forged_requests_get_401() {
    let f = fixture(4);
    let body = chat(json!({}));
    let bytes = serde_json::to_vec(&body).expect("json");
    let unsigned = Request::post("/v1/chat/completions").body(Body::from(bytes.clone())).expect("request");
    let (status, text) = f.send(unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("authentication_error") && text.contains("missing header"), "{text}");

    let stale = epistula::sign(&f.validator, &bytes, Some(&f.miner), now_ms() - 60_000);
    let mut request = Request::post("/v1/chat/completions");
    for (n, v) in stale.headers() {
        request = request.header(n, v);
    }
    let (status, text) = f.send(request.body(Body::from(bytes.clone())).expect("request")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("old"), "{text}");

    let once = f.signed("/v1/chat/completions", &body);
    let headers = once.headers().clone();
    assert_eq!(f.send(once).await.0, StatusCode::OK);
    let mut again = Request::post("/v1/chat/completions");
    for (n, v) in &headers {
        again = again.header(n, v);
    }
    let (status, text) = f.send(again.body(Body::from(bytes.clone())).expect("request")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("already seen"), "{text}");

    let mut forged = f.signed("/v1/chat/completions", &body);
    forged.headers_mut().insert(epistula::HEADER_SIGNATURE, format!("0x{}", "11".repeat(64)).parse().expect("header"));
    assert_eq!(f.send(forged).await.0, StatusCode::UNAUTHORIZED);

    // Info is public.
    let (status, text) = f.send(Request::get("/assay/v1/info").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    let info: assay_protocol::wire::Info = serde_json::from_str(&text).expect("info");
    assert_eq!((info.layers, info.hidden_size, info.capacity), (4, 64, 4));
    assert!(info.tasks.is_empty() && !text.contains("tasks"), "no --task: the info is as before: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_declares_the_capacity_of_each_task() {
    let tasks =
        vec![TaskCapacity { name: "chat".into(), capacity: 6 }, TaskCapacity { name: "text".into(), capacity: 2 }];
    let f = fixture_with(MinerSettings { tasks: tasks.clone(), ..MinerSettings::default() });
    let (status, text) = f.send(Request::get("/assay/v1/info").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    let info: assay_protocol::wire::Info = serde_json::from_str(&text).expect("info");
    assert_eq!(info.tasks, tasks);
    let declared = info.declared_capacities(&[]).expect("within bounds");
    assert_eq!(declared.into_iter().collect::<Vec<_>>(), [("chat".into(), 6), ("text".into(), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_capacity_the_miner_answers_429_and_a_disconnect_frees_the_slot() {
    let f = fixture(1);
    // A long streaming request holds the only slot while it generates.
    let long = chat(json!({"max_tokens": 4000, "stream": true, "ignore_eos": true}));
    let first = f.app.clone().oneshot(f.signed("/v1/chat/completions", &long)).await.expect("responds");
    assert_eq!(first.status(), StatusCode::OK);
    let (status, text) = f.send(f.signed("/v1/chat/completions", &chat(json!({})))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    assert!(text.contains("rate_limit_error"), "{text}");

    // The client goes away: generation stops and the slot comes back.
    drop(first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, _) = f.send(f.signed("/v1/chat/completions", &chat(json!({})))).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slot was not released after the client left");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_opening_of_more_points_than_allowed_is_refused() {
    let f = fixture(4);
    let (status, text) =
        f.send(f.signed(
            "/v1/chat/completions",
            &chat(json!({"assay": {"request_id": "r", "nonce": "n", "commit": true}})),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let many: Vec<[u32; 2]> = (0..257).map(|i| [i % 5, i % 8]).collect();
    let (status, text) = f.send(f.signed("/assay/v1/open", &json!({"request_id": "r", "points": many}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", &text[..text.len().min(300)]);
    assert!(text.contains("points"), "{text}");
}

/// One validator committing past the store's bound forgets its own oldest commitments, not
/// another validator's.
#[tokio::test]
async fn a_flood_of_commitments_evicts_the_flooders_own() {
    let mut f = fixture_with(MinerSettings { store_bytes: 3 * COMMITTED_BYTES, ..MinerSettings::default() });
    let (quiet, flooder) = (f.validator.clone(), Hotkey::from_seed(Scheme::Sr25519, [2; 32]).expect("key"));
    let commit = |id: &str| chat(json!({"assay": {"request_id": id, "nonce": "n", "commit": true}}));
    assert_eq!(f.send(f.signed("/v1/chat/completions", &commit("quiet"))).await.0, StatusCode::OK);
    f.validator = flooder;
    for i in 0..12 {
        assert_eq!(f.send(f.signed("/v1/chat/completions", &commit(&format!("flood-{i}")))).await.0, StatusCode::OK);
    }
    let open = |id: &str| json!({"request_id": id, "points": [[0, 0]]});
    let (status, _) = f.send(f.signed("/assay/v1/open", &open("flood-0"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the store was filled: the flooder's oldest is gone");
    f.validator = quiet;
    let (status, text) = f.send(f.signed("/assay/v1/open", &open("quiet"))).await;
    assert_eq!(status, StatusCode::OK, "the quiet validator's commitment was evicted: {text}");
}

/// Only the validators the miner serves get past authentication; a stranger's `commit: true`
/// costs the miner a signature check at most.
#[tokio::test]
async fn strangers_are_refused_and_listed_validators_served() {
    let validator = Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key");
    let signers = Arc::new(crate::Signers::new([validator.ss58()], 0));
    let mut f = fixture_with(MinerSettings { signers: Some(signers), ..MinerSettings::default() });
    let commit = chat(json!({"assay": {"request_id": "r", "nonce": "n", "commit": true}}));
    assert_eq!(f.send(f.signed("/v1/chat/completions", &commit)).await.0, StatusCode::OK);
    f.validator = Hotkey::from_seed(Scheme::Sr25519, [3; 32]).expect("key");
    let (status, text) = f.send(f.signed("/v1/chat/completions", &commit)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("not allowed"), "{text}");
    let (status, _) = f.send(f.signed("/assay/v1/open", &json!({"request_id": "r", "points": [[0, 0]]}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signer_cannot_take_every_slot() {
    let mut f = fixture_with(MinerSettings { capacity: 4, signer_capacity: Some(1), ..MinerSettings::default() });
    let long = chat(json!({"max_tokens": 4000, "stream": true, "ignore_eos": true}));
    let held = f.app.clone().oneshot(f.signed("/v1/chat/completions", &long)).await.expect("responds");
    assert_eq!(held.status(), StatusCode::OK);
    let (status, text) = f.send(f.signed("/v1/chat/completions", &chat(json!({})))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    f.validator = Hotkey::from_seed(Scheme::Sr25519, [2; 32]).expect("key");
    let (status, text) = f.send(f.signed("/v1/chat/completions", &chat(json!({})))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

/// `--metrics-addr`: scraped twice with reqwest around a completion, an opening and a refused
/// request, the counters and the store's size move.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_openings_and_the_store() {
    let f = fixture(4);
    let registry = std::sync::Arc::new(f.state.metrics_registry());
    let server = assay_metrics::serve("127.0.0.1:0".parse().expect("addr"), registry, assay_metrics::Limits::default())
        .expect("serves");
    let url = format!("http://{}/metrics", server.local_addr());
    let scrape = || async { reqwest::get(&url).await.expect("scraped").text().await.expect("text") };
    let first = scrape().await;
    assert!(first.contains("assay_miner_openings_total 0"), "{first}");
    assert!(first.contains("assay_miner_store_bytes 0.0"), "{first}");

    let commit = chat(json!({"assay": {"request_id": "m1", "nonce": "n", "commit": true}}));
    let (status, text) = f.send(f.signed("/v1/chat/completions", &commit)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let open = json!({"request_id": "m1", "points": [[0, 0]]});
    let (status, text) = f.send(f.signed("/assay/v1/open", &open)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let unsigned = Request::post("/v1/chat/completions").body(Body::from("{}")).expect("request");
    assert_eq!(f.send(unsigned).await.0, StatusCode::UNAUTHORIZED);

    let second = scrape().await;
    for line in [
        "assay_miner_requests_total{route=\"chat\",status=\"200\"} 1",
        "assay_miner_requests_total{route=\"open\",status=\"200\"} 1",
        "assay_miner_requests_total{route=\"chat\",status=\"401\"} 1",
        "assay_miner_openings_total 1",
        "assay_miner_store_commitments 1.0",
    ] {
        assert!(second.lines().any(|l| l == line), "lacks {line:?}:\n{second}");
    }
    assert!(!second.contains("assay_miner_store_bytes 0.0\n"), "{second}");
}

/// A baseline server (`unsigned`) answers an unsigned OpenAI request, with no evidence; a miner
/// refuses the same request.
#[tokio::test]
async fn an_unsigned_server_answers_unsigned_requests_and_a_miner_does_not() {
    let unsigned = || {
        let bytes = serde_json::to_vec(&chat(json!({}))).expect("json");
        let request = Request::post("/v1/chat/completions").header("content-type", "application/json");
        request.body(Body::from(bytes)).expect("request")
    };
    let baseline = fixture_with(MinerSettings { unsigned: true, ..MinerSettings::default() });
    let (status, text) = baseline.send(unsigned()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["usage"]["completion_tokens"], 8);
    assert!(v.get("assay").is_none_or(Value::is_null), "no evidence: {v}");
    let miner = fixture(4);
    let (status, _) = miner.send(unsigned()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
