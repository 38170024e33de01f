//! Checks a scorer's output against its input and its limits before anything is published.

use std::collections::HashSet;

use assay_policy_sdk::{EpochOutput, Miner};

use crate::{Error, Limits, Result};

/// Named parts of one miner's score, at most: they are for people reading the summary.
pub const MAX_COMPONENTS: usize = 64;
/// Bytes of a component's name, at most.
pub const MAX_NAME_BYTES: usize = 64;

/// Refuses output that names a uid not in the input's `miners`, names one twice, carries a
/// number that is not finite, more components or longer names than a summary holds, or a state
/// blob past `limits.state_bytes`.
pub fn validate_output(miners: &[Miner], output: &EpochOutput, limits: Limits) -> Result<()> {
    let known: HashSet<u16> = miners.iter().map(|m| m.uid).collect();
    let bad = |msg: String| Err(Error::InvalidOutput(msg));

    let mut seen = HashSet::new();
    for s in &output.scores {
        if !known.contains(&s.uid) {
            return bad(format!("score for uid {}, which is not in the metagraph", s.uid));
        }
        if !seen.insert(s.uid) {
            return bad(format!("uid {} is scored twice", s.uid));
        }
        if !s.score.is_finite() {
            return bad(format!("score of uid {} is {}", s.uid, s.score));
        }
        if s.components.len() > MAX_COMPONENTS {
            return bad(format!("uid {} has {} components, more than {MAX_COMPONENTS}", s.uid, s.components.len()));
        }
        if let Some(c) = s.components.iter().find(|c| c.name.len() > MAX_NAME_BYTES) {
            return bad(format!(
                "a component of uid {} has a name of {} bytes, more than {MAX_NAME_BYTES}",
                s.uid,
                c.name.len()
            ));
        }
        if let Some(c) = s.components.iter().find(|c| !c.value.is_finite()) {
            return bad(format!("component {} of uid {} is {}", c.name, s.uid, c.value));
        }
    }
    let mut seen = HashSet::new();
    for w in &output.weights {
        if !known.contains(&w.uid) {
            return bad(format!("weight for uid {}, which is not in the metagraph", w.uid));
        }
        if !seen.insert(w.uid) {
            return bad(format!("uid {} is weighted twice", w.uid));
        }
    }
    if output.state.len() as u64 > limits.state_bytes {
        return bad(format!("state of {} bytes is over the limit of {}", output.state.len(), limits.state_bytes));
    }
    Ok(())
}
