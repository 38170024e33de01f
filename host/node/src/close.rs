//! Closing an epoch: freeze the ledger's rows into the policy input, score, sign, and queue what
//! goes out (the objects to publish and the weights call) in the same ledger transaction that
//! marks the epoch closed. The outgoing queue (`outgoing.rs`) then publishes and sets weights.
//!
//! An epoch is signed once: a host that dies after closing publishes the queued bytes when it
//! comes back, never a second, differently signed summary of the same epoch. Nothing is queued
//! until the scorer's output has been validated, and the summary comes after every object it
//! names (then `latest.json`), so a reader never finds a summary whose input is missing.

use assay_chain::{Epochs, Metagraph, WeightsCall};
use assay_epoch::summary::{
    Fallback, InputRef, LimitsRecord, ObjectRef, OutputRecord, PolicyRef, SeedRecord, Validator,
};
use assay_epoch::{HOST_VERSION, Summary, TaskRequest, assemble, canonical, keys, sha256_hex};
use assay_keys::Hotkey;
use assay_ledger::{Closing, Ledger, RequestEntry};
use assay_policy_runtime::{Limits, PolicyStore, ScoreRun, Scorer};
use assay_policy_sdk::{ChallengeRecord, EpochInput, Param};
use tracing::{info, warn};

use crate::{Error, Result};

/// What a host is configured with for every epoch.
#[derive(Debug, Clone)]
pub struct EpochSettings {
    pub netuid: u16,
    pub epochs: Epochs,
    pub params: Vec<Param>,
    pub limits: Limits,
    /// `version_key` of the weights call.
    pub version_key: u64,
}

/// The scorer to use, and the one to fall back to if it fails through its own fault.
#[derive(Clone)]
pub struct ScorerChoice {
    pub active: Scorer,
    pub fallback: Option<Scorer>,
}

/// An epoch's rows and the metagraph, as read at its close.
struct EpochRecords {
    metagraph: Metagraph,
    requests: Vec<TaskRequest>,
    challenges: Vec<ChallengeRecord>,
}

/// A closed epoch: signed, queued for publication and weights.
#[derive(Debug, Clone)]
pub struct Closed {
    pub summary: Summary,
    pub summary_key: String,
    pub summary_sha256: String,
}

/// Everything closing an epoch touches.
pub struct Closer<'a> {
    pub ledger: &'a dyn Ledger,
    pub policies: &'a PolicyStore,
    pub hotkey: &'a Hotkey,
    pub settings: &'a EpochSettings,
}

/// A ledger row as the contract's record, with its task by name.
fn task_request(entry: RequestEntry) -> TaskRequest {
    TaskRequest { record: entry.record.to_record(0), task: entry.task, values: entry.values }
}

impl Closer<'_> {
    fn records(&self, epoch: u64, metagraph: Metagraph) -> Result<EpochRecords> {
        Ok(EpochRecords {
            metagraph,
            requests: self.ledger.requests(epoch)?.into_iter().map(task_request).collect(),
            challenges: self.ledger.challenges(epoch)?.iter().map(|c| c.to_record()).collect(),
        })
    }

    /// The policy input of `epoch` for `scorer`, from the ledger and `metagraph`.
    pub fn freeze(&self, epoch: u64, scorer: &str, metagraph: Metagraph) -> Result<EpochInput> {
        self.freeze_from(epoch, scorer, &self.records(epoch, metagraph)?)
    }

    fn freeze_from(&self, epoch: u64, scorer: &str, records: &EpochRecords) -> Result<EpochInput> {
        let s = self.settings;
        Ok(assemble(
            epoch,
            s.epochs.block_range(epoch),
            records.metagraph.clone(),
            records.requests.clone(),
            records.challenges.clone(),
            s.params.clone(),
            self.ledger.state_before(epoch, scorer)?,
        )?)
    }

    /// Scores with the active scorer, or with the fallback when the active one fails through
    /// its own fault (out of fuel, trap, invalid output). Host faults are returned as errors.
    fn score(
        &self,
        epoch: u64,
        scorers: &ScorerChoice,
        records: &EpochRecords,
    ) -> Result<(Scorer, EpochInput, ScoreRun, Option<Fallback>)> {
        let active = &scorers.active;
        let input = self.freeze_from(epoch, &active.digest().to_string(), records)?;
        match active.score(&input, self.settings.limits) {
            Ok(run) => Ok((active.clone(), input, run, None)),
            Err(e) if e.is_policy_fault() => {
                let Some(fallback) = scorers.fallback.as_ref().filter(|f| f.digest() != active.digest()) else {
                    return Err(e.into());
                };
                warn!(epoch, failed = %active.digest(), fallback = %fallback.digest(), error = %e,
                    "active scorer failed; scoring with the previous one");
                let input = self.freeze_from(epoch, &fallback.digest().to_string(), records)?;
                let run = fallback.score(&input, self.settings.limits)?;
                let note = Fallback { failed_sha256: active.digest().to_string(), reason: e.to_string() };
                Ok((fallback.clone(), input, run, Some(note)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Closes `epoch` against `metagraph` (read at the boundary; `head` is the chain's block
    /// then): score, sign, and queue the objects and the weights in the ledger. Blocking.
    /// `challenger` is the challenge policy that judged this epoch's challenges, if any ran.
    pub fn close(
        &self,
        epoch: u64,
        metagraph: Metagraph,
        head: u64,
        scorers: &ScorerChoice,
        challenger: Option<String>,
    ) -> Result<Closed> {
        let s = self.settings;
        if let Some(last) = self.ledger.last_closed()?
            && last.epoch >= epoch
        {
            return Err(Error::AlreadyClosed { epoch, last: last.epoch });
        }
        // From here on, late records go to a later epoch rather than being left out of this one.
        self.ledger.freeze_epoch(epoch)?;
        let records = self.records(epoch, metagraph)?;
        let (scorer, input, run, fallback) = self.score(epoch, scorers, &records)?;
        let json = canonical::encode(&input)?;
        let zst = canonical::compress(&json)?;
        let scorer_sha = scorer.digest().to_string();
        let policy_bytes = self.policies.get(&scorer.digest())?;
        let dataset = canonical::compress(&dataset(epoch, &records.requests))?;

        let seed = self.ledger.epoch_seed(epoch, rand::random)?;
        let next_seed = self.ledger.epoch_seed(epoch + 1, rand::random)?;
        let previous_summary_sha256 =
            self.ledger.last_closed()?.filter(|c| c.epoch + 1 == epoch).map(|c| c.summary_sha256);

        let mut summary = Summary {
            format: assay_epoch::summary::FORMAT.into(),
            netuid: s.netuid,
            epoch,
            block_start: input.block_start,
            block_end: input.block_end,
            validator: Validator { scheme: self.hotkey.scheme().to_string(), hotkey: self.hotkey.ss58() },
            contract: assay_policy_runtime::CONTRACT.into(),
            scorer: PolicyRef { sha256: scorer_sha.clone(), key: keys::policy(&scorer_sha) },
            scorer_fallback: fallback,
            challenger,
            limits: LimitsRecord { fuel: s.limits.fuel, memory_bytes: s.limits.memory_bytes },
            input: InputRef {
                key: keys::input(s.netuid, epoch),
                sha256: sha256_hex(&json),
                zst_sha256: sha256_hex(&zst),
                json_bytes: json.len() as u64,
                state_sha256: sha256_hex(&input.state),
                requests: input.requests.len() as u64,
                challenges: input.challenges.len() as u64,
            },
            output: OutputRecord {
                scores: run.output.scores.clone(),
                weights: run.output.weights.clone(),
                state_sha256: sha256_hex(&run.output.state),
                fuel_used: run.fuel_used,
            },
            dataset: ObjectRef { key: keys::dataset(s.netuid, epoch), sha256: sha256_hex(&dataset) },
            previous_summary_sha256,
            seed: SeedRecord { reveal: hex::encode(seed.seed), next_commitment: hex::encode(next_seed.commitment) },
            host_version: HOST_VERSION.into(),
            signature: None,
        };
        let summary_bytes = summary.sign(self.hotkey)?;
        let summary_sha256 = sha256_hex(&summary_bytes);
        let summary_key = keys::summary(s.netuid, epoch);
        let latest = serde_json::json!({ "epoch": epoch, "summary": summary_key, "sha256": summary_sha256 });

        // Publication order: everything the summary names, then the summary, then latest.
        let objects = vec![
            (summary.scorer.key.clone(), policy_bytes),
            (summary.input.key.clone(), zst),
            (summary.dataset.key.clone(), dataset),
            (summary_key.clone(), summary_bytes),
            (keys::latest(s.netuid), format!("{latest:#}\n").into_bytes()),
        ];
        let weights = weights_call(s, &run).map(|call| serde_json::to_string(&call)).transpose()?;
        self.ledger.close_epoch(&Closing {
            epoch,
            summary_sha256: summary_sha256.clone(),
            scorer: scorer_sha.clone(),
            state: run.output.state.clone(),
            objects,
            weights,
            head,
        })?;
        info!(epoch, scorer = %scorer_sha, requests = input.requests.len(), challenges = input.challenges.len(),
            fuel = run.fuel_used, "epoch closed and signed; publication and weights queued");
        Ok(Closed { summary, summary_key, summary_sha256 })
    }
}

/// The dataset: every request of the epoch as the ledger holds it, one JSON line each.
fn dataset(epoch: u64, requests: &[TaskRequest]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in requests {
        let mut line = serde_json::json!({ "epoch": epoch, "task": entry.task, "record": entry.record });
        if !entry.values.is_empty() {
            line["values"] = serde_json::json!(entry.values);
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The weights call of a scorer's output; none when it gave no weights.
fn weights_call(s: &EpochSettings, run: &ScoreRun) -> Option<WeightsCall> {
    (!run.output.weights.is_empty()).then(|| WeightsCall {
        netuid: s.netuid,
        uids: run.output.weights.iter().map(|w| w.uid).collect(),
        weights: run.output.weights.iter().map(|w| w.weight).collect(),
        version_key: s.version_key,
    })
}
