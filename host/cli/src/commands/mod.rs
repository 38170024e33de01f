//! One module per subcommand.

pub mod argfile;
pub mod audit;
pub mod audit_history;
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
pub mod init;
#[cfg(feature = "node")]
pub mod ledger;
#[cfg(feature = "node")]
pub mod miner;
#[cfg(feature = "node")]
mod miner_args;
#[cfg(feature = "node")]
pub mod miner_chain;
pub mod policy;
#[cfg(feature = "node")]
pub mod run;
#[cfg(feature = "node")]
mod run_check;
pub mod wallet;
#[cfg(feature = "node")]
pub mod watch;
#[cfg(feature = "node")]
mod watch_audit;
#[cfg(feature = "node")]
mod watch_dashboard;
#[cfg(feature = "node")]
mod watch_loop;
#[cfg(feature = "node")]
mod watch_metrics;
#[cfg(feature = "node")]
mod watch_state;

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

/// `--wallet.name`, `--wallet.hotkey`, `--wallet.path`: the wallet flags of the Bittensor Python
/// tools (also under this command line's older names `--wallet`, `--hotkey`, `--wallet-root`).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletFlags {
    /// The wallet: its folder under --wallet.path.
    #[arg(long = "wallet.name", alias = "wallet", value_name = "NAME")]
    pub name: Option<String>,
    /// The hotkey: its file under `<wallet>/hotkeys/`.
    #[arg(long = "wallet.hotkey", alias = "hotkey", value_name = "NAME")]
    pub hotkey: Option<String>,
    /// The folder of wallets (default `~/.bittensor/wallets`, or `$BT_WALLET_PATH`).
    #[arg(long = "wallet.path", alias = "wallet-root", value_name = "DIR", value_parser = home_path)]
    pub path: Option<PathBuf>,
}

#[cfg(feature = "node")]
impl WalletFlags {
    /// The hotkey these flags name (`default` for an absent name), its password from the
    /// environment variable `password_env` or else asked on the terminal; `whose` says in an
    /// error whose hotkey it is.
    pub fn load_hotkey(&self, password_env: Option<&str>, whose: &str) -> anyhow::Result<assay_keys::Hotkey> {
        use anyhow::Context as _;
        let wallet = assay_keys::Wallet::new(
            self.path.as_deref(),
            self.name.as_deref().unwrap_or("default"),
            self.hotkey.as_deref().unwrap_or("default"),
        );
        let password = password_env.map_or(assay_keys::Password::Prompt, |v| assay_keys::Password::Env(v.to_string()));
        wallet.load_hotkey(&password).with_context(|| format!("loading {whose} hotkey"))
    }
}

/// A path with a leading `~` meaning the home folder, as the Python tools read `--wallet.path`
/// (a shell expands `--wallet.path ~/w`, but not `--wallet.path=~/w`).
fn home_path(text: &str) -> Result<PathBuf, String> {
    let rest = match text.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => return Ok(PathBuf::from(text)),
    };
    let home = std::env::var_os("HOME").ok_or("~ needs $HOME to be set")?;
    Ok(PathBuf::from(home).join(rest))
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
