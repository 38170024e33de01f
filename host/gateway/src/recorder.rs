//! Writes what happened to every request into the ledger, off the request path.
//!
//! Requests leave their measurement in a buffer; one thread empties it every 20 ms, checks the
//! miners' evidence (their sr25519 signatures as one batch, each alone only when the batch
//! fails) and writes the records in one transaction per batch (the ledger syncs every commit). A batch is assigned to the epoch of the chain view's head when it is written; if
//! that epoch is already being closed, the batch goes to the next one. A failed write is retried, never
//! dropped; on shutdown the buffer is drained before the thread ends.
//!
//! The backlog (records sent and not yet written) is bounded: while it is over
//! `recorder_queue_max` records or `recorder_queue_bytes`, [`Recorder::has_room`] says no and
//! the gateway sheds new requests (a 503 to users) rather than let the backlog grow, as it would
//! on a full disk. Records of requests already admitted are always taken, so the bound is
//! exceeded by at most the requests in flight. A write that fails is the validator's fault: it
//! never changes a record's outcome.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use assay_chain::{ChainView, Epochs};
use assay_ledger::{Exchange, Ledger, RequestContent, RequestEntry, RequestRow};
use assay_miner_client::{Completion, check_evidence_batch};
use assay_policy_sdk::{Outcome, RequestKind};
use assay_protocol::wire::ResponseExtension;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{error, warn};

const BATCH: usize = 512;
const LINGER: Duration = Duration::from_millis(20);

/// One finished exchange with a miner, as the request path saw it.
#[derive(Debug)]
pub struct Finished {
    pub id: u64,
    pub uid: u16,
    pub miner_hotkey: String,
    pub path: &'static str,
    /// The request's task (by its model and route), as the ledger names it.
    pub task: std::sync::Arc<str>,
    pub kind: RequestKind,
    /// The request's text may go into the public dataset (the validator's own, or a key that
    /// opted in); otherwise only its hashes are kept.
    pub publish_text: bool,
    pub greedy: bool,
    pub started_ms: u64,
    /// The request id sent in the `assay` extension; the evidence must name it.
    pub request_id: String,
    /// The body sent to the miner.
    pub body: Arc<Vec<u8>>,
    /// The measurement; its evidence is not checked yet (the recorder does that).
    pub completion: Completion,
}

/// Records waiting for the thread. A mutex-guarded buffer the thread empties every few
/// milliseconds, rather than a channel: a request never wakes the thread, which matters when
/// thousands finish each second on a small machine.
#[derive(Default)]
struct Pending {
    items: Vec<Finished>,
    /// Set by the thread's last drain: nothing sent after it could be written.
    closed: bool,
}

struct Queue {
    pending: Mutex<Pending>,
    stop: AtomicBool,
    /// Records sent and not yet written (or dropped), and their approximate size.
    backlog: AtomicUsize,
    backlog_bytes: AtomicUsize,
}

/// How large the backlog may grow before new requests are shed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub records: usize,
    pub bytes: usize,
}

impl Finished {
    /// What the record holds in memory, roughly: the body sent and the text received.
    fn weight(&self) -> usize {
        self.body.len() + self.completion.text.len() + 512
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Clone)]
pub struct Recorder {
    queue: Arc<Queue>,
    thread: Thread,
    limits: Limits,
}

pub struct RecorderThread {
    handle: JoinHandle<()>,
}

impl RecorderThread {
    /// Waits until everything sent before [`Recorder::stop`] is written.
    pub fn join(self) {
        if self.handle.join().is_err() {
            error!("the recorder thread panicked");
        }
    }
}

impl Recorder {
    pub fn start(
        ledger: Arc<dyn Ledger>,
        view: ChainView,
        epochs: Epochs,
        validator: String,
        (limits, metrics): (Limits, crate::metrics::GatewayMetrics),
    ) -> std::io::Result<(Recorder, RecorderThread)> {
        let queue = Arc::new(Queue {
            pending: Mutex::new(Pending::default()),
            stop: AtomicBool::new(false),
            backlog: AtomicUsize::new(0),
            backlog_bytes: AtomicUsize::new(0),
        });
        let shared = queue.clone();
        let handle = std::thread::Builder::new()
            .name("assay-recorder".into())
            .spawn(move || write_loop(&shared, ledger.as_ref(), &view, epochs, (&validator, &metrics)))?;
        let thread = handle.thread().clone();
        Ok((Recorder { queue, thread, limits }, RecorderThread { handle }))
    }

    /// Whether the backlog leaves room for another request.
    pub fn has_room(&self) -> bool {
        self.backlog() < self.limits.records && self.queue.backlog_bytes.load(Ordering::Relaxed) < self.limits.bytes
    }

    /// Records sent and not yet written.
    pub fn backlog(&self) -> usize {
        self.queue.backlog.load(Ordering::Relaxed)
    }

    pub fn send(&self, finished: Finished) {
        let mut pending = self.queue.lock();
        if pending.closed {
            error!(id = finished.id, "a request finished after the recorder stopped; its record is lost");
            return;
        }
        self.queue.backlog.fetch_add(1, Ordering::Relaxed);
        self.queue.backlog_bytes.fetch_add(finished.weight(), Ordering::Relaxed);
        pending.items.push(finished);
    }

    /// Asks the thread to write what it has and end.
    pub fn stop(&self) {
        self.queue.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn write_loop(
    queue: &Queue,
    ledger: &dyn Ledger,
    view: &ChainView,
    epochs: Epochs,
    (validator, metrics): (&str, &crate::metrics::GatewayMetrics),
) {
    loop {
        let stopping = queue.stop.load(Ordering::SeqCst);
        let batch = {
            let mut pending = queue.lock();
            pending.closed = stopping;
            std::mem::take(&mut pending.items)
        };
        for chunk in batch.chunks(BATCH) {
            let rows: Vec<(RequestEntry, Option<Exchange>)> =
                chunk.iter().zip(evidence_of(chunk, validator)).map(|(f, checked)| entry(f, checked)).collect();
            // Counted once the outcome is final (the evidence check above can turn an `ok` into
            // `bad-response`), before the write, which a full disk can keep retrying: not in
            // `Recorder::send`, which would count outcomes not yet checked or move the check
            // onto the request path.
            rows.iter().for_each(|(entry, _)| metrics.attempt(&entry.record));
            write(ledger, view, epochs, &rows);
            queue.backlog.fetch_sub(chunk.len(), Ordering::Relaxed);
            queue.backlog_bytes.fetch_sub(chunk.iter().map(Finished::weight).sum(), Ordering::Relaxed);
        }
        if stopping {
            return;
        }
        std::thread::park_timeout(LINGER);
    }
}

fn write(ledger: &dyn Ledger, view: &ChainView, epochs: Epochs, rows: &[(RequestEntry, Option<Exchange>)]) {
    let mut pause = Duration::from_millis(50);
    let mut bump = 0;
    loop {
        let epoch = epochs.of_block(view.head()) + bump;
        let error = match ledger.record_traffic(epoch, rows) {
            Ok(_) => return,
            // The node saw the epoch end first and is closing it: the next epoch.
            Err(assay_ledger::Error::Frozen(_)) => {
                bump += 1;
                continue;
            }
            // One row's id is taken (a 2^-63 chance per pair): the others must not wait
            // behind it forever. Write them one by one; only the clashing row is lost.
            Err(assay_ledger::Error::Duplicate(what)) if rows.len() > 1 => {
                warn!(clash = %what, "a request id is already recorded; writing the batch row by row");
                for row in rows {
                    write(ledger, view, epochs, std::slice::from_ref(row));
                }
                return;
            }
            Err(assay_ledger::Error::Duplicate(what)) => {
                error!(clash = %what, "a request id is already recorded; this record is dropped");
                return;
            }
            Err(e) => e.to_string(),
        };
        warn!(error = %error, records = rows.len(), "recording requests failed; retrying");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// What checking the evidence of each answer that came back `ok` found (`Ok(None)` for the
/// others: there is nothing to check).
type Checked = Result<Option<ResponseExtension>, String>;

fn evidence_of(chunk: &[Finished], validator: &str) -> Vec<Checked> {
    let ok: Vec<(&Value, &str)> =
        chunk.iter().filter(|f| has_evidence(f)).map(|f| (&f.completion.last, f.miner_hotkey.as_str())).collect();
    let mut checked = check_evidence_batch(&ok, validator).into_iter();
    chunk.iter().map(|f| if has_evidence(f) { checked.next().unwrap_or(Ok(None)) } else { Ok(None) }).collect()
}

/// Whether an exchange must carry a miner's evidence: a miner's answer that came back `ok`. A
/// baseline request (the validator's own server, `crate::competition`) has none to carry.
fn has_evidence(f: &Finished) -> bool {
    f.completion.outcome == Outcome::Ok && f.kind != RequestKind::Baseline
}

/// The ledger's view of one exchange: its record, and what verification needs of it.
fn entry(f: &Finished, checked: Checked) -> (RequestEntry, Option<Exchange>) {
    let c = &f.completion;
    let mut outcome = c.outcome;
    let mut evidence = None;
    let mut tokens = (0, 0);
    if has_evidence(f) {
        match checked {
            Ok(Some(ext)) if ext.request_id == f.request_id => {
                tokens = (ext.prompt_token_ids.len() as u32, ext.completion_token_ids.len() as u32);
                let signed =
                    serde_json::json!({"assay": c.last["assay"], "assay_signature": c.last["assay_signature"]});
                evidence = Some(signed.to_string());
            }
            Ok(Some(_)) => outcome = bad(f.uid, "evidence names another request"),
            Ok(None) => outcome = bad(f.uid, "no evidence"),
            Err(reason) => outcome = bad(f.uid, &reason),
        }
    }
    if evidence.is_none() {
        // Still count what the miner said it served, for the record.
        let usage = &c.last["usage"];
        tokens = (
            usage["prompt_tokens"].as_u64().unwrap_or(0) as u32,
            usage["completion_tokens"].as_u64().unwrap_or(0) as u32,
        );
    }
    let record = RequestRow {
        id: f.id,
        uid: f.uid,
        kind: f.kind.into(),
        outcome: outcome.into(),
        greedy: f.greedy,
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
        ttft_ms: c.ttft.as_secs_f64() * 1e3,
        total_ms: c.total.as_secs_f64() * 1e3,
        reported_ttft_ms: None,
        reported_tps: None,
        quality: None,
        started_ms: f.started_ms,
    };
    let task = f.task.to_string();
    let exchange = evidence.map(|evidence| Exchange {
        id: f.id,
        uid: f.uid,
        miner_hotkey: f.miner_hotkey.clone(),
        path: f.path.to_string(),
        request: String::from_utf8_lossy(&f.body).into_owned(),
        evidence: Some(evidence),
    });
    (RequestEntry { task, record, values: Vec::new(), content: content(f) }, exchange)
}

/// What the public dataset may say of the request: the hashes of its prompt (the `messages` or
/// `prompt` sent) and of its completion always, their text only when `publish_text`; the text of
/// a key that did not opt in is never stored.
fn content(f: &Finished) -> Option<RequestContent> {
    let Ok(body) = serde_json::from_slice::<Value>(&f.body) else {
        error!(id = f.id, "a body the gateway sent is not JSON; its request has no content in the dataset");
        return None;
    };
    let prompt = body.get("messages").or_else(|| body.get("prompt")).cloned().unwrap_or(Value::Null);
    let prompt_bytes = serde_json::to_vec(&prompt).ok()?;
    let text = &f.completion.text;
    Some(RequestContent {
        publish_text: f.publish_text,
        prompt_sha256: hex::encode(Sha256::digest(&prompt_bytes)),
        completion_sha256: hex::encode(Sha256::digest(text.as_bytes())),
        prompt: f.publish_text.then_some(prompt),
        completion: f.publish_text.then(|| text.clone()),
    })
}

fn bad(uid: u16, reason: &str) -> Outcome {
    warn!(uid, reason, "miner evidence refused");
    Outcome::BadResponse
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use assay_miner_client::Completion;

    use super::*;

    fn finished(kind: RequestKind, publish_text: bool) -> Finished {
        let body = serde_json::json!({"messages": [{"role": "user", "content": "a secret"}], "max_tokens": 8});
        Finished {
            id: 1,
            uid: 0,
            miner_hotkey: "5Miner".into(),
            path: "/v1/chat/completions",
            task: "chat".into(),
            kind,
            publish_text,
            greedy: false,
            started_ms: 0,
            request_id: "01".into(),
            body: Arc::new(serde_json::to_vec(&body).expect("json")),
            completion: Completion {
                outcome: Outcome::Cancelled,
                ttft: Duration::ZERO,
                total: Duration::ZERO,
                text: "the answer".into(),
                finish_reason: None,
                evidence: None,
                evidence_error: None,
                last: Value::Null,
            },
        }
    }

    /// A SQLite ledger whose every traffic write fails while `full` is set.
    struct FullDisk {
        inner: assay_ledger::SqliteLedger,
        full: AtomicBool,
    }

    impl Ledger for FullDisk {
        fn record_traffic(
            &self,
            epoch: u64,
            entries: &[(RequestEntry, Option<Exchange>)],
        ) -> assay_ledger::Result<usize> {
            if self.full.load(Ordering::SeqCst) {
                return Err(assay_ledger::Error::Full("no space left on device".into()));
            }
            self.inner.record_traffic(epoch, entries)
        }
        fn exchanges_after(&self, epoch: u64, after: i64) -> assay_ledger::Result<Vec<(i64, Exchange)>> {
            self.inner.exchanges_after(epoch, after)
        }
        fn last_published(&self) -> assay_ledger::Result<Option<u64>> {
            self.inner.last_published()
        }
        fn freeze_epoch(&self, epoch: u64) -> assay_ledger::Result<()> {
            self.inner.freeze_epoch(epoch)
        }
        fn record_challenges(&self, epoch: u64, rows: &[assay_ledger::ChallengeRow]) -> assay_ledger::Result<usize> {
            self.inner.record_challenges(epoch, rows)
        }
        fn requests(&self, epoch: u64) -> assay_ledger::Result<Vec<RequestEntry>> {
            self.inner.requests(epoch)
        }
        fn challenges(&self, epoch: u64) -> assay_ledger::Result<Vec<assay_ledger::ChallengeRow>> {
            self.inner.challenges(epoch)
        }
        fn request_contents(
            &self,
            epoch: u64,
        ) -> assay_ledger::Result<std::collections::BTreeMap<u64, RequestContent>> {
            self.inner.request_contents(epoch)
        }
        fn epoch_seed(&self, epoch: u64, draw: fn() -> [u8; 32]) -> assay_ledger::Result<assay_ledger::EpochSeed> {
            self.inner.epoch_seed(epoch, draw)
        }
        fn close_epoch(&self, closing: &assay_ledger::Closing) -> assay_ledger::Result<()> {
            self.inner.close_epoch(closing)
        }
        fn open_epochs(&self, before: u64) -> assay_ledger::Result<Vec<u64>> {
            self.inner.open_epochs(before)
        }
        fn last_closed(&self) -> assay_ledger::Result<Option<assay_ledger::ClosedEpoch>> {
            self.inner.last_closed()
        }
        fn state_before(&self, epoch: u64, scorer: &str) -> assay_ledger::Result<Vec<u8>> {
            self.inner.state_before(epoch, scorer)
        }
        fn last_scorer(&self) -> assay_ledger::Result<Option<String>> {
            self.inner.last_scorer()
        }
        fn set_setting(&self, key: &str, value: &str) -> assay_ledger::Result<()> {
            self.inner.set_setting(key, value)
        }
        fn setting(&self, key: &str) -> assay_ledger::Result<Option<String>> {
            self.inner.setting(key)
        }
        fn outgoing(&self) -> assay_ledger::Result<Vec<assay_ledger::Outgoing>> {
            self.inner.outgoing()
        }
        fn last_epoch_with_weights(&self) -> assay_ledger::Result<Option<u64>> {
            self.inner.last_epoch_with_weights()
        }
        fn mark_published(&self, epoch: u64) -> assay_ledger::Result<()> {
            self.inner.mark_published(epoch)
        }
        fn mark_weights(&self, epoch: u64, state: &assay_ledger::WeightsState) -> assay_ledger::Result<()> {
            self.inner.mark_weights(epoch, state)
        }
        fn prune_bodies(&self, closed_before_ms: u64) -> assay_ledger::Result<usize> {
            self.inner.prune_bodies(closed_before_ms)
        }
    }

    /// An attempt is counted once its outcome is known, not after the ledger write, which a
    /// full disk keeps retrying.
    #[test]
    fn attempts_are_counted_while_the_ledger_cannot_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = assay_ledger::SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger");
        let disk = Arc::new(FullDisk { inner, full: AtomicBool::new(true) });
        let metagraph = assay_chain::Metagraph { netuid: 1, neurons: Vec::new(), owner_hotkey: None };
        let view = ChainView::fixed(0, Arc::new(metagraph), std::time::Instant::now());
        let metrics = crate::metrics::GatewayMetrics::default();
        let limits = Limits { records: 100, bytes: 1 << 20 };
        let (recorder, thread) = Recorder::start(
            disk.clone(),
            view,
            Epochs::new(10).expect("epochs"),
            "5Validator".into(),
            (limits, metrics.clone()),
        )
        .expect("starts");
        recorder.send(finished(RequestKind::Organic, false));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while metrics.attempts_counted() == 0 {
            assert!(std::time::Instant::now() < deadline, "the attempt was not counted while the write retries");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(recorder.backlog(), 1, "still unwritten");
        disk.full.store(false, Ordering::SeqCst);
        recorder.stop();
        thread.join();
        assert_eq!(recorder.backlog(), 0);
        assert_eq!(metrics.attempts_counted(), 1, "counted once");
    }

    /// An `ok` answer whose evidence `miner` signed for `validator`, naming request `id`.
    fn signed_ok(id: &str, miner: &assay_keys::Hotkey, validator: &str) -> Finished {
        let ext = ResponseExtension {
            request_id: id.into(),
            prompt_token_ids: vec![1],
            completion_token_ids: vec![2, 3],
            commitment: None,
            leaf_count: 0,
            dtype: assay_protocol::wire::VectorDtype::F32,
            sampler: None,
        };
        let bytes = serde_json::to_vec(&ext).expect("json");
        let signed = assay_protocol::epistula::sign(miner, &bytes, Some(validator), 1);
        let headers: serde_json::Map<String, Value> =
            signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
        let mut f = finished(RequestKind::Organic, false);
        f.request_id = id.into();
        f.miner_hotkey = miner.ss58();
        f.completion.outcome = Outcome::Ok;
        f.completion.last = serde_json::json!({"assay": ext, "assay_signature": headers});
        f
    }

    /// Evidence checked as a batch: a miner whose signature does not verify is charged a bad
    /// response, and only it; the others' records keep their evidence and tokens.
    #[test]
    fn a_forged_signature_in_a_batch_costs_only_its_miner() {
        use assay_keys::{Hotkey, Scheme};
        let validator = Hotkey::generate(Scheme::Sr25519).expect("key").ss58();
        let miners: Vec<Hotkey> = (0..3).map(|_| Hotkey::generate(Scheme::Sr25519).expect("key")).collect();
        let mut chunk: Vec<Finished> =
            miners.iter().enumerate().map(|(i, m)| signed_ok(&format!("0{i}"), m, &validator)).collect();
        // Miner 1 claims a request it did not sign (its signature is over request "01").
        chunk[1].completion.last["assay"]["request_id"] = "09".into();
        chunk[1].request_id = "09".into();
        chunk.push(finished(RequestKind::Organic, false)); // cancelled: nothing to check
        let rows: Vec<_> =
            chunk.iter().zip(evidence_of(&chunk, &validator)).map(|(f, checked)| entry(f, checked)).collect();
        let outcomes: Vec<_> = rows.iter().map(|(e, _)| e.record.outcome).collect();
        use assay_ledger::Outcome as Row;
        assert_eq!(outcomes, [Row::Ok, Row::BadResponse, Row::Ok, Row::Cancelled]);
        assert!(rows[0].1.is_some() && rows[1].1.is_none() && rows[2].1.is_some());
        assert_eq!((rows[2].0.record.prompt_tokens, rows[2].0.record.completion_tokens), (1, 2));
    }

    /// A baseline answer (the validator's own server) carries no evidence and needs none: it stays
    /// `ok`, its tokens are its usage's, and no exchange is kept for the verifier; a miner's `ok`
    /// answer without evidence in the same batch is still a bad response.
    #[test]
    fn a_baseline_answer_is_recorded_without_evidence() {
        let mut baseline = finished(RequestKind::Baseline, true);
        baseline.uid = assay_policy_sdk::NO_MINER;
        baseline.completion.outcome = Outcome::Ok;
        baseline.completion.last = serde_json::json!({"usage": {"prompt_tokens": 30, "completion_tokens": 12}});
        let mut miner = finished(RequestKind::Synthetic, true);
        miner.completion.outcome = Outcome::Ok;
        let chunk = [baseline, miner];
        let rows: Vec<_> = chunk.iter().zip(evidence_of(&chunk, "5Validator")).map(|(f, c)| entry(f, c)).collect();
        use assay_ledger::Outcome as Row;
        let (record, exchange) = (&rows[0].0.record, &rows[0].1);
        assert_eq!((record.kind, record.outcome, record.uid), (assay_ledger::RequestKind::Baseline, Row::Ok, 65535));
        assert_eq!((record.prompt_tokens, record.completion_tokens), (30, 12));
        assert!(exchange.is_none());
        assert_eq!(rows[1].0.record.outcome, Row::BadResponse);
    }

    #[test]
    fn the_text_of_a_key_that_did_not_opt_in_is_never_kept() {
        let messages = serde_json::json!([{"role": "user", "content": "a secret"}]);
        let prompt_sha256 = hex::encode(Sha256::digest(serde_json::to_vec(&messages).expect("json")));
        let completion_sha256 = hex::encode(Sha256::digest(b"the answer"));

        let kept = content(&finished(RequestKind::Organic, false)).expect("content");
        let hashes_only = RequestContent {
            publish_text: false,
            prompt_sha256: prompt_sha256.clone(),
            completion_sha256: completion_sha256.clone(),
            prompt: None,
            completion: None,
        };
        assert_eq!(kept, hashes_only);

        for (kind, publish_text) in [(RequestKind::Organic, true), (RequestKind::Synthetic, true)] {
            let kept = content(&finished(kind, publish_text)).expect("content");
            assert_eq!(
                (kept.prompt_sha256.as_str(), kept.completion.as_deref()),
                (prompt_sha256.as_str(), Some("the answer"))
            );
            assert_eq!(kept.prompt.expect("prompt")[0]["content"], "a secret");
        }
    }
}
