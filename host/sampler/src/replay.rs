//! The verifier's replay of one sampled token: the token the specification picks on the
//! reference's logits, and how far the miner's token is from it.
//!
//! Owns: [`Replay`], race margins, near ties and near truncation boundaries. Must not touch:
//! verdicts (the policy judges), or where logits and tolerances come from.
//!
//! A miner's GPU computes logits slightly different from the reference's; `tolerance` bounds
//! that difference per logit (calibrated on honest runs). Every race key then moves by at most
//! ε = tolerance / temperature, so two keys closer than 2ε may swap (a near tie), and a token
//! whose z is within 2ε of a truncation boundary (or whose top-p mass ahead may cross `top_p`)
//! may be kept by the miner and dropped by the reference, or the reverse (a near boundary).

use crate::race::{self, key_of};
use crate::truncate::{Truncation, Walk, truncate};
use crate::{SamplerError, SamplingParams, scaled_logits};

/// What the verifier learns about a miner's token.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Replay {
    /// The token the specification picks on these logits.
    pub chosen: u32,
    /// Whether the miner's token survived top-k and top-p (always true when greedy).
    pub allowed: bool,
    /// Winner's key − the miner's token's key: 0 when they are the same token, ≥ 0 for an
    /// allowed token that lost; for a token outside the kept set its key is computed the same
    /// way, so it may be negative. Keys are z plus Gumbel noise; greedy keys are the logits.
    pub margin: f64,
    /// The token is allowed, differs from `chosen`, and `margin` ≤ 2ε: logits within tolerance
    /// could have made it win. Never set for a token outside the kept set, whatever its key
    /// (only `token_near_boundary` can excuse that one).
    pub near_tie: bool,
    /// The miner's token sits within tolerance of the top-k or top-p boundary: logits within
    /// tolerance could have kept it where the reference drops it, or the reverse. Never set
    /// when greedy or when nothing is truncated.
    pub token_near_boundary: bool,
    /// `chosen` sits within tolerance of the top-k or top-p boundary: logits within tolerance
    /// could have dropped the reference's winner. Never set when greedy or when nothing is
    /// truncated.
    pub chosen_near_boundary: bool,
}

impl Replay {
    /// Either the miner's token or `chosen` is near a boundary.
    pub fn near_boundary(&self) -> bool {
        self.token_near_boundary || self.chosen_near_boundary
    }
}

/// Replays `token` at `position`: see [`Replay`]. `tolerance` is in logit units (≥ 0).
pub fn replay(
    logits: &[f32],
    params: &SamplingParams,
    position: u64,
    token: u32,
    tolerance: f64,
) -> Result<Replay, SamplerError> {
    params.validate()?;
    if !tolerance.is_finite() || tolerance < 0.0 {
        return Err(SamplerError::BadTolerance(tolerance));
    }
    let z = scaled_logits(logits, params)?;
    if token as usize >= z.len() {
        return Err(SamplerError::TokenOutOfRange { token, vocab: z.len() });
    }
    if params.is_greedy() {
        return Ok(replay_greedy(&z, token, tolerance));
    }
    let epsilon = tolerance / params.temperature;
    let truncation = truncate(&z, params.top_k, params.top_p, Walk::Replay { spread: 2.0 * epsilon });
    let outcome = race::run(&z, truncation.kept(), params.seed, position);
    let margin = if token == outcome.winner {
        0.0
    } else {
        outcome.key - key_of(z[token as usize], params.seed, position, token)
    };
    let boundary = Boundary::new(&z, &truncation, params.top_p, epsilon);
    let allowed = truncation.kept().contains(&token);
    Ok(Replay {
        chosen: outcome.winner,
        allowed,
        margin,
        near_tie: allowed && token != outcome.winner && margin <= 2.0 * epsilon,
        token_near_boundary: boundary.is_near(token),
        chosen_near_boundary: boundary.is_near(outcome.winner),
    })
}

/// Greedy: the keys are the logits themselves and nothing is truncated.
fn replay_greedy(z: &[f64], token: u32, tolerance: f64) -> Replay {
    let chosen = race::argmax(z);
    let margin = if token == chosen { 0.0 } else { z[chosen as usize] - z[token as usize] };
    Replay {
        chosen,
        allowed: true,
        margin,
        near_tie: token != chosen && margin <= 2.0 * tolerance,
        token_near_boundary: false,
        chosen_near_boundary: false,
    }
}

/// The truncation's boundaries, seen with a tolerance of ε on every z.
struct Boundary<'a> {
    z: &'a [f64],
    truncation: &'a Truncation,
    /// Each id's index in `truncation.order` (empty when nothing is truncated).
    rank: Vec<usize>,
    top_p: f64,
    epsilon: f64,
}

impl<'a> Boundary<'a> {
    fn new(z: &'a [f64], truncation: &'a Truncation, top_p: f64, epsilon: f64) -> Self {
        let mut rank = Vec::new();
        if truncation.top_k_cuts() || truncation.softmax.is_some() {
            rank = vec![0; truncation.order.len()];
            for (index, &id) in truncation.order.iter().enumerate() {
                rank[id as usize] = index;
            }
        }
        Boundary { z, truncation, rank, top_p, epsilon }
    }

    /// Whether logits within tolerance could put `token` on the other side of a boundary.
    fn is_near(&self, token: u32) -> bool {
        self.near_top_k(token) || self.near_top_p(token)
    }

    /// Top-k: a kept token within 2ε of the best dropped one, or a dropped token within 2ε of
    /// the worst kept one.
    fn near_top_k(&self, token: u32) -> bool {
        let t = self.truncation;
        if !t.top_k_cuts() {
            return false;
        }
        let z_token = self.z[token as usize];
        let worst_kept = self.z[t.order[t.top_k_len - 1] as usize];
        let best_dropped = self.z[t.order[t.top_k_len] as usize];
        if self.rank[token as usize] < t.top_k_len {
            z_token - best_dropped <= 2.0 * self.epsilon
        } else {
            worst_kept - z_token <= 2.0 * self.epsilon
        }
    }

    /// Top-p, for a token among the top-k survivors: it is kept when the mass ahead of it is
    /// below `top_p`. With every z moved by at most ε each probability moves by a factor within
    /// [e^-2ε, e^2ε]; the mass ahead is then at least that of the tokens certainly ahead
    /// (z > z_token + 2ε) times e^-2ε, and at most that of the tokens possibly ahead
    /// (z ≥ z_token − 2ε, itself excluded) times e^2ε. Near when that interval straddles `top_p`.
    /// A token past the replay's walk is not near: the walk ([`Walk::Replay`]) visited every id
    /// within 4ε below the id where the least mass reaches `top_p`, so for it that id and all
    /// before it are certainly ahead.
    fn near_top_p(&self, token: u32) -> bool {
        let t = self.truncation;
        let z_token = self.z[token as usize];
        let Some(prob) = t.prob(z_token) else { return false };
        let walked = t.walked();
        if self.rank[token as usize] >= walked.len() {
            return false;
        }
        let spread = 2.0 * self.epsilon;
        let certainly_ahead = walked.partition_point(|&id| self.z[id as usize] > z_token + spread);
        let possibly_ahead = walked.partition_point(|&id| self.z[id as usize] >= z_token - spread);
        let least = t.cumulative[certainly_ahead] * (-spread).exp();
        let most = (t.cumulative[possibly_ahead] - prob) * spread.exp();
        least < self.top_p && most >= self.top_p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_walk_misses_no_token_near_the_top_p_boundary() {
        // 2000 ids with z spread over ~8 (repeats included). The replay's walk stops early;
        // a walk over every id (infinite reach) must flag exactly the same tokens.
        let z: Vec<f64> = (0..2000u32).map(|i| f64::from((i * 7919) % 997) * -0.008).collect();
        for (top_p, epsilon) in [(0.5, 0.0), (0.5, 0.01), (0.9, 0.05), (0.3, 0.2), (0.99, 0.001)] {
            let short = truncate(&z, 0, top_p, Walk::Replay { spread: 2.0 * epsilon });
            let full = truncate(&z, 0, top_p, Walk::Replay { spread: f64::INFINITY });
            assert_eq!(full.walked().len(), z.len());
            assert!(short.walked().len() < z.len(), "top_p {top_p}: the walk did not stop early");
            let (short, full) = (Boundary::new(&z, &short, top_p, epsilon), Boundary::new(&z, &full, top_p, epsilon));
            let flagged = (0..2000).filter(|&t| full.near_top_p(t)).count();
            for token in 0..2000 {
                assert_eq!(short.near_top_p(token), full.near_top_p(token), "top_p {top_p}, token {token}");
            }
            assert!(epsilon == 0.0 || flagged > 0, "top_p {top_p}: nothing near the boundary");
        }
    }
}
