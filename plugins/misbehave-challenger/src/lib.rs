//! A challenger for the host's tests: parameter `mode` picks how `plan` misbehaves, the
//! request id how `judge` does (its input carries no parameters).
//!
//! Owns nothing of production; never activate it on a real subnet. Plan modes: 0 behave (each
//! candidate at point (1, 0)), 1 loop forever, 2 plan a request twice, 3 name a point twice,
//! 4 a layer past the model's, 5 a position past the request's tokens, 6 too many points,
//! 7 a request that is not a candidate, 8 no points, 9 return an error.
//! Judge: request id 1 answers a reason of a megabyte, 2 loops forever; any other passes.

use assay_policy_sdk::{Challenger, Judgement, Measurements, Params, PlanInput, PlannedChallenge, Verdict};

pub fn plan(input: &PlanInput) -> Result<Vec<PlannedChallenge>, String> {
    let mode = Params(&input.params).get("mode", 0.0) as u32;
    let mut plan: Vec<PlannedChallenge> =
        input.candidates.iter().map(|c| PlannedChallenge { request_id: c.request_id, points: vec![(1, 0)] }).collect();
    let Some(first) = plan.first_mut() else { return Ok(plan) };
    let tokens = input.candidates[0].prompt_tokens.saturating_add(input.candidates[0].completion_tokens);
    match mode {
        1 => spin(input.layers),
        2 => {
            let again = first.clone();
            plan.push(again);
        }
        3 => first.points.push((1, 0)),
        4 => first.points.push((input.layers + 1, 0)),
        5 => first.points.push((1, tokens)),
        6 => first.points = (0..100_000).map(|p| (1, p % tokens.max(1))).collect(),
        7 => first.request_id = input.candidates.iter().map(|c| c.request_id).max().unwrap_or(0) + 1,
        8 => first.points.clear(),
        9 => return Err("misbehave: asked to refuse".into()),
        _ => {}
    }
    Ok(plan)
}

pub fn judge(input: &Measurements) -> Judgement {
    match input.request_id {
        1 => Judgement { verdict: Verdict::Pass, reason: "x".repeat(1 << 20) },
        2 => spin(input.layers),
        _ => Judgement { verdict: Verdict::Pass, reason: "judged".into() },
    }
}

/// Burns fuel until the host stops it.
fn spin(seed: u32) -> ! {
    let mut x = u64::from(seed);
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

pub struct MisbehaveChallenger;

impl Challenger for MisbehaveChallenger {
    fn plan(input: PlanInput) -> Result<Vec<PlannedChallenge>, String> {
        plan(&input)
    }

    fn judge(input: Measurements) -> Result<Judgement, String> {
        Ok(judge(&input))
    }
}

assay_policy_sdk::export_challenger!(MisbehaveChallenger);
