//! `assay chain …`: the local file-backed chain.

use std::path::PathBuf;

use anyhow::anyhow;
use assay_chain::{LocalChain, Metagraph};

use crate::commands::read;
use crate::{CmdResult, failed, unusable};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a local chain in DIR from a metagraph JSON file.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// `{"netuid": N, "neurons": [{"uid": 0, "hotkey": "5…", "stake": 0, …}]}`
        #[arg(long)]
        metagraph: PathBuf,
        #[arg(long, default_value_t = 12.0)]
        block_seconds: f64,
    },
    /// Print the weights log of a local chain.
    Weights {
        #[arg(long)]
        dir: PathBuf,
    },
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Init { dir, metagraph, block_seconds } => {
            if !block_seconds.is_finite() || block_seconds <= 0.0 {
                return Err(unusable(anyhow!("--block-seconds must be positive")));
            }
            if dir.join("genesis.json").exists() {
                return Err(unusable(anyhow!("{} already holds a chain", dir.display())));
            }
            let bytes = read(&metagraph, "metagraph")?;
            let metagraph: Metagraph =
                serde_json::from_slice(&bytes).map_err(|e| unusable(anyhow!("{}: {e}", metagraph.display())))?;
            LocalChain::create(&dir, &metagraph, block_seconds).map_err(failed)?;
            println!(
                "local chain for netuid {} with {} neurons in {}",
                metagraph.netuid,
                metagraph.neurons.len(),
                dir.display()
            );
            Ok(())
        }
        Command::Weights { dir } => {
            let chain = LocalChain::open(&dir).map_err(unusable)?;
            for entry in chain.weights_log().map_err(failed)? {
                let pairs: Vec<String> =
                    entry.call.uids.iter().zip(&entry.call.weights).map(|(u, w)| format!("{u}:{w}")).collect();
                println!("block {:>8}  {}  {}", entry.block, entry.validator, pairs.join(" "));
            }
            Ok(())
        }
    }
}
