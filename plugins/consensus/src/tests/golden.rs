//! Golden data: three chained epochs of a fixed scenario, their inputs and outputs committed as
//! the host's canonical JSON in `plugins/consensus/golden/` (`epoch-N.input.json`,
//! `epoch-N.output.json`). Any change to the formula shows up as a diff there; the wasm32 build
//! must give the same outputs for the same inputs. Regenerate with
//! `scripts/make-consensus-golden.sh`, never by hand.
//!
//! The scenario: one task, hidden size 8, one round in epochs 1 and 3 and two in epoch 2, all
//! miners listed. uids 3, 7 and 12 are honest (their reveals within 0.001 of the reference
//! vector per element, as different hardware gives); uid 12 reveals late in epoch 2's first
//! round. uid 18 runs a cheaper model (0.3 off per element): its challenge is void in epoch 1,
//! so it is scored there (far from the mean), it fails one in epoch 2 and stays gated. uid 25 is
//! sloppy (0.05 off per element) and its epoch 1 reveal does not match its commitment. uid 31
//! is honest but never challenged (scored, never in the mean); it misses epoch 2's second round
//! and has no row in epoch 3. Each challenge refers to an ordinary request of its miner, as the
//! host's do.

use std::path::{Path, PathBuf};

use assay_policy_sdk::{
    Challenge, CommitReveal, EpochInput, EpochOutput, Outcome, Request, RequestKind, Reveal, Verdict,
};

use super::{Epoch, challenge, component, invalid, valid, weight};

const UIDS: [u16; 6] = [3, 7, 12, 18, 25, 31];
const HIDDEN: usize = 8;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// xorshift64: a fixed pseudo-random sequence.
struct Draw(u64);

impl Draw {
    /// A number in [−1, 1], in steps of 0.001.
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 2001) as f64 / 1000.0 - 1.0
    }

    fn vector(&mut self, scale: f64) -> Vec<f64> {
        (0..HIDDEN).map(|_| scale * self.unit()).collect()
    }
}

/// uid's row in round `round` of epoch `number`, `None` when it has none.
fn row(number: u64, round: u32, uid: u16, reference: &[f64], draw: &mut Draw) -> Option<CommitReveal> {
    let off = match uid {
        18 => 0.3,
        25 => 0.05,
        _ => 0.001,
    };
    let output: Vec<f64> = reference.iter().zip(draw.vector(off)).map(|(r, n)| r + n).collect();
    Some(match (number, round, uid) {
        (3, _, 31) => return None,
        (2, 1, 31) => invalid(round, uid, Reveal::Missing),
        (2, 0, 12) => invalid(round, uid, Reveal::Late),
        (1, _, 25) => invalid(round, uid, Reveal::Mismatch),
        _ => valid(round, uid, &output),
    })
}

fn scenario_epoch(number: u64, state: Vec<u8>) -> EpochInput {
    let mut e = Epoch::new(&UIDS);
    e.input.epoch = number;
    let mut draw = Draw(0x5eed_0000_c0de_0015 ^ number);
    let rounds = if number == 2 { 2 } else { 1 };
    for round in 0..rounds {
        let reference = draw.vector(2.0);
        for uid in UIDS {
            if let Some(r) = row(number, round, uid, &reference, &mut draw) {
                e.row(r);
            }
        }
    }
    let cheater: &[Verdict] = match number {
        1 => &[Verdict::Void],
        2 => &[Verdict::Pass, Verdict::Fail],
        _ => &[Verdict::Pass],
    };
    let pass = [Verdict::Pass, Verdict::Pass];
    for (uid, verdicts) in
        [(3, &pass[..]), (7, &pass), (12, &pass), (25, &[Verdict::Pass, Verdict::Void]), (18, cheater)]
    {
        for &verdict in verdicts {
            challenged(&mut e, uid, verdict);
        }
    }
    e.state(state);
    e.input
}

/// An ordinary request of `uid` (not read by this policy) and a challenge of it judged `verdict`.
fn challenged(e: &mut Epoch, uid: u16, verdict: Verdict) {
    let id = e.input.requests.len() as u64;
    e.input.requests.push(Request {
        id,
        uid,
        task: 0,
        kind: RequestKind::Synthetic,
        outcome: Outcome::Ok,
        greedy: true,
        prompt_tokens: 24,
        completion_tokens: 64,
        ttft_ms: 80.0,
        total_ms: 900.0,
        reported_ttft_ms: None,
        reported_tps: None,
        started_ms: id * 1000,
    });
    e.input.challenges.push(Challenge { request_id: id, ..challenge(uid, verdict) });
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
    let bless = std::env::var_os("CONSENSUS_BLESS").is_some();
    let dir = golden_dir();
    for (number, (input, output)) in (1..=3).zip(scenario()) {
        for (kind, bytes) in ["input", "output"].into_iter().zip(json(&input, &output)) {
            let path = dir.join(format!("epoch-{number}.{kind}.json"));
            if bless {
                std::fs::create_dir_all(&dir).expect("creates golden/");
                std::fs::write(&path, &bytes).expect("writes golden file");
                continue;
            }
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; regenerate with scripts/make-consensus-golden.sh", path.display())
            });
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
        // Honest miners lead, the sloppy one trails them when it counts, the cheater is last.
        assert!(w(3) > 60_000 && w(7) > 60_000, "epoch {epoch}: {:?}", output.weights);
        assert!(w(3) > w(25) && w(7) > w(25), "epoch {epoch}: {:?}", output.weights);
        assert!(w(18) < w(25) || epoch == 1, "epoch {epoch}: {:?}", output.weights);
    }
    let (first, second, third) = (&epochs[0].1, &epochs[1].1, &epochs[2].1);
    // Epoch 1: uid 18 (void only) is scored, far from the verified mean; uid 25 mismatched: 0.
    assert!(weight(first, 18) > 0 && weight(first, 18) < weight(first, 31));
    assert_eq!(weight(first, 25), 0);
    assert_eq!(component(first, 31, "verified"), Some(0.0));
    // Epoch 2: uid 12 was late in one of two rounds: about half of an honest miner's weight;
    // uid 31 missed one: the same. uid 18 fails: 0, gated.
    assert!(weight(second, 12) > 30_000 && weight(second, 12) < 35_000, "{:?}", second.weights);
    assert!(weight(second, 31) > 30_000 && weight(second, 31) < 35_000, "{:?}", second.weights);
    assert_eq!(weight(second, 18), 0);
    // Epoch 3: uid 18 passes, still gated, at 0; uid 31 has no row: 0; the others above 0.
    assert_eq!(weight(third, 18), 0);
    assert_eq!((component(third, 18, "gated"), component(third, 18, "failed_challenges")), (Some(1.0), Some(0.0)));
    assert_eq!(weight(third, 31), 0);
    assert_eq!(component(third, 31, "absent_rounds"), Some(1.0));
    assert!([3, 7, 12, 25].iter().all(|&uid| weight(third, uid) > 0), "{:?}", third.weights);
}
