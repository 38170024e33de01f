//! How much a miner may send back, derived from what was asked: a completion's bytes grow with
//! its `max_tokens`, its log-probs and its prompt (the evidence repeats the prompt's ids), an
//! opening's with its points, a round's reveal with the hidden size, and `info` and a round's
//! commitment are small. Past its bound a response is the miner's
//! fault (`bad-response`) and is read no further.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `[miners]` in the node's config: how the validator talks to miners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Axons on loopback, private, link-local or other non-public addresses (and host names) are
    /// refused unless this is set (a devnet on one machine sets it).
    #[serde(default)]
    pub allow_private_axons: bool,
    /// The completion length a response is sized for when the request names none.
    #[serde(default = "default_max_tokens_when_unset")]
    pub max_tokens_when_unset: u64,
    /// Bytes any completion may take beyond its tokens (envelopes, usage, the signature).
    #[serde(default = "default_base_bytes")]
    pub response_base_bytes: u64,
    /// Bytes per completion token (a streamed chunk and its id in the evidence).
    #[serde(default = "default_bytes_per_token")]
    pub response_bytes_per_token: u64,
    /// Bytes per log-prob per token (the chosen one and each of `top_logprobs`).
    #[serde(default = "default_bytes_per_logprob")]
    pub response_bytes_per_logprob: u64,
    /// Bytes per byte of the request (the evidence lists the prompt's token ids).
    #[serde(default = "default_bytes_per_request_byte")]
    pub response_bytes_per_request_byte: u64,
    /// No completion, opening or `info` answer is read past this, whatever was asked.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// `GET /assay/v1/info` answers are read up to this.
    #[serde(default = "default_info_bytes")]
    pub info_max_bytes: u64,
}

fn default_max_tokens_when_unset() -> u64 {
    32_768
}
fn default_base_bytes() -> u64 {
    64 << 10
}
fn default_bytes_per_token() -> u64 {
    1 << 10
}
fn default_bytes_per_logprob() -> u64 {
    512
}
fn default_bytes_per_request_byte() -> u64 {
    8
}
fn default_max_response_bytes() -> u64 {
    64 << 20
}
fn default_info_bytes() -> u64 {
    64 << 10
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_private_axons: false,
            max_tokens_when_unset: default_max_tokens_when_unset(),
            response_base_bytes: default_base_bytes(),
            response_bytes_per_token: default_bytes_per_token(),
            response_bytes_per_logprob: default_bytes_per_logprob(),
            response_bytes_per_request_byte: default_bytes_per_request_byte(),
            max_response_bytes: default_max_response_bytes(),
            info_max_bytes: default_info_bytes(),
        }
    }
}

impl Settings {
    /// Settings for miners on this machine or a private network: tests and the devnet.
    pub fn private_network() -> Self {
        Self { allow_private_axons: true, ..Self::default() }
    }

    /// What serde cannot check: `Err((key, reason))` for the first bad value.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (key, value) in [
            ("max_tokens_when_unset", self.max_tokens_when_unset),
            ("response_bytes_per_token", self.response_bytes_per_token),
            ("max_response_bytes", self.max_response_bytes),
            ("info_max_bytes", self.info_max_bytes),
        ] {
            if value == 0 {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        Ok(())
    }

    /// The most an opening of `points` vectors of `hidden_size` values may take: base64 of f32
    /// values, a Merkle path of at most 64 hex hashes, and the JSON around them.
    pub fn open_bytes(&self, points: usize, hidden_size: usize) -> usize {
        let per_point = (hidden_size as u64).saturating_mul(4).saturating_mul(4) / 3 + 64 * 70 + 256;
        let bytes = self.response_base_bytes.saturating_add((points as u64).saturating_mul(per_point));
        clamp(bytes.min(self.max_response_bytes))
    }

    /// The most a round's commitment may take: a hash, a round id and a signature, within
    /// `response_base_bytes`.
    pub fn commit_bytes(&self) -> usize {
        clamp(self.response_base_bytes.min(self.max_response_bytes))
    }

    /// The most a round's reveal of `hidden_size` values may take: the base64 of their f32
    /// bytes (`hidden_size` capped at `MAX_OUTPUT_VALUES`, whatever `info` declares) beyond
    /// `response_base_bytes`.
    pub fn reveal_bytes(&self, hidden_size: usize) -> usize {
        let values = hidden_size.min(assay_protocol::commit_reveal::MAX_OUTPUT_VALUES) as u64;
        let base64 = (values * 4).div_ceil(3) * 4;
        clamp(self.response_base_bytes.saturating_add(base64).min(self.max_response_bytes))
    }
}

fn clamp(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// What a completion request lets its answer be.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub streaming: bool,
    /// The completion tokens asked for, at most.
    pub max_tokens: u64,
    /// Stop strings: the text is cut before the first one.
    pub stops: Vec<String>,
    /// Whether the request carries the `assay` extension, so signed evidence must come back.
    pub evidence: bool,
    /// Bytes of the whole answer, at most.
    pub max_bytes: usize,
}

/// The completion's bound a request names: `max_completion_tokens`, which takes precedence (as
/// in vLLM and the reference miner), else `max_tokens`. The one reading of it, for the miner
/// client's bounds and the verifier's.
pub fn max_tokens_asked(request: &Map<String, Value>) -> Option<u64> {
    ["max_completion_tokens", "max_tokens"].iter().find_map(|k| request.get(*k).and_then(Value::as_u64))
}

impl Expect {
    /// What `request` (its JSON and its length on the wire) allows under `settings`.
    pub fn of(request: &Map<String, Value>, request_bytes: usize, settings: &Settings) -> Self {
        let max_tokens = max_tokens_asked(request).unwrap_or(settings.max_tokens_when_unset);
        let logprobs = match request.get("logprobs") {
            Some(Value::Bool(true)) => {
                request.get("top_logprobs").and_then(Value::as_u64).unwrap_or(0).saturating_add(1)
            }
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0).saturating_add(1),
            _ => 0,
        };
        let stops = match request.get("stop") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let per_token = settings
            .response_bytes_per_token
            .saturating_add(logprobs.saturating_mul(settings.response_bytes_per_logprob));
        let bytes = settings
            .response_base_bytes
            .saturating_add((request_bytes as u64).saturating_mul(settings.response_bytes_per_request_byte))
            .saturating_add(max_tokens.saturating_mul(per_token));
        Self {
            streaming: request.get("stream").and_then(Value::as_bool).unwrap_or(false),
            max_tokens,
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            evidence: request.get("assay").is_some_and(|a| !a.is_null()),
            max_bytes: clamp(bytes.min(settings.max_response_bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(request: Value, settings: &Settings) -> Expect {
        Expect::of(request.as_object().expect("an object"), 100, settings)
    }

    #[test]
    fn the_bound_grows_with_what_was_asked() {
        let s = Settings::default();
        let short = of(json!({"max_tokens": 16}), &s);
        assert_eq!(short.max_tokens, 16);
        assert_eq!(short.max_bytes, (64 << 10) + 800 + 16 * 1024);
        let with_logprobs = of(json!({"max_tokens": 16, "logprobs": true, "top_logprobs": 5}), &s);
        assert_eq!(with_logprobs.max_bytes, (64 << 10) + 800 + 16 * (1024 + 6 * 512));
        let completions = of(json!({"max_tokens": 16, "logprobs": 2}), &s);
        assert_eq!(completions.max_bytes, (64 << 10) + 800 + 16 * (1024 + 3 * 512));
        let unset = of(json!({"stream": true, "stop": ["a", ""], "assay": {}}), &s);
        assert_eq!((unset.max_tokens, unset.streaming, unset.evidence), (32_768, true, true));
        assert_eq!(unset.stops, ["a"]);
        let huge = of(json!({"max_tokens": u64::MAX, "logprobs": true, "top_logprobs": u64::MAX}), &s);
        assert_eq!(huge.max_bytes, 64 << 20, "saturates at the ceiling");
        assert!(s.open_bytes(16, 3584) < 1 << 20);
        assert_eq!(s.open_bytes(usize::MAX, usize::MAX), 64 << 20);
        // 64 values: 256 bytes, 344 of base64 (4 × ⌈256 / 3⌉ = 4 × 86).
        assert_eq!(s.reveal_bytes(64), (64 << 10) + 344);
        // Capped at 65,536 values whatever info says: 262,144 bytes, 4 × ⌈262,144 / 3⌉ = 349,528 of base64.
        assert_eq!(s.reveal_bytes(usize::MAX), (64 << 10) + 349_528);
        assert_eq!(s.commit_bytes(), 64 << 10);
    }
}
