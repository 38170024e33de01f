//! Writes what happened to every request into the ledger, off the request path.
//!
//! Requests leave their measurement in a buffer; one thread empties it every 20 ms, checks the
//! miners' evidence and writes the records in one transaction per batch (the ledger syncs every
//! commit). A batch is assigned to the epoch of the chain view's head when it is written; if
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
use assay_ledger::{Exchange, Ledger, RequestEntry, RequestRow};
use assay_miner_client::{Completion, check_evidence};
use assay_policy_sdk::{Outcome, RequestKind};
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
    pub kind: RequestKind,
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
        limits: Limits,
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
            .spawn(move || write_loop(&shared, ledger.as_ref(), &view, epochs, &validator))?;
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

fn write_loop(queue: &Queue, ledger: &dyn Ledger, view: &ChainView, epochs: Epochs, validator: &str) {
    loop {
        let stopping = queue.stop.load(Ordering::SeqCst);
        let batch = {
            let mut pending = queue.lock();
            pending.closed = stopping;
            std::mem::take(&mut pending.items)
        };
        for chunk in batch.chunks(BATCH) {
            let rows: Vec<(RequestEntry, Option<Exchange>)> = chunk.iter().map(|f| entry(f, validator)).collect();
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

/// The ledger's view of one exchange: its record, and what verification needs of it.
fn entry(f: &Finished, validator: &str) -> (RequestEntry, Option<Exchange>) {
    let c = &f.completion;
    let mut outcome = c.outcome;
    let mut evidence = None;
    let mut tokens = (0, 0);
    if outcome == Outcome::Ok {
        match check_evidence(&c.last, &f.miner_hotkey, validator) {
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
    let task = if f.path.ends_with("chat/completions") { "chat" } else { "completion" };
    let exchange = evidence.map(|evidence| Exchange {
        id: f.id,
        uid: f.uid,
        miner_hotkey: f.miner_hotkey.clone(),
        path: f.path.to_string(),
        request: String::from_utf8_lossy(&f.body).into_owned(),
        evidence: Some(evidence),
    });
    (RequestEntry { task: task.into(), record, values: Vec::new() }, exchange)
}

fn bad(uid: u16, reason: &str) -> Outcome {
    warn!(uid, reason, "miner evidence refused");
    Outcome::BadResponse
}
