//! Block → epoch arithmetic: the one definition every part of the host uses.
//!
//! Epoch `e` covers blocks `e × blocks ..= (e + 1) × blocks − 1`.

use serde::{Deserialize, Serialize};

/// An epoch schedule of a fixed number of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epochs {
    blocks: u64,
}

impl Epochs {
    /// A schedule of `blocks` per epoch; `None` for zero, which has no epochs.
    pub fn new(blocks: u64) -> Option<Self> {
        (blocks > 0).then_some(Self { blocks })
    }

    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The epoch `block` belongs to.
    pub fn of_block(&self, block: u64) -> u64 {
        block / self.blocks
    }

    /// The first and the last block of `epoch`.
    pub fn block_range(&self, epoch: u64) -> (u64, u64) {
        let start = epoch.saturating_mul(self.blocks);
        (start, start.saturating_add(self.blocks - 1))
    }

    /// How far into its epoch `block` is, in `[0, 1)`.
    pub fn progress(&self, block: u64) -> f64 {
        (block % self.blocks) as f64 / self.blocks as f64
    }

    /// Whether a neuron registered at `registered_at_block` is still new at `block`: younger
    /// than `epochs` whole epochs.
    pub fn is_new(&self, registered_at_block: u64, block: u64, epochs: u64) -> bool {
        registered_at_block.saturating_add(epochs.saturating_mul(self.blocks)) > block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_map_to_epochs_and_back() {
        let e = Epochs::new(125).expect("positive");
        assert_eq!(Epochs::new(0), None);
        assert_eq!((e.of_block(0), e.of_block(124), e.of_block(125)), (0, 0, 1));
        assert_eq!(e.block_range(2), (250, 374));
        assert!(e.block_range(2).1 + 1 == e.block_range(3).0);
        assert_eq!(e.of_block(e.block_range(7).1), 7);
        assert!((e.progress(250 + 25) - 0.2).abs() < 1e-12);
        assert!(e.is_new(100, 349, 2) && !e.is_new(100, 350, 2));
        assert_eq!(e.block_range(u64::MAX).0, u64::MAX);
    }
}
