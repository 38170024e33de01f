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
    #[error("subnet {netuid} does not exist on this chain")]
    NoSuchSubnet { netuid: u16 },
    #[error("weights refused: {0}")]
    Refused(String),
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered { hotkey: String, netuid: u16 },
    #[error("commitment refused: {0}")]
    BadCommitment(String),
    /// The chain's node did not answer (down, unreachable, or slower than the timeout): nothing
    /// was learned, try again later.
    #[error("the chain node at {node} cannot be reached: {reason}")]
    Unreachable { node: String, reason: String },
    /// Weights were set too recently: the chain accepts them again from `retry_at_block`.
    #[error(
        "weights refused: set at block {last_update}, the subnet allows one set per {rate_limit} blocks; retry at block {retry_at_block}"
    )]
    RateLimited { last_update: u64, rate_limit: u64, retry_at_block: u64 },
    #[error("hotkey {hotkey} has no validator permit on subnet {netuid}: the chain refuses its weights")]
    NoValidatorPermit { hotkey: String, netuid: u16 },
    /// This chain client holds no key that can sign for `hotkey`.
    #[error("cannot sign as {hotkey}: {reason}")]
    CannotSign { hotkey: String, reason: String },
    /// The chain ran the extrinsic and refused it (`pallet`'s error `error`), or refused it
    /// before running it (`pallet` "transaction pool").
    #[error("the chain refused {call}: {pallet}.{error}")]
    Dispatch { call: String, pallet: String, error: String },
    /// The node answered something this client cannot use (a missing runtime API, an
    /// undecodable or oversized answer).
    #[error("unexpected answer from the chain: {0}")]
    Protocol(String),
}
