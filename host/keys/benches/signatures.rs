//! What a signature costs on this machine: the per-request floor of a gateway that signs every
//! request to a miner and checks every miner's signed answer (issue #17's cost breakdown).
//!
//!     cargo bench -p assay-keys --bench signatures
//!
//! sr25519 sign and verify (one at a time, and verified in batches of 64 and 256), and ed25519
//! for comparison, over a 512-byte message (an Epistula request's signed digest input is shorter;
//! the curve arithmetic dominates either way). Medians of 7 runs of 2,000 signatures each.

use std::hint::black_box;
use std::time::Instant;

use assay_keys::{Hotkey, Scheme, Sr25519Claim, verify_sr25519_batch};

const OPS: usize = 2_000;
const RUNS: usize = 7;

/// Median microseconds per call of `f`, called `ops` times per sample.
fn per_op(ops: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..ops {
                f(i);
            }
            start.elapsed().as_secs_f64() * 1e6 / ops as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[RUNS / 2]
}

fn main() {
    let message = vec![0x5a; 512];
    for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
        let key = Hotkey::from_seed(scheme, [7; 32]).expect("a key from a seed");
        let public = key.public();
        let signature = key.sign(&message);
        let sign = per_op(OPS, |_| {
            black_box(key.sign(black_box(&message)));
        });
        let verify = per_op(OPS, |_| {
            public.verify(black_box(&message), &signature).expect("verifies");
        });
        println!("{scheme:?}: sign {sign:.1} µs, verify {verify:.1} µs");
    }
    let key = Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("a key from a seed");
    for batch in [64usize, 256] {
        let claims: Vec<Sr25519Claim> = (0..batch)
            .map(|i| {
                let mut m = message.clone();
                m[0] = i as u8;
                Sr25519Claim { key: key.public().bytes, signature: key.sign(&m), message: m }
            })
            .collect();
        let per_batch = per_op(OPS / batch, |_| assert!(verify_sr25519_batch(black_box(&claims))));
        println!("Sr25519: verify in batches of {batch}: {:.1} µs a signature", per_batch / batch as f64);
    }
}
