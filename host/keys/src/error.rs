//! Errors of key handling.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown signature scheme {0:?} (expected sr25519 or ed25519)")]
    UnknownScheme(String),
    #[error("invalid key: {0}")]
    BadKey(String),
    #[error("invalid signature: {0}")]
    BadSignature(String),
    #[error("invalid SS58 address {0:?}: {1}")]
    BadAddress(String, &'static str),
    #[error("reading wallet file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("writing wallet file {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("wallet file {path} is malformed: {reason}")]
    BadWallet { path: String, reason: String },
    #[error("wallet file {0} is encrypted; assay reads plaintext hotkeys (the Bittensor default)")]
    Encrypted(String),
}
