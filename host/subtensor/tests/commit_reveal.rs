//! Commit-reveal v4 against the Python packages' own outputs (`scripts/make-drand-fixtures.sh`
//! wrote the fixtures) and drand quicknet's real signature of round 1000.

use std::path::{Path, PathBuf};

use assay_subtensor::{
    MAX_COMMIT_BYTES, RevealError, RevealSchedule, TimelockError, WeightsError, WeightsPayload,
    convert_weights_and_uids_for_emit, decrypt_payload, decrypt_with_signature, encrypt_for_round, first_reveal_block,
    reveal_round,
};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use rand::rngs::OsRng;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drand").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("a hex string")).expect("hex")
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array().expect("an array").iter().map(|x| x.as_u64().expect("an integer")).collect()
}

fn u16s(v: &Value) -> Vec<u16> {
    u64s(v).into_iter().map(|x| u16::try_from(x).expect("a u16")).collect()
}

/// The payload and drand signature of `python-commits.json`.
fn python_payload() -> (WeightsPayload, Vec<u8>, Value) {
    let f = fixture("python-commits.json");
    let p = &f["payload"];
    let payload = WeightsPayload {
        hotkey: hex_of(&p["hotkey"]).try_into().expect("32 bytes"),
        uids: u16s(&p["uids"]),
        values: u16s(&p["values"]),
        version_key: p["version_key"].as_u64().expect("u64"),
    };
    (payload, hex_of(&f["signature"]), f)
}

#[test]
fn normalization_matches_the_python_sdk_on_every_case() {
    let f = fixture("normalize.json");
    let cases = f["cases"].as_array().expect("cases");
    assert!(cases.len() > 100, "only {} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let weights: Vec<f64> = case["weights"]
            .as_array()
            .expect("weights")
            .iter()
            .map(|w| match w.as_str() {
                Some(special) => special.parse::<f64>().expect("nan or inf"),
                None => w.as_f64().expect("a number"),
            })
            .collect();
        let got = convert_weights_and_uids_for_emit(&u16s(&case["uids"]), &weights);
        match case["error"].as_str() {
            Some("length") => assert!(matches!(got, Err(WeightsError::LengthMismatch { .. })), "{name}: {got:?}"),
            Some("weight") => assert!(matches!(got, Err(WeightsError::NotFiniteOrNegative { .. })), "{name}: {got:?}"),
            Some(other) => panic!("{name}: unknown error kind {other}"),
            None => {
                let expected = (u16s(&case["expected"]["uids"]), u16s(&case["expected"]["values"]));
                assert_eq!(got, Ok(expected), "{name}");
            }
        }
    }
}

/// A case's schedule; a missing storage value reads as 0, as the SDK's `int(x or 0)` reads it.
fn schedule_of(storage: &Value) -> RevealSchedule {
    let at = |key: &str| storage[key].as_u64().unwrap_or(0);
    RevealSchedule {
        tempo: u16::try_from(at("Tempo")).expect("u16 tempo"),
        reveal_period_epochs: at("RevealPeriodEpochs"),
        last_epoch_block: at("LastEpochBlock"),
        pending_epoch_at: at("PendingEpochAt"),
        subnet_epoch_index: at("SubnetEpochIndex"),
        blocks_since_last_step: at("BlocksSinceLastStep"),
    }
}

#[test]
fn reveal_rounds_match_the_python_sdk() {
    let f = fixture("reveal-rounds.json");
    let cases = f["cases"].as_array().expect("cases");
    let (mut exact, mut pinned_blocks) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let schedule = schedule_of(&case["storage"]);
        let block = case["current_block"].as_u64().expect("block");
        let block_time = case["block_time"].as_f64().expect("block time");
        if case.get("error").is_some() {
            assert_eq!(reveal_round(&schedule, block, 1.8e9, block_time), Err(RevealError::TempoIsZero), "{name}");
            continue;
        }
        // The SDK read the clock between these two readings: its round lies between theirs.
        let earliest = reveal_round(&schedule, block, case["now_before"].as_f64().expect("t"), block_time).expect(name);
        let latest = reveal_round(&schedule, block, case["now_after"].as_f64().expect("t"), block_time).expect(name);
        let python = case["reveal_round"].as_u64().expect("round");
        assert!(earliest <= python && python <= latest, "{name}: python {python}, assay {earliest}..={latest}");
        if block_time % 3.0 == 0.0 {
            // Whole drand periods per block, called early in a period: one round, exactly.
            assert_eq!(earliest, latest, "{name}");
        }
        exact += usize::from(earliest == latest);
        if let Some(reveal_block) = case["reveal_block"].as_u64() {
            assert_eq!(first_reveal_block(&schedule, block), Ok(reveal_block), "{name}");
            pinned_blocks += 1;
        }
    }
    assert!(exact * 10 >= cases.len() * 9, "{exact} of {} cases pinned one round", cases.len());
    assert!(pinned_blocks >= 3, "{pinned_blocks} cases pinned the reveal block");
}

const ROUND: u64 = 1000;

#[test]
fn an_assay_commit_decrypts_with_drands_signature_of_its_round() {
    let (payload, signature, f) = python_payload();
    // The SCALE encoding is the chain's (and the one the fixture script wrote by hand).
    assert_eq!(payload.encode(), hex_of(&f["payload_scale"]));
    let commit = encrypt_for_round(&payload, ROUND, &mut OsRng).expect("encrypts");
    assert_eq!(commit.len(), hex_of(&f["get_encrypted_commit_v2"]).len(), "same size as the SDK's commit");
    assert_eq!(decrypt_with_signature(&commit, &signature).expect("decrypts"), payload.encode());
    assert_eq!(decrypt_payload(&commit, &signature).expect("decodes"), payload);
    let again = encrypt_for_round(&payload, ROUND, &mut OsRng).expect("encrypts");
    assert_ne!(commit, again, "each commit has a fresh key");
}

/// bittensor-drand's envelope around a commit (what its own decrypt functions take).
#[derive(Encode, Decode)]
struct UserData {
    encrypted_data: Vec<u8>,
    reveal_round: u64,
}

#[test]
fn python_commits_decrypt_in_assay() {
    let (payload, signature, f) = python_payload();
    let wrapped = UserData::decode_all(&mut hex_of(&f["encrypt_at_round"]).as_slice()).expect("a UserData envelope");
    assert_eq!(wrapped.reveal_round, ROUND);
    assert_eq!(decrypt_payload(&wrapped.encrypted_data, &signature).expect("encrypt_at_round's"), payload);
    let commit = hex_of(&f["get_encrypted_commit_v2"]);
    assert_eq!(decrypt_payload(&commit, &signature).expect("get_encrypted_commit_v2's"), payload);
}

#[test]
fn a_signature_that_does_not_open_the_commit_is_a_typed_error() {
    let (payload, signature, f) = python_payload();
    let next_round = encrypt_for_round(&payload, ROUND + 1, &mut OsRng).expect("encrypts");
    let err = decrypt_with_signature(&next_round, &signature).expect_err("round 1000 does not open round 1001");
    assert!(matches!(err, TimelockError::WrongSignature), "{err}");
    let commit = hex_of(&f["get_encrypted_commit_v2"]);
    let err = decrypt_with_signature(&commit, &signature[..47]).expect_err("a cut signature");
    assert!(matches!(err, TimelockError::MalformedSignature(_)), "{err}");
    let err = decrypt_with_signature(&commit[..100], &signature).expect_err("a cut commit");
    assert!(matches!(err, TimelockError::MalformedCiphertext(_)), "{err}");
    let err = decrypt_with_signature(&vec![0; MAX_COMMIT_BYTES + 1], &signature).expect_err("too long");
    assert!(matches!(err, TimelockError::CiphertextTooLarge { .. }), "{err}");
}

#[test]
fn a_commit_the_chain_would_not_take_is_refused() {
    let (payload, signature, _) = python_payload();
    let sized = |n: u16| WeightsPayload { uids: (0..n).collect(), values: vec![7; usize::from(n)], ..payload.clone() };
    let fits = encrypt_for_round(&sized(1024), ROUND, &mut OsRng).expect("1024 weights fit");
    assert!(fits.len() <= MAX_COMMIT_BYTES);
    assert_eq!(decrypt_payload(&fits, &signature).expect("decrypts"), sized(1024));
    let err = encrypt_for_round(&sized(1300), ROUND, &mut OsRng).expect_err("1300 weights do not");
    assert!(matches!(err, TimelockError::CommitTooLarge { .. }), "{err}");
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The other direction through the Python package itself, where a python with bittensor-drand
/// is named (scripts/test.sh installs one into target/chain-venv).
#[test]
fn bittensor_drand_decrypts_an_assay_commit() {
    let Some(python) = std::env::var_os("ASSAY_TEST_CHAIN_PYTHON") else {
        eprintln!("skipped: ASSAY_TEST_CHAIN_PYTHON is not set (a python with bittensor-drand 2.0.0)");
        return;
    };
    let (payload, _, _) = python_payload();
    let commit = encrypt_for_round(&payload, ROUND, &mut OsRng).expect("encrypts");
    let out = std::process::Command::new(python)
        .arg(workspace_root().join("scripts/make-drand-fixtures.py"))
        .args(["decrypt", &hex::encode(&commit)])
        .output()
        .expect("runs python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hex::encode(payload.encode()));
}
