//! The watchtower's metrics, as Prometheus text on `--metrics-addr` (`GET /metrics`): epochs
//! audited by verdict, the last audited epoch, seconds since the publication last moved,
//! whether the validator is silent, and the errors of the source, the chain and the weights.
//! A plain-thread server: one request per connection, a read timeout, a bounded request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::watch_state::Verdict;

/// How long a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The most of a request read (its first line is all that is needed).
const MAX_REQUEST_BYTES: usize = 4096;

#[derive(Debug, Default)]
pub struct Metrics {
    pass: AtomicU64,
    fail: AtomicU64,
    unusable: AtomicU64,
    /// The last audited epoch plus one (0: none yet).
    last_audited_plus_one: AtomicU64,
    latest_moved_unix_ms: AtomicU64,
    silent: AtomicBool,
    waiting: AtomicU64,
    /// The epoch waited at for longer than --silence-after, plus one (0: none).
    stalled_plus_one: AtomicU64,
    pub source_errors: AtomicU64,
    pub chain_errors: AtomicU64,
    pub weights_set: AtomicU64,
    pub latest_backwards: AtomicU64,
}

impl Metrics {
    pub fn audited(&self, epoch: u64, verdict: Verdict) {
        let counter = match verdict {
            Verdict::Pass => &self.pass,
            Verdict::Fail => &self.fail,
            Verdict::Unusable => &self.unusable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.last_audited_plus_one.store(epoch.saturating_add(1), Ordering::Relaxed);
    }

    pub fn set_latest_moved(&self, unix_ms: u64) {
        self.latest_moved_unix_ms.store(unix_ms, Ordering::Relaxed);
    }

    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Relaxed);
    }

    /// Epochs published but not yet audited because the chain does not name them yet.
    pub fn set_stalled(&self, epoch: Option<u64>) {
        self.stalled_plus_one.store(epoch.map_or(0, |e| e.saturating_add(1)), Ordering::Relaxed);
    }

    pub fn set_waiting(&self, epochs: u64) {
        self.waiting.store(epochs, Ordering::Relaxed);
    }

    /// The metrics as Prometheus text, `now_ms` being the time of the scrape.
    pub fn render(&self, now_ms: u64) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let moved = get(&self.latest_moved_unix_ms);
        let since_moved = now_ms.saturating_sub(moved) as f64 / 1000.0;
        let mut out = String::new();
        out.push_str("# HELP assay_watch_epochs_audited_total Epochs audited, by verdict.\n");
        out.push_str("# TYPE assay_watch_epochs_audited_total counter\n");
        for (verdict, counter) in [("pass", &self.pass), ("fail", &self.fail), ("unusable", &self.unusable)] {
            out.push_str(&format!("assay_watch_epochs_audited_total{{verdict=\"{verdict}\"}} {}\n", get(counter)));
        }
        let gauges = [
            ("assay_watch_last_audited_epoch", "The last epoch audited (-1: none yet).", {
                get(&self.last_audited_plus_one) as f64 - 1.0
            }),
            ("assay_watch_seconds_since_publication_moved", "Seconds since latest.json last changed.", since_moved),
            ("assay_watch_silent", "1 when latest.json has not moved for --silence-after.", {
                f64::from(u8::from(self.silent.load(Ordering::Relaxed)))
            }),
            ("assay_watch_epochs_waiting_for_chain", "Published epochs whose hash the chain does not name yet.", {
                get(&self.waiting) as f64
            }),
            (
                "assay_watch_stalled_epoch",
                "The epoch waited at for longer than --silence-after: unpublished though named, or its hash not on chain (-1: none).",
                get(&self.stalled_plus_one) as f64 - 1.0,
            ),
        ];
        for (name, help, value) in gauges {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
        }
        let counters = [
            ("assay_watch_source_errors_total", "Polls that could not read the publication.", &self.source_errors),
            ("assay_watch_chain_errors_total", "Chain reads or writes that failed.", &self.chain_errors),
            ("assay_watch_weights_set_total", "Weights set after a passing audit.", &self.weights_set),
            (
                "assay_watch_latest_backwards_total",
                "Polls whose latest.json named an epoch before the ones examined.",
                &self.latest_backwards,
            ),
        ];
        for (name, help, counter) in counters {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n", get(counter)));
        }
        out
    }
}

/// Serves `metrics` on `addr` from a thread of its own; returns the address it listens on.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>, now_ms: fn() -> u64) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new().name("watch-metrics".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Err(e) = answer(stream, &metrics, now_ms()) {
                tracing::debug!(error = %e, "a metrics request failed");
            }
        }
    })?;
    Ok(local)
}

/// Answers one request: the metrics on `GET /metrics`, 404 elsewhere.
fn answer(mut stream: TcpStream, metrics: &Metrics, now_ms: u64) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut request = Vec::new();
    let mut chunk = [0u8; 512];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let first_line = request.split(|b| *b == b'\n').next().unwrap_or_default();
    let (status, body) = if first_line.starts_with(b"GET /metrics ") {
        ("200 OK", metrics.render(now_ms))
    } else {
        ("404 Not Found", "not found: GET /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

#[cfg(test)]
mod tests {
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
        let metrics = Arc::new(Metrics::default());
        metrics.audited(3, Verdict::Pass);
        metrics.audited(4, Verdict::Fail);
        metrics.set_latest_moved(1_000);
        metrics.set_silent(true);
        let text = metrics.render(11_500);
        for line in [
            "assay_watch_epochs_audited_total{verdict=\"pass\"} 1",
            "assay_watch_epochs_audited_total{verdict=\"fail\"} 1",
            "assay_watch_epochs_audited_total{verdict=\"unusable\"} 0",
            "assay_watch_last_audited_epoch 4",
            "assay_watch_seconds_since_publication_moved 10.5",
            "assay_watch_silent 1",
        ] {
            assert!(text.lines().any(|l| l == line), "lacks {line:?}:\n{text}");
        }
        assert!(Metrics::default().render(0).contains("assay_watch_last_audited_epoch -1"));

        let addr = serve("127.0.0.1:0".parse().expect("addr"), metrics, || 11_500).expect("serves");
        let response = get(addr, "/metrics");
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.contains("assay_watch_epochs_audited_total{verdict=\"fail\"} 1"), "{response}");
        assert!(get(addr, "/").starts_with("HTTP/1.1 404"));
    }
}
