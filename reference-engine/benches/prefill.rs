//! Teacher-forced prefill on the CPU: tokens/s, all hidden states kept.
//!
//!     ASSAY_BENCH_MODEL=DIR [ASSAY_BENCH_TOKENS=512] [ASSAY_BENCH_RUNS=3] \
//!         cargo bench -p assay-reference-engine --bench prefill
//!
//! scripts/bench-engine-cpu.py runs this beside PyTorch transformers on the same model.

use std::path::PathBuf;
use std::time::Instant;

use assay_reference_engine::{Engine, HiddenSelection};

fn main() {
    let Some(model) = std::env::var_os("ASSAY_BENCH_MODEL").map(PathBuf::from) else {
        eprintln!("set ASSAY_BENCH_MODEL to a model directory (scripts/bench-engine-cpu.py makes one)");
        std::process::exit(2);
    };
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (tokens, runs) = (env("ASSAY_BENCH_TOKENS", 512), env("ASSAY_BENCH_RUNS", 3).max(1));
    let engine = Engine::load(&model).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let vocab = engine.config().vocab_size as u64;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let ids: Vec<u32> = (0..tokens)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % vocab) as u32
        })
        .collect();
    engine.teacher_forced(&ids[..tokens.min(16)], &HiddenSelection::None, &[]).expect("warm-up");
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let out = engine.teacher_forced(&ids, &HiddenSelection::All, &[]).expect("runs");
        times.push(started.elapsed().as_secs_f64());
        std::hint::black_box(out);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("assay prefill {tokens} tokens: {:.1} ms, {:.1} tokens/s", median * 1e3, tokens as f64 / median);
}
