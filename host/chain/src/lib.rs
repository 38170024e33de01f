//! The chain: who the miners are, what block it is, and where weights go.
//!
//! Owns: the [`Chain`] interface of DESIGN.md and its `local` file-backed backend. Must not
//! touch: scoring or publishing. The epoch pipeline reads the metagraph from here and hands
//! weights back; a `subtensor` backend (subxt) comes later behind the same trait.

mod error;
mod local;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use local::LocalChain;

/// One registered neuron of a subnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neuron {
    pub uid: u16,
    /// SS58 address of the hotkey.
    pub hotkey: String,
    /// Stake in rao.
    #[serde(default)]
    pub stake: u64,
    /// Where the miner serves (`http://host:port`), if it announced one.
    #[serde(default)]
    pub axon: Option<String>,
    #[serde(default)]
    pub registered_at_block: u64,
    /// Declared capacity per task name.
    #[serde(default)]
    pub capacities: std::collections::BTreeMap<String, u32>,
}

/// The subnet's registered neurons, by uid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metagraph {
    pub netuid: u16,
    pub neurons: Vec<Neuron>,
}

/// A `set_weights` call as it goes on chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsCall {
    pub netuid: u16,
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    pub version_key: u64,
}

/// What the host needs from a chain.
pub trait Chain: Send + Sync {
    /// The current block number.
    fn current_block(&self) -> Result<u64>;
    /// The subnet's neurons as of now.
    fn metagraph(&self, netuid: u16) -> Result<Metagraph>;
    /// Sets this validator's weights; returns the block at which they were accepted.
    fn set_weights(&self, validator_hotkey: &str, call: &WeightsCall) -> Result<u64>;
}
