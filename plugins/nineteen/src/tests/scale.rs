//! Sizes at the scoring benchmark's scale: the state stays under the host's default 1 MiB, and a
//! benchmark-sized epoch scores every miner.

use std::time::Instant;

use assay_policy_sdk::{Outcome, RequestKind, TokenMeasurement, Verdict};

use super::{Draw, Epoch, challenge, miner, request, task};
use crate::formula::Period;
use crate::{Carried, QualityRecord, State, defaults};

/// The host's default `state_bytes`.
const HOST_STATE_BYTES: usize = 1 << 20;

#[test]
fn a_full_state_for_256_miners_and_4_tasks_fits_the_hosts_limit() {
    let mut state = State::default();
    let carried = Carried {
        periods: vec![Period { score: 0.5, consumed: 1e6 }; defaults::PERIOD_HISTORY as usize],
        records: vec![QualityRecord { quality: 0.9, metric: 55.0 }; defaults::QUALITY_WINDOW as usize],
    };
    for uid in 0..256 {
        // An SS58 address is 48 characters.
        let hotkey = format!("5{uid:0>47}");
        for name in ["chat", "completion", "code", "vision"] {
            state.insert(&hotkey, name, carried.clone());
        }
    }
    let bytes = state.encode().len();
    println!("state for 256 miners × 4 tasks at the default windows: {bytes} bytes");
    assert!(bytes < HOST_STATE_BYTES, "{bytes} bytes");
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
