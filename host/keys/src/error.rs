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
    /// [`crate::Hotkey::save_new`] met a file at the name: it was left as it was.
    #[error("wallet file {0} exists; not replacing it")]
    Exists(String),
    #[error("wallet file {path} is malformed: {reason}")]
    BadWallet { path: String, reason: String },
    /// An encrypted file met where no password source was given ([`crate::Hotkey::load`]).
    #[error("wallet file {0} is encrypted: it needs a password source to load")]
    Encrypted(String),
    /// The secretbox's tag does not verify under the key derived from the password.
    #[error("wrong password for wallet file {0} (or the file is damaged)")]
    WrongPassword(String),
    #[error(
        "wallet file {path} is encrypted with {method}, which assay does not read; re-encrypt it with bittensor-wallet 4 (NaCl)"
    )]
    UnsupportedEncryption { path: String, method: &'static str },
    #[error("deriving the key of wallet file {path}: {reason}")]
    Kdf { path: String, reason: String },
    #[error(
        "wallet file {path} is encrypted and the environment variable {var} that should hold its password is not set"
    )]
    PasswordEnvMissing { path: String, var: String },
    #[error("the environment variable {var} that holds the password of wallet file {path} is not UTF-8 text")]
    PasswordEnvNotText { path: String, var: String },
    #[error(
        "wallet file {0} is encrypted and standard input is not a terminal to ask its password on; name an environment variable that holds it instead"
    )]
    NoTerminal(String),
    #[error("asking for the password of wallet file {path}: {source}")]
    Prompt { path: String, source: std::io::Error },
}
