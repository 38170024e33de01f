//! The canonical bytes of an epoch input: what the summary's hash names and the audit reruns.
//!
//! Canonical JSON: serde's field order (the WIT's), no whitespace, integers as integers, floats
//! in their shortest round-trip form, and no non-finite numbers (JSON cannot carry them, and a
//! policy must not see them). Decoding checks that re-encoding gives the same bytes, so there
//! is exactly one accepted spelling of every input.

use assay_policy_sdk::{EpochInput, v0_1};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// zstd level for published inputs; the summary names the hash of both the JSON and the file.
pub const ZSTD_LEVEL: i32 = 10;

/// An epoch input of some contract version: its serde form is its canonical JSON, once every
/// float in it is finite.
pub trait Canonical: Serialize + DeserializeOwned {
    /// The first non-finite number, named, if any.
    fn first_non_finite(&self) -> Option<String>;
}

fn first_non_finite_in(what: &str, values: &[f64]) -> Option<String> {
    values.iter().position(|x| !x.is_finite()).map(|i| format!("{what}[{i}] = {}", values[i]))
}

impl Canonical for EpochInput {
    fn first_non_finite(&self) -> Option<String> {
        let r = &self.requests;
        let t = &self.token_checks;
        let c = &self.challenges;
        let columns: [(&str, &[f64]); 9] = [
            ("requests.ttft_ms", &r.ttft_ms),
            ("requests.total_ms", &r.total_ms),
            ("requests.reported_ttft_ms", &r.reported_ttft_ms),
            ("requests.reported_tps", &r.reported_tps),
            ("token_checks.logprob", &t.logprob),
            ("token_checks.top_logprob", &t.top_logprob),
            ("challenges.response_ms", &c.response_ms),
            ("challenges.rel_l2", &c.rel_l2),
            ("challenges.cosine", &c.cosine),
        ];
        let tasks = self.tasks.iter().map(|t| (format!("task {} weight", t.name), t.weight));
        let rounds = self.commit_reveals.iter().flat_map(|cr| {
            let at = format!("commit-reveal round {} uid {}", cr.round, cr.uid);
            [(format!("{at} committed_ms"), cr.committed_ms), (format!("{at} revealed_ms"), cr.revealed_ms)]
                .into_iter()
                .chain(cr.output.iter().map(move |&v| (format!("{at} output"), v)))
        });
        columns
            .iter()
            .find_map(|(what, values)| first_non_finite_in(what, values))
            .or_else(|| tasks.chain(rounds).find(|(_, v)| !v.is_finite()).map(|(what, v)| format!("{what} = {v}")))
            .or_else(|| values_and_params(&self.request_values, &self.params))
    }
}

fn values_and_params(values: &[assay_policy_sdk::RequestValues], params: &[assay_policy_sdk::Param]) -> Option<String> {
    if let Some(v) = values.iter().find(|v| v.values.iter().any(|x| !x.is_finite())) {
        return Some(format!("request {} has a non-finite value", v.request_id));
    }
    params.iter().find(|p| !p.value.is_finite()).map(|p| format!("parameter {} = {}", p.name, p.value))
}

impl Canonical for v0_1::EpochInput {
    fn first_non_finite(&self) -> Option<String> {
        for r in &self.requests {
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
        for c in &self.challenges {
            if c.points.iter().any(|p| !p.rel_l2.is_finite() || !p.cosine.is_finite()) {
                return Some(format!("challenge of request {} has a non-finite measurement", c.request_id));
            }
        }
        values_and_params(&self.request_values, &self.params)
    }
}

/// Canonical JSON of `input`; refuses non-finite numbers.
pub fn encode<T: Canonical>(input: &T) -> Result<Vec<u8>> {
    if let Some(what) = input.first_non_finite() {
        return Err(Error::NotCanonical(what));
    }
    serde_json::to_vec(input).map_err(|e| Error::NotCanonical(e.to_string()))
}

/// Parses canonical JSON, refusing any other spelling of the same data.
pub fn decode<T: Canonical>(bytes: &[u8]) -> Result<T> {
    let input: T = serde_json::from_slice(bytes).map_err(|e| Error::NotCanonical(e.to_string()))?;
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
    use assay_policy_sdk::v0_1::{ChallengeRecord, RequestRecord};
    use assay_policy_sdk::*;

    use super::*;

    fn sample_v0_1() -> v0_1::EpochInput {
        v0_1::EpochInput {
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

    /// The 0.2.0 input with the same records as [`sample_v0_1`], plus a token check, a second
    /// task and a commit-reveal round.
    fn sample() -> EpochInput {
        let old = sample_v0_1();
        let mut token_checks = TokenChecks::default();
        token_checks.push(0, &[TokenMeasurement { rank: 1, logprob: -0.75, top_logprob: -0.5 }]);
        EpochInput {
            netuid: old.netuid,
            epoch: old.epoch,
            block_start: old.block_start,
            block_end: old.block_end,
            tasks: vec![Task { name: "chat".into(), weight: 0.6 }, Task { name: "code".into(), weight: 0.4 }],
            miners: old.miners,
            requests: [Request {
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
                started_ms: 7,
            }]
            .into_iter()
            .collect(),
            token_checks,
            request_values: old.request_values,
            challenges: [Challenge {
                request_id: 1,
                uid: 1,
                verdict: Verdict::Void,
                reason: "x".into(),
                response_ms: Some(12.5),
                points: vec![PointMeasurement { layer: 2, position: 3, rel_l2: 1e-3, cosine: 0.5 }],
            }]
            .into_iter()
            .collect(),
            commit_reveals: vec![CommitReveal {
                round: 0,
                uid: 1,
                task: 1,
                reveal: Reveal::Valid,
                committed_ms: 1.0,
                revealed_ms: 2.0,
                output: vec![0.5],
            }],
            params: old.params,
            state: old.state,
        }
    }

    #[test]
    fn golden_encoding_v0_2() {
        let bytes = encode(&sample()).expect("encodes");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert_eq!(
            text,
            r#"{"netuid":3,"epoch":9,"block_start":100,"block_end":200,"tasks":[{"name":"chat","weight":0.6},{"name":"code","weight":0.4}],"miners":[{"uid":1,"hotkey":"hk","stake":5,"capacities":[{"task":0,"capacity":8}],"registered_at_block":2}],"requests":{"id":[1],"uid":[1],"task":[0],"kind":["organic"],"outcome":["rate-limited"],"greedy":[true],"prompt_tokens":[3],"completion_tokens":[4],"ttft_ms":[0.1],"total_ms":[1e+21],"reported_ttft_ms":[-1.0],"reported_tps":[2.5],"started_ms":[7]},"token_checks":{"request":[0],"token_start":[0],"rank":[1],"logprob":[-0.75],"top_logprob":[-0.5]},"request_values":[{"request_id":1,"values":[0.25,-3.0]}],"challenges":{"request_id":[1],"uid":[1],"verdict":["void"],"reason":[0],"response_ms":[12.5],"point_start":[0],"layer":[2],"position":[3],"rel_l2":[0.001],"cosine":[0.5],"reasons":["x"]},"commit_reveals":[{"round":0,"uid":1,"task":1,"reveal":"valid","committed_ms":1.0,"revealed_ms":2.0,"output":[0.5]}],"params":[{"name":"a","value":1.0}],"state":[0,255]}"#
        );
        assert_eq!(decode::<EpochInput>(&bytes).expect("decodes"), sample());
    }

    #[test]
    fn golden_encoding() {
        let bytes = encode(&sample_v0_1()).expect("encodes");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert_eq!(
            text,
            r#"{"netuid":3,"epoch":9,"block_start":100,"block_end":200,"tasks":["chat"],"miners":[{"uid":1,"hotkey":"hk","stake":5,"capacities":[{"task":0,"capacity":8}],"registered_at_block":2}],"requests":[{"id":1,"uid":1,"task":0,"kind":"organic","outcome":"rate-limited","greedy":true,"prompt_tokens":3,"completion_tokens":4,"ttft_ms":0.1,"total_ms":1e+21,"reported_ttft_ms":null,"reported_tps":2.5,"quality":null,"started_ms":7}],"request_values":[{"request_id":1,"values":[0.25,-3.0]}],"challenges":[{"request_id":1,"uid":1,"points":[{"layer":2,"position":3,"rel_l2":0.001,"cosine":0.5}],"verdict":"void","reason":"x"}],"params":[{"name":"a","value":1.0}],"state":[0,255]}"#
        );
        assert_eq!(decode::<v0_1::EpochInput>(&bytes).expect("decodes"), sample_v0_1());
    }

    #[test]
    fn other_spellings_and_non_finite_numbers_are_refused() {
        let text = String::from_utf8(encode(&sample()).expect("encodes")).expect("utf-8");
        for variant in [
            text.replace("\"epoch\":9", "\"epoch\": 9"),
            text.replace("\"value\":1.0", "\"value\":1"),
            text.replace("0.001", "1e-3"),
        ] {
            assert!(matches!(decode::<EpochInput>(variant.as_bytes()), Err(Error::NotCanonical(_))), "{variant}");
        }
        assert!(decode::<EpochInput>(text.replace("\"netuid\":3,", "").as_bytes()).is_err());
        assert!(decode::<EpochInput>(text.replace("\"state\"", "\"extra\":1,\"state\"").as_bytes()).is_err());
        // A 0.1.0 input is not a 0.2.0 one, nor the other way round.
        let old = String::from_utf8(encode(&sample_v0_1()).expect("encodes")).expect("utf-8");
        assert!(decode::<EpochInput>(old.as_bytes()).is_err());
        assert!(decode::<v0_1::EpochInput>(text.as_bytes()).is_err());
        let mut bad = sample_v0_1();
        bad.requests[0].ttft_ms = f64::INFINITY;
        assert!(encode(&bad).unwrap_err().to_string().contains("ttft_ms"));
        let mut bad = sample();
        bad.params[0].value = f64::NAN;
        assert!(encode(&bad).is_err());
        // Every new float column is checked too.
        type Mutation = (&'static str, fn(&mut EpochInput));
        let mutations: [Mutation; 6] = [
            ("requests.reported_tps", |i| i.requests.reported_tps[0] = f64::NAN),
            ("token_checks.logprob", |i| i.token_checks.logprob[0] = f64::NEG_INFINITY),
            ("challenges.response_ms", |i| i.challenges.response_ms[0] = f64::INFINITY),
            ("challenges.cosine", |i| i.challenges.cosine[0] = f64::NAN),
            ("task code weight", |i| i.tasks[1].weight = f64::NAN),
            ("revealed_ms", |i| i.commit_reveals[0].revealed_ms = f64::INFINITY),
        ];
        for (what, mutate) in mutations {
            let mut bad = sample();
            mutate(&mut bad);
            let err = encode(&bad).expect_err(what).to_string();
            assert!(err.contains(what), "{err:?} should name {what}");
        }
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
        assert_eq!(decode::<EpochInput>(&bytes).expect("decodes"), input);
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
