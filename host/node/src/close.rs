//! Closing an epoch: freeze the ledger's rows into the policy input, score, sign, and queue what
//! goes out (the objects to publish and the weights call) in the same ledger transaction that
//! marks the epoch closed. The outgoing queue (`outgoing.rs`) then publishes and sets weights.
//!
//! An epoch is signed once: a host that dies after closing publishes the queued bytes when it
//! comes back, never a second, differently signed summary of the same epoch. An epoch that no
//! scorer can score (each failing through its own fault) is closed unscored: published, with no
//! weights, so that the epochs after it go on; a host fault leaves it open, to be retried. Nothing is queued
//! until the scorer's output has been validated, and the summary comes after every object it
//! names (then `latest.json`), so a reader never finds a summary whose input is missing.
//!
//! A scorer the subnet owner announced runs in shadow one epoch before it takes over: on the
//! same records with an empty state, its output published beside the active one's and named by
//! the summary, its weights never set.

use assay_chain::{Epochs, Metagraph, WeightsCall};
use assay_epoch::summary::{
    Fallback, InputRef, LimitsRecord, ObjectRef, OutputRecord, PolicyRef, Previous, SeedRecord, Shadow, Unscored,
    Validator,
};
use assay_epoch::{
    HOST_VERSION, PublishedInput, Summary, TaskCommitReveal, TaskRequest, assemble, canonical, keys, sha256_hex,
};
use assay_keys::Hotkey;
use std::collections::{BTreeMap, HashMap};

use assay_ledger::{Closing, CommitRevealRow, Ledger, RequestContent, RequestEntry};
use assay_policy_runtime::{Limits, PolicyStore, ScoreRun, Scorer};
use assay_policy_sdk::{Challenge, EpochInput, Param, RequestKind, Weight};
use tracing::{error, info, warn};

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
    /// Each task's share of the weights (`[[tasks]]`); empty: equal shares.
    pub task_weights: BTreeMap<String, f64>,
}

/// The scorer to use, the one to fall back to if it fails through its own fault, and one to run
/// in shadow beside it (an announced scorer, the epoch before it takes over).
#[derive(Clone)]
pub struct ScorerChoice {
    pub active: Scorer,
    pub fallback: Option<Scorer>,
    pub shadow: Option<Scorer>,
}

/// What scoring an epoch came to: the scorer that ran last, its input (as assembled, and as
/// that scorer's contract version saw and publishes it) and its run, or its own fault when no
/// scorer could score the epoch.
struct Scoring {
    scorer: Scorer,
    input: EpochInput,
    published: PublishedInput,
    /// `published`'s canonical JSON, encoded before the scorer ran.
    json: Vec<u8>,
    run: std::result::Result<ScoreRun, assay_policy_runtime::Error>,
    /// The active scorer failed and this one, the previous, ran instead.
    fallback: Option<Fallback>,
}

/// A scorer's run in shadow: its failure, if it failed through its own fault, and the bytes of
/// its output (empty then) as published.
struct ShadowRun {
    scorer: Scorer,
    unscored: Option<Unscored>,
    bytes: Vec<u8>,
}

/// The bytes an epoch publishes besides its summary.
struct Encoded {
    /// The canonical input JSON and its zstd file.
    json: Vec<u8>,
    zst: Vec<u8>,
    dataset: Vec<u8>,
}

/// An epoch's rows and the metagraph, as read at its close.
struct EpochRecords {
    metagraph: Metagraph,
    requests: Vec<TaskRequest>,
    challenges: Vec<Challenge>,
    /// What the dataset may say of each request's text, by request id.
    contents: HashMap<u64, RequestContent>,
    /// The verifier's per-token measurements, by request id.
    token_checks: BTreeMap<u64, Vec<assay_policy_sdk::TokenMeasurement>>,
    /// The commit-reveal rounds run in the epoch, one row per (round, miner asked).
    commit_reveals: Vec<TaskCommitReveal>,
}

/// A closed epoch: signed, queued for publication and weights.
#[derive(Debug, Clone)]
pub struct Closed {
    pub summary: Summary,
    pub summary_key: String,
    pub summary_sha256: String,
    /// How long each stage of the closing took, in seconds, in order (`records`, `score`,
    /// `encode`, `sign`, `commit`): the metrics' epoch close duration by stage.
    pub stages: Vec<(&'static str, f64)>,
    /// Each miner's requests and verdicts, for the dashboard; empty unless [`Closer::tally`].
    pub miners: Vec<assay_dashboard::MinerRow>,
}

/// The stages of one closing, timed one after the other.
struct Stages {
    since: std::time::Instant,
    taken: Vec<(&'static str, f64)>,
}

impl Stages {
    fn start() -> Self {
        Self { since: std::time::Instant::now(), taken: Vec::with_capacity(5) }
    }

    fn done(&mut self, stage: &'static str) {
        let now = std::time::Instant::now();
        self.taken.push((stage, now.duration_since(self.since).as_secs_f64()));
        self.since = now;
    }
}

/// Everything closing an epoch touches.
pub struct Closer<'a> {
    pub ledger: &'a dyn Ledger,
    pub policies: &'a PolicyStore,
    pub hotkey: &'a Hotkey,
    pub settings: &'a EpochSettings,
    /// Whether to tally each miner's requests and verdicts for the dashboard ([`Closed::miners`]).
    pub tally: bool,
}

/// The dashboard's rows of the records the close scored.
fn tally(records: &EpochRecords) -> Vec<assay_dashboard::MinerRow> {
    use assay_policy_sdk::{Outcome, Verdict};
    let requests = records.requests.iter().map(|r| (r.record.uid, r.record.outcome == Outcome::Ok, r.record.total_ms));
    let challenges = records.challenges.iter().map(|c| {
        let verdict = match c.verdict {
            Verdict::Pass => assay_ledger::Verdict::Pass,
            Verdict::Fail => assay_ledger::Verdict::Fail,
            Verdict::Void => assay_ledger::Verdict::Void,
        };
        (c.uid, verdict)
    });
    crate::dashboard::rows_of(&records.metagraph, requests, challenges)
}

/// A ledger row as the contract's record, with its task by name.
fn task_request(entry: RequestEntry) -> TaskRequest {
    TaskRequest { record: entry.record.to_record(0), task: entry.task, values: entry.values }
}

/// A ledger commit-reveal row as the contract's record, with its task by name.
fn task_commit_reveal(row: CommitRevealRow) -> TaskCommitReveal {
    TaskCommitReveal { record: row.to_record(0), task: row.task }
}

impl Closer<'_> {
    fn records(&self, epoch: u64, metagraph: Metagraph) -> Result<EpochRecords> {
        let entries = self.ledger.requests(epoch)?;
        let contents = self.ledger.request_contents(epoch)?.into_iter().collect();
        Ok(EpochRecords {
            metagraph,
            requests: entries.into_iter().map(task_request).collect(),
            challenges: self.ledger.challenges(epoch)?.iter().map(|c| c.to_record()).collect(),
            contents,
            token_checks: self.ledger.token_checks(epoch)?,
            commit_reveals: self
                .ledger
                .commit_reveals(epoch..epoch.saturating_add(1))?
                .into_iter()
                .map(|(_, row)| task_commit_reveal(row))
                .collect(),
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
            records.commit_reveals.clone(),
            &s.task_weights,
            &records.token_checks,
            s.params.clone(),
            self.state_for(epoch, scorer)?,
        )?)
    }

    /// The state `scorer` is given at `epoch`: what it handed on at the last closed epoch when
    /// it scored that one, else nothing (a scorer other than the previous epoch's starts from an
    /// empty state, as the audit checks against the previous summary).
    fn state_for(&self, epoch: u64, scorer: &str) -> Result<Vec<u8>> {
        match self.ledger.last_scorer()? {
            Some(last) if last == scorer => Ok(self.ledger.state_before(epoch, scorer)?),
            _ => Ok(Vec::new()),
        }
    }

    /// `scorer` in shadow on `input`'s records with an empty state. Its own fault is its
    /// output's (published, and logged: it takes over all the same, with the active one as its
    /// fallback); a host fault is an error.
    fn shadow(&self, epoch: u64, scorer: &Scorer, input: &EpochInput) -> Result<ShadowRun> {
        let input = EpochInput { state: Vec::new(), ..input.clone() };
        let (output, unscored) = match scorer.score(&input, self.settings.limits) {
            Ok(run) => (output_record(&run), None),
            Err(e) if e.is_policy_fault() => {
                error!(epoch, shadow = %scorer.digest(), error = %e,
                    "the announced scorer failed in its shadow epoch; it takes over all the same, the active one as its fallback");
                (failed_output(&input.state), Some(unscored(&e)))
            }
            Err(e) => return Err(e.into()),
        };
        let mut bytes = serde_json::to_vec_pretty(&output)?;
        bytes.push(b'\n');
        Ok(ShadowRun { scorer: scorer.clone(), unscored, bytes })
    }

    /// Scores with the active scorer, or with the fallback when the active one fails through
    /// its own fault (out of fuel, trap, invalid output). Host faults are returned as errors; a
    /// policy fault with nothing left to fall back to is the result's.
    fn score(&self, epoch: u64, scorers: &ScorerChoice, records: &EpochRecords) -> Result<Scoring> {
        let active = &scorers.active;
        let first = self.attempt(epoch, active, records)?;
        let Err(e) = &first.run else { return Ok(first) };
        let Some(fallback) = scorers.fallback.as_ref().filter(|f| f.digest() != active.digest()) else {
            return Ok(first);
        };
        warn!(epoch, failed = %active.digest(), fallback = %fallback.digest(), error = %e,
            "active scorer failed; scoring with the previous one");
        let mut second = self.attempt(epoch, fallback, records)?;
        second.fallback = Some(Fallback { failed_sha256: active.digest().to_string(), reason: e.to_string() });
        Ok(second)
    }

    /// `scorer` on the epoch: its run, or its own fault; a host fault is an error.
    fn attempt(&self, epoch: u64, scorer: &Scorer, records: &EpochRecords) -> Result<Scoring> {
        let input = self.freeze_from(epoch, &scorer.digest().to_string(), records)?;
        // What runs is what is published: a 0.1.0 scorer's input converted down.
        let published = PublishedInput::for_version(input.clone(), scorer.version());
        // No policy runs on an input that cannot be published.
        let json = published.encode()?;
        let run = match published.score(scorer, self.settings.limits) {
            Ok(run) => Ok(run),
            Err(e) if e.is_policy_fault() => Err(e),
            Err(e) => return Err(e.into()),
        };
        Ok(Scoring { scorer: scorer.clone(), input, published, json, run, fallback: None })
    }

    /// Closes `epoch` against `metagraph` (read at the boundary; `head` is the chain's block
    /// then): score, sign, and queue the objects and the weights in the ledger. Blocking.
    /// `challenger` is the challenge policy that judged this epoch's challenges, if any ran.
    /// An epoch no scorer can score is closed all the same, published as unscored with no
    /// weights, so that it never blocks the epochs after it.
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
        let mut stages = Stages::start();
        self.ledger.freeze_epoch(epoch)?;
        let records = self.records(epoch, metagraph)?;
        stages.done("records");
        let scoring = self.score(epoch, scorers, &records)?;
        let shadow = scorers.shadow.as_ref().map(|sh| self.shadow(epoch, sh, &scoring.input)).transpose()?;
        stages.done("score");
        let encoded = Encoded {
            zst: canonical::compress(&scoring.json)?,
            json: scoring.json.clone(),
            dataset: canonical::compress(&dataset(epoch, &records.requests, &records.contents))?,
        };
        let scorer_sha = scoring.scorer.digest().to_string();
        let mut summary = self.summary(epoch, &scoring, &encoded, challenger, shadow.as_ref())?;
        stages.done("encode");
        let summary_bytes = summary.sign(self.hotkey)?;
        stages.done("sign");
        let summary_sha256 = sha256_hex(&summary_bytes);
        let summary_key = keys::summary(s.netuid, epoch);
        let latest = serde_json::json!({ "epoch": epoch, "summary": summary_key, "sha256": summary_sha256 });

        // Publication order: everything the summary names, then the summary, then latest.
        let mut objects = vec![(summary.scorer.key.clone(), self.policies.get(&scoring.scorer.digest())?)];
        if let (Some(run), Some(named)) = (&shadow, &summary.shadow) {
            if named.scorer.key != summary.scorer.key {
                objects.push((named.scorer.key.clone(), self.policies.get(&run.scorer.digest())?));
            }
            objects.push((named.output.key.clone(), run.bytes.clone()));
        }
        objects.extend([
            (summary.input.key.clone(), encoded.zst),
            (summary.dataset.key.clone(), encoded.dataset),
            (summary_key.clone(), summary_bytes),
            (keys::latest(s.netuid), format!("{latest:#}\n").into_bytes()),
        ]);
        let weights = weights_call(s, &summary.output.weights).map(|call| serde_json::to_string(&call)).transpose()?;
        // An unscored epoch hands its input's state on unchanged.
        let state = scoring.run.as_ref().map_or_else(|_| scoring.input.state.clone(), |run| run.output.state.clone());
        self.ledger.close_epoch(&Closing {
            epoch,
            summary_sha256: summary_sha256.clone(),
            scorer: scorer_sha.clone(),
            state,
            objects,
            weights,
            head,
        })?;
        stages.done("commit");
        match &summary.unscored {
            None => info!(epoch, scorer = %scorer_sha, requests = scoring.input.requests.len(),
                challenges = scoring.input.challenges.len(), fuel = summary.output.fuel_used,
                shadow = ?summary.shadow.as_ref().map(|sh| &sh.scorer.sha256),
                "epoch closed and signed; publication and weights queued"),
            Some(u) => error!(epoch, scorer = %scorer_sha, kind = %u.kind, reason = %u.reason,
                "no scorer could score the epoch: it is closed unscored, published, and no weights are set"),
        }
        let miners = if self.tally { tally(&records) } else { Vec::new() };
        Ok(Closed { summary, summary_key, summary_sha256, stages: stages.taken, miners })
    }

    /// The unsigned summary of a scored or unscored epoch.
    fn summary(
        &self,
        epoch: u64,
        scoring: &Scoring,
        encoded: &Encoded,
        challenger: Option<String>,
        shadow: Option<&ShadowRun>,
    ) -> Result<Summary> {
        let s = self.settings;
        let input = &scoring.input;
        let seed = self.ledger.epoch_seed(epoch, rand::random)?;
        let next_seed = self.ledger.epoch_seed(epoch + 1, rand::random)?;
        // The last closed epoch's signed bytes, as the ledger holds them: the same across restarts.
        let previous = self.ledger.last_closed()?.map(|c| Previous { epoch: c.epoch, sha256: c.summary_sha256 });
        let scorer_sha = scoring.scorer.digest().to_string();
        let (output, unscored) = match &scoring.run {
            Ok(run) => (output_record(run), None),
            Err(e) => (failed_output(&input.state), Some(unscored(e))),
        };
        let shadow = shadow.map(|run| {
            let sha256 = run.scorer.digest().to_string();
            Shadow {
                scorer: PolicyRef { key: keys::policy(&sha256), sha256 },
                output: ObjectRef { key: keys::shadow_output(s.netuid, epoch), sha256: sha256_hex(&run.bytes) },
                unscored: run.unscored.clone(),
            }
        });
        Ok(Summary {
            format: assay_epoch::summary::FORMAT.into(),
            netuid: s.netuid,
            epoch,
            block_start: input.block_start,
            block_end: input.block_end,
            validator: Validator { scheme: self.hotkey.scheme().to_string(), hotkey: self.hotkey.ss58() },
            contract: scoring.published.contract(),
            scorer: PolicyRef { sha256: scorer_sha.clone(), key: keys::policy(&scorer_sha) },
            scorer_fallback: scoring.fallback.clone(),
            unscored,
            shadow,
            challenger,
            limits: LimitsRecord::of(s.limits),
            input: InputRef {
                key: keys::input(s.netuid, epoch),
                sha256: sha256_hex(&encoded.json),
                zst_sha256: sha256_hex(&encoded.zst),
                json_bytes: encoded.json.len() as u64,
                state_sha256: sha256_hex(&input.state),
                requests: input.requests.len() as u64,
                challenges: input.challenges.len() as u64,
            },
            output,
            dataset: ObjectRef { key: keys::dataset(s.netuid, epoch), sha256: sha256_hex(&encoded.dataset) },
            previous,
            previous_summary_sha256: None,
            seed: SeedRecord { reveal: hex::encode(seed.seed), next_commitment: hex::encode(next_seed.commitment) },
            host_version: HOST_VERSION.into(),
            signature: None,
        })
    }
}

/// A scorer's run as the summary records it.
fn output_record(run: &ScoreRun) -> OutputRecord {
    OutputRecord {
        scores: run.output.scores.clone(),
        weights: run.output.weights.clone(),
        state_sha256: sha256_hex(&run.output.state),
        fuel_used: run.fuel_used,
    }
}

/// The output of a scorer that failed through its own fault: nothing, the state it was given
/// handed on.
fn failed_output(given_state: &[u8]) -> OutputRecord {
    OutputRecord { scores: Vec::new(), weights: Vec::new(), state_sha256: sha256_hex(given_state), fuel_used: 0 }
}

fn unscored(e: &assay_policy_runtime::Error) -> Unscored {
    Unscored { kind: e.fault_kind().unwrap_or("unknown").to_string(), reason: e.to_string() }
}

/// The dataset: every request of the epoch as the ledger holds it, one JSON line each, with its
/// content as [`published`] lets it out. The summary signs these bytes.
fn dataset(epoch: u64, requests: &[TaskRequest], contents: &HashMap<u64, RequestContent>) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in requests {
        // The record as 0.1.0 spelled it (task index 0, `quality` null): the dataset's format.
        let record = assay_policy_sdk::v0_1::record_of(&entry.record);
        let mut line = serde_json::json!({ "epoch": epoch, "task": entry.task, "record": record });
        if !entry.values.is_empty() {
            line["values"] = serde_json::json!(entry.values);
        }
        if let Some(content) = contents.get(&entry.record.id) {
            line["content"] = serde_json::json!(published(entry.record.kind, content));
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// A request's content as the dataset publishes it: the text of the validator's own requests and
/// of keys that opted in (`publish_text`); of every other request, only the hashes (its token
/// counts and timings are in its record). Privacy: docs/publication.md.
fn published(kind: RequestKind, content: &RequestContent) -> RequestContent {
    let publish_text = content.publish_text || kind != RequestKind::Organic;
    RequestContent {
        publish_text,
        prompt_sha256: content.prompt_sha256.clone(),
        completion_sha256: content.completion_sha256.clone(),
        prompt: content.prompt.clone().filter(|_| publish_text),
        completion: content.completion.clone().filter(|_| publish_text),
    }
}

/// The weights call of a scorer's output; none when it gave no weights (or did not score).
fn weights_call(s: &EpochSettings, weights: &[Weight]) -> Option<WeightsCall> {
    (!weights.is_empty()).then(|| WeightsCall {
        netuid: s.netuid,
        uids: weights.iter().map(|w| w.uid).collect(),
        weights: weights.iter().map(|w| w.weight).collect(),
        version_key: s.version_key,
    })
}

#[cfg(test)]
mod tests {
    use assay_policy_sdk::{Outcome, Request};
    use serde_json::{Value, json};

    use super::*;

    fn request(id: u64, kind: RequestKind) -> TaskRequest {
        let record = Request {
            id,
            uid: 2,
            task: 0,
            kind,
            outcome: Outcome::Ok,
            greedy: false,
            prompt_tokens: 5,
            completion_tokens: 7,
            ttft_ms: 10.0,
            total_ms: 20.0,
            reported_ttft_ms: None,
            reported_tps: None,
            started_ms: 1_000 + id,
        };
        TaskRequest { record, task: "chat".into(), values: Vec::new() }
    }

    fn content(id: u64, publish_text: bool) -> RequestContent {
        RequestContent {
            publish_text,
            prompt_sha256: format!("{id:064x}"),
            completion_sha256: format!("{:064x}", id + 100),
            prompt: Some(json!([{"role": "user", "content": format!("question {id}")}])),
            completion: Some(format!("answer {id}")),
        }
    }

    fn lines(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(bytes).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
    }

    #[test]
    fn only_opted_in_and_synthetic_requests_keep_their_text() {
        let requests =
            [request(1, RequestKind::Organic), request(2, RequestKind::Organic), request(3, RequestKind::Synthetic)];
        // Request 2's key did not opt in; its text is redacted here even if a ledger held it.
        let contents = HashMap::from([(1, content(1, true)), (2, content(2, false)), (3, content(3, true))]);
        let bytes = dataset(4, &requests, &contents);
        let lines = lines(&bytes);
        assert_eq!(lines.len(), 3);

        let opted_in = &lines[0]["content"];
        assert_eq!(opted_in["prompt"][0]["content"], "question 1");
        assert_eq!(opted_in["completion"], "answer 1");

        let other = &lines[1];
        assert_eq!(
            other["content"],
            json!({"publish_text": false, "prompt_sha256": format!("{:064x}", 2),
                "completion_sha256": format!("{:064x}", 102)})
        );
        assert_eq!(
            (other["record"]["prompt_tokens"].as_u64(), other["record"]["completion_tokens"].as_u64()),
            (Some(5), Some(7))
        );
        assert_eq!(
            (other["record"]["ttft_ms"].as_f64(), other["record"]["total_ms"].as_f64()),
            (Some(10.0), Some(20.0))
        );
        assert!(!String::from_utf8_lossy(&bytes).contains("question 2"));
        assert!(!String::from_utf8_lossy(&bytes).contains("answer 2"));

        let synthetic = &lines[2]["content"];
        assert_eq!(
            (synthetic["completion"].as_str(), synthetic["publish_text"].as_bool()),
            (Some("answer 3"), Some(true))
        );

        // Deterministic: the same records give the same bytes (the summary signs their hash).
        assert_eq!(dataset(4, &requests, &contents), bytes);
        // A synthetic request is published in full whatever its flag says.
        let flagged = HashMap::from([(3, content(3, false))]);
        let line = &self::lines(&dataset(4, &requests[2..], &flagged))[0];
        assert_eq!(line["content"]["completion"], "answer 3");
    }
}
