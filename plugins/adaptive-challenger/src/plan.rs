//! Which requests to challenge, and where.

use std::collections::BTreeMap;

use assay_policy_sdk::{Candidate, MinerHistory, Params, PlanInput, PlannedChallenge};
use sha2::{Digest, Sha256};

/// Challenges per miner per epoch the planner keeps pace with by default: the pooled epoch gate
/// told greedy int8 weights from honest noise on the random tiny model in 79–82.5 % of epochs of
/// 10 and in every epoch of 16 (docs/verification.md, "The detection experiment"; 11 to 15 not
/// measured). The detection experiment's epochs have this many challenges.
pub const MIN_PER_EPOCH: f64 = 16.0;

/// The rate parameters, read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    pub floor: f64,
    pub new_miner: f64,
    pub after_failure: f64,
    pub min_per_epoch: f64,
    pub points_per_request: u32,
}

impl Rates {
    pub fn from_params(params: &[assay_policy_sdk::Param]) -> Result<Self, String> {
        let p = Params(params);
        Ok(Self {
            floor: p.get_in("rate.floor", 0.1, 0.0, 1.0)?,
            new_miner: p.get_in("rate.new_miner", 0.5, 0.0, 1.0)?,
            after_failure: p.get_in("rate.after_failure", 0.5, 0.0, 1.0)?,
            min_per_epoch: p.get_in("min_per_epoch", MIN_PER_EPOCH, 0.0, 1e6)?,
            points_per_request: p.get_in("points.per_request", 16.0, 1.0, 64.0)? as u32,
        })
    }

    /// The challenge probability for a miner with this history.
    pub fn rate_for(&self, history: &MinerHistory) -> f64 {
        let mut rate = self.floor;
        if history.new {
            rate = rate.max(self.new_miner);
        }
        if history.recent_failures > 0 {
            rate = rate.max(self.after_failure);
        }
        rate
    }
}

/// A uniform draw in [0, 1) from sha256(seed ‖ label ‖ words).
pub fn uniform(seed: &[u8], label: &[u8], words: &[u64]) -> f64 {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(label);
    for w in words {
        h.update(w.to_le_bytes());
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Layer in `1..=layers`, drawn with probability proportional to the layer number.
fn late_layer(u: f64, layers: u32) -> u32 {
    let layers = u64::from(layers.max(1));
    let total = layers * (layers + 1) / 2;
    let target = (u * total as f64) as u64; // in [0, total)
    let mut cumulative = 0;
    for layer in 1..=layers {
        cumulative += layer;
        if target < cumulative {
            return layer as u32;
        }
    }
    layers as u32
}

/// Position in `0..n`, with density growing linearly toward the end (inverse CDF of 2x), from a
/// uniform draw `u` in [0, 1) (`assay dev calibrate` draws its points with it too).
pub fn late_position(u: f64, n: u32) -> u32 {
    ((f64::from(n) * u.sqrt()) as u32).min(n.saturating_sub(1))
}

pub fn plan(input: &PlanInput) -> Result<Vec<PlannedChallenge>, String> {
    if input.seed.len() < 16 {
        return Err(format!("seed has {} bytes, expected at least 16", input.seed.len()));
    }
    let rates = Rates::from_params(&input.params)?;
    let progress = if input.progress.is_finite() { input.progress.clamp(0.0, 1.0) } else { 0.0 };
    let history: BTreeMap<u16, &MinerHistory> = input.history.iter().map(|h| (h.uid, h)).collect();

    let mut by_miner: BTreeMap<u16, Vec<(f64, &Candidate)>> = BTreeMap::new();
    for c in &input.candidates {
        let u = uniform(&input.seed, b"select", &[c.request_id]);
        by_miner.entry(c.uid).or_default().push((u, c));
    }

    let mut picked = Vec::new();
    for (uid, mut candidates) in by_miner {
        let unknown = MinerHistory { uid, new: true, challenged: 0, recent_failures: 0, completed: 0 };
        let h = history.get(&uid).copied().unwrap_or(&unknown);
        let rate = rates.rate_for(h);
        // Keep pace with the minimum: by now, min × progress challenges should have been done.
        let due = (rates.min_per_epoch * progress).ceil() as u32;
        let deficit = due.saturating_sub(h.challenged) as usize;
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.request_id.cmp(&b.1.request_id)));
        for (rank, (u, c)) in candidates.into_iter().enumerate() {
            if rank < deficit || u < rate {
                picked.push(c);
            }
        }
    }
    picked.sort_by_key(|c| c.request_id);

    Ok(picked
        .into_iter()
        .map(|c| {
            let n = c.prompt_tokens.saturating_add(c.completion_tokens).max(1);
            let mut points: Vec<(u32, u32)> = (0..rates.points_per_request)
                .map(|k| {
                    let k = u64::from(k);
                    let layer = late_layer(uniform(&input.seed, b"layer", &[c.request_id, k]), input.layers);
                    let position = late_position(uniform(&input.seed, b"position", &[c.request_id, k]), n);
                    (layer, position)
                })
                .collect();
            points.sort_unstable();
            points.dedup();
            PlannedChallenge { request_id: c.request_id, points }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(uid: u16, n: u64) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                request_id: u64::from(uid) * 1_000_000 + i,
                uid,
                prompt_tokens: 50,
                completion_tokens: 150,
            })
            .collect()
    }

    fn history(uid: u16, new: bool, challenged: u32, recent_failures: u32) -> MinerHistory {
        MinerHistory { uid, new, challenged, recent_failures, completed: 0 }
    }

    fn input(candidates: Vec<Candidate>, history: Vec<MinerHistory>, progress: f64) -> PlanInput {
        PlanInput { seed: vec![7; 32], layers: 28, progress, candidates, history, params: vec![] }
    }

    fn count_for(plan: &[PlannedChallenge], uid: u16) -> usize {
        plan.iter().filter(|p| p.request_id / 1_000_000 == u64::from(uid)).count()
    }

    #[test]
    fn rate_has_a_floor_and_rises_for_new_and_failing_miners() {
        let mut all = candidates(1, 2000);
        all.extend(candidates(2, 2000));
        all.extend(candidates(3, 2000));
        let h = vec![history(1, false, 100, 0), history(2, true, 100, 0), history(3, false, 100, 1)];
        let plan = plan(&input(all, h, 0.5)).expect("plans");
        let (c1, c2, c3) = (count_for(&plan, 1), count_for(&plan, 2), count_for(&plan, 3));
        // Binomial(2000, p): within ±5 standard deviations.
        assert!((140..=260).contains(&c1), "floor 10%: {c1}");
        assert!((890..=1110).contains(&c2), "new miner 50%: {c2}");
        assert!((890..=1110).contains(&c3), "after failure 50%: {c3}");
    }

    #[test]
    fn minimum_per_epoch_is_kept_even_with_few_requests() {
        // Late in the epoch, a miner with 3 requests and no challenge yet gets all 3 challenged.
        let plan = plan(&input(candidates(4, 3), vec![history(4, false, 0, 0)], 0.9)).expect("plans");
        assert_eq!(plan.len(), 3);
        // A miner already at the minimum falls back to the floor.
        let plan = super::plan(&input(candidates(4, 3), vec![history(4, false, MIN_PER_EPOCH as u32, 0)], 1.0))
            .expect("plans");
        assert!(plan.len() < 3);
    }

    #[test]
    fn points_favour_late_layers_and_positions_and_stay_in_range() {
        let plan = plan(&input(candidates(1, 3000), vec![history(1, true, 0, 0)], 0.5)).expect("plans");
        let points: Vec<(u32, u32)> = plan.iter().flat_map(|p| p.points.clone()).collect();
        assert!(points.len() > 1000);
        assert!(points.iter().all(|&(l, p)| (1..=28).contains(&l) && p < 200));
        let late_layers = points.iter().filter(|p| p.0 > 14).count() as f64 / points.len() as f64;
        let late_positions = points.iter().filter(|p| p.1 >= 100).count() as f64 / points.len() as f64;
        // Linear density: P(layer > 14 of 28) = 1 - 105/406 ≈ 0.74; P(pos ≥ n/2) = 0.75.
        assert!((0.70..0.78).contains(&late_layers), "{late_layers}");
        assert!((0.71..0.79).contains(&late_positions), "{late_positions}");
    }

    #[test]
    fn plan_depends_on_the_seed_only_through_hashes() {
        let a = plan(&input(candidates(1, 500), vec![], 0.5)).expect("plans");
        let b = plan(&input(candidates(1, 500), vec![], 0.5)).expect("plans");
        assert_eq!(a, b);
        let mut other = input(candidates(1, 500), vec![], 0.5);
        other.seed = vec![8; 32];
        assert_ne!(a, plan(&other).expect("plans"));
    }

    #[test]
    fn bad_input_is_refused() {
        let mut short = input(vec![], vec![], 0.5);
        short.seed = vec![1; 4];
        assert!(plan(&short).unwrap_err().contains("seed"));
        let mut bad = input(vec![], vec![], 0.5);
        bad.params.push(assay_policy_sdk::Param { name: "rate.floor".into(), value: 2.0 });
        assert!(plan(&bad).unwrap_err().contains("rate.floor"));
    }
}
