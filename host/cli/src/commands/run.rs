//! `assay run`: the validator host.

use std::time::Duration;

use crate::commands::ConfigArg;
use crate::host::Host;
use crate::{CmdResult, unusable};

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
    let mut host = Host::open(config).map_err(unusable)?;
    host.run(Duration::from_millis(args.tick_ms.max(10)), args.epochs)?;
    Ok(())
}
