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

/// Serves `app` on `host:port` until Ctrl-C, with `TCP_NODELAY` (streamed tokens go out at once,
/// without Nagle's delay). `what` names the server in logs.
#[cfg(feature = "node")]
pub fn serve_until_ctrl_c(host: &str, port: u16, app: axum::Router, what: &str) -> crate::CmdResult {
    use anyhow::Context;

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime").map_err(crate::failed)?;
    runtime.block_on(async move {
        let address = format!("{host}:{port}");
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address}"))
            .map_err(unusable)?;
        tracing::info!(address = %address, "{what} listening");
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
            .map_err(crate::failed)
    })
}

/// Reads a file, as unusable input when it cannot be read.
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>, Exit> {
    std::fs::read(path).map_err(|e| unusable(anyhow::anyhow!("reading {what} {}: {e}", path.display())))
}
