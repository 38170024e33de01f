//! Errors of the policy runtime.

use crate::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("policy bytes hash to {actual}, not the requested {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("not a policy digest: {0:?} (expected 64 lowercase hex characters)")]
    BadDigest(String),
    #[error("policy {0} is not in the store")]
    NotFound(Digest),
    #[error(
        "policy imports {0}, but policies may import nothing outside the contract's type interface (assay:policy/types)"
    )]
    ForbiddenImport(String),
    #[error("policy exports neither the scorer nor the challenger world of the contract: {0}")]
    UnknownWorld(String),
    #[error(
        "policy is built against contract version {0}, which this host does not run (it runs {known})",
        known = crate::ContractVersion::ALL.map(|v| v.as_str()).join(" and ")
    )]
    UnknownVersion(String),
    #[error(
        "policy imports the type interfaces of two contract versions, {first} and {second}; a component is built for one"
    )]
    MixedVersions { first: crate::ContractVersion, second: crate::ContractVersion },
    #[error(
        "policy imports no assay:policy/types interface, which every contract version's worlds use: not built against the contract (wit/policy.wit)"
    )]
    NoContractTypes,
    #[error("a contract {input} input cannot be scored by contract {component} scorer {digest}")]
    VersionMismatch { digest: Digest, component: crate::ContractVersion, input: crate::ContractVersion },
    #[error("the host built a malformed epoch input (a host bug, not sent to the policy): {0}")]
    MalformedInput(String),
    #[error("policy is a {actual} component, but a {expected} was needed")]
    WrongWorld { expected: crate::World, actual: crate::World },
    #[error("not a valid component: {0:#}")]
    Invalid(wasmtime::Error),
    #[error("not a component of the contract: {0:#}")]
    Decode(anyhow::Error),
    #[error("packing the core module into a component failed: {0:#}")]
    Pack(anyhow::Error),
    #[error("policy ran out of fuel (limit {limit})")]
    OutOfFuel { limit: u64 },
    #[error("policy tried to grow its memory past the limit of {limit} bytes")]
    MemoryLimit { limit: u64 },
    #[error("policy trapped: {0}")]
    Trap(String),
    #[error("policy returned an error: {0}")]
    Refused(String),
    #[error("policy output is invalid: {0}")]
    InvalidOutput(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("wasmtime: {0:#}")]
    Wasmtime(wasmtime::Error),
}

impl Error {
    /// A policy's own error message, cut to [`crate::MAX_REASON_BYTES`]: it is logged, and a
    /// scorer's is published with an epoch it could not score.
    pub(crate) fn refused(message: String) -> Error {
        let max = crate::MAX_REASON_BYTES;
        if message.len() <= max {
            return Error::Refused(message);
        }
        let end = (0..=max).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
        Error::Refused(format!("{}… ({} bytes)", &message[..end], message.len()))
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// What kind of policy fault this is, in one word a summary records and an audit compares
    /// (messages may change between host versions; the kind does not). `None` for host faults.
    pub fn fault_kind(&self) -> Option<&'static str> {
        match self {
            Error::OutOfFuel { .. } => Some("out-of-fuel"),
            Error::MemoryLimit { .. } => Some("memory-limit"),
            Error::Trap(_) => Some("trap"),
            Error::Refused(_) => Some("refused"),
            Error::InvalidOutput(_) => Some("invalid-output"),
            _ => None,
        }
    }

    /// True when the policy itself is at fault (and would fail the same way on every machine),
    /// as opposed to the host (a missing file, a full disk).
    pub fn is_policy_fault(&self) -> bool {
        self.fault_kind().is_some()
    }
}
