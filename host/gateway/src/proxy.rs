//! A request's way through the gateway: key and rate limit, the schema (`request`), then a miner with
//! retries before any content, and the answer relayed chunk by chunk (`relay`); the exchange
//! is measured by the gateway's clock and handed to the recorder however it ends (a user who
//! disconnects or stops reading cancels the miner's request and is recorded as `cancelled`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assay_chain::ChainView;
use assay_miner_client::{Meter, Refused};
use assay_policy_sdk::{Outcome, RequestKind};
use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, warn};

use crate::admission::Refusal;
use crate::counters::Tally;
use crate::error::ApiError;
use crate::recorder::Finished;
use crate::routing::{Lease, Slot};
use crate::server::Connection;
use crate::{Shared, relay};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Chat,
    Completions,
}

impl Route {
    pub fn path(self) -> &'static str {
        match self {
            Route::Chat => "/v1/chat/completions",
            Route::Completions => "/v1/completions",
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The user's connection, when the request came through the gateway's listener.
type UserConnection = Option<Extension<Connection>>;

pub(crate) async fn chat(
    State(shared): State<Arc<Shared>>,
    connection: UserConnection,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let connection = connection.map(|Extension(c)| c);
    let mut key = None;
    let response = user_request(&shared, connection, &headers, body, Route::Chat, &mut key)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    counted(&shared, "chat", key, response)
}

pub(crate) async fn completions(
    State(shared): State<Arc<Shared>>,
    connection: UserConnection,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let connection = connection.map(|Extension(c)| c);
    let mut key = None;
    let response = user_request(&shared, connection, &headers, body, Route::Completions, &mut key)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    counted(&shared, "completions", key, response)
}

/// Counts a user's request by route, status and the name of the key admitted ("" if none).
fn counted(shared: &Shared, route: &'static str, key: Option<Arc<str>>, response: Response) -> Response {
    let key = key.unwrap_or_else(|| Arc::from(""));
    shared.metrics.request(&crate::metrics::RequestLabels { route, status: response.status().as_u16(), key });
    response
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

pub(crate) async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let key = match shared.keys.admit(authorization(&headers)) {
        Ok(admitted) => admitted.name.clone(),
        Err(e) => return counted(&shared, "models", None, e.into_response()),
    };
    let models: Vec<Value> = shared
        .tasks
        .models()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "assay"}))
        .collect();
    counted(&shared, "models", Some(key), Json(json!({"object": "list", "data": models})).into_response())
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
    connection: Option<Connection>,
    headers: &HeaderMap,
    body: Body,
    route: Route,
    key_admitted: &mut Option<Arc<str>>,
) -> Result<Response, ApiError> {
    let admitted = shared.keys.admit(authorization(headers))?;
    *key_admitted = Some(admitted.name.clone());
    let (key, publish_text) = (admitted.name.to_string(), admitted.publish_text);
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
    let read = axum::body::to_bytes(body, limit);
    let bytes = tokio::time::timeout(Duration::from_millis(shared.settings.body_read_timeout_ms), read)
        .await
        .map_err(|_| ApiError::BodyTimeout)?
        .map_err(|_| ApiError::TooLarge(limit))?;
    // Only what the schema accepts reaches a miner, in the form the schema writes it.
    let request = crate::request::validate(route, &bytes, &shared.settings.limits())?.into_body();
    // Its shape (never its text) is what synthetic requests are drawn like.
    shared.shapes.observe(route, &request);
    forward(shared, route, request, Caller::User { key, publish_text, connection }).await
}

/// Who a request is for.
pub(crate) enum Caller {
    /// A user: their key's name (the queue is fair between keys), whether the key agreed to
    /// publish its text in the dataset, and their connection (closed if they stop reading a
    /// stream).
    User { key: String, publish_text: bool, connection: Option<Connection> },
    /// The validator's own request: it never waits for a slot and is spread over every miner,
    /// or goes to `only` (capacity-paced load), or to none.
    Validator { only: Option<u16> },
    /// A competition request (`crate::competition`) to miner `uid` only, as the validator's own
    /// synthetic request; a warm-up one (`counted` false) is not recorded.
    Competition { uid: u16, counted: bool },
}

impl Caller {
    fn kind(&self) -> RequestKind {
        match self {
            Caller::User { .. } => RequestKind::Organic,
            Caller::Validator { .. } | Caller::Competition { .. } => RequestKind::Synthetic,
        }
    }

    /// Whether the request's text may go into the public dataset: the validator's own always,
    /// a user's only when their key opted in.
    fn publish_text(&self) -> bool {
        match self {
            Caller::User { publish_text, .. } => *publish_text,
            Caller::Validator { .. } | Caller::Competition { .. } => true,
        }
    }

    /// Whether the exchange is recorded: all but a competition's warm-up requests.
    fn recorded(&self) -> bool {
        !matches!(self, Caller::Competition { counted: false, .. })
    }

    fn connection(&self) -> Option<Connection> {
        match self {
            Caller::User { connection, .. } => connection.clone(),
            Caller::Validator { .. } | Caller::Competition { .. } => None,
        }
    }
}

/// Sends `request` to a miner, trying others while nothing has reached the user, and answers
/// with the miner's response. Organic and synthetic requests both come through here.
pub(crate) async fn forward(
    shared: &Arc<Shared>,
    route: Route,
    mut request: Map<String, Value>,
    caller: Caller,
) -> Result<Response, ApiError> {
    if !shared.recorder.has_room() {
        return Err(shed(shared));
    }
    // Every miner, and every retry, gets the same explicit parameters and seed: the body it
    // signs for names what it must sample with (decision 0010).
    crate::request::explicit_sampling(&mut request, rand::random());
    let streaming = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let greedy = request.get("temperature").and_then(Value::as_f64) == Some(0.0);
    let deadline = Instant::now() + Duration::from_millis(shared.settings.queue_timeout_ms);
    let model = request.get("model").and_then(Value::as_str).unwrap_or_default();
    let Some(task) = shared.tasks.task_of(model, route) else {
        let message = format!("no task serves the model `{}` on {}", crate::request::excerpt(model), route.path());
        return Err(ApiError::NotFound { message, code: "model_not_found" });
    };
    // Miners that did not declare the task (or, for a request meant for one miner, every other)
    // are skipped as if already tried.
    let not_serving = match caller {
        Caller::Validator { only: Some(uid) } | Caller::Competition { uid, .. } => {
            shared.pool.slots().iter().map(|s| s.uid).filter(|u| *u != uid).collect()
        }
        _ => shared.pool.not_serving(&task),
    };

    let mut tried = Vec::new();
    let mut last: Option<Refused> = None;
    while tried.len() < shared.settings.max_attempts as usize {
        let skipped: Vec<u16> = not_serving.iter().chain(&tried).copied().collect();
        let lease = match slot_for(shared, &caller, &skipped, deadline).await {
            Ok(lease) => lease,
            // The competition's miner had no slot before any attempt (a pause or a cooldown left by
            // earlier traffic, its slot replaced by a metagraph update, or it is down): nothing
            // was sent or recorded, and the competition may try again.
            Err(_) if matches!(caller, Caller::Competition { .. }) && last.is_none() => {
                return Err(ApiError::Overloaded {
                    what: "the competition's miner had no free slot".into(),
                    retry_after_s: 1,
                });
            }
            Err(refusal) => return Err(no_slot(shared, refusal, last.as_ref())),
        };
        let miner = lease.slot.miner.clone();
        if !tried.is_empty() {
            shared.metrics.retried();
        }
        tried.push(lease.slot.uid);
        let (mut attempt, body) = Attempt::begin(shared, lease, (route, &task), &caller, greedy, &mut request)?;
        let response = match shared.client.start(&miner, route.path(), &body).await {
            Ok(response) => response,
            Err(refused) if refused.validator_fault => {
                attempt.void(&refused.body);
                return Err(ApiError::Overloaded {
                    what: "the gateway cannot reach miners now".into(),
                    retry_after_s: 1,
                });
            }
            Err(refused) => {
                attempt.end_with(refused.outcome);
                // The body passed the schema (`request`), which admits only what an honest miner
                // serves: a 4xx is this miner's fault, and another miner may serve it.
                if matches!(refused.status, Some(400..=499)) && refused.outcome == Outcome::BadResponse {
                    refused_valid(tried.last().copied(), &refused);
                }
                debug!(uid = tried.last().copied(), outcome = ?refused.outcome, "miner failed before any content; trying another");
                last = Some(refused);
                continue;
            }
        };
        if streaming {
            return Ok(streamed(shared, attempt, response, caller.connection()));
        }
        let unusable =
            |outcome: Outcome, body: String| Refused { outcome, status: Some(200), body, validator_fault: false };
        match assay_miner_client::read_capped(response, attempt.max_bytes()).await {
            Ok(bytes) => {
                attempt.feed(&bytes);
                // A malformed body has not reached the user: another miner may still answer.
                match attempt.end() {
                    Outcome::Ok => {
                        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes)
                            .into_response());
                    }
                    outcome => last = Some(unusable(outcome, "the miner's answer was refused".into())),
                }
            }
            Err(e) => {
                attempt.end_with(e.outcome());
                last = Some(unusable(e.outcome(), e.to_string()));
            }
        }
    }
    Err(no_miner(last.as_ref()))
}

/// The user's SSE response: the miner's stream, relayed.
fn streamed(
    shared: &Shared,
    attempt: Attempt,
    upstream: reqwest::Response,
    connection: Option<Connection>,
) -> Response {
    let limits = relay::Limits {
        user_idle: Duration::from_millis(shared.settings.stream_idle_timeout_ms),
        miner: Duration::from_secs_f64(shared.settings.miner_timeout_s),
    };
    let mut response = Response::new(relay::start(attempt, upstream, limits, connection));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The recorder is behind (a full or failing disk): the request is refused before it reaches a
/// miner, so that the backlog stops growing. Nothing is recorded, against no one.
fn shed(shared: &Shared) -> ApiError {
    let shed = shared.tally.recorder_shed.fetch_add(1, Ordering::Relaxed) + 1;
    if shed.is_power_of_two() || shed.is_multiple_of(1000) {
        warn!(
            shed,
            backlog = shared.recorder.backlog(),
            "the recorder is behind: requests are refused until it catches up"
        );
    }
    ApiError::Overloaded { what: "the validator cannot record requests now".into(), retry_after_s: 5 }
}

/// A miner's slot not in `tried`: a user waits in the queue until `deadline`; the validator's
/// own request takes one at once or none (a competition's, one of the miner its turn holds).
async fn slot_for(shared: &Shared, caller: &Caller, tried: &[u16], deadline: Instant) -> Result<Lease, Refusal> {
    match caller {
        Caller::Validator { .. } => shared.pool.pick(tried, true).ok_or(Refusal::NoMiner),
        // The competition's miner is held for its turn: only the holder's requests reach it.
        Caller::Competition { uid, .. } => shared.pool.pick_held(*uid, tried).ok_or(Refusal::NoMiner),
        Caller::User { key, .. } => shared.queue.acquire(&shared.pool, &shared.tally, key, tried, deadline).await,
    }
}

/// What the user hears when no slot came.
fn no_slot(shared: &Shared, refusal: Refusal, last: Option<&Refused>) -> ApiError {
    let what = match refusal {
        Refusal::NoMiner => return no_miner(last),
        Refusal::Full => "too many requests are waiting for a miner".to_string(),
        Refusal::TimedOut => format!("every miner stayed busy for {} ms", shared.settings.queue_timeout_ms),
    };
    Tally::bump(&shared.tally.queue_refused);
    ApiError::Overloaded { what, retry_after_s: 1 }
}

fn no_miner(last: Option<&Refused>) -> ApiError {
    match last {
        Some(r) if r.outcome == Outcome::RateLimited => ApiError::NoMiner("every miner tried is at capacity".into()),
        Some(r) => ApiError::NoMiner(format!("the miners tried failed ({:?})", r.outcome)),
        None => ApiError::NoMiner("no miner is available".into()),
    }
}

/// A miner refused a request the schema admits: it is charged (a bad response), and the log says
/// what it answered, for a schema that admits what honest miners refuse is the gateway's bug.
fn refused_valid(uid: Option<u16>, refused: &Refused) {
    let answer: String = refused.body.chars().take(300).collect();
    warn!(
        uid,
        status = refused.status,
        answer = %answer,
        "a miner refused a request the gateway's schema admits; recorded as its bad response (if honest \
         miners refuse such requests too, the schema in host/gateway/src/request has a gap)"
    );
}

/// One try of one miner: its lease, its clock, and what the recorder needs. However it ends
/// (or is dropped, when the user goes away) it is settled exactly once.
pub(crate) struct Attempt {
    shared: Arc<Shared>,
    lease: Option<Lease>,
    meter: Option<Meter>,
    route: Route,
    /// The task the request belongs to (its model and route), as recorded.
    task: Arc<str>,
    kind: RequestKind,
    publish_text: bool,
    /// Handed to the recorder when it ends (all but a competition's warm-up requests).
    recorded: bool,
    /// A competition request: only the validator stops reading it (its epoch ended, the node
    /// stops), so being cancelled is the validator's act, recorded against no one.
    competition: bool,
    greedy: bool,
    id: u64,
    request_id: String,
    body: Arc<Vec<u8>>,
    started_ms: u64,
}

impl Attempt {
    /// A new try with `lease`. Each attempt is its own exchange: its own id in the ledger, its
    /// own request id and nonce in the extension (a retry is a new request to another miner),
    /// written into `request`; returns the body to send.
    fn begin(
        shared: &Arc<Shared>,
        lease: Lease,
        (route, task): (Route, &Arc<str>),
        caller: &Caller,
        greedy: bool,
        request: &mut Map<String, Value>,
    ) -> Result<(Attempt, Arc<Vec<u8>>), ApiError> {
        let id = rand::random::<u64>() >> 1; // below 2^63: ledger ids are SQLite integers
        let request_id = format!("{id:016x}");
        let nonce: [u8; 16] = rand::random();
        // `sampler` asks the miner to sign the sampler it used (decision 0010): a miner signs it
        // only when asked, so older validators verify a new miner's evidence unchanged.
        let sampler = assay_protocol::wire::SAMPLER_SPEC;
        let extension =
            json!({"request_id": request_id, "nonce": hex::encode(nonce), "commit": true, "sampler": sampler});
        request.insert("assay".into(), extension);
        let body = Arc::new(serde_json::to_vec(request).map_err(|e| ApiError::bad_request(e.to_string()))?);
        let attempt = Attempt {
            shared: shared.clone(),
            lease: Some(lease),
            meter: Some(shared.client.meter(request, body.len())),
            route,
            task: task.clone(),
            kind: caller.kind(),
            publish_text: caller.publish_text(),
            recorded: caller.recorded(),
            competition: matches!(caller, Caller::Competition { .. }),
            greedy,
            id,
            request_id,
            body: body.clone(),
            started_ms: now_ms(),
        };
        Ok((attempt, body))
    }

    /// Takes a piece of the miner's body; returns what may be relayed now (see [`Meter::feed`]).
    pub(crate) fn feed(&mut self, piece: &[u8]) -> Vec<u8> {
        self.meter.as_mut().map(|meter| meter.feed(piece)).unwrap_or_default()
    }

    /// Whether the miner's body needs no more reading (done, or refused).
    pub(crate) fn finished(&self) -> bool {
        self.meter.as_ref().is_none_or(Meter::is_finished)
    }

    fn max_bytes(&self) -> usize {
        self.meter.as_ref().map_or(0, Meter::max_bytes)
    }

    /// Time since the request was sent to the miner.
    pub(crate) fn elapsed(&self) -> Duration {
        self.meter.as_ref().map_or(Duration::ZERO, Meter::elapsed)
    }

    pub(crate) fn uid(&self) -> Option<u16> {
        self.lease.as_ref().map(|l| l.slot.uid)
    }

    /// The body ended: well-formed or not. Returns the outcome.
    pub(crate) fn end(&mut self) -> Outcome {
        let Some(meter) = self.meter.take() else { return Outcome::Cancelled };
        let completion = meter.end();
        let outcome = completion.outcome;
        self.settle(completion);
        outcome
    }

    /// The attempt ended early with `outcome`.
    pub(crate) fn end_with(&mut self, outcome: Outcome) {
        if outcome == Outcome::Cancelled && self.competition && self.meter.is_some() {
            return self.void("the competition stopped reading its request (its epoch ended, or the node stops)");
        }
        if let Some(meter) = self.meter.take() {
            self.settle(meter.failed(outcome));
        }
    }

    /// The attempt failed by the validator's own fault: nothing is recorded and the miner's
    /// health is untouched (its slot is simply given back).
    pub(crate) fn void(&mut self, why: &str) {
        self.meter = None;
        if let Some(lease) = self.lease.take() {
            error!(
                uid = lease.slot.uid,
                error = why,
                "the validator could not send a request to a miner (its own fault, charged to no miner)"
            );
        }
        Tally::bump(&self.shared.tally.validator_faults);
    }

    pub(crate) fn tally(&self) -> &Tally {
        &self.shared.tally
    }

    fn settle(&mut self, completion: assay_miner_client::Completion) {
        let Some(lease) = self.lease.take() else { return };
        let slot: Arc<Slot> = lease.slot.clone();
        lease.settle(completion.outcome, completion.ttft);
        if !self.recorded {
            return;
        }
        self.shared.recorder.send(Finished {
            id: self.id,
            uid: slot.uid,
            miner_hotkey: slot.miner.hotkey.clone(),
            path: self.route.path(),
            task: self.task.clone(),
            kind: self.kind,
            publish_text: self.publish_text,
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
                    Ok(info) if shared.tasks.serves_model(&info.model) => declared(&shared, &slot, &info),
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
    view.set_declared(shared.pool.declared());
}

/// The capacity a probed miner is given, after recording the tasks its `info` declares; a
/// declaration past the protocol's bounds is refused, and the miner left out (`None`).
fn declared(shared: &Shared, slot: &Slot, info: &assay_protocol::wire::Info) -> Option<u32> {
    let tasks = shared.tasks.tasks_of_model(&info.model);
    match info.declared_capacities(&tasks) {
        Ok(mut declared) => {
            // Only the tasks this gateway serves with the miner's model count.
            declared.retain(|task, _| tasks.contains(&task.as_str()));
            shared.pool.declare(slot, declared);
            Some(info.capacity)
        }
        Err(e) => {
            warn!(uid = slot.uid, error = %e, "a miner's info declares tasks past the bounds: not routed to");
            // What it declared before is not kept either: its word is not trusted now.
            shared.pool.declare(slot, Default::default());
            None
        }
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
