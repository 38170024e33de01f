//! The dashboard's errors.

/// What can go wrong serving the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding the dashboard to {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("reading the dashboard's listening address: {0}")]
    LocalAddr(std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
