//! Errors of this crate beyond the [`assay_chain::Error`]s its [`Chain`] methods return, and the
//! one place where subxt's errors become chain errors.
//!
//! [`Chain`]: assay_chain::Chain

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `network` setting that names no network.
    #[error("unknown network {0:?}: use finney, test, local, or a ws:// or wss:// address")]
    UnknownNetwork(String),
    #[error(transparent)]
    Chain(#[from] assay_chain::Error),
}

/// Turns a subxt error into a chain error: [`assay_chain::Error::Unreachable`] when the
/// connection failed while the operation ran (`transport_failed`), else
/// [`assay_chain::Error::Protocol`] naming `what` was being done.
pub(crate) fn from_subxt(
    node: &str,
    what: &str,
    transport_failed: bool,
    error: impl std::fmt::Display,
) -> assay_chain::Error {
    if transport_failed {
        assay_chain::Error::Unreachable { node: node.to_string(), reason: format!("{what}: {error}") }
    } else {
        assay_chain::Error::Protocol(format!("{what}: {error}"))
    }
}
