//! The epoch's miners as this policy sees them: which listed miner a uid is, whether its
//! challenges this epoch are its own, and whether the state can remember it.
//!
//! Owns: the uid lookup and the per-miner flags derived from the metagraph listing. Must not
//! touch: verdicts, the formula or the state blob (`lib.rs`, `formula.rs`, `state.rs`).

use std::collections::BTreeMap;

use assay_policy_sdk::EpochInput;

use crate::MAX_HOTKEY_BYTES;

/// No miner at this uid.
const NONE: u32 = u32::MAX;

pub struct Roster {
    /// uid → index into the miners, [`NONE`] for a uid not listed.
    slot: Vec<u32>,
    /// Registered after the epoch began: the uid's challenges may be its predecessor's.
    pub reregistered: Vec<bool>,
    /// Its hotkey can key the state: at most [`MAX_HOTKEY_BYTES`] long and listed for this uid
    /// alone. A miner without is scored from nothing and not remembered; a host that lists a
    /// strange hotkey must not cost every other miner its epoch.
    pub keyed: Vec<bool>,
}

impl Roster {
    /// Refuses a uid listed twice (a host invariant: a uid is one miner).
    pub fn new(input: &EpochInput) -> Result<Self, String> {
        let mut slot = vec![NONE; usize::from(u16::MAX) + 1];
        for (i, m) in input.miners.iter().enumerate() {
            if slot[usize::from(m.uid)] != NONE {
                return Err(format!("miner uid {} is listed twice", m.uid));
            }
            slot[usize::from(m.uid)] = i as u32;
        }
        let reregistered = input.miners.iter().map(|m| m.registered_at_block > input.block_start).collect();
        let mut listed: BTreeMap<&str, u32> = BTreeMap::new();
        for m in &input.miners {
            *listed.entry(m.hotkey.as_str()).or_default() += 1;
        }
        let keyed =
            input.miners.iter().map(|m| m.hotkey.len() <= MAX_HOTKEY_BYTES && listed[m.hotkey.as_str()] == 1).collect();
        Ok(Self { slot, reregistered, keyed })
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
