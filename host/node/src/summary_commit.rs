//! The validator's latest summary hash on chain: after an epoch's objects are published, its
//! sha256 goes into the validator's own commitment as `assay-summary:<epoch>:sha256:<hex>`
//! (`assay_epoch::history::SummaryCommitment`), rewriting only that field, so an owner's
//! `assay-policy:…` fields stay (docs/decisions/0006-summary-hash-chain.md).
//!
//! Idempotent across restarts: the ledger setting [`COMMITTED_SETTING`] says which epoch was
//! committed last, and before committing the chain is asked whether its commitment already
//! names the epoch (a host may die between the chain taking it and the ledger noting it).

use assay_chain::Chain;
use assay_epoch::SummaryCommitment;
use assay_ledger::Ledger;
use tracing::info;

/// The ledger setting naming the last epoch whose summary hash the chain holds.
pub const COMMITTED_SETTING: &str = "summary_committed_epoch";

/// Commits the latest closed epoch's summary hash once it is published: `Ok(Some((epoch,
/// block)))` when this call committed it (or found it on chain), `Ok(None)` when nothing is due
/// (already committed, or not yet published), `Err(reason)` to retry later.
pub async fn commit_latest(
    ledger: &dyn Ledger,
    chain: &dyn Chain,
    netuid: u16,
    validator: &str,
) -> Result<Option<(u64, u64)>, String> {
    let Some(last) = ledger.last_closed().map_err(|e| e.to_string())? else { return Ok(None) };
    let committed = ledger.setting(COMMITTED_SETTING).map_err(|e| e.to_string())?;
    if committed.as_deref() == Some(last.epoch.to_string().as_str()) {
        return Ok(None);
    }
    // The hash goes on chain only once anyone can fetch the summary it names.
    let unpublished = ledger.outgoing().map_err(|e| e.to_string())?;
    if unpublished.iter().any(|item| item.epoch == last.epoch && !item.objects.is_empty()) {
        return Ok(None);
    }
    let wanted = SummaryCommitment { epoch: last.epoch, sha256: last.summary_sha256 };
    let current =
        chain.commitment(netuid, validator).await.map_err(|e| format!("reading the validator's commitment: {e}"))?;
    let fields = current.as_ref().map(|c| c.fields.clone()).unwrap_or_default();
    let block = match (&current, SummaryCommitment::find(&fields)) {
        (Some(c), Ok(Some(found))) if found == wanted => {
            info!(epoch = wanted.epoch, block = c.block, "the chain already holds the summary's hash");
            c.block
        }
        _ => {
            // Only our field is rewritten (a malformed or duplicated one of ours included).
            let new_fields = wanted.rewrite(&fields).map_err(|e| e.to_string())?;
            chain
                .set_commitment(validator, netuid, &new_fields)
                .await
                .map_err(|e| format!("committing the summary's hash: {e}"))?
        }
    };
    ledger.set_setting(COMMITTED_SETTING, &wanted.epoch.to_string()).map_err(|e| e.to_string())?;
    info!(epoch = wanted.epoch, block, sha256 = %wanted.sha256, chain = %chain.describe(), "summary hash committed on chain");
    Ok(Some((wanted.epoch, block)))
}
