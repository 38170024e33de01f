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
