//! The chain: who the miners are, what block it is, and where weights go.
//!
//! Owns: the async [`Chain`] interface of DESIGN.md and its `local` file-backed backend, the
//! block → epoch arithmetic ([`Epochs`]), and [`ChainView`], the cached head and metagraph that
//! routing, recording and verification read instead of calling the chain per request.
//! Must not touch: scoring or publishing. The epoch pipeline reads the metagraph from here and
//! hands weights back; the `subtensor` backend (subxt, crate `assay-subtensor`) implements the
//! same trait.
//! No async runtime here: the trait's futures run on whatever runtime the caller has, so the
//! auditor's build can name these types without tokio.

mod epochs;
mod error;
mod local;
mod view;

use serde::{Deserialize, Serialize};

pub use epochs::Epochs;
pub use error::{Error, Result};
pub use local::{CommitmentEntry, LocalChain, WeightsEntry};
pub use view::{ChainView, Declared, ViewSnapshot};

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
    /// SS58 address of the coldkey that owns the hotkey, where the chain says (subtensor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coldkey: Option<String>,
    /// The block at which this neuron last set weights (or committed them), where the chain
    /// says; 0 when never or unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_update: u64,
    /// Declared capacity per task name.
    #[serde(default)]
    pub capacities: std::collections::BTreeMap<String, u32>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The subnet's registered neurons, by uid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metagraph {
    pub netuid: u16,
    pub neurons: Vec<Neuron>,
    /// SS58 of the subnet owner's hotkey, whose commitments announce policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_hotkey: Option<String>,
}

/// Where a neuron serves, as `serve_axon` announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axon {
    /// An IPv4 or IPv6 address.
    pub ip: std::net::IpAddr,
    pub port: u16,
    /// 0 = TCP, 4 = HTTP (the Python SDK's numbering; we serve plain HTTP).
    pub protocol: u8,
}

impl Axon {
    /// The URL the miner client calls.
    pub fn url(&self) -> String {
        format!("http://{}", std::net::SocketAddr::new(self.ip, self.port))
    }
}

/// The most fields a commitment holds, and the most bytes of a Raw field (subtensor's limits,
/// kept by every backend so that what works locally works on chain).
pub const MAX_COMMITMENT_FIELDS: usize = 3;
pub const MAX_RAW_FIELD_BYTES: usize = 128;

/// Checks fields against [`MAX_COMMITMENT_FIELDS`] and [`MAX_RAW_FIELD_BYTES`].
pub fn check_commitment_fields(fields: &[String]) -> Result<()> {
    if fields.is_empty() || fields.len() > MAX_COMMITMENT_FIELDS {
        return Err(Error::BadCommitment(format!("{} fields (1 to {MAX_COMMITMENT_FIELDS})", fields.len())));
    }
    if let Some(f) = fields.iter().find(|f| f.len() > MAX_RAW_FIELD_BYTES) {
        return Err(Error::BadCommitment(format!("a field of {} bytes (at most {MAX_RAW_FIELD_BYTES})", f.len())));
    }
    Ok(())
}

/// A hotkey's commitment on a subnet (the Commitments pallet): its text fields, and the block
/// at which the chain took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    pub block: u64,
    /// Raw fields as text, in order (at most 3 fields of 128 bytes on subtensor).
    pub fields: Vec<String>,
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
    /// The subnet's own epoch schedule where the chain has one (subtensor: its tempo and the
    /// block of its last epoch step); `None` where the host's configured schedule applies.
    async fn epochs(&self, netuid: u16) -> Result<Option<Epochs>>;
    /// Announces where `hotkey` serves on `netuid` (`serve_axon`); returns the block.
    async fn serve_axon(&self, hotkey: &str, netuid: u16, axon: &Axon) -> Result<u64>;
    /// Replaces `hotkey`'s commitment on `netuid` with these text fields; returns the block.
    async fn set_commitment(&self, hotkey: &str, netuid: u16, fields: &[String]) -> Result<u64>;
    /// The commitment `hotkey` holds on `netuid`, if any.
    async fn commitment(&self, netuid: u16, hotkey: &str) -> Result<Option<Commitment>>;
    /// Where this chain is, for logs and the status.
    fn describe(&self) -> String;
}
