//! The validator ↔ miner wire protocol (DESIGN.md, "Validator ↔ miner protocol").
//!
//! Owns: Epistula v2 request signing and verification with replay protection ([`epistula`]), the
//! Merkle commitment over a request's hidden states ([`commitment`]), the commitment of a
//! commit-reveal round ([`commit_reveal`]), and the message types of `/assay/v1/*` and of the
//! `assay` extension carried by every completion ([`wire`]).
//! Must not touch: HTTP, models or scoring. Both the miner and the validator's miner client build
//! on this crate, so the two ends cannot drift apart.

pub mod commit_reveal;
pub mod commitment;
pub mod epistula;
pub mod wire;

/// The protocol version miners announce in `/assay/v1/info`. 2 added the commit-reveal pair
/// (decision 0009); version-1 miners are still served, and never asked for it.
pub const PROTOCOL_VERSION: u32 = 2;
