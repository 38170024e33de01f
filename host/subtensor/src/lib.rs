//! The Bittensor chain: subtensor, reached through subxt, behind `assay-chain`'s [`Chain`] trait.
//!
//! Owns: the connection to a subtensor node (network names, reconnects), reading the metagraph
//! through the runtime APIs, submitting weights (`set_weights`, or commit-reveal v4's
//! timelocked commits), axons and Commitments-pallet fields, and the drand timelock encryption
//! those commits need.
//! Must not touch: scoring, publishing or the ledger; the node chooses this backend by config
//! (`[chain] kind = "subtensor"`) and sees only the trait.
//!
//! [`Chain`]: assay_chain::Chain

mod commit_reveal;
pub use commit_reveal::{
    DRAND_QUICKNET_GENESIS_UNIX_S, DRAND_QUICKNET_PERIOD_S, DRAND_QUICKNET_PUBLIC_KEY_HEX, MAX_COMMIT_BYTES,
    MAX_REVEAL_PERIOD_EPOCHS, RevealError, RevealSchedule, SECURITY_BLOCK_OFFSET, TimelockError, WeightsError,
    WeightsPayload, convert_weights_and_uids_for_emit, decrypt_payload, decrypt_with_signature, encrypt_for_round,
    first_reveal_block, reveal_round,
};
