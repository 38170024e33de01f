//! Users' API keys (`Authorization: Bearer …`) and their per-key rate limits (token buckets).
//! Keys are held by their sha256, so the lookup does not compare secrets byte by byte.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// One user key, as `[[gateway.keys]]` in the config names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Who the key belongs to (for logs).
    pub name: String,
    pub key: String,
    #[serde(default = "default_rpm")]
    pub requests_per_minute: u32,
    /// Requests that may come at once; a sixth of a minute's worth when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// The key's user agreed to publish its prompts and completions in the public dataset.
    /// Off by default: then the dataset keeps only their hashes, token counts and timings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publish_text: bool,
}

/// A key admitted for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted<'a> {
    /// Shared, so that the metrics label requests by it without copying it.
    pub name: &'a std::sync::Arc<str>,
    pub publish_text: bool,
}

fn default_rpm() -> u32 {
    600
}

struct Bucket {
    name: std::sync::Arc<str>,
    publish_text: bool,
    per_second: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

pub struct Keys {
    by_hash: HashMap<[u8; 32], Bucket>,
}

impl Keys {
    pub fn new(keys: &[ApiKey]) -> Self {
        let now = Instant::now();
        let by_hash = keys
            .iter()
            .map(|k| {
                let capacity = f64::from(k.burst.unwrap_or(k.requests_per_minute / 6).max(1));
                let bucket = Bucket {
                    name: k.name.as_str().into(),
                    publish_text: k.publish_text,
                    per_second: f64::from(k.requests_per_minute) / 60.0,
                    capacity,
                    state: Mutex::new((capacity, now)),
                };
                (Sha256::digest(k.key.as_bytes()).into(), bucket)
            })
            .collect();
        Self { by_hash }
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Checks the `Authorization` header and takes one request from the key's bucket; returns
    /// the key's name and whether its text may be published.
    pub fn admit(&self, authorization: Option<&str>) -> Result<Admitted<'_>, ApiError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("no API key: send it as `Authorization: Bearer <key>`".into()))?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let bucket = self.by_hash.get(&hash).ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))?;
        let mut state = bucket.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = *state;
        let refilled = (tokens + now.duration_since(last).as_secs_f64() * bucket.per_second).min(bucket.capacity);
        if refilled < 1.0 {
            *state = (refilled, now);
            return Err(ApiError::RateLimited);
        }
        *state = (refilled - 1.0, now);
        Ok(Admitted { name: &bucket.name, publish_text: bucket.publish_text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(rpm: u32, burst: u32) -> Keys {
        Keys::new(&[
            ApiKey {
                name: "alice".into(),
                key: "sk-a".into(),
                requests_per_minute: rpm,
                burst: Some(burst),
                publish_text: false,
            },
            ApiKey {
                name: "bob".into(),
                key: "sk-b".into(),
                requests_per_minute: rpm,
                burst: Some(burst),
                publish_text: true,
            },
        ])
    }

    #[test]
    fn a_key_is_admitted_until_its_burst_is_spent() {
        let keys = keys(60, 3);
        for _ in 0..3 {
            let admitted = keys.admit(Some("Bearer sk-a")).map(|a| (a.name.to_string(), a.publish_text));
            assert_eq!(admitted, Ok(("alice".to_string(), false)));
        }
        let admitted = keys.admit(Some("Bearer sk-b")).map(|a| (a.name.to_string(), a.publish_text));
        assert_eq!(admitted, Ok(("bob".to_string(), true)));
        assert_eq!(keys.admit(Some("Bearer sk-a")), Err(ApiError::RateLimited));
    }

    #[test]
    fn missing_malformed_and_unknown_keys_are_refused() {
        let keys = keys(60, 3);
        for header in [None, Some("sk-a"), Some("Bearer "), Some("Bearer sk-c"), Some("Basic sk-a")] {
            assert!(matches!(keys.admit(header), Err(ApiError::Unauthorized(_))), "{header:?}");
        }
    }

    #[test]
    fn the_bucket_refills_with_time() {
        let keys = keys(60_000, 1); // a thousand a second
        assert!(keys.admit(Some("Bearer sk-a")).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(keys.admit(Some("Bearer sk-a")).is_ok());
    }
}
