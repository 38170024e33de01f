//! The parameters nineteen reads, with the seed's defaults.
//!
//! Owns: parameter names, defaults and ranges. Must not touch: scoring. The synthetic load's
//! fractions of declared capacity (the seed's 0.04, 0.08, 0.12, 0.8) are the host's: the
//! scorer only sees what was consumed.

use assay_policy_sdk::{Param, Params, Task};

use crate::formula::{Decay, TokenRules};
use crate::state::{self, MAX_PERIODS, MAX_RECORDS};

/// Most miners an epoch may have (a subnet's uid count): the state's worst case is sized by it.
pub const MAX_MINERS: usize = 256;

/// Prefixes of this policy's parameter names: a name under one of them that is not a parameter
/// (a typo) is refused rather than silently left at its default.
const PREFIXES: &[&str] = &["period.", "quality.", "token.", "speed.", "task.", "capacity.", "gate.", "state."];

/// The parameter names read, besides `capacity.max.<task>`.
const NAMES: &[&str] = &[
    "period.include_organic",
    "period.decay",
    "period.history",
    "period.min_periods",
    "period.new_multiplier",
    "quality.window",
    "quality.square_below",
    "token.max_rank",
    "token.max_failed",
    "token.distance_full",
    "token.distance_zero",
    "speed.percentile",
    "speed.spread",
    "task.exponent",
    "capacity.max",
    "gate.epochs",
    "state.max_bytes",
];

/// Every parameter this policy reads, with its default (the seed's value where it has one).
pub mod defaults {
    /// 0: the period score counts synthetic requests only; 1: organic ones too (the seed does).
    pub const PERIOD_INCLUDE_ORGANIC: f64 = 0.0;
    /// Period `i` back weighs `(1 − decay)^i` (the seed's `PERIOD_SCORE_TIME_DECAYING_FACTOR`).
    pub const PERIOD_DECAY: f64 = 0.5;
    /// Periods kept per (miner, task); at the default decay the 17th would weigh 2^-16.
    pub const PERIOD_HISTORY: f64 = 16.0;
    /// A miner with no more scored periods than this gets `period.new_multiplier`.
    pub const PERIOD_MIN_PERIODS: f64 = 8.0;
    pub const PERIOD_NEW_MULTIPLIER: f64 = 0.25;
    /// Quality records kept per (miner, task) (the seed's `quality_tasks_to_fetch`).
    pub const QUALITY_WINDOW: f64 = 50.0;
    /// A mean of q^1.5 at or under this is squared.
    pub const QUALITY_SQUARE_BELOW: f64 = 0.85;
    /// A token passes in the reference's top 10 (rank 0..=9).
    pub const TOKEN_MAX_RANK: f64 = 10.0;
    /// More failed tokens than this and the request's quality is 0 (`MAX_FAILED_TOKENS`).
    pub const TOKEN_MAX_FAILED: f64 = 5.0;
    /// The distance thresholds (`BOTTOM_TEXT_THRESHOLD`, `TOP_TEXT_THRESHOLD`).
    pub const TOKEN_DISTANCE_FULL: f64 = 0.125;
    pub const TOKEN_DISTANCE_ZERO: f64 = 0.25;
    /// The speed metric is this percentile of a miner's records (`METRIC_PERCENTILE`).
    pub const SPEED_PERCENTILE: f64 = 0.3;
    /// Best minus worst bonus: ±0.25 (`SPEED_BONUS_MAX`).
    pub const SPEED_SPREAD: f64 = 0.5;
    /// Per-task shares are raised to this power between the two normalizations.
    pub const TASK_EXPONENT: f64 = 4.0;
    /// Declared capacity is capped here (`capacity.max.<task>` overrides it per task); the
    /// default caps nothing a `u32` can declare. At least 1, so a declared capacity stays at
    /// least 1 as the seed's `max(capacity, 1)` makes it, with no second clamp later.
    pub const CAPACITY_MAX: f64 = 4_294_967_295.0;
    /// Epochs a miner stays at 0 after the one in which it failed a challenge (assay's gate, not
    /// the seed's): as long as a period stays in the default history.
    pub const GATE_EPOCHS: f64 = 16.0;
    /// The largest state blob the parameters may lead to (the host's default limit, 1 MiB).
    pub const STATE_MAX_BYTES: f64 = 1_048_576.0;
}

/// The parameters of one run, read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub include_organic: bool,
    pub decay: Decay,
    pub history: usize,
    pub window: usize,
    pub square_below: f64,
    pub tokens: TokenRules,
    pub speed_percentile: f64,
    pub speed_spread: f64,
    pub task_exponent: u32,
    /// The cap on declared capacity per task of the epoch (`capacity.max.<task>`, else
    /// `capacity.max`), in the input's task order.
    pub capacity_max: Vec<f64>,
    pub gate_epochs: u16,
}

impl Config {
    /// The parameters for an epoch of `tasks` (whose names are already known to be distinct).
    pub fn from_params(params: &[Param], tasks: &[Task]) -> Result<Self, String> {
        use defaults::*;
        let p = Params(params);
        for param in params {
            let known = NAMES.contains(&param.name.as_str())
                || param.name.strip_prefix("capacity.max.").is_some_and(|t| tasks.iter().any(|task| task.name == t));
            if !known && PREFIXES.iter().any(|prefix| param.name.starts_with(prefix)) {
                return Err(format!("parameter {} is not one of nineteen's", param.name));
            }
        }
        let max_periods = MAX_PERIODS as f64;
        let distance_full = p.get_in("token.distance_full", TOKEN_DISTANCE_FULL, 0.0, 1.0)?;
        let distance_zero = p.get_in("token.distance_zero", TOKEN_DISTANCE_ZERO, 0.0, 1.0)?;
        if distance_zero <= distance_full {
            return Err(format!(
                "token.distance_zero ({distance_zero}) must exceed token.distance_full ({distance_full})"
            ));
        }
        let history = integer(&p, "period.history", PERIOD_HISTORY, 1.0, max_periods)? as usize;
        let min_periods = integer(&p, "period.min_periods", PERIOD_MIN_PERIODS, 0.0, max_periods)? as usize;
        if min_periods >= history {
            // Otherwise no miner could ever have more periods than min_periods: never full credit.
            return Err(format!("period.min_periods ({min_periods}) must be below period.history ({history})"));
        }
        let capacity_max = p.get_in("capacity.max", CAPACITY_MAX, 1.0, CAPACITY_MAX)?;
        let capacity_max = tasks
            .iter()
            .map(|t| p.get_in(&format!("capacity.max.{}", t.name), capacity_max, 1.0, CAPACITY_MAX))
            .collect::<Result<_, _>>()?;
        let window = integer(&p, "quality.window", QUALITY_WINDOW, 1.0, MAX_RECORDS as f64)? as usize;
        let max_bytes = p.get_in("state.max_bytes", STATE_MAX_BYTES, 0.0, f64::from(u32::MAX))?;
        let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        let worst = state::worst_case_bytes(MAX_MINERS, &names, history, window);
        if worst as f64 > max_bytes {
            return Err(format!(
                "{MAX_MINERS} miners x {} tasks with period.history {history} and quality.window {window} can make \
                 a state of {worst} bytes, more than state.max_bytes ({max_bytes})",
                tasks.len()
            ));
        }
        Ok(Self {
            include_organic: integer(&p, "period.include_organic", PERIOD_INCLUDE_ORGANIC, 0.0, 1.0)? == 1,
            decay: Decay {
                decay: p.get_in("period.decay", PERIOD_DECAY, 0.0, 1.0)?,
                min_periods,
                new_multiplier: p.get_in("period.new_multiplier", PERIOD_NEW_MULTIPLIER, 0.0, 1.0)?,
            },
            history,
            window,
            square_below: p.get_in("quality.square_below", QUALITY_SQUARE_BELOW, 0.0, 1.0)?,
            tokens: TokenRules {
                max_rank: integer(&p, "token.max_rank", TOKEN_MAX_RANK, 1.0, 1e6)?,
                max_failed: integer(&p, "token.max_failed", TOKEN_MAX_FAILED, 0.0, 1e6)?,
                distance_full,
                distance_zero,
            },
            speed_percentile: p.get_in("speed.percentile", SPEED_PERCENTILE, 0.0, 1.0)?,
            speed_spread: p.get_in("speed.spread", SPEED_SPREAD, 0.0, 2.0)?,
            task_exponent: integer(&p, "task.exponent", TASK_EXPONENT, 1.0, 16.0)?,
            capacity_max,
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
