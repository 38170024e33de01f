//! `assay dev synth`: a deterministic synthetic workload, for trying the pipeline and for fixtures;
//! `assay dev mock-worker` and `assay dev load`: for measuring the gateway (see `loadgen`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use assay_epoch::synth::{Shape, generate};

use crate::{CmdResult, failed};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write `metagraph.json` and `records.jsonl` (for `assay chain init` and `assay ledger import`).
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        netuid: u16,
        #[arg(long, default_value_t = 16)]
        miners: u16,
        /// Requests per epoch.
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        /// Challenges per epoch.
        #[arg(long, default_value_t = 100)]
        challenges: u64,
        /// Epochs to generate, numbered from --first-epoch.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        #[arg(long, default_value_t = 0)]
        first_epoch: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// An OpenAI-style worker that answers at once: the peer for gateway benchmarks.
    #[cfg(feature = "node")]
    MockWorker(crate::commands::loadgen::MockArgs),
    /// Closed-loop load against an OpenAI-style endpoint; prints requests/s and latencies.
    #[cfg(feature = "node")]
    Load(crate::commands::loadgen::LoadArgs),
    /// The detection experiment: honest and cheating miners through the real verification
    /// path; prints the table of docs/verification.md.
    #[cfg(feature = "node")]
    Detect(crate::commands::detect::DetectArgs),
    /// Per-layer thresholds from honest runs (bf16 activations against the f32 reference).
    #[cfg(feature = "node")]
    Calibrate(crate::commands::detect::CalibrateArgs),
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Synth { out, netuid, miners, requests, challenges, epochs, first_epoch, seed } => {
            synth(out, Shape { netuid, miners: miners.max(1), requests, challenges, seed }, epochs, first_epoch)
        }
        #[cfg(feature = "node")]
        Command::MockWorker(args) => crate::commands::loadgen::mock_worker(args),
        #[cfg(feature = "node")]
        Command::Load(args) => crate::commands::loadgen::load(args),
        #[cfg(feature = "node")]
        Command::Detect(args) => crate::commands::detect::detect(args),
        #[cfg(feature = "node")]
        Command::Calibrate(args) => crate::commands::detect::calibrate(args),
    }
}

fn synth(out: PathBuf, shape: Shape, epochs: u64, first_epoch: u64) -> CmdResult {
    let io = |e: std::io::Error| failed(anyhow!("writing into {}: {e}", out.display()));
    std::fs::create_dir_all(&out).map_err(io)?;
    let mut records = std::io::BufWriter::new(std::fs::File::create(out.join("records.jsonl")).map_err(io)?);
    let mut metagraph = None;
    for epoch in first_epoch..first_epoch + epochs {
        let synth = generate(shape, epoch);
        for e in &synth.requests {
            let line = serde_json::json!({ "epoch": epoch, "task": e.task, "record": e.record });
            writeln!(records, "{line}").map_err(io)?;
        }
        for c in &synth.challenges {
            writeln!(records, "{}", serde_json::json!({ "epoch": epoch, "challenge": c })).map_err(io)?;
        }
        metagraph = Some(synth.metagraph);
    }
    records.flush().map_err(io)?;
    let metagraph = metagraph.unwrap_or_else(|| generate(shape, first_epoch).metagraph);
    std::fs::write(out.join("metagraph.json"), serde_json::to_vec_pretty(&metagraph).map_err(|e| failed(anyhow!(e)))?)
        .map_err(io)?;
    println!("wrote {} and {}", out.join("metagraph.json").display(), out.join("records.jsonl").display());
    Ok(())
}
