//! One epoch through consensus's rules: the verification gate from the challenges, each
//! commit-reveal round scored against the mean of its valid outputs, the rounds averaged per
//! miner, weights and the next state.
//!
//! Owns: reading the epoch input (miners, challenges, commit-reveal rows, params, state) and
//! the order in which `formula.rs` is applied. Must not touch: the formulas themselves or the
//! state's bytes.

use std::collections::BTreeMap;

use assay_policy_sdk::{CommitReveal, EpochInput, EpochOutput, MinerScore, Param, Reveal, Verdict};

use crate::config::{Config, MAX_MINERS};
use crate::formula;
use crate::state::State;

/// What this epoch's challenges and the carried gate say of one miner.
#[derive(Debug, Default, Clone, Copy)]
struct Verification {
    passes: u32,
    failures: u32,
    /// A failed challenge this epoch or within the last `gate.epochs`: scores 0, defines no mean.
    gated: bool,
}

impl Verification {
    /// Passed a challenge this epoch and is not gated: its reveals may define the mean.
    fn verified(&self) -> bool {
        self.passes > 0 && !self.gated
    }
}

/// One ungated miner's rounds.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Per round it had a row in, in round order: its round score (0 unless measured).
    round_scores: Vec<f64>,
    /// Rounds whose reveal was measured against the mean.
    scored: u32,
    /// Rounds whose reveal was missing, mismatched, late or malformed.
    refused: u32,
    /// Rounds with a well-formed valid reveal but no mean to measure it against.
    unscored: u32,
    distance_sum: f64,
}

/// The whole policy, callable natively.
pub fn score(input: &EpochInput) -> Result<EpochOutput, String> {
    check_shape(input)?;
    let cfg = Config::from_params(&input.params)?;
    let carried = State::decode(&input.state)?;
    let slot = slots(input)?;
    let checks = verification(input, &slot, &carried);
    let mut tallies = vec![Tally::default(); input.miners.len()];
    let mut rounds = 0;
    for round in input.commit_reveals.chunk_by(|a, b| a.round == b.round) {
        // Rows of uids that are not miners of the epoch are ignored, and so is a round of
        // nothing but such rows.
        let rows: Vec<(usize, &CommitReveal)> =
            round.iter().filter_map(|r| slot.get(&r.uid).map(|&m| (m, r))).collect();
        if !rows.is_empty() {
            rounds += 1;
            score_round(&rows, &cfg, &checks, &mut tallies);
        }
    }
    let scores = miner_scores(input, &checks, &tallies, rounds);
    let pairs: Vec<(u16, f64)> = scores.iter().map(|s| (s.uid, s.score)).collect();
    Ok(EpochOutput { weights: formula::to_weights(&pairs), scores, state: next_state(input, &cfg, &checks, &carried) })
}

/// Refuses inputs the host should never give: columns that disagree, too many miners, rows out
/// of (round, uid) order or repeated, a task index past the tasks, a round over two tasks.
fn check_shape(input: &EpochInput) -> Result<(), String> {
    if input.challenges.uid.len() != input.challenges.verdict.len() {
        return Err("challenges: columns of different lengths".to_string());
    }
    if input.miners.len() > MAX_MINERS {
        return Err(format!("{} miners, more than {MAX_MINERS}", input.miners.len()));
    }
    let rows = &input.commit_reveals;
    if let Some(w) = rows.windows(2).find(|w| (w[0].round, w[0].uid) >= (w[1].round, w[1].uid)) {
        return Err(format!(
            "commit-reveals: (round {}, uid {}) after (round {}, uid {}): not sorted by (round, uid) or repeated",
            w[1].round, w[1].uid, w[0].round, w[0].uid
        ));
    }
    if let Some(r) = rows.iter().find(|r| usize::from(r.task) >= input.tasks.len()) {
        return Err(format!("commit-reveals: round {} names task {}, past the epoch's tasks", r.round, r.task));
    }
    if let Some(w) = rows.windows(2).find(|w| w[0].round == w[1].round && w[0].task != w[1].task) {
        return Err(format!("commit-reveals: round {} names tasks {} and {}", w[0].round, w[0].task, w[1].task));
    }
    Ok(())
}

/// uid → index into `input.miners`.
fn slots(input: &EpochInput) -> Result<BTreeMap<u16, usize>, String> {
    let mut slot = BTreeMap::new();
    for (i, m) in input.miners.iter().enumerate() {
        if slot.insert(m.uid, i).is_some() {
            return Err(format!("miner uid {} is listed twice", m.uid));
        }
    }
    Ok(slot)
}

/// Each miner's passes and failures this epoch, and its gate. Challenges of uids that are not
/// miners of the epoch are ignored; `void` counts neither way.
fn verification(input: &EpochInput, slot: &BTreeMap<u16, usize>, carried: &State) -> Vec<Verification> {
    let mut checks = vec![Verification::default(); input.miners.len()];
    for (uid, verdict) in input.challenges.uid.iter().zip(&input.challenges.verdict) {
        let Some(check) = slot.get(uid).and_then(|&m| checks.get_mut(m)) else { continue };
        match verdict {
            Verdict::Pass => check.passes = check.passes.saturating_add(1),
            Verdict::Fail => check.failures = check.failures.saturating_add(1),
            Verdict::Void => {}
        }
    }
    for (check, miner) in checks.iter_mut().zip(&input.miners) {
        check.gated = check.failures > 0 || carried.gate(&miner.hotkey) > 0;
    }
    checks
}

/// Scores one round's rows (listed miners only, ascending uid) into the ungated miners'
/// tallies. A gated miner's row is not read.
fn score_round(rows: &[(usize, &CommitReveal)], cfg: &Config, checks: &[Verification], tallies: &mut [Tally]) {
    let measurable = |r: &CommitReveal| r.reveal == Reveal::Valid && formula::well_formed(&r.output);
    let candidates: Vec<(usize, &[f64])> = rows
        .iter()
        .filter(|&&(m, r)| !checks[m].gated && measurable(r))
        .map(|&(m, r)| (m, r.output.as_slice()))
        .collect();
    let mean = reference_mean(&candidates, cfg, checks);
    for &(m, row) in rows {
        if checks[m].gated {
            continue;
        }
        let tally = &mut tallies[m];
        let round_score = match &mean {
            // Not valid, or malformed, or of another length than the mean's: refused.
            _ if !measurable(row) => None,
            Some(mean) if mean.len() != row.output.len() => None,
            Some(mean) => {
                let distance = formula::distance(&row.output, mean);
                tally.scored += 1;
                tally.distance_sum += distance;
                Some(formula::round_score(distance))
            }
            None => {
                tally.unscored += 1;
                Some(0.0)
            }
        };
        if round_score.is_none() {
            tally.refused += 1;
        }
        tally.round_scores.push(round_score.unwrap_or(0.0));
    }
}

/// The round's mean: over the verified miners' well-formed valid reveals of their most common
/// length (with `mean.verified_only`), else, or when fewer than `round.min_valid` of those,
/// over every ungated miner's the same way; `None` when fewer than `round.min_valid` still.
fn reference_mean(candidates: &[(usize, &[f64])], cfg: &Config, checks: &[Verification]) -> Option<Vec<f64>> {
    if cfg.verified_only {
        let verified: Vec<&[f64]> = candidates.iter().filter(|(m, _)| checks[*m].verified()).map(|c| c.1).collect();
        if let Some(mean) = mean_of_common_length(&verified, cfg.min_valid) {
            return Some(mean);
        }
    }
    let all: Vec<&[f64]> = candidates.iter().map(|c| c.1).collect();
    mean_of_common_length(&all, cfg.min_valid)
}

/// The mean of the outputs of the most common length, if one length is the most common and at
/// least `min_valid` outputs have it.
fn mean_of_common_length(outputs: &[&[f64]], min_valid: usize) -> Option<Vec<f64>> {
    let lengths: Vec<usize> = outputs.iter().map(|o| o.len()).collect();
    let length = formula::common_length(&lengths)?;
    let same: Vec<&[f64]> = outputs.iter().copied().filter(|o| o.len() == length).collect();
    if same.len() < min_valid {
        return None;
    }
    formula::mean_output(&same)
}

/// Each miner's score and its components, in input order.
fn miner_scores(input: &EpochInput, checks: &[Verification], tallies: &[Tally], rounds: usize) -> Vec<MinerScore> {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    input
        .miners
        .iter()
        .zip(checks.iter().zip(tallies))
        .map(|(miner, (check, tally))| {
            let mut components = vec![
                ("failed_challenges", f64::from(check.failures)),
                ("passed_challenges", f64::from(check.passes)),
                ("gated", flag(check.gated)),
                ("verified", flag(check.verified())),
            ];
            let score = if check.gated { 0.0 } else { formula::epoch_score(&tally.round_scores, rounds) };
            // Nothing of a gated miner's rounds was read: nothing to show.
            if !check.gated {
                let absent = rounds.saturating_sub(tally.round_scores.len());
                components.extend([
                    ("scored_rounds", f64::from(tally.scored)),
                    ("refused_rounds", f64::from(tally.refused)),
                    ("unscored_rounds", f64::from(tally.unscored)),
                    ("absent_rounds", absent as f64),
                ]);
                if tally.scored > 0 {
                    components.push(("mean_distance", tally.distance_sum / f64::from(tally.scored)));
                }
            }
            let components = components.into_iter().map(|(name, value)| Param { name: name.to_string(), value });
            MinerScore { uid: miner.uid, score, components: components.collect() }
        })
        .collect()
}

/// The gates carried to the next epoch: `gate.epochs` after a failed challenge, one fewer after
/// each epoch without one. Miners absent from this epoch are dropped.
fn next_state(input: &EpochInput, cfg: &Config, checks: &[Verification], carried: &State) -> Vec<u8> {
    let mut next = State::default();
    for (miner, check) in input.miners.iter().zip(checks) {
        let left = if check.failures > 0 { cfg.gate_epochs } else { carried.gate(&miner.hotkey).saturating_sub(1) };
        next.set_gate(&miner.hotkey, left);
    }
    next.encode()
}
