//! The parameters cacheon reads, with their defaults and ranges.
//!
//! Owns: parameter names, defaults and ranges. Must not touch: scoring. What the host's
//! competition traffic looks like (how many prompts, how long, the warm-up) is the host's
//! configuration, not a parameter here: the scorer only sees the counted requests.

use assay_policy_sdk::{NO_MINER, Param, Params};

use crate::formula::Thresholds;

/// Most miners an epoch may have (a subnet's uid count): the state's gates are bounded by it.
pub const MAX_MINERS: usize = 256;

/// Prefixes of this policy's parameter names: a name under one of them that is not a parameter
/// (a typo) is refused rather than silently left at its default.
const PREFIXES: &[&str] = &["gate.", "score.", "competition.", "leader.", "reward.", "pool.", "burn."];

/// Every parameter name this policy reads.
const NAMES: &[&str] = &[
    "gate.similarity",
    "gate.mean_logprob",
    "gate.min_logprob",
    "gate.epochs",
    "score.ttft_weight",
    "score.tps_weight",
    "competition.min_ok_share",
    "leader.margin",
    "reward.winner",
    "reward.runner_up",
    "pool.target",
    "burn.uid",
];

/// Every parameter this policy reads, with its default (the seed's value where it has one).
pub mod defaults {
    /// Least share of checked tokens at rank 0 (the reference's greedy token): the text
    /// similarity of the seed's gate, for greedy decoding of the same model. Not 1: kernels of
    /// different precision flip a near-tie now and then.
    pub const GATE_SIMILARITY: f64 = 0.9;
    /// Least mean log-prob of the miner's tokens under the reference (teacher-forced).
    pub const GATE_MEAN_LOGPROB: f64 = -1.0;
    /// Least log-prob of any single checked token: one token the reference all but rules out
    /// (the floor, -1000, is a token it calls impossible) fails the miner.
    pub const GATE_MIN_LOGPROB: f64 = -10.0;
    /// Epochs a miner stays at 0 after the one in which it failed a challenge (assay's gate).
    pub const GATE_EPOCHS: f64 = 16.0;
    /// The seed's `0.5 × ttft_improvement + 0.5 × tps_improvement`.
    pub const SCORE_TTFT_WEIGHT: f64 = 0.5;
    /// See [`SCORE_TTFT_WEIGHT`].
    pub const SCORE_TPS_WEIGHT: f64 = 0.5;
    /// Least share of a miner's counted competition requests on a task that must end `ok` for
    /// it to be timed there: medians over `ok` requests only would otherwise reward dropping the
    /// slow ones.
    pub const COMPETITION_MIN_OK_SHARE: f64 = 0.9;
    /// A challenger must beat the leader's fresh score by this fraction (the seed's 1 %).
    pub const LEADER_MARGIN: f64 = 0.01;
    /// The seed's 80 % and 20 % of the pool.
    pub const REWARD_WINNER: f64 = 0.8;
    /// See [`REWARD_WINNER`].
    pub const REWARD_RUNNER_UP: f64 = 0.2;
    /// A winner's score at which the whole weight is paid out (pool = min(1, score / target)).
    pub const POOL_TARGET: f64 = 0.5;
    /// The uid the unpaid weight goes to (the subnet owner's, by convention).
    pub const BURN_UID: f64 = 0.0;
}

/// The parameters of one run, read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `gate.similarity`, `gate.mean_logprob`, `gate.min_logprob`.
    pub thresholds: Thresholds,
    /// `gate.epochs`.
    pub gate_epochs: u16,
    /// `score.ttft_weight`.
    pub ttft_weight: f64,
    /// `score.tps_weight`.
    pub tps_weight: f64,
    /// `competition.min_ok_share`.
    pub min_ok_share: f64,
    /// `leader.margin`.
    pub leader_margin: f64,
    /// `reward.winner`.
    pub reward_winner: f64,
    /// `reward.runner_up`.
    pub reward_runner_up: f64,
    /// `pool.target`.
    pub pool_target: f64,
    /// `burn.uid`.
    pub burn_uid: u16,
}

impl Config {
    /// Reads every parameter, its default where absent; an `Err` names a value out of range or
    /// an unknown name under one of this policy's prefixes.
    pub fn from_params(params: &[Param]) -> Result<Self, String> {
        use defaults::*;
        let p = Params(params);
        for param in params {
            let ours = PREFIXES.iter().any(|prefix| param.name.starts_with(prefix));
            if ours && !NAMES.contains(&param.name.as_str()) {
                return Err(format!("parameter {} is not one of cacheon's", param.name));
            }
        }
        let reward_winner = p.get_in("reward.winner", REWARD_WINNER, 0.0, 1.0)?;
        let reward_runner_up = p.get_in("reward.runner_up", REWARD_RUNNER_UP, 0.0, 1.0)?;
        if reward_winner + reward_runner_up > 1.0 + 1e-9 {
            return Err(format!(
                "reward.winner ({reward_winner}) and reward.runner_up ({reward_runner_up}) sum to more than 1"
            ));
        }
        let pool_target = p.get_in("pool.target", POOL_TARGET, 0.0, 1e6)?;
        if pool_target <= 0.0 {
            return Err("parameter pool.target must be positive".to_string());
        }
        Ok(Self {
            thresholds: Thresholds {
                similarity: p.get_in("gate.similarity", GATE_SIMILARITY, 0.0, 1.0)?,
                mean_logprob: p.get_in("gate.mean_logprob", GATE_MEAN_LOGPROB, -1000.0, 0.0)?,
                min_logprob: p.get_in("gate.min_logprob", GATE_MIN_LOGPROB, -1000.0, 0.0)?,
            },
            gate_epochs: integer(&p, "gate.epochs", GATE_EPOCHS, f64::from(u16::MAX))?,
            ttft_weight: p.get_in("score.ttft_weight", SCORE_TTFT_WEIGHT, 0.0, 1.0)?,
            tps_weight: p.get_in("score.tps_weight", SCORE_TPS_WEIGHT, 0.0, 1.0)?,
            min_ok_share: p.get_in("competition.min_ok_share", COMPETITION_MIN_OK_SHARE, 0.0, 1.0)?,
            leader_margin: p.get_in("leader.margin", LEADER_MARGIN, 0.0, 10.0)?,
            reward_winner,
            reward_runner_up,
            pool_target,
            // NO_MINER is the baseline's uid, never a miner's.
            burn_uid: integer(&p, "burn.uid", BURN_UID, f64::from(NO_MINER - 1))?,
        })
    }
}

/// A whole number in `[0, max]`.
fn integer(p: &Params<'_>, name: &str, default: f64, max: f64) -> Result<u16, String> {
    let value = p.get_in(name, default, 0.0, max)?;
    if value.fract() != 0.0 {
        return Err(format!("parameter {name} = {value} is not a whole number"));
    }
    Ok(value as u16)
}
