//! One module per subcommand.

pub mod audit;
pub mod chain;
#[cfg(feature = "node")]
pub mod config;
#[cfg(feature = "node")]
pub mod dev;
#[cfg(feature = "node")]
pub mod devnet;
#[cfg(feature = "node")]
pub mod engine;
#[cfg(feature = "node")]
pub mod epoch;
#[cfg(feature = "node")]
pub mod ledger;
#[cfg(feature = "node")]
pub mod miner;
pub mod policy;
#[cfg(feature = "node")]
pub mod run;
pub mod wallet;

use std::path::{Path, PathBuf};

use crate::{Exit, unusable};

/// `--config`, shared by the commands that act on a node's data.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// The node's config file.
    #[arg(long, short, default_value = "assay.toml")]
    pub config: PathBuf,
}

impl ConfigArg {
    #[cfg(feature = "node")]
    pub fn load(&self) -> Result<assay_node::Config, Exit> {
        assay_node::Config::load(&self.config).map_err(unusable)
    }
}

/// Reads a file, as unusable input when it cannot be read.
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>, Exit> {
    std::fs::read(path).map_err(|e| unusable(anyhow::anyhow!("reading {what} {}: {e}", path.display())))
}

/// A runtime for the async node, as a failed run when it cannot start.
#[cfg(feature = "node")]
pub fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Runtime::new().map_err(|e| crate::failed(anyhow::anyhow!("starting the async runtime: {e}")))
}
