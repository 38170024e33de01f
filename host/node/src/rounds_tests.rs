//! The round driver against reference miners on loopback: two honest miners of the same weights
//! reveal the same output; one whose reveals are swapped for another salt (re-signed by its own
//! hotkey) is a mismatch; one that answers its reveal after the window is late; one whose `info`
//! is a version-1 miner's is never asked and has no row. Also the prompt's known-answer vector.

use std::sync::Arc;
use std::time::Duration;

use assay_chain::{Metagraph, Neuron};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{Ledger, RevealStatus, SqliteLedger};
use assay_miner::http::{MinerSettings, MinerState, app};
use assay_miner_client::{MinerClient, Settings};
use assay_protocol::epistula;
use assay_protocol::wire::{Info, REVEAL_ROUTE, RevealResponse};
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::rounds::{RoundDriver, RoundsConfig, draw_prompt};

/// A reference miner's behaviour in the round.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Honest,
    /// Reveals another salt, signed: the reveal does not open its commitment.
    OtherSalt,
    /// Answers its reveal 3 s late (the reveal window is 1.5 s).
    SlowReveal,
    /// Its `info` is a version-1 miner's: no routes.
    VersionOne,
}

const REVEAL_WINDOW_MS: u64 = 1_500;

fn miner_key(uid: u16) -> Hotkey {
    Hotkey::from_seed(Scheme::Sr25519, [20 + uid as u8; 32]).expect("key")
}

fn validator_key() -> Hotkey {
    Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key")
}

/// Starts a reference miner of the tiny model (the same weights every time) behind `behaviour`;
/// returns its neuron.
async fn start(dir: &std::path::Path, uid: u16, behaviour: Behaviour) -> Neuron {
    let engine = Engine::load(dir).expect("loads");
    let tokenizer = ChatTokenizer::load(dir).expect("tokenizer");
    let state = MinerState::new(engine, tokenizer, miner_key(uid), MinerSettings::default());
    let layer = axum::middleware::from_fn(move |request: Request, next: Next| misbehave(behaviour, uid, request, next));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(state).layer(layer)).await;
    });
    Neuron {
        uid,
        hotkey: miner_key(uid).ss58(),
        stake: 0,
        axon: Some(format!("http://{address}")),
        registered_at_block: 0,
        coldkey: None,
        last_update: 0,
        capacities: Default::default(),
        validator_permit: false,
    }
}

async fn misbehave(behaviour: Behaviour, uid: u16, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if behaviour == Behaviour::SlowReveal && path == REVEAL_ROUTE {
        tokio::time::sleep(Duration::from_millis(2 * REVEAL_WINDOW_MS)).await;
    }
    let response = next.run(request).await;
    let rewrite = match behaviour {
        Behaviour::OtherSalt => path == REVEAL_ROUTE,
        Behaviour::VersionOne => path == "/assay/v1/info",
        _ => false,
    };
    if !rewrite {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.expect("reads the miner's answer");
    let body = if behaviour == Behaviour::VersionOne {
        let mut info: Info = serde_json::from_slice(&bytes).expect("info");
        info.routes.clear();
        info.protocol_version = 1;
        serde_json::to_vec(&info).expect("json")
    } else {
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let mut reveal: RevealResponse = serde_json::from_value(value["assay"].clone()).expect("a reveal");
        reveal.salt = hex::encode([0xab; 32]);
        let signed = serde_json::to_vec(&reveal).expect("json");
        let signature = epistula::sign(&miner_key(uid), &signed, Some(&validator_key().ss58()), now_ms());
        let headers: serde_json::Map<_, _> =
            signature.headers().into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        serde_json::to_vec(&json!({"assay": reveal, "assay_signature": headers})).expect("json")
    };
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_records_valid_mismatch_and_late_rows_and_none_for_a_version_one_miner() {
    let model = tempfile::tempdir().expect("tempdir");
    let spec = TinySpec::default();
    tiny::write(model.path(), &spec, None).expect("writes a tiny model");
    let behaviours =
        [Behaviour::Honest, Behaviour::Honest, Behaviour::OtherSalt, Behaviour::SlowReveal, Behaviour::VersionOne];
    let mut neurons = Vec::new();
    for (uid, behaviour) in behaviours.into_iter().enumerate() {
        neurons.push(start(model.path(), uid as u16, behaviour).await);
    }
    // A neuron without an axon is not asked either.
    neurons.push(Neuron { uid: 5, axon: None, hotkey: miner_key(5).ss58(), ..neurons[0].clone() });
    let metagraph = Metagraph { netuid: 1, neurons, owner_hotkey: None };

    let data = tempfile::tempdir().expect("tempdir");
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&data.path().join("ledger.db")).expect("ledger"));
    let client =
        MinerClient::new(validator_key(), Duration::from_secs(30), Settings::private_network()).expect("client");
    let config =
        RoundsConfig { commit_window_ms: 8_000, reveal_window_ms: REVEAL_WINDOW_MS, prompt_tokens: 12, concurrency: 8 };
    let driver = RoundDriver {
        config,
        client: Arc::new(client),
        ledger: ledger.clone(),
        validator: validator_key().ss58(),
        model: "assay-tiny".into(),
        task: "chat".into(),
        vocab: spec.vocab as u32,
        hidden_size: spec.hidden,
    };

    let rows = driver.run(3, &metagraph).await.expect("the round runs");
    let statuses: Vec<(u16, RevealStatus)> = rows.iter().map(|r| (r.uid, r.reveal)).collect();
    assert_eq!(
        statuses,
        vec![(0, RevealStatus::Valid), (1, RevealStatus::Valid), (2, RevealStatus::Mismatch), (3, RevealStatus::Late)]
    );
    // The honest miners run the same weights on the same prompt: the same output, the model's
    // hidden size long, widened from f32.
    assert_eq!(rows[0].output.len(), spec.hidden);
    assert_eq!(rows[0].output, rows[1].output);
    assert!(rows[2].output.is_empty() && rows[3].output.is_empty());
    for r in &rows {
        assert_eq!((r.round, r.task.as_str()), (0, "chat"));
        let committed = r.committed_ms.expect("every miner asked here committed in time");
        assert!(committed < 8_000.0, "{committed}");
    }
    // Reveals are asked for only after the 8 s commit window, and a late one has no time.
    for r in &rows[..3] {
        let revealed = r.revealed_ms.expect("revealed");
        assert!((8_000.0..8_000.0 + REVEAL_WINDOW_MS as f64).contains(&revealed), "{revealed}");
    }
    assert_eq!(rows[3].revealed_ms, None);

    let stored = ledger.commit_reveals(3..4).expect("reads");
    assert_eq!(stored.into_iter().map(|(_, r)| r).collect::<Vec<_>>(), rows);
    // A round already recorded for the epoch is not run again (a restarted node).
    assert!(driver.run(3, &metagraph).await.expect("runs").is_empty());
    assert_eq!(ledger.commit_reveals(3..4).expect("reads").len(), 4);
}

/// `sha256("assay consensus prompt" ‖ [7; 32] ‖ i as u32 LE)`'s first 8 bytes, little-endian,
/// modulo 1000, computed with Python's hashlib: i = 0 → 11362958332108277547 % 1000 = 547,
/// i = 1 → 11656791605807619032 % 1000 = 32, i = 2 → 13936866649089175896 % 1000 = 896.
#[test]
fn the_prompt_is_drawn_from_the_seed() {
    assert_eq!(draw_prompt(&[7; 32], 3, 1000), vec![547, 32, 896]);
    assert_eq!(draw_prompt(&[7; 32], 2, 1000), vec![547, 32], "a prefix of the longer draw");
    assert_ne!(draw_prompt(&[8; 32], 3, 1000), vec![547, 32, 896]);
}

#[test]
fn round_settings_out_of_range_are_refused() {
    assert!(RoundsConfig::default().check().is_ok());
    let key = |c: RoundsConfig| c.check().expect_err("refused").0;
    assert_eq!(key(RoundsConfig { commit_window_ms: 0, ..Default::default() }), "commit_window_ms");
    assert_eq!(key(RoundsConfig { reveal_window_ms: 600_001, ..Default::default() }), "reveal_window_ms");
    assert_eq!(key(RoundsConfig { prompt_tokens: 8_193, ..Default::default() }), "prompt_tokens");
    assert_eq!(key(RoundsConfig { concurrency: 0, ..Default::default() }), "concurrency");
}
