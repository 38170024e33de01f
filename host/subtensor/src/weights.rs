//! Weights: `set_weights` (SubtensorModule call 0), or commit-reveal v4's
//! `commit_timelocked_weights` when the subnet has commit-reveal on; and whether the chain
//! already holds a given call (for the node's idempotent retry).
//!
//! What goes on chain is a pure function of the signed call: the policy's u16 weights pass
//! through `convert_weights_and_uids_for_emit` (the Python SDK's normalization: max-upscaled to
//! u16, zeros dropped), with the subnet's `WeightsVersionKey` read from the chain. Before
//! signing, the permit (`ValidatorPermit`) and the rate limit (`WeightsSetRateLimit` blocks
//! since `LastUpdate`) are checked, so the typed refusal says when to retry.

use assay_chain::{Error, Result, WeightsCall};
use assay_keys::decode_ss58;
use subxt::utils::AccountId32;
use tracing::{error, info};

use crate::client::{AtBlock, SubtensorChain, has_call, has_storage};
use crate::commit_reveal;

/// Block time the reveal round is computed with (subtensor's 12-second blocks).
const BLOCK_TIME_S: f64 = 12.0;
/// The commit-reveal version when the runtime does not say (subtensor's default).
const DEFAULT_COMMIT_REVEAL_VERSION: u16 = 4;
/// How many epochs back `weights_accepted_since` looks for a timelocked commit.
const MAX_COMMIT_EPOCHS: u64 = 8;

/// A timelocked commit as `TimelockedWeightCommits` stores it.
type TimelockedCommit = (AccountId32, u64, Vec<u8>, u64);

/// The uids and u16 values that go on chain for `call` (the SDK's normalization); refused when
/// nothing is left to set.
pub(crate) fn emitted(call: &WeightsCall) -> Result<(Vec<u16>, Vec<u16>)> {
    if call.uids.len() != call.weights.len() {
        return Err(Error::Refused(format!("{} uids but {} weights", call.uids.len(), call.weights.len())));
    }
    let weights: Vec<f64> = call.weights.iter().map(|w| f64::from(*w)).collect();
    let (uids, values) = commit_reveal::convert_weights_and_uids_for_emit(&call.uids, &weights)
        .map_err(|e| Error::Refused(format!("normalizing the weights: {e}")))?;
    if uids.is_empty() {
        return Err(Error::Refused("every weight is zero: nothing to set".into()));
    }
    Ok((uids, values))
}

/// What the checks before signing read.
struct Standing {
    uid: u16,
    version_key: u64,
    commit_reveal: bool,
}

impl SubtensorChain {
    /// Checks that `account` may set weights on `netuid` now, and reads what the call needs.
    async fn standing(
        &self,
        at: &AtBlock,
        netuid: u16,
        hotkey: &str,
        account: [u8; 32],
        asked_version: u64,
    ) -> Result<Standing> {
        let module = "SubtensorModule";
        let uid: u16 = self
            .read(at, module, "Uids", (netuid, AccountId32(account)))
            .await?
            .ok_or_else(|| Error::NotRegistered { hotkey: hotkey.to_string(), netuid })?;
        let permits: Vec<bool> = self.read_required(at, module, "ValidatorPermit", (netuid,)).await?;
        if !permits.get(usize::from(uid)).copied().unwrap_or(false) {
            return Err(Error::NoValidatorPermit { hotkey: hotkey.to_string(), netuid });
        }
        let rate_limit: u64 = self.read_required(at, module, "WeightsSetRateLimit", (netuid,)).await?;
        let last_updates: Vec<u64> = self.read_required(at, module, "LastUpdate", (netuid,)).await?;
        let last_update = last_updates.get(usize::from(uid)).copied().unwrap_or(0);
        // The extrinsic lands in a block after the finalized head.
        if last_update > 0 && (at.block_number() + 1).saturating_sub(last_update) < rate_limit {
            return Err(Error::RateLimited { last_update, rate_limit, retry_at_block: last_update + rate_limit });
        }
        let version_key: u64 = self.read_required(at, module, "WeightsVersionKey", (netuid,)).await?;
        if version_key != asked_version {
            error!(
                netuid,
                configured = asked_version,
                chain = version_key,
                "the configured version_key differs from the subnet's WeightsVersionKey; using the chain's"
            );
        }
        let commit_reveal: bool =
            self.read(at, module, "CommitRevealWeightsEnabled", (netuid,)).await?.unwrap_or(false);
        Ok(Standing { uid, version_key, commit_reveal })
    }

    /// Sets weights (or commits them, timelocked) as `hotkey`; returns the inclusion block.
    pub(crate) async fn send_weights(&self, hotkey: &str, call: &WeightsCall) -> Result<u64> {
        let signer = self.signer_for(hotkey)?;
        let (uids, values) = emitted(call)?;
        let (at, standing) = self
            .bounded("checking the validator's standing", async {
                let at = self.at_head().await?;
                let standing = self.standing(&at, call.netuid, hotkey, signer.public(), call.version_key).await?;
                Ok((at, standing))
            })
            .await?;
        info!(
            netuid = call.netuid,
            uid = standing.uid,
            miners = uids.len(),
            commit_reveal = standing.commit_reveal,
            "sending weights"
        );
        if !standing.commit_reveal {
            let tx =
                subxt::dynamic::tx("SubtensorModule", "set_weights", (call.netuid, uids, values, standing.version_key));
            return self.submit(at, signer, tx).await;
        }
        let (commit, reveal_round, version) = self
            .bounded(
                "preparing the timelocked commit",
                self.timelocked(&at, call.netuid, signer.public(), uids, values, standing.version_key),
            )
            .await?;
        info!(
            netuid = call.netuid,
            reveal_round,
            bytes = commit.len(),
            "weights encrypted to the drand round of the reveal"
        );
        let tx = subxt::dynamic::tx(
            "SubtensorModule",
            "commit_timelocked_weights",
            (call.netuid, commit, reveal_round, version),
        );
        self.submit(at, signer, tx).await
    }

    /// The commit-reveal v4 commit of these weights: the ciphertext, its drand round and the
    /// commit-reveal version.
    async fn timelocked(
        &self,
        at: &AtBlock,
        netuid: u16,
        hotkey: [u8; 32],
        uids: Vec<u16>,
        values: Vec<u16>,
        version_key: u64,
    ) -> Result<(Vec<u8>, u64, u16)> {
        if !has_call(at, "SubtensorModule", "commit_timelocked_weights") {
            return Err(Error::Protocol(format!(
                "subnet {netuid} has commit-reveal on, but this runtime has no commit_timelocked_weights (commit-reveal v4)"
            )));
        }
        let version: u16 = self
            .read(at, "SubtensorModule", "CommitRevealWeightsVersion", ())
            .await?
            .unwrap_or(DEFAULT_COMMIT_REVEAL_VERSION);
        let schedule = self.reveal_schedule(at, netuid).await?;
        let now = (self.clock)();
        let round = commit_reveal::reveal_round(&schedule, netuid, at.block_number(), now, BLOCK_TIME_S);
        let payload = commit_reveal::WeightsPayload { hotkey, uids, values, version_key };
        let commit = commit_reveal::encrypt_for_round(&payload, round, &mut rand::rngs::OsRng)
            .map_err(|e| Error::Protocol(format!("encrypting the weights for drand round {round}: {e}")))?;
        Ok((commit, round, version))
    }

    /// The chain values the reveal round is computed from (0 for entries this runtime lacks,
    /// as the Python SDK reads them).
    async fn reveal_schedule(&self, at: &AtBlock, netuid: u16) -> Result<commit_reveal::RevealSchedule> {
        let module = "SubtensorModule";
        let read = |entry: &'static str| async move {
            let value: Option<u64> = self.read(at, module, entry, (netuid,)).await?;
            Ok::<u64, Error>(value.unwrap_or(0))
        };
        let tempo: u16 = self.read_required(at, module, "Tempo", (netuid,)).await?;
        Ok(commit_reveal::RevealSchedule {
            tempo: u64::from(tempo),
            reveal_period_epochs: read("RevealPeriodEpochs").await?,
            last_epoch_block: read("LastEpochBlock").await?,
            pending_epoch_at: read("PendingEpochAt").await?,
            subnet_epoch_index: read("SubnetEpochIndex").await?,
            blocks_since_last_step: read("BlocksSinceLastStep").await?,
        })
    }

    /// The block at which the chain took `call` from `hotkey` at or after `since`, if it did:
    /// the `Weights` it holds equal the call's (normalized) and `LastUpdate` ≥ `since`, or a
    /// timelocked commit from the hotkey at a block ≥ `since`.
    pub(crate) async fn weights_since(&self, hotkey: &str, call: &WeightsCall, since: u64) -> Result<Option<u64>> {
        let account = decode_ss58(hotkey).map_err(|e| Error::Refused(format!("hotkey {hotkey}: {e}")))?;
        let (uids, values) = emitted(call)?;
        let at = self.at_head().await?;
        let module = "SubtensorModule";
        let Some(uid) = self.read::<_, u16>(&at, module, "Uids", (call.netuid, AccountId32(account))).await? else {
            return Ok(None);
        };
        let last_updates: Vec<u64> = self.read_required(&at, module, "LastUpdate", (call.netuid,)).await?;
        let last_update = last_updates.get(usize::from(uid)).copied().unwrap_or(0);
        if last_update < since {
            return Ok(None);
        }
        let held: Vec<(u16, u16)> = self.read(&at, module, "Weights", (call.netuid, uid)).await?.unwrap_or_default();
        let wanted: Vec<(u16, u16)> = uids.into_iter().zip(values).collect();
        if held == wanted {
            return Ok(Some(last_update));
        }
        self.commit_since(&at, call.netuid, account, since).await
    }

    /// The block of a timelocked commit from `account` at or after `since`, looked for under
    /// the epochs from `since`'s to the head's (the pallet keys commits by epoch index).
    async fn commit_since(&self, at: &AtBlock, netuid: u16, account: [u8; 32], since: u64) -> Result<Option<u64>> {
        if !has_storage(at, "SubtensorModule", "TimelockedWeightCommits") {
            return Ok(None);
        }
        let tempo: u16 = self.read_required(at, "SubtensorModule", "Tempo", (netuid,)).await?;
        let epoch_index = |block: u64| (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1);
        let last = epoch_index(at.block_number()) + 1;
        let first = epoch_index(since).max(last.saturating_sub(MAX_COMMIT_EPOCHS));
        for epoch in first..=last {
            let commits: Vec<TimelockedCommit> =
                self.read(at, "SubtensorModule", "TimelockedWeightCommits", (netuid, epoch)).await?.unwrap_or_default();
            if let Some((_, block, _, _)) =
                commits.iter().find(|(who, block, _, _)| who.0 == account && *block >= since)
            {
                return Ok(Some(*block));
            }
        }
        Ok(None)
    }
}
