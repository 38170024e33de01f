//! A scorer for the host's sandbox tests: parameter `mode` picks how it misbehaves.
//!
//! Owns nothing of production; never activate it on a real subnet. Modes:
//! 0 behave (equal weights), 1 loop forever, 2 grow memory without end, 3 panic,
//! 4 weight an unknown uid, 5 return a NaN score, 6 weight a uid twice, 7 return an error,
//! 8 recurse without end, 9 hand on a state of 4 MiB, 10 give a score 1,000 components,
//! 11 return an error of a megabyte.

use assay_policy_sdk::{EpochInput, EpochOutput, MinerScore, Param, Params, Scorer, Weight};

pub fn score(input: &EpochInput) -> Result<EpochOutput, String> {
    let mode = Params(&input.params).get("mode", 0.0) as u32;
    let mut scores: Vec<MinerScore> =
        input.miners.iter().map(|m| MinerScore { uid: m.uid, score: 1.0, components: vec![] }).collect();
    let mut weights: Vec<Weight> = input.miners.iter().map(|m| Weight { uid: m.uid, weight: 1 }).collect();
    match mode {
        1 => {
            let mut x: u64 = input.epoch;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        2 => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        3 => panic!("misbehave: asked to panic"),
        4 => weights.push(Weight { uid: 65535, weight: 7 }),
        5 => {
            if let Some(s) = scores.first_mut() {
                s.score = f64::NAN;
            }
        }
        6 => {
            if let Some(w) = weights.first().cloned() {
                weights.push(w);
            }
        }
        7 => return Err("misbehave: asked to refuse".into()),
        8 => return Ok(recurse(input.epoch).map_or_else(unreachable_output, |_| unreachable_output())),
        9 => return Ok(EpochOutput { scores, weights, state: vec![7; 4 << 20] }),
        11 => return Err("x".repeat(1 << 20)),
        10 => {
            if let Some(s) = scores.first_mut() {
                s.components = (0..1000).map(|_| Param { name: "part".into(), value: 1.0 }).collect();
            }
        }
        _ => {}
    }
    Ok(EpochOutput { scores, weights, state: input.state.clone() })
}

fn recurse(n: u64) -> Option<u64> {
    if std::hint::black_box(n) == u64::MAX {
        return None;
    }
    let deeper = std::hint::black_box(recurse(n.wrapping_add(1)));
    deeper.map(|d| d ^ n)
}

fn unreachable_output() -> EpochOutput {
    EpochOutput { scores: vec![], weights: vec![], state: vec![] }
}

pub struct Misbehave;

impl Scorer for Misbehave {
    fn score(input: EpochInput) -> Result<EpochOutput, String> {
        score(&input)
    }
}

assay_policy_sdk::export_scorer!(Misbehave);
