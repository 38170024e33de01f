//! The commit-reveal round driver (decision 0009, `[rounds]`): once per epoch it draws one
//! prompt from the epoch's seed, has every listed miner whose `info` speaks the routes commit to
//! it within the commit window, asks for the reveals only once that window has closed, checks
//! each reveal against its commitment, and records one row per miner asked into the ledger
//! (`valid`, `mismatch`, `late` or `missing`, with times from the round's start).
//!
//! Round ids: the id sent to miners is the epoch number (one round per epoch, so a miner's
//! per-validator store never sees an id twice); the ledger row's `round` is 0, its index within
//! the epoch. The prompt: `prompt_tokens` ids below the model's vocabulary size, each from
//! `sha256("assay consensus prompt" ‖ seed ‖ i as u32 LE)`'s first 8 bytes (LE) modulo the
//! vocabulary, where `seed` is the epoch's secret challenge seed (committed at the epoch's start,
//! so the prompt is unknown to miners beforehand and auditable once the seed is revealed).
//!
//! Whose fault: a call that failed through the validator's own fault (`RoundError::Validator`)
//! gives that miner no row and a warning; a miner whose `info` cannot be read or does not list
//! both routes (a version-1 miner) is not asked and has no row. Windows are absolute, so a miner
//! held in the validator's queue (the `concurrency` bound) has less of one: a call that began with
//! under 90 % of its window left and came back late gives no row either, never a `late`.
//!
//! Owns: the round's schedule and its rows. Must not touch: the calls themselves and the reveal
//! check (`assay-miner-client`), scoring (the consensus policy), or the epoch's close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_chain::Metagraph;
use assay_ledger::{CommitRevealRow, Ledger, RevealStatus};
use assay_miner_client::{Miner, MinerClient, MinerFault, Reveal, RoundError, check_reveal};
use assay_protocol::commitment::Hash;
use assay_protocol::wire::CommitRequest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// The most prompt ids a round may send (the reference miner's default `max_round_prompt_tokens`).
pub const MAX_PROMPT_TOKENS: u32 = 8_192;
/// How long a miner's `info` may take before it is left out of the round.
const INFO_TIMEOUT: Duration = Duration::from_secs(5);
/// The prompt's domain separator: these ids are drawn for nothing else.
const PROMPT_DOMAIN: &[u8] = b"assay consensus prompt";

/// `[rounds]` in the node's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundsConfig {
    /// Commitments must have arrived whole this long after the round starts.
    #[serde(default = "default_window_ms")]
    pub commit_window_ms: u64,
    /// Reveals must have arrived whole this long after the commit window closes.
    #[serde(default = "default_window_ms")]
    pub reveal_window_ms: u64,
    /// Token ids in the round's prompt.
    #[serde(default = "default_prompt_tokens")]
    pub prompt_tokens: u32,
    /// Miners asked at once, at most.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
}

fn default_window_ms() -> u64 {
    10_000
}

fn default_prompt_tokens() -> u32 {
    64
}

fn default_concurrency() -> u32 {
    32
}

impl Default for RoundsConfig {
    fn default() -> Self {
        Self {
            commit_window_ms: default_window_ms(),
            reveal_window_ms: default_window_ms(),
            prompt_tokens: default_prompt_tokens(),
            concurrency: default_concurrency(),
        }
    }
}

impl RoundsConfig {
    /// Ranges serde cannot say: `(key, reason)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (key, ms) in [("commit_window_ms", self.commit_window_ms), ("reveal_window_ms", self.reveal_window_ms)] {
            if !(1..=600_000).contains(&ms) {
                return Err((key.into(), format!("{ms} must be from 1 to 600000 ms")));
            }
        }
        if !(1..=MAX_PROMPT_TOKENS).contains(&self.prompt_tokens) {
            return Err((
                "prompt_tokens".into(),
                format!("{} must be from 1 to {MAX_PROMPT_TOKENS}", self.prompt_tokens),
            ));
        }
        if self.concurrency == 0 {
            return Err(("concurrency".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The round's prompt: see the module doc. `vocab` is at least 1 (the caller's model has tokens).
pub fn draw_prompt(seed: &[u8; 32], tokens: u32, vocab: u32) -> Vec<u32> {
    let vocab = u64::from(vocab.max(1));
    (0..tokens)
        .map(|i| {
            let digest = Sha256::new().chain_update(PROMPT_DOMAIN).chain_update(seed).chain_update(i.to_le_bytes());
            let bytes: [u8; 32] = digest.finalize().into();
            let word =
                u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]);
            // Below `vocab`, itself a u32.
            (word % vocab) as u32
        })
        .collect()
}

/// What the driver needs to run rounds.
pub struct RoundDriver {
    pub config: RoundsConfig,
    pub client: Arc<MinerClient>,
    pub ledger: Arc<dyn Ledger>,
    /// The validator's own hotkey, never asked.
    pub validator: String,
    /// The model miners are asked to run, and the task its rows name.
    pub model: String,
    pub task: String,
    /// The model's vocabulary size: prompt ids stay below it.
    pub vocab: u32,
    /// The model's hidden size, from the validator's own copy of its config (never what a
    /// miner declares): it bounds the read of a reveal and is the length a valid output has.
    pub hidden_size: usize,
}

/// A miner asked to commit.
#[derive(Debug, Clone)]
struct Asked {
    uid: u16,
    miner: Miner,
    /// The validator's model's hidden size ([`RoundDriver::hidden_size`]).
    hidden_size: usize,
}

/// How one miner's commit went.
enum Committed {
    Yes {
        commitment: Hash,
        at: Duration,
    },
    Row(CommitRevealRow),
    /// The validator's fault: no row.
    Dropped,
}

impl RoundDriver {
    /// Runs `epoch`'s round over `metagraph`'s miners and records its rows; returns them. A round
    /// already recorded for the epoch (a restarted node) is not run again.
    pub async fn run(&self, epoch: u64, metagraph: &Metagraph) -> assay_ledger::Result<Vec<CommitRevealRow>> {
        if !self.ledger.commit_reveals(epoch..epoch.saturating_add(1))?.is_empty() {
            return Ok(Vec::new());
        }
        let seed = self.ledger.epoch_seed(epoch, rand::random)?;
        let prompt_token_ids = draw_prompt(&seed.seed, self.config.prompt_tokens, self.vocab);
        let request = CommitRequest { round: epoch, epoch, model: self.model.clone(), prompt_token_ids };
        let asked = self.speakers(metagraph).await;
        let rows = self.round(&request, asked).await;
        let recorded = self.ledger.record_commit_reveals(epoch, &rows)?;
        let valid = rows.iter().filter(|r| r.reveal == RevealStatus::Valid).count();
        info!(epoch, rows = recorded, valid, "commit-reveal round recorded");
        Ok(rows)
    }

    /// The listed miners (the validator aside) whose `info` lists both routes and serves the
    /// round's model, by uid; read concurrently.
    async fn speakers(&self, metagraph: &Metagraph) -> Vec<Asked> {
        let limit = Arc::new(Semaphore::new(self.config.concurrency as usize));
        let mut infos = JoinSet::new();
        for n in metagraph.neurons.iter().filter(|n| n.hotkey != self.validator) {
            let Some(base_url) = n.axon.clone() else { continue };
            let (client, limit, uid) = (self.client.clone(), limit.clone(), n.uid);
            let miner = Miner { base_url, hotkey: n.hotkey.clone() };
            infos.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (uid, client.info_within(&miner, INFO_TIMEOUT).await, miner)
            });
        }
        let mut asked = Vec::new();
        while let Some(joined) = infos.join_next().await {
            // A task that panicked leaves that miner out; the others are still read.
            let Ok((uid, info, miner)) = joined else { continue };
            match info {
                Ok(info) if info.speaks_commit_reveal() && info.model == self.model => {
                    asked.push(Asked { uid, miner, hidden_size: self.hidden_size })
                }
                Ok(_) => {}
                Err(e) => info!(uid, error = %e, "no info from a miner: not asked in this round"),
            }
        }
        asked.sort_by_key(|a| a.uid);
        asked
    }

    /// One round over `asked`: every commit within the commit window, then, once it has closed,
    /// the reveals of those that committed within the reveal window. Rows by uid.
    async fn round(&self, request: &CommitRequest, asked: Vec<Asked>) -> Vec<CommitRevealRow> {
        let start = Instant::now();
        let commit_whole = Duration::from_millis(self.config.commit_window_ms);
        let reveal_whole = Duration::from_millis(self.config.reveal_window_ms);
        let commit_closes = start + commit_whole;
        let reveal_closes = commit_closes + reveal_whole;
        let limit = Arc::new(Semaphore::new(self.config.concurrency as usize));
        let mut commits = JoinSet::new();
        for a in asked {
            let (client, limit, request, task) =
                (self.client.clone(), limit.clone(), request.clone(), self.task.clone());
            commits.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let window =
                    Window { left: commit_closes.saturating_duration_since(Instant::now()), whole: commit_whole };
                let committed = commit_one(&client, &a, &request, window, start, &task).await;
                (a, committed)
            });
        }
        let mut rows = Vec::new();
        let mut to_reveal = Vec::new();
        while let Some(joined) = commits.join_next().await {
            let Ok((a, committed)) = joined else { continue };
            match committed {
                Committed::Yes { commitment, at } => to_reveal.push((a, commitment, at)),
                Committed::Row(row) => rows.push(row),
                Committed::Dropped => {}
            }
        }
        // No reveal is asked for before the commit window closes (decision 0009).
        tokio::time::sleep_until(commit_closes.into()).await;
        let mut reveals = JoinSet::new();
        for (a, commitment, at) in to_reveal {
            let (client, limit, round, task) = (self.client.clone(), limit.clone(), request.round, self.task.clone());
            reveals.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let window =
                    Window { left: reveal_closes.saturating_duration_since(Instant::now()), whole: reveal_whole };
                reveal_one(&client, &a, round, &commitment, window, (start, at), &task).await
            });
        }
        while let Some(joined) = reveals.join_next().await {
            rows.extend(joined.ok().flatten());
        }
        rows.sort_by_key(|r| r.uid);
        rows
    }
}

/// The time a call has before its window closes, and the whole window it would have had if the
/// validator's own queue (the `concurrency` bound) had not held it back.
#[derive(Debug, Clone, Copy)]
struct Window {
    left: Duration,
    whole: Duration,
}

impl Window {
    /// The validator's queue took more than a tenth of the window from this miner before its call
    /// began: a late answer is then the validator's pacing, never charged to the miner.
    fn queued_too_long(&self) -> bool {
        self.left < self.whole.mul_f64(0.9)
    }
}

fn row(
    uid: u16,
    task: &str,
    reveal: RevealStatus,
    committed: Option<Duration>,
    revealed: Option<Duration>,
) -> CommitRevealRow {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    CommitRevealRow {
        round: 0,
        uid,
        task: task.to_string(),
        reveal,
        committed_ms: committed.map(ms),
        revealed_ms: revealed.map(ms),
        output: Vec::new(),
    }
}

async fn commit_one(
    client: &MinerClient,
    a: &Asked,
    request: &CommitRequest,
    window: Window,
    start: Instant,
    task: &str,
) -> Committed {
    if window.left.is_zero() {
        // Its turn came after the window (the concurrency bound): the validator's pacing, not the miner's.
        warn!(uid = a.uid, "the commit window closed before this miner was asked: no row (raise rounds.concurrency)");
        return Committed::Dropped;
    }
    match client.commit(&a.miner, request, window.left).await {
        Ok(answer) => Committed::Yes { commitment: answer.commitment, at: start.elapsed() },
        Err(RoundError::Validator(e)) => {
            warn!(uid = a.uid, error = %e, "validator fault: could not ask a miner to commit; it has no row this round");
            Committed::Dropped
        }
        Err(RoundError::Miner(fault @ MinerFault::Late { .. })) if window.queued_too_long() => {
            warn!(uid = a.uid, error = %fault, left = ?window.left, "late after waiting in the validator's queue: no row (raise rounds.concurrency)");
            Committed::Dropped
        }
        Err(RoundError::Miner(fault)) => {
            info!(uid = a.uid, error = %fault, "a miner did not commit");
            let status =
                if matches!(fault, MinerFault::Late { .. }) { RevealStatus::Late } else { RevealStatus::Missing };
            Committed::Row(row(a.uid, task, status, None, None))
        }
    }
}

async fn reveal_one(
    client: &MinerClient,
    a: &Asked,
    round: u64,
    commitment: &Hash,
    window: Window,
    (start, committed): (Instant, Duration),
    task: &str,
) -> Option<CommitRevealRow> {
    if window.left.is_zero() {
        warn!(uid = a.uid, "the reveal window closed before this miner was asked: no row (raise rounds.concurrency)");
        return None;
    }
    let answer = match client.reveal(&a.miner, round, a.hidden_size, window.left).await {
        Ok(answer) => answer,
        Err(RoundError::Validator(e)) => {
            warn!(uid = a.uid, error = %e, "validator fault: could not ask a miner to reveal; it has no row this round");
            return None;
        }
        Err(RoundError::Miner(fault @ MinerFault::Late { .. })) if window.queued_too_long() => {
            warn!(uid = a.uid, error = %fault, left = ?window.left, "late after waiting in the validator's queue: no row (raise rounds.concurrency)");
            return None;
        }
        Err(RoundError::Miner(fault)) => {
            info!(uid = a.uid, error = %fault, "a miner did not reveal");
            let status =
                if matches!(fault, MinerFault::Late { .. }) { RevealStatus::Late } else { RevealStatus::Missing };
            return Some(row(a.uid, task, status, Some(committed), None));
        }
    };
    let revealed = Some(start.elapsed());
    Some(match check_reveal(commitment, &answer.response, a.hidden_size) {
        Reveal::Valid(values) => CommitRevealRow {
            output: values.into_iter().map(f64::from).collect(),
            ..row(a.uid, task, RevealStatus::Valid, Some(committed), revealed)
        },
        Reveal::Mismatch(why) => {
            info!(uid = a.uid, ?why, "a miner's reveal does not open its commitment");
            row(a.uid, task, RevealStatus::Mismatch, Some(committed), revealed)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that waited in the validator's queue for more than a tenth of its window is never
    /// charged late; one that had (nearly) the whole window is.
    #[test]
    fn a_miner_held_in_the_validators_queue_is_not_charged_late() {
        let whole = Duration::from_secs(10);
        let window = |left_ms| Window { left: Duration::from_millis(left_ms), whole };
        assert!(!window(10_000).queued_too_long());
        assert!(!window(9_000).queued_too_long());
        assert!(window(8_999).queued_too_long());
        assert!(window(0).queued_too_long());
    }
}
