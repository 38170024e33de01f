//! The nineteen scoring policy (Rayon Labs' subnet 19) as an assay `scorer` component, contract 0.2.0.
//!
//! Owns: the rules that turn one epoch of requests, token checks, challenges and declared
//! capacities into scores, u16 weights and the state carried to the next epoch. Must not touch:
//! anything outside its input (the host gives it everything, including its own state).
//!
//! The epoch is nineteen's scoring period. Per (miner, task), where the miner declared a capacity
//! for the task (`miners[].capacities`, capped by `capacity.max`, or `capacity.max.<task>`):
//! - **period score** `good × (1 − r429 × unqueried) × (1 − r500 × unqueried)²` over the period's
//!   synthetic requests: `good`, `r429` and `r500` are shares of the requests (429 is
//!   `rate-limited`; "500" is `server-error`, `timeout` and `bad-response`; `cancelled` requests,
//!   the client's doing, are left out), `unqueried` = max(capacity − consumed, 0) / capacity with
//!   `consumed` the completion tokens of the `ok` ones. A period with no request, or no declared
//!   capacity, has no score and enters no history;
//! - **quality** of a checked `ok` request from its token check: 0 with more than
//!   `token.max_failed` (5) tokens outside the reference's top `token.max_rank` (10); otherwise,
//!   for greedy decoding, the mean probability distance `min(|p_top − p_token|, 1)` scored 1 up to
//!   0.125, falling linearly to 0.5 at 0.25, 0 beyond; for sampled decoding, 1. A miner's quality
//!   for the task is mean(q^1.5) over its last `quality.window` (50) checked requests, squared
//!   when ≤ 0.85;
//! - **speed bonus**: the `speed.percentile` (30th) of quality × tokens per second over the same
//!   records, ranked among the task's miners (those that declared capacity for it): +0.25 for
//!   the fastest to −0.25 for the slowest, evenly spaced (a lone miner 0; ties to the lower uid);
//! - **effective volume** = quality × (1 + speed bonus) × period × capacity, where period is the
//!   volume-weighted mean of the last `period.history` (16) period scores, period `i` back
//!   weighted `consumed_i × (1 − 0.5)^i`, times 0.25 until the miner has more than 8 of them;
//! - per task: volumes normalized, raised to the 4th power, normalized again, times the task's
//!   weight (`tasks[].weight`); a miner's score is the sum over tasks. Weights: the best score
//!   gets 65535, the others in proportion (constantinople's convention; the seed sets floats
//!   summing to 1, and the chain normalizes either way).
//!
//! **Parameters** (`epoch-input.params`; defaults in [`defaults`], the seed's values where it has
//! them): `period.include_organic` 0, `period.decay` 0.5, `period.history` 16,
//! `period.min_periods` 8, `period.new_multiplier` 0.25, `quality.window` 50,
//! `quality.square_below` 0.85, `token.max_rank` 10, `token.max_failed` 5,
//! `token.distance_full` 0.125, `token.distance_zero` 0.25, `speed.percentile` 0.3,
//! `speed.spread` 0.5, `task.exponent` 4, `capacity.max` (no cap) and `capacity.max.<task>`.
//! A value out of its range is an `Err` naming it. The synthetic load's fractions of capacity
//! (0.04, 0.08, 0.12, 0.8) are the host's, not parameters here.
//!
//! **Verification gate** (assay's, not the seed's): a miner with any `fail` verdict among this
//! epoch's challenges scores 0 and everything it carried is dropped; `void` verdicts count
//! neither way. A cheater therefore ends at weight zero: in an epoch where it fails a challenge
//! its score is exactly 0, which [`formula::to_weights`] maps to weight 0 whatever the others
//! score; dropping its state means none of its earlier good periods or qualities lift it later,
//! and it restarts as a new miner (the 0.25 multiplier for 9 periods). A miner that keeps
//! cheating keeps failing the challenges the challenger keeps aiming at it, and stays at 0.
//!
//! **State**: per (hotkey, task) the recent periods and quality records (`state.rs`: versioned,
//! bounded; about 720 bytes per (miner, task) at the defaults, so 256 miners × 4 tasks fit the
//! host's 1 MiB). A state blob that is not this version's, truncated, or out of bounds is an
//! `Err`, never a silent reset (the seed keeps its history in a database and has no such case).
//!
//! Where the seed's published text (`../shared/DESIGN.md`, issue 14) and its code differ, this
//! follows the text:
//! - the server-error factor is squared, the per-task power is 4 and a quality ≤ 0.85 is squared
//!   as the text says; namoray/nineteen (Oct 2024) had the factor unsquared, a power of 3 and no
//!   squaring, rayonlabs/nineteen (Jan 2025) matches the text but skips the squaring for its
//!   `avatar` task;
//! - "top-10 rank" is rank 0..=9 here; the seed's `rank < 10` on vLLM's 1-based ranks admits 9.
//!
//! Where assay's records differ from the seed's, the nearest faithful reading:
//! - the seed compares the miner's own reported log-prob of each token with the reference's at
//!   five sampled positions; assay records no miner log-prob, but under greedy decoding an
//!   honest miner's token is its top token, so `p_top − p_token` under the reference is that
//!   distance, taken over every checked token (no random sampling). Sampled requests get the
//!   rank check only, and its rank limit does not widen with temperature (not recorded);
//! - the seed's −3 (status code unlike the validator's) and −10 (end-of-sequence avoided)
//!   qualities have no counterpart: such cases are the challenger's to judge, and a `fail`
//!   gates the miner; every quality here is in [0, 1];
//! - the quality window holds this task's last checked requests across epochs (the seed: the
//!   last 50 within 5 days, topped up from the miner's other tasks); the speed metric counts
//!   completion tokens (the seed: characters / 4);
//! - the period score counts synthetic requests only (`period.include_organic` = 1 counts
//!   organic ones too, as the seed's query node does); the history keeps 16 periods (the seed:
//!   3 days of them, where the 17th would weigh 2^-16).
//!
//! Like the seed, a period that consumed nothing (every request rate-limited) weighs nothing in
//! the volume-weighted mean: it changes the period score only when all of a miner's periods are
//! such, and then makes it 0.

mod config;
mod epoch;
pub mod formula;
mod state;

use assay_policy_sdk::{EpochInput, EpochOutput, Scorer};

pub use config::{Config, defaults};
pub use epoch::{MAX_TASKS, TASKS_WITH_COMPONENTS, score};
pub use state::{Carried, MAX_PERIODS, MAX_RECORDS, QualityRecord, State};

/// The component's export.
pub struct Nineteen;

impl Scorer for Nineteen {
    fn score(input: EpochInput) -> Result<EpochOutput, String> {
        epoch::score(&input)
    }
}

assay_policy_sdk::export_scorer!(Nineteen);

#[cfg(test)]
mod tests;
