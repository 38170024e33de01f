//! Rerunning a published epoch and comparing, bit for bit.
//!
//! Nothing a summary says is trusted before it is checked: its signer against the pinned
//! validator (`AuditOptions::validator`), its limits against the auditor's maximum, its sizes
//! against bounds (the input decompresses no further than its signed length).
//!
//! Checks, in order: the summary's signature and signer; the policy bytes against their hash; the input
//! file and its canonical JSON against theirs; the input against the summary (netuid, epoch,
//! blocks, counts, state); the chain to the previous epoch where it is published (summary hash,
//! state hand-over, seed reveal against its commitment); the dataset's hash; then the scorer is
//! rerun under the recorded limits and its output compared with the published one (or, for an
//! epoch published unscored, its failure with the published kind of failure); and a scorer run
//! in shadow beside it (an owner's announced scorer) is rerun the same way against its own
//! published output, on the same input with an empty state.

use assay_policy_runtime::{ContractVersion, Digest, Error as PolicyError, Limits, Runtime, ScoreRun};
use serde_json::Value;

use crate::summary::{OutputRecord, PolicyRef, Shadow, Unscored};
use crate::{Error, ObjectStore, PublishedInput, Summary, canonical, keys, sha256_hex};

/// Why an audit did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFailure {
    /// The published epoch differs from what its summary claims (exit 1).
    Mismatch(String),
    /// The audit could not be run: a missing file, bad JSON, an unknown format (exit 2).
    Unusable(String),
}

impl std::fmt::Display for AuditFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditFailure::Mismatch(m) => write!(f, "FAIL: {m}"),
            AuditFailure::Unusable(m) => write!(f, "cannot audit: {m}"),
        }
    }
}

/// What a passing audit checked, and what it could not.
#[derive(Debug, Clone)]
pub struct AuditReport {
    pub summary: Summary,
    pub checked: Vec<String>,
    pub notes: Vec<String>,
}

/// An audit step's result: a value, or why the audit did not pass.
pub type Outcome<T> = std::result::Result<T, AuditFailure>;

fn mismatch<T>(message: impl Into<String>) -> Outcome<T> {
    Err(AuditFailure::Mismatch(message.into()))
}

fn fetch(store: &dyn ObjectStore, key: &str, what: &str) -> Outcome<Vec<u8>> {
    match store.get(key) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(AuditFailure::Unusable(format!("{what} {key} is missing from {}", store.describe()))),
        Err(e) => Err(AuditFailure::Unusable(e.to_string())),
    }
}

/// The first place where two JSON documents differ, as `path: published X, rerun Y`.
pub fn first_difference(path: &str, published: &Value, rerun: &Value) -> Option<String> {
    match (published, rerun) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(vb) => {
                        if let Some(d) = first_difference(&p, va, vb) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{p}: published {va}, absent in rerun")),
                }
            }
            b.keys().find(|k| !a.contains_key(*k)).map(|k| format!("{path}.{k}: absent in published, rerun {}", b[k]))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_difference(&format!("{path}[{i}]"), va, vb) {
                    return Some(d);
                }
            }
            (a.len() != b.len()).then(|| format!("{path}: published {} entries, rerun {}", a.len(), b.len()))
        }
        (a, b) if a == b => None,
        (a, b) => Some(format!("{path}: published {a}, rerun {b}")),
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// What an auditor trusts, and how much it reads and runs: the defaults hold any honest
/// validator's epoch. A watchtower pins `validator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOptions {
    /// The SS58 address the summary must be signed by; without it, whatever key it names.
    pub validator: Option<String>,
    /// Limits above these are refused unrun: a signed `fuel: u64::MAX` and a looping scorer
    /// would hang the rerun.
    pub max_limits: Limits,
    /// The most a summary file may hold.
    pub max_summary_bytes: u64,
    /// The most an input's canonical JSON may decompress to.
    pub max_input_bytes: u64,
}

/// The most a summary file may hold by default (a summary of 256 miners is about 0.5 MB).
pub const MAX_SUMMARY_BYTES: u64 = 16 << 20;
/// The most an input may decompress to by default.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;
/// The most any published object may hold, for a store that bounds its reads (`AuditFolder`).
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            validator: None,
            max_limits: Limits::HOST_MAX,
            max_summary_bytes: MAX_SUMMARY_BYTES,
            max_input_bytes: MAX_INPUT_BYTES,
        }
    }
}

/// Audits the summary at `summary_key` of `store` with the default options (no pinned signer).
pub fn audit(store: &dyn ObjectStore, summary_key: &str, runtime: &Runtime) -> Outcome<AuditReport> {
    audit_with(store, summary_key, runtime, &AuditOptions::default())
}

/// Audits the summary at `summary_key` of `store`.
pub fn audit_with(
    store: &dyn ObjectStore,
    summary_key: &str,
    runtime: &Runtime,
    options: &AuditOptions,
) -> Outcome<AuditReport> {
    let mut checked = Vec::new();
    let mut notes = Vec::new();
    let summary = read_summary(store, summary_key, options)?;
    let pinned = if options.validator.is_some() { ", pinned" } else { "" };
    checked.push(format!("signature by {} ({}{pinned})", summary.validator.hotkey, summary.validator.scheme));
    if summary_key != keys::summary(summary.netuid, summary.epoch) {
        return mismatch(format!(
            "summary of netuid {} epoch {} is stored at {summary_key}",
            summary.netuid, summary.epoch
        ));
    }
    if let Some((name, value, max)) = summary.limits.limits().exceeding(&options.max_limits) {
        return Err(AuditFailure::Unusable(format!(
            "the summary's limits: {name} {value} is above this auditor's maximum of {max}"
        )));
    }
    let (digest, policy) = read_policy(store, &summary.scorer)?;
    let version = scorer_version(&summary, &policy)?;
    checked.push(format!("scorer bytes hash to {digest} (contract {version})"));
    let input = read_input(store, &summary, version, options)?;
    let facts = input.facts();
    checked.push(format!(
        "input {} ({} bytes, {} requests, {} challenges)",
        summary.input.sha256, summary.input.json_bytes, facts.requests, facts.challenges
    ));
    match check_previous(store, &summary, options)? {
        Ok(line) => checked.push(line),
        Err(note) => notes.push(note),
    }
    let dataset = fetch(store, &summary.dataset.key, "dataset")?;
    if sha256_hex(&dataset) != summary.dataset.sha256 {
        return mismatch(format!("dataset {} does not hash to the summary's", summary.dataset.key));
    }
    checked.push(format!("dataset {}", summary.dataset.sha256));

    // The rerun.
    let scorer = runtime
        .load_scorer(&digest, &policy)
        .map_err(|e| AuditFailure::Mismatch(format!("scorer does not load: {e}")))?;
    let rerun = input.score(&scorer, summary.limits.limits());
    checked.push(match &summary.unscored {
        None => compare_output("output", &summary.output, rerun)?,
        Some(unscored) => compare_failure("output", &summary.output, &summary.input.state_sha256, unscored, rerun)?,
    });
    if let Some(shadow) = &summary.shadow {
        match check_shadow(store, &summary, shadow, &input, runtime, options)? {
            Ok(line) => checked.push(line),
            Err(note) => notes.push(note),
        }
    }
    Ok(AuditReport { summary, checked, notes })
}

/// The summary at `key`, within the size bound, its signature checked against the key it names
/// and that key against the pinned validator.
fn read_summary(store: &dyn ObjectStore, key: &str, options: &AuditOptions) -> Outcome<Summary> {
    if let Some(pinned) = &options.validator {
        assay_keys::decode_ss58(pinned).map_err(|e| {
            AuditFailure::Unusable(format!("the pinned validator {pinned:?} is not an SS58 address: {e}"))
        })?;
    }
    verified_summary(&fetch(store, key, "summary")?, key, options)
}

/// [`read_summary`] on bytes already read.
pub(crate) fn verified_summary(bytes: &[u8], key: &str, options: &AuditOptions) -> Outcome<Summary> {
    if bytes.len() as u64 > options.max_summary_bytes {
        return Err(AuditFailure::Unusable(format!(
            "summary {key} is {} bytes, larger than the auditor's maximum of {}",
            bytes.len(),
            options.max_summary_bytes
        )));
    }
    let summary = match Summary::parse_and_verify(bytes) {
        Ok(s) => s,
        Err(Error::Keys(e)) => return mismatch(format!("summary signature: {e}")),
        Err(e) => return Err(AuditFailure::Unusable(e.to_string())),
    };
    match &options.validator {
        Some(pinned) if *pinned != summary.validator.hotkey => mismatch(format!(
            "summary {key} is signed by {}, not the pinned validator {pinned}",
            summary.validator.hotkey
        )),
        _ => Ok(summary),
    }
}

/// A scorer's bytes, published under their hash and hashing to it.
fn read_policy(store: &dyn ObjectStore, scorer: &PolicyRef) -> Outcome<(Digest, Vec<u8>)> {
    let digest: Digest = scorer.sha256.parse().map_err(|e| AuditFailure::Mismatch(format!("scorer hash: {e}")))?;
    if scorer.key != keys::policy(&scorer.sha256) {
        return mismatch(format!("scorer is published at {}, not under its hash", scorer.key));
    }
    let policy = fetch(store, &scorer.key, "policy")?;
    if let Err(e) = digest.verify(&policy) {
        return mismatch(format!("policy bytes: {e}"));
    }
    Ok((digest, policy))
}

/// The contract version of the scorer's bytes, which must be the one the summary names: the
/// input is decoded as that version's.
fn scorer_version(summary: &Summary, policy: &[u8]) -> Outcome<ContractVersion> {
    let version = policy_version(policy)?;
    let named = format!("assay:policy@{version}");
    if summary.contract != named {
        return mismatch(format!(
            "the summary names contract {}, but its scorer is built for {named}",
            summary.contract
        ));
    }
    Ok(version)
}

/// The contract version a scorer is built for. One newer than this auditor runs is no evidence
/// of fraud: the audit cannot be done here (update assay), not a mismatch.
fn policy_version(policy: &[u8]) -> Outcome<ContractVersion> {
    match assay_policy_runtime::inspect(policy) {
        Ok(inspection) => Ok(inspection.version),
        Err(e @ assay_policy_runtime::Error::UnknownVersion(_)) => {
            Err(AuditFailure::Unusable(format!("this assay is too old to audit the epoch: {e}")))
        }
        Err(e) => mismatch(format!("scorer is not a policy component: {e}")),
    }
}

/// The input: the file and its JSON against their hashes, decompressed no further than the
/// signed length (a zstd bomb stops there), decoded as an input of `version`, then checked
/// against the summary's facts.
fn read_input(
    store: &dyn ObjectStore,
    summary: &Summary,
    version: ContractVersion,
    options: &AuditOptions,
) -> Outcome<PublishedInput> {
    let zst = fetch(store, &summary.input.key, "input")?;
    if sha256_hex(&zst) != summary.input.zst_sha256 {
        return mismatch(format!(
            "input file hashes to {}, summary says {}",
            sha256_hex(&zst),
            summary.input.zst_sha256
        ));
    }
    let length = summary.input.json_bytes;
    if length > options.max_input_bytes {
        return Err(AuditFailure::Unusable(format!(
            "the input's {length} bytes (json_bytes) are above the auditor's maximum of {}",
            options.max_input_bytes
        )));
    }
    let json =
        canonical::decompress(&zst, length as usize).map_err(|e| AuditFailure::Mismatch(format!("input file: {e}")))?;
    if sha256_hex(&json) != summary.input.sha256 {
        return mismatch(format!("input JSON hashes to {}, summary says {}", sha256_hex(&json), summary.input.sha256));
    }
    let input = PublishedInput::decode(version, &json).map_err(|e| AuditFailure::Mismatch(format!("input: {e}")))?;
    let f = input.facts();
    let facts = [
        ("netuid", u64::from(f.netuid), u64::from(summary.netuid)),
        ("epoch", f.epoch, summary.epoch),
        ("block_start", f.block_start, summary.block_start),
        ("block_end", f.block_end, summary.block_end),
        ("request count", f.requests, summary.input.requests),
        ("challenge count", f.challenges, summary.input.challenges),
        ("byte length", json.len() as u64, summary.input.json_bytes),
    ];
    if let Some((what, a, b)) = facts.iter().find(|(_, a, b)| a != b) {
        return mismatch(format!("input {what} is {a}, summary says {b}"));
    }
    if sha256_hex(input.state()) != summary.input.state_sha256 {
        return mismatch("input state does not hash to the summary's state_sha256");
    }
    Ok(input)
}

/// The chain to the previous summary, where it is published: its hash and signer, the state
/// hand-over and, when it is the epoch just before, the seed reveal. `Ok(Err(note))` when it
/// cannot be checked.
fn check_previous(
    store: &dyn ObjectStore,
    summary: &Summary,
    options: &AuditOptions,
) -> Outcome<Result<String, String>> {
    let Some((previous_epoch, expected)) = summary.previous_link() else {
        return Ok(Err("the summary names no previous epoch".into()));
    };
    if previous_epoch >= summary.epoch {
        return mismatch(format!(
            "the summary of epoch {} names a later previous epoch {previous_epoch}",
            summary.epoch
        ));
    }
    let key = keys::summary(summary.netuid, previous_epoch);
    let previous_bytes = match store.get(&key) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Ok(Err(format!(
                "previous summary {key} is not available: state chain and seed reveal not checked"
            )));
        }
        Err(e) => return Err(AuditFailure::Unusable(e.to_string())),
    };
    if sha256_hex(&previous_bytes) != expected {
        return mismatch(format!("previous summary {key} does not hash to the sha256 this summary names"));
    }
    // The same validator signs the whole chain.
    let same_signer = AuditOptions { validator: Some(summary.validator.hotkey.clone()), ..options.clone() };
    let previous = verified_summary(&previous_bytes, &key, &same_signer).map_err(|e| match e {
        AuditFailure::Mismatch(m) | AuditFailure::Unusable(m) => {
            AuditFailure::Mismatch(format!("previous summary: {m}"))
        }
    })?;
    let expected_state = if previous.scorer.sha256 == summary.scorer.sha256 {
        previous.output.state_sha256.clone()
    } else {
        sha256_hex(&[])
    };
    if summary.input.state_sha256 != expected_state {
        return mismatch(format!(
            "state chain: epoch {} was given state {}, but epoch {} handed on {}",
            summary.epoch, summary.input.state_sha256, previous.epoch, expected_state
        ));
    }
    // A seed is committed one epoch ahead: after a skipped epoch there is nothing to check it by.
    if previous.epoch + 1 != summary.epoch {
        return Ok(Ok(format!("chain to epoch {}: summary hash and signer, state hand-over", previous.epoch)));
    }
    let reveal =
        hex::decode(&summary.seed.reveal).map_err(|_| AuditFailure::Mismatch("seed reveal is not hex".into()))?;
    if sha256_hex(&reveal) != previous.seed.next_commitment {
        return mismatch("seed reveal does not match the previous epoch's commitment");
    }
    Ok(Ok(format!("chain to epoch {}: summary hash and signer, state hand-over, seed reveal", previous.epoch)))
}

/// The rerun of a scorer against its published output (`label`, e.g. `output`): scores,
/// weights, state and fuel.
fn compare_output(label: &str, output: &OutputRecord, rerun: Result<ScoreRun, PolicyError>) -> Outcome<String> {
    let run = rerun.map_err(|e| {
        AuditFailure::Mismatch(format!("{label}: rerun failed where the validator's run succeeded: {e}"))
    })?;
    let published = serde_json::json!({ "scores": output.scores, "weights": output.weights });
    let rerun = serde_json::json!({ "scores": to_value(&run.output.scores), "weights": to_value(&run.output.weights) });
    if let Some(d) = first_difference(label, &published, &rerun) {
        return mismatch(d);
    }
    if sha256_hex(&run.output.state) != output.state_sha256 {
        return mismatch(format!(
            "{label}.state_sha256: published {}, rerun {}",
            output.state_sha256,
            sha256_hex(&run.output.state)
        ));
    }
    if run.fuel_used != output.fuel_used {
        return mismatch(format!("{label}.fuel_used: published {}, rerun {}", output.fuel_used, run.fuel_used));
    }
    Ok(format!(
        "rerun: {} scores, {} weights, state and fuel ({}) identical",
        run.output.scores.len(),
        run.output.weights.len(),
        run.fuel_used
    ))
}

/// The rerun of a scorer published as failing (`label`: its output): it must fail the same
/// way, and its output must be empty (no scores, no weights, the state it was given handed on).
fn compare_failure(
    label: &str,
    out: &OutputRecord,
    given_state_sha256: &str,
    unscored: &Unscored,
    rerun: Result<ScoreRun, PolicyError>,
) -> Outcome<String> {
    if !out.scores.is_empty() || !out.weights.is_empty() || out.state_sha256 != given_state_sha256 {
        return mismatch(format!("{label}: an unscored output must be empty and hand the given state on"));
    }
    match rerun {
        Ok(_) => mismatch(format!("{label} was published unscored ({}), but the rerun scored it", unscored.kind)),
        Err(e) if e.fault_kind() == Some(unscored.kind.as_str()) => {
            Ok(format!("rerun: the scorer fails as published ({}: {e})", unscored.kind))
        }
        Err(e) => {
            mismatch(format!("{label} was published unscored ({}), but the rerun failed otherwise: {e}", unscored.kind))
        }
    }
}

/// The scorer run in shadow: its bytes under their hash, its published output against its
/// hash (within the summary's size bound), and its rerun on the epoch's input with an empty
/// state (a scorer new to the validator starts from nothing) compared with that output.
/// `Ok(Err(note))` when it cannot be rerun: a 0.2.0 shadow beside a 0.1.0 scorer ran on the
/// 0.2.0 input, and only the 0.1.0 one is published.
fn check_shadow(
    store: &dyn ObjectStore,
    summary: &Summary,
    shadow: &Shadow,
    input: &PublishedInput,
    runtime: &Runtime,
    options: &AuditOptions,
) -> Outcome<Result<String, String>> {
    let (digest, policy) = read_policy(store, &shadow.scorer)?;
    let expected_key = keys::shadow_output(summary.netuid, summary.epoch);
    if shadow.output.key != expected_key {
        return mismatch(format!("the shadow output is published at {}, not {expected_key}", shadow.output.key));
    }
    let bytes = fetch(store, &shadow.output.key, "shadow output")?;
    if bytes.len() as u64 > options.max_summary_bytes {
        return Err(AuditFailure::Unusable(format!(
            "shadow output {} is {} bytes, larger than the auditor's maximum of {}",
            shadow.output.key,
            bytes.len(),
            options.max_summary_bytes
        )));
    }
    if sha256_hex(&bytes) != shadow.output.sha256 {
        return mismatch(format!("shadow output {} does not hash to the summary's", shadow.output.key));
    }
    let published: OutputRecord =
        serde_json::from_slice(&bytes).map_err(|e| AuditFailure::Mismatch(format!("shadow output: {e}")))?;
    let scorer = runtime
        .load_scorer(&digest, &policy)
        .map_err(|e| AuditFailure::Mismatch(format!("shadow scorer does not load: {e}")))?;
    if input.version() < scorer.version() {
        return Ok(Err(format!(
            "shadow scorer {digest} (contract {}) ran on an input this epoch did not publish (it publishes {}): not rerun",
            scorer.version(),
            input.contract()
        )));
    }
    let rerun = input.without_state().score(&scorer, summary.limits.limits());
    let compared = match &shadow.unscored {
        None => compare_output("shadow output", &published, rerun)?,
        Some(unscored) => compare_failure("shadow output", &published, &sha256_hex(&[]), unscored, rerun)?,
    };
    Ok(Ok(format!("shadow scorer {digest}: {compared}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_path() {
        let a = serde_json::json!({"weights": [{"uid": 1, "weight": 5}, {"uid": 2, "weight": 6}]});
        let b = serde_json::json!({"weights": [{"uid": 1, "weight": 5}, {"uid": 2, "weight": 7}]});
        assert_eq!(
            first_difference("output", &a, &b).as_deref(),
            Some("output.weights[1].weight: published 6, rerun 7")
        );
        assert_eq!(first_difference("output", &a, &a), None);
        let c = serde_json::json!({"weights": [{"uid": 1, "weight": 5}]});
        assert_eq!(first_difference("output", &a, &c).as_deref(), Some("output.weights: published 2 entries, rerun 1"));
    }

    #[test]
    fn a_scorer_of_a_newer_contract_cannot_be_audited_but_is_no_fraud() {
        let newer = wat::parse_str(
            r#"(component
              (import "assay:policy/types@0.3.0" (instance))
              (core module $m (func (export "score")))
              (core instance $i (instantiate $m))
              (func $score (canon lift (core func $i "score")))
              (export "score" (func $score)))"#,
        )
        .expect("valid component text");
        let Err(AuditFailure::Unusable(why)) = policy_version(&newer) else { panic!("not unusable") };
        assert!(why.contains("0.3.0") && why.contains("it runs 0.1.0 and 0.2.0"), "{why}");
        assert!(matches!(policy_version(b"not wasm"), Err(AuditFailure::Mismatch(_))));
    }
}
