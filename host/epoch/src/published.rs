//! An epoch input as published: of the contract version of the scorer that ran on it.
//!
//! The host assembles every epoch as a 0.2.0 input. A 0.1.0 scorer runs on its down-conversion
//! ([`v0_1::from_v0_2`]), and that is what is published and signed (what ran); an audit decodes
//! the input by the version of the scorer the summary names, so epochs published by 0.1.0
//! hosts keep auditing with their original bytes.

use assay_policy_runtime::{ContractVersion, Limits, ScoreRun, Scorer};
use assay_policy_sdk::{EpochInput, v0_1};

use crate::{Result, canonical};

/// An epoch input of either contract version.
// One per epoch, moved a handful of times: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum PublishedInput {
    V0_1(v0_1::EpochInput),
    V0_2(EpochInput),
}

/// The facts of an input a summary repeats: netuid, epoch, blocks, counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputFacts {
    pub netuid: u16,
    pub epoch: u64,
    pub block_start: u64,
    pub block_end: u64,
    pub requests: u64,
    pub challenges: u64,
}

impl PublishedInput {
    /// `input` as a scorer of `version` sees it.
    pub fn for_version(input: EpochInput, version: ContractVersion) -> Self {
        match version {
            ContractVersion::V0_1 => PublishedInput::V0_1(v0_1::from_v0_2(&input)),
            ContractVersion::V0_2 => PublishedInput::V0_2(input),
        }
    }

    pub fn version(&self) -> ContractVersion {
        match self {
            PublishedInput::V0_1(_) => ContractVersion::V0_1,
            PublishedInput::V0_2(_) => ContractVersion::V0_2,
        }
    }

    /// The WIT package of this input's contract version, as the summary's `contract` names it.
    pub fn contract(&self) -> String {
        format!("assay:policy@{}", self.version())
    }

    /// Canonical JSON ([`canonical::encode`]).
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            PublishedInput::V0_1(input) => canonical::encode(input),
            PublishedInput::V0_2(input) => canonical::encode(input),
        }
    }

    /// Canonical JSON of an input of `version` ([`canonical::decode`]).
    pub fn decode(version: ContractVersion, bytes: &[u8]) -> Result<Self> {
        Ok(match version {
            ContractVersion::V0_1 => PublishedInput::V0_1(canonical::decode(bytes)?),
            ContractVersion::V0_2 => PublishedInput::V0_2(canonical::decode(bytes)?),
        })
    }

    pub fn facts(&self) -> InputFacts {
        match self {
            PublishedInput::V0_1(i) => InputFacts {
                netuid: i.netuid,
                epoch: i.epoch,
                block_start: i.block_start,
                block_end: i.block_end,
                requests: i.requests.len() as u64,
                challenges: i.challenges.len() as u64,
            },
            PublishedInput::V0_2(i) => InputFacts {
                netuid: i.netuid,
                epoch: i.epoch,
                block_start: i.block_start,
                block_end: i.block_end,
                requests: i.requests.len() as u64,
                challenges: i.challenges.len() as u64,
            },
        }
    }

    pub fn state(&self) -> &[u8] {
        match self {
            PublishedInput::V0_1(i) => &i.state,
            PublishedInput::V0_2(i) => &i.state,
        }
    }

    /// The same input with an empty state (a shadow scorer's, which starts from nothing).
    pub fn without_state(&self) -> Self {
        match self {
            PublishedInput::V0_1(i) => PublishedInput::V0_1(v0_1::EpochInput { state: Vec::new(), ..i.clone() }),
            PublishedInput::V0_2(i) => PublishedInput::V0_2(EpochInput { state: Vec::new(), ..i.clone() }),
        }
    }

    /// Runs `scorer` on this input: a 0.2.0 input suits a scorer of either version, a 0.1.0
    /// one only a 0.1.0 scorer (else [`assay_policy_runtime::Error::VersionMismatch`]).
    pub fn score(&self, scorer: &Scorer, limits: Limits) -> assay_policy_runtime::Result<ScoreRun> {
        match self {
            PublishedInput::V0_1(i) => scorer.score_v0_1(i, limits),
            PublishedInput::V0_2(i) => scorer.score(i, limits),
        }
    }
}
