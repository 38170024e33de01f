//! The node's Prometheus metrics (`[metrics] listen`, docs/metrics.md): the status snapshot read
//! at each scrape (epochs, outgoing queue), with what is cheap to read live read then instead of
//! from the snapshot (the chain view's head and metagraph age, verdicts per miner, the gateway's
//! counters, the ledger's size: these stay current while a close runs or set_weights waits), the epoch close's stages as they happen, and the families the gateway
//! and the verifier keep themselves, all in one registry served by assay-metrics.
//! Owns only naming and collecting: it changes nothing it reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assay_metrics::prometheus_client::collector::Collector;
use assay_metrics::prometheus_client::encoding::DescriptorEncoder;
use assay_metrics::prometheus_client::metrics::family::Family;
use assay_metrics::prometheus_client::metrics::histogram::Histogram;
use assay_metrics::prometheus_client::registry::Registry;
use assay_metrics::{counter, counters, gauge, gauges};

use crate::services::Services;
use assay_chain::{ChainView, Epochs};

use crate::status::{Status, StatusHandle, Verdicts};

type StageLabel = [(&'static str, &'static str); 1];

/// What the node itself records as it runs (the rest is read from the status at scrape time).
#[derive(Debug, Clone)]
pub(crate) struct NodeMetrics {
    close_seconds: Family<StageLabel, Histogram>,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self { close_seconds: Family::new_with_constructor(assay_metrics::seconds_histogram) }
    }
}

impl NodeMetrics {
    /// One epoch closed: how long each stage took.
    pub fn closed(&self, stages: &[(&'static str, f64)]) {
        for &(stage, seconds) in stages {
            self.close_seconds.get_or_create(&[("stage", stage)]).observe(seconds);
        }
    }

    /// The registry a scrape reads: the node's families, the status, and the services'.
    pub fn registry(&self, status: StatusHandle, live: Live, services: &Services) -> Registry {
        let mut registry = Registry::default();
        registry.register(
            "assay_epoch_close_seconds",
            "Time each stage of an epoch's closing took (records, score, encode, sign, commit)",
            self.close_seconds.clone(),
        );
        let live = Live {
            gateway: services.gateway.as_ref().map(|g| Arc::new(g.counters_reader()) as Arc<CountersReader>),
            verifier: services.verifier.clone(),
            ..live
        };
        registry.register_collector(Box::new(StatusCollector { status, live }));
        if let Some(gateway) = &services.gateway {
            gateway.register_metrics(&mut registry);
        }
        if let Some(verifier) = &services.verifier {
            verifier.register_metrics(&mut registry);
        }
        registry
    }
}

type CountersReader = dyn Fn() -> assay_gateway::Counters + Send + Sync;

/// What a scrape reads live rather than from the status snapshot (which the node's loop
/// updates only at the end of a pass).
#[derive(Clone)]
pub(crate) struct Live {
    pub view: ChainView,
    pub epochs: Epochs,
    pub ledger: PathBuf,
    pub gateway: Option<Arc<CountersReader>>,
    pub verifier: Option<assay_verify::Verifier>,
}

impl Live {
    pub fn new(view: ChainView, epochs: Epochs, ledger: PathBuf) -> Self {
        Self { view, epochs, ledger, gateway: None, verifier: None }
    }

    /// The status with the live values written over the snapshot's.
    fn over(&self, mut status: Status) -> Status {
        let view = self.view.snapshot();
        status.head = view.head;
        status.epoch = self.epochs.of_block(view.head);
        status.metagraph_age_s = view.metagraph_read.elapsed().as_secs_f64();
        status.miners = view.metagraph.neurons.len();
        if let Some(read) = &self.gateway {
            status.gateway_counters = Some(read());
        }
        if let Some(verifier) = &self.verifier {
            status.verdicts = verifier
                .tallies()
                .into_iter()
                .map(|(uid, t)| (uid, Verdicts { passed: t.passed, failed: t.failed, voided: t.voided }))
                .collect();
        }
        status
    }
}

/// The status snapshot as metrics, read at each scrape.
struct StatusCollector {
    status: StatusHandle,
    live: Live,
}

impl std::fmt::Debug for StatusCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusCollector")
    }
}

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = self.live.over(self.status.get());
        chain(&mut encoder, &status)?;
        epochs(&mut encoder, &status)?;
        verdicts(&mut encoder, &status)?;
        gateway_counters(&mut encoder, &status)?;
        gauge(&mut encoder, "assay_ledger_bytes", "Size of the ledger's files on disk", ledger_bytes(&self.live.ledger))
    }
}

/// `-1` for "none yet".
fn or_none(value: Option<u64>) -> f64 {
    value.map_or(-1.0, |v| v as f64)
}

fn chain(encoder: &mut DescriptorEncoder, status: &Status) -> std::fmt::Result {
    gauge(encoder, "assay_chain_head_block", "The chain view's head block", status.head as f64)?;
    gauge(
        encoder,
        "assay_chain_connected",
        "1 while the chain can be read; 0 while the last view serves",
        if status.chain_error.is_none() { 1.0 } else { 0.0 },
    )?;
    gauge(encoder, "assay_metagraph_age_seconds", "Seconds since the metagraph was last read", status.metagraph_age_s)?;
    gauge(encoder, "assay_metagraph_neurons", "Neurons in the metagraph", status.miners as f64)
}

fn epochs(encoder: &mut DescriptorEncoder, status: &Status) -> std::fmt::Result {
    let last = status.last_closed.as_ref();
    gauges(
        encoder,
        "assay_epoch_last_close_seconds",
        "Time each stage of the last epoch this process closed took",
        last.into_iter().flat_map(|l| l.stages.iter().map(|(stage, s)| ([("stage", stage.as_str())], *s))),
    )?;
    gauge(encoder, "assay_epoch_current", "The epoch of the chain view's head", status.epoch as f64)?;
    gauge(
        encoder,
        "assay_epoch_last_closed",
        "The last epoch closed (-1: none yet)",
        or_none(status.last_closed_epoch),
    )?;
    gauge(
        encoder,
        "assay_epoch_last_published",
        "The last epoch whose objects were published (-1: none yet)",
        or_none(status.last_published),
    )?;
    gauge(
        encoder,
        "assay_weights_last_accepted_epoch",
        "The epoch of the latest weights the chain accepted (-1: none yet)",
        or_none(status.weights_accepted.map(|(epoch, _)| epoch)),
    )?;
    gauge(
        encoder,
        "assay_outgoing_epochs",
        "Closed epochs whose publication or weights are still queued",
        status.outgoing.len() as f64,
    )?;
    counter(encoder, "assay_weights_set_attempts", "set_weights calls made", status.weights_attempts)?;
    counter(encoder, "assay_weights_set_failures", "set_weights calls that failed", status.weights_failures)?;
    gauge(
        encoder,
        "assay_policy_fuel_used",
        "Fuel the scorer used on the last closed epoch",
        last.map_or(0.0, |l| l.fuel_used as f64),
    )
}

/// Verdicts per miner: `uid` is bounded by the metagraph's size.
fn verdicts(encoder: &mut DescriptorEncoder, status: &Status) -> std::fmt::Result {
    let rows = status.verdicts.iter().flat_map(|(uid, v)| {
        let uid = uid.to_string();
        [("pass", v.passed), ("fail", v.failed), ("void", v.voided)]
            .map(|(verdict, n)| ([("uid", uid.clone()), ("verdict", verdict.to_string())], u64::from(n)))
    });
    counters(encoder, "assay_verify_miner_verdicts", "Challenge verdicts per miner since start", rows)
}

fn gateway_counters(encoder: &mut DescriptorEncoder, status: &Status) -> std::fmt::Result {
    let Some(c) = &status.gateway_counters else { return Ok(()) };
    gauge(encoder, "assay_gateway_connections", "Users' connections open now", c.connections as f64)?;
    gauge(encoder, "assay_gateway_queued", "Users' requests waiting for a miner's slot now", c.queued as f64)?;
    gauge(
        encoder,
        "assay_gateway_recorder_backlog",
        "Records waiting to be written to the ledger now",
        c.recorder_backlog as f64,
    )?;
    let refused = [("connections", c.connections_refused), ("queue", c.queue_refused), ("recorder", c.recorder_shed)]
        .map(|(why, n)| ([("why", why)], n));
    counters(
        encoder,
        "assay_gateway_refused",
        "Users refused with 503, by why (connections, queue, recorder)",
        refused,
    )?;
    counter(encoder, "assay_gateway_streams_cut", "Streams cut because their user stopped reading", c.streams_cut)?;
    counter(
        encoder,
        "assay_gateway_validator_faults",
        "Attempts that failed by the validator's own fault (charged to no miner)",
        c.validator_faults,
    )
}

/// The ledger's file and SQLite's journal files beside it.
fn ledger_bytes(path: &Path) -> f64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut total = size(path);
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        total += size(Path::new(&name));
    }
    total as f64
}

/// The server for `[metrics]`, or none.
pub(crate) fn serve(
    listen: std::net::SocketAddr,
    registry: Registry,
) -> assay_metrics::Result<assay_metrics::MetricsServer> {
    assay_metrics::serve(listen, Arc::new(registry), assay_metrics::Limits::default())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use assay_chain::Metagraph;

    use super::*;

    /// The chain view's values come from the view at scrape time, not from a status the
    /// node's loop last wrote before a long close.
    #[test]
    fn the_metagraph_age_and_head_are_read_at_scrape_time() {
        let read = Instant::now() - Duration::from_secs(30);
        let metagraph = Metagraph { netuid: 1, neurons: Vec::new(), owner_hotkey: None };
        let view = ChainView::fixed(42, Arc::new(metagraph), read);
        let dir = tempfile::tempdir().expect("tempdir");
        let live = Live::new(view, Epochs::new(10).expect("epochs"), dir.path().join("ledger.db"));
        let status = StatusHandle::default();
        // What a loop pass wrote long ago.
        status.update(|s| {
            s.head = 3;
            s.metagraph_age_s = 0.5;
        });
        let mut registry = Registry::default();
        registry.register_collector(Box::new(StatusCollector { status, live }));
        let text = assay_metrics::encode(&registry);
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        };
        assert!(value("assay_metagraph_age_seconds") >= 30.0, "{text}");
        assert_eq!(value("assay_chain_head_block"), 42.0);
        assert_eq!(value("assay_epoch_current"), 4.0);
    }
}
