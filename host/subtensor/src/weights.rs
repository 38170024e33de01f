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

use crate::client::{AtBlock, SubtensorChain, has_api, has_call, has_storage};
use crate::commit_reveal;

/// Seconds per block where the runtime does not say (subtensor's 12-second blocks).
const DEFAULT_BLOCK_TIME_S: f64 = 12.0;
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

/// The first block that reveals a commit made with the head at `head`, on runtimes before the
/// stateful scheduler (spec 365 and earlier): the pallet stores a commit under
/// `get_epoch_index(netuid, block) = (block + netuid + 1) / (tempo + 1)` of its block (the next
/// one when the epoch step runs in it) and reveals it in the first block whose index is
/// `reveal_period_epochs` later (FACTS.md, "the older formula"). `None` for tempo 0.
pub(crate) fn legacy_first_reveal_block(netuid: u16, tempo: u16, reveal_period_epochs: u64, head: u64) -> Option<u64> {
    if tempo == 0 {
        return None;
    }
    let (offset, period) = (u64::from(netuid) + 1, u64::from(tempo) + 1);
    let commit_block = head.saturating_add(1);
    let index = (commit_block + offset) / period;
    // `should_run_epoch`: the step runs where (block + netuid + 1) % (tempo + 1) == tempo.
    let step = (commit_block + offset) % period == u64::from(tempo);
    let epoch = if step { index + 1 } else { index };
    epoch.checked_add(reveal_period_epochs)?.checked_mul(period)?.checked_sub(offset)
}

/// The drand quicknet round published at the wall-clock time of `reveal_block` plus the SDK's
/// security margin, with the head at `head` now (the Python SDK's arithmetic, in f64).
pub(crate) fn round_at_block(reveal_block: u64, head: u64, now_unix_s: f64, block_time_s: f64) -> u64 {
    let target = reveal_block.saturating_add(commit_reveal::SECURITY_BLOCK_OFFSET);
    let at = now_unix_s + target.saturating_sub(head) as f64 * block_time_s;
    let genesis = commit_reveal::DRAND_QUICKNET_GENESIS_UNIX_S as f64;
    let round = ((at - genesis) / commit_reveal::DRAND_QUICKNET_PERIOD_S as f64).floor();
    (round as u64).max(1)
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
        if last_update > 0 && at.block_number().saturating_add(1).saturating_sub(last_update) < rate_limit {
            return Err(Error::RateLimited {
                last_update,
                rate_limit,
                retry_at_block: last_update.saturating_add(rate_limit),
            });
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
        let round = self.reveal_round(at, netuid).await?;
        let payload = commit_reveal::WeightsPayload { hotkey, uids, values, version_key };
        let commit = commit_reveal::encrypt_for_round(&payload, round, &mut rand::rngs::OsRng)
            .map_err(|e| Error::Protocol(format!("encrypting the weights for drand round {round}: {e}")))?;
        Ok((commit, round, version))
    }

    /// The drand round at which the chain reveals a commit made now: the Python SDK's replay of
    /// the stateful epoch scheduler where the runtime has one (`LastEpochBlock`), else the
    /// pallet's epoch-index formula of earlier runtimes (spec 365: [`legacy_first_reveal_block`]).
    async fn reveal_round(&self, at: &AtBlock, netuid: u16) -> Result<u64> {
        let module = "SubtensorModule";
        let block_time = self.block_time_s(at).await?;
        let now = (self.clock)();
        let head = at.block_number();
        let refused =
            |e: commit_reveal::RevealError| Error::Refused(format!("no reveal round for subnet {netuid}: {e}"));
        let tempo: u16 = self.read_required(at, module, "Tempo", (netuid,)).await?;
        let read = |entry: &'static str| async move {
            let value: Option<u64> = self.read(at, module, entry, (netuid,)).await?;
            Ok::<u64, Error>(value.unwrap_or(0))
        };
        let reveal_period_epochs = read("RevealPeriodEpochs").await?;
        if has_storage(at, module, "LastEpochBlock") {
            let schedule = commit_reveal::RevealSchedule {
                tempo,
                reveal_period_epochs,
                last_epoch_block: read("LastEpochBlock").await?,
                pending_epoch_at: read("PendingEpochAt").await?,
                subnet_epoch_index: read("SubnetEpochIndex").await?,
                blocks_since_last_step: read("BlocksSinceLastStep").await?,
            };
            return commit_reveal::reveal_round(&schedule, head, now, block_time).map_err(refused);
        }
        let reveal_block = legacy_first_reveal_block(netuid, tempo, reveal_period_epochs, head)
            .ok_or_else(|| Error::Refused(format!("no reveal round for subnet {netuid}: its tempo is 0")))?;
        Ok(round_at_block(reveal_block, head, now, block_time))
    }

    /// Seconds per block: `AuraApi.slot_duration` where the runtime has it, else 12.
    async fn block_time_s(&self, at: &AtBlock) -> Result<f64> {
        if !has_api(at, "AuraApi", "slot_duration") {
            return Ok(DEFAULT_BLOCK_TIME_S);
        }
        let ms: u64 = self.call_api(at, "AuraApi", "slot_duration", ()).await?;
        Ok(if ms == 0 { DEFAULT_BLOCK_TIME_S } else { ms as f64 / 1000.0 })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The pallet (spec 365): `get_epoch_index`, and the epoch a commit made in `block` is
    /// stored under (`internal_commit_timelocked_weights`).
    fn epoch_index(netuid: u16, tempo: u16, block: u64) -> u64 {
        (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1)
    }

    fn commit_epoch(netuid: u16, tempo: u16, block: u64) -> u64 {
        let until_step = u64::from(tempo).saturating_sub((block + u64::from(netuid) + 1) % (u64::from(tempo) + 1));
        epoch_index(netuid, tempo, block) + u64::from(until_step == 0)
    }

    #[test]
    fn the_legacy_reveal_block_is_where_the_pallet_reveals() {
        for (netuid, tempo, period) in [(3u16, 99u16, 1u64), (1, 360, 1), (7, 10, 3), (0, 1, 2)] {
            for head in 0..2_000u64 {
                let stored = commit_epoch(netuid, tempo, head + 1);
                // `reveal_crv3_commits` reveals, in block b, the commits of epoch index(b) − period.
                let reveal = (head + 1..).find(|b| epoch_index(netuid, tempo, *b).checked_sub(period) == Some(stored));
                assert_eq!(
                    legacy_first_reveal_block(netuid, tempo, period, head),
                    reveal,
                    "netuid {netuid} head {head}"
                );
            }
        }
        assert_eq!(legacy_first_reveal_block(3, 0, 1, 1000), None);
    }

    #[test]
    fn rounds_follow_the_wall_clock_of_the_reveal() {
        let genesis = commit_reveal::DRAND_QUICKNET_GENESIS_UNIX_S as f64;
        // Reveal at 1096, +3 blocks of margin: 99 blocks of 12 s after the head.
        assert_eq!(round_at_block(1096, 1000, genesis + 3000.0 - 99.0 * 12.0, 12.0), 1000);
        assert_eq!(round_at_block(1096, 1000, genesis - 1e6, 12.0), 1, "round 0 does not exist");
    }
}
