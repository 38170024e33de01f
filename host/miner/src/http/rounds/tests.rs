//! The commit-reveal pair on the reference miner's router, driven without a socket: what is
//! committed is the final hidden state the openings' pass computes, revealed only to its signer.

use assay_keys::{Hotkey, Scheme};
use assay_protocol::commit_reveal::{self, decode_hex};
use assay_protocol::epistula;
use assay_protocol::wire::{COMMIT_ROUTE, CommitResponse, REVEAL_ROUTE, RevealResponse, decode_vector};
use assay_reference_engine::HiddenSelection;
use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::http::MinerSettings;
use crate::http::tests::{Fixture, fixture, fixture_with};

fn commit_body(round: u64, prompt: &[u32]) -> Value {
    json!({"round": round, "epoch": 3, "model": "assay-tiny", "prompt_token_ids": prompt})
}

/// The `assay` answer of `text`, after checking the miner signed it for the fixture's validator.
fn signed_answer<T: DeserializeOwned + Serialize>(f: &Fixture, text: &str) -> T {
    let v: Value = serde_json::from_str(text).expect("json");
    let answer: T = serde_json::from_value(v["assay"].clone()).expect("an answer");
    let headers = v["assay_signature"].as_object().expect("signed");
    let signed = epistula::Signed::from_headers(|n| headers.get(n).and_then(Value::as_str).map(str::to_string))
        .expect("headers");
    assert_eq!(signed.signed_by, f.miner);
    assert_eq!(signed.signed_for, Some(f.validator.ss58()));
    signed.verify_signature(&serde_json::to_vec(&answer).expect("json")).expect("the answer verifies");
    answer
}

async fn commit(f: &Fixture, round: u64, prompt: &[u32]) -> (StatusCode, String) {
    f.send(f.signed(COMMIT_ROUTE, &commit_body(round, prompt))).await
}

async fn reveal(f: &Fixture, round: u64) -> (StatusCode, String) {
    f.send(f.signed(REVEAL_ROUTE, &json!({"round": round}))).await
}

#[tokio::test]
async fn a_round_commits_to_the_final_hidden_state_and_reveals_it() {
    let f = fixture(4);
    let info = f.state.info();
    assert_eq!(info.protocol_version, 2);
    assert!(info.speaks_commit_reveal());

    let prompt = [5u32, 17, 42, 9];
    let (status, text) = commit(&f, 7, &prompt).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let committed: CommitResponse = signed_answer(&f, &text);
    let (status, text) = reveal(&f, 7).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let revealed: RevealResponse = signed_answer(&f, &text);
    assert_eq!((committed.round, revealed.round), (7, 7));

    let salt = decode_hex::<32>(&revealed.salt).expect("32 bytes of salt");
    let output = decode_vector(&revealed.output).expect("base64");
    let commitment = decode_hex::<32>(&committed.commitment).expect("32 bytes of commitment");
    assert!(commit_reveal::opens(&commitment, &salt, &output));
    // Hidden state 4 (the tiny model's L, final-normed) at position 3 of the whole pass the
    // openings use: `[(L + 1) = 5, 4 positions, 64]`, so it starts at (4 × 4 + 3) × 64 = 1216.
    let all = f.state.inner.engine.teacher_forced(&prompt, &HiddenSelection::All, &[]).expect("a pass").hidden;
    assert_eq!(all.len(), 5 * 4 * 64);
    assert_eq!(output, commit_reveal::output_bytes(&all[1216..1280]));

    // A retried commit gets the same commitment; the same round with another prompt is a 409.
    let (status, text) = commit(&f, 7, &prompt).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(signed_answer::<CommitResponse>(&f, &text), committed);
    let (status, text) = commit(&f, 7, &[5, 17]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    // A fresh round draws a fresh salt.
    let (_, text) = commit(&f, 8, &prompt).await;
    assert_ne!(signed_answer::<CommitResponse>(&f, &text).commitment, committed.commitment);
}

#[tokio::test]
async fn only_the_signer_of_a_kept_round_gets_its_reveal() {
    let f = fixture_with(MinerSettings { round_memory: 2, ..MinerSettings::default() });
    for round in 1..=3 {
        let (status, text) = commit(&f, round, &[1, 2, 3]).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    // Two rounds kept per signer: round 1 is forgotten.
    assert_eq!(reveal(&f, 1).await.0, StatusCode::NOT_FOUND);
    assert_eq!(reveal(&f, 3).await.0, StatusCode::OK);
    assert_eq!(reveal(&f, 99).await.0, StatusCode::NOT_FOUND, "never committed");
    let stranger = Hotkey::from_seed(Scheme::Sr25519, [2; 32]).expect("key");
    let (status, text) = f.send(f.signed_by(&stranger, REVEAL_ROUTE, &json!({"round": 3}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another validator's round: {text}");
}

#[tokio::test]
async fn bad_round_requests_are_refused_before_any_work() {
    let f = fixture_with(MinerSettings { max_round_prompt_tokens: 8, ..MinerSettings::default() });
    let other_model = json!({"round": 1, "epoch": 3, "model": "other", "prompt_token_ids": [1]});
    for (body, status, message) in [
        (other_model, StatusCode::NOT_FOUND, "is not served here"),
        (commit_body(1, &[]), StatusCode::BAD_REQUEST, "0 tokens (1 to 8)"),
        (commit_body(1, &[1; 9]), StatusCode::BAD_REQUEST, "9 tokens (1 to 8)"),
        (commit_body(1, &[1, 320]), StatusCode::BAD_REQUEST, "token 320 is outside the model's 320 tokens"),
        (json!({"round": "one"}), StatusCode::BAD_REQUEST, "invalid JSON body"),
    ] {
        let (got, text) = f.send(f.signed(COMMIT_ROUTE, &body)).await;
        assert_eq!(got, status, "{text}");
        assert!(text.contains(message), "{text}");
    }
    assert!(f.state.inner.rounds.is_empty());
}
