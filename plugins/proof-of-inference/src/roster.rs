//! The epoch's miners as this policy sees them: which listed miner a uid is, and whether its
//! challenges this epoch are its own.
//!
//! Owns: the uid lookup and the per-miner flags derived from the metagraph listing. Must not
//! touch: verdicts, the formula or the state blob (`lib.rs`, `formula.rs`, `state.rs`).

use assay_policy_sdk::EpochInput;

/// No miner at this uid.
const NONE: u32 = u32::MAX;

pub struct Roster {
    /// uid → index into the miners, [`NONE`] for a uid not listed.
    slot: Vec<u32>,
    /// Registered after the epoch began: the uid's challenges may be its predecessor's.
    pub reregistered: Vec<bool>,
}

impl Roster {
    /// Refuses a uid listed twice (a host invariant).
    pub fn new(input: &EpochInput) -> Result<Self, String> {
        let mut slot = vec![NONE; usize::from(u16::MAX) + 1];
        for (i, m) in input.miners.iter().enumerate() {
            if slot[usize::from(m.uid)] != NONE {
                return Err(format!("miner uid {} is listed twice", m.uid));
            }
            slot[usize::from(m.uid)] = i as u32;
        }
        let reregistered = input.miners.iter().map(|m| m.registered_at_block > input.block_start).collect();
        Ok(Self { slot, reregistered })
    }

    /// The index into the miners of `uid`; `None` for a uid not in the metagraph.
    pub fn index_of(&self, uid: u16) -> Option<usize> {
        self.slot.get(usize::from(uid)).filter(|&&i| i != NONE).map(|&i| i as usize)
    }

    /// The miner a challenge of `uid` counts for: `None` for a uid not in the metagraph, and for
    /// one registered during the epoch, whose challenges this epoch are void (the new hotkey must
    /// inherit neither its predecessor's passes nor its failures).
    pub fn prover_of(&self, uid: u16) -> Option<usize> {
        self.index_of(uid).filter(|&i| !self.reregistered[i])
    }
}
