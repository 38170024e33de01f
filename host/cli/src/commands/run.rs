//! `assay run`: the validator host, and its gateway when the config has a `[gateway]`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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
    let tick = Duration::from_millis(args.tick_ms.max(10));
    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(feature = "node")]
    {
        gateway::run(&mut host, tick, args.epochs, stop)
    }
    #[cfg(not(feature = "node"))]
    {
        if host.config.gateway.is_some() {
            return Err(unusable(anyhow::anyhow!(
                "this build of assay has no network stack: build with the default features to serve [gateway]"
            )));
        }
        host.run(tick, args.epochs, &stop, &mut |_| {})?;
        Ok(())
    }
}

#[cfg(feature = "node")]
mod gateway {
    use std::sync::Arc;

    use std::sync::atomic::Ordering;

    use anyhow::Context;
    use assay_gateway::{Gateway, Parts};

    use super::*;
    use crate::failed;

    /// Requests in flight get this long to finish when the host stops.
    const GRACE: Duration = Duration::from_secs(10);

    pub fn run(host: &mut Host, tick: Duration, epochs: Option<u64>, stop: Arc<AtomicBool>) -> CmdResult {
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime").map_err(failed)?;
        let stop_on_signal = stop.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("interrupted: closing down");
                stop_on_signal.store(true, Ordering::Relaxed);
            }
        });
        let Some(settings) = host.config.gateway.clone() else {
            host.run(tick, epochs, &stop, &mut |_| {})?;
            return Ok(());
        };
        let epoch_settings = host.settings.clone();
        let parts = Parts {
            settings,
            hotkey: host.hotkey.clone(),
            chain: host.chain.clone(),
            netuid: host.config.netuid,
            ledger: host.ledger.clone(),
            epoch_of_block: Arc::new(move |block| epoch_settings.epoch_of_block(block)),
        };
        let gateway = runtime.block_on(Gateway::start(parts)).map_err(unusable)?;
        let result = host.run(tick, epochs, &stop, &mut |published| {
            let weights: Vec<(u16, f64)> =
                published.summary.output.weights.iter().map(|w| (w.uid, f64::from(w.weight))).collect();
            gateway.set_scores(&weights);
        });
        // Whatever ended the loop, every recorded request reaches the ledger.
        runtime.block_on(gateway.shutdown(GRACE));
        result?;
        Ok(())
    }
}
