//! Errors of the ledger.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening ledger {0}: {1}")]
    Open(String, #[source] rusqlite::Error),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("ledger database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("ledger record does not (de)serialize: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0} is already recorded")]
    Duplicate(String),
    #[error("{0}")]
    Conflict(String),
    #[error("epoch {0} is being closed; its records are final")]
    Frozen(u64),
    /// A commit-reveal row the ledger does not store (an output over the cap, or on a reveal
    /// that is not valid; a number that is not finite): the recorder's bug, never stored.
    #[error("commit-reveal row refused: {0}")]
    BadCommitReveal(String),
    #[error("ledger holds a malformed {0}")]
    Corrupt(String),
    #[error("ledger schema version {found} is newer than this host understands ({supported})")]
    NewerSchema { found: i64, supported: i64 },
    #[error(
        "ledger schema version {found} is older than this host's ({current}) and a read-only open cannot migrate it: open it once read-write (start the node, or run a command that writes)"
    )]
    OlderSchema { found: i64, current: i64 },
    #[error("a thread panicked while holding the ledger")]
    Poisoned,
    /// The disk (or the database's size limit) is full: nothing of the write was kept. The
    /// validator's fault, never a miner's; retention or an operator frees space.
    #[error("the ledger's disk is full; nothing was written: {0}")]
    Full(String),
}

impl Error {
    /// A full disk told apart from other database failures.
    pub(crate) fn classify(self) -> Error {
        match self {
            Error::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => {
                Error::Full(e.to_string())
            }
            other => other,
        }
    }

    pub(crate) fn duplicate_or(err: rusqlite::Error, what: String) -> Error {
        match err {
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Error::Duplicate(what)
            }
            other => Error::Sqlite(other),
        }
    }
}
