//! `assay run`: the validator node, with its gateway (`[gateway]`) and verification loop
//! (`[verify]`) when the config has them.

use std::time::Duration;

use assay_node::{Node, RunOptions};
use tokio::sync::watch;

use crate::commands::{ConfigArg, runtime};
use crate::{CmdResult, node_error};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Exit after closing this many epochs (for tests and demos).
    #[arg(long)]
    epochs: Option<u64>,
    /// How often to look at the chain, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
}

pub fn run(args: Args) -> CmdResult {
    let config = args.config.load()?;
    let runtime = runtime()?;
    let mut node = runtime.block_on(Node::open(config)).map_err(node_error)?;
    let (stop, stopped) = watch::channel(false);
    assay_lab::stop_on_ctrl_c(&runtime, stop);
    let options = RunOptions { tick: Duration::from_millis(args.tick_ms.max(10)), stop_after: args.epochs };
    runtime
        .block_on(node.run(options, stopped, &mut |closed| {
            let weights: Vec<String> =
                closed.summary.output.weights.iter().map(|w| format!("{}:{}", w.uid, w.weight)).collect();
            tracing::info!(epoch = closed.summary.epoch, summary = %closed.summary_key,
                scorer = %closed.summary.scorer.sha256, weights = %weights.join(" "), "epoch closed");
        }))
        .map_err(node_error)
}
