//! The canonical bytes of an epoch input: what the summary's hash names and the audit reruns.
//!
//! Canonical JSON: serde's field order (the WIT's), no whitespace, integers as integers, floats
//! in their shortest round-trip form, and no non-finite numbers (JSON cannot carry them, and a
//! policy must not see them). Decoding checks that re-encoding gives the same bytes, so there
//! is exactly one accepted spelling of every input.

use assay_policy_sdk::EpochInput;

use crate::{Error, Result};

/// zstd level for published inputs; the summary names the hash of both the JSON and the file.
pub const ZSTD_LEVEL: i32 = 10;

fn first_non_finite(input: &EpochInput) -> Option<String> {
    for r in &input.requests {
        let fields = [
            ("ttft_ms", Some(r.ttft_ms)),
            ("total_ms", Some(r.total_ms)),
            ("reported_ttft_ms", r.reported_ttft_ms),
            ("reported_tps", r.reported_tps),
            ("quality", r.quality),
        ];
        if let Some((name, v)) = fields.iter().find_map(|(n, v)| v.filter(|x| !x.is_finite()).map(|x| (n, x))) {
            return Some(format!("request {} has {name} = {v}", r.id));
        }
    }
    for v in &input.request_values {
        if v.values.iter().any(|x| !x.is_finite()) {
            return Some(format!("request {} has a non-finite value", v.request_id));
        }
    }
    for c in &input.challenges {
        if c.points.iter().any(|p| !p.rel_l2.is_finite() || !p.cosine.is_finite()) {
            return Some(format!("challenge of request {} has a non-finite measurement", c.request_id));
        }
    }
    input.params.iter().find(|p| !p.value.is_finite()).map(|p| format!("parameter {} = {}", p.name, p.value))
}

/// Canonical JSON of `input`; refuses non-finite numbers.
pub fn encode(input: &EpochInput) -> Result<Vec<u8>> {
    if let Some(what) = first_non_finite(input) {
        return Err(Error::NotCanonical(what));
    }
    serde_json::to_vec(input).map_err(|e| Error::NotCanonical(e.to_string()))
}

/// Parses canonical JSON, refusing any other spelling of the same data.
pub fn decode(bytes: &[u8]) -> Result<EpochInput> {
    let input: EpochInput = serde_json::from_slice(bytes).map_err(|e| Error::NotCanonical(e.to_string()))?;
    if encode(&input)? != bytes {
        return Err(Error::NotCanonical("re-encoding gives other bytes".into()));
    }
    Ok(input)
}

pub fn compress(json: &[u8]) -> Result<Vec<u8>> {
    zstd::encode_all(json, ZSTD_LEVEL).map_err(Error::Compress)
}

/// Decompresses at most `limit` bytes (a hostile file must not exhaust memory).
pub fn decompress(bytes: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    zstd::Decoder::new(bytes)?.take(limit as u64 + 1).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(std::io::Error::other(format!("decompresses to more than {limit} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use assay_policy_sdk::*;

    use super::*;

    fn sample() -> EpochInput {
        EpochInput {
            netuid: 3,
            epoch: 9,
            block_start: 100,
            block_end: 200,
            tasks: vec!["chat".into()],
            miners: vec![Miner {
                uid: 1,
                hotkey: "hk".into(),
                stake: 5,
                capacities: vec![TaskCapacity { task: 0, capacity: 8 }],
                registered_at_block: 2,
            }],
            requests: vec![RequestRecord {
                id: 1,
                uid: 1,
                task: 0,
                kind: RequestKind::Organic,
                outcome: Outcome::RateLimited,
                greedy: true,
                prompt_tokens: 3,
                completion_tokens: 4,
                ttft_ms: 0.1,
                total_ms: 1e21,
                reported_ttft_ms: None,
                reported_tps: Some(2.5),
                quality: None,
                started_ms: 7,
            }],
            request_values: vec![RequestValues { request_id: 1, values: vec![0.25, -3.0] }],
            challenges: vec![ChallengeRecord {
                request_id: 1,
                uid: 1,
                points: vec![PointMeasurement { layer: 2, position: 3, rel_l2: 1e-3, cosine: 0.5 }],
                verdict: Verdict::Void,
                reason: "x".into(),
            }],
            params: vec![Param { name: "a".into(), value: 1.0 }],
            state: vec![0, 255],
        }
    }

    #[test]
    fn golden_encoding() {
        let bytes = encode(&sample()).expect("encodes");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert_eq!(
            text,
            r#"{"netuid":3,"epoch":9,"block_start":100,"block_end":200,"tasks":["chat"],"miners":[{"uid":1,"hotkey":"hk","stake":5,"capacities":[{"task":0,"capacity":8}],"registered_at_block":2}],"requests":[{"id":1,"uid":1,"task":0,"kind":"organic","outcome":"rate-limited","greedy":true,"prompt_tokens":3,"completion_tokens":4,"ttft_ms":0.1,"total_ms":1e+21,"reported_ttft_ms":null,"reported_tps":2.5,"quality":null,"started_ms":7}],"request_values":[{"request_id":1,"values":[0.25,-3.0]}],"challenges":[{"request_id":1,"uid":1,"points":[{"layer":2,"position":3,"rel_l2":0.001,"cosine":0.5}],"verdict":"void","reason":"x"}],"params":[{"name":"a","value":1.0}],"state":[0,255]}"#
        );
        assert_eq!(decode(&bytes).expect("decodes"), sample());
    }

    #[test]
    fn other_spellings_and_non_finite_numbers_are_refused() {
        let text = String::from_utf8(encode(&sample()).expect("encodes")).expect("utf-8");
        for variant in [
            text.replace("\"epoch\":9", "\"epoch\": 9"),
            text.replace("\"value\":1.0", "\"value\":1"),
            text.replace("0.001", "1e-3"),
        ] {
            assert!(matches!(decode(variant.as_bytes()), Err(Error::NotCanonical(_))), "{variant}");
        }
        assert!(decode(text.replace("\"netuid\":3,", "").as_bytes()).is_err());
        assert!(decode(text.replace("\"state\"", "\"extra\":1,\"state\"").as_bytes()).is_err());
        let mut bad = sample();
        bad.requests[0].ttft_ms = f64::INFINITY;
        assert!(encode(&bad).unwrap_err().to_string().contains("ttft_ms"));
        let mut bad = sample();
        bad.params[0].value = f64::NAN;
        assert!(encode(&bad).is_err());
    }

    #[test]
    fn every_float_round_trips_exactly() {
        // serde_json's default float parser is off by an ulp for some values; canonical decoding
        // (and summary signatures) depend on exact round trips.
        let mut x: u64 = 0x1234_5678_9abc_def0;
        let mut input = sample();
        input.request_values[0].values = (0..20_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let v = f64::from_bits(x >> 2);
                if v.is_finite() { v } else { 1.0 }
            })
            .chain((0..20_000).map(|i| f64::from(i) / 7.0 * 1e-3))
            .collect();
        let bytes = encode(&input).expect("encodes");
        assert_eq!(decode(&bytes).expect("decodes"), input);
    }

    #[test]
    fn compression_round_trips_with_a_limit() {
        let json = encode(&sample()).expect("encodes");
        let zst = compress(&json).expect("compresses");
        assert_eq!(compress(&json).expect("compresses"), zst, "compression is deterministic");
        assert_eq!(decompress(&zst, 1 << 20).expect("decompresses"), json);
        assert!(decompress(&zst, 10).is_err());
        assert!(decompress(b"not zstd", 1 << 20).is_err());
    }
}
