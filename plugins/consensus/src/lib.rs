//! The consensus scoring policy (commit-reveal among hosters) as an assay `scorer` component,
//! contract 0.2.0.
//!
//! Owns: the rule that turns one epoch's commit-reveal rounds and challenge verdicts into
//! scores, u16 weights and the state carried to the next epoch. Must not touch: anything
//! outside its input (the host gives it everything, including its own state), and the traffic
//! itself (the host drives the rounds and decides what is valid, late or missing).
//!
//! **The rule** (the published text, `../shared/DESIGN.md` and issue #15): in each round every
//! miner is given the same prompt and reveals an output vector; a miner's round score is
//! `1 / (1 + ‖output − mean of valid outputs‖₂)`, and a reveal that does not match its
//! commitment (`mismatch`), comes late (`late`) or never comes (`missing`) scores 0. In detail:
//! - **the mean** is element-wise over the round's valid reveals, summed in row order (ascending
//!   uid), then divided by their count. The miner's own reveal is part of it, as the text says.
//!   Only ungated miners' reveals enter it (see the gate below), and with `mean.verified_only`
//!   (default 1) only those of miners that also passed at least one challenge this epoch
//!   (`verified`); when fewer than `round.min_valid` verified reveals of the most common length are
//!   left (an epoch in which nobody was challenged, say), every ungated miner's valid reveals make
//!   the mean instead. With fewer than `round.min_valid` even then, the round has no mean and
//!   scores nobody (0 for each of its rows; a well-formed valid reveal in it counts as
//!   `unscored_rounds`, the others as `refused_rounds`);
//! - **lengths**: every output of a round must have the model's hidden size. The mean is taken over
//!   the reveals of the most common length among those it may be taken over; when two lengths tie
//!   for the most there is no such length (honest miners of one model agree on it, and breaking the
//!   tie by row order would give the round to the lower uid), which counts as too few reveals: the
//!   fallback above, or no mean. A valid reveal of another length is treated as invalid: 0 for the
//!   round, in no mean. So is a valid reveal that is empty or has an element that is not finite or
//!   is larger in magnitude than 10^12 ([`formula::MAX_ABS_ELEMENT`]: a hidden state is far below
//!   it, and it keeps every sum finite, so one miner's huge numbers cannot zero a round for
//!   everyone). These count as `refused_rounds`, with `mismatch`, `late` and `missing`;
//! - **a lone valid reveal** is its own mean: distance 0, round score 1. That is the text's rule
//!   (`round.min_valid` 1): it pays for agreeing with oneself, and only the verification gate
//!   stands between such a miner and full marks. `round.min_valid` 2 or more asks for real
//!   agreement: a round with fewer valid reveals then scores nobody;
//! - **several rounds**: one round per epoch is the normal case, but any number are scored. A
//!   miner's epoch score is the sum of its round scores divided by the number of rounds of the
//!   epoch (a round counts when any listed miner has a row in it); a round in which the miner
//!   has no row scores 0 for it (`absent_rounds`), so skipping a round is never better than
//!   revealing in it. A miner with no row at all scores 0.
//!
//! **Weights**: the best score gets 65535, the others in proportion (constantinople's
//! convention); no weight when no score is positive. Nothing is burned (there is no burn uid:
//! the whole pool goes to the miners by score).
//!
//! **Verification gate** (assay's, not the seed's; as nineteen's): a miner with a `fail` verdict
//! among this epoch's challenges scores 0 in this epoch and the next `gate.epochs` (16) epochs,
//! whatever it passes or reveals meanwhile; a later fail restarts the count. `void` verdicts
//! count neither way. While gated its rows are not read: it scores 0, and its reveals enter no
//! mean. The state keeps the gate per hotkey; a hotkey that leaves the metagraph loses it.
//! Challenges come from the host's hidden-state verification of the miner's ordinary requests
//! (an opening checked against the validator's reference engine), so a miner that fails them
//! is not running the model it claims, whatever it reveals in the rounds.
//!
//! **Collusion.** The rule rewards agreeing with the majority, not being right: if most miners
//! reveal the same wrong vector (a cheaper model's hidden state, or any agreed constant), the mean
//! sits next to theirs, they score near 1, and an honest minority scores low. Assay limits this
//! with its own verification: a colluder that does not run the real model fails the hidden-state
//! challenges on its requests and is gated, out of the mean and at 0, for `gate.epochs` epochs;
//! with `mean.verified_only` only miners that passed a challenge this epoch define the mean, so an
//! unchallenged majority cannot move it while at least `round.min_valid` verified miners reveal
//! validly. What is left: the reveal itself is not checked against the reference engine by this
//! policy, so a miner that serves challenged requests honestly but reveals something else in the
//! rounds is caught only by its distance to the (verified) mean; and when no miner was verified
//! this epoch the fallback mean is open to an ungated majority. The host can close both by
//! challenging every miner each epoch. The mean is also not robust: one reveal in it `x` from the
//! others' mean moves it by `x / n` for everyone (n reveals in the mean; elements up to 10^12 are
//! accepted), which flattens the gap between the honest and the sloppy without helping the one who
//! did it; the text prescribes the mean, so it stays. The rule is also gentle with distance: a
//! reveal 0.5 from the mean (a cheaper model 0.3 off per element of 8, in the golden scenario)
//! keeps two thirds of the score. What takes a cheater to weight 0 is the gate, not its distance.
//!
//! **What the host must produce** (the traffic; contract fields read):
//! - per round, one prompt drawn from the epoch seed, sent to every miner for one task (the
//!   model); each miner commits `sha256(salt ‖ output)` within the commit window, then reveals
//!   salt and output within the reveal window. The output is the final hidden state at the last
//!   prompt position, as little-endian floats on the wire (no pickles, unlike the seed),
//!   widened to f64 by the host;
//! - `commit-reveals[]`: one row per (round, miner asked), sorted by (round, uid), each round's
//!   rows naming one task of the epoch. `reveal`: `valid` when revealed in time and the hash of
//!   salt and output equals the commitment (the host checks it; the policy trusts `reveal` and
//!   never sees the salt), `mismatch`, `late`, or `missing` (committed and revealed nothing;
//!   also fitting for a miner asked that never committed). `output`: the revealed vector, empty
//!   unless `valid`. `committed-ms` and `revealed-ms` are not read (lateness is the host's
//!   call);
//! - `challenges`: `uid` and `verdict` only (the gate and `verified`); `miners`: `uid` and
//!   `hotkey` (the gate's key); `tasks`: only as the range of the rows' task index. Requests,
//!   token checks, request values, stakes and capacities are not read.
//!
//! **Components** per miner: `failed_challenges`, `passed_challenges`, `gated`, `verified`, and
//! unless gated `scored_rounds`, `refused_rounds`, `unscored_rounds`, `absent_rounds` and, when
//! it was scored in a round, `mean_distance` (over those rounds).
//!
//! **Parameters** (`epoch-input.params`; defaults in [`defaults`]): `round.min_valid` 1 (1 to
//! 256), `mean.verified_only` 1 (0 or 1), `gate.epochs` 16 (0 to 65535). A value out of its
//! range or not whole is an `Err` naming it, and so is an unknown name under `round.`, `mean.`
//! or `gate.`: a typo never falls back to a default.
//!
//! **Refused inputs** (an `Err`, a host bug, never scored around): more than 256 miners, a uid
//! listed twice, challenge columns of different lengths, commit-reveal rows not strictly sorted
//! by (round, uid) (a repeated row included), a row naming a task past the epoch's tasks, a
//! round whose rows name two tasks, a state blob that is not this version's or is corrupt. Rows
//! and challenges of uids that are not miners of the epoch are ignored.
//!
//! **State** (`state.rs`: versioned, bounded): only the gate, per hotkey. The score itself is
//! this epoch's alone, no moving average: the published rule defines a round's score and
//! nothing across epochs, and the seed's code was not at hand to show one (an average would
//! also let a miner coast on past rounds after it stops hosting).
//!
//! The seed: the published text only (`../shared/DESIGN.md`, issue #15); its code was not read
//! for this crate. Departures, all assay's: the little-endian output instead of pickles (the
//! host's), the gate and the verified-only mean, the length and well-formedness rules, absent
//! rounds counting 0.

mod config;
mod epoch;
pub mod formula;
mod state;

use assay_policy_sdk::{EpochInput, EpochOutput, Scorer};

pub use config::{Config, MAX_MINERS, defaults};
pub use epoch::score;
pub use state::{MAX_HOTKEY_BYTES, State};

/// The component's export.
pub struct Consensus;

impl Scorer for Consensus {
    fn score(input: EpochInput) -> Result<EpochOutput, String> {
        epoch::score(&input)
    }
}

assay_policy_sdk::export_scorer!(Consensus);

#[cfg(test)]
mod tests;
