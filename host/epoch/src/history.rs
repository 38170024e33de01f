//! A validator's history that nobody can rewrite quietly: the on-chain commitment field naming
//! its latest summary (`assay-summary:<epoch>:sha256:<hex>`, parsed and written only here), and
//! [`check_history`], which walks a run of published summaries along their `previous` links and
//! fails closed on a gap, a fork or a summary whose hash differs from the chain's
//! (docs/decisions/0006-summary-hash-chain.md).
//!
//! Knows no chain client: the caller reads the commitment and hands it over as [`ChainRecord`].

use std::collections::BTreeMap;
use std::fmt;

use assay_chain::{MAX_COMMITMENT_FIELDS, MAX_RAW_FIELD_BYTES};

use crate::audit::{AuditFailure, AuditOptions, verified_summary};
use crate::{ObjectStore, Summary, keys, sha256_hex};

/// Every summary commitment field starts with this.
pub const PREFIX: &str = "assay-summary:";

/// Why a field, or a commitment, cannot carry a summary's hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    #[error("{0:?} is not an assay summary commitment (assay-summary:<epoch>:sha256:<64 lowercase hex>)")]
    Malformed(String),
    #[error("the commitment holds {0} other fields: no room for the summary's hash (at most {MAX_COMMITMENT_FIELDS})")]
    NoRoom(usize),
}

/// The hash of the validator's latest published summary, as its commitment names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryCommitment {
    pub epoch: u64,
    /// 64 lowercase hex digits: the sha256 of the summary file's bytes.
    pub sha256: String,
}

impl fmt::Display for SummaryCommitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}:sha256:{}", self.epoch, self.sha256)
    }
}

/// Whether `field` is meant as a summary commitment (it may still be malformed).
pub fn is_summary_field(field: &str) -> bool {
    field.starts_with(PREFIX)
}

impl SummaryCommitment {
    /// Parses one field; anything but the one spelling is refused.
    pub fn parse(field: &str) -> Result<Self, CommitmentError> {
        let bad = || CommitmentError::Malformed(field.chars().take(MAX_RAW_FIELD_BYTES).collect());
        if field.len() > MAX_RAW_FIELD_BYTES {
            return Err(bad());
        }
        let rest = field.strip_prefix(PREFIX).ok_or_else(bad)?;
        let (epoch, sha256) = rest.split_once(":sha256:").ok_or_else(bad)?;
        let canonical_epoch =
            !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) && (epoch == "0" || !epoch.starts_with('0'));
        let canonical_hex = sha256.len() == 64 && sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical_epoch || !canonical_hex {
            return Err(bad());
        }
        Ok(Self { epoch: epoch.parse().map_err(|_| bad())?, sha256: sha256.to_string() })
    }

    /// The one summary field of a commitment's `fields`: `Ok(None)` when there is none, an
    /// error when the one there is malformed or there are several.
    pub fn find(fields: &[String]) -> Result<Option<Self>, CommitmentError> {
        let mut found = fields.iter().filter(|f| is_summary_field(f));
        let first = found.next().map(|f| Self::parse(f)).transpose()?;
        match found.next() {
            Some(second) => Err(CommitmentError::Malformed(format!("a second summary field {second}"))),
            None => Ok(first),
        }
    }

    /// `fields` with this summary's field in place of any earlier one (kept where it was),
    /// else added last; every other field (an owner's `assay-policy:…`) is kept.
    pub fn rewrite(&self, fields: &[String]) -> Result<Vec<String>, CommitmentError> {
        let others = fields.iter().filter(|f| !is_summary_field(f)).count();
        if others >= MAX_COMMITMENT_FIELDS {
            return Err(CommitmentError::NoRoom(others));
        }
        let mut out: Vec<String> = Vec::with_capacity(others + 1);
        let mut placed = false;
        for field in fields {
            if !is_summary_field(field) {
                out.push(field.clone());
            } else if !placed {
                out.push(self.to_string());
                placed = true;
            }
        }
        if !placed {
            out.push(self.to_string());
        }
        Ok(out)
    }
}

/// What the chain says about the validator's history, as the caller read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainRecord {
    /// No chain was read: the history is checked by its hash links alone (said in a note).
    NotRead,
    /// The chain was read and the validator's commitment names no summary: fails closed.
    Missing,
    /// The validator's latest committed summary.
    Committed(SummaryCommitment),
}

/// What a history check found: one line per link checked, and what it could not check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryReport {
    pub checked: Vec<String>,
    pub notes: Vec<String>,
}

type Outcome<T> = std::result::Result<T, AuditFailure>;

fn fail<T>(message: String) -> Outcome<T> {
    Err(AuditFailure::Mismatch(message))
}

/// How a front end learns how far a long library step is, by phases (the CLI draws a bar; the
/// libraries know no terminal): here reading every summary of a history check, the slow part
/// over S3 or HTTP; in the lab, the detection experiment's batches of trials (it reuses this
/// trait, `assay_lab::detect::Progress`).
pub trait Progress: Send + Sync {
    /// A phase of `total` steps starts ("reading summaries").
    fn phase(&self, what: &str, total: u64);
    /// One step finished (one epoch's summary read, or found absent).
    fn step(&self);
    /// The phase is over.
    fn done(&self);
}

/// No progress shown.
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &str, _: u64) {}
    fn step(&self) {}
    fn done(&self) {}
}

/// Checks the published summaries of `epochs` (those absent from the store are skipped) of
/// `netuid`, each signed by the pinned validator (`options.validator`, required), linked to the
/// one before by `previous`, and the one the chain names against the chain's hash.
pub fn check_history(
    store: &dyn ObjectStore,
    netuid: u16,
    epochs: &[u64],
    options: &AuditOptions,
    chain: &ChainRecord,
) -> Outcome<HistoryReport> {
    check_history_with(store, netuid, epochs, options, chain, &Silent)
}

/// [`check_history`], telling `progress` as it reads the summaries.
pub fn check_history_with(
    store: &dyn ObjectStore,
    netuid: u16,
    epochs: &[u64],
    options: &AuditOptions,
    chain: &ChainRecord,
    progress: &dyn Progress,
) -> Outcome<HistoryReport> {
    if options.validator.is_none() {
        return Err(AuditFailure::Unusable("a history is checked against a pinned validator (--validator)".into()));
    }
    progress.phase("reading summaries", epochs.len() as u64);
    let published = read_published(store, netuid, epochs, options, progress);
    progress.done();
    let published = published?;
    let mut report = HistoryReport::default();
    let mut before: Option<(u64, &str)> = None;
    for (epoch, (summary, sha256)) in &published {
        check_link(&published, before, summary, &mut report)?;
        before = Some((*epoch, sha256.as_str()));
    }
    check_chain(&published, chain, &mut report)?;
    Ok(report)
}

/// Each published summary of `epochs`, verified, with its file's sha256.
fn read_published(
    store: &dyn ObjectStore,
    netuid: u16,
    epochs: &[u64],
    options: &AuditOptions,
    progress: &dyn Progress,
) -> Outcome<BTreeMap<u64, (Summary, String)>> {
    let mut published = BTreeMap::new();
    for &epoch in epochs {
        let key = keys::summary(netuid, epoch);
        let read = store.get(&key);
        progress.step();
        let bytes = match read {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(e) => return Err(AuditFailure::Unusable(e.to_string())),
        };
        let summary = verified_summary(&bytes, &key, options)?;
        if summary.epoch != epoch || summary.netuid != netuid {
            return fail(format!("summary of netuid {} epoch {} is stored at {key}", summary.netuid, summary.epoch));
        }
        published.insert(epoch, (summary, sha256_hex(&bytes)));
    }
    if published.is_empty() {
        return Err(AuditFailure::Unusable(format!(
            "no summary of netuid {netuid} is published in {}",
            store.describe()
        )));
    }
    Ok(published)
}

/// The link from `summary` back to the published summary `before` it (`None` for the first).
fn check_link(
    published: &BTreeMap<u64, (Summary, String)>,
    before: Option<(u64, &str)>,
    summary: &Summary,
    report: &mut HistoryReport,
) -> Outcome<()> {
    let epoch = summary.epoch;
    let link = summary.previous_link();
    let Some((before_epoch, before_sha)) = before else {
        match link {
            Some((p, _)) => report.notes.push(format!("epoch {epoch} names epoch {p} before it, not published here")),
            None => report.notes.push(format!("epoch {epoch} is the validator's first summary")),
        }
        return Ok(());
    };
    let Some((previous, sha256)) = link else {
        return fail(format!(
            "fork: epoch {epoch} names no previous summary, but epoch {before_epoch} is published before it"
        ));
    };
    if previous > before_epoch && previous < epoch && !published.contains_key(&previous) {
        return fail(format!(
            "gap: epoch {epoch} follows epoch {previous}, which is not published (between {before_epoch} and {epoch})"
        ));
    }
    if previous != before_epoch {
        return fail(format!(
            "fork: epoch {epoch} follows epoch {previous}, but the summary published before it is epoch {before_epoch}"
        ));
    }
    if sha256 != before_sha {
        return fail(format!(
            "fork: epoch {epoch} names epoch {previous}'s summary as {sha256}, but the published one hashes to {before_sha}"
        ));
    }
    report.checked.push(format!("epoch {epoch} follows epoch {previous} ({before_sha})"));
    Ok(())
}

/// The summary the chain names against its hash; the hash links carry the check to the older
/// ones.
fn check_chain(
    published: &BTreeMap<u64, (Summary, String)>,
    chain: &ChainRecord,
    report: &mut HistoryReport,
) -> Outcome<()> {
    let committed = match chain {
        ChainRecord::NotRead => {
            report.notes.push("the chain was not read: the summaries' hashes are not checked against it".into());
            return Ok(());
        }
        ChainRecord::Missing => {
            return fail("the chain holds no summary hash for this validator (no assay-summary field)".into());
        }
        ChainRecord::Committed(committed) => committed,
    };
    let Some((_, sha256)) = published.get(&committed.epoch) else {
        return fail(format!("the chain names epoch {}'s summary, which is not published", committed.epoch));
    };
    if *sha256 != committed.sha256 {
        return fail(format!(
            "epoch {}'s summary hashes to {sha256}, but the chain holds {}: it was replaced after its hash went on chain",
            committed.epoch, committed.sha256
        ));
    }
    report.checked.push(format!("epoch {}'s summary is the one the chain holds ({sha256})", committed.epoch));
    let later: Vec<u64> = published.range(committed.epoch + 1..).map(|(e, _)| *e).collect();
    if !later.is_empty() {
        report.notes.push(format!("epochs {later:?} are published after the committed one, not yet on chain"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use assay_keys::{Hotkey, Scheme};

    use super::*;
    use crate::LocalFolder;
    use crate::summary::Previous;

    const EPOCHS: [u64; 4] = [0, 1, 2, 3];

    fn key() -> Hotkey {
        Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key")
    }

    /// Publishes `summary` signed by `key`, over any summary there (a tampering: the store
    /// itself never replaces one), and returns its file's sha256.
    fn publish(store: &LocalFolder, mut summary: Summary, key: &Hotkey) -> String {
        let bytes = summary.sign(key).expect("signs");
        let summary_key = keys::summary(summary.netuid, summary.epoch);
        let _ = std::fs::remove_file(store.root().join(&summary_key));
        store.put(&summary_key, &bytes).expect("writes");
        sha256_hex(&bytes)
    }

    fn summary_of(epoch: u64, previous: Option<(u64, &str)>) -> Summary {
        let mut summary = crate::summary::tests::sample(&key());
        summary.epoch = epoch;
        summary.previous = previous.map(|(epoch, sha)| Previous { epoch, sha256: sha.to_string() });
        summary
    }

    /// Epochs 0 to 3 chained, as a validator publishes them; returns their hashes.
    fn chained(store: &LocalFolder) -> Vec<String> {
        let mut hashes: Vec<String> = Vec::new();
        for epoch in EPOCHS {
            let previous = hashes.last().map(|sha| (epoch - 1, sha.as_str()));
            hashes.push(publish(store, summary_of(epoch, previous), &key()));
        }
        hashes
    }

    fn pinned() -> AuditOptions {
        AuditOptions { validator: Some(key().ss58()), ..AuditOptions::default() }
    }

    fn committed(epoch: u64, sha256: &str) -> ChainRecord {
        ChainRecord::Committed(SummaryCommitment { epoch, sha256: sha256.to_string() })
    }

    /// The history's verdict: `Ok(checked lines)` or the failure's message.
    fn check(store: &LocalFolder, chain: &ChainRecord) -> Result<Vec<String>, String> {
        check_history(store, 1, &EPOCHS, &pinned(), chain).map(|r| r.checked).map_err(|e| e.to_string())
    }

    fn assert_fails(result: Result<Vec<String>, String>, expected: &str) {
        let err = result.expect_err(expected);
        assert!(err.starts_with("FAIL: ") && err.contains(expected), "{err}");
    }

    #[test]
    fn an_unbroken_history_matching_the_chain_passes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        let hashes = chained(&store);
        let checked = check(&store, &committed(3, &hashes[3])).expect("passes");
        assert_eq!(checked.len(), 4, "{checked:?}");
        assert!(checked[3].contains("epoch 3's summary is the one the chain holds"), "{checked:?}");
        // An older commitment is covered too, the newer epochs by their links.
        let report = check_history(&store, 1, &EPOCHS, &pinned(), &committed(1, &hashes[1])).expect("passes");
        assert!(report.notes.iter().any(|n| n.contains("[2, 3] are published after the committed one")));
        let report = check_history(&store, 1, &EPOCHS, &pinned(), &ChainRecord::NotRead).expect("passes");
        assert!(report.notes.iter().any(|n| n.contains("the chain was not read")), "{:?}", report.notes);
    }

    /// A progress sink that keeps what it was told, as `phase:N`, `step` and `done`.
    #[derive(Default)]
    struct Told(std::sync::Mutex<Vec<String>>);

    impl Progress for Told {
        fn phase(&self, what: &str, total: u64) {
            self.0.lock().expect("lock").push(format!("{what}:{total}"));
        }
        fn step(&self) {
            self.0.lock().expect("lock").push("step".into());
        }
        fn done(&self) {
            self.0.lock().expect("lock").push("done".into());
        }
    }

    #[test]
    fn reading_the_summaries_is_reported_one_step_per_epoch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        chained(&store);
        let told = Told::default();
        // Epoch 9 is not published: still a step (it was looked for).
        let epochs = [0, 1, 2, 3, 9];
        check_history_with(&store, 1, &epochs, &pinned(), &ChainRecord::NotRead, &told).expect("passes");
        let told = told.0.into_inner().expect("lock");
        assert_eq!(told, ["reading summaries:5", "step", "step", "step", "step", "step", "done"]);
    }

    #[test]
    fn a_skipped_epoch_the_validator_names_is_no_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        let first = publish(&store, summary_of(0, None), &key());
        let third = publish(&store, summary_of(2, Some((0, &first))), &key());
        check(&store, &committed(2, &third)).expect("a validator that was down at epoch 1 passes");
    }

    #[test]
    fn a_missing_epoch_between_two_present_is_a_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        let hashes = chained(&store);
        std::fs::remove_file(dir.path().join(keys::summary(1, 2))).expect("removes");
        assert_fails(
            check(&store, &committed(3, &hashes[3])),
            "gap: epoch 3 follows epoch 2, which is not published (between 1 and 3)",
        );
    }

    #[test]
    fn a_rewritten_summary_is_a_fork() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        let hashes = chained(&store);
        // Epoch 1 re-signed with other weights: epoch 2's link no longer matches it.
        let original = std::fs::read(dir.path().join(keys::summary(1, 1))).expect("reads");
        let mut rewritten = summary_of(1, Some((0, &hashes[0])));
        rewritten.output.weights[0].weight = 1;
        let new_sha = publish(&store, rewritten, &key());
        assert_fails(
            check(&store, &committed(3, &hashes[3])),
            &format!(
                "fork: epoch 2 names epoch 1's summary as {}, but the published one hashes to {new_sha}",
                hashes[1]
            ),
        );
        // A summary that skips a published one, and a second first summary, are forks too.
        std::fs::write(dir.path().join(keys::summary(1, 1)), &original).expect("restores");
        publish(&store, summary_of(3, Some((1, &hashes[1]))), &key());
        assert_fails(
            check(&store, &ChainRecord::NotRead),
            "fork: epoch 3 follows epoch 1, but the summary published before it is epoch 2",
        );
        publish(&store, summary_of(3, None), &key());
        assert_fails(check(&store, &ChainRecord::NotRead), "fork: epoch 3 names no previous summary");
    }

    #[test]
    fn a_summary_replaced_after_its_hash_went_on_chain_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        let hashes = chained(&store);
        let mut replaced = summary_of(3, Some((2, &hashes[2])));
        replaced.output.weights[0].weight = 7;
        let new_sha = publish(&store, replaced, &key());
        assert_fails(
            check(&store, &committed(3, &hashes[3])),
            &format!("epoch 3's summary hashes to {new_sha}, but the chain holds {}", hashes[3]),
        );
        assert_fails(
            check(&store, &committed(4, &hashes[3])),
            "the chain names epoch 4's summary, which is not published",
        );
        assert_fails(check(&store, &ChainRecord::Missing), "the chain holds no summary hash for this validator");
    }

    #[test]
    fn another_signer_and_an_unpinned_check_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        let hashes = chained(&store);
        let other = Hotkey::from_seed(Scheme::Sr25519, [10; 32]).expect("key");
        let mut foreign = crate::summary::tests::sample(&other);
        foreign.epoch = 3;
        foreign.previous = Some(Previous { epoch: 2, sha256: hashes[2].clone() });
        publish(&store, foreign, &other);
        assert_fails(check(&store, &ChainRecord::NotRead), "not the pinned validator");
        let unpinned = check_history(&store, 1, &EPOCHS, &AuditOptions::default(), &ChainRecord::NotRead);
        assert!(matches!(unpinned, Err(AuditFailure::Unusable(_))), "{unpinned:?}");
    }

    #[test]
    fn the_commitment_field_has_one_spelling_and_keeps_other_fields() {
        let sha = "ab".repeat(32);
        let field = SummaryCommitment { epoch: 42, sha256: sha.clone() };
        assert_eq!(field.to_string(), format!("assay-summary:42:sha256:{sha}"));
        assert_eq!(SummaryCommitment::parse(&field.to_string()), Ok(field.clone()));
        for bad in [
            format!("assay-summary:042:sha256:{sha}"),
            format!("assay-summary:+42:sha256:{sha}"),
            format!("assay-summary:42:sha256:{}", "AB".repeat(32)),
            format!("assay-summary:42:sha256:{}", "ab".repeat(31)),
            format!("assay-summary:42:sha512:{sha}"),
            format!("assay-summary::sha256:{sha}"),
            format!("assay-policy:scorer:sha256:{sha}"),
        ] {
            assert!(SummaryCommitment::parse(&bad).is_err(), "{bad}");
        }
        let policy = format!("assay-policy:scorer:sha256:{}", "cd".repeat(32));
        let old = SummaryCommitment { epoch: 41, sha256: "ef".repeat(32) }.to_string();
        assert_eq!(field.rewrite(std::slice::from_ref(&policy)), Ok(vec![policy.clone(), field.to_string()]));
        assert_eq!(
            field.rewrite(&[old.clone(), policy.clone()]),
            Ok(vec![field.to_string(), policy.clone()]),
            "replaced in place"
        );
        let full = vec![policy.clone(), "x".to_string(), "y".to_string()];
        assert_eq!(field.rewrite(&full), Err(CommitmentError::NoRoom(3)));
        assert_eq!(SummaryCommitment::find(&[policy.clone(), old.clone()]).expect("finds").map(|c| c.epoch), Some(41));
        assert_eq!(SummaryCommitment::find(&[policy]), Ok(None));
        assert!(SummaryCommitment::find(&[old.clone(), old]).is_err());
    }
}
