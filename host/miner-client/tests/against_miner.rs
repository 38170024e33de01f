//! The miner client against the reference miner on a loopback socket: signed requests, timing,
//! evidence, openings and commit-reveal rounds, and each failure classified as the contract's
//! outcome.

use std::sync::Arc;
use std::time::Duration;

use assay_keys::{Hotkey, Scheme};
use assay_miner::http::{MinerSettings, MinerState, app};
use assay_miner_client::{
    Miner, MinerClient, MinerFault, Mismatch, OpeningError, Reveal, RoundError, Settings, check_evidence, check_reveal,
    verify_opening,
};
use assay_policy_sdk::Outcome;
use assay_protocol::wire::{CommitRequest, OpenRequest};
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};
use serde_json::json;

/// How long an opening may take here.
const LIMIT: Duration = Duration::from_secs(30);

struct Running {
    _dir: tempfile::TempDir,
    miner: Miner,
}

async fn start(capacity: u32) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &TinySpec::default(), None).expect("writes");
    let engine = Engine::load(dir.path()).expect("loads");
    let tokenizer = ChatTokenizer::load(dir.path()).expect("tokenizer");
    let hotkey = Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key");
    let ss58 = hotkey.ss58();
    let state = MinerState::new(engine, tokenizer, hotkey, MinerSettings { capacity, ..MinerSettings::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).await;
    });
    Running { _dir: dir, miner: Miner { base_url: format!("http://{address}"), hotkey: ss58 } }
}

fn client() -> MinerClient {
    MinerClient::new(
        Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key"),
        Duration::from_secs(60),
        Settings::private_network(),
    )
    .expect("client")
}

fn body(stream: bool, commit: bool, id: &str) -> serde_json::Value {
    json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10,
           "temperature": 0, "stream": stream, "assay": {"request_id": id, "nonce": "x", "commit": commit}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_and_whole_completions_are_measured_and_their_evidence_checked() {
    let running = start(4).await;
    let client = client();
    let info = client.info(&running.miner).await.expect("info");
    assert_eq!((info.layers, info.hidden_size), (4, 64));

    let whole = client.complete(&running.miner, "/v1/chat/completions", &body(false, true, "w1")).await;
    assert_eq!(whole.outcome, Outcome::Ok, "{:?}", whole.evidence_error);
    let streamed = client.complete(&running.miner, "/v1/chat/completions", &body(true, true, "s1")).await;
    assert_eq!(streamed.outcome, Outcome::Ok, "{:?}", streamed.evidence_error);
    assert_eq!(streamed.text, whole.text, "greedy: the same text either way");
    assert!(streamed.ttft <= streamed.total && whole.ttft <= whole.total);
    assert_eq!(streamed.finish_reason.as_deref(), Some("length"));
    let evidence = streamed.evidence.expect("signed evidence");
    assert_eq!(evidence.completion_token_ids.len(), 10);

    // Open three points and check them against the commitment.
    let asked = [[4u32, 0u32], [2, 5], [0, 3]];
    let request = OpenRequest { request_id: "s1".into(), points: asked.to_vec() };
    let opened = client.open(&running.miner, &request, 64, LIMIT).await.expect("opens").response;
    let vectors = verify_opening(&evidence, &asked, &opened, 64).expect("verifies");
    assert_eq!(vectors.len(), 3);

    // A tampered vector, a missing point, an opening of another request: all refused.
    let mut tampered = opened.clone();
    let mut bytes = assay_protocol::wire::decode_vector(&tampered.points[0].vector).expect("base64");
    bytes[3] ^= 0x40;
    tampered.points[0].vector = assay_protocol::wire::encode_vector(&bytes);
    assert_eq!(verify_opening(&evidence, &asked, &tampered, 64), Err(OpeningError::BadPath(4, 0)));
    let mut short = opened.clone();
    short.points.pop();
    assert_eq!(verify_opening(&evidence, &asked, &short, 64), Err(OpeningError::Missing(0, 3)));
    let other = client
        .open(&running.miner, &OpenRequest { request_id: "w1".into(), points: asked.to_vec() }, 64, LIMIT)
        .await
        .expect("opens")
        .response;
    assert!(verify_opening(&evidence, &asked, &other, 64).is_err());
    assert!(
        client
            .open(&running.miner, &OpenRequest { request_id: "nope".into(), points: vec![[0, 0]] }, 64, LIMIT)
            .await
            .is_err()
    );

    // Evidence that was altered after signing is refused.
    let mut altered = whole.last.clone();
    altered["assay"]["completion_token_ids"][0] = json!(1);
    assert!(
        check_evidence(
            &altered,
            &running.miner.hotkey,
            &Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key").ss58()
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_become_outcomes() {
    let running = start(1).await;
    let client = client();
    // Another miner's hotkey: the miner refuses requests not signed for it (401: bad response).
    let wrong =
        Miner { hotkey: Hotkey::from_seed(Scheme::Sr25519, [5; 32]).expect("key").ss58(), ..running.miner.clone() };
    let refused = client.complete(&wrong, "/v1/chat/completions", &body(false, false, "a")).await;
    assert_eq!(refused.outcome, Outcome::BadResponse);

    // Nobody listening: a server error, measured.
    let gone = Miner { base_url: "http://127.0.0.1:9".into(), ..running.miner.clone() };
    assert_eq!(
        client.complete(&gone, "/v1/chat/completions", &body(false, false, "b")).await.outcome,
        Outcome::ServerError
    );

    // At capacity: rate-limited, not a failure.
    let long = json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3000, "stream": true,
        "ignore_eos": true});
    let busy = tokio::spawn({
        let miner = running.miner.clone();
        async move { self::client().complete(&miner, "/v1/chat/completions", &long).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limited = client.complete(&running.miner, "/v1/chat/completions", &body(false, false, "c")).await;
    assert_eq!(limited.outcome, Outcome::RateLimited);
    busy.abort();

    // A client timeout is a timeout (on a miner with room, so no 429 can come first).
    let roomy = start(4).await;
    let impatient = MinerClient::new(
        Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key"),
        Duration::from_millis(1),
        Settings::private_network(),
    )
    .expect("client");
    let slow = json!({"model": "assay-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 500,
        "ignore_eos": true});
    assert_eq!(impatient.complete(&roomy.miner, "/v1/chat/completions", &slow).await.outcome, Outcome::Timeout);
}

/// The reference miner's relayed text is, request after request, its signed tokens' text: an
/// honest miner never fails the check (sampled text, stop strings, end-of-sequence, both routes,
/// streamed or whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_miners_text_is_its_signed_tokens_text() {
    let running = start(4).await;
    let tokenizer = Arc::new(ChatTokenizer::load(running._dir.path()).expect("tokenizer"));
    let detokenize = move |ids: &[u32]| tokenizer.decode(ids, true).map_err(|e| e.to_string());
    let client = client().with_detokenizer(Arc::new(detokenize));
    for seed in 0..12u64 {
        let stream = seed % 2 == 0;
        let mut body = if seed % 3 == 0 {
            json!({"model": "assay-tiny", "prompt": format!("story {seed}"), "max_tokens": 24})
        } else {
            json!({"model": "assay-tiny", "messages": [{"role": "user", "content": format!("hi {seed}")}], "max_tokens": 24})
        };
        body["stream"] = json!(stream);
        body["seed"] = json!(seed);
        body["temperature"] = json!(1.0);
        body["ignore_eos"] = json!(seed % 4 == 1);
        if seed % 5 == 2 {
            body["stop"] = json!(["e", "\n"]);
        }
        body["assay"] = json!({"request_id": format!("honest-{seed}"), "nonce": "n", "commit": false});
        let path = if body.get("prompt").is_some() { "/v1/completions" } else { "/v1/chat/completions" };
        let completion = client.complete(&running.miner, path, &body).await;
        assert_eq!(completion.outcome, Outcome::Ok, "{body}: {:?} {:?}", completion.evidence_error, completion.text);
        assert!(completion.evidence.is_some());
    }
}

/// A round through two reference miners with the same weights: each commits, reveals what it
/// committed to, and both reveal the same output under different salts; a reveal checked against
/// another commitment, or altered, is a mismatch; a round never committed is not revealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_commits_and_reveals_through_the_reference_miner() {
    let (first, second) = (start(4).await, start(4).await);
    let client = client();
    let info = client.info(&first.miner).await.expect("info");
    assert!(info.speaks_commit_reveal() && info.protocol_version == 2);
    let hidden = info.hidden_size as usize;
    let request =
        CommitRequest { round: 11, epoch: 2, model: "assay-tiny".into(), prompt_token_ids: vec![3, 14, 15, 92, 65] };

    let committed = client.commit(&first.miner, &request, LIMIT).await.expect("commits");
    assert_eq!(committed.response.round, 11);
    // The signature kept as evidence is the miner's, for this validator, over the commitment.
    let headers = &committed.signature;
    let signed = assay_protocol::epistula::Signed::from_headers(|n| headers.get(n)?.as_str().map(str::to_string))
        .expect("headers");
    assert_eq!(
        (signed.signed_by.as_str(), signed.signed_for.clone()),
        (first.miner.hotkey.as_str(), Some(client.validator()))
    );
    signed.verify_signature(&serde_json::to_vec(&committed.response).expect("json")).expect("verifies");
    let revealed = client.reveal(&first.miner, 11, hidden, LIMIT).await.expect("reveals");
    let Reveal::Valid(output) = check_reveal(&committed.commitment, &revealed.response, hidden) else {
        panic!("an honest reveal opens its commitment")
    };
    assert_eq!(output.len(), 64);

    let other = client.commit(&second.miner, &request, LIMIT).await.expect("commits");
    let other_revealed = client.reveal(&second.miner, 11, hidden, LIMIT).await.expect("reveals");
    assert_ne!(other.commitment, committed.commitment, "fresh salts");
    assert_eq!(check_reveal(&other.commitment, &other_revealed.response, hidden), Reveal::Valid(output));
    assert_eq!(
        check_reveal(&committed.commitment, &other_revealed.response, hidden),
        Reveal::Mismatch(Mismatch::Commitment),
        "another miner's reveal does not open this one's commitment"
    );
    let mut altered = revealed.response.clone();
    let mut bytes = assay_protocol::wire::decode_vector(&altered.output).expect("base64");
    bytes[0] ^= 1;
    altered.output = assay_protocol::wire::encode_vector(&bytes);
    assert_eq!(check_reveal(&committed.commitment, &altered, hidden), Reveal::Mismatch(Mismatch::Commitment));

    let never = client.reveal(&first.miner, 12, hidden, LIMIT).await;
    match never {
        Err(RoundError::Miner(fault @ MinerFault::Status { status: 404, .. })) => {
            assert_eq!(fault.outcome(), Outcome::BadResponse)
        }
        other => panic!("a round never committed is a 404: {other:?}"),
    }

    // The same round id with another prompt: the validator reused an id, never the miner's fault.
    let reused = CommitRequest { prompt_token_ids: vec![2, 7, 1, 8], ..request.clone() };
    match client.commit(&first.miner, &reused, LIMIT).await {
        Err(RoundError::Validator(why)) => assert!(why.contains("another prompt"), "{why}"),
        other => panic!("a reused round id is the validator's error: {other:?}"),
    }
}
