//! The Bittensor chain: subtensor, reached through subxt, behind `assay-chain`'s [`Chain`] trait.
//!
//! Owns: the connection to a subtensor node (network names, reconnects, timeouts, bounded
//! answers), reading the metagraph through the runtime APIs, the subnet's epoch schedule,
//! submitting weights (`set_weights`, or commit-reveal v4's timelocked commits), axons and
//! Commitments-pallet fields, and the drand timelock encryption those commits need
//! (`commit_reveal`).
//! Must not touch: scoring, publishing or the ledger; the node chooses this backend by config
//! (`[chain] kind = "subtensor"`) and sees only the trait.
//! Everything goes through subxt's dynamic API with the metadata the node serves, so the same
//! code runs on finney (spec 365, metadata V16) and on older runtimes (metadata V15).

mod announce;
mod client;
mod commit_reveal;
mod epochs;
mod error;
mod metagraph;
mod network;
mod opaque_neurons;
mod rpc;
mod signer;
mod submit;
mod weights;

use assay_chain::{Axon, Chain, Commitment, Epochs, Metagraph, Result, WeightsCall};

pub use client::{Clock, SubtensorChain, Timeouts};
pub use commit_reveal::{
    DRAND_QUICKNET_GENESIS_UNIX_S, DRAND_QUICKNET_PERIOD_S, DRAND_QUICKNET_PUBLIC_KEY_HEX, MAX_COMMIT_BYTES,
    MAX_REVEAL_PERIOD_EPOCHS, RevealError, RevealSchedule, SECURITY_BLOCK_OFFSET, TimelockError, WeightsError,
    WeightsPayload, convert_weights_and_uids_for_emit, decrypt_payload, decrypt_with_signature, encrypt_for_round,
    first_reveal_block, reveal_round,
};
pub use error::Error;
pub use metagraph::MAX_NEURONS;
pub use network::{FINNEY_URL, LOCAL_URL, Network, TEST_URL};
pub use rpc::MAX_RESPONSE_BYTES;
pub use signer::HotkeySigner;

#[async_trait::async_trait]
impl Chain for SubtensorChain {
    async fn current_block(&self) -> Result<u64> {
        self.bounded("reading the finalized head", async { Ok(self.at_head().await?.block_number()) }).await
    }

    async fn metagraph(&self, netuid: u16) -> Result<Metagraph> {
        self.bounded("reading the metagraph", self.read_metagraph(netuid)).await
    }

    async fn set_weights(&self, validator_hotkey: &str, call: &WeightsCall) -> Result<u64> {
        self.send_weights(validator_hotkey, call).await
    }

    async fn weights_accepted_since(
        &self,
        validator_hotkey: &str,
        call: &WeightsCall,
        since: u64,
    ) -> Result<Option<u64>> {
        self.bounded("reading the weights held", self.weights_since(validator_hotkey, call, since)).await
    }

    async fn epochs(&self, netuid: u16) -> Result<Option<Epochs>> {
        self.bounded("reading the epoch schedule", self.read_epochs(netuid)).await
    }

    async fn serve_axon(&self, hotkey: &str, netuid: u16, axon: &Axon) -> Result<u64> {
        self.announce_axon(hotkey, netuid, axon).await
    }

    async fn set_commitment(&self, hotkey: &str, netuid: u16, fields: &[String]) -> Result<u64> {
        self.commit_fields(hotkey, netuid, fields).await
    }

    async fn commitment(&self, netuid: u16, hotkey: &str) -> Result<Option<Commitment>> {
        self.bounded("reading the commitment", self.read_commitment(netuid, hotkey)).await
    }

    fn describe(&self) -> String {
        format!("subtensor at {}", self.node)
    }
}
