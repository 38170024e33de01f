//! Checks a challenger's output against its input before the host acts on it.
//!
//! A plan is the policy's alone: it saw every candidate's token count and the model's layer
//! count, so a point outside them, a request named twice or a point named twice is its fault,
//! refused whole before any miner is asked (an honest miner would refuse such an opening and be
//! failed for it). Sizes are bounded so that what the host records and publishes stays small.

use std::collections::{HashMap, HashSet};

use assay_policy_sdk::{Judgement, PlanInput, PlannedChallenge};

use crate::{Error, Result};

/// Points one challenge may open, at most (the reference miner serves at least this many).
pub const MAX_POINTS_PER_CHALLENGE: usize = 64;
/// Bytes of a judgement's reason, at most: it is recorded with the verdict and published. A
/// policy's error message is cut to this length too.
pub const MAX_REASON_BYTES: usize = 512;

/// Refuses a plan that names a request that is not a candidate or names one twice, or whose
/// points are none, too many, repeated, past the model's layers (hidden states are numbered
/// `0..=layers`) or past the request's tokens. A request with no tokens may be planned at
/// position 0: whose fault that is gets settled against the miner's evidence.
pub fn validate_plan(input: &PlanInput, plan: &[PlannedChallenge]) -> Result<()> {
    let tokens: HashMap<u64, u32> =
        input.candidates.iter().map(|c| (c.request_id, c.prompt_tokens.saturating_add(c.completion_tokens))).collect();
    let bad = |msg: String| Err(Error::InvalidOutput(msg));
    let mut planned = HashSet::new();
    for p in plan {
        let id = p.request_id;
        let Some(&tokens) = tokens.get(&id) else {
            return bad(format!("plan names request {id}, which is not a candidate"));
        };
        if !planned.insert(id) {
            return bad(format!("plan names request {id} twice"));
        }
        if p.points.is_empty() {
            return bad(format!("plan for request {id} names no points"));
        }
        if p.points.len() > MAX_POINTS_PER_CHALLENGE {
            return bad(format!(
                "plan for request {id} has {} points, more than {MAX_POINTS_PER_CHALLENGE}",
                p.points.len()
            ));
        }
        let mut points = HashSet::new();
        for &(layer, position) in &p.points {
            if layer > input.layers {
                return bad(format!("plan for request {id} names layer {layer}, past the model's {}", input.layers));
            }
            if position >= tokens.max(1) {
                return bad(format!("plan for request {id} names position {position}, outside its {tokens} tokens"));
            }
            if !points.insert((layer, position)) {
                return bad(format!("plan for request {id} names point ({layer}, {position}) twice"));
            }
        }
    }
    Ok(())
}

/// Refuses a judgement whose reason is longer than [`MAX_REASON_BYTES`] (named by its length
/// only: the refusal itself stays short).
pub fn validate_judgement(judgement: &Judgement) -> Result<()> {
    if judgement.reason.len() > MAX_REASON_BYTES {
        return Err(Error::InvalidOutput(format!(
            "judgement has a reason of {} bytes, more than {MAX_REASON_BYTES}",
            judgement.reason.len()
        )));
    }
    Ok(())
}
