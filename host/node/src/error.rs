//! Errors of the node. [`Error::is_unusable_input`] tells the command line which are the
//! operator's input (exit 2) and which a failed run (exit 1).

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// A part the config names cannot be opened (no hotkey file, no chain folder…).
    #[error("{what}: {reason}")]
    Open { what: String, reason: String },
    #[error("ledger: {0}")]
    Ledger(#[from] assay_ledger::Error),
    #[error("chain: {0}")]
    Chain(#[from] assay_chain::Error),
    /// Which policy to run (nothing active, a digest that does not parse or load).
    #[error("{0}")]
    Policy(String),
    #[error("policy: {0}")]
    Runtime(#[from] assay_policy_runtime::Error),
    #[error("epoch: {0}")]
    Epoch(#[from] assay_epoch::Error),
    #[error("{0}")]
    Store(#[from] assay_publish::Error),
    #[error("keys: {0}")]
    Keys(#[from] assay_keys::Error),
    #[error("serializing: {0}")]
    Json(#[from] serde_json::Error),
    #[error("epoch {epoch} cannot be closed: epochs up to {last} are already closed")]
    AlreadyClosed { epoch: u64, last: u64 },
    /// The gateway or the verifier could not start.
    #[error("{0}")]
    Service(String),
    /// A policy announcement's text, or a commitment with no room for it.
    #[error("{0}")]
    Announcement(#[from] crate::announcement::AnnouncementError),
    /// Only the subnet owner's announcements are followed.
    #[error("hotkey {signer} is not the owner of subnet {netuid} ({}): validators follow only the owner's announcements", match owner {
        Some(o) => format!("the owner is {o}"),
        None => "no owner is known: set [policy] owner_hotkey".to_string(),
    })]
    NotOwner { signer: String, netuid: u16, owner: Option<String> },
    /// An announcement naming an epoch validators cannot honour.
    #[error("a {world} announced now takes effect at epoch {earliest} at the earliest, not {named}")]
    TooEarly { world: String, named: u64, earliest: u64 },
}

impl Error {
    /// Whether the operator's input is at fault (a config, a file, an argument), as opposed to
    /// a run that failed.
    pub fn is_unusable_input(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::Open { .. }
                | Error::Policy(_)
                | Error::AlreadyClosed { .. }
                | Error::Announcement(_)
                | Error::NotOwner { .. }
                | Error::TooEarly { .. }
        )
    }
}
