//! The signed epoch summary: what was scored, with what, under which limits, with which result.
//!
//! The signature covers the summary's JSON without its `signature` field, re-serialized compactly
//! from the parsed document, so every byte of meaning is covered (a field added, removed or
//! changed breaks it) while whitespace is not.

use assay_keys::{Hotkey, PublicKey, Scheme, decode_ss58};
use assay_policy_sdk::{MinerScore, Weight};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `/4`: `previous`, the validator's previous published summary by epoch and sha256, a hash
/// chain (docs/decisions/0006-summary-hash-chain.md); `/3`: `shadow`, a scorer announced by the
/// subnet owner run beside the active one (docs/decisions/0005-policy-announcements.md); `/2`:
/// the state limit under `limits`, and `unscored` (docs/decisions/0002-epoch-summary.md).
pub const FORMAT: &str = "assay-epoch-summary/4";

/// The format before `previous` (it named only the epoch just before, by
/// `previous_summary_sha256`): still read, never written.
pub const FORMAT_3: &str = "assay-epoch-summary/3";

/// The format before `shadow`: still read (a validator's chain of summaries crosses its host's
/// upgrade), never written.
pub const FORMAT_2: &str = "assay-epoch-summary/2";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    pub scheme: String,
    /// SS58 address of the validator hotkey.
    pub hotkey: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRef {
    pub sha256: String,
    pub key: String,
}

/// The active scorer failed and the previous one scored the epoch instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub failed_sha256: String,
    pub reason: String,
}

/// No scorer could score the epoch, each through its own fault: the summary's output is empty,
/// no weights were set and the input's state is handed on unchanged. An audit's rerun must fail
/// with the same `kind` (`out-of-fuel`, `memory-limit`, `trap`, `refused`, `invalid-output`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unscored {
    pub kind: String,
    pub reason: String,
}

/// A scorer the subnet owner announced, run in shadow one epoch before it takes over: on the
/// epoch's input with an empty state (it has no history on this validator), its output published
/// beside the active scorer's, its weights never set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shadow {
    pub scorer: PolicyRef,
    /// Its output: the JSON of an [`OutputRecord`] (empty when it could not score).
    pub output: ObjectRef,
    /// Set when the shadow scorer failed through its own fault; an audit's rerun must fail the
    /// same way.
    pub unscored: Option<Unscored>,
}

/// The validator's previous published summary: its epoch (any earlier one: a validator that was
/// down skips epochs) and the sha256 of its file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Previous {
    pub epoch: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsRecord {
    pub fuel: u64,
    pub memory_bytes: u64,
    /// The most state a scorer may hand on, in bytes.
    pub state_bytes: u64,
}

impl LimitsRecord {
    pub fn of(limits: assay_policy_runtime::Limits) -> Self {
        Self { fuel: limits.fuel, memory_bytes: limits.memory_bytes, state_bytes: limits.state_bytes }
    }

    pub fn limits(&self) -> assay_policy_runtime::Limits {
        assay_policy_runtime::Limits { fuel: self.fuel, memory_bytes: self.memory_bytes, state_bytes: self.state_bytes }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputRef {
    pub key: String,
    /// sha256 of the canonical JSON.
    pub sha256: String,
    /// sha256 of the published zstd file.
    pub zst_sha256: String,
    pub json_bytes: u64,
    /// sha256 of the state blob the scorer was given (the previous epoch's output state).
    pub state_sha256: String,
    pub requests: u64,
    pub challenges: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRecord {
    pub scores: Vec<MinerScore>,
    /// Exactly what was sent to the chain.
    pub weights: Vec<Weight>,
    pub state_sha256: String,
    pub fuel_used: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    pub key: String,
    pub sha256: String,
}

/// Challenge seeds: this epoch's, revealed now, and a commitment to the next one's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRecord {
    pub reveal: String,
    pub next_commitment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub format: String,
    pub netuid: u16,
    pub epoch: u64,
    pub block_start: u64,
    pub block_end: u64,
    pub validator: Validator,
    pub contract: String,
    pub scorer: PolicyRef,
    pub scorer_fallback: Option<Fallback>,
    /// Set when the epoch could not be scored (then `output` is empty).
    pub unscored: Option<Unscored>,
    /// The scorer announced to take over next, run beside `scorer` (`/3`; absent in `/2`).
    #[serde(default)]
    pub shadow: Option<Shadow>,
    pub challenger: Option<String>,
    pub limits: LimitsRecord,
    pub input: InputRef,
    pub output: OutputRecord,
    pub dataset: ObjectRef,
    /// `/4`: the validator's previous published summary; `None` for its first.
    #[serde(default)]
    pub previous: Option<Previous>,
    /// `/3` and `/2` only: the sha256 of the epoch just before's summary (absent in `/4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_summary_sha256: Option<String>,
    pub seed: SeedRecord,
    pub host_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The document's bytes that the signature covers.
fn signed_bytes(mut document: serde_json::Value) -> Result<Vec<u8>> {
    let object = document.as_object_mut().ok_or_else(|| Error::Summary("not a JSON object".into()))?;
    object.remove("signature");
    serde_json::to_vec(&document).map_err(|e| Error::Summary(e.to_string()))
}

impl Summary {
    pub fn public_key(&self) -> Result<PublicKey> {
        let scheme = Scheme::parse(&self.validator.scheme)?;
        Ok(PublicKey { scheme, bytes: decode_ss58(&self.validator.hotkey)? })
    }

    /// Signs with `hotkey` (which must be the summary's validator) and returns the file's bytes.
    pub fn sign(&mut self, hotkey: &Hotkey) -> Result<Vec<u8>> {
        if hotkey.ss58() != self.validator.hotkey {
            return Err(Error::Summary(format!(
                "signing key {} is not the validator {}",
                hotkey.ss58(),
                self.validator.hotkey
            )));
        }
        self.signature = None;
        let document = serde_json::to_value(&*self).map_err(|e| Error::Summary(e.to_string()))?;
        let signature = hotkey.sign(&signed_bytes(document)?);
        self.signature = Some(format!("0x{}", hex::encode(signature)));
        let mut bytes = serde_json::to_vec_pretty(&*self).map_err(|e| Error::Summary(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// The format is one this host reads, with only that format's fields.
    fn check_format(&self) -> Result<()> {
        let format = self.format.as_str();
        if ![FORMAT, FORMAT_3, FORMAT_2].contains(&format) {
            return Err(Error::Summary(format!("format {format:?} is none of {FORMAT:?}, {FORMAT_3:?}, {FORMAT_2:?}")));
        }
        if format == FORMAT_2 && self.shadow.is_some() {
            return Err(Error::Summary(format!("a {FORMAT_2:?} summary has no shadow scorer")));
        }
        if format == FORMAT && self.previous_summary_sha256.is_some() {
            return Err(Error::Summary(format!("a {FORMAT:?} summary names its previous one by `previous`")));
        }
        if format != FORMAT && self.previous.is_some() {
            return Err(Error::Summary(format!("a {format:?} summary has no `previous`")));
        }
        Ok(())
    }

    /// The summary this one chains to, as `(epoch, sha256)`: `/4`'s `previous`; for `/3` and
    /// `/2`, the epoch just before by `previous_summary_sha256`.
    pub fn previous_link(&self) -> Option<(u64, &str)> {
        match &self.previous {
            Some(p) => Some((p.epoch, p.sha256.as_str())),
            None => self
                .previous_summary_sha256
                .as_deref()
                .filter(|_| self.format != FORMAT && self.epoch > 0)
                .map(|sha| (self.epoch - 1, sha)),
        }
    }

    /// Parses a summary file and checks its signature against the validator key it names.
    /// Err(Summary) for a file that is not a summary; Err(Keys) for a bad signature.
    pub fn parse_and_verify(bytes: &[u8]) -> Result<Self> {
        let document: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::Summary(format!("not JSON: {e}")))?;
        let summary: Summary =
            serde_json::from_value(document.clone()).map_err(|e| Error::Summary(format!("not a summary: {e}")))?;
        summary.check_format()?;
        let signature = summary.signature.as_deref().ok_or_else(|| Error::Summary("it is not signed".into()))?;
        let signature = hex::decode(signature.strip_prefix("0x").unwrap_or(signature))
            .map_err(|_| assay_keys::Error::BadSignature("not hex".into()))?;
        summary.public_key()?.verify(&signed_bytes(document)?, &signature)?;
        Ok(summary)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(hotkey: &Hotkey) -> Summary {
        Summary {
            format: FORMAT.into(),
            netuid: 1,
            epoch: 2,
            block_start: 200,
            block_end: 299,
            validator: Validator { scheme: hotkey.scheme().to_string(), hotkey: hotkey.ss58() },
            contract: "assay:policy@0.1.0".into(),
            scorer: PolicyRef { sha256: "ab".repeat(32), key: format!("policies/{}.wasm", "ab".repeat(32)) },
            scorer_fallback: None,
            unscored: None,
            shadow: None,
            challenger: None,
            limits: LimitsRecord { fuel: 1 << 40, memory_bytes: 1 << 29, state_bytes: 1 << 20 },
            input: InputRef {
                key: "epochs/1/2/input.json.zst".into(),
                sha256: "00".repeat(32),
                zst_sha256: "11".repeat(32),
                json_bytes: 10,
                state_sha256: "22".repeat(32),
                requests: 3,
                challenges: 4,
            },
            output: OutputRecord {
                scores: vec![MinerScore {
                    uid: 3,
                    score: 0.123456789,
                    components: vec![assay_policy_sdk::Param { name: "x".into(), value: 1e-7 }],
                }],
                weights: vec![Weight { uid: 3, weight: 65535 }],
                state_sha256: "33".repeat(32),
                fuel_used: 12345,
            },
            dataset: ObjectRef { key: "dataset/1/2/requests.jsonl.zst".into(), sha256: "44".repeat(32) },
            previous: Some(Previous { epoch: 1, sha256: "77".repeat(32) }),
            previous_summary_sha256: None,
            seed: SeedRecord { reveal: "55".repeat(32), next_commitment: "66".repeat(32) },
            host_version: "assay test".into(),
            signature: None,
        }
    }

    #[test]
    fn signed_summaries_verify_and_any_change_breaks_them() {
        for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
            let key = Hotkey::from_seed(scheme, [4; 32]).expect("key");
            let mut summary = sample(&key);
            let bytes = summary.sign(&key).expect("signs");
            let parsed = Summary::parse_and_verify(&bytes).expect("verifies");
            assert_eq!(parsed, summary);
            let text = String::from_utf8(bytes).expect("utf-8");
            for (from, to) in [("65535", "65534"), ("\"epoch\": 2", "\"epoch\": 3"), ("0.123456789", "0.12345679")] {
                let tampered = text.replacen(from, to, 1);
                assert_ne!(tampered, text, "{from}");
                let err = Summary::parse_and_verify(tampered.as_bytes()).unwrap_err();
                assert!(matches!(err, Error::Keys(_)), "{scheme} {from}: {err}");
            }
            // Whitespace is not covered.
            let compact =
                serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(&text).expect("json")).expect("json");
            Summary::parse_and_verify(&compact).expect("whitespace does not matter");
            let other = Hotkey::from_seed(scheme, [5; 32]).expect("key");
            assert!(summary.sign(&other).is_err());
        }
    }

    #[test]
    fn an_older_format_is_refused_by_name() {
        let key = Hotkey::from_seed(Scheme::Sr25519, [4; 32]).expect("key");
        let mut summary = sample(&key);
        summary.format = "assay-epoch-summary/1".into();
        let bytes = summary.sign(&key).expect("signs");
        let err = Summary::parse_and_verify(&bytes).unwrap_err().to_string();
        assert!(err.contains("\"assay-epoch-summary/1\" is none of \"assay-epoch-summary/4\""), "{err}");
    }

    #[test]
    fn a_format_2_summary_still_reads_without_a_shadow() {
        let key = Hotkey::from_seed(Scheme::Sr25519, [4; 32]).expect("key");
        let mut summary = sample(&key);
        summary.format = FORMAT_2.into();
        summary.previous = None;
        summary.previous_summary_sha256 = Some("77".repeat(32));
        let bytes = summary.sign(&key).expect("signs");
        // As /2 wrote it: no `shadow` key at all, the signature over that document.
        let mut document: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let object = document.as_object_mut().expect("object");
        object.remove("shadow");
        object.remove("signature");
        let signature = key.sign(&serde_json::to_vec(&document).expect("json"));
        document["signature"] = format!("0x{}", hex::encode(signature)).into();
        let old = serde_json::to_vec_pretty(&document).expect("json");
        let parsed = Summary::parse_and_verify(&old).expect("a /2 summary reads");
        assert_eq!(parsed.shadow, None);
        assert_eq!(parsed.previous_link(), Some((1, "77".repeat(32).as_str())));

        summary.shadow = Some(Shadow {
            scorer: summary.scorer.clone(),
            output: ObjectRef { key: "epochs/1/2/shadow-output.json".into(), sha256: "77".repeat(32) },
            unscored: None,
        });
        let bytes = summary.sign(&key).expect("signs");
        let err = Summary::parse_and_verify(&bytes).unwrap_err().to_string();
        assert!(err.contains("has no shadow scorer"), "{err}");
    }

    #[test]
    fn format_4_names_its_previous_summary_and_only_there() {
        let key = Hotkey::from_seed(Scheme::Sr25519, [4; 32]).expect("key");
        let mut summary = sample(&key);
        let bytes = summary.sign(&key).expect("signs");
        let parsed = Summary::parse_and_verify(&bytes).expect("a /4 summary reads");
        assert_eq!(parsed.previous_link(), Some((1, "77".repeat(32).as_str())));
        assert!(!String::from_utf8_lossy(&bytes).contains("previous_summary_sha256"));

        summary.previous_summary_sha256 = Some("88".repeat(32));
        let err = Summary::parse_and_verify(&summary.sign(&key).expect("signs")).unwrap_err().to_string();
        assert!(err.contains("names its previous one by `previous`"), "{err}");

        summary.format = FORMAT_3.into();
        let err = Summary::parse_and_verify(&summary.sign(&key).expect("signs")).unwrap_err().to_string();
        assert!(err.contains("\"assay-epoch-summary/3\" summary has no `previous`"), "{err}");
        summary.previous = None;
        let parsed = Summary::parse_and_verify(&summary.sign(&key).expect("signs")).expect("a /3 summary reads");
        assert_eq!(parsed.previous_link(), Some((1, "88".repeat(32).as_str())));
    }
}
