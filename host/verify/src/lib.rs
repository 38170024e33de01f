//! Verification: whether miners run the real model.
//!
//! Owns: the challenge loop. Every few seconds it offers the challenger policy (WASM) the
//! requests completed since the last round, with the epoch's secret seed; for each request the
//! policy picks, it asks the miner to open the chosen (layer, position) points at once (inside the
//! miner's open window, whatever the queue), checks the Merkle paths against the signed root, then
//! waits its turn for one teacher-forced reference pass over the miner's prompt and completion
//! tokens, measures (`measure`), lets the policy judge, and records the verdict in the ledger for
//! the scorer. Reference passes run on a bounded pool of blocking workers, never on the gateway's
//! request path; challenges waiting for one are bounded too (`max_pending`); planning and judging
//! (policy calls, up to their fuel) run on blocking threads too. A plan the policy runtime refuses
//! asks nothing of any miner. Every round also offers
//! the previous epoch's tail until that epoch is closed, so the end of an epoch is never
//! unchallenged.
//! Whose fault: a challenge that cannot be measured because of the miner's evidence (tokens past
//! the vocabulary, more tokens than were asked for, an opening missed or refused, no tokens at
//! all) fails, without a reference pass. One that cannot be
//! measured because of the validator itself (a stored body or evidence it cannot read back, a
//! body its template cannot render, its engine failing, a point its challenger put outside the
//! sequence, its judge failing) is void and logged at `error`: the miner is never charged for it.
//! Must not touch: routing, scoring, publication or the chain's weights.

mod measure;
mod metrics;
mod replay;
#[cfg(test)]
mod rounds_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assay_chain::{ChainView, Epochs, Metagraph};
use assay_ledger::{ChallengeRow, Exchange, Ledger, RequestKind};
use assay_miner_client::{Miner, MinerClient, verify_opening};
use assay_policy_runtime::{Challenger, Digest, Limits};
use assay_policy_sdk::{
    Candidate, Judgement, Measurements, MinerHistory, Opening, Param, PlanInput, PlannedChallenge, PointMeasurement,
    Verdict,
};
use assay_protocol::wire::{OpenRequest, ResponseExtension};
use assay_reference_engine::{ChatTokenizer, Device, Engine};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, error, info, warn};

pub use measure::{
    Challenge, MeasureError, Opened, ReferencePass, asked_tokens, check_points, check_sizes, cosine, expected_prompt,
    measure, rel_l2, tokens_judged,
};
pub use replay::{
    MAX_REPLAYED_POSITIONS, REPLAY_MISMATCH_FRACTION, REPLAY_TOLERANCE, ReplayPlan, check_replay, replay_params,
    token_replays,
};

/// `[verify]` in the node's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The reference model's directory (a Hugging Face snapshot layout).
    pub model: PathBuf,
    /// Where reference passes run: `auto` (the GPU when there is one), `cpu`, `cuda`, `cuda:N`.
    #[serde(default = "default_device")]
    pub device: Device,
    /// How often new requests are offered to the challenger.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Reference passes run at once.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// A miner has this long to answer an opening.
    #[serde(default = "default_open_timeout")]
    pub open_timeout_s: f64,
    /// Challenges planned and not yet recorded, at most: past it a round drops what it planned
    /// (the validator's limit; nobody is charged).
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// The share (0 to 1) of requests offered and not challenged that get a token-only check:
    /// one reference pass over the miner's tokens, no opening and no verdict, its per-token
    /// measurements recorded as a challenge's are (`token_checks`), for scorers that read them.
    #[serde(default)]
    pub token_check_share: f64,
    /// The model id (as requests name it) that `model` is the reference of: only requests for
    /// it are challenged or token-checked, so that a miner serving another task's model is
    /// never measured against the wrong reference. Absent: every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Whether the sampled tokens of a miner that signs the protocol's sampler are replayed on
    /// the reference's logits (docs/verification.md, "Replaying sampled tokens"). Off by
    /// default: `replay_tolerance` is calibrated only on the tiny CPU model, and an uncalibrated
    /// tolerance must never be what fails an honest miner; turn it on once it is calibrated for
    /// the served model on its GPU (the devnet turns it on for the tiny model).
    #[serde(default)]
    pub replay_sampled: bool,
    /// The largest logit difference between an honest miner and the reference that the replay
    /// forgives (logits, above 0 and at most 10; default [`REPLAY_TOLERANCE`]).
    #[serde(default = "default_replay_tolerance")]
    pub replay_tolerance: f64,
}

impl Settings {
    /// Settings for the model in `model`, everything else at its default.
    pub fn new(model: PathBuf) -> Self {
        Self {
            model,
            device: default_device(),
            interval_ms: default_interval(),
            workers: default_workers(),
            open_timeout_s: default_open_timeout(),
            max_pending: default_max_pending(),
            token_check_share: 0.0,
            model_id: None,
            replay_sampled: false,
            replay_tolerance: REPLAY_TOLERANCE,
        }
    }

    /// What serde cannot check: `Err((key, reason))` for the first bad value.
    pub fn check(&self) -> Result<(), (String, String)> {
        if !(self.open_timeout_s.is_finite() && self.open_timeout_s > 0.0) {
            return Err((
                "open_timeout_s".into(),
                format!("{} must be a positive, finite number of seconds", self.open_timeout_s),
            ));
        }
        if !(1..=100_000).contains(&self.max_pending) {
            return Err(("max_pending".into(), format!("{} must be from 1 to 100000", self.max_pending)));
        }
        if self.open_timeout_s > MAX_SECONDS {
            return Err(("open_timeout_s".into(), format!("{} must be at most {MAX_SECONDS} s", self.open_timeout_s)));
        }
        if self.interval_ms > MAX_SECONDS as u64 * 1000 {
            let reason = format!("{} must be at most {} ms", self.interval_ms, MAX_SECONDS as u64 * 1000);
            return Err(("interval_ms".into(), reason));
        }
        if self.workers == 0 {
            return Err(("workers".into(), "must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.token_check_share) {
            return Err(("token_check_share".into(), format!("{} must be from 0 to 1", self.token_check_share)));
        }
        if !(self.replay_tolerance > 0.0 && self.replay_tolerance <= MAX_REPLAY_TOLERANCE) {
            let reason = format!("{} must be above 0 and at most {MAX_REPLAY_TOLERANCE} logits", self.replay_tolerance);
            return Err(("replay_tolerance".into(), reason));
        }
        if self.interval_ms == 0 {
            return Err(("interval_ms".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The largest `replay_tolerance`: past it the replay excuses nearly any token.
const MAX_REPLAY_TOLERANCE: f64 = 10.0;

/// The longest duration a setting may name: a day (past what a clock holds, a longer one would
/// panic where it becomes a `Duration`).
const MAX_SECONDS: f64 = 86_400.0;

fn default_device() -> Device {
    Device::Auto
}
fn default_interval() -> u64 {
    2000
}
fn default_workers() -> usize {
    1
}
fn default_open_timeout() -> f64 {
    10.0
}
fn default_max_pending() -> usize {
    64
}
fn default_replay_tolerance() -> f64 {
    REPLAY_TOLERANCE
}

/// What a round offers the planner.
struct Offer {
    fresh: Vec<Exchange>,
    /// The requests of the epochs `fresh` comes from, by id (ids are random 63-bit numbers).
    records: HashMap<u64, assay_ledger::RequestRow>,
    /// Where the next round starts reading.
    reached: Offered,
}

/// Where the planner's reading of the ledger stands: (epoch, position of the last exchange
/// offered) for the current epoch and for the previous one's tail while it is not closed.
#[derive(Debug, Clone, Copy, Default)]
struct Offered {
    current: Option<(u64, i64)>,
    tail: Option<(u64, i64)>,
}

impl Offer {
    fn candidates(&self) -> Vec<Candidate> {
        self.fresh
            .iter()
            .filter_map(|x| self.records.get(&x.id))
            .map(|r| Candidate {
                request_id: r.id,
                uid: r.uid,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ledger: {0}")]
    Ledger(#[from] assay_ledger::Error),
    #[error("challenger policy: {0}")]
    Policy(#[from] assay_policy_runtime::Error),
    #[error("no challenger policy for epoch {epoch}: {reason}")]
    NoChallenger { epoch: u64, reason: String },
    /// Planning panicked on its blocking thread (a validator bug; nothing was recorded).
    #[error("planning panicked: {0}")]
    Planning(String),
}

/// A round's plan, with what starting its challenges needs.
struct Round {
    planned: Vec<PlannedChallenge>,
    exchanges: HashMap<u64, Exchange>,
    /// Planned requests that were decoded greedily.
    greedy: HashSet<u64>,
    /// Requests whose token check a policy needs: the validator's own greedy traffic (cacheon's
    /// correctness gate reads nothing else), which waits for a place in the queue.
    needed: HashSet<u64>,
    metagraph: Arc<Metagraph>,
}

/// How long a token check a policy needs waits for a place in the verification queue before it
/// is given up as the validator's fault (loudly).
const NEEDED_CHECK_WAIT: Duration = Duration::from_secs(120);

/// Which challenger policy judges the challenges recorded into an epoch. The node swaps
/// policies at epoch boundaries; asking per epoch means a verdict is always judged by the
/// policy that the epoch's signed summary names.
pub trait Challengers: Send + Sync {
    /// The challenger of `epoch` (loaded, and noted as that epoch's, on first request).
    fn for_epoch(&self, epoch: u64) -> Result<Challenger, String>;

    /// `challenger`'s plan for `epoch` was refused as its own fault (`reason`). True when
    /// another challenger takes `epoch` over: the same requests are then offered to it at the
    /// next round. By default none does, and they go unchallenged.
    fn plan_refused(&self, epoch: u64, challenger: Digest, reason: &str) -> bool {
        let _ = (epoch, challenger, reason);
        false
    }
}

/// What the verifier is started with.
pub struct Parts {
    pub settings: Settings,
    pub engine: Engine,
    pub tokenizer: ChatTokenizer,
    pub challengers: Arc<dyn Challengers>,
    pub limits: Limits,
    pub params: Vec<Param>,
    /// Signs opening requests, as it signs completions.
    pub client: MinerClient,
    pub ledger: Arc<dyn Ledger>,
    pub view: ChainView,
    pub epochs: Epochs,
}

/// Verdicts per miner since the verifier started, for the live view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: u32,
    pub failed: u32,
    pub voided: u32,
}

struct Inner {
    settings: Settings,
    engine: Engine,
    tokenizer: ChatTokenizer,
    stop_ids: Vec<u32>,
    challengers: Arc<dyn Challengers>,
    limits: Limits,
    params: Vec<Param>,
    client: MinerClient,
    ledger: Arc<dyn Ledger>,
    view: ChainView,
    epochs: Epochs,
    workers: Arc<Semaphore>,
    /// Challenges planned and not yet recorded, at most `max_pending`.
    pending: Arc<Semaphore>,
    /// (epoch, ledger position) of the last exchange offered to the planner: each is offered
    /// once, and a round reads only what was recorded since. `None` until the first round.
    offered: Mutex<Offered>,
    tallies: Mutex<BTreeMap<u16, Tally>>,
    metrics: metrics::VerifyMetrics,
}

#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl Verifier {
    pub fn new(parts: Parts) -> Self {
        let stop_ids = assay_reference_engine::stop_token_ids(parts.engine.config(), &parts.tokenizer);
        Self {
            inner: Arc::new(Inner {
                workers: Arc::new(Semaphore::new(parts.settings.workers.max(1))),
                pending: Arc::new(Semaphore::new(parts.settings.max_pending.max(1))),
                settings: parts.settings,
                engine: parts.engine,
                tokenizer: parts.tokenizer,
                stop_ids,
                challengers: parts.challengers,
                limits: parts.limits,
                params: parts.params,
                client: parts.client,
                ledger: parts.ledger,
                view: parts.view,
                epochs: parts.epochs,
                offered: Mutex::new(Offered::default()),
                tallies: Mutex::new(BTreeMap::new()),
                metrics: metrics::VerifyMetrics::default(),
            }),
        }
    }

    pub fn tallies(&self) -> BTreeMap<u16, Tally> {
        self.inner.tallies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds the verifier's families (challenges, verdicts by reason, reference-pass time, queue
    /// depth) to the registry a metrics server reads.
    pub fn register_metrics(&self, registry: &mut assay_metrics::prometheus_client::registry::Registry) {
        let inner = &self.inner;
        inner.metrics.register(registry, inner.pending.clone(), inner.settings.max_pending.max(1));
    }

    /// Registers the verifier's families, each with one example series, as a verifier that
    /// judged a challenge exposes them (for tools and tests that check names against what is
    /// served).
    pub fn describe_metrics(registry: &mut assay_metrics::prometheus_client::registry::Registry) {
        let example = metrics::VerifyMetrics::default();
        example.verdict(Verdict::Pass, "example");
        example.register(registry, Arc::new(Semaphore::new(1)), 1);
    }

    /// Rounds every `interval_ms` until `stopped`; challenges in flight are awaited.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.inner.settings.interval_ms.max(50));
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = async { let _ = stopped.wait_for(|s| *s).await.map(|_| ()); } => break,
            }
            match self.round(&mut in_flight).await {
                Ok(0) => {}
                Ok(n) => debug!(challenges = n, "challenges planned"),
                Err(e) => warn!(error = %e, "a verification round failed; retrying at the next"),
            }
            while in_flight.try_join_next().is_some() {}
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Offers the requests completed since the last round to the planner and starts the planned
    /// challenges in `tasks`; returns how many. Reading the ledger and planning block (the plan
    /// for up to its fuel), so they run off the async runtime the gateway shares.
    pub async fn round(&self, tasks: &mut tokio::task::JoinSet<()>) -> Result<usize, Error> {
        let verifier = self.clone();
        let round = tokio::task::spawn_blocking(move || verifier.plan_round())
            .await
            .map_err(|e| Error::Planning(e.to_string()))??;
        Ok(round.map_or(0, |round| self.start(round, tasks)))
    }

    /// Plans the exchanges not yet offered ([`Verifier::gather`]): `None` when there are none,
    /// or when the challenger's plan was refused.
    fn plan_round(&self) -> Result<Option<Round>, Error> {
        let inner = &self.inner;
        let block = inner.view.head();
        let epoch = inner.epochs.of_block(block);
        let offer = self.gather(epoch)?;
        let mark_offered = || *inner.offered.lock().unwrap_or_else(|p| p.into_inner()) = offer.reached;
        if offer.fresh.is_empty() {
            mark_offered();
            return Ok(None);
        }
        let metagraph = inner.view.metagraph();
        let input = self.plan_input(epoch, block, &offer, &metagraph)?;
        let challenger = inner.challengers.for_epoch(epoch).map_err(|reason| Error::NoChallenger { epoch, reason })?;
        let planned = match challenger.plan(&input, inner.limits) {
            Ok(planned) => planned,
            Err(e) if e.is_policy_fault() => {
                // The validator's own policy failed: no miner is charged, loudly.
                let digest = challenger.digest();
                if inner.challengers.plan_refused(epoch, digest, &e.to_string()) {
                    error!(epoch, challenger = %digest, error = %e,
                        "validator fault: the challenger's plan is refused; another challenger plans these requests");
                } else {
                    error!(epoch, challenger = %digest, error = %e, requests = offer.fresh.len(),
                        "validator fault: the challenger's plan is refused; these requests go unchallenged");
                    mark_offered();
                }
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        mark_offered();
        let greedy =
            offer.fresh.iter().filter(|x| offer.records.get(&x.id).is_some_and(|r| r.greedy)).map(|x| x.id).collect();
        let needed = offer
            .fresh
            .iter()
            .filter(|x| offer.records.get(&x.id).is_some_and(|r| r.greedy && r.kind == RequestKind::Synthetic))
            .map(|x| x.id)
            .collect();
        let exchanges = offer.fresh.into_iter().map(|x| (x.id, x)).collect();
        Ok(Some(Round { planned, exchanges, greedy, needed, metagraph }))
    }

    /// What the planner is offered: the fresh exchanges' requests and every miner's history.
    fn plan_input(&self, epoch: u64, block: u64, offer: &Offer, metagraph: &Metagraph) -> Result<PlanInput, Error> {
        let inner = &self.inner;
        let seed = inner.ledger.epoch_seed(epoch, rand::random)?;
        Ok(PlanInput {
            seed: seed.seed.to_vec(),
            layers: inner.engine.config().num_layers as u32,
            progress: inner.epochs.progress(block),
            candidates: offer.candidates(),
            history: self.history(epoch, block, metagraph, &offer.records)?,
            params: inner.params.clone(),
        })
    }

    /// Starts a round's planned challenges in `tasks`; returns how many.
    fn start(&self, round: Round, tasks: &mut tokio::task::JoinSet<()>) -> usize {
        let inner = &self.inner;
        let mut started = 0;
        let planned: HashSet<u64> = round.planned.iter().map(|p| p.request_id).collect();
        for plan in round.planned {
            let Some(exchange) = round.exchanges.get(&plan.request_id).cloned() else {
                warn!(request = plan.request_id, "the challenger planned a request it was not offered");
                continue;
            };
            let axon = round.metagraph.neurons.iter().find(|n| n.uid == exchange.uid).and_then(|n| n.axon.clone());
            let Some(base_url) = axon else { continue };
            // The queue is the validator's: a challenge it has no room for is dropped, and
            // nobody is charged for it.
            let Ok(queued) = inner.pending.clone().try_acquire_owned() else {
                inner.metrics.dropped();
                warn!(
                    request = exchange.id,
                    uid = exchange.uid,
                    pending = inner.settings.max_pending,
                    "the verification queue is full: a planned challenge is dropped (nobody is charged)"
                );
                continue;
            };
            let miner = Miner { base_url, hotkey: exchange.miner_hotkey.clone() };
            let points: Vec<[u32; 2]> = plan.points.iter().map(|&(l, p)| [l, p]).collect();
            let verifier = self.clone();
            let greedy = round.greedy.contains(&exchange.id);
            inner.metrics.started();
            tasks.spawn(async move {
                verifier.challenge(exchange, miner, points, greedy).await;
                drop(queued);
            });
            started += 1;
        }
        // After the challenges, which come first in the queue.
        self.start_token_checks(&planned, &round.exchanges, &round.greedy, &round.needed, tasks);
        started
    }

    /// Token-only checks for a share (`token_check_share`) of the round's requests that were
    /// not challenged, within the same queue as challenges. When the queue is full a check is
    /// skipped, except a `needed` one, which waits up to [`NEEDED_CHECK_WAIT`] for a place: a
    /// policy that gates on checked tokens would otherwise charge a miner for the validator's
    /// queue. The waits are bounded by the round's requests (the validator's own traffic).
    fn start_token_checks(
        &self,
        planned: &HashSet<u64>,
        exchanges: &HashMap<u64, Exchange>,
        greedy: &HashSet<u64>,
        needed: &HashSet<u64>,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        let inner = &self.inner;
        let share = inner.settings.token_check_share;
        if share <= 0.0 {
            return;
        }
        for (id, exchange) in exchanges {
            if planned.contains(id) || !rand::Rng::gen_bool(&mut rand::thread_rng(), share.min(1.0)) {
                continue;
            }
            let (verifier, exchange, greedy) = (self.clone(), exchange.clone(), greedy.contains(id));
            match inner.pending.clone().try_acquire_owned() {
                Ok(queued) => {
                    tasks.spawn(async move {
                        verifier.token_check(exchange, greedy).await;
                        drop(queued);
                    });
                }
                Err(_) if needed.contains(id) => {
                    let pending = inner.pending.clone();
                    tasks.spawn(async move {
                        match tokio::time::timeout(NEEDED_CHECK_WAIT, pending.acquire_owned()).await {
                            Ok(Ok(queued)) => {
                                verifier.token_check(exchange, greedy).await;
                                drop(queued);
                            }
                            _ => error!(
                                request = exchange.id,
                                uid = exchange.uid,
                                "validator fault: a needed token check found no place in the verification queue"
                            ),
                        }
                    });
                }
                Err(_) => {}
            }
        }
    }

    /// One token-only check: a reference pass over the miner's tokens (no hidden state is
    /// opened), its token measurements recorded. Nothing is judged, so nothing here can fail a
    /// miner; what cannot be measured is logged and dropped.
    async fn token_check(&self, exchange: Exchange, greedy: bool) {
        let ext = match evidence_of(&exchange) {
            Ok(ext) => ext,
            Err(e) => return debug!(request = exchange.id, error = %e, "no token check: the evidence is unusable"),
        };
        let Ok(_worker) = self.inner.workers.clone().acquire_owned().await else { return };
        let verifier = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let inner = &verifier.inner;
            let reference = Reference { pass: &inner.engine, tokenizer: &inner.tokenizer, stop_ids: &inner.stop_ids };
            // No points: the pass computes only the logits that rank the completion's tokens.
            let none = Opened { points: Vec::new(), vectors: Vec::new() };
            // No replay: nothing is judged here, and a replay's result would have nowhere to go.
            let measured = match assess(&reference, &exchange, &ext, Some(none), Opening::Verified, greedy, None) {
                Ok(measured) => measured,
                Err(e) => {
                    warn!(request = exchange.id, uid = exchange.uid, error = %e, "a token check could not be measured");
                    return;
                }
            };
            let Some(row) = token_row(&exchange, &measured) else { return };
            let epoch = inner.epochs.of_block(inner.view.head());
            // Into the next epoch when this one is closing, as challenges go.
            for epoch in [epoch, epoch + 1] {
                match inner.ledger.record_token_checks(epoch, std::slice::from_ref(&row)) {
                    Err(assay_ledger::Error::Frozen(_)) => continue,
                    Err(e) => warn!(epoch, request = exchange.id, error = %e, "recording a token check failed"),
                    Ok(_) => {}
                }
                return;
            }
        })
        .await;
    }

    /// The exchanges not yet offered to the planner: this epoch's since the last round, and the
    /// previous epoch's tail (recorded after its last round, which a recorder that read its
    /// epoch just before the boundary may still write) until that epoch is closed, so that the
    /// end of an epoch is no safe window for cheating.
    fn gather(&self, epoch: u64) -> Result<Offer, Error> {
        let inner = &self.inner;
        let offered = *inner.offered.lock().unwrap_or_else(|p| p.into_inner());
        let (after, tail) = match offered.current {
            Some((e, after)) if e == epoch => (after, offered.tail),
            Some((e, after)) if e + 1 == epoch => (0, Some((e, after))),
            _ => (0, None),
        };
        let mut offer =
            Offer { fresh: Vec::new(), records: HashMap::new(), reached: Offered { current: None, tail: None } };
        if let Some((previous, tail_after)) = tail {
            // Closed means frozen first: nothing more can be recorded there after this read.
            let closed = inner.ledger.last_closed()?.is_some_and(|c| c.epoch >= previous);
            let reached = self.read(previous, tail_after, &mut offer)?;
            offer.reached.tail = (!closed).then_some((previous, reached));
        }
        offer.reached.current = Some((epoch, self.read(epoch, after, &mut offer)?));
        Ok(offer)
    }

    /// Adds `epoch`'s exchanges after position `after` to `offer`; returns the last position.
    fn read(&self, epoch: u64, after: i64, offer: &mut Offer) -> Result<i64, Error> {
        let inner = &self.inner;
        let exchanges = inner.ledger.exchanges_after(epoch, after)?;
        let Some(&(last, _)) = exchanges.last() else { return Ok(after) };
        offer.records.extend(inner.ledger.requests(epoch)?.into_iter().map(|e| (e.record.id, e.record)));
        let ours = |x: &Exchange| inner.settings.model_id.as_deref().is_none_or(|id| model_of(x) == Some(id));
        offer.fresh.extend(exchanges.into_iter().map(|(_, x)| x).filter(ours));
        Ok(last)
    }

    /// What the planner knows of each miner: `challenged` counts this epoch's challenges,
    /// `recent_failures` this epoch's and the previous one's.
    fn history(
        &self,
        epoch: u64,
        block: u64,
        metagraph: &Metagraph,
        records: &HashMap<u64, assay_ledger::RequestRow>,
    ) -> Result<Vec<MinerHistory>, Error> {
        let inner = &self.inner;
        let this_epoch = inner.ledger.challenges(epoch)?;
        let previous = if epoch > 0 { inner.ledger.challenges(epoch - 1)? } else { Vec::new() };
        Ok(metagraph
            .neurons
            .iter()
            .map(|n| MinerHistory {
                uid: n.uid,
                new: inner.epochs.is_new(n.registered_at_block, block, 2),
                challenged: this_epoch.iter().filter(|c| c.uid == n.uid).count() as u32,
                recent_failures: this_epoch
                    .iter()
                    .chain(&previous)
                    .filter(|c| c.uid == n.uid && c.verdict == assay_ledger::Verdict::Fail)
                    .count() as u32,
                completed: records.values().filter(|r| r.uid == n.uid && r.outcome == assay_ledger::Outcome::Ok).count()
                    as u32,
            })
            .collect())
    }

    /// One challenge: open, measure, judge, record. The opening is asked for at once, inside
    /// the miner's open window; only the reference pass waits for a worker, so a queue of
    /// passes never makes an honest miner miss its window.
    async fn challenge(&self, exchange: Exchange, miner: Miner, points: Vec<[u32; 2]>, greedy: bool) {
        let inner = &self.inner;
        let ext = match evidence_of(&exchange) {
            Ok(ext) => ext,
            Err(e) => return self.record_off_runtime(exchange, Err(e), None).await,
        };
        // A point the challenger put outside the sequence would fail even an honest miner's
        // opening: settle it before asking.
        let positions = ext.prompt_token_ids.len() + ext.completion_token_ids.len();
        let planned: Vec<(u32, u32)> = points.iter().map(|p| (p[0], p[1])).collect();
        if let Err(e) = check_points(&planned, positions, inner.engine.config().num_layers as u32) {
            return self.record_off_runtime(exchange, Err(e), None).await;
        }
        let (opened, failure, response_ms) = match self.open(&exchange, &miner, &ext, &points, planned).await {
            Ok(opening) => opening,
            Err(e) => return self.record_off_runtime(exchange, Err(e), None).await,
        };
        let Ok(_worker) = inner.workers.clone().acquire_owned().await else { return };
        let (request, uid) = (exchange.id, exchange.uid);
        let verifier = self.clone();
        let judged = tokio::task::spawn_blocking(move || {
            let inner = &verifier.inner;
            let reference = Reference { pass: &inner.engine, tokenizer: &inner.tokenizer, stop_ids: &inner.stop_ids };
            let started = std::time::Instant::now();
            let replay = inner.settings.replay_sampled.then_some(inner.settings.replay_tolerance);
            let measured = assess(&reference, &exchange, &ext, opened, failure, greedy, replay);
            inner.metrics.reference_pass(started.elapsed().as_secs_f64());
            verifier.record(&exchange, measured, response_ms);
        })
        .await;
        if judged.is_err() {
            // Nothing is recorded: the miner is not charged for the validator's panic.
            error!(request, uid, "validator fault: a reference pass panicked; the challenge is dropped");
        }
    }

    /// Asks the miner to open `points` within the open timeout and checks the answer against
    /// its commitment; also says how long the miner took to answer (milliseconds by the
    /// validator's clock, `None` when no answer came). A request that never left the validator
    /// (no descriptor, memory or local port) is its own fault, not a missed opening.
    async fn open(
        &self,
        exchange: &Exchange,
        miner: &Miner,
        ext: &ResponseExtension,
        points: &[[u32; 2]],
        planned: Vec<(u32, u32)>,
    ) -> Result<(Option<Opened>, Opening, Option<f64>), MeasureError> {
        let inner = &self.inner;
        let hidden = inner.engine.config().hidden_size;
        let asked = OpenRequest { request_id: ext.request_id.clone(), points: points.to_vec() };
        let timeout = Duration::try_from_secs_f64(inner.settings.open_timeout_s.max(0.1)).unwrap_or(Duration::MAX);
        // The client times the miner alone (from sending to the answer's last byte, once it has
        // the miner's one opening slot), and bounds it by the timeout from then.
        Ok(match inner.client.open(miner, &asked, hidden, timeout).await {
            Err(e) if assay_miner_client::is_validator_fault(&e) => {
                return Err(MeasureError::Host(format!("the validator could not ask for the opening: {e}")));
            }
            Err(e) => {
                debug!(uid = exchange.uid, error = %e, "opening failed");
                (None, Opening::Missed, None)
            }
            Ok(answer) => {
                let response_ms = Some(answer.elapsed.as_secs_f64() * 1e3);
                let response = answer.response;
                match verify_opening(ext, points, &response, hidden) {
                    Ok(vectors) => (Some(Opened { points: planned, vectors }), Opening::Verified, response_ms),
                    Err(e) => {
                        debug!(uid = exchange.uid, error = %e, "opening refused");
                        (None, Opening::Invalid, response_ms)
                    }
                }
            }
        })
    }

    /// Records a verdict reached without a reference pass, on a blocking thread (the ledger
    /// syncs to disk).
    async fn record_off_runtime(
        &self,
        exchange: Exchange,
        assessment: Result<Measurements, MeasureError>,
        response_ms: Option<f64>,
    ) {
        let verifier = self.clone();
        let _ = tokio::task::spawn_blocking(move || verifier.record(&exchange, assessment, response_ms)).await;
    }

    /// Judges and records a challenge into the current epoch (the next, if the current one is
    /// closing), with the challenger of the epoch it is recorded into. Blocking: the ledger
    /// syncs to disk. `response_ms` is how long the miner took to answer the opening.
    fn record(&self, exchange: &Exchange, assessment: Result<Measurements, MeasureError>, response_ms: Option<f64>) {
        let inner = &self.inner;
        let mut bump = 0;
        for attempt in 0..50 {
            let epoch = inner.epochs.of_block(inner.view.head()) + bump;
            let (points, judgement) = self.judge(epoch, exchange, &assessment);
            let row = ChallengeRow::from_record(&assay_policy_sdk::Challenge {
                request_id: exchange.id,
                uid: exchange.uid,
                points,
                verdict: judgement.verdict,
                reason: judgement.reason.clone(),
                response_ms,
            });
            match inner.ledger.record_challenges(epoch, std::slice::from_ref(&row)) {
                Ok(_) => {
                    self.tally(exchange, &judgement);
                    self.record_tokens(epoch, exchange, &assessment);
                    return;
                }
                Err(assay_ledger::Error::Frozen(_)) => bump += 1,
                Err(e) => {
                    warn!(error = %e, attempt, "recording a challenge failed; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        error!(request = exchange.id, uid = exchange.uid, "a challenge could not be recorded");
    }

    /// Records the measured completion tokens (rank, log-prob, top log-prob under the
    /// reference) beside the challenge, for scorers that read them. Best effort: a failed write
    /// is the validator's and is logged, never a verdict.
    fn record_tokens(&self, epoch: u64, exchange: &Exchange, assessment: &Result<Measurements, MeasureError>) {
        let Some(row) = assessment.as_ref().ok().and_then(|m| token_row(exchange, m)) else { return };
        if let Err(e) = self.inner.ledger.record_token_checks(epoch, std::slice::from_ref(&row)) {
            warn!(epoch, request = exchange.id, uid = exchange.uid, error = %e, "recording a token check failed");
        }
    }

    /// The verdict of `epoch`'s challenger on what `assess` returned. A challenger that cannot
    /// be had or fails is the validator's problem: Void with an error log, never the miner's
    /// Fail.
    fn judge(
        &self,
        epoch: u64,
        exchange: &Exchange,
        assessment: &Result<Measurements, MeasureError>,
    ) -> (Vec<PointMeasurement>, Judgement) {
        let inner = &self.inner;
        verdict_of(exchange, assessment.clone(), |m| {
            let verdict = inner
                .challengers
                .for_epoch(epoch)
                .and_then(|challenger| challenger.judge(m, inner.limits).map_err(|e| e.to_string()));
            verdict.unwrap_or_else(|e| {
                // The policy is the validator's: its failure is the validator's too.
                error!(epoch, request = exchange.id, uid = exchange.uid, error = %e, "validator fault: the judge failed");
                Judgement { verdict: Verdict::Void, reason: format!("validator fault: the judge failed: {e}") }
            })
        })
    }

    fn tally(&self, exchange: &Exchange, judgement: &Judgement) {
        self.inner.metrics.verdict(judgement.verdict, &judgement.reason);
        let mut tallies = self.inner.tallies.lock().unwrap_or_else(|p| p.into_inner());
        let t = tallies.entry(exchange.uid).or_default();
        match judgement.verdict {
            Verdict::Pass => t.passed += 1,
            Verdict::Fail => t.failed += 1,
            Verdict::Void => t.voided += 1,
        }
        if judgement.verdict == Verdict::Fail {
            info!(uid = exchange.uid, request = exchange.id, reason = %judgement.reason, "challenge failed");
        }
    }
}

/// What the validator measures a challenge with: its reference pass, tokenizer and stop tokens.
struct Reference<'a, R: ReferencePass + ?Sized> {
    pass: &'a R,
    tokenizer: &'a ChatTokenizer,
    stop_ids: &'a [u32],
}

/// The miner's evidence as the recorder stored it.
///
/// None stored is the miner's fault: the ledger keeps `None` for a miner that sent no evidence
/// (today the recorder charges that when it records the request, as a bad response, and stores
/// no exchange at all). Evidence stored but unreadable is the validator's: the recorder parsed
/// it and checked the miner's signature before writing it, so a copy that no longer parses was
/// damaged in the ledger or is read by a verifier that disagrees with the recorder on its format.
fn evidence_of(exchange: &Exchange) -> Result<ResponseExtension, MeasureError> {
    let stored =
        exchange.evidence.as_deref().ok_or_else(|| MeasureError::Miner("the miner sent no evidence".into()))?;
    let unreadable = |e: serde_json::Error| MeasureError::Host(format!("the stored evidence does not parse: {e}"));
    let value: Value = serde_json::from_str(stored).map_err(unreadable)?;
    serde_json::from_value(value["assay"].clone()).map_err(unreadable)
}

/// The model a stored request body names (`None` when it cannot be read: such a body is
/// not this reference's to judge).
fn model_of(exchange: &Exchange) -> Option<&str> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        model: std::borrow::Cow<'a, str>,
    }
    let named: Named<'_> = serde_json::from_str(&exchange.request).ok()?;
    match named.model {
        std::borrow::Cow::Borrowed(model) => Some(model),
        // An escaped name: compare through the body (rare; never a model id we serve unescaped).
        std::borrow::Cow::Owned(_) => None,
    }
}

/// The ledger's row of a request's measured tokens (`None` when none were measured), bounded.
fn token_row(exchange: &Exchange, measured: &Measurements) -> Option<assay_ledger::TokenCheckRow> {
    (!measured.tokens.is_empty()).then(|| assay_ledger::TokenCheckRow {
        request_id: exchange.id,
        uid: exchange.uid,
        tokens: measured.tokens.iter().take(assay_ledger::MAX_TOKEN_CHECKS).cloned().collect(),
    })
}

/// The blocking half of a challenge, before the judge: the validator's own rendering of the body
/// it sent, then the reference pass over the miner's tokens. `replay_tolerance`: replay sampled
/// tokens with it (`[verify] replay_sampled`), or `None` for no replay.
fn assess<R: ReferencePass + ?Sized>(
    reference: &Reference<'_, R>,
    exchange: &Exchange,
    ext: &ResponseExtension,
    opened: Option<Opened>,
    failure: Opening,
    greedy: bool,
    replay_tolerance: Option<f64>,
) -> Result<Measurements, MeasureError> {
    // The body is the one this validator sent and stored: not reading it back is its own fault.
    let request: Value = serde_json::from_str(&exchange.request)
        .map_err(|e| MeasureError::Host(format!("the stored request body is not JSON: {e}")))?;
    let expected = expected_prompt(reference.tokenizer, &exchange.path, &request)?;
    let challenge = Challenge {
        request_id: exchange.id,
        uid: exchange.uid,
        greedy,
        ignore_eos: request["ignore_eos"].as_bool().unwrap_or(false),
        prompt_ids: &ext.prompt_token_ids,
        completion_ids: &ext.completion_token_ids,
        expected_prompt: &expected,
        opened,
        stop_ids: reference.stop_ids,
        asked_tokens: asked_tokens(&request),
        tokens_judged: tokens_judged(greedy, &request),
        replay: replay_tolerance
            .and_then(|tolerance| Some(ReplayPlan { params: replay_params(&request, ext)?, tolerance })),
    };
    measure(reference.pass, &challenge, failure)
}

/// The verdict on what `assess` returned, with the measured points to record: measurements go
/// to `judge`.
fn verdict_of(
    exchange: &Exchange,
    measured: Result<Measurements, MeasureError>,
    judge: impl FnOnce(&Measurements) -> Judgement,
) -> (Vec<PointMeasurement>, Judgement) {
    match measured {
        Ok(m) => {
            let judgement = judge(&m);
            (m.points, judgement)
        }
        Err(e) => (Vec::new(), unmeasured(exchange, e)),
    }
}

/// The verdict on a challenge that could not be measured: the miner's fault fails it; the
/// validator's own voids it, loudly, for a validator that cannot measure must be fixed, never
/// paid for by its miners.
fn unmeasured(exchange: &Exchange, error: MeasureError) -> Judgement {
    match error {
        MeasureError::Miner(reason) => {
            Judgement { verdict: Verdict::Fail, reason: format!("unusable evidence: {reason}") }
        }
        MeasureError::Host(reason) => {
            error!(
                request = exchange.id,
                uid = exchange.uid,
                reason = %reason,
                "validator fault: the challenge is void and the miner is not charged"
            );
            Judgement { verdict: Verdict::Void, reason: format!("validator fault: {reason}") }
        }
    }
}

#[cfg(test)]
mod bounds_tests {
    /// A reveal the miner client accepts is one the ledger keeps: the two caps are one number.
    #[test]
    fn the_ledger_keeps_every_output_the_protocol_lets_a_miner_reveal() {
        assert_eq!(assay_ledger::MAX_REVEAL_ELEMENTS, assay_protocol::commit_reveal::MAX_OUTPUT_VALUES);
    }
}
