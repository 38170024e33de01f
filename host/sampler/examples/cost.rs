//! What one sampled token costs on a Qwen2-sized vocabulary (152,064 ids): greedy, top-k 50,
//! top-p 0.9 alone, and no truncation, at temperature 1 over seeded pseudo-random logits
//! (standard deviation 3, so top-p 0.9 keeps a few thousand ids, more than a real model's
//! nucleus). Figures go to docs/benchmarks.md.
//!
//!     cargo run --release -p assay-sampler --example cost [POSITIONS]

use std::hint::black_box;
use std::time::Instant;

use assay_sampler::{SamplingParams, sample};

/// Qwen2's vocabulary, padded as its LM head emits it.
const VOCAB: usize = 152_064;

/// splitmix64, then Box-Muller: reproducible logits without a dependency.
fn logits(seed: u64, spread: f64) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = state;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((x ^ (x >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..VOCAB)
        .map(|_| {
            let (a, b) = (next(), next());
            ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos() * spread) as f32
        })
        .collect()
}

fn main() {
    let positions: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let logits = logits(0x5EED, 3.0);
    let cases = [
        ("greedy", SamplingParams::greedy()),
        ("top-k 50", SamplingParams { temperature: 1.0, top_k: 50, top_p: 1.0, seed: 42 }),
        ("top-p 0.9 only", SamplingParams { temperature: 1.0, top_k: 0, top_p: 0.9, seed: 42 }),
        ("no truncation", SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, seed: 42 }),
    ];
    println!("vocabulary {VOCAB}, logits N(0, 3^2) as f32, temperature 1, {positions} positions each");
    for (name, params) in cases {
        let _ = sample(&logits, &params, 0).expect("valid input"); // warm up
        let start = Instant::now();
        let mut checksum = 0u64;
        for position in 0..positions {
            checksum += u64::from(sample(black_box(&logits), &params, position).expect("valid input"));
        }
        let per_token = start.elapsed().as_secs_f64() / positions as f64;
        println!("{name:>16}: {:8.3} ms/token   (checksum {checksum})", per_token * 1e3);
    }
}
