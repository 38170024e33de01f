//! Closing an epoch: freeze the ledger's records into the policy input, score, publish, sign,
//! set weights, and mark the epoch closed.
//!
//! Nothing is published until the scorer's output has been validated, and the summary is the
//! last object of the epoch to be written (then `latest.json`): a reader never finds a summary
//! whose input or policy is missing.

use std::collections::{BTreeMap, BTreeSet};

use assay_chain::{Chain, Metagraph, WeightsCall};
use assay_keys::Hotkey;
use assay_ledger::{Ledger, RequestEntry};
use assay_policy_runtime::{Limits, PolicyStore, ScoreRun, Scorer};
use assay_policy_sdk::{ChallengeRecord, EpochInput, Miner, Param, RequestValues, TaskCapacity};
use tracing::{error, info, warn};

use crate::summary::{Fallback, InputRef, LimitsRecord, ObjectRef, OutputRecord, PolicyRef, SeedRecord, Validator};
use crate::{Error, HOST_VERSION, ObjectStore, Result, Summary, canonical, keys, sha256_hex};

/// The policy input from its parts: tasks sorted by name (from the records and the miners'
/// capacities) and referred to by index, miners sorted by uid, records in ledger order.
pub fn assemble(
    epoch: u64,
    (block_start, block_end): (u64, u64),
    metagraph: Metagraph,
    entries: Vec<RequestEntry>,
    challenges: Vec<ChallengeRecord>,
    params: Vec<Param>,
    state: Vec<u8>,
) -> Result<EpochInput> {
    let names: BTreeSet<String> = entries
        .iter()
        .map(|e| e.task.clone())
        .chain(metagraph.neurons.iter().flat_map(|n| n.capacities.keys().cloned()))
        .collect();
    if names.len() > usize::from(u16::MAX) {
        return Err(Error::Epoch { epoch, reason: format!("{} task names is too many", names.len()) });
    }
    let tasks: Vec<String> = names.into_iter().collect();
    let index: BTreeMap<&str, u16> = tasks.iter().enumerate().map(|(i, n)| (n.as_str(), i as u16)).collect();

    let mut neurons = metagraph.neurons;
    neurons.sort_by_key(|n| n.uid);
    let miners = neurons
        .into_iter()
        .map(|n| Miner {
            uid: n.uid,
            capacities: n
                .capacities
                .iter()
                .map(|(task, capacity)| TaskCapacity { task: index[task.as_str()], capacity: *capacity })
                .collect(),
            hotkey: n.hotkey,
            stake: n.stake,
            registered_at_block: n.registered_at_block,
        })
        .collect();
    let mut requests = Vec::with_capacity(entries.len());
    let mut request_values = Vec::new();
    for e in entries {
        let mut r = e.record;
        r.task = index[e.task.as_str()];
        if !e.values.is_empty() {
            request_values.push(RequestValues { request_id: r.id, values: e.values });
        }
        requests.push(r);
    }
    Ok(EpochInput {
        netuid: metagraph.netuid,
        epoch,
        block_start,
        block_end,
        tasks,
        miners,
        requests,
        request_values,
        challenges,
        params,
        state,
    })
}

/// What a host is configured with for every epoch.
#[derive(Debug, Clone)]
pub struct EpochSettings {
    pub netuid: u16,
    /// Blocks per epoch: epoch `e` covers blocks `e × epoch_blocks ..= (e + 1) × epoch_blocks − 1`.
    pub epoch_blocks: u64,
    pub params: Vec<Param>,
    pub limits: Limits,
    /// `version_key` of the weights call.
    pub version_key: u64,
}

impl EpochSettings {
    pub fn epoch_of_block(&self, block: u64) -> u64 {
        block / self.epoch_blocks.max(1)
    }

    pub fn block_range(&self, epoch: u64) -> (u64, u64) {
        let start = epoch.saturating_mul(self.epoch_blocks);
        (start, start.saturating_add(self.epoch_blocks.saturating_sub(1)))
    }
}

/// The scorer to use, and the one to fall back to if it fails through its own fault.
#[derive(Clone)]
pub struct ScorerChoice {
    pub active: Scorer,
    pub fallback: Option<Scorer>,
}

/// An epoch's records and the metagraph, as read at its close.
struct EpochRecords {
    metagraph: Metagraph,
    requests: Vec<RequestEntry>,
    challenges: Vec<ChallengeRecord>,
}

/// The result of a closed epoch.
#[derive(Debug, Clone)]
pub struct Published {
    pub summary: Summary,
    pub summary_key: String,
    pub summary_sha256: String,
    /// The block at which the weights were accepted, or why they were not.
    pub weights: std::result::Result<Option<u64>, String>,
}

/// Everything closing an epoch touches.
pub struct Closer<'a> {
    pub ledger: &'a Ledger,
    pub chain: &'a dyn Chain,
    pub store: &'a dyn ObjectStore,
    pub policies: &'a PolicyStore,
    pub hotkey: &'a Hotkey,
    pub settings: &'a EpochSettings,
}

impl Closer<'_> {
    /// What the ledger and the chain hold for `epoch`: read once per close.
    fn records(&self, epoch: u64) -> Result<EpochRecords> {
        Ok(EpochRecords {
            metagraph: self.chain.metagraph(self.settings.netuid)?,
            requests: self.ledger.requests(epoch)?,
            challenges: self.ledger.challenges(epoch)?,
        })
    }

    /// The policy input of `epoch` for `scorer`, from the ledger and the current metagraph.
    pub fn freeze(&self, epoch: u64, scorer: &str) -> Result<EpochInput> {
        self.freeze_from(epoch, scorer, &self.records(epoch)?)
    }

    fn freeze_from(&self, epoch: u64, scorer: &str, records: &EpochRecords) -> Result<EpochInput> {
        let s = self.settings;
        assemble(
            epoch,
            s.block_range(epoch),
            records.metagraph.clone(),
            records.requests.clone(),
            records.challenges.clone(),
            s.params.clone(),
            self.ledger.state_before(epoch, scorer)?,
        )
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

    /// Closes `epoch`: score, publish, sign, set weights, mark closed in the ledger.
    pub fn close(&self, epoch: u64, scorers: &ScorerChoice, challenger: Option<String>) -> Result<Published> {
        let s = self.settings;
        if let Some(last) = self.ledger.last_closed()?
            && last.epoch >= epoch
        {
            return Err(Error::Epoch { epoch, reason: format!("epochs up to {} are already closed", last.epoch) });
        }
        // From here on, late records go to a later epoch rather than being left out of this one.
        self.ledger.freeze_epoch(epoch)?;
        let records = self.records(epoch)?;
        let (scorer, input, run, fallback) = self.score(epoch, scorers, &records)?;
        let json = canonical::encode(&input)?;
        let zst = canonical::compress(&json)?;
        let scorer_sha = scorer.digest().to_string();
        let policy_bytes = self.policies.get(&scorer.digest())?;

        // The dataset: every request of the epoch as the ledger holds it, one JSON line each.
        let mut dataset = Vec::new();
        for entry in &records.requests {
            let mut line = serde_json::json!({ "epoch": epoch, "task": entry.task, "record": entry.record });
            if !entry.values.is_empty() {
                line["values"] = serde_json::json!(entry.values);
            }
            dataset.extend_from_slice(line.to_string().as_bytes());
            dataset.push(b'\n');
        }
        let dataset = canonical::compress(&dataset)?;

        let seed = self.ledger.epoch_seed(epoch, rand::random)?;
        let next_seed = self.ledger.epoch_seed(epoch + 1, rand::random)?;
        let previous_summary_sha256 =
            self.ledger.last_closed()?.filter(|c| c.epoch + 1 == epoch).map(|c| c.summary_sha256);

        let mut summary = Summary {
            format: crate::summary::FORMAT.into(),
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

        // Publication order: everything the summary names, then the summary, then latest.
        self.store.put(&summary.scorer.key, &policy_bytes)?;
        self.store.put(&summary.input.key, &zst)?;
        self.store.put(&summary.dataset.key, &dataset)?;
        self.store.put(&summary_key, &summary_bytes)?;
        let latest = serde_json::json!({ "epoch": epoch, "summary": summary_key, "sha256": summary_sha256 });
        self.store.put(&keys::latest(s.netuid), format!("{latest:#}\n").as_bytes())?;
        info!(epoch, scorer = %scorer_sha, requests = input.requests.len(), challenges = input.challenges.len(),
            fuel = run.fuel_used, store = %self.store.describe(), "epoch published");

        let weights = if run.output.weights.is_empty() {
            Ok(None)
        } else {
            let call = WeightsCall {
                netuid: s.netuid,
                uids: run.output.weights.iter().map(|w| w.uid).collect(),
                weights: run.output.weights.iter().map(|w| w.weight).collect(),
                version_key: s.version_key,
            };
            match self.chain.set_weights(&self.hotkey.ss58(), &call) {
                Ok(block) => Ok(Some(block)),
                Err(e) => {
                    error!(epoch, error = %e, "setting weights failed; the summary is published");
                    Err(e.to_string())
                }
            }
        };
        self.ledger.close_epoch(epoch, &summary_sha256, &scorer_sha, &run.output.state)?;
        Ok(Published { summary, summary_key, summary_sha256, weights })
    }
}
