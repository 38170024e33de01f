//! Epistula headers, as a miner (or the validator) reads them from a peer: never a panic,
//! whatever the header values and the clock, and a request that verifies carries exactly the
//! signed timestamp, uuid, signer, recipient and body.

use assay_protocol::epistula::{HEADER_TIMESTAMP, Signed, Verifier};
use proptest::prelude::*;
use serde_json::Value;

/// A seed's headers, body and clock.
type Parts = (Vec<(String, String)>, String, u64);

/// A seed: `{"headers": {name: value}, "body": "...", "now_ms": n}` (see make-corpus).
fn parts(bytes: &[u8]) -> Option<Parts> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let headers = v["headers"]
        .as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect::<Option<Vec<_>>>()?;
    Some((headers, v["body"].as_str()?.to_string(), v["now_ms"].as_u64()?))
}

fn read(headers: &[(String, String)]) -> Result<Signed, assay_protocol::epistula::EpistulaError> {
    Signed::from_headers(|name| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()))
}

proptest! {
    #![proptest_config(assay_fuzz::config())]

    #[test]
    fn headers_never_panic_and_only_signed_requests_verify(
        (_, bytes) in assay_fuzz::inputs(assay_fuzz::seeds("epistula")),
        skew in prop_oneof![Just(0u64), any::<u64>()],
    ) {
        let seeds: Vec<_> = assay_fuzz::seeds("epistula").iter().filter_map(|s| parts(s)).collect();
        let Some((headers, body, now_ms)) = parts(&bytes) else { return Ok(()) };
        let Ok(signed) = read(&headers) else { return Ok(()) };
        let me = signed.signed_for.clone().unwrap_or_default();
        for now in [now_ms, skew, u64::MAX, 0] {
            let verified = Verifier::new(me.clone(), 8_000).verify(&signed, body.as_bytes(), now);
            if verified.is_ok() {
                let original = seeds.iter().find_map(|(h, b, _)| {
                    let s = read(h).ok()?;
                    (s.signature == signed.signature).then_some((s, b))
                });
                let (s, b) = original.expect("a verified request carries a seed's signature");
                prop_assert_eq!(
                    (s.timestamp_ms, &s.uuid, &s.signed_by, &s.signed_for, b),
                    (signed.timestamp_ms, &signed.uuid, &signed.signed_by, &signed.signed_for, &body)
                );
            }
        }
    }

    #[test]
    fn any_timestamp_against_any_clock_is_refused_or_checked(
        seed in 0usize..8,
        timestamp in prop_oneof![any::<u64>(), Just(u64::MAX), Just(u64::MAX - 7_999)],
        now in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64)],
    ) {
        let seeds: Vec<_> = assay_fuzz::seeds("epistula").iter().filter_map(|s| parts(s)).collect();
        let (mut headers, body, _) = seeds[seed % seeds.len()].clone();
        for (name, value) in headers.iter_mut() {
            if name.eq_ignore_ascii_case(HEADER_TIMESTAMP) {
                *value = timestamp.to_string();
            }
        }
        let signed = read(&headers).expect("the seed's headers read");
        let me = signed.signed_for.clone().unwrap_or_default();
        // The signature covers the seed's own timestamp: any other is refused, without a panic.
        let verified = Verifier::new(me, 8_000).verify(&signed, body.as_bytes(), now);
        let original = read(&seeds[seed % seeds.len()].0).expect("reads").timestamp_ms;
        prop_assert!(verified.is_err() || timestamp == original);
    }
}
