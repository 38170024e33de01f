//! One module per subcommand.

pub mod audit;
pub mod chain;
#[cfg(feature = "node")]
pub mod detect;
pub mod dev;
#[cfg(feature = "node")]
pub mod devnet;
pub mod engine;
pub mod epoch;
pub mod ledger;
#[cfg(feature = "node")]
pub mod loadgen;
#[cfg(feature = "node")]
pub mod miner;
pub mod policy;
pub mod run;
pub mod wallet;

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::{Exit, unusable};

/// `--config`, shared by the commands that act on a host's data.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// The host's config file.
    #[arg(long, short, default_value = "assay.toml")]
    pub config: PathBuf,
}

impl ConfigArg {
    pub fn load(&self) -> Result<Config, Exit> {
        Config::load(&self.config).map_err(unusable)
    }
}

/// Reads a file, as unusable input when it cannot be read.
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>, Exit> {
    std::fs::read(path).map_err(|e| unusable(anyhow::anyhow!("reading {what} {}: {e}", path.display())))
}
