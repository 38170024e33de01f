//! The competition driver (`[competition]`, the cacheon policy's traffic): once per epoch it
//! draws a prompt set from the epoch's seed and, for each of its tasks, sends every prompt to the
//! validator's baseline server and then to each miner serving the task, one request at a time
//! and on equal terms (the same prompts, greedy, streamed, the same `max_tokens`, the same time
//! limit), warm-up prompts first and not recorded.
//!
//! The prompts: `warmup + prompts_per_task` texts of `prompt_chars` characters (the first
//! `warmup` are the warm-ups); text `j` is an instruction followed by words of [`WORDS`], word
//! `k` being `WORDS[b % 64]` for byte `b = sha256("assay competition prompt" ‖ seed ‖ j as u32 LE
//! ‖ k / 32 as u32 LE)[k % 32]`, cut at `prompt_chars`. `seed` is the epoch's secret challenge
//! seed (committed at the epoch's start): miners cannot know the prompts beforehand. The
//! counted prompts are published with the rows (the validator's own text); an auditor knowing
//! the config (`prompts_per_task`, `warmup`, `prompt_chars`, which are not published) could
//! draw them again from the revealed seed.
//!
//! What is recorded (by the gateway, `assay_gateway::Competition`): a miner's counted request
//! is a synthetic request with its evidence (token-checked by the verifier, which the config
//! requires), timed by the validator's clock; the baseline's counted requests are `baseline`
//! rows with uid 65535, recorded only once all of them came back `ok` and before any miner is
//! asked. Whose fault: the baseline failing (or the recorder refusing its rows) is the
//! validator's: that task gets no rows this epoch, and a loud warning; a miner's timeout or
//! error is its row's outcome; a request that could not be placed (the validator's sockets or
//! recorder, the miner's earlier requests not ended in time, or no free slot at the miner before
//! any attempt: a pause or a cooldown left by earlier traffic, or the miner down) is sent again,
//! up to [`SEND_TRIES`] times a second apart, and then has no row and a loud error. Known limit:
//! a recorder behind for longer than that costs the miner its rows (cacheon then has none of its
//! requests to score).
//!
//! Equal terms: each miner is held for its whole turn (`assay_gateway::Turn`): the gateway routes
//! no user's or other synthetic request to it meanwhile, and the turn starts once the requests it already had
//! have ended, so every contestant is measured alone, as the baseline is. Users go to other miners
//! meanwhile, or wait in the gateway's queue up to its time limit (with one miner, users are
//! refused after `queue_timeout_ms` during a turn). The verifier's openings and a round's
//! requests do not go through the router and are not held back.
//!
//! The schedule: each listed task once; the miners in an order drawn from the seed
//! ([`contest_order`]), so that no uid is always asked last. The run is for one epoch: once the
//! chain is past it nothing more is sent, the request under way is dropped and recorded against
//! no one (the gateway voids a cancelled competition request), and the miners not (fully) asked
//! are named in an error. A task that already has baseline rows in the epoch (a restarted node)
//! keeps them and asks only the serving miners with no synthetic row for it yet.
//!
//! Known limits: one miner at a time in a known order, the same prompts for everyone, so one
//! operator with two uids may relay an earlier uid's prompts to a later one (no per-miner draws,
//! no `ignore_eos`); every prompt opens with the same instruction, so the first greedy token is
//! predictable; the contestants are those serving when the task's miners are picked (a miner up
//! later in the epoch is not asked); the run reads the whole epoch's request rows to see what is
//! done; a greedy competition row's token check waits for a place in the verifier's queue, but
//! only up to two minutes (then a validator-fault error, and cacheon fails a miner with no checked
//! row); a row that finished right at the epoch's end may be written in the next epoch (the
//! recorder assigns rows when it writes them).
//!
//! Owns: the prompt set, the schedule and its order. Must not touch: the requests themselves,
//! their timing and recording (the gateway's), token checks (the verifier's), or scoring.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use assay_gateway::{Baseline, BaselineAnswer, Competition, ContestError, ContestRequest, Turn};
use assay_ledger::{Ledger, RequestKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

/// The prompts' domain separator: these words are drawn for nothing else.
const PROMPT_DOMAIN: &[u8] = b"assay competition prompt";
/// The miners' order's domain separator.
const ORDER_DOMAIN: &[u8] = b"assay competition order";
/// What every prompt starts with: the model is asked for a long answer.
const INSTRUCTION: &str = "Rewrite the following notes as a long, detailed report:\n";
/// The words prompts are made of (64: a byte modulo 64 draws one uniformly).
pub const WORDS: [&str; 64] = [
    "the", "cache", "server", "token", "model", "prompt", "latency", "batch", "memory", "kernel", "request", "queue",
    "stream", "answer", "layer", "vector", "river", "mountain", "garden", "winter", "market", "harbor", "engine",
    "signal", "paper", "window", "number", "season", "forest", "bridge", "letter", "planet", "and", "of", "to", "in",
    "with", "under", "over", "before", "after", "quickly", "slowly", "green", "silent", "bright", "heavy", "open",
    "builds", "carries", "measures", "writes", "follows", "returns", "holds", "moves", "every", "some", "many", "few",
    "old", "new", "small", "large",
];
/// How often a request the validator could not place is tried (its own fault: the miner must
/// not lose its row to it).
const SEND_TRIES: u32 = 3;
/// The pause before a request the validator could not place is sent again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// The most prompts a task may have (counted and warm-up).
const MAX_PROMPTS: u32 = 256;

/// `[competition]` in the node's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompetitionConfig {
    /// The baseline server's root URL (OpenAI-compatible: requests go to
    /// `{baseline_url}/v1/chat/completions`, or `/v1/completions` for a completion task).
    pub baseline_url: String,
    /// The environment variable holding the baseline's API key (sent as a bearer token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_api_key_env: Option<String>,
    /// The model id the baseline serves the task's model as (absent: the task's model id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_model: Option<String>,
    /// Counted prompts per task and epoch.
    #[serde(default = "default_prompts")]
    pub prompts_per_task: u32,
    /// Warm-up prompts sent first to each server, not recorded.
    #[serde(default = "default_warmup")]
    pub warmup: u32,
    /// Characters in each prompt.
    #[serde(default = "default_prompt_chars")]
    pub prompt_chars: u32,
    /// `max_tokens` of every request (at most the gateway's `max_tokens`).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// The tasks the competition runs on (empty: the first `[[tasks]]`, else `chat`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
}

fn default_prompts() -> u32 {
    8
}

fn default_warmup() -> u32 {
    2
}

fn default_prompt_chars() -> u32 {
    4000
}

fn default_max_tokens() -> u32 {
    400
}

impl CompetitionConfig {
    /// Settings for a baseline at `baseline_url`, everything else at its default.
    pub fn new(baseline_url: &str) -> Self {
        Self {
            baseline_url: baseline_url.into(),
            baseline_api_key_env: None,
            baseline_model: None,
            prompts_per_task: default_prompts(),
            warmup: default_warmup(),
            prompt_chars: default_prompt_chars(),
            max_tokens: default_max_tokens(),
            tasks: Vec::new(),
        }
    }

    /// Ranges serde cannot say: `(key, reason)`. What depends on other sections (the gateway's
    /// limits, the verifier, the tasks) is checked with the whole config.
    pub fn check(&self) -> Result<(), (String, String)> {
        let url = self.baseline_url.as_str();
        let host = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        if host.is_none_or(str::is_empty) {
            return Err(("baseline_url".into(), format!("{url:?} must be an http:// or https:// URL")));
        }
        if self.baseline_api_key_env.as_deref().is_some_and(str::is_empty) {
            return Err(("baseline_api_key_env".into(), "must name an environment variable".into()));
        }
        if self.prompts_per_task == 0 || self.prompts_per_task.saturating_add(self.warmup) > MAX_PROMPTS {
            let reason = format!("{} must be at least 1, and with warmup at most {MAX_PROMPTS}", self.prompts_per_task);
            return Err(("prompts_per_task".into(), reason));
        }
        if !(1..=1_000_000).contains(&self.prompt_chars) {
            return Err(("prompt_chars".into(), format!("{} must be from 1 to 1000000", self.prompt_chars)));
        }
        if self.max_tokens == 0 {
            return Err(("max_tokens".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Prompt `index` of the set drawn from `seed`: see the module doc.
pub fn draw_prompt(seed: &[u8; 32], index: u32, chars: u32) -> String {
    let chars = chars as usize;
    let mut text = String::from(INSTRUCTION);
    let mut block = 0u32;
    while text.len() < chars {
        let digest = Sha256::new()
            .chain_update(PROMPT_DOMAIN)
            .chain_update(seed)
            .chain_update(index.to_le_bytes())
            .chain_update(block.to_le_bytes());
        for byte in digest.finalize() {
            if text.len() >= chars {
                break;
            }
            if !text.ends_with('\n') {
                text.push(' ');
            }
            text.push_str(WORDS[usize::from(byte) % WORDS.len()]);
        }
        block += 1;
    }
    // ASCII only: any cut is a character boundary.
    text.truncate(chars);
    text
}

/// How one task's competition went this epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRun {
    /// The baseline's counted rows were recorded (0: already there) and these miners were asked
    /// every request, in this order.
    Ran { task: String, baseline_rows: usize, miners: Vec<u16> },
    /// No rows: the validator's fault, the epoch ended, or already run in this epoch (the reason).
    Skipped { task: String, reason: String },
}

/// What the driver needs to run the competition.
pub struct CompetitionDriver {
    pub config: CompetitionConfig,
    pub gateway: Competition,
    pub ledger: Arc<dyn Ledger>,
    pub baseline: Baseline,
    /// The tasks it runs on, in this order.
    pub tasks: Vec<String>,
}

/// The epoch the chain is in now (the driver stops once it is no longer the one it runs for).
pub type EpochNow<'a> = &'a (dyn Fn() -> u64 + Sync);

/// How often a request under way looks whether its epoch has ended.
const EPOCH_POLL: Duration = Duration::from_millis(250);

/// `uids` in the order the epoch's seed draws: by `sha256("assay competition order" ‖ seed ‖
/// uid as u16 LE)`, so that no uid is always asked last.
pub fn contest_order(seed: &[u8; 32], uids: &[u16]) -> Vec<u16> {
    let mut keyed: Vec<([u8; 32], u16)> = uids
        .iter()
        .map(|&uid| {
            let key = Sha256::new().chain_update(ORDER_DOMAIN).chain_update(seed).chain_update(uid.to_le_bytes());
            (key.finalize().into(), uid)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, uid)| uid).collect()
}

/// What the epoch's ledger already holds of a task (a restarted node): whether its baseline
/// rows are there, and which miners have rows (with `[competition]` on, the competition's are
/// the only synthetic ones).
struct Done {
    baseline: bool,
    miners: BTreeSet<u16>,
}

impl CompetitionDriver {
    /// Runs `epoch`'s competition, task by task (each listed task once), while `epoch_now` says
    /// it is still `epoch`; says how each went.
    pub async fn run(&self, epoch: u64, epoch_now: EpochNow<'_>) -> assay_ledger::Result<Vec<TaskRun>> {
        let seed = self.ledger.epoch_seed(epoch, rand::random)?;
        let all = self.config.warmup + self.config.prompts_per_task;
        let prompts: Vec<String> = (0..all).map(|j| draw_prompt(&seed.seed, j, self.config.prompt_chars)).collect();
        let recorded = self.ledger.requests(epoch)?;
        let mut runs = Vec::new();
        let mut seen = BTreeSet::new();
        for task in self.tasks.iter().filter(|t| seen.insert(t.as_str())) {
            if epoch_now() != epoch {
                error!(epoch, task = %task, "validator fault: the epoch ended before the competition reached this task");
                runs.push(TaskRun::Skipped { task: task.clone(), reason: "the epoch ended".into() });
                continue;
            }
            let of_task = recorded.iter().filter(|e| e.task == *task);
            let mut done = Done { baseline: false, miners: BTreeSet::new() };
            for e in of_task {
                match e.record.kind {
                    RequestKind::Baseline => done.baseline = true,
                    RequestKind::Synthetic => {
                        done.miners.insert(e.record.uid);
                    }
                    _ => {}
                }
            }
            runs.push(self.run_task(epoch, task, (&seed.seed, &prompts), &done, epoch_now).await);
        }
        Ok(runs)
    }

    /// One task: the baseline's requests, recorded once all came back (unless `done` has them),
    /// then each miner's not `done`, in the seed's order.
    async fn run_task(
        &self,
        epoch: u64,
        task: &str,
        (seed, prompts): (&[u8; 32], &[String]),
        done: &Done,
        epoch_now: EpochNow<'_>,
    ) -> TaskRun {
        let skipped = |reason: String| {
            error!(epoch, task, reason = %reason, "validator fault: the competition gives no rows for this task this epoch");
            TaskRun::Skipped { task: task.to_string(), reason }
        };
        let max_tokens = u64::from(self.config.max_tokens);
        let requests =
            match prompts.iter().map(|p| self.gateway.request(task, p, max_tokens)).collect::<Result<Vec<_>, _>>() {
                Ok(requests) => requests,
                Err(reason) => return skipped(reason),
            };
        let (warmups, counted) = requests.split_at((self.config.warmup as usize).min(requests.len()));
        let mut baseline_rows = 0;
        if !done.baseline {
            // Nothing of an epoch that ended is recorded: its answers would land in the next one.
            let answers = tokio::select! {
                biased;
                () = epoch_end(epoch, epoch_now) => return skipped("the epoch ended during the baseline's requests".into()),
                answers = self.baseline_pass(warmups, counted) => answers,
            };
            let answers = match answers {
                Ok(answers) => answers,
                Err(reason) => return skipped(format!("the baseline failed: {reason}")),
            };
            baseline_rows = answers.len();
            if let Err(reason) = self.gateway.record_baseline(answers) {
                return skipped(reason);
            }
        }
        let waiting: Vec<u16> =
            self.gateway.contestants(task).into_iter().filter(|uid| !done.miners.contains(uid)).collect();
        if done.baseline && waiting.is_empty() {
            info!(epoch, task, "the competition already ran on this task in this epoch");
            return TaskRun::Skipped { task: task.to_string(), reason: "already run in this epoch".into() };
        }
        let order = contest_order(seed, &waiting);
        let miners = self.ask_miners(epoch, task, (&requests, warmups.len()), &order, epoch_now).await;
        info!(epoch, task, baseline_rows, miners = miners.len(), "competition run");
        TaskRun::Ran { task: task.to_string(), baseline_rows, miners }
    }

    /// Sends every request to each miner of `order` in turn, the first `warmups` uncounted,
    /// until the epoch ends: then the request under way is dropped (recorded against no one),
    /// the miners not (fully) asked are named in an error, and no more is sent. Returns the
    /// miners asked every request.
    async fn ask_miners(
        &self,
        epoch: u64,
        task: &str,
        (requests, warmups): (&[ContestRequest], usize),
        order: &[u16],
        epoch_now: EpochNow<'_>,
    ) -> Vec<u16> {
        let mut asked_all = Vec::with_capacity(order.len());
        for (asked, &uid) in order.iter().enumerate() {
            // The miner is held for its whole turn: it serves these requests alone.
            let Some(turn) = self.gateway.hold(uid) else {
                warn!(epoch, task, uid, "the miner left the pool (or is in another turn): it is not asked");
                continue;
            };
            for (i, request) in requests.iter().enumerate() {
                let counted = i >= warmups;
                let answered = tokio::select! {
                    biased;
                    () = epoch_end(epoch, epoch_now) => None,
                    answered = self.send(&turn, request, counted) => Some(answered),
                };
                match answered {
                    Some(Ok(())) => {}
                    // The miner's own failures are recorded as its rows' outcomes.
                    Some(Err(ContestError::Miner(e))) => {
                        warn!(epoch, task, uid, counted, error = %e, "a competition request got no answer from the miner");
                    }
                    Some(Err(ContestError::NotSent(e))) => {
                        error!(epoch, task, uid, counted, error = %e, tries = SEND_TRIES, "a competition request could not be placed (the validator's side, or no free slot at the miner before any attempt); the miner has no row for it");
                    }
                    None => {
                        let left = &order[asked..];
                        error!(epoch, task, not_asked = ?left, "validator fault: the epoch ended before the competition asked these miners (they have no or too few rows)");
                        return asked_all;
                    }
                }
            }
            asked_all.push(uid);
        }
        asked_all
    }

    /// Sends `request` in `turn`, again (up to [`SEND_TRIES`] in all) while the validator's side
    /// could not place it; a miner's failure is final.
    async fn send(&self, turn: &Turn, request: &ContestRequest, counted: bool) -> Result<(), ContestError> {
        let mut tries = 1;
        loop {
            match self.gateway.to_miner(turn, request, counted).await {
                Err(ContestError::NotSent(e)) if tries < SEND_TRIES => {
                    warn!(uid = turn.uid(), counted, error = %e, tries, "the validator could not send a competition request: trying again");
                    tries += 1;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                answered => return answered,
            }
        }
    }

    /// The baseline's warm-ups, then its counted requests, each `ok` or the whole pass fails.
    async fn baseline_pass(
        &self,
        warmups: &[ContestRequest],
        counted: &[ContestRequest],
    ) -> Result<Vec<BaselineAnswer>, String> {
        for request in warmups {
            self.gateway.to_baseline(&self.baseline, request).await?;
        }
        let mut answers = Vec::with_capacity(counted.len());
        for request in counted {
            answers.push(self.gateway.to_baseline(&self.baseline, request).await?);
        }
        if let Some(first) = answers.first() {
            info!(ttft = ?first.ttft(), total = ?first.total(), "the baseline's first counted answer");
        }
        Ok(answers)
    }
}

/// Returns once `epoch_now` is no longer `epoch`.
async fn epoch_end(epoch: u64, epoch_now: EpochNow<'_>) {
    while epoch_now() == epoch {
        tokio::time::sleep(EPOCH_POLL).await;
    }
}
