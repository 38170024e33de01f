//! The watchtower's loop: one poll reads `latest.json` and the validator's commitment, then
//! examines the epochs after its position in order (at most [`MAX_EPOCHS_PER_POLL`] a poll),
//! audits each published one, passes over an unpublished one only when the next published
//! summary's link passes over it (else waits for it), and saves its position after each; once it has caught up (or is
//! held up by an epoch it cannot read yet) it sets the weights of the newest passing epoch, once
//! for the whole backfill, provided the chain's hash of that epoch or a later one was checked
//! (an epoch before the one the chain names passes on its links alone until then).
//! Between polls it sleeps `--interval`, longer (doubling, bounded) while the source or the
//! chain cannot be reached; a lost source or chain never ends `follow`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use assay_chain::{Chain, WeightsCall};
use assay_epoch::{AuditFailure, AuditOptions, ChainRecord, ObjectStore, Summary, keys, sha256_hex};
use assay_keys::Hotkey;
use assay_policy_runtime::Runtime;
use tracing::{error, info, warn};

use super::audit::{MAX_LATEST_BYTES, parse_latest};
use super::audit_history::chain_record;
use super::watch::now_ms;
use super::watch_audit::{Auditor, Failed, Passed, own_summary_sha256};
use super::watch_metrics::Metrics;
use super::watch_state::{self, Audited, PendingWeights, Stalled, Verdict, WatchState};
use crate::{CmdResult, Exit, failed, unusable};

/// The most epochs one poll examines (a publication far ahead is caught up over several).
pub const MAX_EPOCHS_PER_POLL: u64 = 64;
/// How long a chain read or a weights call may take.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest pause between polls while the source or the chain is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Why a poll stopped before it was done: retried at the next poll.
#[derive(Debug)]
pub enum PollError {
    /// The publication could not be read, or `latest.json` is not one.
    Source(String),
    /// The chain did not answer, or refused the weights.
    Chain(String),
    /// The watchtower's own state could not be written.
    Own(anyhow::Error),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Source(m) => write!(f, "reading the publication: {m}"),
            PollError::Chain(m) => write!(f, "the chain: {m}"),
            PollError::Own(e) => write!(f, "{e:#}"),
        }
    }
}

/// This run's verdicts, for the exit code.
#[derive(Debug, Default)]
pub struct Tally {
    pub pass: u64,
    pub fail: u64,
    pub unusable: u64,
    pub waiting: u64,
    pub silent: bool,
    /// The epoch the position has waited at for longer than `--silence-after` (unpublished
    /// though a later summary names it, or its hash not on chain).
    pub stalled: Option<u64>,
}

pub struct Watcher<'a> {
    pub store: &'a dyn ObjectStore,
    pub netuid: u16,
    pub validator: &'a str,
    pub from_epoch: Option<u64>,
    pub state_path: &'a Path,
    pub state: WatchState,
    pub options: &'a AuditOptions,
    pub runtime: &'a Runtime,
    pub rt: &'a tokio::runtime::Runtime,
    pub chain: Option<Arc<dyn Chain>>,
    /// The watchtower's hotkey when it sets weights.
    pub signer: Option<Hotkey>,
    pub version_key: u64,
    pub silence_after: Duration,
    pub metrics: &'a Metrics,
    pub tally: Tally,
    /// The web dashboard, told every verdict (`--dashboard-addr`).
    pub board: Option<Arc<super::watch_dashboard::WatchBoard>>,
}

impl Watcher<'_> {
    /// Audits everything published now (all of it, poll after poll), then says how it went in
    /// the exit code.
    pub fn once(&mut self) -> CmdResult {
        while self.poll().map_err(|e| unusable(anyhow!("{e}")))? {}
        self.check_silence();
        let t = &self.tally;
        outln!(
            "watched: {} pass, {} fail, {} unusable, {} waiting for the chain",
            t.pass,
            t.fail,
            t.unusable,
            t.waiting
        );
        if t.fail + t.unusable > 0 {
            return Err(failed(anyhow!("{} epochs did not pass the audit", t.fail + t.unusable)));
        }
        if t.silent {
            return Err(Exit { code: 3, error: anyhow!("validator {} is silent", self.validator) });
        }
        if let Some(epoch) = t.stalled {
            return Err(Exit { code: 3, error: anyhow!("validator {}'s epoch {epoch} is stalled", self.validator) });
        }
        Ok(())
    }

    /// Follows the publication until the process is stopped.
    pub fn follow(&mut self, interval: Duration) -> CmdResult {
        let mut failures: u32 = 0;
        loop {
            match self.poll() {
                Ok(true) => continue,
                Ok(false) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    warn!(error = %e, failures, "poll failed; backing off");
                }
            }
            self.check_silence();
            let backoff = interval.saturating_mul(1 << failures.min(10)).min(MAX_BACKOFF.max(interval));
            std::thread::sleep(if failures == 0 { interval } else { backoff });
        }
    }

    /// One poll; `Ok(true)` when more epochs are there to examine at once.
    fn poll(&mut self) -> Result<bool, PollError> {
        let result = self.poll_inner();
        match &result {
            Err(PollError::Source(_)) => self.metrics.source_errors.inc(),
            Err(PollError::Chain(_)) => self.metrics.chain_errors.inc(),
            _ => 0,
        };
        result
    }

    fn poll_inner(&mut self) -> Result<bool, PollError> {
        let Some(latest) = self.read_latest()? else {
            info!("nothing published yet");
            return Ok(false);
        };
        let record = self.read_chain()?;
        let ready_through = match &record {
            None => Some(latest),
            Some(ChainRecord::Committed(c)) => Some(c.epoch.min(latest)),
            Some(_) => None,
        };
        let Some(first) = self.first_to_examine(latest)? else {
            return self.flush_weights().map(|()| false);
        };
        let last = latest.min(first.saturating_add(MAX_EPOCHS_PER_POLL - 1));
        let chain = record.unwrap_or(ChainRecord::NotRead);
        let (held, waiting) = self.examine_range(first, last, latest, ready_through, &chain)?;
        if !held {
            self.note_stalled(None);
        }
        self.tally.waiting = waiting;
        self.metrics.set_waiting(waiting);
        self.save()?;
        let more = !held && last < latest;
        if !more {
            // Caught up: the newest passing epoch's weights, once for the whole backfill.
            self.flush_weights()?;
        }
        Ok(more)
    }

    /// The first epoch this poll examines (the start kept at once on the first poll), or `None`
    /// once the last possible epoch was examined. A `latest.json` gone backwards is reported.
    fn first_to_examine(&mut self, latest: u64) -> Result<Option<u64>, PollError> {
        let first = match self.state.examined_through {
            Some(examined) => match examined.checked_add(1) {
                Some(first) => first,
                None => return Ok(None),
            },
            None => {
                // The start is kept at once, so that an epoch waiting for the chain is still
                // the start at the next poll, when latest.json has moved on.
                let first = self.from_epoch.unwrap_or(latest);
                if let Some(before) = first.checked_sub(1) {
                    self.state.examined_through = Some(before);
                    self.save()?;
                }
                first
            }
        };
        if first > latest.saturating_add(1) {
            // The validator's pointer went backwards (a rollback, or another publisher): said
            // loudly and counted; the position does not follow it back.
            outln!("latest.json went backwards: it names epoch {latest}, epoch {} was examined", first - 1);
            error!(
                latest,
                first,
                validator = self.validator,
                "latest.json names an epoch before the ones already examined"
            );
            self.metrics.latest_backwards.inc();
        }
        Ok(Some(first))
    }

    /// Examines `first..=last` in order, under a bar for a backfill (more than one epoch):
    /// whether it held on an epoch (not ready on the chain, or `examine` said so), and how many
    /// epochs wait for the chain.
    fn examine_range(
        &mut self,
        first: u64,
        last: u64,
        latest: u64,
        ready_through: Option<u64>,
        chain: &ChainRecord,
    ) -> Result<(bool, u64), PollError> {
        let bar = (last > first).then(|| crate::progress::bar(last - first + 1, "auditing published epochs"));
        let mut epoch = first;
        while epoch <= last {
            if ready_through.is_none_or(|ready| epoch > ready) {
                outln!("epoch {epoch}: waiting for the chain to name its summary's hash");
                self.note_stalled(Some((epoch, "waited for the chain to name its summary's hash")));
                return Ok((true, (latest - epoch).saturating_add(1)));
            }
            match self.examine(epoch, chain, latest) {
                Ok(Some(next)) => {
                    epoch = next;
                    if let Some(bar) = &bar {
                        bar.set_position(next.saturating_sub(first));
                    }
                }
                Ok(None) => return Ok((true, 0)),
                Err(e) => {
                    // Stuck on this epoch for now: the epochs passed before it still get their
                    // weights (those the chain confirmed).
                    if let Err(w) = self.flush_weights() {
                        warn!(error = %w, "the weights kept could not be set; they are set at the next poll");
                    }
                    return Err(e);
                }
            }
        }
        Ok((false, 0))
    }

    /// The epoch `latest.json` names, noting when it moved; `None` when nothing is published.
    fn read_latest(&mut self) -> Result<Option<u64>, PollError> {
        let key = keys::latest(self.netuid);
        let bytes = match self.store.get_at_most(&key, MAX_LATEST_BYTES as u64) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => return Err(PollError::Source(e.to_string())),
        };
        let latest = parse_latest(&bytes, &key).map_err(PollError::Source)?;
        let epoch = latest.epoch.filter(|e| latest.summary == keys::summary(self.netuid, *e));
        let epoch = epoch.ok_or_else(|| PollError::Source(format!("{key} does not name an epoch's summary")))?;
        if self.state.saw_latest(&sha256_hex(&bytes), now_ms()) {
            info!(epoch, "the publication moved");
        }
        self.metrics.set_latest_moved(self.state.latest_moved_unix_ms);
        Ok(Some(epoch))
    }

    /// What the chain names for the validator now (`None`: no chain to read).
    fn read_chain(&self) -> Result<Option<ChainRecord>, PollError> {
        let Some(chain) = &self.chain else { return Ok(None) };
        // The timer is made inside the runtime, which it needs.
        let read = self.rt.block_on(async {
            tokio::time::timeout(CHAIN_TIMEOUT, chain.commitment(self.netuid, self.validator)).await
        });
        let commitment = read
            .map_err(|_| PollError::Chain(format!("{} did not answer in {CHAIN_TIMEOUT:?}", chain.describe())))?
            .map_err(|e| PollError::Chain(format!("reading the validator's commitment: {e}")))?;
        let fields = commitment.map(|c| c.fields).unwrap_or_default();
        match chain_record(&fields) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                error!(validator = self.validator, "the validator's commitment is malformed: {e}; its epochs wait");
                Ok(Some(ChainRecord::Missing))
            }
        }
    }

    /// Audits `epoch` if it is published, keeps its weights when it passes, and moves on:
    /// the next epoch to examine, `None` when the position waits at `epoch`.
    fn examine(&mut self, epoch: u64, chain: &ChainRecord, latest: u64) -> Result<Option<u64>, PollError> {
        let store = ReadErrors::new(self.store);
        let auditor = Auditor { store: &store, netuid: self.netuid, options: self.options, runtime: self.runtime };
        let anchor = self.state.anchor().map(|(e, sha)| (e, sha.to_string()));
        let (bytes, mut outcome) = match auditor.summary_bytes(epoch) {
            Ok(Some(bytes)) => {
                let outcome = auditor.audit(epoch, anchor.as_ref().map(|(e, sha)| (*e, sha.as_str())), chain);
                (bytes, outcome)
            }
            Ok(None) => return self.unpublished(epoch, latest),
            Err(e) => {
                store.record(&e);
                (Vec::new(), Err(Failed { failure: AuditFailure::Unusable(e.to_string()), in_history: true }))
            }
        };
        if outcome.is_err()
            && let Some(read_error) = store.first()
        {
            if !read_error.permanent {
                // A read that failed is no verdict: the epoch stays where it is and is audited
                // again at the next poll (after a pause that doubles while it keeps failing).
                outln!("epoch {epoch}: RETRY: a read failed: {}", read_error.message);
                return Err(PollError::Source(format!("epoch {epoch}: {}", read_error.message)));
            }
            // An object over the bound, a key outside the layout: the validator published
            // something no audit can read, and no retry changes that.
            let failure = AuditFailure::Mismatch(format!("unauditable: {}", read_error.message));
            outcome = Err(Failed { failure, in_history: true });
        }
        let history_passed = !matches!(&outcome, Err(failed) if failed.in_history);
        if history_passed {
            // The chain's hash, checked here, confirms every epoch linked before this one.
            let checked = Auditor::chain_checked(epoch, anchor.as_ref().map(|(e, _)| *e), chain);
            if let Some(checked) = checked {
                self.state.chain_checked_through = self.state.chain_checked_through.max(Some(checked));
            }
        } else {
            // The earlier epochs were passed on the strength of the links up to the epoch the
            // chain names: a broken history leaves them unconfirmed, so their weights go.
            let confirmed = self.state.chain_checked_through;
            if let Some(pending) = self.state.pending_weights.take_if(|p| confirmed.is_none_or(|c| c < p.epoch)) {
                outln!("epoch {}: weights not set, epoch {epoch}'s history failed", pending.epoch);
            }
        }
        let (verdict, detail) = self.judge(epoch, outcome.map_err(|f| f.failure));
        if let Some(board) = &self.board {
            board.audited(epoch, verdict, detail, &bytes);
        }
        let summary_sha256 = own_summary_sha256(&bytes, self.validator, self.options.max_summary_bytes);
        self.state.last_audited = Some(Audited { epoch, verdict, summary_sha256 });
        self.state.examined_through = Some(epoch);
        self.save()?;
        Ok(epoch.checked_add(1))
    }

    /// An unpublished `epoch` is passed over (with every unpublished one up to the next
    /// published summary) only when that summary's `previous` passes over it too: the
    /// validator's own statement that it never published it. When the next summary names it
    /// (the node's queue published a later epoch first), or nothing says, the position waits
    /// at it: its successor is not audited (and not failed) before it comes.
    fn unpublished(&mut self, epoch: u64, latest: u64) -> Result<Option<u64>, PollError> {
        let next = self.next_published(epoch, latest)?;
        match next {
            Some((next, previous)) if previous.is_none_or(|p| p < epoch) => {
                let through = next - 1;
                if through > epoch {
                    outln!("epochs {epoch} to {through}: not published (epoch {next} passes over them)");
                } else {
                    outln!("epoch {epoch}: not published");
                }
                self.state.examined_through = Some(through);
                self.note_stalled(None);
                self.save()?;
                Ok(Some(next))
            }
            Some((next, previous)) => {
                let named = previous.unwrap_or(epoch);
                outln!("epoch {epoch}: waiting: not published, and epoch {next} names epoch {named} before it");
                self.note_stalled(Some((epoch, "is named by a later summary but not published")));
                self.save()?;
                Ok(None)
            }
            None => {
                outln!("epoch {epoch}: waiting: not published, and no later summary says it was passed over");
                self.note_stalled(Some((epoch, "is named by a later summary but not published")));
                self.save()?;
                Ok(None)
            }
        }
    }

    /// The first published summary after `epoch` (with the epoch its `previous` names; `None`
    /// when it names none, or when it is not the validator's own and so says nothing): probed
    /// forward at most [`MAX_EPOCHS_PER_POLL`] epochs, then found by walking back from
    /// `latest` along the `previous` links (as many steps). `None` when neither finds one.
    fn next_published(&self, epoch: u64, latest: u64) -> Result<Option<(u64, Option<u64>)>, PollError> {
        let probe_end = latest.min(epoch.saturating_add(MAX_EPOCHS_PER_POLL));
        for e in epoch.saturating_add(1)..=probe_end {
            if let Some(previous) = self.link_of(e)? {
                return Ok(Some((e, previous)));
            }
        }
        if probe_end >= latest {
            return Ok(None);
        }
        let mut at = latest;
        for _ in 0..MAX_EPOCHS_PER_POLL {
            let Some(previous) = self.link_of(at)? else { return Ok(None) };
            match previous {
                Some(p) if p > epoch && p < at => at = p,
                _ => return Ok(Some((at, previous))),
            }
        }
        Ok(None)
    }

    /// Whether `epoch`'s summary is published (`None`: not), and the epoch its `previous`
    /// names when it is the validator's own summary.
    fn link_of(&self, epoch: u64) -> Result<Option<Option<u64>>, PollError> {
        let key = keys::summary(self.netuid, epoch);
        let bytes = match self.store.get_at_most(&key, self.options.max_summary_bytes) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(assay_publish::Error::TooLarge { .. }) => return Ok(Some(None)),
            Err(e) => return Err(PollError::Source(e.to_string())),
        };
        let own = Summary::parse_and_verify(&bytes).ok().filter(|s| s.validator.hotkey == self.validator);
        Ok(Some(own.and_then(|s| s.previous_link().map(|(p, _)| p))))
    }

    /// Notes the epoch the position waits at (`None`: none) and why (unpublished though named,
    /// or its hash not on chain); one waited at for longer than `--silence-after` is reported
    /// (a `stalled:` line, an `error` line, `assay_watch_stalled_epoch`, exit 3 with `--once`),
    /// and still never blamed on the epoch after it.
    fn note_stalled(&mut self, at: Option<(u64, &str)>) {
        let Some((epoch, why)) = at else {
            self.state.stalled = None;
            self.tally.stalled = None;
            self.metrics.set_stalled(None);
            return;
        };
        let now = now_ms();
        let since = match self.state.stalled {
            Some(s) if s.epoch == epoch => s.since_unix_ms,
            _ => {
                self.state.stalled = Some(Stalled { epoch, since_unix_ms: now });
                now
            }
        };
        let waited_ms = now.saturating_sub(since);
        let overdue = u128::from(waited_ms) > self.silence_after.as_millis();
        if overdue {
            outln!("stalled: epoch {epoch} {why}, for {:.1}s", waited_ms as f64 / 1000.0);
            error!(epoch, validator = self.validator, waited_s = waited_ms / 1000, "stalled: the epoch {why}");
        }
        self.tally.stalled = overdue.then_some(epoch);
        self.metrics.set_stalled(overdue.then_some(epoch));
    }

    /// The verdict on `epoch` (said, logged, counted; a pass's weights kept) and why, when it
    /// did not pass.
    fn judge(&mut self, epoch: u64, outcome: Result<Passed, AuditFailure>) -> (Verdict, Option<String>) {
        let (verdict, detail) = match outcome {
            Ok(passed) => {
                print_pass(epoch, &passed);
                self.keep_weights(epoch, &passed.report.summary);
                (Verdict::Pass, None)
            }
            Err(AuditFailure::Mismatch(m)) => {
                outln!("epoch {epoch}: FAIL: {m}");
                error!(epoch, validator = self.validator, "FAIL: {m}; no weights set, the last good ones stay");
                (Verdict::Fail, Some(m))
            }
            Err(AuditFailure::Unusable(m)) => {
                outln!("epoch {epoch}: UNUSABLE: cannot audit: {m}");
                error!(epoch, validator = self.validator, "cannot audit: {m}; no weights set");
                (Verdict::Unusable, Some(m))
            }
        };
        self.count(epoch, verdict);
        (verdict, detail)
    }

    fn count(&mut self, epoch: u64, verdict: Verdict) {
        match verdict {
            Verdict::Pass => self.tally.pass += 1,
            Verdict::Fail => self.tally.fail += 1,
            Verdict::Unusable => self.tally.unusable += 1,
        }
        self.metrics.audited(epoch, verdict);
    }

    /// Keeps a passing epoch's weights to set once the poll has caught up (with
    /// `--set-weights`): an older passing epoch's weights, not set yet, are replaced.
    fn keep_weights(&mut self, epoch: u64, summary: &Summary) {
        if self.chain.is_none() || self.signer.is_none() {
            return;
        }
        let weights = &summary.output.weights;
        if weights.is_empty() {
            outln!("epoch {epoch}: no weights to set (published unscored)");
            return;
        }
        if let Some(older) = &self.state.pending_weights {
            outln!("epoch {}: weights not set, epoch {epoch} is newer and passed", older.epoch);
        }
        self.state.pending_weights = Some(PendingWeights {
            epoch,
            uids: weights.iter().map(|w| w.uid).collect(),
            weights: weights.iter().map(|w| w.weight).collect(),
        });
    }

    /// Sets the weights kept (the newest passing epoch's) from the watchtower's hotkey. A
    /// chain that refuses or does not answer is the watchtower's own trouble: they stay kept
    /// (in the state file too) and are set at the next poll; the position does not wait.
    fn flush_weights(&mut self) -> Result<(), PollError> {
        let (Some(chain), Some(signer)) = (&self.chain, &self.signer) else { return Ok(()) };
        let Some(pending) = self.state.pending_weights.clone() else { return Ok(()) };
        let epoch = pending.epoch;
        if self.state.chain_checked_through.is_none_or(|checked| checked < epoch) {
            // Passed on its links alone so far: the weights wait for the chain's hash of this
            // epoch or a later one to be checked.
            info!(epoch, "weights kept until the chain confirms the epoch's hash");
            return Ok(());
        }
        let call = WeightsCall {
            netuid: self.netuid,
            uids: pending.uids,
            weights: pending.weights,
            version_key: self.version_key,
        };
        let set = self
            .rt
            .block_on(async { tokio::time::timeout(CHAIN_TIMEOUT, chain.set_weights(&signer.ss58(), &call)).await });
        let block = set
            .map_err(|_| {
                PollError::Chain(format!("{} did not take the weights in {CHAIN_TIMEOUT:?}", chain.describe()))
            })?
            .map_err(|e| PollError::Chain(format!("setting epoch {epoch}'s weights: {e}")))?;
        outln!("epoch {epoch}: weights set at block {block}");
        self.metrics.weights_set.inc();
        self.state.pending_weights = None;
        self.save()
    }

    /// Reports a validator whose `latest.json` has not moved for `--silence-after`.
    fn check_silence(&mut self) {
        let quiet_ms = now_ms().saturating_sub(self.state.latest_moved_unix_ms);
        let silent = u128::from(quiet_ms) > self.silence_after.as_millis();
        if silent && !self.tally.silent {
            outln!("silent: validator {} has not published for {:.1}s", self.validator, quiet_ms as f64 / 1000.0);
            warn!(validator = self.validator, quiet_s = quiet_ms / 1000, "the validator is silent");
        }
        self.tally.silent = silent;
        self.metrics.set_silent(silent);
    }

    fn save(&self) -> Result<(), PollError> {
        watch_state::save(self.state_path, &self.state).map_err(PollError::Own)
    }
}

/// A read that failed: its message, and whether it is the object's own doing (over the bound,
/// a key outside the layout: the same at every try) rather than the store's (I/O, network).
#[derive(Debug, Clone)]
struct ReadError {
    message: String,
    permanent: bool,
}

/// A store that remembers the first read that failed (an error, not a missing object), so that
/// an audit cut short by the source is told from a verdict.
struct ReadErrors<'a> {
    inner: &'a dyn ObjectStore,
    first: std::sync::Mutex<Option<ReadError>>,
}

impl<'a> ReadErrors<'a> {
    fn new(inner: &'a dyn ObjectStore) -> Self {
        Self { inner, first: std::sync::Mutex::new(None) }
    }

    fn first(&self) -> Option<ReadError> {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, e: &assay_publish::Error) {
        let permanent = matches!(e, assay_publish::Error::TooLarge { .. } | assay_publish::Error::BadKey(_));
        let error = ReadError { message: e.to_string(), permanent };
        self.first.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(error);
    }
}

impl ObjectStore for ReadErrors<'_> {
    fn put(&self, key: &str, bytes: &[u8]) -> assay_publish::Result<()> {
        self.inner.put(key, bytes)
    }

    fn get(&self, key: &str) -> assay_publish::Result<Option<Vec<u8>>> {
        let got = self.inner.get(key);
        if let Err(e) = &got {
            self.record(e);
        }
        got
    }

    fn get_at_most(&self, key: &str, limit: u64) -> assay_publish::Result<Option<Vec<u8>>> {
        let got = self.inner.get_at_most(key, limit);
        if let Err(e) = &got {
            self.record(e);
        }
        got
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

fn print_pass(epoch: u64, passed: &Passed) {
    for line in passed.history.checked.iter().chain(&passed.report.checked) {
        outln!("  ok    {line}");
    }
    for note in passed.history.notes.iter().chain(&passed.report.notes) {
        outln!("  note  {note}");
    }
    outln!("epoch {epoch}: PASS");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose every read fails with the error `fail` makes.
    struct Failing(fn() -> assay_publish::Error);

    impl ObjectStore for Failing {
        fn put(&self, _: &str, _: &[u8]) -> assay_publish::Result<()> {
            Ok(())
        }

        fn get(&self, _: &str) -> assay_publish::Result<Option<Vec<u8>>> {
            Err((self.0)())
        }

        fn get_at_most(&self, _: &str, _: u64) -> assay_publish::Result<Option<Vec<u8>>> {
            Err((self.0)())
        }

        fn describe(&self) -> String {
            "failing".into()
        }
    }

    /// An object over the bound or a key outside the layout is the object's own doing (a FAIL,
    /// not retried forever); a store or network error is a RETRY.
    #[test]
    fn read_errors_are_told_permanent_or_not() {
        let cases: [(fn() -> assay_publish::Error, bool); 3] = [
            (|| assay_publish::Error::TooLarge { key: "k".into(), limit: 1 }, true),
            (|| assay_publish::Error::BadKey("../k".into()), true),
            (|| assay_publish::Error::Store("connection reset".into()), false),
        ];
        for (error, permanent) in cases {
            let inner = Failing(error);
            let store = ReadErrors::new(&inner);
            assert!(store.get_at_most("k", 1).is_err());
            assert!(store.get("k").is_err());
            let first = store.first().expect("recorded");
            assert_eq!(first.permanent, permanent, "{}", first.message);
        }
    }
}
