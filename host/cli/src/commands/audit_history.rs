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
    AuditFailure, AuditOptions, ChainRecord, ObjectStore, Summary, SummaryCommitment, audit_with, check_history, keys,
};
use assay_policy_runtime::Runtime;
use assay_publish::Location;

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

/// What the local chain in `dir` holds for `validator` on `netuid`.
fn local_chain_record(dir: &Path, netuid: u16, validator: &str, mode: Mode) -> Result<ChainRecord, Exit> {
    let chain = LocalChain::open(dir).map_err(unusable)?;
    let log = chain.commitments_log().map_err(unusable)?;
    let latest = log.into_iter().rev().find(|entry| entry.netuid == netuid && entry.hotkey == validator);
    let fields = latest.map(|entry| entry.commitment.fields).unwrap_or_default();
    chain_record(&fields).map_err(|e| {
        let mismatch = format!("the validator's commitment: {e}");
        mode.result(format_args!("FAIL: {mismatch}"), &fail_json(netuid, &[], &mismatch));
        failed(anyhow!("audit failed: {mismatch}"))
    })
}

/// The JSON of a failed history audit.
fn fail_json(netuid: u16, epochs: &[u64], mismatch: &str) -> serde_json::Value {
    serde_json::json!({ "verdict": "FAIL", "netuid": netuid, "epochs": epochs, "mismatches": [mismatch] })
}

/// Checks the history (cheap: hashes and signatures), then reruns each epoch under a progress
/// bar; prints as it goes and returns what it checked.
fn audit_all(
    store: &dyn ObjectStore,
    netuid: u16,
    epochs: &[u64],
    options: &AuditOptions,
    chain: &ChainRecord,
    mode: Mode,
) -> Outcome<Vec<String>> {
    let history = check_history(store, netuid, epochs, options, chain)?;
    for line in &history.checked {
        mode.line(format_args!("  ok    {line}"));
    }
    for note in &history.notes {
        mode.line(format_args!("  note  {note}"));
    }
    let mut checked = history.checked;
    let runtime = Runtime::new(None).map_err(|e| AuditFailure::Unusable(e.to_string()))?;
    let bar = crate::progress::bar(epochs.len() as u64, "rerunning epochs");
    for &epoch in epochs {
        let key = assay_epoch::keys::summary(netuid, epoch);
        let report = audit_with(store, &key, &runtime, options)?;
        let line = format!("epoch {epoch}: rerun identical ({} checks)", report.checked.len());
        mode.line(format_args!("  ok    {line}"));
        checked.push(line);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(checked)
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
    let (netuid, epochs) = match (args.root, args.netuid) {
        (Location::Folder(dir), netuid) => published_epochs(dir, netuid).map_err(|e| unusable(anyhow!(e)))?,
        (_, Some(netuid)) => match linked_epochs(store, netuid) {
            Ok(epochs) => (netuid, epochs),
            Err(AuditFailure::Mismatch(m)) => {
                mode.result(format_args!("FAIL: {m}"), &fail_json(netuid, &[], &m));
                return Err(failed(anyhow!("audit failed: {m}")));
            }
            Err(AuditFailure::Unusable(m)) => return Err(unusable(anyhow!("cannot audit: {m}"))),
        },
        (remote, None) => {
            return Err(unusable(anyhow!(
                "auditing the history of {remote} needs --netuid N (a remote publication is not listed)"
            )));
        }
    };
    let chain = match args.local_chain {
        Some(dir) => local_chain_record(dir, netuid, &validator, mode)?,
        None => ChainRecord::NotRead,
    };
    let options = AuditOptions { validator: Some(validator), ..AuditOptions::default() };
    let root = super::audit::display_root(args.root);
    mode.line(format_args!("auditing netuid {netuid}: {} epochs published in {root}", epochs.len()));
    match audit_all(store, netuid, &epochs, &options, &chain, mode) {
        Ok(checked) => {
            let json = serde_json::json!({
                "verdict": "PASS", "location": root, "netuid": netuid, "epochs": epochs,
                "checked": checked, "mismatches": [],
            });
            mode.result("PASS", &json);
            Ok(())
        }
        Err(AuditFailure::Mismatch(m)) => {
            mode.result(format_args!("FAIL: {m}"), &fail_json(netuid, &epochs, &m));
            Err(failed(anyhow!("audit failed: {m}")))
        }
        Err(AuditFailure::Unusable(m)) => Err(unusable(anyhow!("cannot audit: {m}"))),
    }
}
