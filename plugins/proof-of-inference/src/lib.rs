//! The proof-of-inference scoring policy as an assay `scorer` component (contract 0.2.0).
//!
//! Owns: the rule that turns one epoch's judged challenges into a moving average per prover
//! and u16 weights. Must not touch: anything outside its input (the host gives it everything,
//! including its own state from the previous epoch).
//!
//! The seed is the zk proof-of-inference subnet (Inference Labs' Omron, Bittensor subnet 2):
//! a miner's verified proofs raise a moving average `s` (the "rate"), its failed ones
//! cut it. Here a miner's judged challenges are its proofs, taken in the order they were judged:
//! - **pass** (a verified proof): `s += 0.1 × (1/n × (1 − tan_curve(rt_norm)) − s)`, with `n`
//!   the miners the host lists (the whole metagraph, as the seed's `len(scores)`) and
//!   [`tan_curve`] the seed's normalized tangent;
//! - **fail**: `s −= 0.4 × s`;
//! - **void** (undecidable, not the miner's doing): no change. Void too, never charging a miner
//!   for someone else's fault: a pass without a response time (the validator's recording gap,
//!   counted in the `untimed` component), and every challenge of a uid registered during the
//!   epoch (`registered_at_block > block_start`: they may be its predecessor's).
//!
//! The response time is the time to answer the opening (the proof: the committed hidden-state
//! vectors at the challenged points), by the validator's clock, counted up to an hour; a miner
//! that kept its vectors answers faster than one that must recompute them. `rt_norm` places it
//! within the epoch's bounds, clamped to `[0, 0.99]` ([`normalized_response_time`]). As the seed
//! derives them (`rt.from_epoch` = 1), the bounds are the fastest sample and the lower median of
//! the slowest 5 %, one sample per prover (its latest pass with a positive time), clamped to
//! `[rt.min_ms, rt.max_ms]`; with fewer than two samples, or with `rt.from_epoch` = 0, they are
//! `rt.min_ms` (0) and `rt.max_ms` (60 s, the seed's circuit timeout). Bounds closer than 1 s
//! are widened to 1 s.
//!
//! Weights are proportional to `(s × capacity)^5`, capacity being what the miner has shown, not
//! what it claims (`capacity.rs`): `Σ wₜ × min(declaredₜ, deliveredₜ) / Σ wₜ` over the tasks of
//! positive weight `wₜ`, where `deliveredₜ` is the completion tokens of the miner's `ok` requests
//! of task `t` this epoch (both per epoch, in completion tokens) and a task it declared nothing
//! for is credited `deliveredₜ` (a missing declaration may be the validator's failed fetch). A
//! declaration alone earns nothing: the fifth power would multiply an inflated one 10^5-fold.
//! When nobody is credited anything, capacity is 1 for everyone. A miner is weighted only after
//! `weights.min_samples` (2) verified proofs over all epochs. `s` and the proof count are
//! carried between epochs in the state blob (`state.rs`), keyed by hotkey; a miner whose hotkey
//! the blob cannot hold (over 255 bytes, or listed for two uids) is scored from nothing and not
//! remembered (`stateless`), rather than failing everyone's epoch.
//!
//! **Verification gate** (assay's addition): a miner with any `fail` in this epoch gets weight
//! 0 this epoch. How a cheater ends at weight zero: every epoch in which one of its proofs
//! fails, the gate zeroes it whatever its history. Each failure also cuts `s` by 40 % for the
//! epochs after, and the fifth power makes that a 92 % cut of its share (0.6^5 = 0.078), while
//! a pass closes only a tenth of the gap to the target (about 7 passes to win back half of one
//! failure's loss, 22 for 90 %); so even the epochs in which its cheating goes unchallenged pay
//! it little (and the adaptive challenger challenges recent failers more often). A miner that
//! never passes has `s = 0` and too few samples: weight 0.
//!
//! Where the seed's code (omron-subnet 10.3.1, `neurons/_validator/scoring/`) differs from the
//! published rule we follow (`DESIGN.md`, issue #14), or this policy from the code:
//! - the code sets weights equal to the scores: it asks miners for per-circuit capacities but
//!   only logs them, raises nothing to the fifth power and has no minimum of samples before a
//!   miner is weighted. Its only minimum is two verified response times before it derives the
//!   response-time bounds from data; that is the default of `weights.min_samples` here;
//! - its bounds sample each uid's latest verified *response* (every response there carries a
//!   proof), in a rolling store (up to 1024, across epochs) updated as each response arrives;
//!   here the sample is each prover's latest *pass* (a challenged request whose opening
//!   verified, timed to answer the opening), from this epoch's passes, once, before the updates;
//! - it also zeroes the scores of miners it cannot query, multiplies the scores of rotating
//!   miner groups by a boost or 0.99 each epoch, penalizes missed resets and has a proof-size
//!   term (weight 0): none of these is in the published rule, and none is here;
//! - it keys scores by uid; here by hotkey, so a re-registered uid starts from zero.

mod capacity;
mod formula;
mod roster;
mod state;

use roster::Roster;

use assay_policy_sdk::{Challenges, EpochInput, EpochOutput, MinerScore, Param, Params, Scorer, Verdict};

pub use formula::{
    Bounds, BoundsRule, Rates, derive_bounds, normalized_response_time, on_fail, on_pass, power, shares, tan_curve,
    to_weights,
};
pub use state::{MAX_HOTKEY_BYTES, Prover, ProverState};

/// Every parameter this policy reads, with its default (the seed's value where it has one).
pub mod defaults {
    /// `rate.recovery`: the seed's `RATE_OF_RECOVERY`.
    pub const RECOVERY: f64 = 0.1;
    /// `rate.decay`: the seed's `RATE_OF_DECAY`.
    pub const DECAY: f64 = 0.4;
    /// `rt.flattening`: the seed's `FLATTENING_COEFFICIENT`.
    pub const FLATTENING: f64 = 0.9;
    /// `rt.max_norm`: the seed's `MAXIMUM_RESPONSE_TIME_DECIMAL`.
    pub const MAX_NORM: f64 = 0.99;
    /// `rt.from_epoch`: 1 derives the bounds from the epoch's passes, as the seed does.
    pub const FROM_EPOCH: f64 = 1.0;
    /// `rt.min_ms`, `rt.max_ms`: the seed's bounds before it has two samples (its circuit
    /// timeout is 60 s), and the range derived bounds are clamped to.
    pub const MIN_MS: f64 = 0.0;
    pub const MAX_MS: f64 = 60_000.0;
    /// `rt.min_span_ms`: the seed widens bounds closer than 1 s.
    pub const MIN_SPAN_MS: f64 = 1_000.0;
    /// `rt.slow_fraction`: the seed's `MAXIMUM_SCORE_MEDIAN_SAMPLE`.
    pub const SLOW_FRACTION: f64 = 0.05;
    /// `weights.min_samples`: verified proofs, over all epochs, before a miner is weighted.
    pub const MIN_SAMPLES: f64 = 2.0;
    /// `weights.exponent`: weights ∝ (s × capacity)^5.
    pub const EXPONENT: f64 = 5.0;
}

/// The longest response time counted, an hour: longer ones count as this, so that no sum of
/// times overflows to infinity. Also the largest time a parameter may name.
pub const MAX_RESPONSE_MS: f64 = 3.6e6;

/// The parameters of one run, read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub rates: Rates,
    pub flattening: f64,
    pub max_norm: f64,
    pub bounds_from_epoch: bool,
    pub bounds: BoundsRule,
    pub min_span_ms: f64,
    pub min_samples: u32,
    pub exponent: u32,
}

/// An integer-valued parameter.
fn whole(p: &Params, name: &str, default: f64, min: f64, max: f64) -> Result<u32, String> {
    let value = p.get_in(name, default, min, max)?;
    if value.fract() != 0.0 {
        return Err(format!("parameter {name} = {value} is not a whole number"));
    }
    Ok(value as u32)
}

impl Config {
    pub fn from_params(params: &[Param]) -> Result<Self, String> {
        use defaults::*;
        let p = Params(params);
        let min_ms = p.get_in("rt.min_ms", MIN_MS, 0.0, MAX_RESPONSE_MS)?;
        let max_ms = p.get_in("rt.max_ms", MAX_MS, 0.0, MAX_RESPONSE_MS)?;
        if max_ms < min_ms {
            return Err(format!("parameter rt.max_ms = {max_ms} is below rt.min_ms = {min_ms}"));
        }
        Ok(Self {
            rates: Rates {
                recovery: p.get_in("rate.recovery", RECOVERY, 0.0, 1.0)?,
                decay: p.get_in("rate.decay", DECAY, 0.0, 1.0)?,
            },
            // Below 1: at 1 the tangent reaches its poles at both ends.
            flattening: p.get_in("rt.flattening", FLATTENING, 0.01, 0.99)?,
            max_norm: p.get_in("rt.max_norm", MAX_NORM, 0.0, 1.0)?,
            bounds_from_epoch: whole(&p, "rt.from_epoch", FROM_EPOCH, 0.0, 1.0)? == 1,
            bounds: BoundsRule {
                fallback: Bounds { min_ms, max_ms },
                slow_fraction: p.get_in("rt.slow_fraction", SLOW_FRACTION, 0.0, 1.0)?,
            },
            min_span_ms: p.get_in("rt.min_span_ms", MIN_SPAN_MS, 1e-3, MAX_RESPONSE_MS)?,
            min_samples: whole(&p, "weights.min_samples", MIN_SAMPLES, 0.0, 1e6)?,
            exponent: whole(&p, "weights.exponent", EXPONENT, 1.0, 16.0)?,
        })
    }
}

/// What one epoch did to one miner.
#[derive(Debug, Default, Clone)]
struct Tally {
    passes: u32,
    fails: u32,
    /// Passes without a response time, counted as void.
    untimed: u32,
    /// Sums over timed passes, for the `rt` and `rt_ms` components.
    rt_norm_sum: f64,
    rt_ms_sum: f64,
}

/// The columns this policy reads must line up (the host checks this too; a policy that
/// indexed past a short column would trap instead of saying why).
fn check_challenges(c: &Challenges) -> Result<(), String> {
    let n = c.len();
    if c.uid.len() != n || c.verdict.len() != n || c.response_ms.len() != n {
        return Err(format!(
            "challenge columns differ in length: {} request ids, {} uids, {} verdicts, {} response times",
            n,
            c.uid.len(),
            c.verdict.len(),
            c.response_ms.len()
        ));
    }
    Ok(())
}

/// The response time of challenge `j`, at most [`MAX_RESPONSE_MS`], when the validator measured
/// a usable one (a negative, NaN or infinite time is a recording gap).
fn response_time(c: &Challenges, j: usize) -> Option<f64> {
    c.response_ms_of(j).filter(|ms| ms.is_finite()).map(|ms| ms.min(MAX_RESPONSE_MS))
}

/// The epoch's bounds: from each miner's latest timed pass (the seed's samples), or fixed.
fn epoch_bounds(c: &Challenges, roster: &Roster, miners: usize, cfg: &Config) -> Bounds {
    if !cfg.bounds_from_epoch {
        return cfg.bounds.fallback;
    }
    let mut latest: Vec<Option<f64>> = vec![None; miners];
    for j in 0..c.len() {
        let Some(i) = roster.prover_of(c.uid[j]) else { continue };
        if c.verdict[j] == Verdict::Pass {
            // The seed keeps only positive times.
            if let Some(ms) = response_time(c, j).filter(|&ms| ms > 0.0) {
                latest[i] = Some(ms);
            }
        }
    }
    let mut samples: Vec<f64> = latest.into_iter().flatten().collect();
    derive_bounds(&mut samples, &cfg.bounds)
}

/// Applies every judged challenge, in order, to the provers' moving averages.
fn apply_proofs(
    input: &EpochInput,
    roster: &Roster,
    bounds: Bounds,
    cfg: &Config,
    provers: &mut [Prover],
) -> Vec<Tally> {
    let c = &input.challenges;
    let n = input.miners.len();
    let mut tallies = vec![Tally::default(); n];
    for j in 0..c.len() {
        // Records for uids not in the metagraph, or re-registered during the epoch, are void.
        let Some(i) = roster.prover_of(c.uid[j]) else { continue };
        let (prover, tally) = (&mut provers[i], &mut tallies[i]);
        match (c.verdict[j], response_time(c, j)) {
            (Verdict::Pass, Some(ms)) => {
                let rt_norm = normalized_response_time(ms, bounds, cfg.min_span_ms, cfg.max_norm);
                prover.s = on_pass(prover.s, n, rt_norm, cfg.flattening, cfg.rates).clamp(0.0, 1.0);
                prover.samples = prover.samples.saturating_add(1);
                tally.passes += 1;
                tally.rt_norm_sum += rt_norm;
                tally.rt_ms_sum += ms;
            }
            (Verdict::Fail, _) => {
                prover.s = on_fail(prover.s, cfg.rates).clamp(0.0, 1.0);
                tally.fails += 1;
            }
            (Verdict::Pass, None) => tally.untimed += 1,
            (Verdict::Void, _) => {}
        }
    }
    tallies
}

fn component(name: &str, value: f64) -> Param {
    Param { name: name.to_string(), value }
}

/// The named parts of miner `i`'s score, for people reading the summary.
fn components(i: usize, prover: Prover, tally: &Tally, capacity: f64, roster: &Roster) -> Vec<Param> {
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    let mean = |sum: f64| if tally.passes == 0 { -1.0 } else { sum / f64::from(tally.passes) };
    vec![
        component("s", prover.s),
        component("samples", f64::from(prover.samples)),
        component("capacity", capacity),
        component("rt", mean(tally.rt_norm_sum)),
        component("rt_ms", mean(tally.rt_ms_sum)),
        component("passes", f64::from(tally.passes)),
        component("fails", f64::from(tally.fails)),
        component("untimed", f64::from(tally.untimed)),
        component("gated", flag(tally.fails > 0)),
        component("reregistered", flag(roster.reregistered[i])),
        component("stateless", flag(!roster.keyed[i])),
    ]
}

/// The whole policy, callable natively.
pub fn score(input: &EpochInput) -> Result<EpochOutput, String> {
    let cfg = Config::from_params(&input.params)?;
    let carried = ProverState::decode(&input.state)?;
    let roster = Roster::new(input)?;
    check_challenges(&input.challenges)?;
    let capacities = capacity::credited(input, |uid| roster.index_of(uid))?;

    let bounds = epoch_bounds(&input.challenges, &roster, input.miners.len(), &cfg);
    // A miner the state cannot key starts from nothing (and is not written back below).
    let mut provers: Vec<Prover> = input
        .miners
        .iter()
        .zip(&roster.keyed)
        .map(|(m, &keyed)| if keyed { carried.get(&m.hotkey) } else { Prover::default() })
        .collect();
    let tallies = apply_proofs(input, &roster, bounds, &cfg, &mut provers);

    let strengths: Vec<f64> = provers
        .iter()
        .zip(&tallies)
        .zip(&capacities)
        .map(|((p, t), &c)| if t.fails == 0 && p.samples >= cfg.min_samples { p.s * c } else { 0.0 })
        .collect();
    let shares = shares(&strengths, cfg.exponent);

    let mut next_state = ProverState::default();
    let mut scores = Vec::with_capacity(input.miners.len());
    for (i, miner) in input.miners.iter().enumerate() {
        if roster.keyed[i] {
            next_state.insert(miner.hotkey.clone(), provers[i])?;
        }
        scores.push(MinerScore {
            uid: miner.uid,
            score: shares[i],
            components: components(i, provers[i], &tallies[i], capacities[i], &roster),
        });
    }
    let pairs: Vec<(u16, f64)> = scores.iter().map(|s| (s.uid, s.score)).collect();
    Ok(EpochOutput { weights: to_weights(&pairs), scores, state: next_state.encode() })
}

/// The component's export.
pub struct ProofOfInference;

impl Scorer for ProofOfInference {
    fn score(input: EpochInput) -> Result<EpochOutput, String> {
        score(&input)
    }
}

assay_policy_sdk::export_scorer!(ProofOfInference);

#[cfg(test)]
mod tests;
