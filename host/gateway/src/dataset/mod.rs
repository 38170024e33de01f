//! The public dataset, served from the node's publication (its `ObjectStore`):
//! `GET /v1/dataset/epochs`, `/v1/dataset/recent?limit=N`, `/v1/dataset/download?epoch=N` and
//! `/v1/dataset/stats`. A background task keeps an index of the published epochs (`index`) and a
//! brief of each dataset file (`digest`); the handlers read its snapshot and never wait on the
//! store, except a download missing from the small cache of files.
//! Must not touch: the ledger or the miners; it serves what was published, nothing else.

mod digest;
mod index;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use assay_publish::ObjectStore;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, watch};
use tokio_stream::StreamExt;
use tracing::error;

use crate::error::ApiError;
use digest::{Counts, MinerCounts};
use index::{EpochEntry, Index};

/// Where the dataset is read from: the node's publication and its netuid.
#[derive(Clone)]
pub struct Publication {
    pub store: Arc<dyn ObjectStore>,
    pub netuid: u16,
    pub limits: Limits,
}

/// What bounds the dataset's work and memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Epochs indexed, the newest ones.
    pub max_epochs: usize,
    /// Summaries read per round, and dataset files digested per round.
    pub walk_step: usize,
    pub digest_step: usize,
    /// How often `latest.json` is read.
    pub refresh: Duration,
    /// The largest dataset file served or digested, and what it may decompress to.
    pub max_object_bytes: u64,
    pub max_jsonl_bytes: u64,
    /// The largest `limit` of `/recent` (and records kept for it), and the most bytes of their
    /// lines kept and answered.
    pub max_recent: usize,
    pub max_recent_bytes: u64,
    /// Dataset files kept in memory for downloads, in number and bytes.
    pub cache_files: usize,
    pub cache_bytes: u64,
    /// Dataset requests served at once (a download holds its place until its body is sent);
    /// past it a 503, so the dataset cannot crowd out the API's paying users.
    pub max_concurrent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_epochs: 1024,
            walk_step: 64,
            digest_step: 4,
            refresh: Duration::from_secs(2),
            max_object_bytes: 128 << 20,
            max_jsonl_bytes: 1 << 30,
            max_recent: 1000,
            max_recent_bytes: 16 << 20,
            cache_files: 4,
            cache_bytes: 256 << 20,
            max_concurrent: 8,
        }
    }
}

/// `limit` of `/recent` when none is given.
const DEFAULT_RECENT: usize = 100;

/// What the handlers share: the latest snapshot of the index and the cache of files.
pub(crate) struct Dataset {
    publication: Publication,
    snapshot: RwLock<Arc<Snapshot>>,
    files: Mutex<FileCache>,
    /// Places for dataset requests (`Limits::max_concurrent`).
    places: Arc<Semaphore>,
}

#[derive(Default)]
struct Snapshot {
    /// Newest first.
    entries: Vec<EpochEntry>,
    /// Whether the walk back reached the first epoch (or the bound, or a rewritten history): false
    /// while a link waits to be read again.
    complete: bool,
    /// Why the walk back stopped early (a code; the details are logged): a summary not the one
    /// linked to, or not valid.
    broken: Option<&'static str>,
}

/// Recently downloaded files, oldest first (`Bytes`: every download shares one copy).
#[derive(Default)]
struct FileCache {
    files: VecDeque<(u64, Bytes)>,
}

impl Dataset {
    pub fn new(publication: Publication) -> Arc<Self> {
        let places = Arc::new(Semaphore::new(publication.limits.max_concurrent));
        Arc::new(Self { publication, snapshot: RwLock::default(), files: Mutex::default(), places })
    }

    /// A place for one dataset request, or a 503 when all are taken.
    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.places
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded { what: "dataset requests at once".into(), retry_after_s: 1 })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Keeps the index up to date until the gateway stops: a round every `refresh`, on a blocking
/// thread (the store's calls block).
pub(crate) async fn run(dataset: Arc<Dataset>, mut stopped: watch::Receiver<bool>) {
    let p = &dataset.publication;
    let mut index = Some(Index::new(p.netuid, p.limits));
    loop {
        let (store, mut working) = (p.store.clone(), index.take());
        let round = tokio::task::spawn_blocking(move || {
            if let Some(i) = working.as_mut() {
                i.round(store.as_ref());
            }
            working
        });
        match round.await {
            Ok(Some(done)) => {
                let (entries, complete, broken) = done.snapshot();
                let snapshot = Arc::new(Snapshot { entries, complete, broken });
                *dataset.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
                index = Some(done);
            }
            _ => {
                error!("the dataset index's round failed; starting it over");
                index = Some(Index::new(p.netuid, p.limits));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(p.limits.refresh) => {}
            _ = crate::until_stopped(&mut stopped) => return,
        }
    }
}

/// The dataset's routes.
pub(crate) fn routes(dataset: Arc<Dataset>) -> Router {
    Router::new()
        .route("/v1/dataset/epochs", get(epochs))
        .route("/v1/dataset/recent", get(recent))
        .route("/v1/dataset/download", get(download))
        .route("/v1/dataset/stats", get(stats))
        .with_state(dataset)
}

/// A query that does not parse is a 400 in the OpenAI format.
fn bad_query(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("bad query: {}", rejection.body_text()))
}

async fn epochs(State(dataset): State<Arc<Dataset>>) -> Result<Response, ApiError> {
    let _place = dataset.admit()?;
    let snapshot = dataset.snapshot();
    let data: Vec<Value> = snapshot.entries.iter().map(describe).collect();
    Ok(Json(json!({"object": "list", "netuid": dataset.publication.netuid, "complete": snapshot.complete,
        "broken": snapshot.broken, "data": data}))
    .into_response())
}

/// One epoch as `/epochs` lists it; the counts by kind once its file was read.
fn describe(e: &EpochEntry) -> Value {
    let d = e.digest.as_deref();
    json!({
        "epoch": e.epoch,
        "block_start": e.block_start,
        "block_end": e.block_end,
        "scored": e.scored,
        "summary": {"key": e.summary_key, "sha256": e.summary_sha256},
        "dataset": {"key": e.dataset_key, "sha256": e.dataset_sha256, "bytes": d.map(|d| d.bytes)},
        "requests": e.requests,
        "challenges": e.challenges,
        "organic": d.map(|d| d.counts.organic),
        "synthetic": d.map(|d| d.counts.synthetic),
        "baseline": d.map(|d| d.counts.baseline),
        "unknown": d.map(|d| d.counts.unknown),
        "unreadable": e.unreadable,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentQuery {
    limit: Option<usize>,
}

async fn recent(
    State(dataset): State<Arc<Dataset>>,
    query: Result<Query<RecentQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let _place = dataset.admit()?;
    let Query(query) = query.map_err(bad_query)?;
    let cap = dataset.publication.limits.max_recent;
    let limit = query.limit.unwrap_or(DEFAULT_RECENT.min(cap));
    if limit == 0 || limit > cap {
        return Err(ApiError::bad_param("limit", format!("limit must be between 1 and {cap}")));
    }
    let snapshot = dataset.snapshot();
    let budget = dataset.publication.limits.max_recent_bytes;
    let (mut data, mut bytes): (Vec<Value>, u64) = (Vec::with_capacity(limit), 0);
    let kept = snapshot.entries.iter().filter_map(|e| e.digest.as_deref()).flat_map(|d| d.newest.iter());
    for k in kept.take(limit) {
        bytes = bytes.saturating_add(k.bytes);
        if bytes > budget {
            break;
        }
        data.push(k.line.clone());
    }
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadQuery {
    epoch: u64,
}

async fn download(
    State(dataset): State<Arc<Dataset>>,
    query: Result<Query<DownloadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let place = dataset.admit()?;
    let Query(DownloadQuery { epoch }) = query.map_err(bad_query)?;
    let snapshot = dataset.snapshot();
    let Some(entry) = snapshot.entries.iter().find(|e| e.epoch == epoch) else {
        return Err(ApiError::NotFound {
            message: format!("no published dataset for epoch {epoch}"),
            code: "epoch_not_found",
        });
    };
    let (bytes, place) = file(dataset.clone(), entry.clone(), place).await?;
    let length = bytes.len();
    // The body holds the request's place until it is sent (or the user goes away).
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> =
        (0..length).step_by(CHUNK).map(|at| Ok(bytes.slice(at..length.min(at + CHUNK)))).collect();
    let body = tokio_stream::iter(chunks).map(move |chunk| {
        let _ = &place;
        chunk
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zstd"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let name = format!("attachment; filename=\"requests-{}-{epoch}.jsonl.zst\"", dataset.publication.netuid);
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&entry.dataset_sha256) {
        headers.insert("x-assay-sha256", value);
    }
    Ok(response)
}

/// The pieces a download's body is sent in.
const CHUNK: usize = 64 << 10;

/// The dataset file of `entry`, from the cache or the store. The read runs in a task of its own
/// that holds the cache's lock and the request's place until the file is cached, so a user who
/// goes away neither stops it nor lets another read start beside it: reads go one at a time, and
/// a burst of downloads reads the store once.
async fn file(
    dataset: Arc<Dataset>,
    entry: EpochEntry,
    place: OwnedSemaphorePermit,
) -> Result<(Bytes, OwnedSemaphorePermit), ApiError> {
    let epoch = entry.epoch;
    let read = tokio::spawn(async move {
        let bytes = dataset.file(&entry).await;
        (bytes, place)
    });
    match read.await {
        Ok((bytes, place)) => Ok((bytes?, place)),
        Err(e) => {
            error!(epoch, error = %e, "reading a published dataset file failed");
            Err(ApiError::Unavailable(format!("the dataset of epoch {epoch} cannot be served now")))
        }
    }
}

impl Dataset {
    /// The dataset file of `entry`, from the cache or the store, one read at a time.
    async fn file(&self, entry: &EpochEntry) -> Result<Bytes, ApiError> {
        let mut cache = self.files.lock().await;
        if let Some((_, bytes)) = cache.files.iter().find(|(epoch, _)| *epoch == entry.epoch) {
            return Ok(bytes.clone());
        }
        let (store, owned, limit) =
            (self.publication.store.clone(), entry.clone(), self.publication.limits.max_object_bytes);
        let read = tokio::task::spawn_blocking(move || index::read_dataset(store.as_ref(), &owned, limit))
            .await
            .map_err(|e| index::Failure { code: "read_failed", detail: e.to_string() })
            .and_then(|r| r);
        let bytes = Bytes::from(read.map_err(|reason| {
            error!(epoch = entry.epoch, error = %reason, "a published dataset file cannot be served");
            ApiError::Unavailable(format!("the dataset of epoch {} cannot be served now", entry.epoch))
        })?);
        let limits = &self.publication.limits;
        cache.files.push_back((entry.epoch, bytes.clone()));
        while cache.files.len() > limits.cache_files
            || cache.files.iter().map(|(_, b)| b.len() as u64).sum::<u64>() > limits.cache_bytes
        {
            cache.files.pop_front();
        }
        Ok(bytes)
    }
}

async fn stats(State(dataset): State<Arc<Dataset>>) -> Result<Response, ApiError> {
    let _place = dataset.admit()?;
    let snapshot = dataset.snapshot();
    let entries = &snapshot.entries;
    let (mut counted, mut totals, mut miners) = (0u64, Counts::default(), BTreeMap::<u16, MinerCounts>::new());
    for d in entries.iter().filter_map(|e| e.digest.as_deref()) {
        counted += 1;
        totals.add(&d.counts);
        for (uid, m) in &d.miners {
            miners.entry(*uid).or_default().add(m);
        }
    }
    let miners: Vec<Value> = miners
        .iter()
        .map(|(uid, m)| {
            json!({"uid": uid, "requests": m.requests, "ok": m.ok,
            "prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens})
        })
        .collect();
    Ok(Json(json!({
        "netuid": dataset.publication.netuid,
        "epochs": entries.len(),
        "first_epoch": entries.last().map(|e| e.epoch),
        "last_epoch": entries.first().map(|e| e.epoch),
        "requests": entries.iter().map(|e| e.requests).sum::<u64>(),
        "challenges": entries.iter().map(|e| e.challenges).sum::<u64>(),
        "epochs_counted": counted,
        "counted": totals,
        "miners": miners,
    }))
    .into_response())
}
