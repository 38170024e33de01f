//! Verification: whether miners run the real model.
//!
//! Owns: the challenge loop. Every few seconds it offers the challenger policy (WASM) the
//! requests completed since the last round, with the epoch's secret seed; for each request the
//! policy picks, it asks the miner to open the chosen (layer, position) points, checks the Merkle
//! paths against the signed root, runs one teacher-forced reference pass over the miner's prompt
//! and completion tokens, measures (`measure`), lets the policy judge, and records the verdict in
//! the ledger for the scorer. Reference passes run on a bounded pool of blocking workers, never on
//! the gateway's request path.
//! Whose fault: a challenge that cannot be measured because of the miner's evidence (tokens past
//! the vocabulary, an opening missed or refused, no tokens at all) fails. One that cannot be
//! measured because of the validator itself (a stored body or evidence it cannot read back, a
//! body its template cannot render, its engine failing, a point its challenger put outside the
//! sequence, its judge failing) is void and logged at `error`: the miner is never charged for it.
//! Must not touch: routing, scoring, publication or the chain's weights.

mod measure;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assay_chain::Chain;
use assay_ledger::{Exchange, Ledger};
use assay_miner_client::{Miner, MinerClient, verify_opening};
use assay_policy_runtime::{Challenger, Limits};
use assay_policy_sdk::{
    Candidate, ChallengeRecord, Judgement, Measurements, MinerHistory, Opening, Outcome, Param, PlanInput,
    PointMeasurement, Verdict,
};
use assay_protocol::wire::{OpenRequest, ResponseExtension};
use assay_reference_engine::{ChatTokenizer, Engine};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, error, info, warn};

pub use measure::{
    Challenge, MeasureError, Opened, ReferencePass, check_points, cosine, expected_prompt, measure, rel_l2,
};

/// `[verify]` in the host's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The reference model's directory (a Hugging Face snapshot layout).
    pub model: PathBuf,
    /// How often new requests are offered to the challenger.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Reference passes run at once.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// A miner has this long to answer an opening.
    #[serde(default = "default_open_timeout")]
    pub open_timeout_s: f64,
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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ledger: {0}")]
    Ledger(#[from] assay_ledger::Error),
    #[error("chain: {0}")]
    Chain(#[from] assay_chain::Error),
    #[error("challenger policy: {0}")]
    Policy(#[from] assay_policy_runtime::Error),
}

/// What the verifier is started with.
pub struct Parts {
    pub settings: Settings,
    pub engine: Engine,
    pub tokenizer: ChatTokenizer,
    pub challenger: Challenger,
    pub limits: Limits,
    pub params: Vec<Param>,
    /// Signs opening requests, as it signs completions.
    pub client: MinerClient,
    pub ledger: Arc<Ledger>,
    pub chain: Arc<dyn Chain>,
    pub netuid: u16,
    pub epoch_blocks: u64,
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
    challenger: Challenger,
    limits: Limits,
    params: Vec<Param>,
    client: MinerClient,
    ledger: Arc<Ledger>,
    chain: Arc<dyn Chain>,
    netuid: u16,
    epoch_blocks: u64,
    workers: Arc<Semaphore>,
    /// (epoch, ledger position) of the last exchange offered to the planner: each is offered
    /// once, and a round reads only what was recorded since.
    offered: Mutex<(u64, i64)>,
    tallies: Mutex<BTreeMap<u16, Tally>>,
}

#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl Verifier {
    pub fn new(parts: Parts) -> Self {
        let mut stop_ids = parts.engine.config().eos_token_ids.clone();
        for special in ["<|im_end|>", "<|endoftext|>"] {
            stop_ids.extend(parts.tokenizer.token_id(special));
        }
        Self {
            inner: Arc::new(Inner {
                workers: Arc::new(Semaphore::new(parts.settings.workers.max(1))),
                settings: parts.settings,
                engine: parts.engine,
                tokenizer: parts.tokenizer,
                stop_ids,
                challenger: parts.challenger,
                limits: parts.limits,
                params: parts.params,
                client: parts.client,
                ledger: parts.ledger,
                chain: parts.chain,
                netuid: parts.netuid,
                epoch_blocks: parts.epoch_blocks.max(1),
                offered: Mutex::new((0, 0)),
                tallies: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    pub fn tallies(&self) -> BTreeMap<u16, Tally> {
        self.inner.tallies.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
            match self.round(&mut in_flight) {
                Ok(0) => {}
                Ok(n) => debug!(challenges = n, "challenges planned"),
                Err(e) => warn!(error = %e, "a verification round failed; retrying at the next"),
            }
            while in_flight.try_join_next().is_some() {}
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Offers the requests completed since the last round to the planner and starts the planned
    /// challenges in `tasks`; returns how many.
    pub fn round(&self, tasks: &mut tokio::task::JoinSet<()>) -> Result<usize, Error> {
        let inner = &self.inner;
        let block = inner.chain.current_block()?;
        let epoch = block / inner.epoch_blocks;
        let seed = inner.ledger.epoch_seed(epoch, rand::random)?;
        let after = {
            let offered = inner.offered.lock().unwrap_or_else(|p| p.into_inner());
            if offered.0 == epoch { offered.1 } else { 0 }
        };
        let (positions, fresh): (Vec<i64>, Vec<Exchange>) =
            inner.ledger.exchanges_after(epoch, after)?.into_iter().unzip();
        if fresh.is_empty() {
            return Ok(0);
        }
        let records: HashMap<u64, assay_policy_sdk::RequestRecord> =
            inner.ledger.requests(epoch)?.into_iter().map(|e| (e.record.id, e.record)).collect();
        let metagraph = inner.chain.metagraph(inner.netuid)?;
        // `challenged` counts this epoch's; `recent_failures` this epoch's and the previous one's.
        let this_epoch = inner.ledger.challenges(epoch)?;
        let previous = if epoch > 0 { inner.ledger.challenges(epoch - 1)? } else { Vec::new() };
        let history = metagraph
            .neurons
            .iter()
            .map(|n| MinerHistory {
                uid: n.uid,
                new: n.registered_at_block + 2 * inner.epoch_blocks > block,
                challenged: this_epoch.iter().filter(|c| c.uid == n.uid).count() as u32,
                recent_failures: this_epoch
                    .iter()
                    .chain(&previous)
                    .filter(|c| c.uid == n.uid && c.verdict == Verdict::Fail)
                    .count() as u32,
                completed: records.values().filter(|r| r.uid == n.uid && r.outcome == Outcome::Ok).count() as u32,
            })
            .collect();
        let candidates = fresh
            .iter()
            .filter_map(|x| records.get(&x.id))
            .map(|r| Candidate {
                request_id: r.id,
                uid: r.uid,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
            })
            .collect();
        let input = PlanInput {
            seed: seed.seed.to_vec(),
            layers: inner.engine.config().num_layers as u32,
            progress: (block % inner.epoch_blocks) as f64 / inner.epoch_blocks as f64,
            candidates,
            history,
            params: inner.params.clone(),
        };
        let planned = inner.challenger.plan(&input, inner.limits)?;
        if let Some(&last) = positions.last() {
            *inner.offered.lock().unwrap_or_else(|p| p.into_inner()) = (epoch, last);
        }
        let by_id: HashMap<u64, Exchange> = fresh.into_iter().map(|x| (x.id, x)).collect();
        let mut started = 0;
        for plan in planned {
            let Some(exchange) = by_id.get(&plan.request_id).cloned() else {
                warn!(request = plan.request_id, "the challenger planned a request it was not offered");
                continue;
            };
            let axon = metagraph.neurons.iter().find(|n| n.uid == exchange.uid).and_then(|n| n.axon.clone());
            let Some(base_url) = axon else { continue };
            let miner = Miner { base_url, hotkey: exchange.miner_hotkey.clone() };
            let points: Vec<[u32; 2]> = plan.points.iter().map(|&(l, p)| [l, p]).collect();
            let verifier = self.clone();
            let greedy = records.get(&exchange.id).is_some_and(|r| r.greedy);
            tasks.spawn(async move { verifier.challenge(exchange, miner, points, greedy).await });
            started += 1;
        }
        Ok(started)
    }

    /// One challenge: open, measure, judge, record.
    async fn challenge(&self, exchange: Exchange, miner: Miner, points: Vec<[u32; 2]>, greedy: bool) {
        let inner = &self.inner;
        let Ok(_slot) = inner.workers.clone().acquire_owned().await else { return };
        let ext = match evidence_of(&exchange) {
            Ok(ext) => ext,
            Err(e) => {
                let verifier = self.clone();
                let judgement = unmeasured(&exchange, e);
                let _ = tokio::task::spawn_blocking(move || verifier.record(&exchange, Vec::new(), judgement)).await;
                return;
            }
        };
        // A point the challenger put outside the sequence would fail even an honest miner's
        // opening: settle it before asking.
        let positions = ext.prompt_token_ids.len() + ext.completion_token_ids.len();
        let planned: Vec<(u32, u32)> = points.iter().map(|p| (p[0], p[1])).collect();
        if let Err(e) = check_points(&planned, positions, inner.engine.config().num_layers as u32) {
            let verifier = self.clone();
            let judgement = unmeasured(&exchange, e);
            let _ = tokio::task::spawn_blocking(move || verifier.record(&exchange, Vec::new(), judgement)).await;
            return;
        }
        let hidden = inner.engine.config().hidden_size;
        let asked = OpenRequest { request_id: ext.request_id.clone(), points: points.clone() };
        let timeout = Duration::from_secs_f64(inner.settings.open_timeout_s.max(0.1));
        let (opened, failure) = match tokio::time::timeout(timeout, inner.client.open(&miner, &asked)).await {
            Err(_) => (None, Opening::Missed),
            Ok(Err(e)) => {
                debug!(uid = exchange.uid, error = %e, "opening failed");
                (None, Opening::Missed)
            }
            Ok(Ok(response)) => match verify_opening(&ext, &points, &response, hidden) {
                Ok(vectors) => (Some(Opened { points: planned, vectors }), Opening::Verified),
                Err(e) => {
                    debug!(uid = exchange.uid, error = %e, "opening refused");
                    (None, Opening::Invalid)
                }
            },
        };
        let (request, uid) = (exchange.id, exchange.uid);
        let verifier = self.clone();
        let judged = tokio::task::spawn_blocking(move || {
            let inner = &verifier.inner;
            let reference = Reference { pass: &inner.engine, tokenizer: &inner.tokenizer, stop_ids: &inner.stop_ids };
            let measured = assess(&reference, &exchange, &ext, opened, failure, greedy);
            let (points, judgement) = verdict_of(&exchange, measured, |m| {
                inner.challenger.judge(m, inner.limits).unwrap_or_else(|e| {
                    // The policy is the validator's: its failure is the validator's too.
                    error!(request = exchange.id, uid = exchange.uid, error = %e, "validator fault: the judge failed");
                    Judgement { verdict: Verdict::Void, reason: format!("validator fault: the judge failed: {e}") }
                })
            });
            verifier.record(&exchange, points, judgement);
        })
        .await;
        if judged.is_err() {
            // Nothing is recorded: the miner is not charged for the validator's panic.
            error!(request, uid, "validator fault: a reference pass panicked; the challenge is dropped");
        }
    }

    /// Records a verdict into the current epoch (the next, if the current one is closing).
    /// Blocking: the ledger syncs to disk.
    fn record(&self, exchange: &Exchange, points: Vec<assay_policy_sdk::PointMeasurement>, judgement: Judgement) {
        let inner = &self.inner;
        {
            let mut tallies = inner.tallies.lock().unwrap_or_else(|p| p.into_inner());
            let t = tallies.entry(exchange.uid).or_default();
            match judgement.verdict {
                Verdict::Pass => t.passed += 1,
                Verdict::Fail => t.failed += 1,
                Verdict::Void => t.voided += 1,
            }
        }
        if judgement.verdict == Verdict::Fail {
            info!(uid = exchange.uid, request = exchange.id, reason = %judgement.reason, "challenge failed");
        }
        let record = ChallengeRecord {
            request_id: exchange.id,
            uid: exchange.uid,
            points,
            verdict: judgement.verdict,
            reason: judgement.reason,
        };
        let mut bump = 0;
        for attempt in 0..50 {
            let result = inner
                .chain
                .current_block()
                .map_err(Error::from)
                .and_then(|b| Ok(inner.ledger.record_challenges(b / inner.epoch_blocks + bump, [&record])?));
            match result {
                Ok(_) => return,
                Err(Error::Ledger(assay_ledger::Error::Frozen(_))) => bump += 1,
                Err(e) => {
                    warn!(error = %e, attempt, "recording a challenge failed; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        warn!(request = exchange.id, "a challenge could not be recorded");
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

/// The blocking half of a challenge, before the judge: the validator's own rendering of the body
/// it sent, then the reference pass over the miner's tokens.
fn assess<R: ReferencePass + ?Sized>(
    reference: &Reference<'_, R>,
    exchange: &Exchange,
    ext: &ResponseExtension,
    opened: Option<Opened>,
    failure: Opening,
    greedy: bool,
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
