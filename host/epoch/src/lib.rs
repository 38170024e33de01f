//! Epochs: from the ledger's records to a signed, published summary, and back again in audit.
//!
//! Owns: freezing an epoch's input, its canonical bytes, running the active scorer with the
//! fallback rule, the summary format and its signature, publication to an object store, the
//! weights call, and [`audit`], which reruns a published epoch bit for bit.
//! Must not touch: HTTP or miners. The audit path reads only the object store and runs only the
//! policy runtime: an auditor needs no ledger, chain or GPU.

pub mod audit;
pub mod canonical;
mod close;
mod error;
mod objects;
pub mod summary;
pub mod synth;

pub use audit::{AuditFailure, AuditReport, audit};
pub use close::{Closer, EpochSettings, Published, ScorerChoice, assemble};
pub use error::{Error, Result};
pub use objects::{LocalFolder, ObjectStore, keys};
pub use summary::Summary;

/// The host's version, written into every summary.
pub const HOST_VERSION: &str = concat!("assay ", env!("CARGO_PKG_VERSION"));

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
