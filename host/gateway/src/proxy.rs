//! A request's way through the gateway: key and rate limit, content checks, then a miner with
//! retries before any content, and the answer relayed chunk by chunk; the exchange is
//! measured by the gateway's clock and handed to the recorder however it ends (a user who
//! disconnects cancels the miner's request and is recorded as `cancelled`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assay_chain::ChainView;
use assay_miner_client::{Meter, Refused};
use assay_policy_sdk::{Outcome, RequestKind};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_stream::Stream;
use tracing::debug;

use crate::Shared;
use crate::error::ApiError;
use crate::recorder::Finished;
use crate::routing::{Lease, Slot};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Chat,
    Completions,
}

impl Route {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Route::Chat => "/v1/chat/completions",
            Route::Completions => "/v1/completions",
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub(crate) async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    user_request(&shared, &headers, body, Route::Chat).await.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn completions(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    user_request(&shared, &headers, body, Route::Completions).await.unwrap_or_else(IntoResponse::into_response)
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

pub(crate) async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(e) = shared.keys.admit(authorization(&headers)) {
        return e.into_response();
    }
    let model = json!({"id": shared.settings.model, "object": "model", "created": 0, "owned_by": "assay"});
    Json(json!({"object": "list", "data": [model]})).into_response()
}

pub(crate) async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let miners: Vec<_> = shared.pool.slots().iter().map(|s| s.describe()).collect();
    let up = miners.iter().filter(|m| m.up && !m.circuit_open).count();
    Json(json!({"status": "ok", "miners": miners.len(), "miners_available": up})).into_response()
}

pub(crate) async fn unknown_route(method: Method, uri: Uri) -> Response {
    ApiError::NotFound { message: format!("unknown route: {method} {}", uri.path()), code: "unknown_url" }
        .into_response()
}

async fn user_request(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Body,
    route: Route,
) -> Result<Response, ApiError> {
    shared.keys.admit(authorization(headers))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::bad_request("the body must be JSON sent with `Content-Type: application/json`"));
    }
    let limit = shared.settings.max_body_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    // Past the limit (or a body cut off, whose sender is not listening any more).
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::TooLarge(limit))?;
    let request = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => return Err(ApiError::bad_request(format!("the body is not valid JSON: {e}"))),
    };
    validate(&shared.settings, route, &request)?;
    // Its shape (never its text) is what synthetic requests are drawn like.
    shared.shapes.observe(route, &request);
    forward(shared, route, request, RequestKind::Organic).await
}

/// What the gateway checks itself, so that miners only see well-formed requests.
pub(crate) fn validate(settings: &crate::Settings, route: Route, request: &Map<String, Value>) -> Result<(), ApiError> {
    let model = match request.get("model") {
        None => return Err(ApiError::bad_param("model", "you must provide a model parameter")),
        Some(Value::String(m)) => m,
        Some(_) => return Err(ApiError::bad_param("model", "`model` must be a string")),
    };
    if *model != settings.model {
        return Err(ApiError::NotFound {
            message: format!("the model `{model}` does not exist here; this gateway serves `{}`", settings.model),
            code: "model_not_found",
        });
    }
    match route {
        Route::Chat => {
            let messages = request.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty());
            let messages = messages
                .ok_or_else(|| ApiError::bad_param("messages", "`messages` must be a non-empty array of messages"))?;
            for (i, m) in messages.iter().enumerate() {
                if !m.get("role").is_some_and(Value::is_string) {
                    return Err(ApiError::bad_param("messages", format!("message {i} has no `role` string")));
                }
                match m.get("content") {
                    None | Some(Value::Null | Value::String(_) | Value::Array(_)) => {}
                    Some(_) => {
                        return Err(ApiError::bad_param(
                            "messages",
                            format!("message {i}: `content` must be a string or an array of parts"),
                        ));
                    }
                }
            }
        }
        Route::Completions => {
            if !request.get("prompt").is_some_and(Value::is_string) {
                return Err(ApiError::bad_param(
                    "prompt",
                    "`prompt` must be a string (lists of prompts are not supported)",
                ));
            }
        }
    }
    if request.get("n").is_some_and(|n| n.as_u64() != Some(1)) {
        return Err(ApiError::bad_param("n", "only n = 1 is supported"));
    }
    if request.get("stream").is_some_and(|s| !s.is_boolean()) {
        return Err(ApiError::bad_param("stream", "`stream` must be a boolean"));
    }
    for name in ["max_tokens", "max_completion_tokens"] {
        if let Some(v) = request.get(name).filter(|v| !v.is_null()) {
            match v.as_u64() {
                Some(n) if (1..=settings.max_tokens).contains(&n) => {}
                _ => {
                    return Err(ApiError::BadRequest {
                        message: format!("`{name}` must be an integer from 1 to {}", settings.max_tokens),
                        param: Some(if name == "max_tokens" { "max_tokens" } else { "max_completion_tokens" }),
                    });
                }
            }
        }
    }
    if let Some(t) = request.get("temperature").filter(|v| !v.is_null())
        && !t.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t))
    {
        return Err(ApiError::bad_param("temperature", "`temperature` must be a number from 0 to 2"));
    }
    if let Some(p) = request.get("top_p").filter(|v| !v.is_null())
        && !p.as_f64().is_some_and(|p| p > 0.0 && p <= 1.0)
    {
        return Err(ApiError::bad_param("top_p", "`top_p` must be a number in (0, 1]"));
    }
    Ok(())
}

/// Sends `request` to a miner, trying others while nothing has reached the user, and answers
/// with the miner's response. Organic and synthetic requests both come through here.
pub(crate) async fn forward(
    shared: &Arc<Shared>,
    route: Route,
    mut request: Map<String, Value>,
    kind: RequestKind,
) -> Result<Response, ApiError> {
    let streaming = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let greedy = request.get("temperature").and_then(Value::as_f64) == Some(0.0);

    let mut tried = Vec::new();
    let mut last: Option<Refused> = None;
    while tried.len() < shared.settings.max_attempts as usize {
        let Some(lease) = shared.pool.pick(&tried, kind == RequestKind::Synthetic) else { break };
        let miner = lease.slot.miner.clone();
        tried.push(lease.slot.uid);
        // Each attempt is its own exchange: its own id in the ledger, its own request id and
        // nonce in the extension (a retry is a new request to another miner).
        let id = rand::random::<u64>() >> 1; // below 2^63: ledger ids are SQLite integers
        let request_id = format!("{id:016x}");
        let nonce: [u8; 16] = rand::random();
        request.insert("assay".into(), json!({"request_id": request_id, "nonce": hex::encode(nonce), "commit": true}));
        let body = Arc::new(serde_json::to_vec(&request).map_err(|e| ApiError::bad_request(e.to_string()))?);
        let mut attempt = Attempt {
            shared: shared.clone(),
            lease: Some(lease),
            meter: Some(shared.client.meter(&request, body.len())),
            route,
            kind,
            greedy,
            id,
            request_id,
            body: body.clone(),
            started_ms: now_ms(),
        };
        let response = match shared.client.start(&miner, route.path(), &body).await {
            Ok(response) => response,
            Err(refused) => {
                attempt.end_with(refused.outcome);
                // The miner found the request itself malformed: another miner would too.
                if matches!(refused.status, Some(400 | 422)) {
                    return Ok(miner_error(&refused));
                }
                debug!(uid = tried.last().copied(), outcome = ?refused.outcome, "miner failed before any content; trying another");
                last = Some(refused);
                continue;
            }
        };
        if streaming {
            let relay = Relay { upstream: Box::pin(response.bytes_stream()), attempt: Some(attempt) };
            let mut response = Response::new(Body::from_stream(relay));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Ok(response);
        }
        match assay_miner_client::read_capped(response, attempt.max_bytes()).await {
            Ok(bytes) => {
                attempt.feed(&bytes);
                // A malformed body has not reached the user: another miner may still answer.
                if attempt.end() == Outcome::Ok {
                    return Ok(
                        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response()
                    );
                }
            }
            Err(e) => attempt.end_with(e.outcome()),
        }
    }
    Err(match last {
        Some(r) if r.outcome == Outcome::RateLimited => ApiError::NoMiner("every miner tried is at capacity".into()),
        Some(r) => ApiError::NoMiner(format!("the miners tried failed ({:?})", r.outcome)),
        None => ApiError::NoMiner("no miner is available".into()),
    })
}

/// The miner's own 4xx answer, passed on.
fn miner_error(refused: &Refused) -> Response {
    let status = refused.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::BAD_REQUEST);
    match serde_json::from_str::<Value>(&refused.body) {
        Ok(body) if body.get("error").is_some() => (status, Json(body)).into_response(),
        _ => ApiError::bad_request(format!("the miner refused the request: {}", refused.body)).into_response(),
    }
}

/// One try of one miner: its lease, its clock, and what the recorder needs. However it ends
/// (or is dropped, when the user goes away) it is settled exactly once.
struct Attempt {
    shared: Arc<Shared>,
    lease: Option<Lease>,
    meter: Option<Meter>,
    route: Route,
    kind: RequestKind,
    greedy: bool,
    id: u64,
    request_id: String,
    body: Arc<Vec<u8>>,
    started_ms: u64,
}

impl Attempt {
    /// Takes a piece of the miner's body; returns what may be relayed now (see [`Meter::feed`]).
    fn feed(&mut self, piece: &[u8]) -> Vec<u8> {
        self.meter.as_mut().map(|meter| meter.feed(piece)).unwrap_or_default()
    }

    /// Whether the miner's body needs no more reading (done, or refused).
    fn finished(&self) -> bool {
        self.meter.as_ref().is_none_or(Meter::is_finished)
    }

    fn max_bytes(&self) -> usize {
        self.meter.as_ref().map_or(0, Meter::max_bytes)
    }

    /// The body ended: well-formed or not. Returns the outcome.
    fn end(&mut self) -> Outcome {
        let Some(meter) = self.meter.take() else { return Outcome::Cancelled };
        let completion = meter.end();
        let outcome = completion.outcome;
        self.settle(completion);
        outcome
    }

    /// The attempt ended early with `outcome`.
    fn end_with(&mut self, outcome: Outcome) {
        if let Some(meter) = self.meter.take() {
            self.settle(meter.failed(outcome));
        }
    }

    fn settle(&mut self, completion: assay_miner_client::Completion) {
        let Some(lease) = self.lease.take() else { return };
        let slot: Arc<Slot> = lease.slot.clone();
        lease.settle(completion.outcome, completion.ttft);
        self.shared.recorder.send(Finished {
            id: self.id,
            uid: slot.uid,
            miner_hotkey: slot.miner.hotkey.clone(),
            path: self.route.path(),
            kind: self.kind,
            greedy: self.greedy,
            started_ms: self.started_ms,
            request_id: self.request_id.clone(),
            body: self.body.clone(),
            completion,
        });
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.end_with(Outcome::Cancelled);
    }
}

/// The miner's SSE body on its way to the user, event by event as the attempt's meter lets it
/// through (the end only once the text is checked against the signed tokens). Dropping it (the
/// user went away) drops the miner's connection, which cancels its work.
struct Relay {
    upstream: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    attempt: Option<Attempt>,
}

impl Stream for Relay {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // The attempt ended (the meter finished or refused the body): so does the stream.
        let Some(attempt) = this.attempt.as_mut() else { return Poll::Ready(None) };
        match this.upstream.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(piece))) => {
                let relayed = Bytes::from(attempt.feed(&piece));
                if attempt.finished() {
                    attempt.end();
                    this.attempt = None;
                }
                Poll::Ready(Some(Ok(relayed)))
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(mut attempt) = this.attempt.take() {
                    attempt.end_with(if e.is_timeout() { Outcome::Timeout } else { Outcome::ServerError });
                }
                Poll::Ready(Some(Err(std::io::Error::other(e))))
            }
            Poll::Ready(None) => {
                if let Some(mut attempt) = this.attempt.take() {
                    attempt.end();
                }
                Poll::Ready(None)
            }
        }
    }
}

/// Takes the chain view's metagraph (the node keeps it fresh) and probes every miner's `info`.
pub(crate) async fn refresh(shared: &Arc<Shared>, view: &ChainView) {
    let metagraph = view.metagraph();
    // Axons the config refuses (loopback, private…) are not miners to route to.
    let reachable: Vec<_> = metagraph
        .neurons
        .iter()
        .filter(|n| n.axon.as_deref().is_none_or(|axon| shared.client.admits(axon).is_ok()))
        .cloned()
        .collect();
    shared.pool.update(&reachable);
    let probes: Vec<_> = shared
        .pool
        .slots()
        .into_iter()
        .map(|slot| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let capacity = match shared.client.info_within(&slot.miner, PROBE_TIMEOUT).await {
                    Ok(info) if info.model == shared.settings.model => Some(info.capacity),
                    Ok(info) => {
                        debug!(uid = slot.uid, serves = %info.model, "miner serves another model");
                        None
                    }
                    Err(_) => None,
                };
                shared.pool.probed(&slot, capacity);
            })
        })
        .collect();
    for probe in probes {
        let _ = probe.await;
    }
}

pub(crate) async fn health_loop(shared: Arc<Shared>, view: ChainView, mut stopped: watch::Receiver<bool>) {
    let interval = Duration::from_millis(shared.settings.health_interval_ms.max(50));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => refresh(&shared, &view).await,
            _ = crate::until_stopped(&mut stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> crate::Settings {
        serde_json::from_value(json!({"model": "m", "max_tokens": 100})).expect("settings")
    }

    fn check(route: Route, body: Value) -> Result<(), ApiError> {
        let Value::Object(map) = body else { panic!("an object") };
        validate(&settings(), route, &map)
    }

    #[test]
    fn well_formed_requests_pass() {
        let chat =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "stream": true});
        assert_eq!(check(Route::Chat, chat), Ok(()));
        assert_eq!(check(Route::Completions, json!({"model": "m", "prompt": "x", "temperature": 0})), Ok(()));
    }

    #[test]
    fn malformed_and_unsupported_requests_name_their_parameter() {
        let cases = [
            (Route::Chat, json!({"messages": [{"role": "user"}]}), Some("model")),
            (Route::Chat, json!({"model": "m", "messages": []}), Some("messages")),
            (Route::Chat, json!({"model": "m", "messages": [{"content": "x"}]}), Some("messages")),
            (Route::Completions, json!({"model": "m", "prompt": ["a", "b"]}), Some("prompt")),
            (Route::Completions, json!({"model": "m", "prompt": "a", "n": 2}), Some("n")),
            (Route::Completions, json!({"model": "m", "prompt": "a", "max_tokens": 101}), Some("max_tokens")),
            (Route::Completions, json!({"model": "m", "prompt": "a", "temperature": 3}), Some("temperature")),
            (Route::Completions, json!({"model": "m", "prompt": "a", "stream": "yes"}), Some("stream")),
        ];
        for (route, body, param) in cases {
            match check(route, body.clone()) {
                Err(ApiError::BadRequest { param: p, .. }) => assert_eq!(p, param, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_model_is_not_found() {
        let err = check(Route::Completions, json!({"model": "gpt-4", "prompt": "a"})).unwrap_err();
        assert!(matches!(err, ApiError::NotFound { code: "model_not_found", .. }), "{err:?}");
    }
}
