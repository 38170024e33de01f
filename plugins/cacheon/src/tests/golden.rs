//! Golden data: three chained epochs of a fixed scenario, their inputs and outputs committed as
//! the host's canonical JSON in `plugins/cacheon/golden/` (`epoch-N.input.json`,
//! `epoch-N.output.json`). Any change to the formula shows up as a diff there; the wasm32 build
//! must give the same outputs for the same inputs. Regenerate with
//! `scripts/make-cacheon-golden.sh`, never by hand.
//!
//! The scenario, on tasks chat (0.7) and code (0.3), against a baseline at 800 ms to the first
//! token and 50 tok/s (300 tokens in 6 s, end to end), each miner given the same 5 prompts per
//! task with the same spread of times (±20 ms to the first token, and a total ±200 ms past that,
//! so the medians are the nominal figures), plus one sampled request:
//! - uid 0 is the burn uid and serves nothing;
//! - uid 3, honest, 30 % faster to the first token and 1.5 × the rate: 0.5 × 0.3 + 0.5 × 0.5 =
//!   0.4 on both tasks;
//! - uid 7, honest: 0.5 × 0.2 + 0.5 × 0.4 = 0.3, and in epoch 3 0.5 × 0.3 + 0.5 × 0.506 =
//!   0.403, under uid 3's 0.4 × 1.01 = 0.404: not enough to take the lead;
//! - uid 12, honest but slower than the baseline, with a timeout now and then: 0;
//! - uid 21, the fastest, serving another model (40 % of its tokens off the reference's greedy
//!   choice): fails the correctness gate, 0;
//! - uid 25, fast (0.5 × 0.4 + 0.5 × 0.7 = 0.55), wins epoch 1, then fails a hidden-state
//!   challenge in epoch 2: gated, it loses the lead and stays at 0 in epoch 3;
//! - uid 33, honest, code only: 0.3 × (0.5 × 0.1 + 0.5 × 0.2) = 0.045.
//!
//! Organic, cancelled and void-verdict rows are sprinkled in.

use std::path::{Path, PathBuf};

use assay_policy_sdk::{EpochInput, EpochOutput, Outcome, RequestKind, TokenMeasurement, Verdict};

use super::{Draw, Epoch, baseline, challenge, component, miner, request, task, weight};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Time to first token and rate as multiples of the baseline's, by uid and epoch.
fn speed(uid: u16, epoch: u64) -> (f64, f64) {
    match (uid, epoch) {
        (3, _) => (0.7, 1.5),
        (7, 3) => (0.7, 1.506),
        (7, _) => (0.8, 1.4),
        (12, _) => (1.1, 0.9),
        (21, _) => (0.5, 2.0),
        (25, _) => (0.6, 1.7),
        _ => (0.9, 1.2),
    }
}

/// The tasks `uid` competes on.
fn tasks_of(uid: u16) -> &'static [u16] {
    match uid {
        0 => &[],
        33 => &[1],
        _ => &[0, 1],
    }
}

/// The token check of a greedy request from `uid`: the reference's own tokens (now and then a
/// near-tie at rank 1), or for uid 21 another model's.
fn tokens(uid: u16, draw: &mut Draw) -> Vec<TokenMeasurement> {
    let n = 12 + draw.next(8) as usize;
    (0..n)
        .map(|_| {
            let top = -0.05 - draw.next(40) as f64 / 100.0;
            let roll = draw.next(100);
            let off = if uid == 21 { roll < 40 } else { roll < 3 };
            let logprob = if off { top - 0.8 - draw.next(30) as f64 / 10.0 } else { top };
            TokenMeasurement { rank: u32::from(off) * (1 + draw.next(3) as u32), logprob, top_logprob: top }
        })
        .collect()
}

/// The 5 prompts' spreads around the nominal times, in a drawn order: (first token, total) ms; each
/// total moves by both.
const SPREAD: [(f64, f64); 5] = [(-20.0, 200.0), (-10.0, -100.0), (0.0, 0.0), (10.0, 100.0), (20.0, -200.0)];
const BASELINE_TTFT_MS: f64 = 800.0;
const BASELINE_TOTAL_MS: f64 = 6000.0;
const TOKENS: u32 = 300;

/// One miner's (or the baseline's, for `uid` None) competition on `task`.
fn compete(e: &mut Epoch, uid: Option<u16>, task: u16, epoch: u64, draw: &mut Draw) {
    let (ttft_factor, rate_factor) = uid.map_or((1.0, 1.0), |uid| speed(uid, epoch));
    let ttft = BASELINE_TTFT_MS * ttft_factor;
    // The rate is end to end: its factor divides the total time.
    let total = BASELINE_TOTAL_MS / rate_factor;
    let start = draw.next(5) as usize;
    for k in 0..6 {
        // The sixth, sampled, at the nominal times: it leaves the medians where they are.
        let (dt, dd) = if k < 5 { SPREAD[(start + k) % 5] } else { (0.0, 0.0) };
        let Some(uid) = uid else {
            e.push(baseline(task, TOKENS, ttft + dt, total + dt + dd));
            continue;
        };
        let mut r = request(uid, task, TOKENS, ttft + dt, total + dt + dd);
        r.greedy = k < 5;
        if uid == 12 && draw.next(4) == 0 {
            r.outcome = Outcome::Timeout;
        }
        let checked = r.greedy && r.outcome == Outcome::Ok;
        e.push(r);
        if checked {
            e.check(&tokens(uid, draw));
        }
    }
}

fn scenario_epoch(number: u64, state: Vec<u8>) -> EpochInput {
    let uids = [0, 3, 7, 12, 21, 25, 33];
    let mut e = Epoch::new(vec![task("chat", 0.7), task("code", 0.3)], uids.iter().map(|&u| miner(u)).collect());
    e.input.epoch = number;
    let mut draw = Draw(0x5eed_0000_0000_cace ^ number);
    for task in [0, 1] {
        compete(&mut e, None, task, number, &mut draw);
        for &uid in &uids {
            if tasks_of(uid).contains(&task) {
                compete(&mut e, Some(uid), task, number, &mut draw);
            }
        }
    }
    // Users' traffic (not the competition's) and a request the client cancelled.
    let mut organic = request(12, 0, 50, 10.0, 200.0);
    organic.kind = RequestKind::Organic;
    e.push(organic);
    let mut cancelled = request(7, 1, 0, 0.0, 5.0);
    cancelled.outcome = Outcome::Cancelled;
    e.push(cancelled);
    for &uid in &uids[1..] {
        let verdict = match (uid, number) {
            (25, 2) => Verdict::Fail,
            (12, _) => Verdict::Void,
            _ => Verdict::Pass,
        };
        e.challenge(challenge(uid, Verdict::Pass)).challenge(challenge(uid, verdict));
    }
    e.state(state);
    e.input
}

/// The three epochs, each fed the previous one's state.
fn scenario() -> Vec<(EpochInput, EpochOutput)> {
    let mut state = Vec::new();
    (1..=3)
        .map(|number| {
            let input = scenario_epoch(number, state.clone());
            let output = crate::score(&input).expect("golden epoch scores");
            state = output.state.clone();
            (input, output)
        })
        .collect()
}

/// The host's canonical JSON of an input, and the same serialization of an output.
fn json(input: &EpochInput, output: &EpochOutput) -> [Vec<u8>; 2] {
    [serde_json::to_vec(input).expect("input serializes"), serde_json::to_vec(output).expect("output serializes")]
}

#[test]
fn golden_epochs_match_the_committed_files() {
    let bless = std::env::var_os("CACHEON_BLESS").is_some();
    let dir = golden_dir();
    for (number, (input, output)) in (1..=3).zip(scenario()) {
        for (kind, bytes) in ["input", "output"].into_iter().zip(json(&input, &output)) {
            let path = dir.join(format!("epoch-{number}.{kind}.json"));
            if bless {
                std::fs::create_dir_all(&dir).expect("creates golden/");
                std::fs::write(&path, &bytes).expect("writes golden file");
                continue;
            }
            let committed = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e}; regenerate with scripts/make-cacheon-golden.sh", path.display()));
            assert!(committed == bytes, "{} differs from what the policy gives now", path.display());
        }
    }
}

#[test]
fn golden_scenario_ends_as_designed() {
    let epochs = scenario();
    let fresh = |e: usize, uid| component(&epochs[e].1, uid, "fresh_score");
    let winner = |e: usize, uid| component(&epochs[e].1, uid, "winner") == 1.0;
    for (e, (_, out)) in epochs.iter().enumerate() {
        // uid 3 at 0.4 and uid 33 at 0.045 every epoch, to within rounding of the nominal times.
        assert!((fresh(e, 3) - 0.4).abs() < 1e-9, "epoch {}: {}", e + 1, fresh(e, 3));
        assert!((fresh(e, 33) - 0.045).abs() < 1e-9, "epoch {}: {}", e + 1, fresh(e, 33));
        // The slow one and the one serving another model never score.
        assert_eq!(fresh(e, 12), 0.0);
        assert_eq!(fresh(e, 21), 0.0);
        assert_eq!(component(out, 21, "correct"), 0.0);
        assert_eq!(weight(out, 12), 0);
        assert_eq!(weight(out, 21), 0);
        assert_eq!(weight(out, 33), 0);
    }
    // Epoch 1: uid 25 wins (0.55, pool 1), uid 3 is runner-up; nothing burned. Weights 65535
    // and 0.2 / 0.8 × 65535 = 16383.75 → 16384.
    assert!(winner(0, 25));
    assert_eq!(weight(&epochs[0].1, 25), 65535);
    assert_eq!(weight(&epochs[0].1, 3), 16384);
    assert_eq!(weight(&epochs[0].1, 0), 0);
    // Epoch 2: uid 25 fails a challenge and loses everything; uid 3 leads (pool 0.4 / 0.5 =
    // 0.8: 0.64 to uid 3, 0.16 to uid 7, 0.2 burned to uid 0). Weights 65535, 0.16 / 0.64 ×
    // 65535 = 16383.75 → 16384 and 0.2 / 0.64 × 65535 = 20479.69 → 20480; epoch 3 the same.
    for e in [1, 2] {
        let out = &epochs[e].1;
        assert_eq!(weight(out, 25), 0, "epoch {}", e + 1);
        assert_eq!(component(out, 25, "gated"), 1.0);
        assert!(winner(e, 3));
        assert_eq!(component(out, 7, "runner_up"), 1.0);
        assert!((component(out, 3, "pool") - 0.8).abs() < 1e-9);
        assert_eq!(weight(out, 3), 65535);
        assert_eq!((weight(out, 7), weight(out, 0)), (16384, 20480), "epoch {}", e + 1);
    }
    // Epoch 3: uid 7 beats uid 3's fresh score, but by less than 1 %: uid 3 keeps the lead.
    assert!(fresh(2, 7) > fresh(2, 3) && fresh(2, 7) < fresh(2, 3) * 1.01, "{} {}", fresh(2, 7), fresh(2, 3));
    assert_eq!(component(&epochs[2].1, 3, "previous_leader"), 1.0);
}
