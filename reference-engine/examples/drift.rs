//! How far other computations of a model drift from the f32 CPU reference, per hidden state:
//! for each hidden state (0 = embeddings … L = final-normed) and the logits, the median and the
//! maximum over positions of ‖other − reference‖₂ / ‖reference‖₂. Prints a markdown table.
//! `scripts/gpu-check.sh` runs it with `cuda:0` (bf16 on the GPU: an honest miner's drift, which
//! the challenger's thresholds must tolerate) beside `cpu-bf16`.
//!
//!     cargo run --release -p assay-reference-engine --example drift -- MODEL_DIR SIDE [SIDE ...] [tokens=N]
//!
//! SIDE: a device (`cuda`, `cuda:N`; `cpu` gives zeros) or `cpu-bf16`: the CPU with every
//! activation rounded to bf16, the emulation the calibration uses.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assay_reference_engine::{Device, Engine, HiddenSelection, TeacherForced};

fn rel_l2(a: &[f32], reference: &[f32]) -> f64 {
    let d: f64 = a.iter().zip(reference).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let n: f64 = reference.iter().map(|y| f64::from(*y).powi(2)).sum();
    (d / n.max(1e-30)).sqrt()
}

/// Median and maximum of `values` (NaN sorts last, so a NaN shows up as the maximum).
fn median_max(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    match values.last() {
        Some(&max) => (values[values.len() / 2], max),
        None => (f64::NAN, f64::NAN),
    }
}

/// Per hidden state, then the logits: (median, max) over positions.
fn drift(other: &TeacherForced, reference: &TeacherForced, states: usize, n: usize, h: usize) -> Vec<(f64, f64)> {
    let mut rows: Vec<(f64, f64)> = (0..states)
        .map(|index| {
            let at = |t: &TeacherForced, p: usize| {
                let start = (index * n + p) * h;
                t.hidden[start..start + h].to_vec()
            };
            median_max((0..n).map(|p| rel_l2(&at(other, p), &at(reference, p))).collect())
        })
        .collect();
    rows.push(median_max(other.logits.iter().zip(&reference.logits).map(|(a, b)| rel_l2(a, b)).collect()));
    rows
}

fn run(args: &[String]) -> Result<(), String> {
    let (dir, rest) = args.split_first().ok_or("usage: drift MODEL_DIR SIDE [SIDE ...] [tokens=N]")?;
    let dir = PathBuf::from(dir);
    let mut tokens = 128usize;
    let mut sides = Vec::new();
    for arg in rest {
        match arg.strip_prefix("tokens=") {
            Some(v) => tokens = v.parse().map_err(|_| format!("{arg}: not a whole number"))?,
            None => sides.push(arg.clone()),
        }
    }
    if sides.is_empty() || tokens == 0 {
        return Err("name at least one side to compare, and at least one token".into());
    }
    let load = |device: Device| -> Result<Engine, String> {
        Engine::load_on(&dir, device).map_err(|e| format!("loading {} on {device}: {e}", dir.display()))
    };
    let mut cpu = load(Device::Cpu)?;
    let c = cpu.config().clone();
    let ids = token_ids(c.vocab_size, tokens);
    let positions: Vec<usize> = (0..tokens).collect();
    let pass = |engine: &Engine| -> Result<TeacherForced, String> {
        engine.teacher_forced(&ids, &HiddenSelection::All, &positions).map_err(|e| e.to_string())
    };
    let reference = pass(&cpu)?;
    let states = c.num_layers + 1;
    let mut columns = Vec::new();
    for side in &sides {
        let out = if side == "cpu-bf16" {
            cpu.set_bf16_activations(true);
            let out = pass(&cpu)?;
            cpu.set_bf16_activations(false);
            out
        } else {
            let device: Device = side.parse().map_err(|e| format!("{e} (or cpu-bf16)"))?;
            let engine = load(device)?;
            eprintln!("drift: {side} is {}", engine.device());
            pass(&engine)?
        };
        columns.push(drift(&out, &reference, states, tokens, c.hidden_size));
    }
    print_table(&dir, &c, tokens, &sides, &columns);
    // A NaN or an infinity is a broken computation, not drift: fail the check.
    if columns.iter().flatten().any(|(median, max)| !median.is_finite() || !max.is_finite()) {
        return Err("a drift is not finite (NaN or infinity in the compared pass)".into());
    }
    Ok(())
}

/// Pseudo-random ids (xorshift), the same every run.
fn token_ids(vocab: usize, n: usize) -> Vec<u32> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % vocab as u64) as u32
        })
        .collect()
}

fn print_table(
    dir: &Path,
    c: &assay_reference_engine::Config,
    tokens: usize,
    sides: &[String],
    columns: &[Vec<(f64, f64)>],
) {
    let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    println!(
        "Drift of `{name}` ({} layers, hidden {}, vocab {}), {tokens} tokens: relative L2 against the CPU f32 \
         reference, median / max over positions.",
        c.num_layers, c.hidden_size, c.vocab_size
    );
    println!();
    let header: Vec<String> = sides.iter().map(|s| format!("{s} median / max")).collect();
    println!("| hidden state | {} |", header.join(" | "));
    println!("| --- |{}", " --- |".repeat(sides.len()));
    for row in 0..=c.num_layers + 1 {
        let label = match row {
            0 => "0 (embeddings)".to_string(),
            r if r == c.num_layers => format!("{r} (final norm)"),
            r if r == c.num_layers + 1 => "logits".to_string(),
            r => r.to_string(),
        };
        let cells: Vec<String> = columns.iter().map(|col| format!("{:.2e} / {:.2e}", col[row].0, col[row].1)).collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drift: {e}");
            ExitCode::FAILURE
        }
    }
}
