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
