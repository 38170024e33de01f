//! The commit-reveal epoch (consensus's traffic): the ordinary epoch, and one round (round 0,
//! task `chat`) in which every miner was asked. Honest miners reveal outputs within 0.01 per
//! element of a common vector drawn per epoch; by `uid mod 8`: 7 (the ordinary epoch's cheat,
//! which also fails its challenges) reveals one 3 per element away, 6 a reveal that does not
//! match its commitment, 5 one that came after the reveal window. Must not touch: the ordinary
//! epoch's records (`synth.rs`), which stay as they were.

use assay_policy_sdk::{CommitReveal, Reveal};

use super::{Shape, SplitMix, SynthEpoch, ms};
use crate::TaskCommitReveal;

/// Elements of a revealed output (a small model's hidden size).
pub const HIDDEN_SIZE: usize = 8;

/// The task the round runs on.
pub const ROUND_TASK: &str = "chat";

/// Six decimals, so the JSON stays short.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

pub(super) fn generate(shape: Shape, epoch: u64) -> SynthEpoch {
    let mut synth = super::generate(shape, epoch);
    let mut rng = SplitMix(shape.seed ^ epoch.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ 0x5eed_0000);
    let common: Vec<f64> = (0..HIDDEN_SIZE).map(|_| round6(4.0 * rng.unit() - 2.0)).collect();
    synth.commit_reveals = (0..shape.miners)
        .map(|uid| {
            // Commitments within the first second, reveals from 5 to 7 s (the window's end).
            let committed_ms = ms(200.0 + 800.0 * rng.unit());
            let revealed_ms = ms(5000.0 + 2000.0 * rng.unit());
            let (reveal, revealed_ms, output) = match uid % 8 {
                5 => (Reveal::Late, revealed_ms + 10_000.0, Vec::new()),
                6 => (Reveal::Mismatch, revealed_ms, Vec::new()),
                7 => (Reveal::Valid, revealed_ms, common.iter().map(|v| round6(v + 3.0)).collect()),
                _ => {
                    (Reveal::Valid, revealed_ms, common.iter().map(|v| round6(v + 0.02 * rng.unit() - 0.01)).collect())
                }
            };
            let record = CommitReveal { round: 0, uid, task: 0, reveal, committed_ms, revealed_ms, output };
            TaskCommitReveal { task: ROUND_TASK.to_string(), record }
        })
        .collect();
    synth
}
