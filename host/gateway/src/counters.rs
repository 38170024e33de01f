//! What the gateway counts about itself: users' connections, what it refused or cut, its
//! queue, the recorder's backlog and what it shed, and the validator's own faults. The node's status (and later its metrics) reads a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the gateway's counters: gauges are "now", the others since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Users' connections open now.
    pub connections: u64,
    /// Connections answered 503 and closed because `max_connections` were open.
    pub connections_refused: u64,
    /// Streams cut because their user stopped reading (`stream_idle_timeout_ms`).
    pub streams_cut: u64,
    /// Users' requests waiting for a miner's slot now.
    pub queued: u64,
    /// Users' requests answered 503 because the queue was full or their wait ran out.
    pub queue_refused: u64,
    /// Records waiting to be written to the ledger now.
    pub recorder_backlog: u64,
    /// Users' requests answered 503 (and synthetic ones skipped) because the recorder's backlog
    /// was full, as on a full disk.
    pub recorder_shed: u64,
    /// Attempts that failed by the validator's own fault (no file descriptor, memory or local
    /// port to reach a miner): charged to no miner.
    pub validator_faults: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub connections: AtomicU64,
    pub connections_refused: AtomicU64,
    pub streams_cut: AtomicU64,
    pub queued: AtomicU64,
    pub queue_refused: AtomicU64,
    pub recorder_shed: AtomicU64,
    pub validator_faults: AtomicU64,
}

impl Tally {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn drop_one(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// The counters now; `recorder_backlog` is the recorder's to say.
    pub fn snapshot(&self, recorder_backlog: usize) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            connections: get(&self.connections),
            connections_refused: get(&self.connections_refused),
            streams_cut: get(&self.streams_cut),
            queued: get(&self.queued),
            queue_refused: get(&self.queue_refused),
            recorder_backlog: recorder_backlog as u64,
            recorder_shed: get(&self.recorder_shed),
            validator_faults: get(&self.validator_faults),
        }
    }
}
