//! Teacher-forced prefill: tokens/s, all hidden states kept (copied to the host in f32).
//!
//!     ASSAY_BENCH_MODEL=DIR [ASSAY_BENCH_DEVICE=cpu] [ASSAY_BENCH_TOKENS=512[,2048…]] \
//!         [ASSAY_BENCH_RUNS=3] cargo bench -p assay-reference-engine --bench prefill
//!
//! ASSAY_BENCH_DEVICE takes a `Device` spelling (cpu, cuda, cuda:N, auto). The process's resident
//! memory after loading is printed too: on CUDA it shows that no CPU copy of the weights was made.
//! scripts/bench-engine-cpu.py runs this beside PyTorch transformers on the CPU;
//! scripts/gpu-check.sh on the GPU.

use std::path::PathBuf;

use assay_reference_engine::{Device, Engine};

/// VmRSS of this process in bytes (Linux), for showing what loading kept in memory.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn fail(message: String) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

fn main() {
    let Some(model) = std::env::var_os("ASSAY_BENCH_MODEL").map(PathBuf::from) else {
        fail("set ASSAY_BENCH_MODEL to a model directory (scripts/bench-engine-cpu.py makes one)".into());
    };
    let device: Device = match std::env::var("ASSAY_BENCH_DEVICE") {
        Ok(text) => text.parse().unwrap_or_else(|e| fail(format!("ASSAY_BENCH_DEVICE: {e}"))),
        Err(_) => Device::Cpu,
    };
    let tokens: Vec<usize> = std::env::var("ASSAY_BENCH_TOKENS")
        .unwrap_or_else(|_| "512".into())
        .split(',')
        .map(|t| t.trim().parse().unwrap_or_else(|_| fail(format!("ASSAY_BENCH_TOKENS: {t:?} is not a number"))))
        .collect();
    let runs = std::env::var("ASSAY_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3usize).max(1);
    let before = resident_bytes();
    let started = std::time::Instant::now();
    let engine = Engine::load_on(&model, device).unwrap_or_else(|e| fail(e.to_string()));
    let loaded = started.elapsed().as_secs_f64();
    if let (Some(before), Some(after)) = (before, resident_bytes()) {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        println!(
            "assay loaded on {} in {loaded:.1} s; resident memory {:.2} GiB -> {:.2} GiB",
            engine.device(),
            gib(before),
            gib(after)
        );
    }
    for n in tokens {
        let median = engine.time_prefill(n, runs).unwrap_or_else(|e| fail(e.to_string()));
        println!(
            "assay prefill {n} tokens on {}: {:.1} ms, {:.1} tokens/s (median of {runs})",
            engine.device(),
            median * 1e3,
            n as f64 / median
        );
    }
}
