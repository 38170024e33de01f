//! The dashboard's routes: the page and its assets (embedded in the binary), and the JSON views
//! of the source. GET (and HEAD) only; any other method is answered 405, any other path 404,
//! both as JSON. A request that takes longer than [`REQUEST_TIMEOUT`] is answered 503.
//!
//! `/api/epochs` (the charts') is the last [`CHART_EPOCHS`] without their score components,
//! serialised once per history revision; `/api/epochs/{n}` is one epoch whole (the table's);
//! the summaries served are kept (the last [`KEPT_SUMMARIES`]: they never change) and at most
//! [`SUMMARY_READS`] are read from the source at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::Source;
use crate::view::{LATENCY_BUCKETS_MS, Overview};

/// The longest a request may take (the source's answer included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest summary the dashboard links to and serves.
pub const MAX_SUMMARY_BYTES: usize = 4 << 20;
/// How many epochs `/api/epochs` sends (the newest): what the charts draw.
pub const CHART_EPOCHS: usize = 64;
/// How many summaries the router keeps once read, and how many it reads at once.
pub const KEPT_SUMMARIES: usize = 16;
pub const SUMMARY_READS: usize = 2;

/// The router's state: the source, and what it keeps of its answers.
#[derive(Clone)]
struct App {
    source: Arc<dyn Source>,
    /// `/api/epochs` as last serialised, with the history revision it was of.
    epochs: Arc<Mutex<Option<(u64, Bytes)>>>,
    /// The summaries served, newest last.
    summaries: Arc<Mutex<VecDeque<(u64, Bytes)>>>,
    reads: Arc<tokio::sync::Semaphore>,
}

const INDEX_HTML: &str = include_str!("../assets/index.html");
const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../assets/dashboard.css");

/// The page allows only its own scripts and styles: nothing inline, nothing from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The router over `source`.
pub fn app(source: Arc<dyn Source>) -> Router {
    let state = App {
        source,
        epochs: Arc::default(),
        summaries: Arc::default(),
        reads: Arc::new(tokio::sync::Semaphore::new(SUMMARY_READS)),
    };
    Router::new()
        .route("/", get(index))
        .route("/assets/dashboard.js", get(|| asset("text/javascript; charset=utf-8", DASHBOARD_JS)))
        .route("/assets/dashboard.css", get(|| asset("text/css; charset=utf-8", DASHBOARD_CSS)))
        .route("/api/overview", get(overview))
        .route("/api/epochs", get(epochs))
        .route("/api/epochs/{epoch}", get(epoch))
        .route("/api/summaries/{epoch}", get(summary))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(bounded))
        .with_state(state)
}

/// Answers 503 when the request takes too long, and marks every answer as not to be sniffed
/// or framed.
async fn bounded(request: Request, next: Next) -> Response {
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the dashboard's data took too long"),
    };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn index() -> Response {
    let mut response = asset("text/html; charset=utf-8", INDEX_HTML).await;
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Asks the source on a blocking thread (it may read a database).
async fn ask<T: Send + 'static>(
    source: &Arc<dyn Source>,
    f: impl FnOnce(&dyn Source) -> T + Send + 'static,
) -> Result<T, Response> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || f(source.as_ref()))
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the dashboard's data source failed"))
}

fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// The JSON of `value`; `None` (logged) when it does not serialize.
fn serialized(value: &impl Serialize) -> Option<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .inspect_err(|e| tracing::warn!(error = %e, "a dashboard view did not serialize"))
        .ok()
}

/// The answer of a view serialized (or not) on a blocking thread.
fn answer(body: Result<Option<Bytes>, Response>) -> Response {
    match body {
        Ok(Some(body)) => json_bytes(body),
        Ok(None) => error(StatusCode::INTERNAL_SERVER_ERROR, "a view did not serialize"),
        Err(response) => response,
    }
}

async fn overview(State(app): State<App>) -> Response {
    let body = ask(&app.source, |s| {
        // The revision first: a history that moves meanwhile is refetched at the next poll.
        let revision = s.revision();
        serialized(&Overview { revision, ..s.overview().bounded() })
    });
    answer(body.await)
}

#[derive(Serialize)]
struct Epochs {
    latency_buckets_ms: &'static [f64],
    /// The history revision these are of.
    revision: u64,
    /// The last [`CHART_EPOCHS`] kept, oldest first, without their miners' score components.
    epochs: Vec<crate::EpochView>,
}

/// The charts' epochs, serialised again only when the history moved.
fn chart_epochs(source: &dyn Source, cache: &Mutex<Option<(u64, Bytes)>>) -> Option<Bytes> {
    let revision = source.revision();
    if let Some((_, body)) = cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref().filter(|(r, _)| *r == revision) {
        return Some(body.clone());
    }
    let mut epochs = source.epochs();
    epochs.drain(..epochs.len().saturating_sub(CHART_EPOCHS));
    let epochs = epochs
        .into_iter()
        .map(|view| {
            let mut view = view.bounded();
            view.miners.iter_mut().for_each(|m| m.components.clear());
            view
        })
        .collect();
    let body = serialized(&Epochs { latency_buckets_ms: &LATENCY_BUCKETS_MS, revision, epochs })?;
    *cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((revision, body.clone()));
    Some(body)
}

async fn epochs(State(app): State<App>) -> Response {
    let cache = app.epochs.clone();
    answer(ask(&app.source, move |s| chart_epochs(s, &cache)).await)
}

fn epoch_number(text: &str) -> Option<u64> {
    text.strip_suffix(".json").unwrap_or(text).parse::<u64>().ok()
}

async fn epoch(State(app): State<App>, Path(epoch): Path<String>) -> Response {
    let Some(epoch) = epoch_number(&epoch) else {
        return error(StatusCode::NOT_FOUND, "an epoch is a number");
    };
    match ask(&app.source, move |s| s.epoch(epoch).map(|v| serialized(&v.bounded()))).await {
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("epoch {epoch} is not kept here")),
        Ok(Some(body)) => answer(Ok(body)),
        Err(response) => response,
    }
}

async fn summary(State(app): State<App>, Path(epoch): Path<String>) -> Response {
    let Some(epoch) = epoch_number(&epoch) else {
        return error(StatusCode::NOT_FOUND, "an epoch is a number");
    };
    let kept = |summaries: &Mutex<VecDeque<(u64, Bytes)>>| {
        let summaries = summaries.lock().unwrap_or_else(|p| p.into_inner());
        summaries.iter().find(|(e, _)| *e == epoch).map(|(_, b)| b.clone())
    };
    if let Some(body) = kept(&app.summaries) {
        return json_bytes(body);
    }
    // At most SUMMARY_READS reads at once (a remote store is a remote fetch); the request's
    // timeout bounds the wait.
    let Ok(_permit) = app.reads.acquire().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the dashboard is stopping");
    };
    if let Some(body) = kept(&app.summaries) {
        return json_bytes(body);
    }
    match ask(&app.source, move |s| s.summary(epoch)).await.ok().flatten() {
        Some(bytes) if bytes.len() <= MAX_SUMMARY_BYTES => {
            let body = Bytes::from(bytes);
            let mut summaries = app.summaries.lock().unwrap_or_else(|p| p.into_inner());
            summaries.push_back((epoch, body.clone()));
            while summaries.len() > KEPT_SUMMARIES {
                summaries.pop_front();
            }
            json_bytes(body)
        }
        Some(_) => error(StatusCode::NOT_FOUND, "the summary is larger than the dashboard serves"),
        None => error(StatusCode::NOT_FOUND, &format!("no summary of epoch {epoch} here")),
    }
}

async fn not_found(request: Request) -> Response {
    let path: String = request.uri().path().chars().take(crate::view::MAX_TEXT).collect();
    error(StatusCode::NOT_FOUND, &format!("not found: {path}"))
}

async fn method_not_allowed() -> Response {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "the dashboard is read-only: GET only");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(serde_json::json!({ "error": message }))).into_response()
}
