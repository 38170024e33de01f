//! `assay audit DIR --validator SS58 [--local-chain DIR]`: the run of summaries of a folder
//! checked as a history, then every published epoch rerun (gaps, forks, and the hash the chain
//! holds: `assay_epoch::history`). Only a local chain is read here (synchronously, so the
//! auditor's build needs no async runtime); a subtensor's commitment is the watchtower's.

use std::path::Path;

use anyhow::anyhow;
use assay_chain::LocalChain;
use assay_epoch::audit::{MAX_OBJECT_BYTES, Outcome};
use assay_epoch::history::CommitmentError;
use assay_epoch::{AuditFailure, AuditFolder, AuditOptions, ChainRecord, SummaryCommitment, audit_with, check_history};
use assay_policy_runtime::Runtime;

use crate::{CmdResult, Exit, failed, unusable};

/// The most epochs one history audit reads (a folder is outside input).
const MAX_EPOCHS: usize = 100_000;

/// The netuid and epochs published under `root/epochs/`: exactly one netuid, numbered folders.
fn published_epochs(root: &Path) -> Result<(u16, Vec<u64>), String> {
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
fn local_chain_record(dir: &Path, netuid: u16, validator: &str) -> Result<ChainRecord, Exit> {
    let chain = LocalChain::open(dir).map_err(unusable)?;
    let log = chain.commitments_log().map_err(unusable)?;
    let latest = log.into_iter().rev().find(|entry| entry.netuid == netuid && entry.hotkey == validator);
    let fields = latest.map(|entry| entry.commitment.fields).unwrap_or_default();
    chain_record(&fields).map_err(|e| {
        println!("FAIL: the validator's commitment: {e}");
        failed(anyhow!("audit failed: the validator's commitment: {e}"))
    })
}

/// Checks the history (cheap: hashes and signatures), then reruns each epoch; prints as it goes.
fn audit_all(
    store: &AuditFolder,
    netuid: u16,
    epochs: &[u64],
    options: &AuditOptions,
    chain: &ChainRecord,
) -> Outcome<()> {
    let history = check_history(store, netuid, epochs, options, chain)?;
    for line in &history.checked {
        println!("  ok    {line}");
    }
    for note in &history.notes {
        println!("  note  {note}");
    }
    let runtime = Runtime::new(None).map_err(|e| AuditFailure::Unusable(e.to_string()))?;
    for &epoch in epochs {
        let key = assay_epoch::keys::summary(netuid, epoch);
        let report = audit_with(store, &key, &runtime, options)?;
        println!("  ok    epoch {epoch}: rerun identical ({} checks)", report.checked.len());
    }
    Ok(())
}

pub fn run(root: &Path, validator: Option<String>, local_chain: Option<&Path>) -> CmdResult {
    let validator =
        validator.ok_or_else(|| unusable(anyhow!("auditing a folder's history needs --validator <SS58>")))?;
    let (netuid, epochs) = published_epochs(root).map_err(|e| unusable(anyhow!(e)))?;
    let chain = match local_chain {
        Some(dir) => local_chain_record(dir, netuid, &validator)?,
        None => ChainRecord::NotRead,
    };
    let store = AuditFolder::new(root, MAX_OBJECT_BYTES);
    let options = AuditOptions { validator: Some(validator), ..AuditOptions::default() };
    println!("auditing netuid {netuid}: {} epochs published in {}", epochs.len(), root.display());
    match audit_all(&store, netuid, &epochs, &options, &chain) {
        Ok(()) => {
            println!("PASS");
            Ok(())
        }
        Err(AuditFailure::Mismatch(m)) => {
            println!("FAIL: {m}");
            Err(failed(anyhow!("audit failed: {m}")))
        }
        Err(AuditFailure::Unusable(m)) => Err(unusable(anyhow!("cannot audit: {m}"))),
    }
}
