use std::sync::{Arc, Mutex};

use super::*;

fn keys() -> (Hotkey, Hotkey) {
    (
        Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key"),
        Hotkey::from_seed(Scheme::Sr25519, [2; 32]).expect("key"),
    )
}

fn roundtrip(s: &Signed) -> Signed {
    let headers = s.headers();
    Signed::from_headers(|name| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()))
        .expect("parses")
}

#[test]
fn signed_requests_verify_once() {
    let (validator, miner) = keys();
    let body = br#"{"model":"m","messages":[]}"#;
    let signed = roundtrip(&sign(&validator, body, Some(&miner.ss58()), 1_000_000));
    let verifier = Verifier::new(miner.ss58(), DEFAULT_WINDOW_MS);
    let key = verifier.verify(&signed, body, 1_000_500).expect("verifies");
    assert_eq!(key.ss58(), validator.ss58());
    assert_eq!(verifier.verify(&signed, body, 1_000_600), Err(EpistulaError::Replayed(signed.uuid.clone())));
}

#[test]
fn every_kind_of_bad_request_is_refused() {
    let (validator, miner) = keys();
    let body = b"{}";
    let me = miner.ss58();
    let verifier = Verifier::new(me.clone(), 8_000);
    let fresh = |t| sign(&validator, body, Some(&me), t);
    assert!(matches!(verifier.verify(&fresh(0), body, 10_000), Err(EpistulaError::Stale { age_ms: 10_000, .. })));
    assert!(matches!(verifier.verify(&fresh(20_000), body, 10_000), Err(EpistulaError::Future { .. })));
    assert!(matches!(verifier.verify(&fresh(10_000), b"{ }", 10_000), Err(EpistulaError::BadSignature(_))));
    let for_other = sign(&validator, body, Some(&validator.ss58()), 10_000);
    assert!(matches!(verifier.verify(&for_other, body, 10_000), Err(EpistulaError::WrongRecipient(_))));
    let for_nobody = sign(&validator, body, None, 10_000);
    assert_eq!(verifier.verify(&for_nobody, body, 10_000), Err(EpistulaError::Missing(HEADER_SIGNED_FOR)));
    let mut forged = fresh(10_000);
    forged.signed_by = miner.ss58(); // claims another signer
    assert!(matches!(verifier.verify(&forged, body, 10_000), Err(EpistulaError::BadSignature(_))));
    // A forgery does not burn the uuid of the genuine request.
    let genuine = fresh(10_000);
    let mut copy = genuine.clone();
    copy.signature = format!("0x{}", "00".repeat(64));
    assert!(verifier.verify(&copy, body, 10_000).is_err());
    assert!(verifier.verify(&genuine, body, 10_000).is_ok());
    let only = Verifier::new(me.clone(), 8_000).allow_only(vec![miner.ss58()]);
    assert!(matches!(only.verify(&fresh(10_000), body, 10_000), Err(EpistulaError::NotAllowed(_))));

    let missing = Signed::from_headers(|name| (name != HEADER_UUID).then(|| "2".to_string()));
    assert_eq!(missing, Err(EpistulaError::Missing(HEADER_UUID)));
    let v1 = Signed::from_headers(|name| (name == HEADER_VERSION).then(|| "1".to_string()));
    assert_eq!(v1, Err(EpistulaError::Version("1".into())));
}

#[test]
fn ed25519_signers_are_accepted() {
    let validator = Hotkey::from_seed(Scheme::Ed25519, [3; 32]).expect("key");
    let (_, miner) = keys();
    let signed = sign(&validator, b"x", Some(&miner.ss58()), 5);
    let key = Verifier::new(miner.ss58(), 8_000).verify(&signed, b"x", 6).expect("verifies");
    assert_eq!(key.scheme, Scheme::Ed25519);
}

#[test]
fn the_message_is_the_ecosystems() {
    let m = message(b"", "0b8e7c6a-9d3b-4f2e-8a1c-5d6e7f8a9b0c", 1700000000000, Some("5Dest"));
    assert_eq!(
        m,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.0b8e7c6a-9d3b-4f2e-8a1c-5d6e7f8a9b0c.1700000000000.5Dest"
    );
    assert!(message(b"", "u", 1, None).ends_with(".u.1."));
}

#[test]
fn timestamps_at_the_ends_of_the_range_are_refused_without_overflow() {
    let (validator, miner) = keys();
    let verifier = Verifier::new(miner.ss58(), DEFAULT_WINDOW_MS);
    let far_future = sign(&validator, b"{}", Some(&miner.ss58()), u64::MAX);
    assert!(matches!(verifier.verify(&far_future, b"{}", 10_000), Err(EpistulaError::Future { .. })));
    let epoch_zero = sign(&validator, b"{}", Some(&miner.ss58()), 0);
    assert!(matches!(verifier.verify(&epoch_zero, b"{}", u64::MAX), Err(EpistulaError::Stale { .. })));
    // Through the headers, as a hostile client sends it.
    let headers = far_future.headers();
    let parsed =
        parse_headers(headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))).expect("well-formed headers");
    assert_eq!(parsed.timestamp_ms, u64::MAX);
    assert!(verifier.verify(&parsed, b"{}", 10_000).is_err());
}

#[test]
fn malformed_headers_are_refused_when_read() {
    let (validator, miner) = keys();
    let good = sign(&validator, b"{}", Some(&miner.ss58()), 1_000);
    let with = |name: &'static str, value: &str| {
        let mut headers = good.headers();
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value.to_string()));
        parse_headers(headers)
    };
    assert!(with(HEADER_SIGNATURE, &good.signature).is_ok());
    for (name, value) in [
        (HEADER_SIGNATURE, "0x1234"),
        (HEADER_SIGNATURE, &format!("0x{}", "zz".repeat(64))),
        (HEADER_TIMESTAMP, "-1"),
        (HEADER_TIMESTAMP, "18446744073709551616"),
        (HEADER_SIGNED_BY, &"5".repeat(300)),
        (HEADER_SIGNED_FOR, &"5".repeat(300)),
        (HEADER_UUID, "not-a-uuid"),
    ] {
        assert!(matches!(with(name, value), Err(EpistulaError::Malformed(n, _)) if n == name), "{name}: {value}");
    }
}

#[test]
fn the_allowed_signers_can_change_while_the_verifier_runs() {
    let (validator, miner) = keys();
    let allowed = Arc::new(Mutex::new(Vec::<String>::new()));
    let list = allowed.clone();
    let check = move |signer: &str| list.lock().expect("lock").iter().any(|s| s == signer);
    let verifier = Verifier::new(miner.ss58(), 8_000).allow(Arc::new(check));
    let fresh = || sign(&validator, b"{}", Some(&miner.ss58()), 10_000);
    assert!(matches!(verifier.verify(&fresh(), b"{}", 10_000), Err(EpistulaError::NotAllowed(_))));
    allowed.lock().expect("lock").push(validator.ss58());
    assert!(verifier.verify(&fresh(), b"{}", 10_000).is_ok());
}

#[test]
fn the_replay_cache_is_bounded_and_forgets_after_the_window() {
    let (validator, miner) = keys();
    let verifier = Verifier::new(miner.ss58(), 1_000).with_replay_capacity(2);
    let at = |t| sign(&validator, b"{}", Some(&miner.ss58()), t);
    let first = at(10_000);
    assert!(verifier.verify(&first, b"{}", 10_000).is_ok());
    assert!(verifier.verify(&at(10_000), b"{}", 10_000).is_ok());
    // Full: a third request is refused rather than an older uuid forgotten early.
    assert_eq!(verifier.verify(&at(10_000), b"{}", 10_100), Err(EpistulaError::Busy));
    assert_eq!(verifier.verify(&first, b"{}", 10_500), Err(EpistulaError::Replayed(first.uuid.clone())));
    // Past twice the window the old uuids are gone (a replay of them is stale by then anyway).
    assert!(verifier.verify(&at(12_100), b"{}", 12_100).is_ok());
    assert!(matches!(verifier.verify(&first, b"{}", 12_100), Err(EpistulaError::Stale { .. })));
}
