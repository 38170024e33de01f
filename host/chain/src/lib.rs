//! The chain: who the miners are, what block it is, and where weights go.
//!
//! Owns: the async [`Chain`] interface of DESIGN.md and its `local` file-backed backend, the
//! block → epoch arithmetic ([`Epochs`]), and [`ChainView`], the cached head and metagraph that
//! routing, recording and verification read instead of calling the chain per request.
//! Must not touch: scoring or publishing. The epoch pipeline reads the metagraph from here and
//! hands weights back; a `subtensor` backend (subxt) comes later behind the same trait.
//! No async runtime here: the trait's futures run on whatever runtime the caller has, so the
//! auditor's build can name these types without tokio.

mod epochs;
mod error;
mod local;
mod view;

use serde::{Deserialize, Serialize};

pub use epochs::Epochs;
pub use error::{Error, Result};
pub use local::LocalChain;
pub use view::{ChainView, ViewSnapshot};

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
    /// Whether the chain lets this neuron set weights (a validator): miners serve those.
    #[serde(default)]
    pub validator_permit: bool,
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

/// What the host needs from a chain. Async because a real chain is a remote node (subxt);
/// callers on the request path read a [`ChainView`] instead.
#[async_trait::async_trait]
pub trait Chain: Send + Sync {
    /// The current block number.
    async fn current_block(&self) -> Result<u64>;
    /// The subnet's neurons as of now.
    async fn metagraph(&self, netuid: u16) -> Result<Metagraph>;
    /// Sets this validator's weights; returns the block at which they were accepted.
    async fn set_weights(&self, validator_hotkey: &str, call: &WeightsCall) -> Result<u64>;
    /// The block at which the chain accepted exactly `call` from `validator_hotkey` at or after
    /// block `since`, if it did: how a retried submission learns that an earlier attempt went
    /// through (the process may have died between the chain accepting and the host noting it).
    /// Comparing the call, not only the time, keeps two epochs closed in the same block apart.
    async fn weights_accepted_since(
        &self,
        validator_hotkey: &str,
        call: &WeightsCall,
        since: u64,
    ) -> Result<Option<u64>>;
    /// Where this chain is, for logs and the status.
    fn describe(&self) -> String;
}
