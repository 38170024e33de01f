//! The node's side of the web dashboard (`assay_dashboard`): a [`Source`] that reads the
//! status snapshot, the ledger (each epoch's requests and verdicts), the chain view (hotkeys)
//! and the published summaries, and keeps the last closed epochs (`History`, bounded).
//! Must not touch: serving (the dashboard crate's) or anything the node does: it only reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assay_chain::ChainView;
use assay_dashboard::view::Component;
use assay_dashboard::{EpochView, History, Latency, MinerRow, Overview, Policies, Source, VerdictCounts};
use assay_ledger::{ChallengeRow, Ledger, Outcome, RequestEntry, Verdict};
use assay_publish::ObjectStore;

use crate::{Closed, StatusHandle};

/// How long an overview is reused: the page polls every two seconds, maybe from several tabs.
const OVERVIEW_FRESH: Duration = Duration::from_secs(1);

/// The node's dashboard data; cheap to clone.
#[derive(Clone)]
pub struct NodeBoard {
    status: StatusHandle,
    ledger: Arc<dyn Ledger>,
    view: ChainView,
    store: Arc<dyn ObjectStore>,
    history: History,
    cached: Arc<Mutex<Option<(Instant, Overview)>>>,
}

impl NodeBoard {
    pub(crate) fn new(
        status: StatusHandle,
        ledger: Arc<dyn Ledger>,
        view: ChainView,
        store: Arc<dyn ObjectStore>,
    ) -> Self {
        Self { status, ledger, view, store, history: History::default(), cached: Arc::default() }
    }

    /// Keeps the view of an epoch just closed.
    pub(crate) fn record(&self, closed: &Closed) {
        let summary = &closed.summary;
        let epoch = summary.epoch;
        let weights: BTreeMap<u16, u16> = summary.output.weights.iter().map(|w| (w.uid, w.weight)).collect();
        let scores: BTreeMap<u16, &assay_policy_sdk::MinerScore> =
            summary.output.scores.iter().map(|s| (s.uid, s)).collect();
        let scored = summary.unscored.is_none();
        let mut miners = self.rows(epoch);
        for row in &mut miners {
            row.weight = scored.then(|| weights.get(&row.uid).copied().unwrap_or(0));
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
        let metagraph = self.view.metagraph();
        let hotkeys: BTreeMap<u16, &str> = metagraph.neurons.iter().map(|n| (n.uid, n.hotkey.as_str())).collect();
        let serving = metagraph.neurons.iter().filter(|n| n.axon.is_some()).map(|n| n.uid);
        let uids: BTreeSet<u16> =
            serving.chain(requests.iter().map(|r| r.record.uid)).chain(challenges.iter().map(|c| c.uid)).collect();
        uids.into_iter()
            .map(|uid| row(uid, hotkeys.get(&uid).copied().unwrap_or_default(), &requests, &challenges))
            .collect()
    }

    fn fresh_overview(&self) -> Overview {
        let status = self.status.get();
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
            head: Some(status.head),
            epoch: Some(status.epoch),
            chain_error: status.chain_error.clone(),
            policies: Policies {
                scorer: status.scorer.clone().or_else(|| last.map(|l| l.scorer.clone())),
                shadow: last.and_then(|l| l.shadow.clone()),
                challenger: last.and_then(|l| l.challenger.clone()),
                announcements: status.announcements.clone(),
            },
            current: self.rows(status.epoch),
            last_epoch: self.history.last_epoch(),
            notes,
        }
    }
}

/// A miner's row of one epoch, from that epoch's requests and challenges.
fn row(uid: u16, hotkey: &str, requests: &[RequestEntry], challenges: &[ChallengeRow]) -> MinerRow {
    let mine: Vec<&RequestEntry> = requests.iter().filter(|r| r.record.uid == uid).collect();
    let ok: Vec<f64> = mine.iter().filter(|r| r.record.outcome == Outcome::Ok).map(|r| r.record.total_ms).collect();
    let mut verdicts = VerdictCounts::default();
    for challenge in challenges.iter().filter(|c| c.uid == uid) {
        let count = match challenge.verdict {
            Verdict::Pass => &mut verdicts.passed,
            Verdict::Fail => &mut verdicts.failed,
            Verdict::Void => &mut verdicts.voided,
        };
        *count = count.saturating_add(1);
    }
    MinerRow {
        uid,
        hotkey: hotkey.to_string(),
        requests: u32::try_from(mine.len()).unwrap_or(u32::MAX),
        ok: u32::try_from(ok.len()).unwrap_or(u32::MAX),
        verdicts,
        latency: Latency::of(&ok),
        ..MinerRow::default()
    }
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

    fn summary(&self, epoch: u64) -> Option<Vec<u8>> {
        let key = self.history.get(epoch)?.summary_key;
        let limit = assay_dashboard::MAX_SUMMARY_BYTES as u64;
        self.store.get_at_most(&key, limit).unwrap_or_else(|e| {
            tracing::warn!(epoch, error = %e, "the dashboard could not read a published summary");
            None
        })
    }
}
