//! Epochs as published objects: the policy input assembled from its parts, its canonical bytes,
//! the summary format and its signature, and [`audit`], which reruns a published epoch bit for
//! bit and trusts nothing it reads before checking it ([`AuditFolder`], from `assay-publish`,
//! reads a published folder without following links, within a size bound), and
//! [`check_history`], which checks a validator's run of summaries along their hash chain and
//! against the hash it committed on chain.
//!
//! Must not touch: the ledger, the chain client, HTTP or miners. This crate is the auditor's:
//! it reads only an object store and runs only the policy runtime, so an auditor needs no
//! database, no chain connection and no GPU (the node closes epochs with it).

mod assemble;
pub mod audit;
pub mod canonical;
mod error;
pub mod history;
mod published;
pub mod summary;
pub mod synth;

pub use assay_publish::{AuditFolder, LocalFolder, ObjectStore, keys};
pub use assemble::{TaskCommitReveal, TaskRequest, assemble};
pub use audit::{AuditFailure, AuditOptions, AuditReport, audit, audit_with};
pub use error::{Error, Result};
pub use history::{ChainRecord, HistoryReport, SummaryCommitment, check_history, check_history_with};
pub use published::{InputFacts, PublishedInput};
pub use summary::Summary;

/// The host's version, written into every summary.
pub const HOST_VERSION: &str = concat!("assay ", env!("CARGO_PKG_VERSION"));

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
