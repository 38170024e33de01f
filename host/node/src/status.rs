//! The node's status: one snapshot, updated by the node as it runs, that the command line, the
//! devnet's live table, and later the metrics and the dashboard read.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// Verdicts per miner since the node started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    pub passed: u32,
    pub failed: u32,
    pub voided: u32,
}

/// The last closed epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastClosed {
    pub epoch: u64,
    pub summary_key: String,
    pub summary_sha256: String,
    pub scorer: String,
    /// The announced scorer run in shadow beside it, if any.
    pub shadow: Option<String>,
    pub challenger: Option<String>,
    /// `(uid, weight)` as the scorer gave them.
    pub weights: Vec<(u16, u16)>,
    /// Fuel the scorer used.
    pub fuel_used: u64,
    /// Seconds each stage of the closing took (`records`, `score`, `encode`, `sign`, `commit`).
    pub stages: Vec<(String, f64)>,
}

/// Everything the node shows about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    pub netuid: u16,
    pub validator: String,
    pub chain: String,
    /// The chain view's head and its epoch.
    pub head: u64,
    pub epoch: u64,
    /// Seconds since the metagraph was last read; grows while the chain is unreachable.
    pub metagraph_age_s: f64,
    /// Why the chain cannot be read now (the last view keeps serving); `None` while it can.
    pub chain_error: Option<String>,
    pub miners: usize,
    /// The scorer of the last boundary.
    pub scorer: Option<String>,
    /// The subnet owner's announcements as last read, one line each (`scorer <sha256>: active
    /// from epoch 7`, `… refused: why`), or why none are followed.
    pub announcements: Vec<String>,
    pub last_closed: Option<LastClosed>,
    /// The latest closed epoch: this process's `last_closed`, or the ledger's when the node
    /// opened (so a restart does not forget it).
    pub last_closed_epoch: Option<u64>,
    /// `(epoch, block)` of the latest weights the chain accepted.
    pub weights_accepted: Option<(u64, u64)>,
    /// Closed epochs whose publication or weights are still queued, with the last error.
    pub outgoing: Vec<u64>,
    pub outgoing_errors: Vec<(u64, String)>,
    /// The latest epoch whose objects were published (read from the ledger when the node opens).
    pub last_published: Option<u64>,
    /// `set_weights` calls made, and those that failed, since the node started.
    pub weights_attempts: u64,
    pub weights_failures: u64,
    /// Where the metrics are served (`http://…/metrics`), when `[metrics]` is configured.
    pub metrics: Option<String>,
    pub verdicts: BTreeMap<u16, Verdicts>,
    pub gateway: Option<String>,
    /// The gateway and the verifier (its reference model loaded) are up: `Node::run` is past
    /// its slow start.
    pub services_started: bool,
    /// The gateway's counters (connections, refusals, its queue, the recorder's backlog and
    /// what it shed), when it runs.
    pub gateway_counters: Option<assay_gateway::Counters>,
}

/// A shared handle on the status.
#[derive(Debug, Clone, Default)]
pub struct StatusHandle(Arc<RwLock<Status>>);

impl StatusHandle {
    pub fn get(&self) -> Status {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.0.write().unwrap_or_else(|p| p.into_inner()));
    }
}
