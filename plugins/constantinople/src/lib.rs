//! The constantinople scoring policy as an assay `scorer` component.
//!
//! Owns: the formula that turns one epoch of request and challenge records into scores and
//! u16 weights. Must not touch: anything outside its input (the host gives it everything,
//! including its own state from the previous epoch).
//!
//! Per miner, over its organic and synthetic requests (baseline runs are ignored):
//! - **throughput** (weight 0.4): median decode tokens/s, each request's reported figure capped at
//!   `cap.tps_ceiling` (1.5) × the validator's measurement, relative to the best miner, times the
//!   success rate;
//! - **latency** (0.2): best miner's median TTFT over this miner's, reported TTFT raised to at
//!   least `cap.ttft_floor` (0.8) × measured, times the success rate;
//! - **verification** (0.4): challenge pass rate with Bayesian smoothing,
//!   `(passes + v) / (passes + fails + v)` with `v` = 2 virtual passes; counts carry over epochs
//!   in the state blob, decayed by `state.decay`; void verdicts count neither way.
//!
//! A miner whose smoothed pass rate is below `gate.min_pass_rate`, or that completed no request,
//! scores zero (the verification prior alone earns nothing). With `evidence.layers` set (the
//! model's layer count, and `evidence.calibration` its honest-noise table), a miner whose
//! hidden-state errors, pooled over all its challenges of the epoch, sit above the honest bound
//! also scores zero ([`evidence`]; off when absent, so older epochs score byte-identically).
//! Rate-limited (429) and cancelled requests are neither successes nor failures. Weights are the
//! scores scaled so the best miner gets 65535, rounded half away from zero.

pub mod evidence;
mod state;

use assay_policy_sdk::calibration::evidence::epoch as evidence_gate;
use assay_policy_sdk::{
    EpochInput, EpochOutput, MinerScore, Outcome, Param, Params, RequestKind, Scorer, Verdict, Weight,
};

pub use state::VerificationState;

/// Every parameter this policy reads, with its default.
pub mod defaults {
    pub const WEIGHT_THROUGHPUT: f64 = 0.4;
    pub const WEIGHT_LATENCY: f64 = 0.2;
    pub const WEIGHT_VERIFICATION: f64 = 0.4;
    pub const VIRTUAL_PASSES: f64 = 2.0;
    pub const TTFT_FLOOR: f64 = 0.8;
    pub const TPS_CEILING: f64 = 1.5;
    pub const MIN_PASS_RATE: f64 = 0.5;
    pub const STATE_DECAY: f64 = 0.5;
}

/// The parameters of one run, read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub weight_throughput: f64,
    pub weight_latency: f64,
    pub weight_verification: f64,
    pub virtual_passes: f64,
    pub ttft_floor: f64,
    pub tps_ceiling: f64,
    pub min_pass_rate: f64,
    pub state_decay: f64,
    /// `evidence.layers` and `evidence.calibration`: the pooled epoch gate; `None` leaves it off.
    pub evidence: Option<evidence::Gate>,
}

impl Config {
    pub fn from_params(params: &[Param]) -> Result<Self, String> {
        use defaults::*;
        let p = Params(params);
        Ok(Self {
            weight_throughput: p.get_in("weight.throughput", WEIGHT_THROUGHPUT, 0.0, 1.0)?,
            weight_latency: p.get_in("weight.latency", WEIGHT_LATENCY, 0.0, 1.0)?,
            weight_verification: p.get_in("weight.verification", WEIGHT_VERIFICATION, 0.0, 1.0)?,
            virtual_passes: p.get_in("smoothing.virtual_passes", VIRTUAL_PASSES, 0.0, 1e6)?,
            ttft_floor: p.get_in("cap.ttft_floor", TTFT_FLOOR, 0.0, 1.0)?,
            tps_ceiling: p.get_in("cap.tps_ceiling", TPS_CEILING, 1.0, 1e3)?,
            min_pass_rate: p.get_in("gate.min_pass_rate", MIN_PASS_RATE, 0.0, 1.0)?,
            state_decay: p.get_in("state.decay", STATE_DECAY, 0.0, 1.0)?,
            evidence: evidence::gate(params)?,
        })
    }
}

/// Reported TTFT, raised to at least `floor` × the validator's measurement.
pub fn effective_ttft_ms(measured: f64, reported: Option<f64>, floor: f64) -> f64 {
    match reported {
        Some(r) if r.is_finite() => r.max(floor * measured),
        _ => measured,
    }
}

/// Decode tokens/s as the validator measured it (tokens after the first over the time after
/// the first token), and the reported figure capped at `ceiling` × that.
pub fn effective_tps(completion_tokens: u32, ttft_ms: f64, total_ms: f64, reported: Option<f64>, ceiling: f64) -> f64 {
    let decode_ms = total_ms - ttft_ms;
    let measured = if completion_tokens == 0 {
        0.0
    } else if decode_ms > 0.0 {
        f64::from(completion_tokens.saturating_sub(1).max(1)) / (decode_ms / 1000.0)
    } else if total_ms > 0.0 {
        f64::from(completion_tokens) / (total_ms / 1000.0)
    } else {
        0.0
    };
    match reported {
        Some(r) if r.is_finite() && r >= 0.0 => r.min(ceiling * measured),
        _ => measured,
    }
}

/// `(passes + v) / (passes + fails + v)`.
pub fn smoothed_pass_rate(passes: f64, fails: f64, virtual_passes: f64) -> f64 {
    let denominator = passes + fails + virtual_passes;
    if denominator <= 0.0 { 1.0 } else { (passes + virtual_passes) / denominator }
}

/// Median of finite values (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

/// Scales scores to u16 weights: the best gets 65535, zero stays zero. Empty when no score is
/// positive (nothing to set on chain).
pub fn to_weights(scores: &[(u16, f64)]) -> Vec<Weight> {
    let best = scores.iter().map(|&(_, s)| s).fold(0.0_f64, f64::max);
    if best <= 0.0 {
        return Vec::new();
    }
    scores
        .iter()
        .map(|&(uid, s)| Weight {
            uid,
            // In [0, 65535] by construction; `as` saturates anyway.
            weight: (s.max(0.0) / best * 65535.0).round() as u16,
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    ok: u32,
    failed: u32,
    tps: Vec<f64>,
    ttft: Vec<f64>,
    passes: u32,
    fails: u32,
}

/// The whole policy, callable natively.
pub fn score(input: &EpochInput) -> Result<EpochOutput, String> {
    let cfg = Config::from_params(&input.params)?;
    let mut carried = VerificationState::decode(&input.state)?;

    // uid -> index into input.miners; records for uids not in the metagraph are ignored.
    let mut slot = vec![u32::MAX; usize::from(u16::MAX) + 1];
    for (i, m) in input.miners.iter().enumerate() {
        if slot[usize::from(m.uid)] != u32::MAX {
            return Err(format!("miner uid {} is listed twice", m.uid));
        }
        slot[usize::from(m.uid)] = i as u32;
    }
    let mut tallies: Vec<Tally> = input.miners.iter().map(|_| Tally::default()).collect();

    // Column by column: the request and challenge records arrive as columns (contract 0.2.0).
    let requests = &input.requests;
    for i in 0..requests.len() {
        let Some(t) = tallies.get_mut(slot[usize::from(requests.uid[i])] as usize) else {
            continue;
        };
        if requests.kind[i] == RequestKind::Baseline {
            continue;
        }
        match requests.outcome[i] {
            Outcome::Ok => {
                let (ttft_ms, total_ms) = (requests.ttft_ms[i], requests.total_ms[i]);
                t.ok += 1;
                t.ttft.push(effective_ttft_ms(ttft_ms, requests.reported_ttft_ms(i), cfg.ttft_floor));
                t.tps.push(effective_tps(
                    requests.completion_tokens[i],
                    ttft_ms,
                    total_ms,
                    requests.reported_tps(i),
                    cfg.tps_ceiling,
                ));
            }
            Outcome::RateLimited | Outcome::Cancelled => {}
            Outcome::ServerError | Outcome::Timeout | Outcome::BadResponse => t.failed += 1,
        }
    }
    let challenges = &input.challenges;
    for (&uid, &verdict) in challenges.uid.iter().zip(&challenges.verdict) {
        let Some(t) = tallies.get_mut(slot[usize::from(uid)] as usize) else {
            continue;
        };
        match verdict {
            Verdict::Pass => t.passes += 1,
            Verdict::Fail => t.fails += 1,
            Verdict::Void => {}
        }
    }

    let pooled: Option<Vec<Vec<f64>>> =
        cfg.evidence.map(|gate| evidence::statistics(challenges, &slot, input.miners.len(), &gate));

    // Per-miner medians first: the relative scores need the best of them.
    let medians: Vec<(Option<f64>, Option<f64>)> =
        tallies.iter_mut().map(|t| (median(&mut t.tps), median(&mut t.ttft))).collect();
    let best_tps = medians.iter().filter_map(|m| m.0).fold(0.0_f64, f64::max);
    let best_ttft = medians.iter().filter_map(|m| m.1).filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);

    let mut next_state = VerificationState::default();
    let mut scores = Vec::with_capacity(input.miners.len());
    for (i, ((miner, t), (tps, ttft))) in input.miners.iter().zip(&tallies).zip(&medians).enumerate() {
        let (prev_passes, prev_fails) = carried.take(&miner.hotkey);
        let passes = prev_passes * cfg.state_decay + f64::from(t.passes);
        let fails = prev_fails * cfg.state_decay + f64::from(t.fails);
        next_state.insert(miner.hotkey.clone(), passes, fails);

        let attempts = t.ok + t.failed;
        let success = if attempts == 0 { 0.0 } else { f64::from(t.ok) / f64::from(attempts) };
        let throughput = match tps {
            Some(v) if best_tps > 0.0 => v / best_tps * success,
            _ => 0.0,
        };
        let latency = match ttft {
            Some(v) if *v > 0.0 && best_ttft.is_finite() => best_ttft / v * success,
            _ => 0.0,
        };
        let verification = smoothed_pass_rate(passes, fails, cfg.virtual_passes);
        let gated = verification < cfg.min_pass_rate;
        let pooled_gate = (cfg.evidence.zip(pooled.as_ref()))
            .map(|(gate, stats)| evidence_gate(gate.calibration, stats.get(i).map_or(&[][..], Vec::as_slice)));
        let evidence_gated = pooled_gate.is_some_and(|e| e.gated);
        let total = if gated || evidence_gated || t.ok == 0 {
            0.0
        } else {
            cfg.weight_throughput * throughput + cfg.weight_latency * latency + cfg.weight_verification * verification
        };
        let component = |name: &str, value: f64| Param { name: name.to_string(), value };
        let mut components = vec![
            component("median_tps", tps.unwrap_or(0.0)),
            component("median_ttft_ms", ttft.unwrap_or(0.0)),
            component("success_rate", success),
            component("throughput", throughput),
            component("latency", latency),
            component("passes", passes),
            component("fails", fails),
            component("verification", verification),
            component("gated", if gated { 1.0 } else { 0.0 }),
        ];
        if let Some(e) = &pooled_gate {
            components.extend(evidence::components(e));
        }
        scores.push(MinerScore { uid: miner.uid, score: total, components });
    }

    let pairs: Vec<(u16, f64)> = scores.iter().map(|s| (s.uid, s.score)).collect();
    Ok(EpochOutput { weights: to_weights(&pairs), scores, state: next_state.encode() })
}

/// The component's export.
pub struct Constantinople;

impl Scorer for Constantinople {
    fn score(input: EpochInput) -> Result<EpochOutput, String> {
        score(&input)
    }
}

assay_policy_sdk::export_scorer!(Constantinople);

#[cfg(test)]
mod tests;
