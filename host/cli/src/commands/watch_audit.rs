//! The watchtower's audit of one epoch: the same checks as `assay audit DIR` (the history link
//! to the last audited summary and the chain's hash through `assay_epoch::check_history`, then
//! the rerun bit for bit through `assay_epoch::audit_with`), continued from the position the
//! watchtower kept rather than from a whole folder.

use assay_epoch::audit::Outcome;
use assay_epoch::{
    AuditFailure, AuditOptions, AuditReport, ChainRecord, HistoryReport, ObjectStore, Summary, audit_with,
    check_history, keys, sha256_hex,
};
use assay_policy_runtime::Runtime;

/// What the watchtower reads an epoch with.
pub struct Auditor<'a> {
    pub store: &'a dyn ObjectStore,
    pub netuid: u16,
    pub options: &'a AuditOptions,
    pub runtime: &'a Runtime,
}

/// A passing epoch: what was checked, and the summary whose weights may now be set.
pub struct Passed {
    pub history: HistoryReport,
    pub report: AuditReport,
}

/// An epoch that did not pass, and whether its history (its link to the epoch before, the
/// chain's hash) is what failed: a broken history also leaves the earlier epochs, audited on
/// the strength of this one's links, unconfirmed by the chain.
pub struct Failed {
    pub failure: AuditFailure,
    pub in_history: bool,
}

impl Auditor<'_> {
    /// The epoch whose hash the chain check of `epoch`'s audit compares (`chain` names it, and
    /// it is `epoch` or `anchor`); `None` when this audit does not reach the chain.
    pub fn chain_checked(epoch: u64, anchor: Option<u64>, chain: &ChainRecord) -> Option<u64> {
        match chain {
            ChainRecord::Committed(c) if c.epoch == epoch || Some(c.epoch) == anchor => Some(c.epoch),
            _ => None,
        }
    }
}

impl Auditor<'_> {
    /// The summary file of `epoch` (at most the auditor's summary bound), or `None` when it is
    /// not published.
    pub fn summary_bytes(&self, epoch: u64) -> assay_publish::Result<Option<Vec<u8>>> {
        self.store.get_at_most(&keys::summary(self.netuid, epoch), self.options.max_summary_bytes)
    }

    /// Audits `epoch`, whose summary is published, as the successor of `anchor` (the last
    /// audited epoch and its summary's sha256; `None` for the first, or after a summary that
    /// was not the validator's). `chain` is what the chain names now: its hash is checked when
    /// it names this epoch or the anchor; a later epoch's hash covers this one through the
    /// links checked when that epoch is audited (and its weights wait for that).
    pub fn audit(&self, epoch: u64, anchor: Option<(u64, &str)>, chain: &ChainRecord) -> Result<Passed, Failed> {
        let history = self.history(epoch, anchor, chain).map_err(|failure| Failed { failure, in_history: true })?;
        let report = audit_with(self.store, &keys::summary(self.netuid, epoch), self.runtime, self.options)
            .map_err(|failure| Failed { failure, in_history: false })?;
        Ok(Passed { history, report })
    }

    /// The history part of [`Auditor::audit`]: the anchor unchanged, the link to it, the chain.
    fn history(&self, epoch: u64, anchor: Option<(u64, &str)>, chain: &ChainRecord) -> Outcome<HistoryReport> {
        if let Some((before, sha256)) = anchor {
            self.check_unchanged(before, sha256)?;
        }
        let epochs: Vec<u64> = anchor.map(|(before, _)| before).into_iter().chain([epoch]).collect();
        let chain_here = match chain {
            ChainRecord::Committed(c) if !epochs.contains(&c.epoch) => ChainRecord::NotRead,
            other => other.clone(),
        };
        let mut history = check_history(self.store, self.netuid, &epochs, self.options, &chain_here)?;
        if chain_here != *chain {
            history.notes.retain(|n| !n.contains("the chain was not read"));
            history.notes.push(format!("the chain names a later epoch: its links carry the check to epoch {epoch}"));
        }
        Ok(history)
    }

    /// The anchor's summary is still the one audited: a summary rewritten since (even
    /// consistently with its successors) is a rewritten history.
    fn check_unchanged(&self, epoch: u64, sha256: &str) -> Outcome<()> {
        let key = keys::summary(self.netuid, epoch);
        let bytes = match self.store.get_at_most(&key, self.options.max_summary_bytes) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Err(AuditFailure::Mismatch(format!(
                    "epoch {epoch}'s summary, audited before, is gone from {key}"
                )));
            }
            Err(e) => return Err(AuditFailure::Unusable(e.to_string())),
        };
        let now = sha256_hex(&bytes);
        if now != sha256 {
            return Err(AuditFailure::Mismatch(format!(
                "epoch {epoch}'s summary hashes to {now}, but it hashed to {sha256} when the watchtower audited it: \
                 it was rewritten"
            )));
        }
        Ok(())
    }
}

/// The sha256 of `bytes` when they are a summary signed by `validator` (whatever else is
/// wrong with the epoch), so that the next epoch's link can be checked against it.
pub fn own_summary_sha256(bytes: &[u8], validator: &str, max_bytes: u64) -> Option<String> {
    if bytes.len() as u64 > max_bytes {
        return None;
    }
    let summary = Summary::parse_and_verify(bytes).ok()?;
    (summary.validator.hotkey == validator).then(|| sha256_hex(bytes))
}
