//! The nineteen scoring policy (Rayon Labs' subnet 19) as an assay `scorer` component, contract 0.2.0.
//!
//! Owns: the rules that turn one epoch of requests, token checks, challenges and declared
//! capacities into scores, u16 weights and the state carried to the next epoch. Must not touch:
//! anything outside its input (the host gives it everything, including its own state).
//!
//! The epoch is nineteen's scoring period. Per (miner, task), where the miner declared a capacity
//! for the task (`miners[].capacities`, the first declaration of a task counting, capped by
//! `capacity.max`, or `capacity.max.<task>`):
//! - **period score** `good × (1 − r429 × unqueried) × (1 − r500 × unqueried)²`: `good`, `r429`
//!   and `r500` are shares of the period's synthetic requests (and organic ones with
//!   `period.include_organic`; 429 is `rate-limited`; "500" is `server-error`, `timeout` and
//!   `bad-response`; `cancelled` requests, the client's doing, are left out), `unqueried` =
//!   max(capacity − consumed, 0) / capacity with `consumed` the completion tokens of every `ok`
//!   request of the miner for the task, organic or synthetic (both used its capacity). A period
//!   with no counted request, or no declared capacity, has no score and enters no history;
//! - **quality** of a checked, greedy `ok` request from its token check: 0 with more than
//!   `token.max_failed` (5) tokens at rank `token.max_rank` (10) or beyond; otherwise the mean
//!   probability distance `min(|p_top − p_token|, 1)` over at most 5 positions, chosen as the
//!   seed chooses them (first, last, the first 3 failed tokens, then evenly spaced ones:
//!   [`formula::check_positions`]), scored 1 up to 0.125, falling linearly to 0.5 at 0.25, 0
//!   beyond. A miner's quality for the task is mean(q^1.5) over its last `quality.window` (50)
//!   records, squared when ≤ 0.85;
//! - **speed bonus**: the `speed.percentile` (30th) of quality × tokens per second over the same
//!   records, ranked among the task's miners (those that declared capacity for it and have a
//!   record): +0.25 for the fastest to −0.25 for the slowest, evenly spaced (a lone miner 0;
//!   ties to the lower uid, as the seed's sort leaves them);
//! - **effective volume** = quality × (1 + speed bonus) × period × capacity, where period is the
//!   volume-weighted mean of the last `period.history` (16) period scores, period `i` back
//!   weighted `consumed_i × (1 − 0.5)^i`, times 0.25 until the miner has more than 8 of them;
//! - per task: volumes normalized, raised to the 4th power, normalized again, times the task's
//!   weight (`tasks[].weight`); a miner's score is the sum over tasks. Weights: the best score
//!   gets 65535, the others in proportion (constantinople's convention; the seed sets floats
//!   summing to 1, and the chain normalizes either way).
//!
//! A miner with a capacity but no quality record yet shows its period and a score of 0 (the
//! seed gives it nothing), without quality, speed bonus or volume components.
//!
//! **Parameters** (`epoch-input.params`; defaults in [`defaults`], the seed's values where it has
//! them): `period.include_organic` 0, `period.decay` 0.5, `period.history` 16,
//! `period.min_periods` 8, `period.new_multiplier` 0.25, `quality.window` 50,
//! `quality.square_below` 0.85, `token.max_rank` 10, `token.max_failed` 5,
//! `token.distance_full` 0.125, `token.distance_zero` 0.25, `speed.percentile` 0.3,
//! `speed.spread` 0.5, `task.exponent` 4, `capacity.max` (no cap; at least 1) and `capacity.max.<task>`
//! (a task of the epoch), `gate.epochs` 16, `state.max_bytes` 1 MiB (the host's limit). A value
//! out of its range is an `Err` naming it, and so is an unknown name under one of these
//! prefixes (`period.`, `quality.`, `token.`, `speed.`, `task.`, `capacity.`, `gate.`,
//! `state.`): a typo never falls back to a default. So is a parameter set whose worst-case state
//! (256 miners × the epoch's tasks × a full history and window, hotkeys of 256 bytes) exceeds
//! `state.max_bytes`. Tasks must have distinct names (also as cut for component names) and
//! weights in [0, 1] summing to 1 within 1e-9, as the WIT says. The synthetic load's fractions
//! of capacity (0.04, 0.08, 0.12, 0.8) are the host's, not parameters here.
//!
//! **Verification gate** (assay's, not the seed's): a miner with a `fail` verdict among this
//! epoch's challenges scores 0 in this epoch and the next `gate.epochs` (16) epochs, whatever
//! it passes meanwhile; a later fail restarts the count. `void` verdicts count neither way.
//! While gated, everything it carried is dropped and nothing is recorded, so when the gate opens
//! it restarts as a new miner (the 0.25 multiplier for 9 periods). The state keeps the gate per
//! hotkey; a hotkey that leaves the metagraph loses it with the rest of its state (coming back
//! means registering again). Chosen over constantinople's smoothed pass rate (`(P + 2) / (P + F
//! + 2) < 0.5`), which lets a miner with a pass or two fail once and keep its weight.
//!
//! **State** (`state.rs`: versioned, bounded): per hotkey, once, its gate and, per task, the
//! recent periods and quality records, as f32. A state blob that is not this version's,
//! truncated, or out of bounds is an `Err`, never a silent reset (the seed keeps its history in
//! a database and has no such case).
//!
//! The seed, as read for this crate: `rayonlabs/nineteen` at `00939607f156` (Jan 2025,
//! `validator/control_node/src/cycle/calculations.py`: decay, percentile, speed bonus, quality
//! window, the 0.85 squaring); `namoray/nineteen` at `710089171ddc` (Oct 2024); the token check in
//! `rayonlabs/vision-workers` (`validator_orchestrator/app/checking/functions/text.py`) at
//! `cd76ac3db873` (Jan 2025: the positions, including the first 3 failed tokens; the thresholds
//! 0.125 and 0.25) and at `00f2d6d04144` (Aug 2025: `MAX_FAILED_TOKENS` 5, a rank limit that
//! widens with temperature above 0.5; there the failed positions are commented out of the
//! choice). Where the seed's published text (`../shared/DESIGN.md`, issue 14) and its code
//! differ, this follows the text:
//! - the server-error factor is squared, the per-task power is 4 and a quality ≤ 0.85 is squared
//!   as the text says; namoray/nineteen had the factor unsquared, a power of 3 and no squaring,
//!   rayonlabs/nineteen matches the text but skips the squaring for its `avatar` task;
//! - "top-10 rank" is rank 0..=9 here; the seed's `rank < 10` on vLLM's 1-based ranks admits 9.
//!
//! Departures where assay's records differ from the seed's, the nearest faithful reading:
//! - **sampled requests give no quality record**, neither good nor bad: the seed's rank limit
//!   widens with the request's temperature, which the contract does not carry (only `greedy`).
//!   Quality comes from greedy requests only; the validator's synthetic load can be greedy;
//! - the seed compares the miner's own reported log-prob of each chosen token with the
//!   reference's; assay records no miner log-prob, but under greedy decoding an honest miner's
//!   token is its top token, so `p_top − p_token` under the reference is that distance. The seed
//!   fills its 5 positions at random; here evenly spaced, so the result is reproducible;
//! - a check the validator could not complete (no tokens, a log-prob or top log-prob that is not
//!   a finite number) gives no record, as a request with no positive duration does: the
//!   validator's gap is not held against the miner;
//! - the seed's −3 (status code unlike the validator's) and −10 (end-of-sequence avoided)
//!   qualities have no counterpart: such cases are the challenger's to judge, and a `fail`
//!   gates the miner; every quality here is in [0, 1];
//! - the quality window holds this task's last checked requests across epochs (the seed: the
//!   last 50 within 5 days, topped up from the miner's other tasks); the speed metric counts
//!   completion tokens (the seed: characters / 4);
//! - the history keeps 16 periods (the seed: 3 days of them, where the 17th would weigh 2^-16).
//!
//! Like the seed, a period that consumed nothing (every request rate-limited) weighs nothing in
//! the volume-weighted mean: it changes the period score only when all of a miner's periods are
//! such, and then makes it 0.

mod config;
mod epoch;
pub mod formula;
mod state;

use assay_policy_sdk::{EpochInput, EpochOutput, Scorer};

pub use config::{Config, MAX_MINERS, defaults};
pub use epoch::{MAX_TASKS, TASKS_WITH_COMPONENTS, score};
pub use state::{Carried, MAX_PERIODS, MAX_RECORDS, MinerState, QualityRecord, State, worst_case_bytes};

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
