//! The race among the kept tokens (Gumbel-max), and greedy's argmax.
//!
//! Owns: race keys and the winner's tie rule. Must not touch: truncation or the generator's
//! internals.
//!
//! Why the race samples the truncated softmax: with u uniform in (0, 1), E = −ln u is Exp(1) and
//! g = −ln E is a standard Gumbel variable. For independent g_i, argmax_i (z_i + g_i) picks i
//! with probability exp(z_i) / Σ_j exp(z_j) over the racing tokens (the Gumbel-max trick;
//! equivalently the exponential race: the token whose E_i / exp(z_i) is smallest, the first of
//! independent exponential clocks with rates exp(z_i), wins with probability proportional to its
//! rate). So racing only the kept tokens samples the softmax renormalized over them, which is
//! what temperature, top-k and top-p define; and since every u comes from the seed, the winner
//! is reproducible.

use crate::philox::{Uniforms, uniform};

/// A race's winner and its key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Outcome {
    pub winner: u32,
    pub key: f64,
}

/// `z − ln(−ln u)`: the token's Gumbel-perturbed score, computed in this order in f64.
pub(crate) fn race_key(z: f64, u: f64) -> f64 {
    z - (-u.ln()).ln()
}

/// The key of `token` (scaled logit `z`) at `position` under `seed`.
pub(crate) fn key_of(z: f64, seed: u64, position: u64, token: u32) -> f64 {
    race_key(z, uniform(seed, position, token))
}

/// A bound on the Gumbel noise `−ln(−ln u)`: u ≤ 1 − 2^-33 makes it at most 22.874.
const NOISE_BOUND: f64 = 23.0;

/// Races `kept` (non-empty): the largest key wins, ties to the lower id. The race starts from
/// the largest z's key and skips every token with `z + NOISE_BOUND` below the best key so far:
/// rounding is monotone, so such a token's key is below it too and the winner is the one a full
/// scan finds (with real logits most of a vocabulary is skipped, and its `ln`s with it).
pub(crate) fn run(z: &[f64], kept: &[u32], seed: u64, position: u64) -> Outcome {
    let mut uniforms = Uniforms::new(seed, position);
    let leader =
        kept.iter().copied().fold(kept[0], |best, id| if z[id as usize] > z[best as usize] { id } else { best });
    let mut best = Outcome { winner: leader, key: race_key(z[leader as usize], uniforms.get(leader)) };
    for &token in kept {
        let z_token = z[token as usize];
        if token == leader || z_token + NOISE_BOUND < best.key {
            continue;
        }
        let key = race_key(z_token, uniforms.get(token));
        if key > best.key || (key == best.key && token < best.winner) {
            best = Outcome { winner: token, key };
        }
    }
    best
}

/// The lowest id among the largest values of `z` (non-empty): greedy decoding.
pub(crate) fn argmax(z: &[f64]) -> u32 {
    let mut best = 0u32;
    for (id, &value) in (0u32..).zip(z) {
        if value > z[best as usize] {
            best = id;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_ties_go_to_the_lowest_id() {
        assert_eq!(argmax(&[1.0, 5.0, 5.0, 2.0]), 1);
        assert_eq!(argmax(&[-0.0, 0.0]), 0);
        assert_eq!(argmax(&[7.0]), 0);
    }

    #[test]
    fn race_key_is_z_plus_a_gumbel_draw() {
        // u = e^-1: −ln u = 1, ln 1 = 0, key = z. u = e^-e: −ln u = e, ln e = 1, key = z − 1.
        assert!((race_key(2.5, (-1.0f64).exp()) - 2.5).abs() < 1e-15);
        assert!((race_key(2.5, (-std::f64::consts::E).exp()) - 1.5).abs() < 1e-15);
    }

    #[test]
    fn the_noise_bound_holds_at_the_extreme_uniform() {
        // u = 1 − 2^-33: −ln u ≈ 2^-33 = 1.1642e-10, −ln(1.1642e-10) = 22.874.
        let noise = race_key(0.0, 1.0 - 2f64.powi(-33));
        assert!(noise > 22.87 && noise < NOISE_BOUND, "{noise}");
        assert!(race_key(0.0, 2f64.powi(-33)) > -3.13);
    }

    #[test]
    fn skipping_hopeless_tokens_changes_no_winner() {
        // Wide logits (spread 60) skip most tokens; the winner is the full scan's.
        let z: Vec<f64> = (0..256).map(|i| f64::from((i * 97) % 256) * 0.25 - 30.0).collect();
        let kept: Vec<u32> = (0..256).collect();
        for position in 0..200 {
            let outcome = run(&z, &kept, 3, position);
            let full = kept
                .iter()
                .map(|&t| (key_of(z[t as usize], 3, position, t), t))
                .fold((f64::NEG_INFINITY, u32::MAX), |best, (key, t)| if key > best.0 { (key, t) } else { best });
            assert_eq!((outcome.key, outcome.winner), full);
        }
    }

    #[test]
    fn the_winner_has_the_largest_key() {
        let z = [0.3, -1.0, 2.0, 0.0, 1.5];
        let kept = [0, 1, 2, 3, 4];
        for position in 0..50 {
            let outcome = run(&z, &kept, 9, position);
            for &token in &kept {
                assert!(key_of(z[token as usize], 9, position, token) <= outcome.key);
            }
            assert_eq!(outcome.key, key_of(z[outcome.winner as usize], 9, position, outcome.winner));
        }
    }
}
