//! The cacheon scoring policy (a server competition against a baseline) as an assay `scorer`
//! component, contract 0.2.0.
//!
//! Owns: the rules that turn one epoch of competition requests, token checks and challenges into
//! scores, u16 weights and the state carried to the next epoch (the leader and the running
//! verification gates). Must not touch: anything outside its input (the host gives it
//! everything, including its own state), and the traffic itself, which the host drives.
//!
//! # The competition
//! Miners compete to serve one model faster than a baseline server the validator runs itself.
//! Miners are servers at their axon address; the seed's Docker image submission is out of scope
//! (the validator never builds or runs a miner's image).
//!
//! # The traffic this policy expects (the host's side)
//! Each epoch the validator draws a deterministic prompt set from the epoch seed (long prompts,
//! several hundred output tokens) and sends it, per task, to each competing miner and to the
//! task's baseline server (any OpenAI-compatible endpoint named in the validator's config;
//! devnet uses a reference miner), sequentially and on equal terms: one request at a time, the
//! same prompts, the same sampling settings and `max_tokens`, timed by the validator's clock.
//! Warm-up requests are sent first and **not recorded**. The recorded rows:
//! - a miner's counted competition requests are `kind = synthetic` rows with its uid and the
//!   task's index; a baseline request is a `kind = baseline` row with uid 65535
//!   ([`assay_policy_sdk::NO_MINER`]) and the task's index. A `baseline` row with any other
//!   uid is ignored, and so are `organic` rows (users' traffic is no part of the competition);
//! - per row: `outcome`, `completion-tokens`, `ttft-ms` and `total-ms` (send to first token, and
//!   to last byte, by the validator's clock). `reported-ttft-ms` and `reported-tps` are not
//!   read: nothing the miner claims counts. `request-values` and `commit-reveals` are not read;
//! - `token-checks` of the miner's **greedy** `ok` synthetic requests: per completion token its
//!   `rank` under the reference (0 = the reference's greedy token) and `logprob` (the
//!   reference's log-prob of the miner's token, teacher-forced on the miner's output);
//!   `top-logprob` is not read. The host should check every greedy competition request (or a
//!   fixed share of them); the competition's greedy requests are the correctness test;
//! - `challenges`: the hidden-state challenges of the miner's requests, as for every policy.
//!
//! Rows of uids not in `miners`, or of a task index past `tasks`, are ignored. A request whose
//! times are not finite numbers, negative, or with a total below the time to first token
//! counts toward its miner's requests but is not timed (the validator's measurement gap).
//!
//! # The formula
//! Per task `t` and miner (the competition is one per task; see "tasks" below):
//! 1. **correctness gate** (the seed's latest: text similarity and teacher-forced mean and
//!    minimum log-prob thresholds) over the checked tokens of the miner's greedy `ok`
//!    competition requests on `t`: `similarity` = the share of tokens at rank 0 ≥
//!    `gate.similarity` (0.9), the mean log-prob ≥ `gate.mean_logprob` (−1.0) and the least
//!    log-prob ≥ `gate.min_logprob` (−10.0). A miner with no checked token on a task it competed
//!    on cannot pass: nothing shows its output correct. A check with a non-finite log-prob
//!    (the validator's failed reference pass) is left out whole; log-probs count within the
//!    contract's range, [−1000, 0];
//! 2. **medians**: of the miner's timed `ok` requests on `t`, time to first token and tokens
//!    per second end to end (completion tokens over the total time; not constantinople's decode
//!    rate, which a server buffering its answer into one burst after the first token inflates
//!    without bound: see [`formula::request_timing`]), and the same of the baseline's `ok`
//!    requests on `t`. An `ok` request with no completion token served nothing: it is not
//!    timed, and a miner's counts as not `ok`. A miner with fewer than
//!    `competition.min_ok_share` (0.9) of its counted requests `ok` (`cancelled` ones, the
//!    client's doing, are not counted) is not timed on `t`: medians over `ok` requests would
//!    otherwise reward dropping the slow ones (or answering them at once with nothing);
//! 3. `ttft_improvement = (baseline_ttft − miner_ttft) / baseline_ttft` and `tps_improvement =
//!    (miner_tps − baseline_tps) / baseline_tps`, each clipped at 0;
//!    `score_t = 0.5 × ttft_improvement + 0.5 × tps_improvement` (`score.ttft_weight`,
//!    `score.tps_weight`). **No baseline rows on a task** (or no timed `ok` ones): nobody scores
//!    on it, since there is nothing to beat and an improvement over nothing has no meaning.
//!
//! A miner's **fresh score** is `Σ_t tasks[t].weight × score_t` (the contract's task weights,
//! which sum to 1; one task of weight 1 is the seed's case). It is 0 for a miner that failed the
//! correctness gate on any task it competed on (served the wrong output somewhere), that
//! competed nowhere, or that is gated by verification (below).
//!
//! # Leader, winner, pool
//! The state carries the leader (hotkey, and its fresh score in the last epoch it won, kept
//! for audits: no rule reads it back). A leader with a positive fresh score keeps the lead
//! unless the best other miner's fresh score exceeds the leader's **fresh** score (this
//! epoch's, not the carried one) × (1 + `leader.margin`) (1 %). A leader
//! with no positive fresh score (gated, incorrect, no better than the baseline, gone from the
//! metagraph) loses the lead, and the best fresh score wins. Ties go to the lower uid. The winner
//! becomes the next leader; with no positive score anywhere there is no winner and no leader.
//! - `pool = min(1, winner's fresh score / pool.target)` (0.5: a winner 50 % better than the
//!   baseline on the seed's score is paid in full);
//! - the winner gets `pool × reward.winner` (0.8), the runner-up (the best positive fresh score
//!   other than the winner's) `pool × reward.runner_up` (0.2), nothing with no runner-up;
//! - the rest, `1 − both`, is burned: it goes to `burn.uid` (default 0, by convention the subnet
//!   owner's). The host refuses weights to uids not in `miners`, so when `burn.uid` is not
//!   listed the weights are just the winners' shares (the chain normalizes them, paying the
//!   winners in full); the `pool` and `burned` components still show the split.
//!
//! A miner's `score` in the output is its share of the weight (winner, runner-up and burn
//! shares add when they fall on the same uid). Weights: the largest share gets 65535, the
//! others in proportion, zero stays zero; every listed miner gets an entry, and none at all
//! when no share is positive.
//!
//! Components (within the host's 64 per miner, names within its 64 bytes): `failed_challenges`,
//! `gated`, `correct`, `fresh_score`, `previous_leader`, `winner`, `runner_up`, `pool`,
//! `burned`; then, for each of the epoch's first [`TASKS_WITH_COMPONENTS`] tasks that the
//! miner competed on, `<task>.similarity`, `.mean_logprob`, `.min_logprob` (with checked tokens),
//! `.ok_share`, `.median_ttft_ms`, `.median_tps` (when timed), `.baseline_ttft_ms`,
//! `.baseline_tps` (with a baseline), `.ttft_improvement`, `.tps_improvement` and `.score`,
//! the task's name cut to fit. Tasks past those count in the fresh score all the same.
//!
//! # Verification gate (assay's, not the seed's)
//! A miner with a `fail` verdict among this epoch's challenges scores nothing: its fresh score is
//! 0 in this epoch and the next `gate.epochs` (16) epochs whatever it passes meanwhile (a later
//! fail restarts the count), so it cannot win, be runner-up, or keep the lead; a gated leader
//! loses the lead. `void` verdicts count neither way. Chosen over constantinople's smoothed
//! pass rate (`(P + 2) / (P + F + 2) < 0.5`), which lets a miner with a pass or two fail once
//! and keep its weight; here one failed hidden-state check is enough, as in nineteen. The gate
//! is kept per hotkey in the state; a hotkey that leaves the metagraph loses it (coming back
//! means registering again).
//!
//! # Parameters
//! (`epoch-input.params`; defaults in [`defaults`]): `gate.similarity` 0.9 in [0, 1],
//! `gate.mean_logprob` −1.0 and `gate.min_logprob` −10.0 in [−1000, 0], `gate.epochs` 16 (a
//! whole number up to 65535), `score.ttft_weight` and `score.tps_weight` 0.5 in [0, 1],
//! `competition.min_ok_share` 0.9 in [0, 1], `leader.margin` 0.01 in [0, 10], `reward.winner`
//! 0.8 and `reward.runner_up` 0.2 in [0, 1] summing to at most 1, `pool.target` 0.5 in (0,
//! 1e6], `burn.uid` 0 (a whole number up to 65534). A value out of its range is an `Err` naming
//! it, and so is an unknown name under one of these prefixes (`gate.`, `score.`,
//! `competition.`, `leader.`, `reward.`, `pool.`, `burn.`): a typo never falls back to a
//! default. Tasks must have distinct names (also as cut for component names), weights in [0, 1]
//! summing to 1 within 1e-9, and be at most [`MAX_TASKS`]; miners at most 256, sorted by uid,
//! each once, none 65535.
//!
//! # The seed, and where this departs from it
//! The seed is latent-to's cacheon subnet as `../shared/DESIGN.md` and issue 15 describe it
//! (the published text, followed here). Its public repository (`latent-to/cacheon`, read at
//! `63546d4`, Aug 2026, history from May 2026) has since become a kernel competition and holds
//! no code of this rule, so there is no code to differ from: the formula's numbers (0.5 and 0.5,
//! 80 % and 20 %, 1 %) are the text's, while the gate's thresholds (0.9, −1.0, −10.0), the pool
//! target (0.5) and `competition.min_ok_share` are assay's choices in the seed's spirit, all
//! parameters. Departures where assay's records differ:
//! - "text similarity" is the share of checked tokens at the reference's rank 0: the contract
//!   carries ranks, not the reference's text; under greedy decoding of the same model, equal
//!   tokens are equal text;
//! - the improvements use medians per task over the epoch's requests, by the validator's clock;
//!   tokens per second are end to end, since the validator sees only the first token's and the
//!   last byte's times;
//! - several tasks combine by the contract's task weights (the seed has one model);
//! - the Docker image submission and the validator-side benchmarking of images are out of
//!   scope: miners are servers at their axon address.
//!
//! **State** (`state.rs`: versioned, bounded): the leader and the gates. A blob that is not
//! this version's, truncated, or out of bounds is an `Err`, never a silent reset.

mod config;
mod epoch;
pub mod formula;
mod state;

use assay_policy_sdk::{EpochInput, EpochOutput, Scorer};

pub use config::{Config, MAX_MINERS, defaults};
pub use epoch::{MAX_TASKS, TASKS_WITH_COMPONENTS, score};
pub use state::{Leader, MAX_GATES, MAX_NAME_BYTES, State};

/// The component's export.
pub struct Cacheon;

impl Scorer for Cacheon {
    fn score(input: EpochInput) -> Result<EpochOutput, String> {
        epoch::score(&input)
    }
}

assay_policy_sdk::export_scorer!(Cacheon);

#[cfg(test)]
mod tests;
