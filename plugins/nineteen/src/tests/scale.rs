//! Sizes at the scoring benchmark's scale: the worst-case state stays under the host's default
//! 1 MiB (and parameters that could exceed `state.max_bytes` are refused), and a benchmark-sized
//! epoch scores every miner.

use std::time::Instant;

use assay_policy_sdk::{Outcome, RequestKind, TokenMeasurement, Verdict};

use super::{Draw, Epoch, challenge, miner, request, task};
use crate::formula::Period;
use crate::state::MAX_NAME_BYTES;
use crate::{Carried, MAX_PERIODS, MAX_RECORDS, MinerState, QualityRecord, State, defaults, worst_case_bytes};

/// The host's default `state_bytes`.
const HOST_STATE_BYTES: usize = 1 << 20;

/// The state of `miners` miners with hotkeys of the longest kept length, each with a full
/// history and window for every task of `tasks`.
fn full_state(miners: u16, tasks: &[&str], history: usize, window: usize) -> State {
    let mut state = State::default();
    let carried = Carried {
        periods: vec![Period { score: 0.5, consumed: 1e6 }; history],
        records: vec![QualityRecord { quality: 0.9, metric: 55.0 }; window],
    };
    for uid in 0..miners {
        let hotkey = format!("{uid:0>width$}", width = MAX_NAME_BYTES);
        let tasks = tasks.iter().map(|t| (t.to_string(), carried.clone())).collect();
        state.insert(&hotkey, MinerState { gated_epochs_left: 0, tasks });
    }
    state
}

#[test]
fn the_worst_case_state_at_the_defaults_fits_the_hosts_limit() {
    let tasks = ["chat", "completion", "code", "vision"];
    let (history, window) = (defaults::PERIOD_HISTORY as usize, defaults::QUALITY_WINDOW as usize);
    let bytes = full_state(256, &tasks, history, window).encode().len();
    println!("worst-case state for 256 miners × 4 tasks at the default windows: {bytes} bytes");
    // The bound the configuration is checked against is exact for a full state.
    assert_eq!(bytes, worst_case_bytes(256, &tasks, history, window));
    assert!(bytes <= HOST_STATE_BYTES, "{bytes} bytes");
}

#[test]
fn parameters_whose_worst_case_state_exceeds_the_limit_are_refused() {
    let tasks: Vec<_> = ["chat", "completion", "code", "vision"].into_iter().map(|t| task(t, 0.25)).collect();
    let names = ["chat", "completion", "code", "vision"];
    let epoch = |params: &[(&str, f64)]| {
        let mut e = Epoch::new(tasks.clone(), vec![miner(0, &[(0, 1000)])]);
        for &(name, value) in params {
            e.param(name, value);
        }
        crate::score(&e.input)
    };
    assert!(epoch(&[]).is_ok());
    // The longest window and history: 256 × 4 × (2 + ~6 + 1 + 8 × 64 + 2 + 8 × 200) bytes and more.
    let err =
        epoch(&[("quality.window", MAX_RECORDS as f64), ("period.history", MAX_PERIODS as f64)]).expect_err("refused");
    assert!(err.contains("state.max_bytes"), "{err}");
    // The limit is a parameter: exactly the worst case passes, a byte less does not.
    let worst = worst_case_bytes(256, &names, 16, 50) as f64;
    assert!(epoch(&[("state.max_bytes", worst)]).is_ok());
    assert!(epoch(&[("state.max_bytes", worst - 1.0)]).expect_err("refused").contains("state.max_bytes"));
}

#[test]
fn a_benchmark_sized_epoch_scores_every_miner() {
    let miners = (0..256).map(|uid| miner(uid, &[(0, 200_000), (1, 100_000)])).collect();
    let mut e = Epoch::new(vec![task("chat", 0.6), task("code", 0.4)], miners);
    let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
    for i in 0..100_000u64 {
        let uid = (i % 256) as u16;
        let outcome = match draw.next(100) {
            0..=2 => Outcome::RateLimited,
            3 => Outcome::ServerError,
            _ => Outcome::Ok,
        };
        let mut r = request(uid, (i % 2) as u16, outcome, 64 + draw.next(64) as u32, 500.0 + draw.next(2000) as f64);
        r.kind = if draw.next(2) == 0 { RequestKind::Synthetic } else { RequestKind::Organic };
        e.push(r);
        if outcome == Outcome::Ok && draw.next(5) == 0 {
            let tokens: Vec<TokenMeasurement> = (0..32)
                .map(|_| {
                    let rank = if draw.next(20) == 0 { 1 } else { 0 };
                    let top = -(draw.next(100) as f64) / 400.0;
                    TokenMeasurement { rank, logprob: if rank == 0 { top } else { top - 0.3 }, top_logprob: top }
                })
                .collect();
            e.check(&tokens);
        }
    }
    for j in 0..5_000u64 {
        let uid = (j % 256) as u16;
        // uid 7 cheats.
        e.challenge(challenge(uid, if uid == 7 { Verdict::Fail } else { Verdict::Pass }));
    }
    let started = Instant::now();
    let out = e.score();
    println!(
        "256 miners, 100,000 requests, 5,000 challenges: scored natively (debug build) in {:?}",
        started.elapsed()
    );
    assert_eq!(out.scores.len(), 256);
    assert_eq!(out.weights.iter().filter(|w| w.weight > 0).count(), 255);
    assert_eq!(out.weights.iter().find(|w| w.uid == 7).map(|w| w.weight), Some(0));
    assert!(out.state.len() < HOST_STATE_BYTES);
    // What the host's output check refuses: non-finite numbers, more than 64 components.
    for s in &out.scores {
        assert!(s.score.is_finite() && s.components.len() <= 64);
        assert!(s.components.iter().all(|c| c.value.is_finite() && c.name.len() <= 64));
    }
}
