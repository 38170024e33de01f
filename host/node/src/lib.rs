//! The validator node: everything `assay run` does, as a library.
//!
//! Owns: the config ([`Config`]), opening the backends it names (chain, ledger, object store)
//! behind their traits, the chain view kept fresh for the request path, the epoch loop (commit
//! each epoch's seed, close ended epochs, send what closed epochs owe), both policy slots
//! (`slots`), the subnet owner's policy announcements (`announcement` their text, `owner` the
//! owner's command, `follow` the validators' side), the gateway, the verifier and the
//! commit-reveal round driver (`services`, `rounds`), the competition driver (`competition`), and
//! a [`Status`] snapshot.
//! Must not touch: command-line parsing or printing (the CLI's), and the logic of its parts
//! (each lives in its own crate: gateway, verify, epoch, ledger, chain, publish).

pub mod announcement;
mod close;
pub mod competition;
#[cfg(test)]
mod competition_tests;
pub mod config;
pub mod dashboard;
mod error;
pub mod follow;
mod metrics;
mod outgoing;
pub mod owner;
pub mod preflight;
#[cfg(test)]
mod refresh_tests;
pub mod rounds;
#[cfg(test)]
mod rounds_tests;
mod services;
pub mod slots;
mod status;
pub mod summary_commit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_chain::{Chain, ChainView, LocalChain};
use assay_epoch::AuditFolder;
use assay_keys::Hotkey;
use assay_ledger::{Ledger, SqliteLedger};
use assay_policy_runtime::{PolicyStore, Runtime};
use assay_policy_sdk::Param;
use assay_publish::{LocalFolder, ObjectStore, S3Credentials, S3Settings, S3Store};
use tokio::sync::watch;
use tracing::{error, info, warn};

pub use close::{Closed, Closer, EpochSettings, ScorerChoice};
pub use config::{
    ChainConfig, Config, ConfigError, DashboardConfig, LedgerConfig, MetricsConfig, OverrideError, Overrides,
    PolicyConfig, PublishConfig, WalletConfig,
};
pub use error::{Error, Result};
pub use outgoing::Sent;
pub use status::{LastClosed, Status, StatusHandle, Verdicts};

use crate::follow::{FollowReport, Follower};
use crate::outgoing::Drainer;
use crate::services::{Services, VerifierParts};
use crate::slots::{ChallengerSlot, PolicySource, ScorerSlot};

/// How `run` paces itself.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// How often the loop looks at the chain view.
    pub tick: Duration,
    /// Return after closing this many epochs (forever when `None`).
    pub stop_after: Option<u64>,
}

/// A closed epoch and what was sent of it right away.
#[derive(Debug, Clone)]
pub struct Published {
    pub closed: Closed,
    pub sent: Sent,
}

/// An open validator node.
pub struct Node {
    config: Config,
    ledger: Arc<dyn Ledger>,
    chain: Arc<dyn Chain>,
    view: ChainView,
    store: Arc<dyn ObjectStore>,
    source: PolicySource,
    hotkey: Hotkey,
    settings: EpochSettings,
    scorers: ScorerSlot,
    challengers: Option<Arc<ChallengerSlot>>,
    follower: Follower,
    drainer: Drainer,
    status: StatusHandle,
    /// What the web dashboard shows (the last closed epochs among it): made when first asked
    /// for, and the closes fill it only then.
    board: std::sync::OnceLock<dashboard::NodeBoard>,
    metrics: metrics::NodeMetrics,
    /// When retention last ran.
    pruned_at: Option<Instant>,
}

/// How often retention looks for bodies to drop.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The chain backend the config names; a subtensor chain signs with `hotkey`.
pub(crate) async fn open_chain(config: &ChainConfig, hotkey: &Hotkey) -> Result<Arc<dyn Chain>> {
    match config {
        ChainConfig::Local { dir, .. } => Ok(Arc::new(LocalChain::open(dir).map_err(|e| Error::Open {
            what: format!("the local chain in {}", dir.display()),
            reason: e.to_string(),
        })?)),
        ChainConfig::Subtensor { network, connect_timeout_ms, request_timeout_ms, inclusion_timeout_ms, .. } => {
            let open_error = |reason: String| Error::Open { what: format!("the subtensor chain {network}"), reason };
            let network: assay_subtensor::Network = network.parse().map_err(|e| open_error(format!("{e}")))?;
            let timeouts = assay_subtensor::Timeouts {
                connect: Duration::from_millis(*connect_timeout_ms),
                request: Duration::from_millis(*request_timeout_ms),
                inclusion: Duration::from_millis(*inclusion_timeout_ms),
            };
            let chain = assay_subtensor::SubtensorChain::connect(&network, Some(hotkey.clone()), timeouts)
                .await
                .map_err(|e| open_error(e.to_string()))?;
            info!(network = %network, "connected to subtensor");
            Ok(Arc::new(chain))
        }
    }
}

/// The object store the config names.
/// The publication the config names. An S3 store runs its client on its own small runtime
/// (`assay_publish::s3`): the trait stays synchronous for the audit path, which links no
/// async runtime.
pub(crate) fn open_store(config: &PublishConfig) -> Result<Arc<dyn ObjectStore>> {
    open_store_with(config, |_| {})
}

/// [`open_store`] with a bucket's settings changed by `tune` first (`run --check`: one try,
/// bounded by the check's timeout).
pub(crate) fn open_store_with(
    config: &PublishConfig,
    tune: impl FnOnce(&mut S3Settings),
) -> Result<Arc<dyn ObjectStore>> {
    match config {
        PublishConfig::Local { dir } => Ok(Arc::new(LocalFolder::new(dir))),
        PublishConfig::S3 { bucket, prefix, endpoint, region, access_key_env, secret_key_env } => {
            let credentials = match (access_key_env, secret_key_env) {
                (Some(access_key_env), Some(secret_key_env)) => S3Credentials::Env {
                    access_key_env: access_key_env.clone(),
                    secret_key_env: secret_key_env.clone(),
                },
                // The config check refused one without the other.
                _ => S3Credentials::Chain,
            };
            let mut settings = S3Settings::new(bucket, prefix, credentials);
            settings.endpoint = endpoint.clone();
            settings.region = region.clone();
            tune(&mut settings);
            let store = S3Store::open(settings).map_err(|e| Error::Open {
                what: format!("opening the publication s3://{bucket}/{prefix}"),
                reason: e.to_string(),
            })?;
            info!(store = %store.describe(), "publishing to S3");
            Ok(Arc::new(store))
        }
    }
}

/// The epoch schedule: the subnet's own where the chain has one (subtensor's tempo), else the
/// config's `epoch_blocks`. Read once at open: a tempo changed on chain takes effect at the
/// next start (logged there).
pub(crate) async fn epoch_schedule(config: &Config, chain: &dyn Chain) -> Result<assay_chain::Epochs> {
    let from_chain = chain.epochs(config.netuid).await.map_err(|e| Error::Open {
        what: format!("reading subnet {}'s epoch schedule from the {}", config.netuid, chain.describe()),
        reason: e.to_string(),
    })?;
    Ok(match from_chain {
        Some(epochs) => {
            info!(blocks = epochs.blocks(), offset = epochs.offset(), "epochs follow the subnet's tempo on chain");
            epochs
        }
        None => config.epochs(),
    })
}

/// The validator's hotkey, off the async threads (a password prompt and Argon2 block), loaded
/// before anything that signs with it (the chain does).
async fn load_hotkey(wallet: &WalletConfig) -> Result<Hotkey> {
    let wallet = wallet.clone();
    let loaded = tokio::task::spawn_blocking(move || wallet.load_hotkey()).await;
    let open = |reason: String, hint: &str| Error::Open { what: format!("loading the validator hotkey{hint}"), reason };
    match loaded {
        Ok(Ok(hotkey)) => Ok(hotkey),
        Ok(Err(e @ assay_keys::Error::Read { .. })) => {
            Err(open(e.to_string(), " (create one with `assay wallet create`)"))
        }
        Ok(Err(e)) => Err(open(e.to_string(), "")),
        Err(e) => Err(open(format!("the loading task ended: {e}"), "")),
    }
}

impl Node {
    /// Opens every part the config names and reads the chain once. Fails on anything the
    /// operator must fix (no hotkey, no chain, a challenger that does not load).
    pub async fn open(config: Config) -> Result<Self> {
        let hotkey = load_hotkey(&config.wallet).await?;
        let chain = open_chain(&config.chain, &hotkey).await?;
        let store = open_store(&config.publish)?;
        Self::open_parts(config, hotkey, chain, store).await
    }

    /// Opens the node with this chain and this object store instead of the config's (another
    /// backend, or a test's).
    pub async fn open_with(config: Config, chain: Arc<dyn Chain>, store: Arc<dyn ObjectStore>) -> Result<Self> {
        let hotkey = load_hotkey(&config.wallet).await?;
        Self::open_parts(config, hotkey, chain, store).await
    }

    async fn open_parts(
        config: Config,
        hotkey: Hotkey,
        chain: Arc<dyn Chain>,
        store: Arc<dyn ObjectStore>,
    ) -> Result<Self> {
        let ledger: Arc<dyn Ledger> =
            Arc::new(SqliteLedger::open(&config.ledger_path())?.with_reserve(config.ledger.reserve_bytes));
        let view = ChainView::connect(chain.as_ref(), config.netuid).await.map_err(|e| Error::Open {
            what: format!("reading subnet {} from the {}", config.netuid, chain.describe()),
            reason: e.to_string(),
        })?;
        let policies = PolicyStore::open(config.policy_dir())?;
        let runtime = Runtime::new(Some(&config.cache_dir()))?;
        let epochs = epoch_schedule(&config, chain.as_ref()).await?;
        let settings = EpochSettings {
            netuid: config.netuid,
            epochs,
            params: config
                .policy
                .params
                .iter()
                .map(|(name, value)| Param { name: name.clone(), value: *value })
                .collect(),
            limits: config.limits(),
            version_key: config.version_key,
            task_weights: config.task_weights(),
        };
        let source = PolicySource {
            ledger: ledger.clone(),
            policies,
            runtime,
            default_scorer: config.policy.scorer.clone(),
            default_challenger: config.policy.challenger.clone(),
        };
        let scorers = ScorerSlot::open(source.clone())?;
        let challengers = match config.verify {
            Some(_) => Some(ChallengerSlot::open(source.clone(), settings.epochs.of_block(view.head()))?),
            None => None,
        };
        let publication = config
            .policy
            .owner_publication
            .as_ref()
            .map(|dir| Arc::new(AuditFolder::new(dir, follow::MAX_POLICY_BYTES)) as Arc<dyn ObjectStore>);
        let follower = Follower::new(config.policy.follow_owner, config.policy.owner_hotkey.clone(), publication);
        let last_closed = ledger.last_closed()?.map(|c| c.epoch);
        let last_published = ledger.last_published()?;
        let status = StatusHandle::default();
        status.update(|s| {
            s.last_closed_epoch = last_closed;
            s.last_published = last_published;
            s.netuid = config.netuid;
            s.validator = hotkey.ss58();
            s.chain = chain.describe();
        });
        Ok(Self {
            board: std::sync::OnceLock::new(),
            config,
            ledger,
            chain,
            view,
            store,
            source,
            hotkey,
            settings,
            scorers,
            challengers,
            follower,
            drainer: Drainer::default(),
            status,
            metrics: metrics::NodeMetrics::default(),
            pruned_at: None,
        })
    }

    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// A handle on the status, updated while the node runs.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// The dashboard's data source (`assay_dashboard::serve` serves it), made on the first call:
    /// a node nobody asked for one keeps no history and tallies nothing at its closes.
    pub fn dashboard(&self) -> dashboard::NodeBoard {
        self.board
            .get_or_init(|| {
                dashboard::NodeBoard::new(
                    self.status.clone(),
                    self.ledger.clone(),
                    self.view.clone(),
                    self.settings.epochs,
                    self.store.clone(),
                )
            })
            .clone()
    }

    /// Closes `epoch` now and sends what it owes (`assay epoch close`).
    pub async fn close_epoch(&mut self, epoch: u64) -> Result<Published> {
        self.view.refresh_metagraph(self.chain.as_ref()).await?;
        let head = self.view.refresh_head(self.chain.as_ref()).await?;
        let closed = self.close(epoch, head)?;
        let sent = self.send().await?;
        Ok(Published { closed, sent })
    }

    /// Closes one epoch against the view's metagraph. Blocking (the ledger syncs, the scorer
    /// runs).
    fn close(&mut self, epoch: u64, head: u64) -> Result<Closed> {
        // An announced scorer due now becomes the active one before the slot reads it.
        let shadow = follow::scorer_at_close(&self.source, epoch)?;
        let mut scorers = self.scorers.for_boundary()?;
        scorers.shadow = shadow.filter(|sh| sh.digest() != scorers.active.digest());
        // The challenger noted for the epoch when it judged there, whether or not this process
        // verifies (none when no verifier ran during the epoch).
        let challenger = self.ledger.setting(&slots::challenger_of_epoch(epoch))?;
        let closer = Closer {
            ledger: self.ledger.as_ref(),
            policies: &self.source.policies,
            hotkey: &self.hotkey,
            settings: &self.settings,
            tally: self.board.get().is_some(),
        };
        let metagraph = (*self.view.metagraph()).clone();
        let closed = closer.close(epoch, metagraph, head, &scorers, challenger.clone())?;
        self.metrics.closed(&closed.stages);
        if closed.summary.scorer_fallback.is_some() {
            self.scorers.closed_with_fallback(scorers.fallback);
        }
        let s = &closed.summary;
        let weights = s.output.weights.iter().map(|w| (w.uid, w.weight)).collect();
        let last = LastClosed {
            epoch,
            summary_key: closed.summary_key.clone(),
            summary_sha256: closed.summary_sha256.clone(),
            scorer: s.scorer.sha256.clone(),
            shadow: s.shadow.as_ref().map(|sh| sh.scorer.sha256.clone()),
            challenger,
            weights,
            fuel_used: s.output.fuel_used,
            stages: closed.stages.iter().map(|(stage, s)| (stage.to_string(), *s)).collect(),
        };
        self.status.update(|st| {
            st.last_closed = Some(last);
            st.last_closed_epoch = st.last_closed_epoch.max(Some(epoch));
            st.scorer = self.scorers.current().map(|d| d.to_string());
        });
        if let Some(board) = self.board.get() {
            board.record(&closed);
        }
        Ok(closed)
    }

    /// The challenger that judges `epoch`'s challenges (noted for it on first ask); `None`
    /// without `[verify]`.
    pub fn challenger(&self, epoch: u64) -> Result<Option<String>> {
        match &self.challengers {
            None => Ok(None),
            Some(slot) => assay_verify::Challengers::for_epoch(slot.as_ref(), epoch)
                .map(|c| Some(c.digest().to_string()))
                .map_err(Error::Policy),
        }
    }

    /// Reads the subnet owner's commitment and follows what it announces, during epoch
    /// `current` (`[policy] follow_owner`; the loop does this once an epoch, before closing
    /// what ended). A chain that cannot be read is an error; a refused announcement is the
    /// report's (and logged). The report's lines go into the status.
    pub async fn follow_owner(&mut self, current: u64) -> Result<FollowReport> {
        let mut report = FollowReport { following: self.follower.enabled, ..FollowReport::default() };
        if self.follower.enabled {
            report.owner = self.follower.owner(&self.view.metagraph());
        }
        if let Some(owner) = report.owner.clone()
            && let Some(commitment) = self.follower.read(self.chain.as_ref(), self.config.netuid, &owner).await?
        {
            report.block = Some(commitment.block);
            report.malformed =
                announcement::Announced::read(&commitment.fields).malformed.iter().map(ToString::to_string).collect();
            let (follower, source, epochs) = (&self.follower, &self.source, self.settings.epochs);
            report.outcomes = tokio::task::block_in_place(|| follower.follow(source, epochs, current, &commitment))?;
        }
        let lines = report.lines();
        self.status.update(|s| s.announcements = lines);
        Ok(report)
    }

    /// Once an epoch the owner's announcements are read and followed (a failed read is retried
    /// shortly); at every tick a challenger swap that is due is made.
    async fn follow_step(&mut self, current: u64) {
        if self.follower.due(current) {
            let read = self.follow_owner(current).await;
            if let Err(e) = &read {
                warn!(epoch = current, error = %e, "reading the owner's announcements failed; retrying shortly");
            }
            self.follower.read_done(current, read.is_ok());
        }
        if let Err(e) = follow::challenger_at(self.ledger.as_ref(), current) {
            error!(epoch = current, error = %e, "making the announced challenger active failed; retrying at the next tick");
        }
    }

    /// Retention: drops the bodies of epochs closed and published more than
    /// `[ledger] keep_bodies_days` ago. Blocking.
    pub fn prune(&mut self) -> usize {
        self.pruned_at = Some(Instant::now());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let cutoff = now.saturating_sub(self.config.ledger.keep_bodies()).as_millis() as u64;
        match self.ledger.prune_bodies(cutoff) {
            Ok(0) => 0,
            Ok(dropped) => {
                info!(exchanges = dropped, days = self.config.ledger.keep_bodies_days, "retention: old bodies dropped");
                dropped
            }
            Err(e) => {
                error!(error = %e, "retention failed; retrying later");
                0
            }
        }
    }

    /// One pass over the outgoing queue: publishes and sends what closed epochs still owe.
    pub async fn send(&mut self) -> Result<Sent> {
        let validator = self.hotkey.ss58();
        let sent = self
            .drainer
            .pass(self.ledger.as_ref(), self.chain.as_ref(), self.store.as_ref(), self.config.netuid, &validator)
            .await?;
        self.status.update(|st| {
            if let Some(&last) = sent.weights.last() {
                st.weights_accepted = Some(last);
            }
            st.outgoing = sent.pending.clone();
            st.outgoing_errors = sent.errors.clone();
            if let Some(&last) = sent.published.iter().max() {
                st.last_published = st.last_published.max(Some(last));
            }
            st.weights_attempts = self.drainer.weights_attempts;
            st.weights_failures = self.drainer.weights_failures;
        });
        Ok(sent)
    }

    fn verifier_parts(
        &self,
        settings: assay_verify::Settings,
        challengers: Arc<ChallengerSlot>,
    ) -> Result<VerifierParts> {
        Ok(VerifierParts {
            settings,
            challengers,
            limits: self.settings.limits,
            params: self.settings.params.clone(),
            hotkey: self.hotkey.clone(),
            ledger: self.ledger.clone(),
            view: self.view.clone(),
            epochs: self.settings.epochs,
            miners: self.config.miners.clone(),
        })
    }

    /// Runs the node until `shutdown` turns true or `options.stop_after` epochs were closed:
    /// the chain view refreshed in the background, the gateway and the verifier when
    /// configured, and at every tick the current epoch's seed committed, every ended epoch
    /// closed (`on_close` sees each) and what closed epochs owe sent. On the way out every
    /// record and verdict is written and the outgoing queue gets a last pass.
    pub async fn run(
        &mut self,
        options: RunOptions,
        mut shutdown: watch::Receiver<bool>,
        on_close: &mut (dyn FnMut(&Closed) + Send),
    ) -> Result<()> {
        let services = Services::start(self).await?;
        self.status.update(|s| s.services_started = true);
        let (stop_refresh, refresh_stopped) = watch::channel(false);
        let refresher = tokio::spawn(refresh_view(
            self.chain.clone(),
            self.view.clone(),
            self.status.clone(),
            (self.config.chain.head_refresh(), self.config.chain.metagraph_refresh()),
            refresh_stopped,
        ));
        if let Some(g) = &services.gateway {
            self.status.update(|s| s.gateway = Some(format!("http://{}", g.local_addr())));
        }
        // Served until this function returns (dropping the server stops it).
        let _metrics_server = match self.serve_metrics(&services) {
            Ok(server) => server,
            Err(e) => {
                services.shutdown().await;
                let _ = stop_refresh.send(true);
                return Err(e);
            }
        };
        info!(netuid = self.config.netuid, validator = %self.hotkey.ss58(), epoch_blocks = self.settings.epochs.blocks(),
            chain = %self.chain.describe(), "validator node running");
        let result = self.epoch_loop(options, &mut shutdown, &services, on_close).await;
        services.shutdown().await;
        let _ = stop_refresh.send(true);
        let _ = refresher.await;
        if let Err(e) = self.send().await {
            error!(error = %e, "the last pass over the outgoing queue failed; it is retried at the next start");
        }
        result
    }

    /// The `[metrics]` server over the node's, the gateway's and the verifier's families.
    fn serve_metrics(&self, services: &Services) -> Result<Option<assay_metrics::MetricsServer>> {
        let Some(config) = &self.config.metrics else { return Ok(None) };
        let live = metrics::Live::new(self.view.clone(), self.settings.epochs, self.config.ledger_path());
        let registry = self.metrics.registry(self.status.clone(), live, services);
        let server = metrics::serve(config.listen, registry).map_err(|e| Error::Service(format!("metrics: {e}")))?;
        info!(address = %server.local_addr(), "serving metrics");
        self.status.update(|s| s.metrics = Some(format!("http://{}/metrics", server.local_addr())));
        Ok(Some(server))
    }

    async fn epoch_loop(
        &mut self,
        options: RunOptions,
        shutdown: &mut watch::Receiver<bool>,
        services: &Services,
        on_close: &mut (dyn FnMut(&Closed) + Send),
    ) -> Result<()> {
        let mut closed = 0;
        loop {
            let head = self.view.head();
            let current = self.settings.epochs.of_block(head);
            self.ledger.epoch_seed(current, rand::random)?;
            if let Some(challengers) = &self.challengers {
                // The boundary's swap happens here even when no challenge is judged.
                if let Err(e) = assay_verify::Challengers::for_epoch(challengers.as_ref(), current) {
                    error!(epoch = current, error = %e, "no challenger for this epoch");
                }
            }
            // Before closing: an announced scorer's shadow epoch may be one of those closed now.
            self.follow_step(current).await;
            for epoch in self.ledger.open_epochs(current)? {
                match tokio::task::block_in_place(|| self.close(epoch, head)) {
                    Ok(c) => {
                        closed += 1;
                        // An unscored epoch changes nothing: routing keeps the last scores.
                        if let Some(gateway) = services.gateway.as_ref().filter(|_| c.summary.unscored.is_none()) {
                            let weights: Vec<(u16, f64)> =
                                c.summary.output.weights.iter().map(|w| (w.uid, f64::from(w.weight))).collect();
                            gateway.set_scores(epoch, &weights);
                        }
                        on_close(&c);
                    }
                    Err(e) => {
                        error!(epoch, error = %e, "closing the epoch failed; it stays open and is retried");
                        break;
                    }
                }
                if options.stop_after.is_some_and(|n| closed >= n) {
                    return Ok(());
                }
            }
            if let Err(e) = self.send().await {
                warn!(error = %e, "reading the outgoing queue failed; retrying at the next tick");
            }
            if self.pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                tokio::task::block_in_place(|| self.prune());
            }
            self.update_status(head, current, services);
            tokio::select! {
                _ = tokio::time::sleep(options.tick) => {}
                _ = shutdown.wait_for(|s| *s) => {
                    info!("stopping");
                    return Ok(());
                }
            }
        }
    }

    fn update_status(&self, head: u64, epoch: u64, services: &Services) {
        let metagraph = self.view.snapshot();
        let verdicts = services.verifier.as_ref().map(|v| v.tallies()).unwrap_or_default();
        let gateway_counters = services.gateway.as_ref().map(|g| g.counters());
        self.status.update(|s| {
            s.gateway_counters = gateway_counters;
            s.head = head;
            s.epoch = epoch;
            s.metagraph_age_s = metagraph.metagraph_read.elapsed().as_secs_f64();
            s.miners = metagraph.metagraph.neurons.len();
            s.verdicts = verdicts
                .into_iter()
                .map(|(uid, t)| (uid, Verdicts { passed: t.passed, failed: t.failed, voided: t.voided }))
                .collect();
        });
    }
}

/// Keeps the chain view fresh: the head every `head_every`, the metagraph every
/// `metagraph_every`. A chain that cannot be read leaves the last view serving (its age grows
/// in the status, with the error); losing and regaining it are logged once each.
async fn refresh_view(
    chain: Arc<dyn Chain>,
    view: ChainView,
    status: StatusHandle,
    (head_every, metagraph_every): (Duration, Duration),
    mut stopped: watch::Receiver<bool>,
) {
    let mut metagraph_due = Instant::now() + metagraph_every;
    let mut failing = false;
    loop {
        // Back from an outage, the metagraph is read before the head moves on: an epoch that
        // ended meanwhile closes with the metagraph of now, not of before the outage.
        let mut result = Ok(());
        if failing || Instant::now() >= metagraph_due {
            result = view.refresh_metagraph(chain.as_ref()).await;
            if result.is_ok() {
                metagraph_due = Instant::now() + metagraph_every;
            }
        }
        if result.is_ok() {
            result = view.refresh_head(chain.as_ref()).await.map(|_| ());
        }
        match result {
            Err(e) if !failing => {
                failing = true;
                warn!(error = %e, chain = %chain.describe(), "the chain cannot be read; serving the last view");
                status.update(|s| s.chain_error = Some(e.to_string()));
            }
            Ok(()) if failing => {
                failing = false;
                info!(age_s = view.metagraph_age().as_secs_f64(), "the chain can be read again");
                status.update(|s| s.chain_error = None);
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(if failing { head_every * 5 } else { head_every }) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}
