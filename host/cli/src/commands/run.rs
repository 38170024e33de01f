//! `assay run`: the validator host, with its gateway (`[gateway]`) and verification loop
//! (`[verify]`) when the config has them.

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
        let services = node::Services::start(&host)?;
        services.stop_on_ctrl_c(stop.clone());
        let result = host.run(tick, args.epochs, &stop, &mut |published| services.epoch_closed(published));
        services.shutdown();
        result?;
        Ok(())
    }
    #[cfg(not(feature = "node"))]
    {
        if host.config.gateway.is_some() || host.config.verify.is_some() {
            return Err(unusable(anyhow::anyhow!(
                "this build of assay has no network stack: build with the default features to serve [gateway] or [verify]"
            )));
        }
        host.run(tick, args.epochs, &stop, &mut |_| {})?;
        Ok(())
    }
}

/// The network-facing services beside the epoch loop: the gateway and the verifier, on one
/// async runtime.
#[cfg(feature = "node")]
pub mod node {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use anyhow::{Context, anyhow};
    use assay_epoch::Published;
    use assay_gateway::{Gateway, Parts};
    use assay_miner_client::MinerClient;
    use assay_reference_engine::{ChatTokenizer, Engine};
    use assay_verify::Verifier;
    use tokio::sync::watch;

    use crate::host::Host;
    use crate::{Exit, failed, unusable};

    /// Requests in flight get this long to finish when the host stops.
    const GRACE: Duration = Duration::from_secs(10);
    /// Openings and completions a verifier waits for, at most.
    const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

    pub struct Services {
        pub runtime: tokio::runtime::Runtime,
        pub gateway: Option<Gateway>,
        pub verifier: Option<Verifier>,
        verifier_task: Option<tokio::task::JoinHandle<()>>,
        stop_verifier: watch::Sender<bool>,
    }

    impl Services {
        pub fn start(host: &Host) -> Result<Services, Exit> {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime").map_err(failed)?;
            let gateway = match host.config.gateway.clone() {
                None => None,
                Some(settings) => {
                    let epoch_settings = host.settings.clone();
                    let parts = Parts {
                        settings,
                        hotkey: host.hotkey.clone(),
                        chain: host.chain.clone(),
                        netuid: host.config.netuid,
                        ledger: host.ledger.clone(),
                        epoch_of_block: Arc::new(move |block| epoch_settings.epoch_of_block(block)),
                    };
                    Some(runtime.block_on(Gateway::start(parts)).map_err(unusable)?)
                }
            };
            let verifier = match host.config.verify.clone() {
                None => None,
                Some(settings) => Some(verifier(host, settings).map_err(unusable)?),
            };
            let (stop_verifier, stopped) = watch::channel(false);
            let verifier_task = verifier.clone().map(|v| runtime.spawn(v.run(stopped)));
            Ok(Services { runtime, gateway, verifier, verifier_task, stop_verifier })
        }

        /// Ctrl-C sets `stop`, which ends the epoch loop at its next step.
        pub fn stop_on_ctrl_c(&self, stop: Arc<AtomicBool>) {
            self.runtime.spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    tracing::info!("interrupted: closing down");
                    stop.store(true, Ordering::Relaxed);
                }
            });
        }

        /// The last epoch's weights steer the gateway's routing.
        pub fn epoch_closed(&self, published: &Published) {
            if let Some(gateway) = &self.gateway {
                let weights: Vec<(u16, f64)> =
                    published.summary.output.weights.iter().map(|w| (w.uid, f64::from(w.weight))).collect();
                gateway.set_scores(&weights);
            }
        }

        /// Stops both; every record and verdict reaches the ledger before this returns.
        pub fn shutdown(self) {
            let _ = self.stop_verifier.send(true);
            if let Some(task) = self.verifier_task {
                let _ = self.runtime.block_on(async { tokio::time::timeout(GRACE, task).await });
            }
            if let Some(gateway) = self.gateway {
                self.runtime.block_on(gateway.shutdown(GRACE));
            }
        }
    }

    fn verifier(host: &Host, settings: assay_verify::Settings) -> anyhow::Result<Verifier> {
        let digest = host.challenger()?.ok_or_else(|| {
            anyhow!("[verify] needs a challenger policy: set policy.challenger or run `assay policy activate`")
        })?;
        let digest = digest.parse().context("the active challenger setting")?;
        let bytes = host.policies.get(&digest)?;
        let challenger = host.runtime.load_challenger(&digest, &bytes).context("loading the challenger policy")?;
        let engine = Engine::load(&settings.model)
            .map_err(|e| anyhow!("loading the reference model {}: {e}", settings.model.display()))?;
        let tokenizer = ChatTokenizer::load(&settings.model)?;
        Ok(Verifier::new(assay_verify::Parts {
            settings,
            engine,
            tokenizer,
            challenger,
            limits: host.settings.limits,
            params: host.settings.params.clone(),
            client: MinerClient::new(host.hotkey.clone(), VERIFY_TIMEOUT),
            ledger: host.ledger.clone(),
            chain: host.chain.clone(),
            netuid: host.config.netuid,
            epoch_blocks: host.settings.epoch_blocks,
        }))
    }
}
