//! The validator host: the pieces a config names, opened once, and the epoch loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use assay_chain::{Chain, LocalChain};
use assay_epoch::{Closer, EpochSettings, LocalFolder, ObjectStore, Published, ScorerChoice};
use assay_keys::Hotkey;
use assay_ledger::Ledger;
use assay_policy_runtime::{Digest, PolicyStore, Runtime, Scorer};
use assay_policy_sdk::Param;
use tracing::{error, info, warn};

use crate::config::{ChainConfig, Config, PublishConfig};

/// Ledger settings the host reads at every epoch boundary; `assay policy activate` writes them.
pub const ACTIVE_SCORER: &str = "active_scorer";
pub const ACTIVE_CHALLENGER: &str = "active_challenger";

pub struct Host {
    pub config: Config,
    pub ledger: Arc<Ledger>,
    pub chain: Arc<dyn Chain>,
    pub store: Box<dyn ObjectStore>,
    pub policies: PolicyStore,
    pub runtime: Runtime,
    pub hotkey: Hotkey,
    pub settings: EpochSettings,
    /// The scorer of the last boundary: kept when a newly activated one cannot be loaded, and
    /// the fallback when the active one fails.
    current: Option<Scorer>,
}

impl Host {
    pub fn open(config: Config) -> Result<Self> {
        let ledger = Arc::new(Ledger::open(&config.ledger_path())?);
        let chain: Arc<dyn Chain> = match &config.chain {
            ChainConfig::Local { dir } => Arc::new(LocalChain::open(dir)?),
        };
        let store: Box<dyn ObjectStore> = match &config.publish {
            PublishConfig::Local { dir } => Box::new(LocalFolder::new(dir)),
        };
        let policies = PolicyStore::open(config.policy_dir())?;
        let runtime = Runtime::new(Some(&config.cache_dir()))?;
        let hotkey_path = config.hotkey_path();
        let hotkey = Hotkey::load(&hotkey_path)
            .with_context(|| "loading the validator hotkey (create one with `assay wallet create`)")?;
        let settings = EpochSettings {
            netuid: config.netuid,
            epoch_blocks: config.epoch_blocks,
            params: config
                .policy
                .params
                .iter()
                .map(|(name, value)| Param { name: name.clone(), value: *value })
                .collect(),
            limits: config.limits(),
            version_key: config.version_key,
        };
        let mut host = Self { config, ledger, chain, store, policies, runtime, hotkey, settings, current: None };
        // The scorer that closed the last epoch is the one to fall back on.
        if let Some(last) = host.ledger.last_scorer()? {
            match last.parse().map_err(anyhow::Error::from).and_then(|d| host.load_scorer(&d)) {
                Ok(scorer) => host.current = Some(scorer),
                Err(e) => warn!(scorer = %last, error = %format!("{e:#}"), "the last epoch's scorer cannot be loaded"),
            }
        }
        Ok(host)
    }

    fn load_scorer(&self, digest: &Digest) -> Result<Scorer> {
        let bytes = self.policies.get(digest)?;
        Ok(self.runtime.load_scorer(digest, &bytes)?)
    }

    /// The active scorer's digest: the ledger's setting, else the config's.
    pub fn wanted_scorer(&self) -> Result<Digest> {
        let wanted = match self.ledger.setting(ACTIVE_SCORER)? {
            Some(d) => d,
            None => self.config.policy.scorer.clone().context(
                "no scorer is active: set policy.scorer in the config or run `assay policy activate <sha256>`",
            )?,
        };
        wanted.parse().with_context(|| "the active scorer setting")
    }

    /// The scorers for this boundary. A newly activated scorer that fails to load is refused
    /// and the previous one keeps working.
    pub fn scorers_for_boundary(&mut self) -> Result<ScorerChoice> {
        let wanted = self.wanted_scorer()?;
        if let Some(current) = &self.current
            && current.digest() == wanted
        {
            return Ok(ScorerChoice { active: current.clone(), fallback: None });
        }
        match self.load_scorer(&wanted) {
            Ok(scorer) => {
                if let Some(previous) = &self.current {
                    info!(from = %previous.digest(), to = %wanted, "switching scorer at this epoch boundary");
                }
                let choice = ScorerChoice { active: scorer.clone(), fallback: self.current.clone() };
                self.current = Some(scorer);
                Ok(choice)
            }
            Err(e) => match &self.current {
                Some(current) => {
                    error!(wanted = %wanted, keeping = %current.digest(), error = %format!("{e:#}"),
                        "the activated scorer cannot be loaded; keeping the previous one");
                    Ok(ScorerChoice { active: current.clone(), fallback: None })
                }
                None => Err(e.context(format!("loading scorer {wanted}"))),
            },
        }
    }

    /// The active challenger's digest: the ledger's setting, else the config's.
    pub fn challenger(&self) -> Result<Option<String>> {
        Ok(self.ledger.setting(ACTIVE_CHALLENGER)?.or_else(|| self.config.policy.challenger.clone()))
    }

    pub fn close_epoch(&mut self, epoch: u64) -> Result<Published> {
        let scorers = self.scorers_for_boundary()?;
        let challenger = self.challenger()?;
        let closer = Closer {
            ledger: &self.ledger,
            chain: self.chain.as_ref(),
            store: self.store.as_ref(),
            policies: &self.policies,
            hotkey: &self.hotkey,
            settings: &self.settings,
        };
        let published = closer.close(epoch, &scorers, challenger)?;
        // A fallback means the newly active scorer failed: keep the one that worked.
        if published.summary.scorer_fallback.is_some() {
            self.current = scorers.fallback;
        }
        Ok(published)
    }

    /// Runs epochs until `stop_after` epochs were closed (forever when `None`) or `stop` is
    /// set: at every tick, the current epoch's seed is committed and every earlier open epoch is
    /// closed; `on_close` sees each published epoch.
    pub fn run(
        &mut self,
        tick: Duration,
        stop_after: Option<u64>,
        stop: &AtomicBool,
        on_close: &mut dyn FnMut(&Published),
    ) -> Result<()> {
        let mut closed = 0;
        info!(netuid = self.config.netuid, validator = %self.hotkey.ss58(), epoch_blocks = self.config.epoch_blocks,
            "validator host running");
        loop {
            let block = self.chain.current_block()?;
            let current = self.settings.epoch_of_block(block);
            self.ledger.epoch_seed(current, rand::random)?;
            // Epochs the host saw start (their seed is committed) and that have ended.
            for epoch in self.ledger.open_epochs(current)? {
                match self.close_epoch(epoch) {
                    Ok(p) => {
                        closed += 1;
                        let weights: Vec<String> =
                            p.summary.output.weights.iter().map(|w| format!("{}:{}", w.uid, w.weight)).collect();
                        info!(epoch, summary = %p.summary_key, scorer = %p.summary.scorer.sha256, weights = %weights.join(" "), "epoch closed");
                        on_close(&p);
                    }
                    Err(e) => {
                        error!(epoch, error = %format!("{e:#}"), "closing the epoch failed; it stays open and is retried");
                        break;
                    }
                }
                if stop_after.is_some_and(|n| closed >= n) {
                    return Ok(());
                }
            }
            // Sleep in short steps so that a stop request is seen quickly.
            let until = std::time::Instant::now() + tick;
            while std::time::Instant::now() < until {
                if stop.load(Ordering::Relaxed) {
                    info!("stopping");
                    return Ok(());
                }
                std::thread::sleep(
                    until.saturating_duration_since(std::time::Instant::now()).min(Duration::from_millis(50)),
                );
            }
        }
    }
}
