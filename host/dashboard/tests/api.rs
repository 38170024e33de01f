//! The dashboard's HTTP surface over a fake source: the page and its assets, the JSON views,
//! the summaries' links; read-only (other methods 405, unknown paths 404, both JSON); bounded
//! (a slow source answers 503, connections past the limit are closed, the server stops).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use assay_dashboard::view::{Component, LATENCY_BUCKETS_MS};
use assay_dashboard::{EpochView, Latency, Limits, MinerRow, Overview, Source, VerdictCounts, app};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(Default)]
struct Fake {
    delay: Duration,
    /// How many epochs it keeps (3 when 0).
    kept: u64,
    revision: AtomicU64,
    epoch_reads: AtomicUsize,
    summary_reads: AtomicUsize,
}

fn row(uid: u16, weight: Option<u16>) -> MinerRow {
    MinerRow {
        uid,
        hotkey: format!("5Hotkey{uid}"),
        weight,
        share: None,
        score: weight.map(f64::from),
        components: vec![Component { name: "speed".into(), value: 0.5 }],
        requests: 10,
        ok: 9,
        verdicts: VerdictCounts { passed: 3, failed: 1, voided: 0 },
        latency: Latency::of(&[20.0, 60.0, 120.0]),
    }
}

impl Source for Fake {
    fn overview(&self) -> Overview {
        std::thread::sleep(self.delay);
        Overview {
            role: "validator".into(),
            netuid: 7,
            epoch: Some(3),
            last_epoch: Some(2),
            current: vec![row(0, None)],
            notes: vec!["n".repeat(10_000)],
            ..Overview::default()
        }
    }

    fn epochs(&self) -> Vec<EpochView> {
        self.epoch_reads.fetch_add(1, Ordering::SeqCst);
        (0..if self.kept == 0 { 3 } else { self.kept })
            .map(|epoch| EpochView {
                epoch,
                summary_key: format!("epochs/7/{epoch}/summary.json"),
                scorer: "ab".repeat(32),
                miners: vec![row(0, Some(65535)), row(1, Some(0))],
                ..EpochView::default()
            })
            .collect()
    }

    fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    fn summary(&self, epoch: u64) -> Option<Vec<u8>> {
        self.summary_reads.fetch_add(1, Ordering::SeqCst);
        (epoch == 1).then(|| br#"{"epoch":1}"#.to_vec())
    }
}

fn fake() -> Arc<dyn Source> {
    Arc::new(Fake::default())
}

async fn call(source: Arc<dyn Source>, method: &str, path: &str) -> (StatusCode, String, String) {
    call_app(app(source), method, path).await
}

async fn call_app(app: axum::Router, method: &str, path: &str) -> (StatusCode, String, String) {
    let request = Request::builder().method(method).uri(path).body(Body::empty()).expect("a request");
    let response = app.oneshot(request).await.expect("answers");
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_string());
    let body = response.into_body().collect().await.expect("a body").to_bytes();
    (status, content_type.unwrap_or_default(), String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_page_and_its_assets_come_from_the_binary() {
    let (status, kind, body) = call(fake(), "GET", "/").await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(body.contains(r#"<script src="/assets/dashboard.js""#), "{body}");
    assert!(!body.contains("http://") && !body.contains("https://"), "nothing fetched from elsewhere");
    let (status, kind, js) = call(fake(), "GET", "/assets/dashboard.js").await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    assert!(js.contains("data-points"), "the charts count what they draw");
    let (status, _, _) = call(fake(), "GET", "/assets/dashboard.css").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_views_are_the_sources_bounded() {
    let (status, kind, body) = call(fake(), "GET", "/api/overview").await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/json"));
    let overview: Overview = serde_json::from_str(&body).expect("an overview");
    assert_eq!((overview.netuid, overview.epoch, overview.last_epoch), (7, Some(3), Some(2)));
    assert_eq!(overview.notes[0].len(), assay_dashboard::view::MAX_TEXT, "a long line is capped");

    let (status, _, body) = call(fake(), "GET", "/api/epochs").await;
    assert_eq!(status, StatusCode::OK);
    let epochs: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(epochs["latency_buckets_ms"].as_array().map(Vec::len), Some(LATENCY_BUCKETS_MS.len()));
    let views: Vec<EpochView> = serde_json::from_value(epochs["epochs"].clone()).expect("epoch views");
    assert_eq!(views.iter().map(|v| v.epoch).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(views[2].miners[1].weight, Some(0));
    assert_eq!(views[2].miners[0].latency.as_ref().map(|l| l.buckets.clone()), Some(vec![1, 0, 1, 1, 0, 0, 0, 0, 0]));
    assert!(views[2].miners[0].components.is_empty(), "the charts need no components");

    let (status, _, body) = call(fake(), "GET", "/api/epochs/2").await;
    assert_eq!(status, StatusCode::OK);
    let view: EpochView = serde_json::from_str(&body).expect("one epoch");
    assert_eq!((view.epoch, view.miners[0].components.len()), (2, 1), "one epoch, whole, for the table");
    let (status, kind, _) = call(fake(), "GET", "/api/epochs/9").await;
    assert_eq!((status, kind.as_str()), (StatusCode::NOT_FOUND, "application/json"));
}

#[tokio::test]
async fn the_epochs_are_capped_and_serialised_once_per_revision() {
    let fake = Arc::new(Fake { kept: 200, ..Fake::default() });
    let router = app(fake.clone());
    let get = || call_app(router.clone(), "GET", "/api/epochs");
    let (_, _, first) = get().await;
    let sent: serde_json::Value = serde_json::from_str(&first).expect("json");
    let epochs = sent["epochs"].as_array().expect("epochs");
    assert_eq!(epochs.len(), assay_dashboard::CHART_EPOCHS, "only the charts' epochs are sent");
    assert_eq!((epochs[0]["epoch"].as_u64(), sent["revision"].as_u64()), (Some(200 - 64), Some(0)));
    let (_, _, again) = get().await;
    assert_eq!((again == first, fake.epoch_reads.load(Ordering::SeqCst)), (true, 1), "served from the cache");
    fake.revision.store(1, Ordering::SeqCst);
    let (_, _, moved) = get().await;
    let sent: serde_json::Value = serde_json::from_str(&moved).expect("json");
    assert_eq!((sent["revision"].as_u64(), fake.epoch_reads.load(Ordering::SeqCst)), (Some(1), 2), "read again");
    let (_, _, overview) = call_app(router.clone(), "GET", "/api/overview").await;
    let overview: Overview = serde_json::from_str(&overview).expect("an overview");
    assert_eq!(overview.revision, 1, "the page sees the history move");
}

#[tokio::test]
async fn summaries_are_linked_by_epoch() {
    let (status, kind, body) = call(fake(), "GET", "/api/summaries/1").await;
    assert_eq!((status, kind.as_str(), body.as_str()), (StatusCode::OK, "application/json", r#"{"epoch":1}"#));
    let counted = Arc::new(Fake::default());
    let router = app(counted.clone());
    for _ in 0..3 {
        let (status, _, _) = call_app(router.clone(), "GET", "/api/summaries/1.json").await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(counted.summary_reads.load(Ordering::SeqCst), 1, "a summary never changes: read once");
    for missing in ["/api/summaries/2", "/api/summaries/x"] {
        let (status, kind, body) = call(fake(), "GET", missing).await;
        assert_eq!((status, kind.as_str()), (StatusCode::NOT_FOUND, "application/json"), "{missing}: {body}");
    }
}

#[tokio::test]
async fn it_is_read_only_and_unknown_paths_are_json_404() {
    for (method, path) in
        [("POST", "/api/overview"), ("PUT", "/"), ("DELETE", "/api/epochs"), ("POST", "/api/summaries/1")]
    {
        let (status, kind, body) = call(fake(), method, path).await;
        assert_eq!((status, kind.as_str()), (StatusCode::METHOD_NOT_ALLOWED, "application/json"), "{method} {path}");
        assert!(body.contains("read-only"), "{body}");
    }
    let (status, kind, body) = call(fake(), "GET", "/api/secrets").await;
    assert_eq!((status, kind.as_str()), (StatusCode::NOT_FOUND, "application/json"));
    assert_eq!(body, r#"{"error":"not found: /api/secrets"}"#);
}

#[tokio::test]
async fn a_slow_source_is_answered_503_in_time() {
    let slow: Arc<dyn Source> = Arc::new(Fake { delay: Duration::from_secs(7), ..Fake::default() });
    let started = std::time::Instant::now();
    let (status, _, body) = call(slow, "GET", "/api/overview").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
}

/// Sends a raw request on a fresh connection; what came back (empty: closed unanswered).
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn the_server_bounds_connections_and_stops() {
    let listener = assay_dashboard::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let limits = Limits { max_connections: 1, ..Limits::default() };
    let server = tokio::spawn(assay_dashboard::serve(listener, fake(), limits, stopped));

    let get = "GET /api/overview HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    assert!(raw(addr, get).await.starts_with("HTTP/1.1 200"), "served");
    // One connection held open without a request: the next is closed unanswered.
    let _held = tokio::net::TcpStream::connect(addr).await.expect("connects");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(raw(addr, get).await, "", "past the limit");
    drop(_held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let huge = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(64 * 1024));
    assert!(!raw(addr, &huge).await.starts_with("HTTP/1.1 200"), "oversized headers are refused");

    stop.send(true).expect("the server listens");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("stops").expect("cleanly");
}
