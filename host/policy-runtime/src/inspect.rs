//! What a component claims to be, read from its embedded WIT before anything is compiled.

use std::fmt;

use wit_component::{DecodedWasm, decode};

use crate::{Error, Result};

/// The two worlds of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Scorer,
    Challenger,
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            World::Scorer => "scorer",
            World::Challenger => "challenger",
        })
    }
}

/// The contract versions this host runs; a component's imported type interface names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContractVersion {
    /// `wit/v0.1/policy.wit`: row records. Still run, so old epochs audit and old scorers score.
    V0_1,
    /// `wit/policy.wit`: columns, tasks with weights, token checks, commit-reveal rounds.
    V0_2,
}

impl ContractVersion {
    /// Every version this host loads, oldest first.
    pub const ALL: [ContractVersion; 2] = [ContractVersion::V0_1, ContractVersion::V0_2];

    /// The version's number, as in its WIT package (`assay:policy@0.2.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => assay_policy_sdk::v0_1::CONTRACT_VERSION,
            ContractVersion::V0_2 => assay_policy_sdk::CONTRACT_VERSION,
        }
    }

    fn parse(version: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == version)
    }
}

impl fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub world: World,
    /// The contract version whose types the component uses.
    pub version: ContractVersion,
    /// Exported function names, in the component's order.
    pub exports: Vec<String>,
    /// Imported interface or item names (only the contract's own type interface is allowed).
    pub imports: Vec<String>,
}

/// Decodes the component's world, refuses any import that could carry a side effect, and
/// tells which world, and which version of the contract, it exports. The version is the one of
/// the contract's type interface it imports; a version this host does not know is refused.
pub fn inspect(bytes: &[u8]) -> Result<Inspection> {
    let DecodedWasm::Component(resolve, world_id) = decode(bytes).map_err(Error::Decode)? else {
        return Err(Error::Decode(anyhow::anyhow!(
            "this is a WIT package, not a component (pack a core module with `assay policy pack`)"
        )));
    };
    let world = &resolve.worlds[world_id];

    let mut imports = Vec::new();
    let mut version = None;
    for (key, item) in &world.imports {
        let name = resolve.name_world_key(key);
        match item {
            // Type definitions pulled in by `use`: no behaviour, and not worth listing.
            wit_parser::WorldItem::Type { .. } => continue,
            wit_parser::WorldItem::Interface { id, .. } => {
                let interface = &resolve.interfaces[*id];
                let Some(number) = name.strip_prefix("assay:policy/types@") else {
                    return Err(Error::ForbiddenImport(name));
                };
                if !interface.functions.is_empty() {
                    return Err(Error::ForbiddenImport(name));
                }
                let known = ContractVersion::parse(number).ok_or_else(|| Error::UnknownVersion(number.to_owned()))?;
                if let Some(first) = version.filter(|&v| v != known) {
                    return Err(Error::MixedVersions { first, second: known });
                }
                version = Some(known);
            }
            wit_parser::WorldItem::Function(_) => return Err(Error::ForbiddenImport(name)),
        }
        imports.push(name);
    }

    let exports: Vec<String> = world.exports.keys().map(|k| resolve.name_world_key(k)).collect();
    let has = |name: &str| exports.iter().any(|e| e == name);
    let kind = if has("score") && !has("plan") {
        World::Scorer
    } else if has("plan") && has("judge") && !has("score") {
        World::Challenger
    } else {
        return Err(Error::UnknownWorld(format!("it exports [{}]", exports.join(", "))));
    };
    // Every world of every version uses the type interface, so a component without it is not one.
    let version = version.ok_or(Error::NoContractTypes)?;
    Ok(Inspection { world: kind, version, exports, imports })
}
