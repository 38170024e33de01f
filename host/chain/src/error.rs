//! Errors of the chain clients.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metagraph file {path} is malformed: {reason}")]
    BadMetagraph { path: String, reason: String },
    #[error("subnet {netuid} is not on this chain (the local chain serves {served})")]
    UnknownSubnet { netuid: u16, served: u16 },
    #[error("weights refused: {0}")]
    Refused(String),
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered { hotkey: String, netuid: u16 },
    #[error("commitment refused: {0}")]
    BadCommitment(String),
}
