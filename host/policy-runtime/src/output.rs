//! Checks a scorer's output against its input before anything is published.

use std::collections::HashSet;

use assay_policy_sdk::{EpochInput, EpochOutput};

use crate::{Error, Result};

/// Refuses output that names a uid not in the input's miners, names one twice, or carries a
/// number that is not finite.
pub fn validate_output(input: &EpochInput, output: &EpochOutput) -> Result<()> {
    let known: HashSet<u16> = input.miners.iter().map(|m| m.uid).collect();
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
    Ok(())
}
