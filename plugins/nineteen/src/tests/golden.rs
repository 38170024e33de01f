//! Golden data: three chained epochs of a fixed scenario, their inputs and outputs committed as
//! the host's canonical JSON in `plugins/nineteen/golden/` (`epoch-N.input.json`,
//! `epoch-N.output.json`). Any change to the formula shows up as a diff there; the wasm32 build
//! must give the same outputs for the same inputs (the lead's golden epoch checks it through the
//! host). Regenerate with `scripts/make-nineteen-golden.sh`, never by hand.
//!
//! The scenario, on tasks chat (0.6) and code (0.4), every miner declaring 4000 for chat and
//! 2000 for code where it serves code: uid 0 honest and the fastest, on both; uid 1 honest, chat
//! only (the reference the others are measured against); uid 2 rate-limits 40 % of its
//! requests; uid 3, chat only, answers 20 % with server errors or timeouts; uid 4 answers with
//! off-top tokens half the time; uid 5, chat only, honest but fails a challenge in epoch 2 (gated
//! from then on); uid 6 declares no capacity. Organic, cancelled and baseline requests and void
//! verdicts are sprinkled in.

use std::path::{Path, PathBuf};

use assay_policy_sdk::{EpochInput, EpochOutput, NO_MINER, Outcome, RequestKind, TokenMeasurement, Verdict};

use super::{Draw, Epoch, challenge, component, miner, perfect_tokens, request, task, weight};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// How miner `uid` answers one request in the scenario.
fn outcome(uid: u16, draw: &mut Draw) -> Outcome {
    let roll = draw.next(100);
    match uid {
        2 if roll < 40 => Outcome::RateLimited,
        3 if roll < 10 => Outcome::ServerError,
        3 if roll < 20 => Outcome::Timeout,
        _ if roll == 99 => Outcome::Cancelled,
        _ => Outcome::Ok,
    }
}

/// The token check of a request from `uid`: off-top tokens for uid 4, the reference's own
/// otherwise.
fn tokens(uid: u16, draw: &mut Draw) -> Vec<TokenMeasurement> {
    let n = 8 + draw.next(8) as usize;
    if uid != 4 {
        return perfect_tokens(n);
    }
    (0..n)
        .map(|_| {
            let top = -0.05 - draw.next(10) as f64 / 100.0;
            let off = draw.next(2) == 0;
            TokenMeasurement { rank: u32::from(off), logprob: if off { top - 0.6 } else { top }, top_logprob: top }
        })
        .collect()
}

fn scenario_epoch(number: u64, state: Vec<u8>) -> EpochInput {
    let miners = vec![
        miner(0, &[(0, 4000), (1, 2000)]),
        miner(1, &[(0, 4000)]),
        miner(2, &[(0, 4000), (1, 2000)]),
        miner(3, &[(0, 4000)]),
        miner(4, &[(0, 4000), (1, 2000)]),
        miner(5, &[(0, 4000)]),
        miner(6, &[]),
    ];
    let mut e = Epoch::new(vec![task("chat", 0.6), task("code", 0.4)], miners);
    e.input.epoch = number;
    let mut draw = Draw(0x5eed_0000_0000_0019 ^ number);
    for i in 0..140u64 {
        let uid = (i % 7) as u16;
        let task = u16::from(uid != 1 && uid != 3 && uid != 5 && draw.next(3) == 0);
        let outcome = outcome(uid, &mut draw);
        let millis = match uid {
            0 => 400.0 + draw.next(200) as f64,
            _ => 800.0 + draw.next(400) as f64,
        };
        let mut r = request(uid, task, outcome, 40 + draw.next(80) as u32, millis);
        r.kind = if draw.next(4) == 0 { RequestKind::Organic } else { RequestKind::Synthetic };
        e.push(r);
        if outcome == Outcome::Ok && draw.next(3) == 0 {
            e.check(&tokens(uid, &mut draw));
        }
        if i % 20 == 0 {
            let mut baseline = request(NO_MINER, 0, Outcome::Ok, 60, 900.0);
            baseline.kind = RequestKind::Baseline;
            e.push(baseline);
        }
    }
    for uid in 0..6 {
        let verdict = match (uid, number) {
            (5, 2) => Verdict::Fail,
            (3, _) => Verdict::Void,
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
    let bless = std::env::var_os("NINETEEN_BLESS").is_some();
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
                .unwrap_or_else(|e| panic!("{}: {e}; regenerate with scripts/make-nineteen-golden.sh", path.display()));
            assert!(committed == bytes, "{} differs from what the policy gives now", path.display());
        }
    }
}

#[test]
fn golden_scenario_ranks_the_miners_as_designed() {
    let epochs = scenario();
    for (input, output) in &epochs {
        let epoch = input.epoch;
        let w = |uid| weight(output, uid);
        let chat = |uid| component(output, uid, "chat.volume");
        // On chat, where they all serve the same capacity: the fast honest miner, the honest
        // one, then the one with 20 % server errors, the one rate-limiting 40 %, the sloppy one.
        assert!(
            chat(0) > chat(1) && chat(1) > chat(3) && chat(3) > chat(2) && chat(2) > chat(4),
            "epoch {epoch}: {:?}",
            [0, 1, 2, 3, 4].map(chat)
        );
        // Weights: uid 0 leads; the honest chat-only miner beats every misbehaving one, even
        // those that also serve code (2 and 4) and the erroring one on the same task (3).
        assert_eq!(w(0), 65535, "epoch {epoch}");
        assert!(w(1) > w(3) && w(1) > w(2) && w(1) > w(4), "epoch {epoch}: {:?}", output.weights);
        assert!(w(2) > 0 && w(3) > 0 && w(4) > 0, "epoch {epoch}: {:?}", output.weights);
        // No declared capacity, no weight.
        assert_eq!(w(6), 0);
    }
    // uid 5, honest and as fast as the others in epoch 1, beats uid 1 there (it ranks faster);
    // it fails a challenge in epoch 2: 0 then, and still 0 in epoch 3 although it passes all.
    assert!(weight(&epochs[0].1, 5) > weight(&epochs[0].1, 1));
    assert_eq!(weight(&epochs[1].1, 5), 0);
    assert_eq!(weight(&epochs[2].1, 5), 0);
    assert_eq!(component(&epochs[2].1, 5, "gated"), 1.0);
    assert_eq!(component(&epochs[2].1, 5, "failed_challenges"), 0.0);
}
