//! A deterministic synthetic epoch: a metagraph, request records and challenge records, from a
//! seed. Used by the benchmark, the golden fixture (`scripts/make-golden-epoch.sh`) and tests.
//!
//! Miners differ in speed; some report better figures than they deliver; every eighth cheats
//! and fails most challenges. The generator uses its own SplitMix64 so its output never
//! changes with a dependency's version.

use assay_chain::{Metagraph, Neuron};
use assay_policy_sdk::{ChallengeRecord, Outcome, PointMeasurement, RequestKind, RequestRecord, Verdict};

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub netuid: u16,
    pub miners: u16,
    pub requests: u64,
    pub challenges: u64,
    pub seed: u64,
}

pub struct SynthEpoch {
    pub metagraph: Metagraph,
    pub requests: Vec<crate::TaskRequest>,
    pub challenges: Vec<ChallengeRecord>,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Milliseconds rounded to microseconds, so the JSON stays short.
fn ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn hotkey(uid: u16, seed: u64) -> String {
    use sha2::{Digest, Sha256};
    let key: [u8; 32] = Sha256::digest(format!("synthetic miner {uid} of {seed}")).into();
    assay_keys::encode_ss58(&key)
}

/// The epoch `shape` describes, for epoch number `epoch` (which varies the records).
pub fn generate(shape: Shape, epoch: u64) -> SynthEpoch {
    let mut rng = SplitMix(shape.seed ^ epoch.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let tasks = ["chat", "completion"];
    let neurons: Vec<Neuron> = (0..shape.miners)
        .map(|uid| Neuron {
            uid,
            hotkey: hotkey(uid, shape.seed),
            stake: 1_000_000_000 * (1 + u64::from(uid) % 7),
            validator_permit: false,
            axon: None,
            registered_at_block: u64::from(uid) * 3,
            coldkey: None,
            last_update: 0,
            capacities: tasks.iter().map(|t| (t.to_string(), 8 + u32::from(uid) % 9)).collect(),
        })
        .collect();
    // Per-miner profile, fixed by the seed (not the epoch): tokens/s, TTFT, honesty.
    let mut profile_rng = SplitMix(shape.seed);
    let profiles: Vec<(f64, f64, bool, bool)> = (0..shape.miners)
        .map(|uid| {
            let tps = 20.0 + 100.0 * profile_rng.unit();
            let ttft = 50.0 + 750.0 * profile_rng.unit();
            let cheat = uid % 8 == 7;
            let boasts = profile_rng.unit() < 0.3;
            (tps, ttft, cheat, boasts)
        })
        .collect();

    let mut requests = Vec::with_capacity(shape.requests as usize);
    for id in 0..shape.requests {
        let uid = rng.below(u64::from(shape.miners)) as u16;
        let (tps, ttft, _, boasts) = profiles[usize::from(uid)];
        let roll = rng.unit();
        let outcome = match roll {
            r if r < 0.03 => Outcome::ServerError,
            r if r < 0.05 => Outcome::RateLimited,
            r if r < 0.06 => Outcome::Timeout,
            _ => Outcome::Ok,
        };
        let completion_tokens = 16 + rng.below(496) as u32;
        let measured_ttft = ttft * (0.8 + 0.4 * rng.unit());
        let decode_ms = f64::from(completion_tokens) / (tps * (0.9 + 0.2 * rng.unit())) * 1000.0;
        let ok = outcome == Outcome::Ok;
        requests.push(crate::TaskRequest {
            values: Vec::new(),
            task: tasks[(id % 5 == 4) as usize].to_string(),
            record: RequestRecord {
                id,
                uid,
                task: 0,
                kind: if id % 3 == 0 { RequestKind::Organic } else { RequestKind::Synthetic },
                outcome,
                greedy: id % 2 == 0,
                prompt_tokens: 20 + rng.below(1000) as u32,
                completion_tokens: if ok { completion_tokens } else { 0 },
                ttft_ms: if ok { ms(measured_ttft) } else { 0.0 },
                total_ms: if ok { ms(measured_ttft + decode_ms) } else { ms(30_000.0 * rng.unit()) },
                reported_ttft_ms: (ok && boasts).then(|| ms(measured_ttft * 0.5)),
                reported_tps: (ok && boasts).then(|| ms(tps * 3.0)),
                quality: None,
                started_ms: id * 13 + rng.below(13),
            },
        });
    }

    let mut challenges = Vec::with_capacity(shape.challenges as usize);
    for _ in 0..shape.challenges {
        let Some(request) = requests.get(rng.below(shape.requests) as usize) else { break };
        let uid = request.record.uid;
        let cheat = profiles[usize::from(uid)].2;
        let points: Vec<PointMeasurement> = (0..4)
            .map(|_| {
                let layer = 1 + rng.below(28) as u32;
                let honest_error = 0.002 + 0.006 * f64::from(layer) / 28.0;
                let error = if cheat { 0.05 + 0.3 * rng.unit() } else { honest_error * (0.5 + rng.unit()) };
                PointMeasurement {
                    layer,
                    position: rng.below(u64::from(request.record.prompt_tokens) + 1) as u32,
                    rel_l2: (error * 1e6).round() / 1e6,
                    cosine: ((1.0 - error * error / 2.0) * 1e6).round() / 1e6,
                }
            })
            .collect();
        let roll = rng.unit();
        let (verdict, reason) = match (cheat, roll) {
            (true, r) if r < 0.9 => (Verdict::Fail, "hidden state error above threshold"),
            (false, r) if r < 0.01 => (Verdict::Void, "precision disagreement"),
            _ => (Verdict::Pass, "within thresholds"),
        };
        challenges.push(ChallengeRecord { request_id: request.record.id, uid, points, verdict, reason: reason.into() });
    }
    challenges.sort_by_key(|c| c.request_id);
    SynthEpoch { metagraph: Metagraph { netuid: shape.netuid, neurons, owner_hotkey: None }, requests, challenges }
}

impl SynthEpoch {
    /// The policy input the host would freeze from these records.
    pub fn input(
        &self,
        epoch: u64,
        params: Vec<assay_policy_sdk::Param>,
        state: Vec<u8>,
    ) -> crate::Result<assay_policy_sdk::EpochInput> {
        crate::assemble(
            epoch,
            (epoch * 100, epoch * 100 + 99),
            self.metagraph.clone(),
            self.requests.clone(),
            self.challenges.clone(),
            params,
            state,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_epoch() {
        let shape = Shape { netuid: 1, miners: 12, requests: 300, challenges: 30, seed: 5 };
        let a = generate(shape, 1);
        let b = generate(shape, 1);
        assert_eq!(a.requests, b.requests);
        assert_eq!(a.challenges, b.challenges);
        assert_eq!(a.metagraph, b.metagraph);
        assert_ne!(generate(shape, 2).requests, a.requests);
        assert_eq!(a.requests.len(), 300);
        assert_eq!(a.challenges.len(), 30);
        assert!(a.requests.iter().all(|r| r.record.uid < 12));
    }
}
