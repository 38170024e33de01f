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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub world: World,
    /// Exported function names, in the component's order.
    pub exports: Vec<String>,
    /// Imported interface or item names (only the contract's own type interface is allowed).
    pub imports: Vec<String>,
}

/// Decodes the component's world, refuses any import that could carry a side effect, and
/// tells which world of the contract it exports.
pub fn inspect(bytes: &[u8]) -> Result<Inspection> {
    let DecodedWasm::Component(resolve, world_id) = decode(bytes).map_err(Error::Decode)? else {
        return Err(Error::Decode(anyhow::anyhow!(
            "this is a WIT package, not a component (pack a core module with `assay policy pack`)"
        )));
    };
    let world = &resolve.worlds[world_id];

    let mut imports = Vec::new();
    for (key, item) in &world.imports {
        let name = resolve.name_world_key(key);
        match item {
            // Type definitions pulled in by `use`: no behaviour, and not worth listing.
            wit_parser::WorldItem::Type { .. } => continue,
            wit_parser::WorldItem::Interface { id, .. } => {
                let interface = &resolve.interfaces[*id];
                let ours = name == format!("assay:policy/types@{}", assay_policy_sdk::CONTRACT_VERSION);
                if !ours || !interface.functions.is_empty() {
                    return Err(Error::ForbiddenImport(name));
                }
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
    Ok(Inspection { world: kind, exports, imports })
}
