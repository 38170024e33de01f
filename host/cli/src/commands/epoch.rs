//! `assay epoch close`: close one epoch now, as the host would at its boundary.

use crate::commands::ConfigArg;
use crate::host::Host;
use crate::{CmdResult, unusable};

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
    match cmd {
        Command::Close { config, epoch } => {
            let mut host = Host::open(config.load()?).map_err(unusable)?;
            let published = host.close_epoch(epoch)?;
            let s = &published.summary;
            println!("epoch {} closed: {}", s.epoch, published.summary_key);
            println!("  scorer   {}", s.scorer.sha256);
            if let Some(f) = &s.scorer_fallback {
                println!("  fallback: {} failed: {}", f.failed_sha256, f.reason);
            }
            println!(
                "  input    {} ({} requests, {} challenges)",
                s.input.sha256, s.input.requests, s.input.challenges
            );
            println!("  fuel     {}", s.output.fuel_used);
            for w in &s.output.weights {
                println!("  uid {:>5}  weight {:>5}", w.uid, w.weight);
            }
            match published.weights {
                Ok(Some(block)) => println!("  weights set at block {block}"),
                Ok(None) => println!("  no weights to set"),
                Err(e) => println!("  weights NOT set: {e}"),
            }
            Ok(())
        }
    }
}
