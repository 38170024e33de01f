//! The parameters consensus reads, with their defaults.
//!
//! Owns: parameter names, defaults and ranges. Must not touch: scoring. The commit and reveal
//! windows are the host's (it decides `late` and `missing`): the scorer only sees the verdicts.

use assay_policy_sdk::{Param, Params};

/// Most miners an epoch may have (a subnet's uid count): bounds the state and every sum.
pub const MAX_MINERS: usize = 256;

/// Prefixes of this policy's parameter names: a name under one of them that is not a parameter
/// (a typo) is refused rather than silently left at its default.
const PREFIXES: &[&str] = &["round.", "mean.", "gate."];

/// The parameter names read.
const NAMES: &[&str] = &["round.min_valid", "mean.verified_only", "gate.epochs"];

/// Every parameter this policy reads, with its default.
pub mod defaults {
    /// A round whose mean would rest on fewer valid reveals than this scores nobody. 1 is the
    /// published rule: a lone valid reveal is its own mean and scores 1.
    pub const ROUND_MIN_VALID: f64 = 1.0;
    /// 1: the mean is over the reveals of miners that passed a challenge this epoch (falling
    /// back to every ungated miner's when too few did); 0: over every ungated miner's.
    pub const MEAN_VERIFIED_ONLY: f64 = 1.0;
    /// Epochs a miner stays at 0 after the one in which it failed a challenge (assay's gate,
    /// as nineteen's).
    pub const GATE_EPOCHS: f64 = 16.0;
}

/// The parameters of one run, read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `round.min_valid`: fewest reveals a round's mean may rest on.
    pub min_valid: usize,
    /// `mean.verified_only`: the mean over verified miners' reveals first.
    pub verified_only: bool,
    /// `gate.epochs`: epochs at 0 after the one with a failed challenge.
    pub gate_epochs: u16,
}

impl Config {
    /// Reads every parameter, refusing a value out of range, not whole, or a name under one of
    /// [`PREFIXES`] that is not in [`NAMES`].
    pub fn from_params(params: &[Param]) -> Result<Self, String> {
        use defaults::*;
        if let Some(typo) =
            params.iter().find(|p| !NAMES.contains(&p.name.as_str()) && PREFIXES.iter().any(|x| p.name.starts_with(x)))
        {
            return Err(format!("parameter {} is not one of consensus's", typo.name));
        }
        let p = Params(params);
        Ok(Self {
            min_valid: integer(&p, "round.min_valid", ROUND_MIN_VALID, 1.0, MAX_MINERS as f64)? as usize,
            verified_only: integer(&p, "mean.verified_only", MEAN_VERIFIED_ONLY, 0.0, 1.0)? == 1,
            gate_epochs: integer(&p, "gate.epochs", GATE_EPOCHS, 0.0, f64::from(u16::MAX))? as u16,
        })
    }
}

/// A whole number in `[min, max]`.
fn integer(p: &Params<'_>, name: &str, default: f64, min: f64, max: f64) -> Result<u32, String> {
    let value = p.get_in(name, default, min, max)?;
    if value.fract() != 0.0 {
        return Err(format!("parameter {name} = {value} is not a whole number"));
    }
    Ok(value as u32)
}
