//! Synthetic load by declared capacity (nineteen's way): each scoring period, every miner is sent
//! a fraction of what it declared for each task, the fraction drawn per miner and task.
//!
//! The seed (Rayon Labs' nineteen, its validator's contender refresh) draws the fraction by a
//! chain of coin flips: 0.04 with probability 1/2, else 0.08 with 4/5, else 0.12 with 19/20, else
//! 0.8; so 0.04 at 50 %, 0.08 at 40 %, 0.12 at 9.5 %, 0.8 at 0.5 %: usually a light probe, now and
//! then most of the capacity. The seed spreads a task's requests evenly over the period; so does
//! this plan. Bounded by the gateway's limits: a declared capacity counts up to
//! `max_miner_capacity`, and a period's plan holds at most [`MAX_PLANNED`] requests (scaled down
//! past it).
//! Must not touch: sending (the synthetic loop sends what the plan says through `forward`).

use std::collections::BTreeMap;

use rand::Rng;

/// The seed's fractions, and the probability of each (see the module's doc).
pub const FRACTIONS: [(f64, f64); 4] = [(0.04, 0.5), (0.08, 0.4), (0.12, 0.095), (0.8, 0.005)];

/// Requests one period's plan holds at most, whatever miners declare.
pub const MAX_PLANNED: u64 = 100_000;

/// One fraction, drawn as the seed draws it: successive coin flips.
pub fn draw_fraction(rng: &mut impl Rng) -> f64 {
    // Each flip keeps a fraction with its share of what the flips before it left.
    let mut left = 1.0;
    for (fraction, p) in &FRACTIONS[..FRACTIONS.len() - 1] {
        if rng.gen_bool((p / left).clamp(0.0, 1.0)) {
            return *fraction;
        }
        left -= p;
    }
    FRACTIONS[FRACTIONS.len() - 1].0
}

/// What a period sends one miner for one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub uid: u16,
    pub task: String,
    /// Its declared capacity, bounded by `max_miner_capacity`.
    pub capacity: u32,
    pub fraction: f64,
    pub requests: u64,
}

/// The period's plan: for each miner (uid → task → declared capacity), `capacity × fraction ×
/// per_capacity` requests (rounded up, so a miner declaring a task is always queried), capacity
/// bounded by `max_capacity`; scaled down to [`MAX_PLANNED`] in all.
pub fn plan(
    declared: &BTreeMap<u16, BTreeMap<String, u32>>,
    max_capacity: u32,
    per_capacity: f64,
    rng: &mut impl Rng,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for (uid, tasks) in declared {
        for (task, capacity) in tasks {
            let capacity = (*capacity).min(max_capacity);
            let fraction = draw_fraction(rng);
            let requests = (f64::from(capacity) * fraction * per_capacity).ceil().max(0.0) as u64;
            out.push(Planned { uid: *uid, task: task.clone(), capacity, fraction, requests });
        }
    }
    let total: u64 = out.iter().map(|p| p.requests).sum();
    if total > MAX_PLANNED {
        let scale = MAX_PLANNED as f64 / total as f64;
        for p in &mut out {
            p.requests = (p.requests as f64 * scale).floor() as u64;
        }
    }
    out
}

/// When, in seconds from the period's start, each of `n` requests goes: evenly spaced,
/// `period / (n + 1)` apart, the first at a random point of the first gap (as the seed does).
pub fn schedule(n: u64, period_s: f64, rng: &mut impl Rng) -> Vec<f64> {
    let gap = period_s / (n as f64 + 1.0);
    let first = rng.gen_range(0.0..=gap);
    (0..n).map(|i| first + gap * i as f64).collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn fractions_follow_the_seeds_odds() {
        let mut rng = StdRng::seed_from_u64(7);
        let n = 200_000;
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        for _ in 0..n {
            *counts.entry((draw_fraction(&mut rng) * 100.0).round() as u64).or_default() += 1;
        }
        assert_eq!(counts.keys().copied().collect::<Vec<_>>(), [4, 8, 12, 80]);
        for (fraction, p) in FRACTIONS {
            let seen = counts[&((fraction * 100.0).round() as u64)] as f64 / n as f64;
            // Four standard errors at most.
            let tolerance = 4.0 * (p * (1.0 - p) / n as f64).sqrt();
            assert!((seen - p).abs() <= tolerance, "fraction {fraction}: {seen} against {p}");
        }
    }

    #[test]
    fn a_plan_queries_each_declared_task_by_its_fraction_within_bounds() {
        let declared: BTreeMap<u16, BTreeMap<String, u32>> = BTreeMap::from([
            (0, BTreeMap::from([("chat".to_string(), 50), ("code".to_string(), 1)])),
            (3, BTreeMap::from([("chat".to_string(), 1_000_000)])),
        ]);
        let plan = plan(&declared, 100, 10.0, &mut StdRng::seed_from_u64(1));
        assert_eq!(plan.len(), 3);
        for p in &plan {
            assert!(FRACTIONS.iter().any(|(f, _)| *f == p.fraction), "{p:?}");
            assert!(p.capacity <= 100, "declared capacity is bounded: {p:?}");
            assert_eq!(p.requests, (f64::from(p.capacity) * p.fraction * 10.0).ceil() as u64, "{p:?}");
            assert!(p.requests >= 1, "a declared task is always queried: {p:?}");
        }
        let huge: BTreeMap<u16, BTreeMap<String, u32>> =
            (0..256).map(|uid| (uid, BTreeMap::from([("chat".to_string(), u32::MAX)]))).collect();
        let total: u64 =
            super::plan(&huge, u32::MAX, 1e6, &mut StdRng::seed_from_u64(2)).iter().map(|p| p.requests).sum();
        assert!(total <= MAX_PLANNED, "{total}");
    }

    #[test]
    fn requests_are_spread_over_the_period() {
        let times = schedule(9, 100.0, &mut StdRng::seed_from_u64(3));
        assert_eq!(times.len(), 9);
        assert!(times[0] <= 10.0 && times[8] < 100.0, "{times:?}");
        for w in times.windows(2) {
            assert!((w[1] - w[0] - 10.0).abs() < 1e-9, "{times:?}");
        }
    }
}
