//! The competition epoch (cacheon's traffic): per task, the same prompts to the validator's
//! baseline server (uid 65535, kind baseline) and then to each miner (kind synthetic), one
//! request at a time on equal terms, all greedy and all answered, every miner's answer
//! token-checked. Every eighth miner (uid 7, 15, …: the cheat) is the fastest but serves
//! another model: its tokens rank low under the reference and every challenge of it fails.
//! Must not touch: the ordinary epoch (`synth.rs`), whose records and fixtures stay as they were.

use std::collections::BTreeMap;

use assay_chain::Metagraph;
use assay_policy_sdk::{
    Challenge, NO_MINER, Outcome, PointMeasurement, Request, RequestKind, TokenMeasurement, Verdict,
};

use super::{Shape, SplitMix, SynthEpoch, TASKS, ms, neurons, task_weights};
use crate::TaskRequest;

/// Completion tokens of an answer that its token check keeps (the first ones).
const CHECKED_TOKENS: u32 = 32;

/// The baseline server's time to first token (ms) and tokens per second.
const BASELINE: (f64, f64) = (400.0, 50.0);

fn is_cheat(uid: u16) -> bool {
    uid % 8 == 7
}

/// Each miner's speed against the baseline, fixed by the seed (not the epoch): the factor its
/// time to first token is divided by and the one its tokens per second are multiplied by; from
/// 0.8 to 1.6 for honest miners (some slower than the baseline), 2.5 for the cheat.
fn speeds(shape: Shape) -> Vec<(f64, f64)> {
    let mut rng = SplitMix(shape.seed ^ 0x00c0_ffee);
    (0..shape.miners)
        .map(|uid| {
            let (ttft, tps) = (0.8 + 0.8 * rng.unit(), 0.8 + 0.8 * rng.unit());
            if is_cheat(uid) { (2.5, 2.5) } else { (ttft, tps) }
        })
        .collect()
}

/// The competition epoch of `shape`, for epoch `epoch`: `shape.requests` split evenly over the
/// two tasks and the baseline and miners (at least one prompt per task), `shape.challenges`
/// challenges spread over the miners in uid order.
pub(super) fn generate(shape: Shape, epoch: u64) -> SynthEpoch {
    let mut rng = SplitMix(shape.seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xcace_0000);
    let servers = u64::from(shape.miners) + 1;
    let per_task = (shape.requests / (TASKS.len() as u64 * servers)).max(1);
    let speeds = speeds(shape);
    let mut requests: Vec<TaskRequest> = Vec::new();
    // Milliseconds since the competition began: one request after the other.
    let mut clock = 0u64;
    for (task, _) in TASKS {
        // Long prompts, several hundred output tokens; greedy, so every correct server
        // answers each prompt with the same tokens.
        let prompts: Vec<(u32, u32)> =
            (0..per_task).map(|_| (1500 + rng.below(2000) as u32, 200 + rng.below(400) as u32)).collect();
        for server in std::iter::once(None).chain((0..shape.miners).map(Some)) {
            let (ttft_factor, tps_factor) = server.map_or((1.0, 1.0), |uid| speeds[usize::from(uid)]);
            for &(prompt_tokens, completion_tokens) in &prompts {
                let ttft = BASELINE.0 / ttft_factor * (0.9 + 0.2 * rng.unit());
                let tps = BASELINE.1 * tps_factor * (0.95 + 0.1 * rng.unit());
                let total = ttft + f64::from(completion_tokens) / tps * 1000.0;
                let record = Request {
                    id: requests.len() as u64,
                    uid: server.unwrap_or(NO_MINER),
                    task: 0,
                    kind: if server.is_some() { RequestKind::Synthetic } else { RequestKind::Baseline },
                    outcome: Outcome::Ok,
                    greedy: true,
                    prompt_tokens,
                    completion_tokens,
                    ttft_ms: ms(ttft),
                    total_ms: ms(total),
                    reported_ttft_ms: None,
                    reported_tps: None,
                    started_ms: clock,
                };
                requests.push(TaskRequest { task: task.to_string(), record, values: Vec::new() });
                clock += total.ceil() as u64;
            }
        }
    }
    let challenges = challenges(shape, &requests, &mut rng);
    let token_checks = token_checks(&requests, &mut rng);
    SynthEpoch {
        metagraph: Metagraph { netuid: shape.netuid, neurons: neurons(shape), owner_hotkey: None },
        requests,
        challenges,
        token_checks,
        task_weights: task_weights(),
        commit_reveals: Vec::new(),
    }
}

/// Every miner's answer checked (its first [`CHECKED_TOKENS`] tokens): an honest miner's token
/// is the reference's top one 98 % of the time, the cheat's half of the time.
fn token_checks(requests: &[TaskRequest], rng: &mut SplitMix) -> BTreeMap<u64, Vec<TokenMeasurement>> {
    let round = |x: f64| (x * 1e6).round() / 1e6;
    let mut checks = BTreeMap::new();
    for r in requests.iter().map(|r| &r.record).filter(|r| r.uid != NO_MINER) {
        let agree = if is_cheat(r.uid) { 0.5 } else { 0.98 };
        let tokens = (0..r.completion_tokens.min(CHECKED_TOKENS))
            .map(|_| {
                let top_logprob = -(rng.unit() * 0.3);
                let rank = if rng.unit() < agree { 0 } else { 1 + rng.below(12) as u32 };
                let gap = if rank == 0 { 0.0 } else { 0.5 + 3.0 * rng.unit() };
                TokenMeasurement { rank, logprob: round(top_logprob - gap), top_logprob: round(top_logprob) }
            })
            .collect();
        checks.insert(r.id, tokens);
    }
    checks
}

/// Challenge `k` opens a random request of miner `k mod miners` at four points; the cheat's
/// fail, the others' pass. Sorted by request id.
fn challenges(shape: Shape, requests: &[TaskRequest], rng: &mut SplitMix) -> Vec<Challenge> {
    let mut by_uid: BTreeMap<u16, Vec<&Request>> = BTreeMap::new();
    for r in requests.iter().map(|r| &r.record).filter(|r| r.uid != NO_MINER) {
        by_uid.entry(r.uid).or_default().push(r);
    }
    let mut challenges = Vec::with_capacity(shape.challenges as usize);
    for k in 0..shape.challenges {
        let uid = (k % u64::from(shape.miners.max(1))) as u16;
        let Some(own) = by_uid.get(&uid) else { continue };
        let request = own[rng.below(own.len() as u64) as usize];
        let cheat = is_cheat(uid);
        let points = (0..4)
            .map(|_| {
                let layer = 1 + rng.below(28) as u32;
                let error = if cheat {
                    0.05 + 0.3 * rng.unit()
                } else {
                    (0.002 + 0.006 * f64::from(layer) / 28.0) * (0.5 + rng.unit())
                };
                PointMeasurement {
                    layer,
                    position: rng.below(u64::from(request.prompt_tokens) + 1) as u32,
                    rel_l2: (error * 1e6).round() / 1e6,
                    cosine: ((1.0 - error * error / 2.0) * 1e6).round() / 1e6,
                }
            })
            .collect();
        let (verdict, reason) = if cheat {
            (Verdict::Fail, "hidden state error above threshold")
        } else {
            (Verdict::Pass, "within thresholds")
        };
        let response_ms = Some(ms(if cheat { 400.0 } else { 40.0 } * (1.0 + 4.0 * rng.unit())));
        challenges.push(Challenge { request_id: request.id, uid, points, verdict, reason: reason.into(), response_ms });
    }
    challenges.sort_by_key(|c| c.request_id);
    challenges
}
