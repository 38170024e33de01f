//! The miner client against hostile stub miners on loopback sockets: floods, endless and
//! trickling streams, redirects, text that is not the signed tokens' text, and hostile
//! commit-reveal answers (oversized, late, signed by someone else). Each costs the validator
//! bounded memory and time and is charged to the miner that did it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assay_keys::{Hotkey, Scheme};
use assay_miner_client::{Miner, MinerClient, MinerFault, RoundError, Settings};
use assay_policy_sdk::Outcome;
use assay_protocol::epistula;
use assay_protocol::wire::{ResponseExtension, VectorDtype};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MINER_SEED: [u8; 32] = [9; 32];
const VALIDATOR_SEED: [u8; 32] = [1; 32];

fn validator() -> Hotkey {
    Hotkey::from_seed(Scheme::Sr25519, VALIDATOR_SEED).expect("key")
}

fn miner_key() -> Hotkey {
    Hotkey::from_seed(Scheme::Sr25519, MINER_SEED).expect("key")
}

/// A client for miners on this machine, checking text with the stub's tokenizer.
fn client(timeout: Duration) -> MinerClient {
    MinerClient::new(validator(), timeout, Settings::private_network())
        .expect("client")
        .with_detokenizer(Arc::new(detokenize))
}

/// Reads one request (head and a `content-length` body) off `socket`.
async fn read_request(socket: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return seen;
        }
        seen.extend_from_slice(&buf[..n]);
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return seen;
            }
        }
    }
}

/// A stub miner: answers every connection with `answer` (run on the socket after the request).
async fn stub<F, Fut>(answer: F) -> Miner
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
    let address = listener.local_addr().expect("address");
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                read_request(&mut socket).await;
                answer(socket).await;
            });
        }
    });
    Miner { base_url: format!("http://{address}"), hotkey: miner_key().ss58() }
}

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

/// Writes `piece` again and again, up to `total` bytes or until the client hangs up.
async fn repeat(mut socket: TcpStream, head: &[u8], piece: &[u8], total: usize, pause: Duration) {
    if socket.write_all(head).await.is_err() {
        return;
    }
    let mut sent = 0;
    while sent < total {
        if socket.write_all(piece).await.is_err() {
            return;
        }
        sent += piece.len();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

fn request(stream: bool) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "stream": stream,
           "assay": {"request_id": "r1", "nonce": "n", "commit": true}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_megabytes_without_a_separator_are_refused_early() {
    let miner = stub(|socket| repeat(socket, STREAM_HEAD, &[b'a'; 64 << 10], 200 << 20, Duration::ZERO)).await;
    let started = Instant::now();
    let completion = client(Duration::from_secs(30)).complete(&miner, "/v1/chat/completions", &request(true)).await;
    assert_eq!(completion.outcome, Outcome::BadResponse, "{:?}", completion.evidence_error);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_stream_of_text_is_refused_past_what_was_asked() {
    let event = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"xxxxxxxx\"},\"finish_reason\":null}]}\n\n";
    let piece: Vec<u8> = event.iter().copied().cycle().take(event.len() * 512).collect();
    let miner = stub(move |socket| {
        let piece = piece.clone();
        async move { repeat(socket, STREAM_HEAD, &piece, usize::MAX, Duration::ZERO).await }
    })
    .await;
    let started = Instant::now();
    let completion = client(Duration::from_secs(30)).complete(&miner, "/v1/chat/completions", &request(true)).await;
    assert_eq!(completion.outcome, Outcome::BadResponse, "{:?}", completion.evidence_error);
    assert!(completion.text.len() < 1 << 20, "{} bytes of text kept", completion.text.len());
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_trickle_ends_at_the_time_limit() {
    let miner = stub(|socket| repeat(socket, STREAM_HEAD, b"d", usize::MAX, Duration::from_millis(20))).await;
    let started = Instant::now();
    let completion = client(Duration::from_millis(500)).complete(&miner, "/v1/chat/completions", &request(true)).await;
    assert_eq!(completion.outcome, Outcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = stub(move |mut socket| {
        hits.fetch_add(1, Ordering::SeqCst);
        async move {
            let body =
                br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}"#;
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body).await;
        }
    })
    .await;
    let location = format!("{}/v1/chat/completions", elsewhere.base_url);
    let miner = stub(move |mut socket| {
        let head = format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
        async move {
            let _ = socket.write_all(head.as_bytes()).await;
        }
    })
    .await;
    let completion = client(Duration::from_secs(10)).complete(&miner, "/v1/chat/completions", &request(false)).await;
    assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0, "the signed body was re-sent elsewhere");
    assert_eq!(completion.outcome, Outcome::BadResponse);
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Evidence for `ids`, signed by the stub miner's key for the validator.
fn signed_evidence(ids: &[u32]) -> (Value, Value) {
    let ext = ResponseExtension {
        request_id: "r1".into(),
        prompt_token_ids: vec![5, 6],
        completion_token_ids: ids.to_vec(),
        commitment: None,
        leaf_count: 0,
        dtype: VectorDtype::F32,
        sampler: None,
    };
    let bytes = serde_json::to_vec(&ext).expect("json");
    let signed = epistula::sign(&miner_key(), &bytes, Some(&validator().ss58()), now_ms());
    let headers: serde_json::Map<String, Value> =
        signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    (json!(ext), Value::Object(headers))
}

/// The stub's tokenizer: 1 is " hello", 2 is " world", 3 is an end-of-sequence (no text).
fn detokenize(ids: &[u32]) -> Result<String, String> {
    Ok(ids
        .iter()
        .map(|id| match id {
            1 => " hello",
            2 => " world",
            _ => "",
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_text_that_is_not_the_signed_tokens_text_is_a_bad_response() {
    let miner = stub(|mut socket| async move {
        let (ext, signature) = signed_evidence(&[1, 2, 3]);
        let mut body = STREAM_HEAD.to_vec();
        for text in [" ", "buy cheap pills"] {
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
            body.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
        }
        let last = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "assay": ext, "assay_signature": signature});
        body.extend_from_slice(format!("data: {last}\n\ndata: [DONE]\n\n").as_bytes());
        let _ = socket.write_all(&body).await;
    })
    .await;
    let completion = client(Duration::from_secs(10)).complete(&miner, "/v1/chat/completions", &request(true)).await;
    assert_eq!(completion.outcome, Outcome::BadResponse, "{:?}", completion.evidence_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_answer_whose_text_is_not_the_signed_tokens_text_is_a_bad_response() {
    let miner = stub(|mut socket| async move {
        let (ext, signature) = signed_evidence(&[1, 2, 3]);
        let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "something else"}, "finish_reason": "stop"}],
                          "assay": ext, "assay_signature": signature}).to_string();
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(body.as_bytes()).await;
    })
    .await;
    let completion = client(Duration::from_secs(10)).complete(&miner, "/v1/chat/completions", &request(false)).await;
    assert_eq!(completion.outcome, Outcome::BadResponse, "{:?}", completion.evidence_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_sent_at_once_does_not_count_as_the_first_token() {
    let pause = Duration::from_millis(300);
    let miner = stub(move |mut socket| async move {
        let (ext, signature) = signed_evidence(&[1, 2, 3]);
        let chunk = |text: &str| {
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        };
        let mut head = STREAM_HEAD.to_vec();
        head.extend_from_slice(chunk(" ").as_bytes());
        let _ = socket.write_all(&head).await;
        tokio::time::sleep(pause).await;
        let last = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "assay": ext, "assay_signature": signature});
        let rest = format!("{}data: {last}\n\ndata: [DONE]\n\n", chunk("hello world"));
        let _ = socket.write_all(rest.as_bytes()).await;
    })
    .await;
    let completion = client(Duration::from_secs(10)).complete(&miner, "/v1/chat/completions", &request(true)).await;
    assert_eq!(completion.outcome, Outcome::Ok, "{:?}", completion.evidence_error);
    assert_eq!(completion.text, " hello world");
    assert!(completion.ttft >= pause, "time to first token {:?}: the lone space counted", completion.ttft);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_axon_is_refused_unless_private_networks_are_allowed() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let miner = stub(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        async {}
    })
    .await;
    let public_only = MinerClient::new(validator(), Duration::from_secs(5), Settings::default()).expect("client");
    let completion = public_only.complete(&miner, "/v1/chat/completions", &request(false)).await;
    assert_eq!(completion.outcome, Outcome::BadResponse);
    assert!(public_only.info(&miner).await.is_err());
    let opening = assay_protocol::wire::OpenRequest { request_id: "r1".into(), points: vec![[0, 0]] };
    assert!(public_only.open(&miner, &opening, 64, Duration::from_secs(5)).await.is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was sent to a loopback address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openings_and_info_are_read_only_as_far_as_they_may_go() {
    let miner = stub(|socket| {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
        repeat(socket, head, &[b' '; 64 << 10], 200 << 20, Duration::ZERO)
    })
    .await;
    let started = Instant::now();
    let client = client(Duration::from_secs(30));
    let info = client.info(&miner).await;
    assert!(matches!(info, Err(assay_miner_client::Error::TooLarge { .. })), "{info:?}");
    let opening = assay_protocol::wire::OpenRequest { request_id: "r1".into(), points: vec![[0, 0]] };
    let opened = client.open(&miner, &opening, 64, Duration::from_secs(30)).await;
    assert!(matches!(opened, Err(assay_miner_client::Error::TooLarge { .. })), "{opened:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// Two openings of one miner run one after the other, and each is timed from its own send:
/// the second's time does not include its wait for the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_is_timed_from_its_own_send_one_per_miner_at_a_time() {
    let answering = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (answering.clone(), most.clone());
    let miner = stub(move |mut socket| {
        let (now, peak) = (now.clone(), peak.clone());
        async move {
            peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let body = br#"{"request_id":"r1","points":[]}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body).await;
            now.fetch_sub(1, Ordering::SeqCst);
        }
    })
    .await;
    let client = client(Duration::from_secs(30));
    let opening = assay_protocol::wire::OpenRequest { request_id: "r1".into(), points: vec![] };
    let limit = Duration::from_secs(5);
    let started = Instant::now();
    let (a, b) = tokio::join!(client.open(&miner, &opening, 64, limit), client.open(&miner, &opening, 64, limit));
    let (a, b) = (a.expect("answers"), b.expect("answers"));
    assert!(started.elapsed() >= Duration::from_millis(2000), "one after the other: {:?}", started.elapsed());
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two openings of one miner at once");
    for answer in [a, b] {
        let ms = answer.elapsed.as_millis();
        // Timed from its wait, the second would take 2000 ms or more: a loaded machine has most
        // of a second of margin.
        assert!((1000..2000).contains(&ms), "timed from its own send, not from its wait: {ms} ms");
    }
    // A miner slower than the limit: timed out.
    let slow = client.open(&miner, &opening, 64, Duration::from_millis(100)).await;
    assert!(matches!(slow, Err(assay_miner_client::Error::TimedOut { .. })), "{slow:?}");
}

fn commit_request() -> assay_protocol::wire::CommitRequest {
    assay_protocol::wire::CommitRequest { round: 1, epoch: 1, model: "m".into(), prompt_token_ids: vec![1, 2] }
}

/// A stub miner answering every request with `body` after `delay`.
async fn answering(body: Vec<u8>, delay: Duration) -> Miner {
    stub(move |mut socket| {
        let body = body.clone();
        async move {
            tokio::time::sleep(delay).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_commitment_or_reveal_is_refused_as_it_arrives() {
    let miner = stub(|socket| {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
        repeat(socket, head, &[b' '; 64 << 10], 200 << 20, Duration::ZERO)
    })
    .await;
    let started = Instant::now();
    let client = client(Duration::from_secs(30));
    let window = Duration::from_secs(30);
    // 64 values may take 64 KiB + 344 bytes (limits.rs); 200 MB are on offer.
    let revealed = client.reveal(&miner, 1, 64, window).await;
    assert!(matches!(revealed, Err(RoundError::Miner(MinerFault::TooLarge { limit: 65_880, .. }))), "{revealed:?}");
    let committed = client.commit(&miner, &commit_request(), window).await;
    assert!(matches!(committed, Err(RoundError::Miner(MinerFault::TooLarge { limit: 65_536, .. }))), "{committed:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commitment_after_its_window_is_late() {
    let miner = answering(b"{}".to_vec(), Duration::from_secs(3)).await;
    let started = Instant::now();
    let late = client(Duration::from_secs(30)).commit(&miner, &commit_request(), Duration::from_millis(300)).await;
    match late {
        Err(RoundError::Miner(fault @ MinerFault::Late { .. })) => assert_eq!(fault.outcome(), Outcome::Timeout),
        other => panic!("late: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reveal_signed_by_another_key_is_refused() {
    let answer = assay_protocol::wire::RevealResponse { round: 1, salt: "00".repeat(32), output: String::new() };
    let bytes = serde_json::to_vec(&answer).expect("json");
    // Signed for the validator, but by the validator's own key rather than the miner's.
    let signed = epistula::sign(&validator(), &bytes, Some(&validator().ss58()), now_ms());
    let headers: serde_json::Map<String, Value> =
        signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    let body = serde_json::to_vec(&json!({"assay": answer, "assay_signature": headers})).expect("json");
    let miner = answering(body, Duration::ZERO).await;
    let revealed = client(Duration::from_secs(30)).reveal(&miner, 1, 64, Duration::from_secs(30)).await;
    assert!(matches!(revealed, Err(RoundError::Miner(MinerFault::Unsigned { .. }))), "{revealed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_miner_speaks_no_commit_reveal() {
    let v1 = json!({"protocol_version": 1, "model": "m", "layers": 2, "hidden_size": 8, "capacity": 4,
                    "open_window_s": 120});
    let miner = answering(serde_json::to_vec(&v1).expect("json"), Duration::ZERO).await;
    let info = client(Duration::from_secs(30)).info(&miner).await.expect("a version-1 info parses");
    assert_eq!((info.protocol_version, info.routes.len()), (1, 0));
    assert!(!info.speaks_commit_reveal());
}
