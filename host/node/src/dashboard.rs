//! The node's side of the web dashboard (`assay_dashboard`): a [`Source`] that reads the
//! status snapshot, the ledger (each epoch's requests and verdicts), the chain view (hotkeys)
//! and the published summaries, and keeps the last closed epochs (`History`, bounded).
//! Must not touch: serving (the dashboard crate's) or anything the node does: it only reads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assay_chain::{ChainView, Epochs, Metagraph};
use assay_dashboard::view::Component;
use assay_dashboard::{EpochView, History, Latency, MinerRow, Overview, Policies, Source, VerdictCounts};
use assay_ledger::{Ledger, Outcome, Verdict};
use assay_publish::ObjectStore;

use crate::{Closed, StatusHandle};

/// How long an overview is reused: the page polls every two seconds, maybe from several tabs.
const OVERVIEW_FRESH: Duration = Duration::from_secs(1);
/// How long the open epoch's rows are reused: reading them takes the ledger's connection (the
/// gateway's recorder and the epoch close wait on it) and the whole epoch so far.
const OPEN_FRESH: Duration = Duration::from_secs(5);

/// The open epoch's rows, with when and for which epoch they were read.
type OpenRows = Option<(Instant, u64, Vec<MinerRow>)>;

/// The node's dashboard data; cheap to clone.
#[derive(Clone)]
pub struct NodeBoard {
    status: StatusHandle,
    ledger: Arc<dyn Ledger>,
    view: ChainView,
    /// The chain's epochs: the overview's epoch is the live head's, as the metrics say it.
    epochs: Epochs,
    store: Arc<dyn ObjectStore>,
    history: History,
    cached: Arc<Mutex<Option<(Instant, Overview)>>>,
    open: Arc<Mutex<OpenRows>>,
}

impl NodeBoard {
    pub(crate) fn new(
        status: StatusHandle,
        ledger: Arc<dyn Ledger>,
        view: ChainView,
        epochs: Epochs,
        store: Arc<dyn ObjectStore>,
    ) -> Self {
        let (history, cached, open) = (History::default(), Arc::default(), Arc::default());
        Self { status, ledger, view, epochs, store, history, cached, open }
    }

    /// Keeps the view of an epoch just closed, its rows the closer's tally (blocking: call it
    /// where the close runs).
    pub(crate) fn record(&self, closed: &Closed) {
        let summary = &closed.summary;
        let epoch = summary.epoch;
        let weights: Vec<(u16, u16)> = summary.output.weights.iter().map(|w| (w.uid, w.weight)).collect();
        let scores: BTreeMap<u16, &assay_policy_sdk::MinerScore> =
            summary.output.scores.iter().map(|s| (s.uid, s)).collect();
        let mut miners = closed.miners.clone();
        // Every uid weighted above zero gets a row, served or not.
        assay_dashboard::view::join_weights(&mut miners, &weights, summary.unscored.is_none());
        for row in &mut miners {
            if let Some(score) = scores.get(&row.uid) {
                row.score = Some(score.score);
                row.components =
                    score.components.iter().map(|c| Component { name: c.name.clone(), value: c.value }).collect();
            }
        }
        self.history.record(EpochView {
            epoch,
            summary_key: closed.summary_key.clone(),
            summary_sha256: closed.summary_sha256.clone(),
            scorer: summary.scorer.sha256.clone(),
            shadow: summary.shadow.as_ref().map(|s| s.scorer.sha256.clone()),
            challenger: summary.challenger.clone(),
            unscored: summary.unscored.as_ref().map(|u| format!("{}: {}", u.kind, u.reason)),
            audit: None,
            miners,
        });
    }

    /// Notes a watchtower's verdict on a closed epoch (the devnet's, which runs one beside).
    pub fn note_audit(&self, epoch: u64, audit: assay_dashboard::Audit) {
        self.history.update(epoch, |view| view.audit = Some(audit));
    }

    /// One row per miner of `epoch` that serves (an axon in the metagraph) or was asked or
    /// challenged: its requests, verdicts and latencies from the ledger, its hotkey from the
    /// chain view. Neurons that serve nothing (the owner, validators) are left out.
    fn rows(&self, epoch: u64) -> Vec<MinerRow> {
        let requests = self.ledger.requests(epoch).unwrap_or_else(|e| {
            tracing::warn!(epoch, error = %e, "the dashboard could not read the epoch's requests");
            Vec::new()
        });
        let challenges = self.ledger.challenges(epoch).unwrap_or_else(|e| {
            tracing::warn!(epoch, error = %e, "the dashboard could not read the epoch's challenges");
            Vec::new()
        });
        let requests = requests.iter().map(|r| (r.record.uid, r.record.outcome == Outcome::Ok, r.record.total_ms));
        rows_of(&self.view.metagraph(), requests, challenges.iter().map(|c| (c.uid, c.verdict)))
    }

    /// The open epoch's rows: read again at most every [`OPEN_FRESH`] (or when the epoch moved).
    fn open_rows(&self, epoch: u64) -> Vec<MinerRow> {
        cached_rows(&self.open, epoch, Instant::now(), || self.rows(epoch))
    }

    fn fresh_overview(&self) -> Overview {
        let status = self.status.get();
        // Read live: the status snapshot stands still while an epoch closes.
        let head = self.view.head();
        let epoch = self.epochs.of_block(head);
        let last = status.last_closed.as_ref();
        let mut notes: Vec<String> =
            status.outgoing_errors.iter().map(|(e, why)| format!("epoch {e}: {why}")).collect();
        if !status.outgoing.is_empty() {
            notes.push(format!("epochs still to publish or weigh: {:?}", status.outgoing));
        }
        if let Some((epoch, block)) = status.weights_accepted {
            notes.push(format!("the chain accepted the weights of epoch {epoch} at block {block}"));
        }
        Overview {
            role: "validator".into(),
            netuid: status.netuid,
            validator: status.validator.clone(),
            chain: status.chain.clone(),
            head: Some(head),
            epoch: Some(epoch),
            chain_error: status.chain_error.clone(),
            policies: Policies {
                scorer: status.scorer.clone().or_else(|| last.map(|l| l.scorer.clone())),
                shadow: last.and_then(|l| l.shadow.clone()),
                challenger: last.and_then(|l| l.challenger.clone()),
                announcements: status.announcements.clone(),
            },
            current: self.open_rows(epoch),
            last_epoch: self.history.last_epoch(),
            // The router's to fill.
            revision: 0,
            queued: status.outgoing.clone(),
            notes,
        }
    }
}

/// The rows kept in `cache` when they are of `epoch` and younger than [`OPEN_FRESH`] at `now`;
/// else `read()`, kept. The lock is held while reading: pages polling at once read once.
fn cached_rows(
    cache: &Mutex<OpenRows>,
    epoch: u64,
    now: Instant,
    read: impl FnOnce() -> Vec<MinerRow>,
) -> Vec<MinerRow> {
    let mut kept = cache.lock().unwrap_or_else(|p| p.into_inner());
    let fresh =
        |(at, e, _): &&(Instant, u64, Vec<MinerRow>)| *e == epoch && now.saturating_duration_since(*at) < OPEN_FRESH;
    if let Some((_, _, rows)) = kept.as_ref().filter(fresh) {
        return rows.clone();
    }
    let rows = read();
    *kept = Some((now, epoch, rows.clone()));
    rows
}

/// One row per miner that serves or was asked or challenged, in one pass over the requests and
/// the challenges (grouped by uid).
/// A request is `(uid, answered well, total ms)`, a challenge `(uid, verdict)`.
pub(crate) fn rows_of(
    metagraph: &Metagraph,
    requests: impl IntoIterator<Item = (u16, bool, f64)>,
    challenges: impl IntoIterator<Item = (u16, Verdict)>,
) -> Vec<MinerRow> {
    #[derive(Default)]
    struct Tally {
        requests: usize,
        ok_ms: Vec<f64>,
        verdicts: VerdictCounts,
    }
    let mut tallies: BTreeMap<u16, Tally> = BTreeMap::new();
    for n in metagraph.neurons.iter().filter(|n| n.axon.is_some()) {
        tallies.entry(n.uid).or_default();
    }
    for (uid, ok, total_ms) in requests {
        let tally = tallies.entry(uid).or_default();
        tally.requests += 1;
        if ok {
            tally.ok_ms.push(total_ms);
        }
    }
    for (uid, verdict) in challenges {
        let verdicts = &mut tallies.entry(uid).or_default().verdicts;
        let count = match verdict {
            Verdict::Pass => &mut verdicts.passed,
            Verdict::Fail => &mut verdicts.failed,
            Verdict::Void => &mut verdicts.voided,
        };
        *count = count.saturating_add(1);
    }
    let hotkeys: BTreeMap<u16, &str> = metagraph.neurons.iter().map(|n| (n.uid, n.hotkey.as_str())).collect();
    tallies
        .into_iter()
        .map(|(uid, tally)| MinerRow {
            uid,
            hotkey: hotkeys.get(&uid).copied().unwrap_or_default().to_string(),
            requests: u32::try_from(tally.requests).unwrap_or(u32::MAX),
            ok: u32::try_from(tally.ok_ms.len()).unwrap_or(u32::MAX),
            verdicts: tally.verdicts,
            latency: Latency::of(&tally.ok_ms),
            ..MinerRow::default()
        })
        .collect()
}

impl Source for NodeBoard {
    fn overview(&self) -> Overview {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, overview)) = cached.as_ref().filter(|(at, _)| at.elapsed() < OVERVIEW_FRESH) {
            return overview.clone();
        }
        let overview = self.fresh_overview();
        *cached = Some((Instant::now(), overview.clone()));
        overview
    }

    fn epochs(&self) -> Vec<EpochView> {
        self.history.epochs()
    }

    fn revision(&self) -> u64 {
        self.history.revision()
    }

    fn epoch(&self, epoch: u64) -> Option<EpochView> {
        self.history.get(epoch)
    }

    fn summary(&self, epoch: u64) -> Option<Vec<u8>> {
        let key = self.history.get(epoch)?.summary_key;
        let limit = assay_dashboard::MAX_SUMMARY_BYTES as u64;
        self.store.get_at_most(&key, limit).unwrap_or_else(|e| {
            tracing::warn!(epoch, error = %e, "the dashboard could not read a published summary");
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use assay_ledger::{ChallengeRow, RequestEntry, RequestKind, RequestRow};

    use super::*;

    fn request(id: u64, uid: u16, outcome: Outcome, total_ms: f64) -> RequestEntry {
        RequestEntry {
            task: "chat".into(),
            record: RequestRow {
                id,
                uid,
                kind: RequestKind::Synthetic,
                outcome,
                greedy: true,
                prompt_tokens: 1,
                completion_tokens: 1,
                ttft_ms: 1.0,
                total_ms,
                reported_ttft_ms: None,
                reported_tps: None,
                quality: None,
                started_ms: 0,
            },
            values: Vec::new(),
            content: None,
        }
    }

    fn challenge(uid: u16, verdict: Verdict) -> ChallengeRow {
        ChallengeRow { request_id: 0, uid, points: Vec::new(), verdict, reason: String::new(), response_ms: None }
    }

    /// The overview's head and epoch are the chain view's now, not those of a status the node's
    /// loop last wrote before a long close.
    #[test]
    fn the_overview_reads_the_head_live() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Arc::new(assay_ledger::SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger"));
        let metagraph = Metagraph { netuid: 1, neurons: Vec::new(), owner_hotkey: None };
        let view = ChainView::fixed(42, Arc::new(metagraph), Instant::now());
        let store = Arc::new(assay_publish::LocalFolder::new(dir.path().join("published")));
        let status = StatusHandle::default();
        status.update(|s| {
            s.head = 3;
            s.epoch = 0;
        });
        let board = NodeBoard::new(status, ledger, view, Epochs::new(10).expect("epochs"), store);
        let overview = board.fresh_overview();
        assert_eq!((overview.head, overview.epoch), (Some(42), Some(4)));
    }

    #[test]
    fn the_open_epoch_is_read_at_most_every_few_seconds() {
        let cache = Mutex::new(None);
        let reads = std::cell::Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            vec![MinerRow { uid: reads.get(), ..MinerRow::default() }]
        };
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(cached_rows(&cache, 7, at(0), read)[0].uid, 1);
        for s in [1, 2, 4] {
            assert_eq!(cached_rows(&cache, 7, at(s), read)[0].uid, 1, "kept at {s} s");
        }
        assert_eq!(cached_rows(&cache, 7, at(5), read)[0].uid, 2, "read again once stale");
        assert_eq!(cached_rows(&cache, 8, at(6), read)[0].uid, 3, "read again for a new epoch");
        assert_eq!(reads.get(), 3);
    }

    #[test]
    fn rows_group_requests_and_verdicts_by_uid() {
        let metagraph: Metagraph = serde_json::from_value(serde_json::json!({
            "netuid": 1,
            "neurons": [
                {"uid": 0, "hotkey": "owner"},
                {"uid": 1, "hotkey": "a", "axon": "http://a"},
                {"uid": 2, "hotkey": "b", "axon": "http://b"},
            ],
        }))
        .expect("metagraph");
        let requests = [
            request(1, 1, Outcome::Ok, 10.0),
            request(2, 3, Outcome::Ok, 40.0),
            request(3, 1, Outcome::Timeout, 9000.0),
            request(4, 1, Outcome::Ok, 30.0),
        ];
        let challenges = [challenge(1, Verdict::Pass), challenge(1, Verdict::Fail), challenge(2, Verdict::Void)];
        let requests = requests.iter().map(|r| (r.record.uid, r.record.outcome == Outcome::Ok, r.record.total_ms));
        let rows = rows_of(&metagraph, requests, challenges.iter().map(|c| (c.uid, c.verdict)));
        let uids: Vec<u16> = rows.iter().map(|r| r.uid).collect();
        assert_eq!(uids, [1, 2, 3], "serving or asked; the owner without an axon left out");
        assert_eq!((rows[0].hotkey.as_str(), rows[0].requests, rows[0].ok), ("a", 3, 2));
        assert_eq!(rows[0].verdicts, VerdictCounts { passed: 1, failed: 1, voided: 0 });
        assert_eq!(rows[0].latency.as_ref().map(|l| (l.samples, l.max_ms)), Some((2, 30.0)));
        assert_eq!((rows[1].requests, rows[1].verdicts.voided, rows[1].latency.is_none()), (0, 1, true));
        assert_eq!((rows[2].hotkey.as_str(), rows[2].requests), ("", 1));
    }
}
