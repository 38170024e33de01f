//! The commitment to a request's hidden states: a sha256 Merkle tree with one leaf per
//! (hidden-state index, position), so a miner can later open any points with short proofs.
//!
//! - leaf: `sha256(0x00 ‖ u32 LE len(request_id) ‖ request_id ‖ u32 LE layer ‖ u32 LE position ‖ vector bytes)`;
//! - node: `sha256(0x01 ‖ left ‖ right)` (the prefixes keep leaves and nodes apart);
//! - a level with an odd count promotes its last node unchanged (never duplicated, which would
//!   let two leaf lists share a root);
//! - leaves are ordered layer-major: index `layer × positions + position`.
//!
//! The vector bytes are the miner's hidden state as it reports it (little-endian f32 or bf16);
//! the root is all a response carries, about 30,000 leaves for 1,000 tokens of a 28-layer model.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf(request_id: &str, layer: u32, position: u32, vector: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update((request_id.len() as u32).to_le_bytes());
    h.update(request_id.as_bytes());
    h.update(layer.to_le_bytes());
    h.update(position.to_le_bytes());
    h.update(vector);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Index of a (layer, position) leaf in a tree over `positions` positions.
pub fn leaf_index(layer: u32, position: u32, positions: u32) -> u64 {
    u64::from(layer) * u64::from(positions) + u64::from(position)
}

/// A whole tree, kept level by level (leaves first).
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The tree over `leaves` (at least one).
    pub fn new(leaves: Vec<Hash>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let above: Vec<Hash> =
                below.chunks(2).map(|pair| if let [l, r] = pair { node(l, r) } else { pair[0] }).collect();
            levels.push(above);
        }
        Some(Self { levels })
    }

    pub fn root(&self) -> Hash {
        self.levels.last().and_then(|l| l.first()).copied().unwrap_or_default()
    }

    pub fn leaf_count(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Sibling hashes from the leaf up (levels where the node was promoted contribute none).
    pub fn path(&self, index: u64) -> Option<Vec<Hash>> {
        let mut i = usize::try_from(index).ok()?;
        if i >= self.levels[0].len() {
            return None;
        }
        let mut path = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                path.push(level[sibling]);
            }
            i /= 2;
        }
        Some(path)
    }
}

/// Whether `leaf` at `index` of a tree of `leaf_count` leaves, with `path`, gives `root`.
pub fn verify(root: &Hash, leaf: Hash, index: u64, leaf_count: u64, path: &[Hash]) -> bool {
    if index >= leaf_count {
        return false;
    }
    let (mut hash, mut i, mut width, mut steps) = (leaf, index, leaf_count, path.iter());
    while width > 1 {
        let sibling = i ^ 1;
        if sibling < width {
            let Some(s) = steps.next() else { return false };
            hash = if i % 2 == 0 { node(&hash, s) } else { node(s, &hash) };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    steps.next().is_none() && hash == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u32) -> Vec<Hash> {
        (0..n).map(|i| leaf("req-1", i / 10, i % 10, &i.to_le_bytes())).collect()
    }

    #[test]
    fn every_leaf_opens_for_every_tree_size() {
        for n in [1u32, 2, 3, 5, 8, 13, 64, 100] {
            let tree = MerkleTree::new(leaves(n)).expect("tree");
            for i in 0..u64::from(n) {
                let path = tree.path(i).expect("path");
                assert!(verify(&tree.root(), leaves(n)[i as usize], i, u64::from(n), &path), "n {n} leaf {i}");
                // Wrong index, wrong leaf, extra or missing steps, wrong count: all refused.
                if n > 1 {
                    assert!(!verify(&tree.root(), leaves(n)[i as usize], (i + 1) % u64::from(n), u64::from(n), &path));
                }
                assert!(!verify(&tree.root(), leaf("req-1", 99, 0, b"x"), i, u64::from(n), &path));
                let mut longer = path.clone();
                longer.push([7; 32]);
                assert!(!verify(&tree.root(), leaves(n)[i as usize], i, u64::from(n), &longer));
            }
            assert!(tree.path(u64::from(n)).is_none());
        }
        assert!(MerkleTree::new(vec![]).is_none());
    }

    #[test]
    fn a_changed_vector_or_request_changes_the_leaf() {
        let base = leaf("req-1", 3, 4, &[1, 2, 3, 4]);
        assert_ne!(base, leaf("req-1", 3, 4, &[1, 2, 3, 5]));
        assert_ne!(base, leaf("req-2", 3, 4, &[1, 2, 3, 4]));
        assert_ne!(base, leaf("req-1", 4, 3, &[1, 2, 3, 4]));
        // Length-prefixed id: "req-1" + layer bytes cannot collide with "req-" + other bytes.
        assert_ne!(leaf("ab", 0, 0, &[]), leaf("a", u32::from_le_bytes([b'b', 0, 0, 0]), 0, &[0, 0, 0, 0]));
        assert_eq!(leaf_index(2, 5, 10), 25);
    }

    #[test]
    fn odd_levels_promote_rather_than_duplicate() {
        // With duplication, [a, b, c] and [a, b, c, c] would share a root.
        let three = leaves(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(MerkleTree::new(three).expect("tree").root(), MerkleTree::new(four).expect("tree").root());
    }
}
