//! The watchtower's web dashboard (`assay watch --dashboard-addr`): the epochs it audited, each
//! with its verdict (PASS, FAIL or UNUSABLE and why), the policies its summary names and the
//! weights and scores it published, served on a thread of its own (`assay_dashboard`).
//! Must not touch: the audit itself (`watch_loop.rs`): this only keeps what it was told.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use assay_dashboard::view::Component;
use assay_dashboard::{Audit, EpochView, History, MinerRow, Overview, Policies, Source};
use assay_epoch::Summary;

use super::watch_state::Verdict;

/// The summaries kept for the page's links: the newest few, each at most this large.
const KEPT_SUMMARIES: usize = 16;
const MAX_KEPT_SUMMARY_BYTES: usize = 1 << 20;

/// What the watchtower shows.
pub struct WatchBoard {
    netuid: u16,
    validator: String,
    source: String,
    history: History,
    summaries: Mutex<BTreeMap<u64, Vec<u8>>>,
    /// Epochs audited since the start, and how many of them did not pass (the history keeps
    /// only the last few).
    tally: Mutex<(u64, u64)>,
}

impl WatchBoard {
    pub fn new(netuid: u16, validator: &str, source: &str) -> Self {
        Self {
            netuid,
            validator: validator.to_string(),
            source: source.to_string(),
            history: History::default(),
            summaries: Mutex::default(),
            tally: Mutex::default(),
        }
    }

    /// Keeps an audited epoch: its verdict, and what its summary (`summary_bytes`, maybe empty
    /// or unreadable when the audit failed) says.
    pub fn audited(&self, epoch: u64, verdict: Verdict, detail: Option<String>, summary_bytes: &[u8]) {
        let verdict_text = match verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Unusable => "UNUSABLE",
        };
        let mut view = serde_json::from_slice::<Summary>(summary_bytes).map(|s| view_of(&s)).unwrap_or_default();
        view.epoch = epoch;
        view.audit = Some(Audit { verdict: verdict_text.into(), detail });
        self.history.record(view);
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        tally.0 += 1;
        tally.1 += u64::from(verdict != Verdict::Pass);
        drop(tally);
        if !summary_bytes.is_empty() && summary_bytes.len() <= MAX_KEPT_SUMMARY_BYTES {
            let mut kept = self.summaries.lock().unwrap_or_else(|p| p.into_inner());
            kept.insert(epoch, summary_bytes.to_vec());
            while kept.len() > KEPT_SUMMARIES {
                kept.pop_first();
            }
        }
    }
}

/// An epoch as its summary tells it (weights and scores; the watchtower has no ledger).
fn view_of(summary: &Summary) -> EpochView {
    let weights: Vec<(u16, u16)> = summary.output.weights.iter().map(|w| (w.uid, w.weight)).collect();
    let mut miners = summary
        .output
        .scores
        .iter()
        .map(|s| MinerRow {
            uid: s.uid,
            score: Some(s.score),
            components: s.components.iter().map(|c| Component { name: c.name.clone(), value: c.value }).collect(),
            ..MinerRow::default()
        })
        .collect();
    assay_dashboard::view::join_weights(&mut miners, &weights, summary.unscored.is_none());
    EpochView {
        epoch: summary.epoch,
        summary_key: assay_publish::keys::summary(summary.netuid, summary.epoch),
        scorer: summary.scorer.sha256.clone(),
        shadow: summary.shadow.as_ref().map(|s| s.scorer.sha256.clone()),
        challenger: summary.challenger.clone(),
        unscored: summary.unscored.as_ref().map(|u| format!("{}: {}", u.kind, u.reason)),
        miners,
        ..EpochView::default()
    }
}

impl Source for WatchBoard {
    fn overview(&self) -> Overview {
        let last = self.history.last_epoch().and_then(|e| self.history.get(e));
        let (audited, failed) = *self.tally.lock().unwrap_or_else(|p| p.into_inner());
        Overview {
            role: "watchtower".into(),
            netuid: self.netuid,
            validator: self.validator.clone(),
            // A watchtower reads a publication, not a chain: the source is a note.
            chain: String::new(),
            policies: Policies {
                scorer: last.as_ref().map(|e| e.scorer.clone()).filter(|s| !s.is_empty()),
                shadow: last.as_ref().and_then(|e| e.shadow.clone()),
                challenger: last.as_ref().and_then(|e| e.challenger.clone()),
                announcements: Vec::new(),
            },
            last_epoch: last.as_ref().map(|e| e.epoch),
            notes: vec![
                format!("reading the publication at {}", self.source),
                format!("{audited} epochs audited here, {failed} not passed"),
            ],
            ..Overview::default()
        }
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
        self.summaries.lock().unwrap_or_else(|p| p.into_inner()).get(&epoch).cloned()
    }
}

/// Serves `board` on `addr` from a thread of its own, for as long as the process runs; returns
/// the address bound.
pub fn serve(addr: SocketAddr, board: Arc<WatchBoard>) -> anyhow::Result<SocketAddr> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("the dashboard's runtime")?;
    let listener = rt.block_on(assay_dashboard::bind(&addr.to_string()))?;
    let local = listener.local_addr().context("the dashboard's address")?;
    std::thread::Builder::new()
        .name("dashboard".into())
        .spawn(move || {
            // Never sent: the dashboard lives as long as the watchtower.
            let (_running, stopped) = tokio::sync::watch::channel(false);
            rt.block_on(assay_dashboard::serve(listener, board, assay_dashboard::Limits::default(), stopped));
        })
        .context("starting the dashboard's thread")?;
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audited_epoch_shows_its_verdict_and_unreadable_summaries_still_count() {
        let board = WatchBoard::new(1, "5Validator", "/srv/published");
        board.audited(4, Verdict::Fail, Some("the rerun differs".into()), b"not json");
        board.audited(3, Verdict::Unusable, None, b"");
        let epochs = board.epochs();
        assert_eq!(epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), [3, 4]);
        let audit = epochs[1].audit.as_ref().expect("audited");
        assert_eq!((audit.verdict.as_str(), audit.detail.as_deref()), ("FAIL", Some("the rerun differs")));
        assert_eq!(board.summary(4), Some(b"not json".to_vec()));
        assert_eq!(board.summary(3), None, "nothing was read");
        let overview = board.overview();
        assert_eq!((overview.role.as_str(), overview.last_epoch), ("watchtower", Some(4)));
        assert_eq!(
            overview.notes,
            ["reading the publication at /srv/published", "2 epochs audited here, 2 not passed"]
        );
        assert_eq!(overview.chain, "", "the source is not a chain");
        board.audited(5, Verdict::Pass, None, b"");
        assert_eq!(board.overview().notes[1], "3 epochs audited here, 2 not passed");
    }
}
