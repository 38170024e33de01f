//! Scoring one large epoch through the constantinople component and through the same code
//! compiled natively, in one run; plus compile, cached load and instantiate times and the size
//! of the canonical input.
//!
//!     scripts/build-plugins.sh && cargo bench -p assay-epoch --bench scoring
//!
//! Shape (override with ASSAY_BENCH_MINERS / _REQUESTS / _CHALLENGES): 256 miners, 100,000
//! request records, 5,000 challenge records, a contract 0.2.0 input (columns). Each figure is the
//! median of several runs. For history, the golden 0.1.0 build of constantinople is timed on the
//! same epoch converted down (row records).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use assay_epoch::canonical;
use assay_epoch::synth::{Shape, generate};
use assay_policy_runtime::{Digest, Limits, Runtime};
use assay_policy_sdk::{EpochInput, Param};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = std::hint::black_box(f());
        samples.push(start.elapsed());
        last = Some(out);
    }
    (median(samples), last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let plugin_dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let read = |name: &str| {
        std::fs::read(plugin_dir.join(format!("{name}.wasm"))).unwrap_or_else(|e| {
            eprintln!("{}/{name}.wasm: {e}\nbuild the plugins first: scripts/build-plugins.sh", plugin_dir.display());
            std::process::exit(2)
        })
    };
    let bytes = read("constantinople");
    let misbehave = read("misbehave");
    let digest = Digest::of(&bytes);

    let shape = Shape {
        netuid: 1,
        miners: env_or("ASSAY_BENCH_MINERS", 256) as u16,
        requests: env_or("ASSAY_BENCH_REQUESTS", 100_000),
        challenges: env_or("ASSAY_BENCH_CHALLENGES", 5_000),
        seed: 42,
    };
    let input = generate(shape, 1).input(1, vec![], vec![]).expect("assembles");
    println!(
        "epoch: {} miners, {} request records, {} challenge records; component {} bytes ({digest})",
        input.miners.len(),
        input.requests.len(),
        input.challenges.len(),
        bytes.len()
    );

    // Canonical input.
    let (encode_time, json) = time(5, || canonical::encode(&input).expect("encodes"));
    let zst = canonical::compress(&json).expect("compresses");
    println!(
        "canonical input: {} bytes JSON ({:.1} MiB), {} bytes zstd; encode {}",
        json.len(),
        json.len() as f64 / 1048576.0,
        zst.len(),
        ms(encode_time)
    );

    // Compile and load.
    let runtime = Runtime::new(None).expect("engine");
    let (cold, _) = time(3, || runtime.compile(&bytes).expect("compiles"));
    let cache = tempfile::tempdir().expect("tempdir");
    let cached_runtime = Runtime::new(Some(cache.path())).expect("engine");
    cached_runtime.load_scorer(&digest, &bytes).expect("fills the cache");
    let (cached_load, scorer) = time(10, || cached_runtime.load_scorer(&digest, &bytes).expect("loads"));
    let (uncached_load, _) = time(3, || runtime.load_scorer(&digest, &bytes).expect("loads"));
    println!("cold compile (Component::new): {}", ms(cold));
    println!("load, uncached (verify + inspect + compile + trial instantiation): {}", ms(uncached_load));
    println!("load, cached (verify + inspect + deserialize + trial instantiation): {}", ms(cached_load));
    // Boundary cost alone: a scorer that does nothing with 100k records (misbehave, mode 0).
    let noop = runtime.load_scorer(&Digest::of(&misbehave), &misbehave).expect("loads");
    let noop_input = EpochInput { params: vec![Param { name: "mode".into(), value: 0.0 }], ..input.clone() };
    let (boundary, noop_run) = time(7, || noop.score(&noop_input, Limits::default()).expect("scores"));
    let tiny = EpochInput {
        requests: Default::default(),
        token_checks: Default::default(),
        challenges: Default::default(),
        miners: input.miners[..2].to_vec(),
        ..noop_input.clone()
    };
    let (instantiate, _) = time(200, || noop.score(&tiny, Limits::default()).expect("scores"));
    println!(
        "fresh store + instantiate + call, trivial scorer, 2-miner empty epoch: {:.1} µs",
        instantiate.as_secs_f64() * 1e6
    );

    // The comparison, interleaved so that machine noise hits both sides alike.
    let mut wasm_samples = Vec::new();
    let mut native_samples = Vec::new();
    let mut fuel = 0;
    for _ in 0..9 {
        let start = Instant::now();
        let run = scorer.score(&input, Limits::default()).expect("component scores");
        wasm_samples.push(start.elapsed());
        fuel = run.fuel_used;
        let start = Instant::now();
        let native = std::hint::black_box(assay_plugin_constantinople::score(&input).expect("native scores"));
        native_samples.push(start.elapsed());
        assert_eq!(run.output, native, "component and native outputs differ");
    }
    let (wasm, native) = (median(wasm_samples), median(native_samples));
    println!("boundary only (all records in, trivial scorer): {} ({} fuel)", ms(boundary), noop_run.fuel_used);
    println!("score, WASM component (fresh store, input conversion, call, output check): {} ({fuel} fuel)", ms(wasm));
    println!("score, native: {}", ms(native));
    println!("ratio WASM / native: {:.2}x (target at most 1.2x)", wasm.as_secs_f64() / native.as_secs_f64());

    // Contract 0.1.0, for comparison: the golden build on the same epoch as rows.
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../cli/tests/fixtures/golden/policies/6553c9e1265d0388bf6297a0798d0ef1fd5059ba340db2aa03d573c098209a41.wasm",
    );
    if let Ok(old) = std::fs::read(&golden) {
        let old = runtime.load_scorer(&Digest::of(&old), &old).expect("loads 0.1.0");
        let rows = assay_policy_sdk::v0_1::from_v0_2(&input);
        let (v0_1, run) = time(5, || old.score_v0_1(&rows, Limits::default()).expect("0.1.0 scores"));
        println!("score, 0.1.0 build on the same epoch as rows: {} ({} fuel)", ms(v0_1), run.fuel_used);
    }
}
