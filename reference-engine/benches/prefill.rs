//! Teacher-forced prefill on the CPU: tokens/s, all hidden states kept.
//!
//!     ASSAY_BENCH_MODEL=DIR [ASSAY_BENCH_TOKENS=512] [ASSAY_BENCH_RUNS=3] \
//!         cargo bench -p assay-reference-engine --bench prefill
//!
//! scripts/bench-engine-cpu.py runs this beside PyTorch transformers on the same model.

use std::path::PathBuf;

use assay_reference_engine::Engine;

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
    let median = engine.time_prefill(tokens, runs).expect("runs");
    println!("assay prefill {tokens} tokens: {:.1} ms, {:.1} tokens/s", median * 1e3, tokens as f64 / median);
}
