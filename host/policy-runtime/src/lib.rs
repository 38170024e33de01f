//! Runs assay policy components, deterministically and in a sandbox.
//!
//! Owns: the wasmtime engine and its determinism settings, the content-addressed policy store,
//! the precompiled cache, and the calls into `scorer` and `challenger` components.
//! Must not touch: miners, HTTP, the ledger or the chain. It takes an input and returns an output.
//!
//! The security contract, in three lines (after vllm-router's wasm middleware):
//! - a component is named by the sha256 of its bytes; bytes that hash to anything else are refused;
//! - it may import nothing but the contract's own type interface (no WASI, clock or randomness);
//! - every call gets a fresh `Store` with a fuel and a memory limit, and fails closed;
//! - what a call returns is checked against its input and bounded in size before the host uses it.

mod bindings;
mod cache;
mod challenge;
mod digest;
mod engine;
mod error;
mod input;
mod inspect;
mod limits;
mod lower;
mod output;
mod pack;
mod run;
mod store;

pub use challenge::{MAX_POINTS_PER_CHALLENGE, MAX_REASON_BYTES, validate_judgement, validate_plan};
pub use digest::Digest;
pub use engine::Runtime;
pub use error::{Error, Result};
pub use input::check_input;
pub use inspect::{ContractVersion, Inspection, World, inspect};
pub use limits::Limits;
pub use output::{MAX_COMPONENTS, MAX_NAME_BYTES, validate_output};
pub use pack::pack;
pub use run::{Challenger, ScoreRun, Scorer};
pub use store::PolicyStore;

/// The WIT package new policies implement; components of `assay:policy@0.1.0` still run
/// ([`ContractVersion`]).
pub const CONTRACT: &str = "assay:policy@0.2.0";
