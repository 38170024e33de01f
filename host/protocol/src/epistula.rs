//! Epistula v2: the Bittensor ecosystem's request-signing convention (FACTS.md).
//!
//! Headers `Epistula-Version: 2`, `Epistula-Timestamp` (unix ms), `Epistula-Uuid` (uuid4),
//! `Epistula-Signed-By` (SS58), `Epistula-Signed-For` (SS58, optional) and
//! `Epistula-Request-Signature` (`0x` + hex of a 64-byte signature) over
//! `"{sha256(body) hex}.{uuid}.{timestamp}.{signed_for or ''}"`. sr25519 (context `substrate`)
//! is the ecosystem's scheme; ed25519 signatures are accepted too. A receiver refuses requests
//! signed for someone else, older than its window (or from the future beyond it), and uuids it
//! has already seen within the window. Header parsing ([`parse_headers`], [`Signed::from_headers`])
//! is a pure function of the header values: bounded, and total over any input.

mod replay;

use std::sync::{Arc, Mutex};

use assay_keys::{Hotkey, PublicKey, Scheme, decode_ss58};
use sha2::{Digest, Sha256};

pub const VERSION: &str = "2";
pub const HEADER_VERSION: &str = "Epistula-Version";
pub const HEADER_TIMESTAMP: &str = "Epistula-Timestamp";
pub const HEADER_UUID: &str = "Epistula-Uuid";
pub const HEADER_SIGNED_BY: &str = "Epistula-Signed-By";
pub const HEADER_SIGNED_FOR: &str = "Epistula-Signed-For";
pub const HEADER_SIGNATURE: &str = "Epistula-Request-Signature";

/// How far a request's timestamp may be from the receiver's clock.
pub const DEFAULT_WINDOW_MS: u64 = 8_000;
/// Uuids remembered at once, by default: at 1,000 requests a second over twice the default
/// window, 16,000 are held; past the bound new requests are refused, never old uuids forgotten.
pub const DEFAULT_REPLAY_CAPACITY: usize = 1 << 20;
/// The longest SS58 address a header may carry (a 32-byte key's is 47 or 48 characters).
const MAX_ADDRESS_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpistulaError {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("malformed header {0}: {1}")]
    Malformed(&'static str, String),
    #[error("unsupported Epistula version {0:?}")]
    Version(String),
    #[error("request is {age_ms} ms old, past the {window_ms} ms window")]
    Stale { age_ms: u64, window_ms: u64 },
    #[error("request is dated {ahead_ms} ms in the future")]
    Future { ahead_ms: u64 },
    #[error("request was signed for {0}, not for this receiver")]
    WrongRecipient(String),
    #[error("request uuid {0} was already seen")]
    Replayed(String),
    #[error("signature does not verify for {0}")]
    BadSignature(String),
    #[error("signer {0} is not allowed here")]
    NotAllowed(String),
    #[error("too many requests within the replay window; retry later")]
    Busy,
}

/// The Epistula headers of one request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub timestamp_ms: u64,
    pub uuid: String,
    pub signed_by: String,
    pub signed_for: Option<String>,
    /// `0x` + 128 hex characters.
    pub signature: String,
}

/// The message a signature covers.
pub fn message(body: &[u8], uuid: &str, timestamp_ms: u64, signed_for: Option<&str>) -> String {
    format!("{}.{uuid}.{timestamp_ms}.{}", hex::encode(Sha256::digest(body)), signed_for.unwrap_or(""))
}

/// Signs `body` for `signed_for` (an SS58 address) at `now_ms`, with a fresh uuid4.
pub fn sign(hotkey: &Hotkey, body: &[u8], signed_for: Option<&str>, now_ms: u64) -> Signed {
    let uuid = uuid::Uuid::new_v4().to_string();
    let signature = hotkey.sign(message(body, &uuid, now_ms, signed_for).as_bytes());
    Signed {
        timestamp_ms: now_ms,
        uuid,
        signed_by: hotkey.ss58(),
        signed_for: signed_for.map(str::to_string),
        signature: format!("0x{}", hex::encode(signature)),
    }
}

impl Signed {
    /// The headers to send, as (name, value) pairs.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (HEADER_VERSION, VERSION.to_string()),
            (HEADER_TIMESTAMP, self.timestamp_ms.to_string()),
            (HEADER_UUID, self.uuid.clone()),
            (HEADER_SIGNED_BY, self.signed_by.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ];
        if let Some(to) = &self.signed_for {
            out.push((HEADER_SIGNED_FOR, to.clone()));
        }
        out
    }

    /// Reads the headers through `get` (a case-insensitive lookup into the request's headers).
    /// Every value is checked for its form here, before any arithmetic or cryptography.
    pub fn from_headers(get: impl Fn(&str) -> Option<String>) -> Result<Self, EpistulaError> {
        let required = |name: &'static str| get(name).ok_or(EpistulaError::Missing(name));
        let version = required(HEADER_VERSION)?;
        if version.trim() != VERSION {
            return Err(EpistulaError::Version(version.chars().take(16).collect()));
        }
        let timestamp_ms = required(HEADER_TIMESTAMP)?
            .trim()
            .parse()
            .map_err(|_| EpistulaError::Malformed(HEADER_TIMESTAMP, "not an integer of milliseconds".into()))?;
        let uuid = required(HEADER_UUID)?;
        if uuid.len() > 36 || uuid::Uuid::parse_str(&uuid).is_err() {
            return Err(EpistulaError::Malformed(HEADER_UUID, "not a uuid".into()));
        }
        let signature = required(HEADER_SIGNATURE)?;
        let hex_sig = signature.strip_prefix("0x").unwrap_or(&signature);
        if hex_sig.len() != 128 || !hex_sig.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EpistulaError::Malformed(HEADER_SIGNATURE, "not 0x and 64 bytes of hex".into()));
        }
        let address = |name: &'static str, value: String| {
            if value.len() > MAX_ADDRESS_CHARS {
                return Err(EpistulaError::Malformed(name, format!("longer than {MAX_ADDRESS_CHARS} characters")));
            }
            Ok(value)
        };
        Ok(Self {
            timestamp_ms,
            uuid,
            signed_by: address(HEADER_SIGNED_BY, required(HEADER_SIGNED_BY)?)?,
            signed_for: get(HEADER_SIGNED_FOR)
                .filter(|s| !s.is_empty())
                .map(|s| address(HEADER_SIGNED_FOR, s))
                .transpose()?,
            signature,
        })
    }

    /// The signature over `body` as an sr25519 claim, for checking many at once with
    /// [`assay_keys::verify_sr25519_batch`] (no clock, no replay state). A batch that fails is
    /// re-checked claim by claim with [`Signed::verify_signature`], which also accepts ed25519.
    pub fn sr25519_claim(&self, body: &[u8]) -> Result<assay_keys::Sr25519Claim, EpistulaError> {
        let key =
            decode_ss58(&self.signed_by).map_err(|e| EpistulaError::Malformed(HEADER_SIGNED_BY, e.to_string()))?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(self.signature.strip_prefix("0x").unwrap_or(&self.signature), &mut signature)
            .map_err(|_| EpistulaError::Malformed(HEADER_SIGNATURE, "not 64 bytes of hex".into()))?;
        let message = message(body, &self.uuid, self.timestamp_ms, self.signed_for.as_deref()).into_bytes();
        Ok(assay_keys::Sr25519Claim { key, message, signature })
    }

    /// Checks the signature over `body` alone (no clock, no replay state): for evidence that is
    /// re-checked later by anyone. Returns the signer's key.
    pub fn verify_signature(&self, body: &[u8]) -> Result<PublicKey, EpistulaError> {
        let key =
            decode_ss58(&self.signed_by).map_err(|e| EpistulaError::Malformed(HEADER_SIGNED_BY, e.to_string()))?;
        let hex_sig = self.signature.strip_prefix("0x").unwrap_or(&self.signature);
        let signature =
            hex::decode(hex_sig).map_err(|_| EpistulaError::Malformed(HEADER_SIGNATURE, "not hex".into()))?;
        let message = message(body, &self.uuid, self.timestamp_ms, self.signed_for.as_deref());
        // An SS58 address does not say its scheme: sr25519 first (Bittensor's), then ed25519.
        for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
            let public = PublicKey { scheme, bytes: key };
            if public.verify(message.as_bytes(), &signature).is_ok() {
                return Ok(public);
            }
        }
        Err(EpistulaError::BadSignature(self.signed_by.clone()))
    }
}

/// [`Signed::from_headers`] over (name, value) pairs, names matched without regard to case: the
/// form a fuzz target or a test holds headers in.
pub fn parse_headers<N: AsRef<str>, V: AsRef<str>>(
    headers: impl IntoIterator<Item = (N, V)>,
) -> Result<Signed, EpistulaError> {
    let headers: Vec<(N, V)> = headers.into_iter().collect();
    Signed::from_headers(|name| {
        headers.iter().find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref().to_string())
    })
}

/// Who may sign requests to a receiver; asked on every request, so the answer may change (a
/// metagraph refreshed in the background).
pub trait Allow: Send + Sync {
    fn allows(&self, signer: &str) -> bool;
}

impl<F: Fn(&str) -> bool + Send + Sync> Allow for F {
    fn allows(&self, signer: &str) -> bool {
        self(signer)
    }
}

/// A receiver's checks: recipient, clock window, replay, signature, and optionally who may sign.
pub struct Verifier {
    /// This receiver's SS58 address; requests signed for another are refused.
    me: String,
    window_ms: u64,
    allowed: Option<Arc<dyn Allow>>,
    seen: Mutex<replay::ReplayCache>,
}

impl Verifier {
    pub fn new(me: impl Into<String>, window_ms: u64) -> Self {
        Self {
            me: me.into(),
            window_ms,
            allowed: None,
            seen: Mutex::new(replay::ReplayCache::new(DEFAULT_REPLAY_CAPACITY)),
        }
    }

    /// Only these signers (SS58) are accepted.
    pub fn allow_only(self, signers: Vec<String>) -> Self {
        self.allow(Arc::new(move |signer: &str| signers.iter().any(|s| s == signer)))
    }

    /// Only signers `allowed` allows are accepted.
    pub fn allow(mut self, allowed: Arc<dyn Allow>) -> Self {
        self.allowed = Some(allowed);
        self
    }

    /// At most `capacity` uuids are remembered; past it, requests are refused ([`EpistulaError::Busy`]).
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.seen = Mutex::new(replay::ReplayCache::new(capacity));
        self
    }

    pub fn verify(&self, signed: &Signed, body: &[u8], now_ms: u64) -> Result<PublicKey, EpistulaError> {
        match &signed.signed_for {
            Some(to) if *to == self.me => {}
            Some(to) => return Err(EpistulaError::WrongRecipient(to.clone())),
            None => return Err(EpistulaError::Missing(HEADER_SIGNED_FOR)),
        }
        // `abs_diff`: a timestamp anywhere in u64 cannot overflow the window arithmetic.
        let distance = now_ms.abs_diff(signed.timestamp_ms);
        if distance > self.window_ms {
            return Err(if signed.timestamp_ms < now_ms {
                EpistulaError::Stale { age_ms: distance, window_ms: self.window_ms }
            } else {
                EpistulaError::Future { ahead_ms: distance }
            });
        }
        if let Some(allowed) = &self.allowed
            && !allowed.allows(&signed.signed_by)
        {
            return Err(EpistulaError::NotAllowed(signed.signed_by.clone()));
        }
        let key = signed.verify_signature(body)?;
        // Only a verified request may take a uuid, so forgeries cannot burn honest uuids. A uuid
        // is kept for twice the window from now: past that its timestamp is out of the window.
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.insert(&signed.uuid, now_ms, now_ms.saturating_add(self.window_ms.saturating_mul(2)))?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests;
