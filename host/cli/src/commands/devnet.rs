//! `assay devnet`: the whole system on one machine (`assay_lab::devnet`).

use std::path::PathBuf;

use assay_lab::devnet::DevnetOptions;

use crate::{CmdResult, lab_error};

#[derive(clap::Args)]
pub struct Args {
    /// Epochs to run before printing the table and exiting (runs until Ctrl-C when absent).
    #[arg(long)]
    epochs: Option<u64>,
    /// Where everything goes (models, chain, ledger, published epochs); a new temporary
    /// folder when absent.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds per epoch (one-second blocks).
    #[arg(long, default_value_t = 60)]
    epoch_seconds: u64,
    /// The validator's own requests per minute.
    #[arg(long, default_value_t = 240.0)]
    synthetic_per_minute: f64,
    /// Where the built policies are (`scripts/build-plugins.sh` writes them).
    #[arg(long, env = "ASSAY_PLUGIN_DIR", default_value = "target/plugins")]
    plugins: PathBuf,
    /// Add one hostile miner per attack of issue #10 and a stranger attacking the reference
    /// miners; fail when an honest miner was charged for anything (`scripts/soak.sh`).
    #[arg(long)]
    hostile: bool,
    /// Where the validator's web dashboard listens (a free loopback port when absent).
    #[arg(long, value_name = "ADDR")]
    dashboard_addr: Option<std::net::SocketAddr>,
}

pub fn run(args: Args) -> CmdResult {
    assay_lab::devnet::run(DevnetOptions {
        epochs: args.epochs,
        out: args.out,
        epoch_seconds: args.epoch_seconds,
        synthetic_per_minute: args.synthetic_per_minute,
        plugins: args.plugins,
        hostile: args.hostile,
        dashboard_addr: args.dashboard_addr,
        watchtower: Some(std::env::current_exe().map_err(|e| crate::failed(anyhow::anyhow!("locating assay: {e}")))?),
    })
    .map_err(lab_error)
}
