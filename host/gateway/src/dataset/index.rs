//! Which epochs are published, found without listing the store: from `latest.json` back along
//! each summary's link to the previous one (`previous`, or `previous_summary_sha256` before
//! `/4`), each summary checked against the sha256 that points to it. Summaries are write-once,
//! so an epoch once indexed is never read again; each round reads `latest.json`, a bounded
//! number of summaries and digests a bounded number of dataset files.
//! Must not touch: HTTP (the handlers read the snapshots this publishes).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_publish::{ObjectStore, keys};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tracing::{error, warn};

use super::Limits;
use super::digest::{Digest, MAX_LINE_BYTES, digest, within_bytes};

/// `latest.json` is a pointer of a few lines.
const MAX_LATEST_BYTES: u64 = 64 << 10;
/// As `assay audit` reads summaries.
const MAX_SUMMARY_BYTES: u64 = 16 << 20;
/// The longest wait before an object that could not be read is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Why an object could not be used: a short code (what the endpoints say) and the details (what
/// is logged: they may name the store's paths or endpoints).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub code: &'static str,
    pub detail: String,
}

impl Failure {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }

    fn store(e: assay_publish::Error) -> Self {
        let code = match e {
            assay_publish::Error::TooLarge { .. } => "too_large",
            _ => "store_unavailable",
        };
        Self::new(code, e.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// When to try again after a failure, doubling from `base` up to `MAX_BACKOFF`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    at: Instant,
    wait: Duration,
}

impl Backoff {
    fn after(previous: Option<Backoff>, base: Duration) -> Self {
        let wait = previous.map_or(base, |b| b.wait.saturating_mul(2)).min(MAX_BACKOFF);
        Self { at: Instant::now() + wait, wait }
    }

    fn due(this: Option<Backoff>) -> bool {
        this.is_none_or(|b| Instant::now() >= b.at)
    }
}

/// One published epoch, as its summary names it.
#[derive(Debug, Clone)]
pub(crate) struct EpochEntry {
    pub epoch: u64,
    pub summary_key: String,
    pub summary_sha256: String,
    pub block_start: u64,
    pub block_end: u64,
    pub dataset_key: String,
    pub dataset_sha256: String,
    /// The summary's request and challenge counts (its input's).
    pub requests: u64,
    pub challenges: u64,
    pub scored: bool,
    /// Set once the dataset file was read: its size and counts.
    pub digest: Option<Arc<Digest>>,
    /// Why the dataset file could not be read (a `Failure`'s code), while it cannot; it is
    /// tried again after `retry`.
    pub unreadable: Option<&'static str>,
    pub retry: Option<Backoff>,
}

/// A summary by its epoch and the sha256 of its bytes.
type Link = (u64, String);

/// The fields of a summary the dataset needs (the rest is the auditor's).
#[derive(Deserialize)]
struct SummaryFields {
    format: String,
    netuid: u16,
    epoch: u64,
    block_start: u64,
    block_end: u64,
    unscored: Option<serde_json::Value>,
    input: InputFields,
    dataset: ObjectFields,
    previous: Option<PreviousFields>,
    previous_summary_sha256: Option<String>,
}

#[derive(Deserialize)]
struct InputFields {
    requests: u64,
    challenges: u64,
}

#[derive(Deserialize)]
struct ObjectFields {
    key: String,
    sha256: String,
}

#[derive(Deserialize)]
struct PreviousFields {
    epoch: u64,
    sha256: String,
}

#[derive(Deserialize)]
struct Latest {
    epoch: u64,
    sha256: String,
}

/// The published epochs found so far, and the links still to follow.
pub(crate) struct Index {
    netuid: u16,
    limits: Limits,
    entries: BTreeMap<u64, EpochEntry>,
    /// Links to read, the next first: a new head goes in front of an unfinished walk back.
    pending: VecDeque<Link>,
    head: Option<Link>,
    /// Links that could not be read, by epoch: when to try again.
    waiting: BTreeMap<u64, Backoff>,
    /// Where and why the walk back stopped before the first epoch, when a link did not hold.
    broken: Option<(u64, &'static str)>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Index {
    pub fn new(netuid: u16, limits: Limits) -> Self {
        Self {
            netuid,
            limits,
            entries: BTreeMap::new(),
            pending: VecDeque::new(),
            head: None,
            waiting: BTreeMap::new(),
            broken: None,
        }
    }

    /// The entries, newest first, whether the walk back is done, and why it stopped early.
    pub fn snapshot(&self) -> (Vec<EpochEntry>, bool, Option<&'static str>) {
        (self.entries.values().rev().cloned().collect(), self.pending.is_empty(), self.broken.map(|(_, code)| code))
    }

    /// One round: the head, then at most `walk_step` summaries and `digest_step` dataset files.
    pub fn round(&mut self, store: &dyn ObjectStore) {
        match read_latest(store, self.netuid) {
            Ok(Some(link)) if self.head.as_ref() != Some(&link) => {
                self.head = Some(link.clone());
                self.pending.push_front(link);
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "the dataset index cannot read latest.json; serving what it has"),
        }
        // A link that could not be read waits its backoff in `later`, then goes back in front.
        let (mut later, mut steps) = (Vec::new(), 0);
        while steps < self.limits.walk_step {
            let Some(link) = self.pending.pop_front() else { break };
            if !Backoff::due(self.waiting.get(&link.0).copied()) {
                later.push(link);
                continue;
            }
            steps += 1;
            match self.follow(store, link.clone()) {
                Ok(()) => {
                    self.waiting.remove(&link.0);
                    if self.broken.is_some_and(|(epoch, _)| epoch == link.0) {
                        self.broken = None;
                    }
                }
                // A history rewritten under what was read: reading it again cannot mend it.
                Err(e) if e.code == "history_rewritten" => {
                    error!(error = %e, "the dataset index stops walking back here");
                    self.broken = Some((link.0, e.code));
                }
                Err(e) => {
                    let backoff = Backoff::after(self.waiting.get(&link.0).copied(), self.limits.refresh);
                    if e.code == "store_unavailable" || e.code == "summary_missing" {
                        warn!(error = %e, retry_s = backoff.wait.as_secs_f64(), "the dataset index will read this summary again");
                    } else {
                        error!(error = %e, "the dataset index stops walking back here (and tries again later)");
                        self.broken = Some((link.0, e.code));
                    }
                    self.waiting.insert(link.0, backoff);
                    later.push(link);
                }
            }
        }
        for link in later.into_iter().rev() {
            self.pending.push_front(link);
        }
        self.digest_some(store);
    }

    /// Reads the summary `link` names and queues its own link to the previous one.
    fn follow(&mut self, store: &dyn ObjectStore, (epoch, sha256): Link) -> Result<(), Failure> {
        if let Some(known) = self.entries.get(&epoch) {
            // The walk joined what was read before; a different hash is a rewritten history.
            return if known.summary_sha256 == sha256 {
                Ok(())
            } else {
                Err(Failure::new(
                    "history_rewritten",
                    format!("epoch {epoch}'s summary is linked as {sha256}, but was read as {}", known.summary_sha256),
                ))
            };
        }
        let full = self.entries.len() >= self.limits.max_epochs;
        if full && self.entries.keys().next().is_some_and(|&oldest| epoch < oldest) {
            return Ok(()); // older than anything kept
        }
        let entry = read_summary(store, self.netuid, epoch, &sha256)?;
        if let Some(previous) = entry.1 {
            self.pending.push_front(previous);
        }
        self.entries.insert(epoch, entry.0);
        while self.entries.len() > self.limits.max_epochs {
            self.entries.pop_first();
        }
        Ok(())
    }

    /// Reads the dataset files of up to `digest_step` epochs not read yet, newest first.
    fn digest_some(&mut self, store: &dyn ObjectStore) {
        let todo: Vec<u64> = self
            .entries
            .values()
            .rev()
            .filter(|e| e.digest.is_none() && Backoff::due(e.retry))
            .take(self.limits.digest_step)
            .map(|e| e.epoch)
            .collect();
        let changed = !todo.is_empty();
        for epoch in todo {
            let Some(entry) = self.entries.get_mut(&epoch) else { continue };
            let read = read_dataset(store, entry, self.limits.max_object_bytes).and_then(|bytes| {
                digest(
                    &bytes,
                    self.limits.max_jsonl_bytes,
                    MAX_LINE_BYTES,
                    self.limits.max_recent,
                    self.limits.max_recent_bytes,
                )
                .map_err(|e| Failure::new(e.code(), e.to_string()))
            });
            match read {
                Ok(d) => {
                    entry.digest = Some(Arc::new(d));
                    (entry.unreadable, entry.retry) = (None, None);
                }
                Err(reason) => {
                    let backoff = Backoff::after(entry.retry, self.limits.refresh);
                    error!(epoch, key = %entry.dataset_key, error = %reason, retry_s = backoff.wait.as_secs_f64(),
                        "a published dataset file cannot be served (tried again later)");
                    (entry.unreadable, entry.retry) = (Some(reason.code), Some(backoff));
                }
            }
        }
        if changed {
            self.trim_recent();
        }
    }

    /// Keeps the newest records of the newest epochs only: once newer epochs hold `max_recent`
    /// records or `max_recent_bytes` of them, older ones drop theirs (or what is past the bytes).
    fn trim_recent(&mut self) {
        let (mut held, mut bytes) = (0usize, 0u64);
        for entry in self.entries.values_mut().rev() {
            let Some(d) = entry.digest.as_mut() else { continue };
            let left = self.limits.max_recent_bytes.saturating_sub(bytes);
            let fit =
                if held >= self.limits.max_recent { 0 } else { within_bytes(d.newest.iter().map(|k| k.bytes), left) };
            if fit < d.newest.len() {
                Arc::make_mut(d).newest.truncate(fit);
            }
            held += d.newest.len();
            bytes = bytes.saturating_add(d.newest.iter().map(|k| k.bytes).sum::<u64>());
        }
    }
}

/// `latest.json`'s link, or `None` while nothing is published.
fn read_latest(store: &dyn ObjectStore, netuid: u16) -> Result<Option<Link>, String> {
    let key = keys::latest(netuid);
    let Some(bytes) = store.get_at_most(&key, MAX_LATEST_BYTES).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let latest: Latest = serde_json::from_slice(&bytes).map_err(|e| format!("{key}: {e}"))?;
    Ok(Some((latest.epoch, latest.sha256)))
}

/// The summary of `epoch`, checked against `sha256`, and its link to the previous one.
fn read_summary(
    store: &dyn ObjectStore,
    netuid: u16,
    epoch: u64,
    sha256: &str,
) -> Result<(EpochEntry, Option<Link>), Failure> {
    let key = keys::summary(netuid, epoch);
    let bytes = store
        .get_at_most(&key, MAX_SUMMARY_BYTES)
        .map_err(Failure::store)?
        .ok_or_else(|| Failure::new("summary_missing", format!("{key} is linked to but not published")))?;
    let actual = sha256_hex(&bytes);
    if actual != sha256 {
        return Err(Failure::new(
            "summary_sha256_mismatch",
            format!("{key} has sha256 {actual}, not the {sha256} linked to it"),
        ));
    }
    let invalid = |detail: String| Failure::new("summary_invalid", detail);
    let s: SummaryFields = serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{key}: {e}")))?;
    if s.netuid != netuid || s.epoch != epoch {
        return Err(invalid(format!("{key} is the summary of netuid {} epoch {}", s.netuid, s.epoch)));
    }
    if s.dataset.key != keys::dataset(netuid, epoch) {
        return Err(invalid(format!("{key} names the dataset {:?}, outside the layout", s.dataset.key)));
    }
    let previous = match (s.previous, s.previous_summary_sha256) {
        (Some(p), _) => Some((p.epoch, p.sha256)),
        // Before `/4`: the epoch just before.
        (None, Some(sha)) if s.format != "assay-epoch-summary/4" && epoch > 0 => Some((epoch - 1, sha)),
        _ => None,
    };
    let entry = EpochEntry {
        epoch,
        summary_key: key,
        summary_sha256: actual,
        block_start: s.block_start,
        block_end: s.block_end,
        dataset_key: s.dataset.key,
        dataset_sha256: s.dataset.sha256,
        requests: s.input.requests,
        challenges: s.input.challenges,
        scored: s.unscored.is_none(),
        digest: None,
        unreadable: None,
        retry: None,
    };
    Ok((entry, previous.filter(|(e, _)| *e < epoch)))
}

/// The dataset file of `entry`, within `limit` bytes and with the sha256 its summary signed.
pub(crate) fn read_dataset(store: &dyn ObjectStore, entry: &EpochEntry, limit: u64) -> Result<Vec<u8>, Failure> {
    let bytes = store.get_at_most(&entry.dataset_key, limit).map_err(Failure::store)?.ok_or_else(|| {
        Failure::new("missing", format!("{} is named by its summary but not published", entry.dataset_key))
    })?;
    let actual = sha256_hex(&bytes);
    if actual != entry.dataset_sha256 {
        return Err(Failure::new(
            "sha256_mismatch",
            format!("{} has sha256 {actual}, not the {} its summary signed", entry.dataset_key, entry.dataset_sha256),
        ));
    }
    Ok(bytes)
}
