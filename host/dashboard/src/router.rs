//! The dashboard's routes: the page and its assets (embedded in the binary), and the JSON views
//! of the source. GET (and HEAD) only; any other method is answered 405, any other path 404,
//! both as JSON. A request that takes longer than [`REQUEST_TIMEOUT`] is answered 503.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::Source;
use crate::view::LATENCY_BUCKETS_MS;

/// The longest a request may take (the source's answer included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest summary the dashboard links to and serves.
pub const MAX_SUMMARY_BYTES: usize = 4 << 20;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../assets/dashboard.css");

/// The page allows only its own scripts and styles: nothing inline, nothing from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The router over `source`.
pub fn app(source: Arc<dyn Source>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/dashboard.js", get(|| asset("text/javascript; charset=utf-8", DASHBOARD_JS)))
        .route("/assets/dashboard.css", get(|| asset("text/css; charset=utf-8", DASHBOARD_CSS)))
        .route("/api/overview", get(overview))
        .route("/api/epochs", get(epochs))
        .route("/api/summaries/{epoch}", get(summary))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(bounded))
        .with_state(source)
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
async fn ask<T: Send + 'static>(source: &Arc<dyn Source>, f: fn(&dyn Source) -> T) -> Result<T, Response> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || f(source.as_ref()))
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the dashboard's data source failed"))
}

fn json(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "a dashboard view did not serialize");
            error(StatusCode::INTERNAL_SERVER_ERROR, "a view did not serialize")
        }
    }
}

async fn overview(State(source): State<Arc<dyn Source>>) -> Response {
    match ask(&source, |s| s.overview().bounded()).await {
        Ok(overview) => json(&overview),
        Err(response) => response,
    }
}

#[derive(Serialize)]
struct Epochs {
    latency_buckets_ms: &'static [f64],
    epochs: Vec<crate::EpochView>,
}

async fn epochs(State(source): State<Arc<dyn Source>>) -> Response {
    let kept = ask(&source, |s| {
        let mut epochs = s.epochs();
        // The newest, should a source hand more than the history keeps.
        epochs.drain(..epochs.len().saturating_sub(crate::MAX_EPOCHS));
        epochs.into_iter().map(crate::EpochView::bounded).collect()
    });
    match kept.await {
        Ok(epochs) => json(&Epochs { latency_buckets_ms: &LATENCY_BUCKETS_MS, epochs }),
        Err(response) => response,
    }
}

async fn summary(State(source): State<Arc<dyn Source>>, Path(epoch): Path<String>) -> Response {
    let Some(epoch) = epoch.strip_suffix(".json").unwrap_or(&epoch).parse::<u64>().ok() else {
        return error(StatusCode::NOT_FOUND, "an epoch is a number");
    };
    let source = source.clone();
    let found = tokio::task::spawn_blocking(move || source.summary(epoch)).await.ok().flatten();
    match found {
        Some(bytes) if bytes.len() <= MAX_SUMMARY_BYTES => {
            ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], bytes).into_response()
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
