//! The gateway in front of a miner whose text is not its signed tokens' text: a user never gets
//! that text as a whole answer, a stream of it ends with an error event instead of `[DONE]`,
//! and the miner is recorded as `bad-response`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assay_chain::{ChainView, Epochs, LocalChain, Metagraph, Neuron};
use assay_gateway::{Gateway, Parts, Settings};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{Ledger, Outcome, SqliteLedger};
use assay_protocol::epistula;
use assay_protocol::wire::{ResponseExtension, VectorDtype};
use assay_reference_engine::ChatTokenizer;
use assay_reference_engine::tiny::{self, TinySpec};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "sk-test";

fn validator() -> Hotkey {
    Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key")
}

fn miner_key() -> Hotkey {
    Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key")
}

/// One request off `socket`: its path and its JSON body.
async fn read_request(socket: &mut TcpStream) -> Option<(String, Value)> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        seen.extend_from_slice(&buf[..n]);
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
        let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok());
        if seen.len() >= end + 4 + length.unwrap_or(0) {
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            return Some((path, serde_json::from_slice(&seen[end + 4..]).unwrap_or(Value::Null)));
        }
    }
}

/// The lying miner's answer to `request`: `text` relayed, evidence signed for `ids`.
fn answer(request: &Value, text: &str, ids: &[u32]) -> Vec<u8> {
    let ext = ResponseExtension {
        request_id: request["assay"]["request_id"].as_str().unwrap_or("").to_string(),
        prompt_token_ids: vec![5, 6],
        completion_token_ids: ids.to_vec(),
        commitment: None,
        leaf_count: 0,
        dtype: VectorDtype::F32,
        sampler: None,
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let signed = epistula::sign(&miner_key(), &serde_json::to_vec(&ext).expect("json"), Some(&validator().ss58()), now);
    let signature: serde_json::Map<String, Value> =
        signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    if request["stream"] == true {
        let mut body = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n".to_vec();
        for piece in [" ", text] {
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            body.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
        }
        let last = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}], "assay": ext, "assay_signature": signature});
        body.extend_from_slice(format!("data: {last}\n\ndata: [DONE]\n\n").as_bytes());
        return body;
    }
    let body = json!({"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}],
                      "assay": ext, "assay_signature": signature})
    .to_string();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    [head.into_bytes(), body.into_bytes()].concat()
}

/// A miner that answers `info` honestly and every completion with `text` for tokens `ids`.
async fn lying_miner(text: &'static str, ids: Vec<u32>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let ids = ids.clone();
            tokio::spawn(async move {
                let Some((path, request)) = read_request(&mut socket).await else { return };
                let reply = if path == "/assay/v1/info" {
                    let info = json!({"protocol_version": 1, "model": "assay-tiny", "layers": 4, "hidden_size": 64,
                                      "capacity": 4, "open_window_s": 60})
                    .to_string();
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{info}", info.len())
                        .into_bytes()
                } else {
                    answer(&request, text, &ids)
                };
                let _ = socket.write_all(&reply).await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_is_not_the_signed_tokens_text_never_reaches_the_user_as_an_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &TinySpec::default(), None).expect("writes the tiny model");
    let tokenizer = ChatTokenizer::load(dir.path()).expect("tokenizer");
    let signed_ids = tokenizer.encode("hello world").expect("encodes");
    let axon = lying_miner("buy cheap pills", signed_ids).await;
    let neuron = Neuron {
        uid: 0,
        hotkey: miner_key().ss58(),
        stake: 0,
        validator_permit: false,
        axon: Some(axon),
        registered_at_block: 0,
        coldkey: None,
        last_update: 0,
        capacities: Default::default(),
    };
    let chain = LocalChain::create(
        &dir.path().join("chain"),
        &Metagraph { netuid: 1, neurons: vec![neuron], owner_hotkey: None },
        12.0,
    )
    .expect("chain");
    let view = ChainView::connect(&chain, 1).await.expect("reads the chain");
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger"));
    let settings: Settings = serde_json::from_value(json!({"listen": "127.0.0.1:0", "model": "assay-tiny",
        "health_interval_ms": 100, "keys": [{"name": "tests", "key": KEY, "requests_per_minute": 1_000_000}]}))
    .expect("settings");
    let detokenizer = move |ids: &[u32]| tokenizer.decode(ids, true).map_err(|e| e.to_string());
    let epochs = Epochs::new(1_000_000).expect("positive");
    let gateway = Gateway::start(Parts {
        settings,
        hotkey: validator(),
        view: view.clone(),
        epochs,
        ledger: ledger.clone(),
        miners: assay_miner_client::Settings::private_network(),
        detokenizer: Some(Arc::new(detokenizer)),
        publication: None,
    })
    .await
    .expect("gateway starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gateway.miners().iter().all(|m| m.up) {
        assert!(Instant::now() < deadline, "the miner never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/chat/completions", gateway.local_addr());
    let body = |stream: bool| json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "stream": stream});

    let whole = http.post(&url).bearer_auth(KEY).json(&body(false)).send().await.expect("sends");
    assert_eq!(whole.status(), 503, "no other miner: an error, never the lie");
    let whole = whole.text().await.expect("body");
    assert!(!whole.contains("pills"), "{whole}");

    let streamed = http.post(&url).bearer_auth(KEY).json(&body(true)).send().await.expect("sends");
    assert_eq!(streamed.status(), 200);
    let streamed = streamed.text().await.expect("body");
    assert!(!streamed.contains("[DONE]"), "{streamed}");
    let last: Value = serde_json::from_str(
        streamed.trim_end().rsplit("\n\n").next().and_then(|e| e.strip_prefix("data: ")).expect("an event"),
    )
    .expect("JSON");
    assert_eq!(last["error"]["code"], "bad_response", "{streamed}");

    gateway.shutdown(Duration::from_secs(5)).await;
    let epoch = view.head() / 1_000_000;
    let outcomes: Vec<Outcome> = ledger.requests(epoch).expect("reads").into_iter().map(|e| e.record.outcome).collect();
    assert_eq!(outcomes, [Outcome::BadResponse, Outcome::BadResponse]);
}
