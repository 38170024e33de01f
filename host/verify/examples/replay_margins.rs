//! The calibration of the verifier's replay tolerance (`[verify] replay_tolerance`, default
//! `assay_verify::REPLAY_TOLERANCE`; docs/verification.md, "Replaying sampled tokens"): how far
//! an honest miner's logits are from the reference's at the positions it samples, and what
//! replay (`assay_verify::token_replays`, at the default tolerance) makes of its tokens.
//!
//! The honest miner is the tiny calibration model (`assay dev calibrate`'s, three massive
//! channels) with every activation rounded to bf16, generating incrementally with the protocol's
//! sampler; the reference is the same weights in f32, teacher-forced over the miner's tokens. A
//! miner that samples with the seed plus one is the contrast.
//!
//!     cargo run -p assay-verify --example replay_margins -- [requests=N]

use std::process::ExitCode;

use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{Engine, HiddenSelection, SamplingParams};

const MAX_TOKENS: usize = 32;

/// SplitMix64: the prompts and parameters of request `i`, reproducibly.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The sampled parameters of request `i`: the synthetic traffic's temperatures and truncations.
fn params_of(i: u64, rng: &mut u64) -> SamplingParams {
    let pick = |rng: &mut u64, n: usize| (splitmix(rng) % n as u64) as usize;
    SamplingParams {
        temperature: [0.3, 0.5, 0.7, 0.8, 1.0, 1.2][pick(rng, 6)],
        top_k: [0, 0, 10, 40][pick(rng, 4)],
        top_p: [1.0, 0.95, 0.9, 0.5][pick(rng, 4)],
        seed: 1_000_000 + i,
    }
}

fn arg(name: &str, default: f64) -> f64 {
    std::env::args()
        .skip(1)
        .find_map(|a| a.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()))
        .unwrap_or(default)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN)
}

/// Counts over the replayed tokens: not the sampler's choice on the reference's logits, and of
/// them the ones that do not replay.
#[derive(Default)]
struct Tally {
    tokens: usize,
    differ: usize,
    unexcused: usize,
}

impl Tally {
    /// Counts one token; a row the sampler refuses (a NaN logit) stops the calibration: skipping
    /// it would leave the hardest positions out of the figures.
    fn add(&mut self, logits: &[f32], params: &SamplingParams, position: usize, token: u32) -> Result<(), String> {
        let at = |e: assay_sampler::SamplerError| format!("position {position}: {e}");
        let chosen = assay_sampler::sample(logits, params, position as u64).map_err(at)?;
        let tolerance = assay_verify::REPLAY_TOLERANCE;
        let replays = assay_verify::token_replays(logits, params, position as u64, token, tolerance).map_err(at)?;
        self.tokens += 1;
        self.differ += usize::from(chosen != token);
        self.unexcused += usize::from(!replays);
        Ok(())
    }
}

fn main() -> ExitCode {
    let requests = arg("requests", 500.0) as u64;
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return fail(&e.to_string()),
    };
    let spec = TinySpec { massive_channels: vec![(5, 40.0), (23, 25.0), (51, 60.0)], ..TinySpec::default() };
    let loaded =
        tiny::write(dir.path(), &spec, None).and_then(|()| Ok((Engine::load(dir.path())?, Engine::load(dir.path())?)));
    let (reference, mut miner) = match loaded {
        Ok(engines) => engines,
        Err(e) => return fail(&e.to_string()),
    };
    miner.set_bf16_activations(true);
    let (mut gaps, mut honest, mut cheat, mut rng) = (Vec::new(), Tally::default(), Tally::default(), 7u64);
    for i in 0..requests {
        let params = params_of(i, &mut rng);
        let prompt: Vec<u32> = (0..8 + splitmix(&mut rng) % 32).map(|_| (splitmix(&mut rng) % 256) as u32).collect();
        let mut miner_logits = Vec::new();
        let generated = miner.generate_with(&prompt, &params, MAX_TOKENS, &[], &mut |_, logits| {
            miner_logits.push(logits.to_vec());
            true
        });
        let Ok(generated) = generated else { return fail("the miner engine failed") };
        let tokens: Vec<u32> = prompt.iter().chain(&generated.tokens).copied().collect();
        let positions: Vec<usize> = (prompt.len() - 1..tokens.len() - 1).collect();
        let Ok(pass) = reference.teacher_forced(&tokens, &HiddenSelection::None, &positions) else {
            return fail("the reference failed");
        };
        let other = SamplingParams { seed: params.seed + 1, ..params };
        let Ok(cheated) = miner.generate(&prompt, &other, MAX_TOKENS, &[]) else { return fail("the miner failed") };
        for (position, (reference_row, miner_row)) in pass.logits.iter().zip(&miner_logits).enumerate() {
            let gap = reference_row.iter().zip(miner_row).map(|(r, m)| (f64::from(*r) - f64::from(*m)).abs());
            gaps.push(gap.fold(0.0, f64::max));
            if let Err(e) = honest.add(reference_row, &params, position, generated.tokens[position]) {
                return fail(&e);
            }
        }
        let Ok(cheat_pass) = reference.teacher_forced(
            &prompt.iter().chain(&cheated.tokens).copied().collect::<Vec<u32>>(),
            &HiddenSelection::None,
            &positions,
        ) else {
            return fail("the reference failed");
        };
        for (position, row) in cheat_pass.logits.iter().enumerate() {
            if let Err(e) = cheat.add(row, &params, position, cheated.tokens[position]) {
                return fail(&e);
            }
        }
    }
    gaps.sort_by(f64::total_cmp);
    println!("requests {requests}, positions {}, tolerance {}", gaps.len(), assay_verify::REPLAY_TOLERANCE);
    println!(
        "largest |miner logit - reference logit| per position: median {:.3e}, p99 {:.3e}, p99.9 {:.3e}, max {:.3e}",
        quantile(&gaps, 0.5),
        quantile(&gaps, 0.99),
        quantile(&gaps, 0.999),
        gaps.last().copied().unwrap_or(f64::NAN)
    );
    for (who, t) in [("honest", &honest), ("seed + 1", &cheat)] {
        println!(
            "{who}: {} tokens, {} not the sampler's choice on the reference, {} of them do not replay",
            t.tokens, t.differ, t.unexcused
        );
    }
    ExitCode::SUCCESS
}

fn fail(why: &str) -> ExitCode {
    eprintln!("replay_margins: {why}");
    ExitCode::FAILURE
}
