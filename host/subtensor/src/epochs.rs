//! The subnet's epoch schedule from the chain.
//!
//! The rule followed is the subtensor pallet's of the spec-365 era (`run_coinbase.rs`,
//! `blocks_until_next_epoch` / `should_run_epoch`): subnet `netuid` with tempo `t` runs its
//! epoch step in the blocks `b` with `(b + netuid + 1) % (t + 1) == t`, and resets
//! `BlocksSinceLastStep` to 0 there. An assay epoch starts the block after a step and lasts
//! `t + 1` blocks. The last step is read from the chain (`head − BlocksSinceLastStep`), so a
//! schedule the chain shifted is followed; when that counter is past a whole tempo (steps
//! skipped) the pallet's formula places the steps instead. Runtimes with the later, stateful
//! scheduler (a `LastEpochBlock` entry: period `t`, anchored on that block) are read that way.

use assay_chain::{Epochs, Result};
use tracing::{debug, warn};

use crate::client::{SubtensorChain, has_storage};

/// The first block of the epoch after a step at `last_step` under the pallet's rule, for a
/// `blocks_since_last_step` that is within a tempo; else the pallet's own formula.
pub(crate) fn schedule(netuid: u16, tempo: u16, head: u64, blocks_since_last_step: u64) -> Option<Epochs> {
    let blocks = u64::from(tempo) + 1;
    let by_formula = Epochs::with_offset(blocks, u64::from(netuid) + 1)?;
    if blocks_since_last_step > u64::from(tempo) || blocks_since_last_step > head {
        warn!(netuid, tempo, blocks_since_last_step, "the subnet skipped epoch steps; following the pallet's formula");
        return Some(by_formula);
    }
    let observed = Epochs::starting_at(blocks, head - blocks_since_last_step + 1)?;
    if observed != by_formula {
        debug!(
            netuid,
            observed = observed.offset(),
            formula = by_formula.offset(),
            "the chain's steps are shifted from the formula"
        );
    }
    Some(observed)
}

impl SubtensorChain {
    /// The schedule at the finalized head; `None` for a subnet with tempo 0 (it never steps).
    pub(crate) async fn read_epochs(&self, netuid: u16) -> Result<Option<Epochs>> {
        let at = self.at_head().await?;
        let tempo: u16 = self.read_required(&at, "SubtensorModule", "Tempo", (netuid,)).await?;
        if tempo == 0 {
            warn!(netuid, "the subnet's tempo is 0: it runs no epochs; the configured schedule applies");
            return Ok(None);
        }
        if has_storage(&at, "SubtensorModule", "LastEpochBlock") {
            let last: u64 = self.read_required(&at, "SubtensorModule", "LastEpochBlock", (netuid,)).await?;
            return Ok(Epochs::starting_at(u64::from(tempo), last.saturating_add(1)));
        }
        let since: u64 = self.read_required(&at, "SubtensorModule", "BlocksSinceLastStep", (netuid,)).await?;
        Ok(schedule(netuid, tempo, at.block_number(), since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pallet's `blocks_until_next_epoch` (spec 365), as written there.
    fn blocks_until_next_epoch(netuid: u16, tempo: u16, block: u64) -> u64 {
        let adjusted = block.wrapping_add(u64::from(netuid) + 1);
        u64::from(tempo).saturating_sub(adjusted % (u64::from(tempo) + 1))
    }

    #[test]
    fn epochs_start_the_block_after_each_step() {
        for (netuid, tempo) in [(3u16, 99u16), (1, 360), (0, 9), (64, 10)] {
            // Walk blocks as the chain does: the step resets the counter.
            let mut since = 0;
            for head in 1..3000u64 {
                since += 1;
                if blocks_until_next_epoch(netuid, tempo, head) == 0 {
                    since = 0;
                }
                if head < 2 * (u64::from(tempo) + 1) {
                    continue;
                }
                let e = schedule(netuid, tempo, head, since).expect("tempo > 0");
                assert_eq!(e.blocks(), u64::from(tempo) + 1);
                let (first, _) = e.block_range(e.of_block(head));
                assert_eq!(blocks_until_next_epoch(netuid, tempo, first - 1), 0, "the block before an epoch is a step");
                // The step itself (counter 0) is its epoch's last block.
                let last_step = head - since;
                assert_eq!(e.of_block(last_step + 1), e.of_block(last_step) + 1);
                assert_eq!(e, Epochs::with_offset(u64::from(tempo) + 1, u64::from(netuid) + 1).expect("positive"));
            }
        }
    }

    #[test]
    fn a_stale_counter_falls_back_to_the_formula() {
        let e = schedule(3, 99, 1000, 500).expect("tempo > 0");
        assert_eq!(e, Epochs::with_offset(100, 4).expect("positive"));
        assert_eq!(e.block_range(e.of_block(1000)).0, 996);
    }
}
