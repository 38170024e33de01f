//! The replay of a sampled completion (docs/sampling.md, decision 0010): each completion token
//! of a miner that signed [`SAMPLER_SPEC`] is checked against the token the protocol's sampler
//! picks on the reference's logits at that position, with the request's own parameters and seed.
//!
//! Owns: which requests are replayed ([`replay_params`]), when a token replays
//! ([`token_replays`]), the default logit tolerance and the mismatch allowance. Must not
//! touch: the sampler itself (`assay-sampler`), the reference pass or the verdicts of other
//! checks (`measure` calls [`check_replay`] beside them), nor the `[verify]` switch.

use assay_protocol::wire::ResponseExtension;
use assay_sampler::SamplingParams;
use serde_json::Value;

use crate::measure::MeasureError;

#[cfg(doc)]
use assay_protocol::wire::SAMPLER_SPEC;

/// The default of `[verify] replay_tolerance`: the largest difference between an honest
/// miner's logit and the reference's that replay forgives, in logit units: two race keys
/// closer than `2 × tolerance / temperature` are a near tie, and a token that close to a top-k
/// or top-p boundary is near it. Calibrated
/// on honest runs (docs/verification.md, "Replaying sampled tokens": the tiny model with bf16
/// activations against the f32 reference, the largest difference over 64,000 sampled positions
/// is 0.0648, p99.9 0.0412), with headroom: about 1.5 × the largest. A real model on a GPU
/// needs its own figure (`cargo run -p assay-verify --example replay_margins`).
pub const REPLAY_TOLERANCE: f64 = 0.1;

/// The completion positions replayed per request: the first this many. Replaying a position
/// races the whole kept vocabulary (about 152k tokens with `top_k` and `top_p` off) on two f64
/// copies of the row, so a long completion would cost the validator far more than its reference
/// pass. The first positions, not a draw: the choice must be one the miner cannot steer and an
/// auditor can recompute, and any draw from the request (its seed, its id) is known to the
/// miner as well, so it buys no secrecy over a fixed prefix. A miner that samples honestly for
/// the first 64 tokens and cheaply after is left to the hidden-state openings, which the
/// challenger places anywhere in the sequence with the epoch's secret seed.
pub const MAX_REPLAYED_POSITIONS: usize = 64;

/// How a challenge replays its sampled tokens: the request's parameters and the tolerance of
/// `[verify] replay_tolerance` (the replay runs only with `[verify] replay_sampled` on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayPlan {
    pub params: SamplingParams,
    pub tolerance: f64,
}

/// Replay mismatches allowed per completion: this fraction of its tokens, at least one, as the
/// challenger allows greedy mismatches (`GREEDY_MISMATCH_FRACTION`): a sampled token the
/// specification would not emit is a failed token check exactly like a greedy mismatch.
pub const REPLAY_MISMATCH_FRACTION: f64 = 0.02;

/// The parameters to replay a request with: `Some` only for a sampled request (temperature at
/// or above the sampler's greedy threshold) whose miner signed [`SAMPLER_SPEC`], and whose
/// stored body names every parameter, as the gateway writes it (all but `top_k`, which the
/// gateway sends only when it is at least 1: an absent `top_k` is 0, no limit). Anything else is judged as
/// before: greedy requests by the greedy rules, other miners' samples by their log-probs, and a
/// body recorded before the parameters were explicit (or one the validator cannot read back
/// into valid parameters: its own fault, never the miner's) is not replayed.
pub fn replay_params(request: &Value, evidence: &ResponseExtension) -> Option<SamplingParams> {
    if !evidence.samples_to_spec() {
        return None;
    }
    let params = SamplingParams {
        temperature: request["temperature"].as_f64()?,
        top_k: match request.get("top_k") {
            None => 0,
            Some(k) => u32::try_from(k.as_u64()?).ok()?,
        },
        top_p: request["top_p"].as_f64()?,
        seed: request["seed"].as_u64()?,
    };
    (params.validate().is_ok() && !params.is_greedy()).then_some(params)
}

/// Replays the first [`MAX_REPLAYED_POSITIONS`] completion tokens against the reference's
/// logits at their positions (row `i` predicted token `i`, which is the sampler's position `i`)
/// with [`token_replays`]; more tokens that do not replay than [`REPLAY_MISMATCH_FRACTION`]
/// allows is the miner's fault. Rows that do not line up with the completion (fewer than the
/// replayed positions, or more than its tokens), and a reference the sampler cannot read (a NaN
/// logit), are the validator's: never a silent pass.
pub fn check_replay(logits: &[Vec<f32>], completion: &[u32], plan: &ReplayPlan) -> Result<(), MeasureError> {
    let n = completion.len().min(MAX_REPLAYED_POSITIONS);
    if logits.len() < n || logits.len() > completion.len() {
        return Err(MeasureError::Host(format!(
            "{} logit rows for {} completion tokens ({n} replayed): the rows do not line up",
            logits.len(),
            completion.len()
        )));
    }
    let mut mismatches = 0usize;
    for (position, (row, &token)) in (0u64..).zip(logits.iter().zip(completion).take(n)) {
        let replays = token_replays(row, &plan.params, position, token, plan.tolerance)
            .map_err(|e| MeasureError::Host(format!("replaying completion token {position}: {e}")))?;
        mismatches += usize::from(!replays);
    }
    let allowed = ((n as f64 * REPLAY_MISMATCH_FRACTION) as usize).max(1);
    if mismatches > allowed {
        return Err(MeasureError::Miner(format!(
            "{mismatches} of {n} sampled tokens are not what the protocol's sampler emits with the \
             request's parameters and seed (allowed {allowed})"
        )));
    }
    Ok(())
}

/// Whether an honest miner, whose logits are within `tolerance` of these, could have
/// sampled `token` at `position`: the sampler's choice, a near tie, or a truncation boundary the
/// miner may have drawn elsewhere, in one of two ways:
/// - `token` is near its boundary (`token_near_boundary`): the miner kept it where the
///   reference drops it (or the reverse), and it then won: its key is at least the reference
///   winner's minus 2ε (ε = tolerance / temperature);
/// - the reference's winner is near its boundary (`chosen_near_boundary`): the miner dropped
///   it, and `token` must then win the race without it, which is the replay with the winner's
///   logit pushed below every other.
///
/// A boundary alone excuses nothing: on a flat distribution most tokens sit near a top-p
/// boundary, so excusing every token there would excuse any sampler.
pub fn token_replays(
    logits: &[f32],
    params: &SamplingParams,
    position: u64,
    token: u32,
    tolerance: f64,
) -> Result<bool, assay_sampler::SamplerError> {
    let replayed = assay_sampler::replay(logits, params, position, token, tolerance)?;
    let spread = 2.0 * tolerance / params.temperature;
    // Kept by the miner where the reference drops it (the token's own boundary flag), then won.
    let won =
        |r: &assay_sampler::Replay| r.chosen == token || r.near_tie || (r.token_near_boundary && r.margin <= spread);
    if won(&replayed) {
        return Ok(true);
    }
    // Only a winner near its boundary may have been dropped by the miner.
    if !replayed.chosen_near_boundary {
        return Ok(false);
    }
    let lowest = logits.iter().copied().fold(f32::INFINITY, f32::min);
    let mut without_winner = logits.to_vec();
    if let Some(winner) = without_winner.get_mut(replayed.chosen as usize) {
        // Far below every other logit, still finite (the sampler refuses infinities).
        *winner = lowest - 1e4;
    }
    let again = assay_sampler::replay(&without_winner, params, position, token, tolerance)?;
    Ok(won(&again))
}
