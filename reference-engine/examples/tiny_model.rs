//! Writes a random Qwen2 model directory (`tiny::write`) of a named shape, for the GPU check
//! (`scripts/gpu-check.sh`) and benchmarks; the CLI's `assay engine tiny` does the same, but
//! building it needs the whole host, and the GPU machine should build only this crate.
//!
//!     cargo run --release -p assay-reference-engine --example tiny_model -- OUT [SHAPE] [key=value ...]
//!
//! SHAPE: `tiny` (TinySpec's default, f32), `calibrated` (the family the challenger's thresholds
//! were calibrated on: host/cli's `detect::spec()`), `qwen2.5-7b` (Qwen2.5-7B's shape, bf16).
//! Keys override the shape: layers, hidden, heads, kv_heads, intermediate, vocab, seed,
//! dtype (f32, bf16, f16), tied (true, false).

use std::path::PathBuf;
use std::process::ExitCode;

use assay_reference_engine::DType;
use assay_reference_engine::tiny::{self, TinySpec};

fn shape(name: &str) -> Option<TinySpec> {
    match name {
        "tiny" => Some(TinySpec::default()),
        // Kept equal to host/cli/src/commands/detect.rs `spec()` (the engine cannot depend on
        // the host); the drift it shows is what those thresholds must tolerate.
        "calibrated" => {
            Some(TinySpec { massive_channels: vec![(5, 40.0), (23, 25.0), (51, 60.0)], ..TinySpec::default() })
        }
        "qwen2.5-7b" => Some(TinySpec {
            hidden: 3584,
            layers: 28,
            heads: 28,
            kv_heads: 4,
            intermediate: 18944,
            vocab: 152064,
            dtype: DType::BF16,
            ..TinySpec::default()
        }),
        _ => None,
    }
}

fn apply(spec: &mut TinySpec, key: &str, value: &str) -> Result<(), String> {
    let number = || value.parse::<usize>().map_err(|_| format!("{key}={value}: not a whole number"));
    match key {
        "layers" => spec.layers = number()?,
        "hidden" => spec.hidden = number()?,
        "heads" => spec.heads = number()?,
        "kv_heads" => spec.kv_heads = number()?,
        "intermediate" => spec.intermediate = number()?,
        "vocab" => spec.vocab = number()?,
        "seed" => spec.seed = number()? as u64,
        "tied" => spec.tied = value.parse().map_err(|_| format!("tied={value}: not true or false"))?,
        "dtype" => {
            spec.dtype = match value {
                "f32" => DType::F32,
                "bf16" => DType::BF16,
                "f16" => DType::F16,
                _ => return Err(format!("dtype={value}: not f32, bf16 or f16")),
            }
        }
        _ => return Err(format!("unknown key {key:?}")),
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let (out, rest) = args.split_first().ok_or("usage: tiny_model OUT [SHAPE] [key=value ...]")?;
    let (mut spec, overrides) = match rest.split_first() {
        Some((first, more)) if !first.contains('=') => {
            (shape(first).ok_or_else(|| format!("unknown shape {first:?} (tiny, calibrated, qwen2.5-7b)"))?, more)
        }
        _ => (TinySpec::default(), rest),
    };
    for arg in overrides {
        let (key, value) = arg.split_once('=').ok_or_else(|| format!("{arg:?} is not key=value"))?;
        apply(&mut spec, key, value)?;
    }
    let started = std::time::Instant::now();
    tiny::write(&PathBuf::from(out), &spec, None).map_err(|e| e.to_string())?;
    println!(
        "wrote {out}: {} layers, hidden {}, {} heads / {} KV heads, intermediate {}, vocab {}, {:?}, in {:.1} s",
        spec.layers,
        spec.hidden,
        spec.heads,
        spec.kv_heads,
        spec.intermediate,
        spec.vocab,
        spec.dtype,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tiny_model: {e}");
            ExitCode::FAILURE
        }
    }
}
