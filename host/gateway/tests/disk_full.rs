//! A ledger that cannot write (a full disk) sheds load instead of growing the recorder's backlog
//! (issue 10, item 17, the gateway's part): past `recorder_queue_max` records waiting, users
//! get a 503 with `Retry-After`, the shed count is visible, nothing is charged to a miner, and
//! once the disk has room every record is written and users are served again.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use assay_ledger::{
    ChallengeRow, ClosedEpoch, Closing, EpochSeed, Exchange, Ledger, Outcome, Outgoing, RequestEntry, Result,
    SqliteLedger, WeightsState,
};
use common::{StubOptions, start_with};
use serde_json::{Value, json};

/// A SQLite ledger whose disk is full (every write of traffic fails) while `full` is set.
struct FullDisk {
    inner: SqliteLedger,
    full: AtomicBool,
}

impl Ledger for FullDisk {
    fn record_traffic(&self, epoch: u64, entries: &[(RequestEntry, Option<Exchange>)]) -> Result<usize> {
        if self.full.load(Ordering::SeqCst) {
            return Err(assay_ledger::Error::Full("no space left on device".into()));
        }
        self.inner.record_traffic(epoch, entries)
    }
    fn exchanges_after(&self, epoch: u64, after: i64) -> Result<Vec<(i64, Exchange)>> {
        self.inner.exchanges_after(epoch, after)
    }
    fn last_published(&self) -> Result<Option<u64>> {
        self.inner.last_published()
    }
    fn freeze_epoch(&self, epoch: u64) -> Result<()> {
        self.inner.freeze_epoch(epoch)
    }
    fn record_challenges(&self, epoch: u64, rows: &[ChallengeRow]) -> Result<usize> {
        self.inner.record_challenges(epoch, rows)
    }
    fn requests(&self, epoch: u64) -> Result<Vec<RequestEntry>> {
        self.inner.requests(epoch)
    }
    fn challenges(&self, epoch: u64) -> Result<Vec<ChallengeRow>> {
        self.inner.challenges(epoch)
    }
    fn request_contents(&self, epoch: u64) -> Result<std::collections::BTreeMap<u64, assay_ledger::RequestContent>> {
        self.inner.request_contents(epoch)
    }
    fn epoch_seed(&self, epoch: u64, draw: fn() -> [u8; 32]) -> Result<EpochSeed> {
        self.inner.epoch_seed(epoch, draw)
    }
    fn close_epoch(&self, closing: &Closing) -> Result<()> {
        self.inner.close_epoch(closing)
    }
    fn open_epochs(&self, before: u64) -> Result<Vec<u64>> {
        self.inner.open_epochs(before)
    }
    fn last_closed(&self) -> Result<Option<ClosedEpoch>> {
        self.inner.last_closed()
    }
    fn state_before(&self, epoch: u64, scorer: &str) -> Result<Vec<u8>> {
        self.inner.state_before(epoch, scorer)
    }
    fn last_scorer(&self) -> Result<Option<String>> {
        self.inner.last_scorer()
    }
    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.inner.set_setting(key, value)
    }
    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.inner.setting(key)
    }
    fn outgoing(&self) -> Result<Vec<Outgoing>> {
        self.inner.outgoing()
    }
    fn last_epoch_with_weights(&self) -> Result<Option<u64>> {
        self.inner.last_epoch_with_weights()
    }
    fn mark_published(&self, epoch: u64) -> Result<()> {
        self.inner.mark_published(epoch)
    }
    fn mark_weights(&self, epoch: u64, state: &WeightsState) -> Result<()> {
        self.inner.mark_weights(epoch, state)
    }
    fn prune_bodies(&self, closed_before_ms: u64) -> Result<usize> {
        self.inner.prune_bodies(closed_before_ms)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_sheds_users_with_503s_instead_of_growing_the_backlog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger");
    let disk = Arc::new(FullDisk { inner, full: AtomicBool::new(true) });
    let ledger: Arc<dyn Ledger> = disk.clone();
    let mut net = start_with(&[StubOptions::capacity(4)], json!({"recorder_queue_max": 4}), Some(ledger)).await;

    for i in 0..4 {
        let status = net.chat("hello", false).send().await.expect("sends").status();
        assert_eq!(status, 200, "request {i}, within the backlog's bound");
    }
    for _ in 0..3 {
        let refused = net.chat("hello", false).send().await.expect("sends");
        assert_eq!(refused.status(), 503, "the backlog grew past its bound");
        assert_eq!(refused.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"5"[..]));
        let body: Value = refused.json().await.expect("an OpenAI-style error");
        assert_eq!(body["error"]["code"], "overloaded", "{body}");
    }
    let counters = net.gateway().counters();
    assert_eq!((counters.recorder_backlog, counters.recorder_shed), (4, 3));
    assert!(net.gateway().miners().iter().all(|m| m.up && !m.circuit_open), "the miner paid for the disk");

    disk.full.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while net.chat("hello", false).send().await.expect("sends").status() != 200 {
        assert!(Instant::now() < deadline, "the recorder never caught up once the disk had room");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records = net.records().await;
    assert_eq!(records.len(), 5, "every admitted request is recorded, once: {records:?}");
    assert!(records.iter().all(|r| r.outcome == Outcome::Ok), "{records:?}");
}
