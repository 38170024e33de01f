//! Prometheus metrics shared by every assay process (`assay run`, `assay miner`, `assay watch`):
//! the bounded, read-only `/metrics` server ([`serve`]) and small helpers to build families.
//! What each process measures is its own crate's business: this crate knows no node, gateway,
//! miner or chain, and no async runtime (the auditor's `assay watch` links it).

mod server;

use std::sync::Arc;

pub use prometheus_client;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
pub use server::{Limits, MetricsServer, serve};

/// The `Content-Type` of what [`encode`] writes (Prometheus text, version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What a server exposes: a registry, read at each scrape.
pub type Shared = Arc<Registry>;

/// Why metrics could not be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("listening for metrics on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("starting the metrics server's thread: {0}")]
    Thread(std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The registry as Prometheus text (what `/metrics` answers).
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String fails only if a metric's own encoding does: then what was written
    // so far is served and the failure logged.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, registry) {
        tracing::warn!(error = %e, "encoding the metrics failed part way");
    }
    text
}

/// Writes, at scrape time (from a [`Collector`](prometheus_client::collector::Collector)), a
/// gauge family: one value per label set.
pub fn gauges<S: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (S, f64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, &help_text(help), None, MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// As [`gauges`], a counter family (`name` without `_total`: the encoder appends it). Help texts
/// are given without a final full stop, as for registered metrics.
pub fn counters<S: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (S, u64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, &help_text(help), None, MetricType::Counter)?;
    for (labels, value) in values {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One unlabelled gauge, at scrape time.
pub fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> std::fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, &help_text(help), None, MetricType::Gauge)?)
}

/// One unlabelled counter, at scrape time.
pub fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(name, &help_text(help), None, MetricType::Counter)?)
}

/// Help as the registry writes it for registered metrics (ending in a full stop), so that
/// families written at scrape time read the same.
fn help_text(help: &str) -> String {
    format!("{help}.")
}

/// A histogram of durations in seconds, 1 ms to about 65 s (17 buckets, doubling).
pub fn seconds_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 17))
}

/// A histogram of miners' answer times in seconds, 10 ms to about 164 s (15 buckets, doubling):
/// past the default miner timeout (120 s), so an answer that times out lands in a bucket of its
/// own instead of `+Inf` beside every slow one.
pub fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.01, 2.0, 15))
}
