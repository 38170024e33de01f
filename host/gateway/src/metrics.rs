//! The gateway's Prometheus families (docs/metrics.md): users' requests by route, status and
//! API-key *name* (never the key), attempts to miners by kind and outcome, latency and time to
//! first token per miner (latency by outcome too, so a miner that times out does not look fast),
//! retries; and, read from the router at scrape time, in-flight requests
//! and each miner's circuit. Label values are bounded: routes and statuses are few, key names
//! are the config's, uids the metagraph's. The request path only bumps atomics behind a read
//! lock; attempts are counted by the recorder's thread, off the request path.

use std::sync::Arc;

use assay_ledger::{Outcome, RequestKind, RequestRow};
use assay_metrics::prometheus_client::collector::Collector;
use assay_metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use assay_metrics::prometheus_client::metrics::counter::Counter;
use assay_metrics::prometheus_client::metrics::family::Family;
use assay_metrics::prometheus_client::metrics::histogram::Histogram;
use assay_metrics::prometheus_client::registry::Registry;

/// A user's request as counted: `key` is the API key's name ("" when none was admitted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
    pub key: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AttemptLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// A miner's answer time: `outcome` is `ok`, `timeout`, `cancelled` or `error` (the other
/// failures), a bounded set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    uid: u16,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UidLabel {
    uid: u16,
}

/// The live families; cheap to clone (each is an `Arc`).
#[derive(Debug, Clone)]
pub(crate) struct GatewayMetrics {
    requests: Family<RequestLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    ttft: Family<UidLabel, Histogram>,
    retries: Counter,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            attempts: Family::default(),
            latency: Family::new_with_constructor(assay_metrics::latency_histogram),
            ttft: Family::new_with_constructor(assay_metrics::latency_histogram),
            retries: Counter::default(),
        }
    }
}

impl GatewayMetrics {
    /// A user's request answered with `status`.
    pub fn request(&self, labels: &RequestLabels) {
        self.requests.get_or_create(labels).inc();
    }

    /// Another miner tried for the same request.
    pub fn retried(&self) {
        self.retries.inc();
    }

    /// One attempt with a miner, as recorded (organic, synthetic or baseline).
    pub fn attempt(&self, row: &RequestRow) {
        let kind = match row.kind {
            RequestKind::Organic => "organic",
            RequestKind::Synthetic => "synthetic",
            RequestKind::Baseline => "baseline",
        };
        let outcome = match row.outcome {
            Outcome::Ok => "ok",
            Outcome::RateLimited => "rate-limited",
            Outcome::ServerError => "server-error",
            Outcome::Timeout => "timeout",
            Outcome::BadResponse => "bad-response",
            Outcome::Cancelled => "cancelled",
        };
        self.attempts.get_or_create(&AttemptLabels { kind, outcome }).inc();
        let outcome = match row.outcome {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::RateLimited | Outcome::ServerError | Outcome::BadResponse => "error",
        };
        self.latency.get_or_create(&LatencyLabels { uid: row.uid, outcome }).observe(row.total_ms / 1e3);
        if row.outcome == Outcome::Ok {
            self.ttft.get_or_create(&UidLabel { uid: row.uid }).observe(row.ttft_ms / 1e3);
        }
    }

    /// Attempts counted so far, of every kind and outcome (for tests).
    #[cfg(test)]
    pub fn attempts_counted(&self) -> u64 {
        let mut registry = Registry::default();
        registry.register("a", "", self.attempts.clone());
        assay_metrics::encode(&registry)
            .lines()
            .filter(|l| l.starts_with("a_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    pub fn register(&self, registry: &mut Registry, shared: Arc<crate::Shared>) {
        self.register_families(registry);
        registry.register_collector(Box::new(Router(shared)));
    }

    fn register_families(&self, registry: &mut Registry) {
        registry.register(
            "assay_gateway_requests",
            "Users' requests by route, HTTP status and API key name",
            self.requests.clone(),
        );
        registry.register(
            "assay_gateway_attempts",
            "Attempts sent to miners by kind (organic, synthetic, baseline) and outcome",
            self.attempts.clone(),
        );
        registry.register(
            "assay_gateway_latency_seconds",
            "Total time of attempts with miners, per miner uid and outcome (ok, timeout, cancelled, error)",
            self.latency.clone(),
        );
        registry.register(
            "assay_gateway_ttft_seconds",
            "Time to first token of miners' completed answers, per miner uid",
            self.ttft.clone(),
        );
        registry.register("assay_gateway_retries", "Requests tried again with another miner", self.retries.clone());
    }
}

/// Registers the families the request path and the recorder fill, each with one example series
/// (uid 0, key `example`), as a gateway that has served traffic exposes them: for tools and
/// tests that check metric names against what is served (the router's are not included).
pub fn describe(registry: &mut Registry) {
    let metrics = GatewayMetrics::default();
    metrics.request(&RequestLabels { route: "chat", status: 200, key: Arc::from("example") });
    metrics.retried();
    let row = RequestRow {
        id: 0,
        uid: 0,
        kind: RequestKind::Organic,
        outcome: Outcome::Ok,
        greedy: false,
        prompt_tokens: 0,
        completion_tokens: 0,
        ttft_ms: 1.0,
        total_ms: 2.0,
        reported_ttft_ms: None,
        reported_tps: None,
        quality: None,
        started_ms: 0,
    };
    metrics.attempt(&row);
    metrics.register_families(registry);
}

/// A miner's circuit as a label: `half_open` once an open circuit's cooldown is over (a trial
/// request decides), `open` before, `down` when its last probe failed, else `closed`.
fn circuit_state(s: &crate::SlotState) -> &'static str {
    match (s.up, s.circuit_open, s.half_open) {
        (_, true, true) => "half_open",
        (_, true, false) => "open",
        (false, false, _) => "down",
        (true, false, _) => "closed",
    }
}

/// The router's miners, read at each scrape.
struct Router(Arc<crate::Shared>);

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Router")
    }
}

impl Collector for Router {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let slots: Vec<_> = self.0.pool.slots().iter().map(|s| s.describe()).collect();
        let in_flight: u32 = slots.iter().map(|s| s.in_flight).sum();
        assay_metrics::gauge(&mut encoder, "assay_gateway_in_flight", "Requests at miners now", f64::from(in_flight))?;
        let circuits =
            slots.iter().map(|s| ([("uid", s.uid.to_string()), ("state", circuit_state(s).to_string())], 1.0));
        assay_metrics::gauges(
            &mut encoder,
            "assay_gateway_miner_circuit",
            "Each miner's circuit as the router sees it (state: closed, open, half_open, down), always 1",
            circuits,
        )?;
        let loads = slots.iter().map(|s| ([("uid", s.uid.to_string())], f64::from(s.in_flight)));
        assay_metrics::gauges(&mut encoder, "assay_gateway_miner_in_flight", "Requests at each miner now", loads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: u16, outcome: Outcome, total_ms: f64) -> RequestRow {
        RequestRow {
            id: 0,
            uid,
            kind: RequestKind::Organic,
            outcome,
            greedy: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            ttft_ms: 5.0,
            total_ms,
            reported_ttft_ms: None,
            reported_tps: None,
            quality: None,
            started_ms: 0,
        }
    }

    #[test]
    fn circuits_have_four_states() {
        let state = |up, circuit_open, half_open| crate::SlotState {
            uid: 1,
            up,
            capacity: 1,
            good_standing: true,
            circuit_open,
            half_open,
            in_flight: 0,
            ttft_ms: 0.0,
        };
        assert_eq!(circuit_state(&state(true, false, false)), "closed");
        assert_eq!(circuit_state(&state(false, false, false)), "down");
        assert_eq!(circuit_state(&state(true, true, false)), "open");
        assert_eq!(circuit_state(&state(true, true, true)), "half_open");
    }

    #[test]
    fn failed_and_timed_out_attempts_have_latency_by_outcome() {
        let metrics = GatewayMetrics::default();
        metrics.attempt(&row(3, Outcome::Ok, 800.0));
        metrics.attempt(&row(3, Outcome::Timeout, 120_000.0));
        metrics.attempt(&row(3, Outcome::ServerError, 50.0));
        metrics.attempt(&row(3, Outcome::BadResponse, 70.0));
        let mut registry = Registry::default();
        metrics.register_families(&mut registry);
        let text = assay_metrics::encode(&registry);
        let line = |series: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
        };
        assert_eq!(line(r#"assay_gateway_latency_seconds_count{uid="3",outcome="ok"}"#), 1.0);
        assert_eq!(line(r#"assay_gateway_latency_seconds_count{uid="3",outcome="timeout"}"#), 1.0);
        assert_eq!(line(r#"assay_gateway_latency_seconds_count{uid="3",outcome="error"}"#), 2.0);
        // A 120 s timeout falls in a finite bucket (81.92 < 120 <= 163.84), not only in +Inf.
        assert_eq!(line(r#"assay_gateway_latency_seconds_bucket{uid="3",outcome="timeout",le="81.92"}"#), 0.0);
        assert_eq!(line(r#"assay_gateway_latency_seconds_bucket{uid="3",outcome="timeout",le="163.84"}"#), 1.0);
        // Time to first token only for completed answers.
        assert_eq!(line(r#"assay_gateway_ttft_seconds_count{uid="3"}"#), 1.0);
    }
}
