//! `assay epoch close`: close one epoch now, as the node would at its boundary. Exit 1 when no
//! scorer could score it (it is closed and published unscored all the same).

use assay_node::Node;

use crate::commands::{ConfigArg, runtime};
use crate::{CmdResult, failed, node_error};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Score, publish and set weights for one epoch.
    Close {
        #[command(flatten)]
        config: ConfigArg,
        /// The epoch to close.
        #[arg(long)]
        epoch: u64,
    },
}

pub fn run(cmd: Command) -> CmdResult {
    let Command::Close { config, epoch } = cmd;
    let config = config.load()?;
    let runtime = runtime()?;
    let published = runtime.block_on(async {
        let mut node = Node::open(config).await.map_err(node_error)?;
        node.close_epoch(epoch).await.map_err(node_error)
    })?;
    let s = &published.closed.summary;
    println!("epoch {} closed: {}", s.epoch, published.closed.summary_key);
    println!("  scorer   {}", s.scorer.sha256);
    if let Some(f) = &s.scorer_fallback {
        println!("  fallback: {} failed: {}", f.failed_sha256, f.reason);
    }
    if let Some(u) = &s.unscored {
        println!("  UNSCORED ({}): {}; no weights are set", u.kind, u.reason);
    }
    if let Some(shadow) = &s.shadow {
        println!("  shadow   {} (the owner's announced scorer; output {})", shadow.scorer.sha256, shadow.output.key);
    }
    println!("  input    {} ({} requests, {} challenges)", s.input.sha256, s.input.requests, s.input.challenges);
    println!("  fuel     {}", s.output.fuel_used);
    for w in &s.output.weights {
        println!("  uid {:>5}  weight {:>5}", w.uid, w.weight);
    }
    let sent = &published.sent;
    match sent.weights.iter().find(|(e, _)| *e == epoch) {
        Some((_, block)) => println!("  weights set at block {block}"),
        None if s.output.weights.is_empty() => println!("  no weights to set"),
        None => match sent.errors.iter().find(|(e, _)| *e == epoch) {
            Some((_, reason)) => println!("  weights NOT set yet (queued, retried by `assay run`): {reason}"),
            None => println!("  weights queued"),
        },
    }
    if !sent.published.contains(&epoch) {
        println!("  NOT published yet (queued, retried by `assay run`)");
    }
    match &s.unscored {
        None => Ok(()),
        Some(u) => Err(failed(anyhow::anyhow!("epoch {epoch} was closed unscored: {}", u.reason))),
    }
}
