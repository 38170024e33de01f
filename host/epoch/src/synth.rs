//! A deterministic synthetic epoch: a metagraph, request records, token checks and challenge
//! records, from a seed. Used by the benchmark, the golden fixture (`scripts/make-golden-epoch.sh`)
//! and tests.
//!
//! Two tasks (`chat` 0.6, `completion` 0.4), each miner declaring a capacity for both. Miners
//! differ in speed; some report better figures than they deliver; every eighth cheats and fails
//! most challenges (and its tokens rank worse under the reference). About a fifth of the
//! requests have token checks; every challenge has a response time. The generator uses its own
//! SplitMix64 so its output never changes with a dependency's version; what contract 0.2.0
//! added is drawn from a second generator, so the records 0.1.0 had are the ones it always made.
//!
//! [`Traffic`] picks what else an epoch carries, for the policies whose rules need traffic of
//! their own: a server competition against a baseline (`competition`, cacheon) instead of the
//! ordinary requests, or one commit-reveal round beside them (`rounds`, consensus). The
//! ordinary epoch ([`generate`]) is what it always was: existing fixtures do not change.

use std::collections::BTreeMap;

use assay_chain::{Metagraph, Neuron};
use assay_policy_sdk::{Challenge, Outcome, PointMeasurement, Request, RequestKind, TokenMeasurement, Verdict};

mod competition;
mod rounds;

/// What an epoch's traffic is besides the validator's ordinary requests and challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Traffic {
    /// Users' and the validator's requests, challenges and token checks ([`generate`]).
    #[default]
    Ordinary,
    /// A server competition against a baseline instead (cacheon): see `competition.rs`.
    Competition,
    /// The ordinary epoch plus one commit-reveal round (consensus): see `rounds.rs`.
    CommitReveal,
}

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
    pub challenges: Vec<Challenge>,
    /// Token checks by request id.
    pub token_checks: BTreeMap<u64, Vec<TokenMeasurement>>,
    /// The tasks' weights, as a validator's config gives them.
    pub task_weights: BTreeMap<String, f64>,
    /// Commit-reveal rows (none but with [`Traffic::CommitReveal`]).
    pub commit_reveals: Vec<crate::TaskCommitReveal>,
}

/// The synthetic tasks and their weights.
pub const TASKS: [(&str, f64); 2] = [("chat", 0.6), ("completion", 0.4)];

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

/// The epoch `shape` describes with `traffic`, for epoch number `epoch`.
pub fn generate_traffic(shape: Shape, epoch: u64, traffic: Traffic) -> SynthEpoch {
    match traffic {
        Traffic::Ordinary => generate(shape, epoch),
        Traffic::Competition => competition::generate(shape, epoch),
        Traffic::CommitReveal => rounds::generate(shape, epoch),
    }
}

/// The miners of `shape`, each declaring a capacity for both tasks.
fn neurons(shape: Shape) -> Vec<Neuron> {
    let tasks = TASKS.map(|(name, _)| name);
    (0..shape.miners)
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
        .collect()
}

/// The epoch `shape` describes, for epoch number `epoch` (which varies the records).
pub fn generate(shape: Shape, epoch: u64) -> SynthEpoch {
    let mut rng = SplitMix(shape.seed ^ epoch.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let tasks = TASKS.map(|(name, _)| name);
    let neurons = neurons(shape);
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
            record: Request {
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
        let response_ms = None;
        challenges.push(Challenge {
            request_id: request.record.id,
            uid,
            points,
            verdict,
            reason: reason.into(),
            response_ms,
        });
    }
    challenges.sort_by_key(|c| c.request_id);
    let mut extra = SplitMix(!(shape.seed ^ epoch.wrapping_mul(0x2545_f491_4f6c_dd1d)));
    for c in &mut challenges {
        let cheat = profiles[usize::from(c.uid)].2;
        // One in fifty openings is never answered; cheats answer slower (they recompute).
        c.response_ms =
            (extra.below(50) != 0).then(|| ms(if cheat { 400.0 } else { 40.0 } * (1.0 + 4.0 * extra.unit())));
    }
    let token_checks = token_checks(&requests, &profiles, &mut extra);
    SynthEpoch {
        metagraph: Metagraph { netuid: shape.netuid, neurons, owner_hotkey: None },
        requests,
        challenges,
        token_checks,
        task_weights: task_weights(),
        commit_reveals: Vec::new(),
    }
}

fn task_weights() -> BTreeMap<String, f64> {
    TASKS.iter().map(|&(name, w)| (name.to_string(), w)).collect()
}

/// Token checks for about a fifth of the completed requests (up to 32 tokens each): honest
/// miners' tokens are mostly the reference's top token, cheats' rank lower.
fn token_checks(
    requests: &[crate::TaskRequest],
    profiles: &[(f64, f64, bool, bool)],
    rng: &mut SplitMix,
) -> BTreeMap<u64, Vec<TokenMeasurement>> {
    let mut checks = BTreeMap::new();
    for r in requests.iter().map(|r| &r.record) {
        if r.outcome != Outcome::Ok || rng.below(5) != 0 {
            continue;
        }
        let cheat = profiles[usize::from(r.uid)].2;
        let tokens = (0..r.completion_tokens.min(32))
            .map(|_| {
                let top_logprob = -(rng.unit() * 0.5);
                let rank = if rng.unit() < if cheat { 0.4 } else { 0.9 } { 0 } else { 1 + rng.below(12) as u32 };
                let gap = if rank == 0 { 0.0 } else { 0.1 + 2.0 * rng.unit() };
                let round = |x: f64| (x * 1e6).round() / 1e6;
                TokenMeasurement { rank, logprob: round(top_logprob - gap), top_logprob: round(top_logprob) }
            })
            .collect();
        checks.insert(r.id, tokens);
    }
    checks
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
            self.commit_reveals.clone(),
            &self.task_weights,
            &self.token_checks,
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
        assert_eq!(a.token_checks, b.token_checks);
        // About a fifth of the requests are token-checked; every check has tokens.
        assert!((40..=80).contains(&a.token_checks.len()), "{} checks", a.token_checks.len());
        assert!(a.token_checks.values().all(|t| !t.is_empty()));
        assert!(a.challenges.iter().filter(|c| c.response_ms.is_some()).count() >= 25);
    }

    #[test]
    fn the_input_has_two_weighted_tasks_capacities_token_checks_and_response_times() {
        let shape = Shape { netuid: 1, miners: 12, requests: 300, challenges: 30, seed: 5 };
        let input = generate(shape, 1).input(1, vec![], vec![]).expect("assembles");
        let tasks: Vec<(&str, f64)> = input.tasks.iter().map(|t| (t.name.as_str(), t.weight)).collect();
        assert_eq!(tasks, TASKS);
        assert!(input.miners.iter().all(|m| m.capacities.len() == 2));
        assert!(input.requests.task.contains(&1) && input.requests.task.contains(&0));
        assert!(!input.token_checks.is_empty());
        assert!(input.challenges.response_ms.iter().any(|&ms| ms > 0.0));
        assay_policy_runtime::check_input(&input).expect("well formed");
    }

    const EIGHT: Shape = Shape { netuid: 1, miners: 8, requests: 300, challenges: 40, seed: 2026 };

    #[test]
    fn every_traffic_is_the_same_for_the_same_seed_and_ordinary_is_generate() {
        for traffic in [Traffic::Ordinary, Traffic::Competition, Traffic::CommitReveal] {
            let (a, b) = (generate_traffic(EIGHT, 1, traffic), generate_traffic(EIGHT, 1, traffic));
            assert_eq!(a.requests, b.requests, "{traffic:?}");
            assert_eq!(a.challenges, b.challenges, "{traffic:?}");
            assert_eq!(a.token_checks, b.token_checks, "{traffic:?}");
            assert_eq!(a.commit_reveals, b.commit_reveals, "{traffic:?}");
            assert_ne!(generate_traffic(EIGHT, 2, traffic).requests, a.requests, "{traffic:?}");
        }
        let (ordinary, plain) = (generate_traffic(EIGHT, 1, Traffic::Ordinary), generate(EIGHT, 1));
        assert_eq!((ordinary.requests, ordinary.challenges), (plain.requests, plain.challenges));
        assert!(plain.commit_reveals.is_empty());
        // The commit-reveal epoch is the ordinary one plus its round.
        let rounds = generate_traffic(EIGHT, 1, Traffic::CommitReveal);
        assert_eq!(rounds.requests, generate(EIGHT, 1).requests);
    }

    /// 300 requests over 2 tasks × 9 servers: 16 prompts per task (300 / 18, rounded down),
    /// 288 requests; per task the baseline's 16 rows come first, and every miner's 16 are on the
    /// same prompts (prompt and completion lengths); every miner's answer is checked; the cheat's
    /// 5 challenges (40 / 8) all fail, nobody else's.
    #[test]
    fn the_competition_puts_baseline_and_miners_on_the_same_prompts() {
        use assay_policy_sdk::NO_MINER;
        let synth = generate_traffic(EIGHT, 1, Traffic::Competition);
        assert_eq!(synth.requests.len(), 288);
        for (t, (task, _)) in TASKS.iter().enumerate() {
            let rows: Vec<&Request> = synth.requests[t * 144..(t + 1) * 144].iter().map(|r| &r.record).collect();
            assert!(synth.requests[t * 144..(t + 1) * 144].iter().all(|r| r.task == *task));
            let prompts = |uid: u16| -> Vec<(u32, u32)> {
                rows.iter().filter(|r| r.uid == uid).map(|r| (r.prompt_tokens, r.completion_tokens)).collect()
            };
            assert!(rows[..16].iter().all(|r| r.uid == NO_MINER && r.kind == RequestKind::Baseline));
            for uid in 0..8 {
                assert_eq!(prompts(uid), prompts(NO_MINER), "task {task} uid {uid}");
            }
        }
        assert_eq!(synth.token_checks.len(), 256);
        let failed: Vec<u16> = synth.challenges.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.uid).collect();
        assert_eq!(failed, [7; 5]);
        assay_policy_runtime::check_input(&synth.input(1, vec![], vec![]).expect("assembles")).expect("well formed");
    }

    /// One round, one row per miner sorted by uid: 5 late, 6 mismatched (no output), the
    /// others valid with 8 elements; honest ones within 0.01 of each other's element-wise
    /// neighbours (0.02 apart at most), 7 about 3 away.
    #[test]
    fn the_round_has_honest_far_late_and_mismatched_reveals() {
        use assay_policy_sdk::Reveal;
        let input = generate_traffic(EIGHT, 1, Traffic::CommitReveal).input(1, vec![], vec![]).expect("assembles");
        assay_policy_runtime::check_input(&input).expect("well formed");
        let rows = &input.commit_reveals;
        let reveals: Vec<(u16, Reveal, usize)> = rows.iter().map(|c| (c.uid, c.reveal, c.output.len())).collect();
        let valid = |uid| (uid, Reveal::Valid, rounds::HIDDEN_SIZE);
        let expected = [
            valid(0),
            valid(1),
            valid(2),
            valid(3),
            valid(4),
            (5, Reveal::Late, 0),
            (6, Reveal::Mismatch, 0),
            valid(7),
        ];
        assert_eq!(reveals, expected);
        let gap = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(gap(&rows[0].output, &rows[4].output) <= 0.02 + 1e-9);
        assert!((gap(&rows[0].output, &rows[7].output) - 3.0).abs() <= 0.01 + 1e-9);
        assert!(rows.iter().all(|c| c.task == 0 && c.round == 0), "task chat, round 0");
    }
}
