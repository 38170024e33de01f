//! A challenge policy as an assay `challenger` component: which requests to challenge and at
//! which (layer, position) points, and how to judge what the host measured.
//!
//! Owns: the adaptive challenge rate, the point sampler and the verdict rules, with the
//! calibrated per-layer thresholds compiled in as data. Must not touch: measurement (the host
//! measures, this policy decides) and anything outside its input.
//!
//! - [`plan`]: each miner is challenged at `rate.floor` (10%) of its requests, raised to
//!   `rate.new_miner` for new miners and `rate.after_failure` after a recent failure, and never
//!   falls behind `min_per_epoch` (16) challenges spread over the epoch. Selection and points come
//!   from sha256 of the secret seed, so a miner cannot tell a challenged request in advance and
//!   anyone can replay the plan once the seed is revealed. Late layers and late positions are
//!   drawn more often, since errors grow with depth and a cheater's drift with length.
//! - [`judge`]: a miss or a bad opening, an altered prompt, a non-finite vector, an error above
//!   four times the layer's threshold, or above twice it with a second point past its own, or
//!   tokens the reference finds implausible fail; a lone point between two and four thresholds
//!   (the honest tail) and an error between one and two thresholds (a precision disagreement)
//!   void, as does a greedy completion that ran past the reference's end of sequence where
//!   every token that differs from the reference's top one is a near-tie (otherwise that fails).

/// The calibration tables live in the SDK, so the scorer's pooled epoch gate reads the same ones.
pub use assay_policy_sdk::calibration;
mod judge;
mod plan;

use assay_policy_sdk::{Challenger, Judgement, Measurements, PlanInput, PlannedChallenge};
use calibration::Calibration;

pub use judge::{judge, rules};
pub use plan::{MIN_PER_EPOCH, Rates, late_position, plan, uniform};

/// The served model's calibration this build judges with. One source, one component per model:
/// this crate judges the tiny random Qwen2 of devnet and the experiment; the crate
/// `plugins/adaptive-challenger-trained` compiles this same source with the feature
/// `tiny-trained`, for the trained tiny Qwen2 (a real model's table is one more such crate).
#[cfg(not(feature = "tiny-trained"))]
pub const CALIBRATION: &Calibration<'static> = &calibration::TINY_RANDOM;
#[cfg(feature = "tiny-trained")]
pub const CALIBRATION: &Calibration<'static> = &calibration::TINY_TRAINED;

/// The component's export.
pub struct AdaptiveChallenger;

impl Challenger for AdaptiveChallenger {
    fn plan(input: PlanInput) -> Result<Vec<PlannedChallenge>, String> {
        plan(&input)
    }

    fn judge(input: Measurements) -> Result<Judgement, String> {
        Ok(judge(&input, CALIBRATION))
    }
}

assay_policy_sdk::export_challenger!(AdaptiveChallenger);
