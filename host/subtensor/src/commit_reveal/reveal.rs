//! The drand round a commit-reveal v4 commit is encrypted to: the chain's epoch schedule replayed
//! block by block to the first block that reveals the commit, three blocks of margin, then the
//! drand quicknet round that will have been published by then.
//!
//! A port of `epoch_schedule::predict_first_reveal_block` and the round arithmetic of
//! `generate_commit_v2` in bittensor-drand 2.0.0 (the same code as bittensor-core 0.1.5, which
//! bittensor 11.3.0 calls from `get_encrypted_commit_v2`). The chain reveals a commit when
//! `reveal_crv3_commits` (which runs before `run_coinbase` in each block) sees the commit's epoch
//! plus `RevealPeriodEpochs`; epochs start when `run_coinbase` decides the subnet is due (its
//! tempo elapsed, an owner-triggered `PendingEpochAt`, or `BlocksSinceLastStep` past the
//! maximum tempo).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Drand quicknet's first round, in unix seconds.
pub const DRAND_QUICKNET_GENESIS_UNIX_S: u64 = 1_692_803_367;
/// Seconds between drand quicknet rounds.
pub const DRAND_QUICKNET_PERIOD_S: u64 = 3;
/// Blocks past the reveal block the round aims at, so the chain has ingested its pulse.
pub const SECURITY_BLOCK_OFFSET: u64 = 3;
/// A commit submitted against the head lands in the next block.
const COMMIT_INCLUSION_BLOCK_OFFSET: u64 = 1;
/// The chain's ceiling on an owner-set tempo (`MAX_TEMPO`): past it an epoch always runs.
const MAX_TEMPO: u64 = 50_400;
/// The chain's ceiling on `RevealPeriodEpochs` (`MAX_COMMIT_REVEAL_PEROIDS`); a node reporting
/// more is refused rather than replayed for millions of blocks.
pub const MAX_REVEAL_PERIOD_EPOCHS: u64 = 100;

/// The subnet's epoch schedule as the chain stores it, all read at the same block
/// (`SubtensorModule` storage of the netuid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealSchedule {
    /// `Tempo`: blocks per epoch.
    pub tempo: u16,
    /// `RevealPeriodEpochs`: epochs between a commit's epoch and its reveal.
    pub reveal_period_epochs: u64,
    /// `LastEpochBlock`: the block at which the last epoch ran.
    pub last_epoch_block: u64,
    /// `PendingEpochAt`: an owner-triggered epoch's block, 0 if none.
    pub pending_epoch_at: u64,
    /// `SubnetEpochIndex`: the subnet's epoch counter.
    pub subnet_epoch_index: u64,
    /// `BlocksSinceLastStep`.
    pub blocks_since_last_step: u64,
}

/// Why no reveal round could be computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RevealError {
    #[error("tempo is 0: the subnet runs no epochs, so a commit is never revealed")]
    TempoIsZero,
    #[error("reveal period of {0} epochs is above the chain's maximum of {MAX_REVEAL_PERIOD_EPOCHS}")]
    RevealPeriodTooLarge(u64),
    #[error("no block reveals the commit within {0} simulated blocks")]
    BoundExceeded(u64),
    #[error("block {0} is out of range")]
    BlockOutOfRange(u64),
    #[error("block time {0} s is not a positive number")]
    BadBlockTime(f64),
    #[error("clock reading {0} is not a finite number of unix seconds")]
    BadClock(f64),
}

/// The schedule as it evolves block by block (the chain's state, plus the block it is at).
#[derive(Debug, Clone, Copy)]
struct State {
    schedule: RevealSchedule,
}

impl State {
    /// `run_coinbase`'s test for whether the subnet's epoch runs at `block`.
    fn epoch_runs_at(&self, block: u64) -> bool {
        let s = &self.schedule;
        if s.tempo == 0 {
            return false;
        }
        if s.pending_epoch_at > 0 && block >= s.pending_epoch_at {
            return true;
        }
        if s.blocks_since_last_step > MAX_TEMPO {
            return true;
        }
        block.saturating_sub(s.last_epoch_block) >= u64::from(s.tempo)
    }

    /// The epoch index `reveal_crv3_commits` sees at `block` (it runs before `run_coinbase`).
    fn epoch_before_coinbase(&self, block: u64) -> u64 {
        let base = self.schedule.subnet_epoch_index;
        if self.epoch_runs_at(block) { base.saturating_add(1) } else { base }
    }

    /// The state after `run_coinbase` at `block`.
    fn after_coinbase(mut self, block: u64) -> Self {
        let s = &mut self.schedule;
        s.blocks_since_last_step = s.blocks_since_last_step.saturating_add(1);
        if self.epoch_runs_at(block) {
            let s = &mut self.schedule;
            s.last_epoch_block = block;
            s.pending_epoch_at = 0;
            s.subnet_epoch_index = s.subnet_epoch_index.saturating_add(1);
            s.blocks_since_last_step = 0;
        }
        self
    }
}

/// The first block whose `reveal_crv3_commits` reveals a commit submitted when the chain's head
/// is `current_block` (the commit lands in the next block).
pub fn first_reveal_block(s: &RevealSchedule, current_block: u64) -> Result<u64, RevealError> {
    if s.tempo == 0 {
        return Err(RevealError::TempoIsZero);
    }
    if s.reveal_period_epochs > MAX_REVEAL_PERIOD_EPOCHS {
        return Err(RevealError::RevealPeriodTooLarge(s.reveal_period_epochs));
    }
    let extrinsic_block =
        current_block.checked_add(COMMIT_INCLUSION_BLOCK_OFFSET).ok_or(RevealError::BlockOutOfRange(current_block))?;
    // With an inclusion offset of one block there are no blocks to replay before the commit's.
    let mut state = State { schedule: *s };
    let commit_epoch = state.epoch_before_coinbase(extrinsic_block);
    let budget = s.reveal_period_epochs.saturating_mul(MAX_TEMPO).saturating_add(MAX_TEMPO);
    let target_epoch = commit_epoch.checked_add(s.reveal_period_epochs).ok_or(RevealError::BoundExceeded(budget))?;
    for block in extrinsic_block..=extrinsic_block.saturating_add(budget) {
        if state.epoch_before_coinbase(block) == target_epoch {
            return Ok(block);
        }
        state = state.after_coinbase(block);
    }
    Err(RevealError::BoundExceeded(budget))
}

/// The drand quicknet round whose signature decrypts a commit made now (`now_unix_s`, with the
/// chain's head at `current_block` and `block_time_s` seconds per block, the chain's
/// `Aura.SlotDuration` / 1000): the round published at the wall-clock time of the first reveal
/// block plus [`SECURITY_BLOCK_OFFSET`], `floor((now + blocks × block_time − genesis) / 3)`,
/// at least 1. The same f64 arithmetic, in the same order, as the Python SDK.
pub fn reveal_round(
    s: &RevealSchedule,
    current_block: u64,
    now_unix_s: f64,
    block_time_s: f64,
) -> Result<u64, RevealError> {
    if !block_time_s.is_finite() || block_time_s <= 0.0 {
        return Err(RevealError::BadBlockTime(block_time_s));
    }
    if !now_unix_s.is_finite() {
        return Err(RevealError::BadClock(now_unix_s));
    }
    let reveal_block = first_reveal_block(s, current_block)?;
    let target_block = reveal_block.saturating_add(SECURITY_BLOCK_OFFSET);
    let seconds_until_target = target_block.saturating_sub(current_block) as f64 * block_time_s;
    let target_unix_s = now_unix_s + seconds_until_target;
    let round = ((target_unix_s - DRAND_QUICKNET_GENESIS_UNIX_S as f64) / DRAND_QUICKNET_PERIOD_S as f64).floor();
    // A float-to-int `as` saturates (negative to 0), as the SDK's does; round 0 does not exist.
    Ok((round as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(tempo: u16, last_epoch_block: u64, pending_epoch_at: u64) -> RevealSchedule {
        RevealSchedule {
            tempo,
            reveal_period_epochs: 1,
            last_epoch_block,
            pending_epoch_at,
            subnet_epoch_index: 0,
            blocks_since_last_step: 0,
        }
    }

    // The vectors bittensor-drand 2.0.0 pins in its own tests (`epoch_schedule_vectors.rs`).
    #[test]
    fn the_sdks_own_vectors() {
        assert_eq!(first_reveal_block(&schedule(0, 10, 0), 10), Err(RevealError::TempoIsZero));
        assert_eq!(first_reveal_block(&schedule(50, 10, 0), 10), Ok(60));
        assert_eq!(first_reveal_block(&schedule(20, 80, 95), 91), Ok(95));
    }

    #[test]
    fn refuses_what_the_chain_cannot_hold() {
        let mut s = schedule(360, 0, 0);
        s.reveal_period_epochs = MAX_REVEAL_PERIOD_EPOCHS + 1;
        assert_eq!(first_reveal_block(&s, 10), Err(RevealError::RevealPeriodTooLarge(101)));
        let s = schedule(360, 0, 0);
        assert_eq!(first_reveal_block(&s, u64::MAX), Err(RevealError::BlockOutOfRange(u64::MAX)));
        assert_eq!(reveal_round(&s, 10, 1.8e9, 0.0), Err(RevealError::BadBlockTime(0.0)));
        assert!(matches!(reveal_round(&s, 10, f64::NAN, 12.0), Err(RevealError::BadClock(_))));
    }

    #[test]
    fn the_longest_schedule_the_chain_allows_is_replayed_quickly() {
        let mut s = schedule(u16::MAX, 0, 0);
        s.reveal_period_epochs = MAX_REVEAL_PERIOD_EPOCHS;
        let started = std::time::Instant::now();
        let block = first_reveal_block(&s, 1).expect("a reveal block");
        // A tempo above the chain's maximum still ends after MAX_TEMPO blocks without a step.
        assert!(block > MAX_REVEAL_PERIOD_EPOCHS * MAX_TEMPO, "{block}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn a_round_before_genesis_is_round_one() {
        assert_eq!(reveal_round(&schedule(10, 0, 0), 0, 0.0, 12.0), Ok(1));
    }
}
