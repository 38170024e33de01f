//! Block → epoch arithmetic: the one definition every part of the host uses.
//!
//! Epoch `e` covers blocks `e × blocks − offset ..= (e + 1) × blocks − offset − 1`: the local
//! chain's epochs start at block 0 (offset 0); a subtensor subnet's start the block after its
//! epoch step, wherever the chain's tempo put that step (the backend works out the offset).

use serde::{Deserialize, Serialize};

/// An epoch schedule of a fixed number of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epochs {
    blocks: u64,
    /// Added to a block before dividing, in `[0, blocks)`.
    #[serde(default)]
    offset: u64,
}

impl Epochs {
    /// A schedule of `blocks` per epoch; `None` for zero, which has no epochs.
    pub fn new(blocks: u64) -> Option<Self> {
        (blocks > 0).then_some(Self { blocks, offset: 0 })
    }

    /// A schedule of `blocks` per epoch whose epochs start at the blocks `b` with
    /// `(b + offset) % blocks == 0`; `None` for zero blocks.
    pub fn with_offset(blocks: u64, offset: u64) -> Option<Self> {
        (blocks > 0).then(|| Self { blocks, offset: offset % blocks })
    }

    /// The schedule of `blocks` per epoch in which an epoch starts at block `start`.
    pub fn starting_at(blocks: u64, start: u64) -> Option<Self> {
        (blocks > 0).then(|| Self { blocks, offset: (blocks - start % blocks) % blocks })
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The epoch `block` belongs to.
    pub fn of_block(&self, block: u64) -> u64 {
        block.saturating_add(self.offset) / self.blocks
    }

    /// The first and the last block of `epoch` (epoch 0 is shorter when the offset is not 0).
    pub fn block_range(&self, epoch: u64) -> (u64, u64) {
        let start = epoch.saturating_mul(self.blocks);
        let end = start.saturating_add(self.blocks - 1);
        (start.saturating_sub(self.offset), end.saturating_sub(self.offset))
    }

    /// How far into its epoch `block` is, in `[0, 1)`.
    pub fn progress(&self, block: u64) -> f64 {
        (block.saturating_add(self.offset) % self.blocks) as f64 / self.blocks as f64
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

    #[test]
    fn an_offset_moves_the_boundaries() {
        // Tempo 9: a step every 10 blocks, here at 6, 16, 26… (subtensor's rule puts subnet 2's
        // at the blocks b with (b + 3) % 10 == 9); an epoch starts the block after.
        let e = Epochs::starting_at(10, 17).expect("positive");
        assert_eq!(e, Epochs::with_offset(10, 3).expect("positive"));
        assert_eq!(e.offset(), 3);
        assert_eq!((e.of_block(16), e.of_block(17), e.of_block(26), e.of_block(27)), (1, 2, 2, 3));
        assert_eq!(e.block_range(2), (17, 26));
        assert_eq!(e.block_range(0), (0, 6));
        for block in [0, 5, 6, 7, 17, 1000, 123_457] {
            let (first, last) = e.block_range(e.of_block(block));
            assert!(first <= block && block <= last, "block {block} in {first}..={last}");
        }
        assert!((e.progress(19) - 0.2).abs() < 1e-12);
        assert_eq!(Epochs::starting_at(10, 30), Epochs::new(10));
        assert_eq!(Epochs::with_offset(0, 1), None);
    }
}
