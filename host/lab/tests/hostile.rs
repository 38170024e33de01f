//! The soak's attackers answer as designed, so that they cannot silently rot: each hostile
//! miner's attack read from the outside, and the stranger against a real reference miner.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use assay_keys::{Hotkey, Scheme};
use assay_lab::hostile::stranger::{self, StrangerSettings, StrangerTally, Target};
use assay_lab::hostile::{self, Attack, HostileMiner, HostileSettings};
use assay_miner_client::check_evidence;
use assay_protocol::epistula::HEADER_SIGNED_BY;
use assay_protocol::wire::Info;
use serde_json::{Value, json};

const MB: usize = 1 << 20;

fn settings() -> HostileSettings {
    HostileSettings {
        trickle_every: Duration::from_millis(100),
        endless_every: Duration::from_millis(1),
        untied_delay: Duration::from_millis(300),
        ..HostileSettings::new("assay-tiny", 4, 64)
    }
}

async fn start(attack: Attack) -> HostileMiner {
    let hotkey = Hotkey::generate(Scheme::Sr25519).expect("hotkey");
    hostile::start(attack, hotkey, settings(), None).await.expect("starts")
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn chat(stream: bool) -> Value {
    json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16,
           "stream": stream, "assay": {"request_id": "r1", "nonce": "00", "commit": true}})
}

async fn post(url: &str, body: &Value, validator: &str) -> reqwest::Response {
    client().post(url).header(HEADER_SIGNED_BY, validator).json(body).send().await.expect("answers")
}

fn url(miner: &HostileMiner, path: &str) -> String {
    format!("http://{}{path}", miner.address)
}

/// Reads at least `at_least` bytes of the body (or all of it); returns what was read.
async fn read_some(mut response: reqwest::Response, at_least: usize) -> Vec<u8> {
    let mut read = Vec::new();
    while read.len() < at_least {
        match response.chunk().await.expect("reads") {
            Some(piece) => read.extend_from_slice(&piece),
            None => break,
        }
    }
    read
}

fn has(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_flood_sends_megabytes_without_a_separator_or_an_end() {
    let miner = start(Attack::Flood).await;
    let response = post(&url(&miner, "/v1/chat/completions"), &chat(true), "v").await;
    assert_eq!(response.status(), 200);
    let read = read_some(response, 8 * MB).await;
    assert!(read.len() >= 8 * MB, "{}", read.len());
    assert!(!has(&read, b"\n\n"), "no SSE separator");
    let whole = read_some(post(&url(&miner, "/v1/completions"), &chat(false), "v").await, 8 * MB).await;
    assert!(whole.len() >= 8 * MB && serde_json::from_slice::<Value>(&whole).is_err(), "an unfinished body");
    assert!(miner.counters.bytes_sent.load(Ordering::Relaxed) >= 16 * MB as u64);
}

#[tokio::test]
async fn the_endless_stream_keeps_sending_events_and_never_done() {
    let miner = start(Attack::Endless).await;
    let read = read_some(post(&url(&miner, "/v1/chat/completions"), &chat(true), "v").await, 64 * 1024).await;
    let events = read.windows(2).filter(|w| w == b"\n\n").count();
    assert!(events >= 200, "{events} events");
    assert!(!has(&read, b"[DONE]"));
}

#[tokio::test]
async fn the_trickle_sends_one_byte_at_a_time() {
    let miner = start(Attack::Trickle).await;
    let mut response = post(&url(&miner, "/v1/chat/completions"), &chat(true), "v").await;
    let started = Instant::now();
    for _ in 0..3 {
        let piece = response.chunk().await.expect("reads").expect("a piece");
        assert_eq!(piece.len(), 1);
    }
    assert!(started.elapsed() >= Duration::from_millis(180), "{:?}", started.elapsed());
}

#[tokio::test]
async fn info_and_open_can_be_floods() {
    let huge_info = start(Attack::HugeInfo).await;
    let read = read_some(client().get(url(&huge_info, "/assay/v1/info")).send().await.expect("info"), 8 * MB).await;
    assert!(read.len() >= 8 * MB && read.starts_with(b"{\"protocol_version\":"), "{}", read.len());
    let huge_open = start(Attack::HugeOpen).await;
    let open = json!({"request_id": "r1", "points": [[0, 0]]});
    let read = read_some(post(&url(&huge_open, "/assay/v1/open"), &open, "v").await, 8 * MB).await;
    assert!(read.len() >= 8 * MB, "{}", read.len());
    // The other miners answer `info` like a real miner; the hoarder with a capacity it cannot have.
    let hoard = start(Attack::Hoard).await;
    let info: Info =
        client().get(url(&hoard, "/assay/v1/info")).send().await.expect("info").json().await.expect("json");
    assert_eq!((info.model.as_str(), info.capacity), ("assay-tiny", u32::MAX));
}

#[tokio::test]
async fn long_evidence_is_signed_for_far_more_tokens_than_asked() {
    let miner = start(Attack::LongEvidence).await;
    let validator = Hotkey::generate(Scheme::Sr25519).expect("hotkey").ss58();
    let body: Value =
        post(&url(&miner, "/v1/chat/completions"), &chat(false), &validator).await.json().await.expect("json");
    let ext = check_evidence(&body, &miner.hotkey, &validator).expect("signed by the miner").expect("evidence");
    assert_eq!(ext.completion_token_ids.len(), 100_000, "for max_tokens 16");
    assert!(ext.commitment.is_some());
}

#[tokio::test]
async fn untied_text_sends_a_space_at_once_then_other_text_than_the_signed_tokens() {
    let miner = start(Attack::UntiedText).await;
    let validator = Hotkey::generate(Scheme::Sr25519).expect("hotkey").ss58();
    let mut response = post(&url(&miner, "/v1/chat/completions"), &chat(true), &validator).await;
    let first = response.chunk().await.expect("reads").expect("a first event");
    assert!(has(&first, br#""content":" ""#), "{}", String::from_utf8_lossy(&first));
    let rest = read_some(response, usize::MAX).await;
    let text = String::from_utf8_lossy(&rest);
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let shown: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    let last = events.last().expect("a final event");
    let ext = check_evidence(last, &miner.hotkey, &validator).expect("signed").expect("evidence");
    // Without a tokenizer each signed token is a byte of the claimed text.
    let signed: String =
        ext.completion_token_ids.iter().filter_map(|&id| u8::try_from(id).ok()).map(char::from).collect();
    assert!(!shown.is_empty() && shown != signed, "{shown:?} against {signed:?}");
}

#[tokio::test]
async fn the_redirect_sends_the_signed_body_elsewhere_and_answers_there() {
    let miner = start(Attack::Redirect).await;
    let response = post(&url(&miner, "/v1/chat/completions"), &chat(false), "v").await;
    assert_eq!(response.status(), 307);
    let location = response.headers()["location"].to_str().expect("text").to_string();
    assert_eq!(location, url(&miner, "/elsewhere/v1/chat/completions"));
    let answered: Value = post(&location, &chat(false), "v").await.json().await.expect("json");
    assert!(answered["choices"][0]["message"]["content"].is_string(), "{answered}");
    assert_eq!(miner.counters.redirected.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn the_hoarder_never_answers() {
    let miner = start(Attack::Hoard).await;
    let request =
        client().post(url(&miner, "/v1/chat/completions")).json(&chat(false)).timeout(Duration::from_millis(300));
    let error = request.send().await.expect_err("no answer");
    assert!(error.is_timeout(), "{error}");
    assert_eq!(miner.counters.completions.load(Ordering::Relaxed), 1);
}

/// The stranger's every request reaches a real reference miner and is answered one way or the
/// other (served before the miner serves only validators, refused after); unsigned ones never
/// get through.
#[test]
fn the_stranger_attacks_a_reference_miner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = assay_reference_engine::tiny::TinySpec::default();
    assay_reference_engine::tiny::write(dir.path(), &spec, None).expect("tiny model");
    let engine = assay_reference_engine::Engine::load(dir.path()).expect("engine");
    let tokenizer = assay_reference_engine::ChatTokenizer::load(dir.path()).expect("tokenizer");
    let hotkey = Hotkey::generate(Scheme::Sr25519).expect("hotkey");
    let target_hotkey = hotkey.ss58();
    let state = assay_miner::http::MinerState::new(engine, tokenizer, hotkey, Default::default());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, assay_miner::http::app(state)).await });
        let settings = StrangerSettings {
            every: Duration::from_millis(10),
            prompt_chars: 40,
            open_points: 2000,
            open_every: 1,
            ..StrangerSettings::new("assay-tiny")
        };
        let tally = std::sync::Arc::new(StrangerTally::default());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let targets = vec![Target { base_url: format!("http://{address}"), hotkey: target_hotkey }];
        let attack = tokio::spawn(stranger::run(targets, settings, tally.clone(), stopped));
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(8);
        // Two rounds: an unsigned request, a commitment and (when served) an opening each.
        while get(&tally.refused) + get(&tally.commits_served) + get(&tally.opens_served) < 5 {
            assert!(Instant::now() < deadline, "{}", tally.describe());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop.send(true);
        attack.await.expect("joins").expect("runs");
        eprintln!("stranger against a reference miner: {}", tally.describe());
        assert_eq!(get(&tally.unsigned_served), 0, "{}", tally.describe());
        assert_eq!(get(&tally.failed), 0, "{}", tally.describe());
        if get(&tally.opens_served) > 0 {
            assert!(get(&tally.open_bytes) > 2000 * 100, "{}", tally.describe());
        }
    });
}
