//! The public dataset's endpoints on a real gateway on loopback, served from a publication
//! folder laid out as the node publishes it: summaries chained by `previous` and `latest.json`
//! (only the summary fields the dataset reads: the auditor's fields are `assay-epoch`'s).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assay_gateway::{DatasetLimits, Publication};
use assay_publish::{LocalFolder, ObjectStore, keys};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NETUID: u16 = 1;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A dataset line as the node writes it.
fn line(epoch: u64, id: u64, uid: u16, kind: &str, started_ms: u64) -> String {
    json!({"epoch": epoch, "task": "chat", "record": {"id": id, "uid": uid, "kind": kind, "outcome": "ok",
        "greedy": true, "prompt_tokens": 7, "completion_tokens": 3, "ttft_ms": 1.0, "total_ms": 2.0,
        "reported_ttft_ms": null, "reported_tps": null, "quality": null, "started_ms": started_ms}})
    .to_string()
}

/// A publication in a folder: each epoch's dataset, its summary linked to the previous one, and
/// `latest.json`.
struct Published {
    store: Arc<LocalFolder>,
    _dir: tempfile::TempDir,
    last: Option<(u64, String)>,
}

impl Published {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self { store: Arc::new(LocalFolder::new(dir.path())), _dir: dir, last: None }
    }

    /// Publishes `epoch` with these dataset lines; returns the dataset file's bytes.
    fn epoch(&mut self, epoch: u64, lines: &[String]) -> Vec<u8> {
        let mut jsonl = lines.join("\n");
        jsonl.push('\n');
        let dataset = zstd::encode_all(jsonl.as_bytes(), 3).expect("compresses");
        let previous = self.last.as_ref().map(|(e, sha)| json!({"epoch": e, "sha256": sha}));
        let summary = json!({
            "format": "assay-epoch-summary/4", "netuid": NETUID, "epoch": epoch,
            "block_start": epoch * 100, "block_end": epoch * 100 + 99, "unscored": null,
            "input": {"key": keys::input(NETUID, epoch), "requests": lines.len(), "challenges": 1},
            "dataset": {"key": keys::dataset(NETUID, epoch), "sha256": sha256_hex(&dataset)},
            "previous": previous,
        });
        let summary = serde_json::to_vec_pretty(&summary).expect("json");
        let sha = sha256_hex(&summary);
        self.store.put(&keys::dataset(NETUID, epoch), &dataset).expect("puts");
        self.store.put(&keys::summary(NETUID, epoch), &summary).expect("puts");
        let latest = json!({"epoch": epoch, "summary": keys::summary(NETUID, epoch), "sha256": sha});
        self.store.put(&keys::latest(NETUID), latest.to_string().as_bytes()).expect("puts");
        self.last = Some((epoch, sha));
        dataset
    }
}

/// Counts the reads of dataset files that pass through it.
struct Counting {
    inner: Arc<LocalFolder>,
    dataset_reads: AtomicUsize,
}

impl ObjectStore for Counting {
    fn put(&self, key: &str, bytes: &[u8]) -> assay_publish::Result<()> {
        self.inner.put(key, bytes)
    }
    fn get(&self, key: &str) -> assay_publish::Result<Option<Vec<u8>>> {
        self.get_at_most(key, u64::MAX)
    }
    fn get_at_most(&self, key: &str, limit: u64) -> assay_publish::Result<Option<Vec<u8>>> {
        if key.starts_with("dataset/") {
            self.dataset_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get_at_most(key, limit)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

fn limits() -> DatasetLimits {
    DatasetLimits { refresh: Duration::from_millis(50), max_recent: 5, ..DatasetLimits::default() }
}

async fn serve(store: Arc<dyn ObjectStore>, limits: DatasetLimits) -> common::Net {
    let publication = Publication { store, netuid: NETUID, limits };
    common::start_serving(&[], json!({}), None, Some(publication)).await
}

async fn get(net: &common::Net, path: &str) -> (u16, Value) {
    let response = net.http.get(format!("http://{}{path}", net.address)).send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// Polls `/v1/dataset/epochs` until `done` holds of its answer.
async fn epochs_until(net: &common::Net, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(net, "/v1/dataset/epochs").await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every listed epoch's file has been read.
fn all_read(body: &Value, epochs: usize) -> bool {
    let data = body["data"].as_array().expect("list");
    data.len() == epochs && data.iter().all(|e| e["dataset"]["bytes"].is_u64())
}

fn three_epochs(published: &mut Published) -> Vec<Vec<u8>> {
    vec![
        published.epoch(1, &[line(1, 11, 0, "organic", 1_000), line(1, 12, 1, "synthetic", 1_100)]),
        published.epoch(2, &[line(2, 21, 1, "organic", 2_000)]),
        published.epoch(
            3,
            &[line(3, 31, 0, "organic", 3_000), line(3, 32, 2, "organic", 3_100), line(3, 33, 2, "synthetic", 2_900)],
        ),
    ]
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().or(body["error"]["type"].as_str()).unwrap_or_default()
}

#[tokio::test]
async fn epochs_are_listed_newest_first_with_their_objects_and_counts() {
    let mut published = Published::new();
    let files = three_epochs(&mut published);
    let net = serve(published.store.clone(), limits()).await;
    let body = epochs_until(&net, "three epochs are read", |b| all_read(b, 3) && b["complete"] == true).await;
    let data = body["data"].as_array().expect("list");
    let epochs: Vec<u64> = data.iter().map(|e| e["epoch"].as_u64().expect("epoch")).collect();
    assert_eq!(epochs, [3, 2, 1]);
    let third = &data[0];
    assert_eq!(third["dataset"]["key"], keys::dataset(NETUID, 3));
    assert_eq!(third["dataset"]["sha256"], sha256_hex(&files[2]));
    assert_eq!(third["dataset"]["bytes"], files[2].len());
    assert_eq!(third["summary"]["sha256"], published.last.as_ref().expect("published").1);
    assert_eq!(
        (third["requests"].as_u64(), third["organic"].as_u64(), third["synthetic"].as_u64()),
        (Some(3), Some(2), Some(1))
    );

    // An epoch published later shows up at the next refresh.
    published.epoch(4, &[line(4, 41, 0, "organic", 4_000)]);
    epochs_until(&net, "epoch 4 is listed", |b| b["data"][0]["epoch"] == 4 && all_read(b, 4)).await;
}

#[tokio::test]
async fn a_download_is_the_published_file_and_an_unknown_epoch_is_a_404() {
    let mut published = Published::new();
    let files = three_epochs(&mut published);
    let net = serve(published.store.clone(), limits()).await;
    epochs_until(&net, "three epochs are listed", |b| all_read(b, 3)).await;

    let response =
        net.http.get(format!("http://{}/v1/dataset/download?epoch=2", net.address)).send().await.expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/zstd");
    assert_eq!(headers["content-length"], files[1].len().to_string().as_str());
    assert_eq!(headers["x-assay-sha256"], sha256_hex(&files[1]).as_str());
    assert_eq!(response.bytes().await.expect("body").as_ref(), files[1].as_slice());

    let (status, body) = get(&net, "/v1/dataset/download?epoch=9").await;
    assert_eq!((status, error_code(&body)), (404, "epoch_not_found"), "{body}");
    for bad in ["", "?epoch=two", "?epoch=-1", "?epoch=1&extra=1", "?epoch=99999999999999999999999"] {
        let (status, body) = get(&net, &format!("/v1/dataset/download{bad}")).await;
        assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid_request_error")), "{bad}: {body}");
    }
}

#[tokio::test]
async fn recent_records_are_the_newest_across_epochs_within_the_limit_cap() {
    let mut published = Published::new();
    three_epochs(&mut published);
    let net = serve(published.store.clone(), limits()).await;
    epochs_until(&net, "three epochs are read", |b| all_read(b, 3)).await;

    let ids = |body: &Value| -> Vec<u64> {
        body["data"].as_array().expect("list").iter().map(|l| l["record"]["id"].as_u64().expect("id")).collect()
    };
    let (status, body) = get(&net, "/v1/dataset/recent?limit=4").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [32, 31, 33, 21]);
    // Without a limit: the default, here bounded by the cap of 5.
    let (_, body) = get(&net, "/v1/dataset/recent").await;
    assert_eq!(ids(&body), [32, 31, 33, 21, 12]);
    for bad in ["limit=0", "limit=6", "limit=x", "limt=2"] {
        let (status, body) = get(&net, &format!("/v1/dataset/recent?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{bad}");
    }
}

#[tokio::test]
async fn recent_records_are_bounded_in_bytes_as_well_as_in_number() {
    let mut published = Published::new();
    three_epochs(&mut published);
    let newest_three =
        [line(3, 31, 0, "organic", 3_000), line(3, 32, 2, "organic", 3_100), line(3, 33, 2, "synthetic", 2_900)];
    let budget: usize = newest_three.iter().map(|l| l.len() + 1).sum();
    let net = serve(published.store.clone(), DatasetLimits { max_recent_bytes: budget as u64, ..limits() }).await;
    epochs_until(&net, "three epochs are read", |b| all_read(b, 3)).await;

    let (status, body) = get(&net, "/v1/dataset/recent?limit=5").await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<u64> =
        body["data"].as_array().expect("list").iter().map(|l| l["record"]["id"].as_u64().expect("id")).collect();
    assert_eq!(ids, [32, 31, 33]);
}

#[tokio::test]
async fn stats_total_what_is_published() {
    let mut published = Published::new();
    three_epochs(&mut published);
    let net = serve(published.store.clone(), limits()).await;
    epochs_until(&net, "three epochs are read", |b| all_read(b, 3)).await;
    let (status, body) = get(&net, "/v1/dataset/stats").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["epochs"].as_u64(), body["epochs_counted"].as_u64()), (Some(3), Some(3)));
    assert_eq!((body["first_epoch"].as_u64(), body["last_epoch"].as_u64()), (Some(1), Some(3)));
    assert_eq!((body["requests"].as_u64(), body["challenges"].as_u64()), (Some(6), Some(3)));
    let counted = &body["counted"];
    assert_eq!((counted["organic"].as_u64(), counted["synthetic"].as_u64()), (Some(4), Some(2)));
    assert_eq!((counted["prompt_tokens"].as_u64(), counted["completion_tokens"].as_u64()), (Some(42), Some(18)));
    let miners: Vec<(u64, u64)> = body["miners"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| (m["uid"].as_u64().expect("uid"), m["requests"].as_u64().expect("requests")))
        .collect();
    assert_eq!(miners, [(0, 2), (1, 2), (2, 2)]);
}

#[tokio::test]
async fn a_burst_of_downloads_reads_the_store_once() {
    let mut published = Published::new();
    let files = three_epochs(&mut published);
    let store = Arc::new(Counting { inner: published.store.clone(), dataset_reads: AtomicUsize::new(0) });
    let net = serve(store.clone(), limits()).await;
    epochs_until(&net, "three epochs are read", |b| all_read(b, 3)).await;
    store.dataset_reads.store(0, Ordering::SeqCst);

    let url = format!("http://{}/v1/dataset/download?epoch=3", net.address);
    let burst = (0..16).map(|_| {
        let (http, url) = (net.http.clone(), url.clone());
        tokio::spawn(async move { http.get(url).send().await.expect("answers").bytes().await.expect("body") })
    });
    for download in burst {
        assert_eq!(download.await.expect("joins").as_ref(), files[2].as_slice());
    }
    assert_eq!(store.dataset_reads.load(Ordering::SeqCst), 1);
}

/// Dataset reads that take a while, counted with how many ran at once.
struct Slow {
    inner: Arc<LocalFolder>,
    reads: AtomicUsize,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl ObjectStore for Slow {
    fn put(&self, key: &str, bytes: &[u8]) -> assay_publish::Result<()> {
        self.inner.put(key, bytes)
    }
    fn get(&self, key: &str) -> assay_publish::Result<Option<Vec<u8>>> {
        self.get_at_most(key, u64::MAX)
    }
    fn get_at_most(&self, key: &str, limit: u64) -> assay_publish::Result<Option<Vec<u8>>> {
        if !key.starts_with("dataset/") {
            return self.inner.get_at_most(key, limit);
        }
        self.reads.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.inner.get_at_most(key, limit)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[tokio::test]
async fn users_who_go_away_mid_download_start_no_second_read_and_the_file_is_cached() {
    let mut published = Published::new();
    let files = three_epochs(&mut published);
    let store = Arc::new(Slow {
        inner: published.store.clone(),
        reads: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let net = serve(store.clone(), limits()).await;
    epochs_until(&net, "three epochs are read", |b| all_read(b, 3)).await;
    store.reads.store(0, Ordering::SeqCst);
    store.most.store(0, Ordering::SeqCst);

    let url = format!("http://{}/v1/dataset/download?epoch=3", net.address);
    for _ in 0..4 {
        let gone = net.http.get(&url).timeout(Duration::from_millis(50)).send().await;
        assert!(gone.is_err(), "the read takes longer than the user waits");
    }
    let body = net.http.get(&url).send().await.expect("answers").bytes().await.expect("body");
    assert_eq!(body.as_ref(), files[2].as_slice());
    assert_eq!(store.most.load(Ordering::SeqCst), 1, "reads ran side by side");
    assert_eq!(store.reads.load(Ordering::SeqCst), 1, "the first read's file was not kept");
}

#[tokio::test]
async fn dataset_requests_past_their_cap_are_a_503_and_leave_the_api_alone() {
    let mut published = Published::new();
    three_epochs(&mut published);
    let store = Arc::new(Slow {
        inner: published.store.clone(),
        reads: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let net = serve(store.clone(), DatasetLimits { max_concurrent: 1, ..limits() }).await;
    epochs_until(&net, "three epochs are read", |b| all_read(b, 3)).await;

    // One slow download holds the only place.
    let url = format!("http://{}/v1/dataset/download?epoch=2", net.address);
    let http = net.http.clone();
    let slow = tokio::spawn(async move { http.get(url).send().await.expect("answers").status().as_u16() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = get(&net, "/v1/dataset/stats").await;
    assert_eq!((status, error_code(&body)), (503, "overloaded"), "{body}");
    let models = net.http.get(format!("http://{}/v1/models", net.address)).send().await.expect("answers");
    assert_ne!(models.status().as_u16(), 503);
    assert_eq!(slow.await.expect("joins"), 200);
    let (status, _) = get(&net, "/v1/dataset/stats").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_file_past_the_size_cap_or_not_as_signed_is_refused_loudly() {
    let mut published = Published::new();
    let big: Vec<String> = (0..1000).map(|i| line(1, i, 0, "organic", 1_000 + i)).collect();
    published.epoch(1, &big);
    published.epoch(2, &[line(2, 21, 1, "organic", 2_000)]);
    // Epoch 2's file replaced after its summary signed it.
    let tampered = zstd::encode_all(line(2, 21, 1, "organic", 9_999).as_bytes(), 3).expect("compresses");
    // Written as a tamperer would: the store itself never replaces a write-once object.
    std::fs::write(published.store.root().join(keys::dataset(NETUID, 2)), &tampered).expect("tampers");
    let small = DatasetLimits { max_object_bytes: 300, ..limits() };
    let net = serve(published.store.clone(), small).await;
    let body = epochs_until(&net, "both epochs are tried", |b| {
        b["data"].as_array().is_some_and(|d| d.len() == 2 && d.iter().all(|e| e["unreadable"].is_string()))
    })
    .await;
    assert_eq!(body["data"][0]["unreadable"], "sha256_mismatch", "{body}");
    assert_eq!(body["data"][1]["unreadable"], "too_large", "{body}");
    // Codes only: the store's paths stay in the log.
    let folder = published._dir.path().to_string_lossy().to_string();
    assert!(!body.to_string().contains(&folder), "{body}");
    for epoch in [1, 2] {
        let (status, body) = get(&net, &format!("/v1/dataset/download?epoch={epoch}")).await;
        assert_eq!((status, error_code(&body)), (503, "publication_unavailable"), "{body}");
    }
    let (_, body) = get(&net, "/v1/dataset/recent").await;
    assert_eq!(body["data"], json!([]));
}

/// A store that fails the first `failures` reads of keys starting with `prefix`, as a store that
/// is down for a while does (its error naming its endpoint).
struct Flaky {
    inner: Arc<LocalFolder>,
    prefix: String,
    failures: AtomicUsize,
}

impl ObjectStore for Flaky {
    fn put(&self, key: &str, bytes: &[u8]) -> assay_publish::Result<()> {
        self.inner.put(key, bytes)
    }
    fn get(&self, key: &str) -> assay_publish::Result<Option<Vec<u8>>> {
        self.get_at_most(key, u64::MAX)
    }
    fn get_at_most(&self, key: &str, limit: u64) -> assay_publish::Result<Option<Vec<u8>>> {
        let fail = key.starts_with(&self.prefix)
            && self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if fail {
            return Err(assay_publish::Error::Store("https://secret.example/bucket is down".into()));
        }
        self.inner.get_at_most(key, limit)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[tokio::test]
async fn a_summary_the_store_failed_to_give_is_read_again_and_the_walk_goes_on() {
    let mut published = Published::new();
    three_epochs(&mut published);
    let store = Arc::new(Flaky {
        inner: published.store.clone(),
        prefix: keys::summary(NETUID, 2),
        failures: AtomicUsize::new(3),
    });
    let net = serve(store, limits()).await;
    let body = epochs_until(&net, "all three epochs are read", |b| all_read(b, 3) && b["complete"] == true).await;
    assert_eq!(body["broken"], Value::Null, "{body}");
}

#[tokio::test]
async fn a_dataset_file_the_store_failed_to_give_is_read_again() {
    let mut published = Published::new();
    three_epochs(&mut published);
    let store =
        Arc::new(Flaky { inner: published.store.clone(), prefix: "dataset/".into(), failures: AtomicUsize::new(5) });
    let net = serve(store, limits()).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let body = epochs_until(&net, "all three files are read", |b| {
        seen.lock().expect("lock").push(b.to_string());
        all_read(b, 3)
    })
    .await;
    assert!(body["data"].as_array().expect("list").iter().all(|e| e["unreadable"].is_null()), "{body}");
    for answer in seen.lock().expect("lock").iter() {
        assert!(!answer.contains("secret.example"), "{answer}");
    }
}

#[tokio::test]
async fn a_summary_that_is_not_the_one_linked_ends_the_walk_back() {
    let mut published = Published::new();
    three_epochs(&mut published);
    // Epoch 2's summary rewritten: epoch 3 links to other bytes, so epochs 2 and 1 are not served.
    let key = keys::summary(NETUID, 2);
    let mut summary = published.store.get(&key).expect("reads").expect("there");
    summary.push(b'\n');
    std::fs::write(published.store.root().join(&key), &summary).expect("tampers");
    let net = serve(published.store.clone(), limits()).await;
    let body = epochs_until(&net, "epoch 3 is read", |b| all_read(b, 1) && b["broken"].is_string()).await;
    assert_eq!(body["data"][0]["epoch"], 3);
    assert_eq!((&body["broken"], &body["complete"]), (&json!("summary_sha256_mismatch"), &json!(false)), "{body}");
    let (status, _) = get(&net, "/v1/dataset/download?epoch=2").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_users_text_is_kept_for_the_dataset_only_when_their_key_opted_in() {
    let keys = json!({"keys": [
        {"name": "private", "key": common::KEY, "requests_per_minute": 1_000_000},
        {"name": "open", "key": "sk-open", "requests_per_minute": 1_000_000, "publish_text": true},
    ]});
    let mut net = common::start_with(&[common::StubOptions::capacity(4)], keys, None).await;
    for (key, content) in [(common::KEY, "private question"), ("sk-open", "open question")] {
        let body = json!({"model": common::MODEL, "messages": [{"role": "user", "content": content}]});
        let url = format!("http://{}/v1/chat/completions", net.address);
        let answer = net.http.post(url).bearer_auth(key).json(&body).send().await.expect("answers");
        assert_eq!(answer.status().as_u16(), 200);
    }
    if let Some(gateway) = net.gateway.take() {
        gateway.shutdown(Duration::from_secs(5)).await;
    }
    let epoch = net.view.head() / common::EPOCH_BLOCKS;
    let contents: Vec<_> = net.ledger.request_contents(epoch).expect("reads").into_values().collect();
    assert_eq!(contents.len(), 2);
    assert_eq!(net.ledger.requests(epoch).expect("reads").len(), 2);
    let open = contents.iter().find(|c| c.publish_text).expect("the opted-in key's");
    assert_eq!(open.prompt.as_ref().expect("text")[0]["content"], "open question");
    assert!(open.completion.is_some());
    let private = contents.iter().find(|c| !c.publish_text).expect("the other key's");
    assert_eq!((&private.prompt, &private.completion), (&None, &None));
    let messages = json!([{"role": "user", "content": "private question"}]);
    assert_eq!(private.prompt_sha256, sha256_hex(&serde_json::to_vec(&messages).expect("json")));
}
