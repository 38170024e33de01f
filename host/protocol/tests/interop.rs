//! What the Bittensor Python tools write and sign, assay reads and verifies
//! (fixture from scripts/make-interop-fixtures.py, bittensor-wallet 4.1.1).

use std::path::Path;

use assay_keys::{Hotkey, Scheme};
use assay_protocol::epistula::{Signed, Verifier};

fn fixture() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bittensor-wallet.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

#[test]
fn a_hotkey_file_written_by_bittensor_wallet_loads_with_the_same_address() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("default");
    std::fs::write(&path, f["hotkey_file"].as_str().expect("file")).expect("writes");
    let key = Hotkey::load(&path).expect("loads the Python wallet's hotkey");
    assert_eq!(key.ss58(), f["ss58"].as_str().expect("ss58"));
    let mut seed = [0u8; 32];
    hex::decode_to_slice(f["seed"].as_str().expect("seed").trim_start_matches("0x"), &mut seed).expect("hex");
    assert_eq!(Hotkey::from_seed(Scheme::Sr25519, seed).expect("key").ss58(), key.ss58());
}

#[test]
fn an_epistula_request_signed_in_python_verifies() {
    let f = fixture();
    let headers = f["headers"].as_object().expect("headers");
    let get = |name: &str| headers.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let signed = Signed::from_headers(get).expect("parses");
    let body = f["body"].as_str().expect("body").as_bytes();
    let key = signed.verify_signature(body).expect("Python's signature verifies");
    assert_eq!(key.ss58(), f["ss58"].as_str().expect("ss58"));
    assert_eq!(key.scheme, Scheme::Sr25519);
    // As a receiver would, at the request's own time.
    let me = signed.signed_for.clone().expect("signed for the miner");
    Verifier::new(me, 8_000).verify(&signed, body, signed.timestamp_ms + 100).expect("accepted");
    // The body is covered.
    assert!(signed.verify_signature(&body[1..]).is_err());
}
