//! `assay audit LOCATION --validator SS58 [--local-chain DIR] [--netuid N]`: the run of
//! summaries of a publication checked as a history, then every published epoch rerun (gaps,
//! forks, and the hash the chain holds: `assay_epoch::history`). A folder's epochs are listed;
//! a remote publication's (s3://, https://: a public URL cannot be listed) are those reachable
//! from `latest.json` back along the summaries' `previous` links. Only a local chain is read
//! here (synchronously, so the auditor's build needs no async runtime); a subtensor's
//! commitment is the watchtower's.

use std::path::Path;

use anyhow::anyhow;
use assay_chain::LocalChain;
use assay_epoch::audit::{MAX_SUMMARY_BYTES, Outcome};
use assay_epoch::history::CommitmentError;
use assay_epoch::{
    AuditFailure, AuditOptions, ChainRecord, ObjectStore, Summary, SummaryCommitment, audit_with, check_history_with,
    keys,
};
use assay_policy_runtime::Runtime;
use assay_publish::Location;

use super::audit::AuditJson;
use crate::output::Mode;
use crate::{CmdResult, Exit, failed, unusable};

/// The most epochs one history audit reads (a folder is outside input).
const MAX_EPOCHS: usize = 100_000;

/// The netuid and epochs published under `root/epochs/`: `netuid`'s, or exactly one
/// netuid's; numbered folders.
fn published_epochs(root: &Path, netuid: Option<u16>) -> Result<(u16, Vec<u64>), String> {
    let numbered = |dir: &Path| -> Result<Vec<u64>, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let mut numbers = Vec::new();
        for entry in entries.take(MAX_EPOCHS + 1) {
            let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
            if let Some(n) = entry.file_name().to_str().and_then(|name| name.parse::<u64>().ok()) {
                numbers.push(n);
            }
        }
        if numbers.len() > MAX_EPOCHS {
            return Err(format!("{} holds more than {MAX_EPOCHS} entries", dir.display()));
        }
        numbers.sort_unstable();
        Ok(numbers)
    };
    let epochs_dir = root.join("epochs");
    if let Some(netuid) = netuid {
        return Ok((netuid, numbered(&epochs_dir.join(netuid.to_string()))?));
    }
    let netuids = numbered(&epochs_dir)?;
    let [netuid] = netuids.as_slice() else {
        return Err(format!(
            "{} holds {} subnets' epochs; audit one subnet's folder",
            epochs_dir.display(),
            netuids.len()
        ));
    };
    let netuid = u16::try_from(*netuid).map_err(|_| format!("{netuid} is not a netuid"))?;
    Ok((netuid, numbered(&epochs_dir.join(netuid.to_string()))?))
}

/// What a validator's commitment fields say about its history: the summary hash they name, or
/// none (a chain that was read and holds no hash fails closed).
pub(crate) fn chain_record(fields: &[String]) -> Result<ChainRecord, CommitmentError> {
    Ok(match SummaryCommitment::find(fields)? {
        Some(committed) => ChainRecord::Committed(committed),
        None => ChainRecord::Missing,
    })
}

/// What the local chain in `dir` holds for `validator` on `netuid`: a commitment that does
/// not parse is a mismatch (`Ok(Err(…))`).
fn local_chain_record(dir: &Path, netuid: u16, validator: &str) -> Result<Result<ChainRecord, String>, Exit> {
    let chain = LocalChain::open(dir).map_err(unusable)?;
    let log = chain.commitments_log().map_err(unusable)?;
    let latest = log.into_iter().rev().find(|entry| entry.netuid == netuid && entry.hotkey == validator);
    let fields = latest.map(|entry| entry.commitment.fields).unwrap_or_default();
    Ok(chain_record(&fields).map_err(|e| format!("the validator's commitment: {e}")))
}

/// The epoch a history mismatch is about: the first `epoch N` its message names ("fork: epoch 3
/// follows…", "gap: epoch 5 follows…", "epoch 2's summary hashes to…"); `None` for one about
/// the chain or the commitment as a whole. `assay_epoch::history` reports mismatches as text.
fn epoch_named(mismatch: &str) -> Option<u64> {
    mismatch.match_indices("epoch ").find_map(|(at, word)| {
        let rest = &mismatch[at + word.len()..];
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        rest[..digits].parse().ok()
    })
}

/// What a history audit checked and noted, so far.
#[derive(Debug, Default)]
struct Found {
    checked: Vec<String>,
    notes: Vec<String>,
}

/// Checks the history (hashes and signatures, under a bar while the summaries are read: slow
/// over S3 or HTTP), then reruns each epoch under a progress bar; prints as it goes and adds what it checked to `found`. A failure comes with the epoch
/// it is about, where known.
fn audit_all(
    store: &dyn ObjectStore,
    netuid: u16,
    epochs: &[u64],
    options: &AuditOptions,
    chain: &ChainRecord,
    mode: Mode,
    found: &mut Found,
) -> Result<(), (Option<u64>, AuditFailure)> {
    let named = |failure: AuditFailure| match &failure {
        AuditFailure::Mismatch(m) => (epoch_named(m), failure),
        AuditFailure::Unusable(_) => (None, failure),
    };
    let reading = crate::progress::PhaseBars::default();
    let history = check_history_with(store, netuid, epochs, options, chain, &reading).map_err(named)?;
    for line in &history.checked {
        mode.line(format_args!("  ok    {line}"));
    }
    for note in &history.notes {
        mode.line(format_args!("  note  {note}"));
    }
    found.checked = history.checked;
    found.notes = history.notes;
    let runtime = Runtime::new(None).map_err(|e| (None, AuditFailure::Unusable(e.to_string())))?;
    let bar = crate::progress::bar(epochs.len() as u64, "rerunning epochs");
    for &epoch in epochs {
        let key = assay_epoch::keys::summary(netuid, epoch);
        let report = audit_with(store, &key, &runtime, options).map_err(|failure| (Some(epoch), failure))?;
        let line = format!("epoch {epoch}: rerun identical ({} checks)", report.checked.len());
        mode.line(format_args!("  ok    {line}"));
        found.checked.push(line);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The epochs of `netuid` reachable from its `latest.json` back along the summaries'
/// `previous` links, oldest first. The walk ends at a summary naming no previous one; a
/// summary that does not parse ends it too, kept in the list so that the history check says
/// what is wrong with it. A previous summary named but not published is a gap (a
/// `Mismatch`, as a folder's audit finds it); what cannot be read is `Unusable`.
fn linked_epochs(store: &dyn ObjectStore, netuid: u16) -> Outcome<Vec<u64>> {
    let unusable = AuditFailure::Unusable;
    let head = super::audit::resolve_latest(store, &keys::latest(netuid)).map_err(unusable)?;
    let epoch = head
        .strip_prefix(&format!("epochs/{netuid}/"))
        .and_then(|rest| rest.strip_suffix("/summary.json"))
        .and_then(|epoch| epoch.parse::<u64>().ok())
        .filter(|epoch| keys::summary(netuid, *epoch) == head)
        .ok_or_else(|| unusable(format!("latest.json names {head:?}, not a summary of netuid {netuid}")))?;
    let mut epochs = Vec::new();
    let mut next = Some(epoch);
    while let Some(at) = next {
        if epochs.len() >= MAX_EPOCHS {
            return Err(unusable(format!("the history of netuid {netuid} is longer than {MAX_EPOCHS} epochs")));
        }
        let bytes = store.get(&keys::summary(netuid, at)).map_err(|e| unusable(e.to_string()))?;
        if bytes.is_none()
            && let Some(named_by) = epochs.last()
        {
            return Err(AuditFailure::Mismatch(format!(
                "gap: epoch {named_by} follows epoch {at}, which is not published"
            )));
        }
        epochs.push(at);
        next = bytes
            .filter(|bytes| bytes.len() as u64 <= MAX_SUMMARY_BYTES)
            .and_then(|bytes| Summary::parse_and_verify(&bytes).ok())
            .and_then(|summary| summary.previous_link().map(|(previous, _)| previous));
        if let Some(previous) = next
            && previous >= at
        {
            return Err(unusable(format!("the summary of epoch {at} names epoch {previous} as its previous one")));
        }
    }
    epochs.reverse();
    Ok(epochs)
}

/// What a history audit is asked.
pub struct HistoryArgs<'a> {
    pub root: &'a Location,
    pub validator: Option<String>,
    pub local_chain: Option<&'a Path>,
    pub netuid: Option<u16>,
}

pub fn run(store: &dyn ObjectStore, args: HistoryArgs, mode: Mode) -> CmdResult {
    let validator =
        args.validator.ok_or_else(|| unusable(anyhow!("auditing a publication's history needs --validator <SS58>")))?;
    let root = super::audit::display_root(args.root);
    let fail = |json: AuditJson, epoch: Option<u64>, mismatch: String, found: Found| {
        mode.result(format_args!("FAIL: {mismatch}"), &json.fail(epoch, mismatch.clone(), found.checked, found.notes));
        failed(anyhow!("audit failed: {mismatch}"))
    };
    let (netuid, epochs) = match (args.root, args.netuid) {
        (Location::Folder(dir), netuid) => published_epochs(dir, netuid).map_err(|e| unusable(anyhow!(e)))?,
        (_, Some(netuid)) => match linked_epochs(store, netuid) {
            Ok(epochs) => (netuid, epochs),
            Err(AuditFailure::Mismatch(m)) => {
                let json = AuditJson::new(root, Some(netuid), Vec::new());
                return Err(fail(json, epoch_named(&m), m, Found::default()));
            }
            Err(AuditFailure::Unusable(m)) => return Err(unusable(anyhow!("cannot audit: {m}"))),
        },
        (remote, None) => {
            return Err(unusable(anyhow!(
                "auditing the history of {remote} needs --netuid N (a remote publication is not listed)"
            )));
        }
    };
    let json = AuditJson::new(root.clone(), Some(netuid), epochs.clone());
    let chain = match args.local_chain.map(|dir| local_chain_record(dir, netuid, &validator)).transpose()? {
        Some(Ok(record)) => record,
        Some(Err(mismatch)) => return Err(fail(json, None, mismatch, Found::default())),
        None => ChainRecord::NotRead,
    };
    let options = AuditOptions { validator: Some(validator), ..AuditOptions::default() };
    mode.line(format_args!("auditing netuid {netuid}: {} epochs published in {root}", epochs.len()));
    let mut found = Found::default();
    match audit_all(store, netuid, &epochs, &options, &chain, mode, &mut found) {
        Ok(()) => {
            mode.result("PASS", &json.pass(found.checked, found.notes));
            Ok(())
        }
        Err((epoch, AuditFailure::Mismatch(m))) => Err(fail(json, epoch, m, found)),
        Err((_, AuditFailure::Unusable(m))) => Err(unusable(anyhow!("cannot audit: {m}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::epoch_named;

    #[test]
    fn the_epoch_a_mismatch_names() {
        assert_eq!(epoch_named("fork: epoch 3 follows epoch 1, but …"), Some(3));
        assert_eq!(epoch_named("gap: epoch 12 follows epoch 9, which is not published"), Some(12));
        assert_eq!(epoch_named("epoch 2's summary hashes to ab, but the chain holds cd"), Some(2));
        assert_eq!(epoch_named("summary of netuid 1 epoch 4 is stored at epochs/1/5/summary.json"), Some(4));
        assert_eq!(epoch_named("the chain holds no summary hash for this validator"), None);
        assert_eq!(epoch_named("the epoch field"), None);
    }
}
