//! Errors of the epoch pipeline.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("policy: {0}")]
    Policy(#[from] assay_policy_runtime::Error),
    #[error("keys: {0}")]
    Keys(#[from] assay_keys::Error),
    #[error("{0}")]
    Store(#[from] assay_publish::Error),
    #[error("compressing: {0}")]
    Compress(std::io::Error),
    #[error("epoch input is not canonical: {0}")]
    NotCanonical(String),
    #[error("epoch {epoch}: {reason}")]
    Epoch { epoch: u64, reason: String },
    #[error("summary: {0}")]
    Summary(String),
}
