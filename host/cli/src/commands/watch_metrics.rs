//! The watchtower's metrics, served on `--metrics-addr` (`GET /metrics`) by assay-metrics:
//! epochs audited by verdict, the last audited epoch, seconds since the publication last moved,
//! whether the validator is silent, and the errors of the source, the chain and the weights.
//! Families are prometheus-client's; this file only names them and feeds them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use assay_metrics::prometheus_client::collector::Collector;
use assay_metrics::prometheus_client::encoding::DescriptorEncoder;
use assay_metrics::prometheus_client::metrics::counter::Counter;
use assay_metrics::prometheus_client::metrics::family::Family;
use assay_metrics::prometheus_client::metrics::gauge::Gauge;
use assay_metrics::prometheus_client::registry::Registry;

use super::watch_state::Verdict;

/// A verdict as a label: `verdict="pass"`.
type VerdictLabel = [(&'static str, &'static str); 1];

#[derive(Debug)]
pub struct Metrics {
    audited: Family<VerdictLabel, Counter>,
    /// The last audited epoch (-1: none yet).
    last_audited: Gauge,
    latest_moved_unix_ms: Arc<AtomicU64>,
    silent: Gauge,
    waiting: Gauge,
    /// The epoch waited at for longer than --silence-after (-1: none).
    stalled: Gauge,
    pub source_errors: Counter,
    pub chain_errors: Counter,
    pub weights_set: Counter,
    pub latest_backwards: Counter,
    registry: Arc<Registry>,
}

/// Seconds since latest.json last changed, computed at each scrape; absent until a poll has
/// read latest.json (0 in `moved_unix_ms`), rather than the seconds since 1970.
#[derive(Debug)]
struct SinceMoved {
    moved_unix_ms: Arc<AtomicU64>,
    now_ms: fn() -> u64,
}

impl Collector for SinceMoved {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let moved = self.moved_unix_ms.load(Ordering::Relaxed);
        if moved == 0 {
            return Ok(());
        }
        let seconds = (self.now_ms)().saturating_sub(moved) as f64 / 1000.0;
        assay_metrics::gauge(
            &mut encoder,
            "assay_watch_seconds_since_publication_moved",
            "Seconds since latest.json last changed",
            seconds,
        )
    }
}

impl Metrics {
    /// The watchtower's families, `now_ms` telling the time at each scrape.
    pub fn new(now_ms: fn() -> u64) -> Self {
        let mut registry = Registry::default();
        let audited = Family::<VerdictLabel, Counter>::default();
        for verdict in ["pass", "fail", "unusable"] {
            let _ = audited.get_or_create(&[("verdict", verdict)]);
        }
        registry.register("assay_watch_epochs_audited", "Epochs audited, by verdict", audited.clone());
        let gauge = |registry: &mut Registry, name: &str, help: &str, value: i64| {
            let gauge = Gauge::default();
            gauge.set(value);
            registry.register(name, help, gauge.clone());
            gauge
        };
        let last_audited =
            gauge(&mut registry, "assay_watch_last_audited_epoch", "The last epoch audited (-1: none yet)", -1);
        let silent =
            gauge(&mut registry, "assay_watch_silent", "1 when latest.json has not moved for --silence-after", 0);
        let waiting = gauge(
            &mut registry,
            "assay_watch_epochs_waiting_for_chain",
            "Published epochs whose hash the chain does not name yet",
            0,
        );
        let stalled = gauge(
            &mut registry,
            "assay_watch_stalled_epoch",
            "The epoch waited at for longer than --silence-after: unpublished though named, or its hash not on chain (-1: none)",
            -1,
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let source_errors =
            counter(&mut registry, "assay_watch_source_errors", "Polls that could not read the publication");
        let chain_errors = counter(&mut registry, "assay_watch_chain_errors", "Chain reads or writes that failed");
        let weights_set = counter(&mut registry, "assay_watch_weights_set", "Weights set after a passing audit");
        let latest_backwards = counter(
            &mut registry,
            "assay_watch_latest_backwards",
            "Polls whose latest.json named an epoch before the ones examined",
        );
        let latest_moved_unix_ms = Arc::new(AtomicU64::new(0));
        registry.register_collector(Box::new(SinceMoved { moved_unix_ms: latest_moved_unix_ms.clone(), now_ms }));
        Self {
            audited,
            last_audited,
            latest_moved_unix_ms,
            silent,
            waiting,
            stalled,
            source_errors,
            chain_errors,
            weights_set,
            latest_backwards,
            registry: Arc::new(registry),
        }
    }

    pub fn audited(&self, epoch: u64, verdict: Verdict) {
        let label = match verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unusable => "unusable",
        };
        self.audited.get_or_create(&[("verdict", label)]).inc();
        self.last_audited.set(i64::try_from(epoch).unwrap_or(i64::MAX));
    }

    pub fn set_latest_moved(&self, unix_ms: u64) {
        self.latest_moved_unix_ms.store(unix_ms, Ordering::Relaxed);
    }

    pub fn set_silent(&self, silent: bool) {
        self.silent.set(i64::from(silent));
    }

    /// Epochs published but not yet audited because the chain does not name them yet.
    pub fn set_stalled(&self, epoch: Option<u64>) {
        self.stalled.set(epoch.map_or(-1, |e| i64::try_from(e).unwrap_or(i64::MAX)));
    }

    pub fn set_waiting(&self, epochs: u64) {
        self.waiting.set(i64::try_from(epochs).unwrap_or(i64::MAX));
    }

    /// The metrics as Prometheus text, as a scrape sees them now.
    #[cfg(test)]
    fn render(&self) -> String {
        assay_metrics::encode(&self.registry)
    }

    /// Serves the metrics on `addr` until the returned server is dropped.
    pub fn serve(&self, addr: SocketAddr) -> assay_metrics::Result<assay_metrics::MetricsServer> {
        assay_metrics::serve(addr, self.registry.clone(), assay_metrics::Limits::default())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).expect("connects");
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        response
    }

    #[test]
    fn metrics_are_served_as_prometheus_text() {
        let metrics = Metrics::new(|| 11_500);
        metrics.audited(3, Verdict::Pass);
        metrics.audited(4, Verdict::Fail);
        metrics.set_latest_moved(1_000);
        metrics.set_silent(true);
        metrics.weights_set.inc();
        let text = metrics.render();
        for line in [
            "assay_watch_epochs_audited_total{verdict=\"pass\"} 1",
            "assay_watch_epochs_audited_total{verdict=\"fail\"} 1",
            "assay_watch_epochs_audited_total{verdict=\"unusable\"} 0",
            "assay_watch_last_audited_epoch 4",
            "assay_watch_seconds_since_publication_moved 10.5",
            "assay_watch_silent 1",
            "assay_watch_weights_set_total 1",
            "assay_watch_source_errors_total 0",
            "assay_watch_stalled_epoch -1",
        ] {
            assert!(text.lines().any(|l| l == line), "lacks {line:?}:\n{text}");
        }
        let before_any_poll = Metrics::new(|| 1_700_000_000_000).render();
        assert!(before_any_poll.contains("assay_watch_last_audited_epoch -1"));
        assert!(
            !before_any_poll.contains("assay_watch_seconds_since_publication_moved"),
            "absent before the first poll, not the seconds since 1970:\n{before_any_poll}"
        );

        let server = metrics.serve("127.0.0.1:0".parse().expect("addr")).expect("serves");
        let addr = server.local_addr();
        let response = get(addr, "/metrics");
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.contains("assay_watch_epochs_audited_total{verdict=\"fail\"} 1"), "{response}");
        metrics.audited(5, Verdict::Fail);
        assert!(get(addr, "/metrics").contains("assay_watch_epochs_audited_total{verdict=\"fail\"} 2"));
        assert!(get(addr, "/").starts_with("HTTP/1.1 404"));
    }
}
