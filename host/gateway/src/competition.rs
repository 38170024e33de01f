//! The competition's requests (cacheon's traffic): one request at a time to one miner through
//! the signed path every synthetic request takes, or to the validator's own baseline server, on
//! equal terms and timed by the same clock ([`assay_miner_client::Meter`]: from the send to the
//! first content token, and to the last byte).
//!
//! A miner's counted request is recorded as any synthetic request is (`kind = synthetic`, with
//! its evidence, so the verifier token-checks and challenges it); a warm-up request goes the
//! same way and is not recorded. A baseline request is sent unsigned to an OpenAI-compatible
//! server, carries no evidence, and is recorded (`kind = baseline`, uid [`NO_MINER`]) only when
//! the caller hands its measurements back with [`Competition::record_baseline`]: a baseline
//! that failed part way is the validator's fault, and then none of its rows is kept.
//!
//! Equal terms: a miner's requests are sent during its [`Turn`], which holds the miner
//! (`routing::Hold`): from the turn's start the gateway routes no user's or other synthetic
//! request to it, and the turn's first request waits for those already under way to end. Every
//! contestant is measured alone, as the baseline is, whatever organic traffic it had; users go to
//! other miners meanwhile, or wait in the queue up to its time limit. Requests that do not go
//! through the gateway's router (the verifier's openings, a round's commit and reveal) are not
//! held back. A request the validator could not place is told apart from a miner's failure
//! ([`ContestError`]), so the driver retries only its own.
//!
//! Owns: building a competition request, sending it, and handing its measurement to the
//! recorder. Must not touch: the schedule (which prompts, which miners, in which order: the
//! node's `competition` driver) or scoring.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assay_miner_client::Completion;
use assay_policy_sdk::{NO_MINER, Outcome, RequestKind};
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::proxy::{Caller, Route, forward};
use crate::recorder::Finished;
use crate::routing::Hold;

/// How much longer than a request's longest life (the miners' time limit, then a user's idle
/// limit while the relay waits for them to read) a turn waits for a miner's earlier requests.
const IDLE_SLACK: Duration = Duration::from_secs(2);

/// Why a competition request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ContestError {
    /// The validator's side could not place it (its recorder, its sockets, the miner's earlier
    /// requests still under way, no free slot before any attempt): nothing was recorded, against
    /// no one.
    #[error("the validator could not send the request: {0}")]
    NotSent(String),
    /// The miner failed (every attempt was made and recorded as its row's outcome).
    #[error("the miner did not answer: {0}")]
    Miner(String),
}

/// A miner's turn in the competition: while it lasts, the miner serves only this competition
/// (see the module doc). Ends on drop.
#[derive(Debug)]
pub struct Turn {
    hold: Hold,
}

impl Turn {
    pub fn uid(&self) -> u16 {
        self.hold.uid()
    }
}

/// A baseline server: any OpenAI-compatible endpoint. Its `Debug` hides the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The server's root: requests go to `{url}/v1/chat/completions` (or `/v1/completions`).
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// The model id the baseline serves the task's model as (`None`: the task's model id).
    pub model: Option<String>,
}

impl std::fmt::Debug for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baseline")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(hidden)"))
            .field("model", &self.model)
            .finish()
    }
}

/// One baseline request that came back whole, `ok` and with completion tokens: not recorded yet.
#[derive(Debug)]
pub struct BaselineAnswer {
    finished: Finished,
}

impl BaselineAnswer {
    /// Send to first content token, by the validator's clock.
    pub fn ttft(&self) -> Duration {
        self.finished.completion.ttft
    }

    /// Send to last byte, by the validator's clock.
    pub fn total(&self) -> Duration {
        self.finished.completion.total
    }
}

/// One competition request, built once and sent alike to every contestant of its task.
#[derive(Debug, Clone)]
pub struct ContestRequest {
    route: Route,
    /// The task's name, as its rows are recorded under.
    task: Arc<str>,
    body: Map<String, Value>,
}

/// The gateway's side of the competition: see the module doc.
#[derive(Clone)]
pub struct Competition {
    pub(crate) shared: Arc<Shared>,
    pub(crate) http: reqwest::Client,
}

impl Competition {
    /// The miners up and serving `task` now, by uid.
    pub fn contestants(&self, task: &str) -> Vec<u16> {
        self.shared.pool.serving(task)
    }

    /// The request every contestant of `task` is sent for `prompt`: greedy, streamed, at most
    /// `max_tokens`, usage asked for (what a baseline's completion tokens are read from), checked
    /// by the gateway's schema before anything is sent, so that the baseline and every miner get
    /// the same checked body. `Err` for a task the gateway does not serve, or a request its schema
    /// refuses (the validator's own configuration: nothing of the task may be recorded).
    pub fn request(&self, task: &str, prompt: &str, max_tokens: u64) -> Result<ContestRequest, String> {
        let (Some(model), Some(route)) = (self.shared.tasks.model_of(task), self.shared.tasks.route_of(task)) else {
            return Err(format!("the gateway serves no task {task:?}"));
        };
        let mut request = Map::new();
        request.insert("model".into(), json!(model));
        match route {
            Route::Chat => request.insert("messages".into(), json!([{"role": "user", "content": prompt}])),
            Route::Completions => request.insert("prompt".into(), json!(prompt)),
        };
        request.insert("max_tokens".into(), json!(max_tokens));
        request.insert("temperature".into(), json!(0));
        request.insert("stream".into(), json!(true));
        request.insert("stream_options".into(), json!({"include_usage": true}));
        let body = crate::request::check(route, request, &self.shared.settings.limits())
            .map_err(|e| format!("the gateway's schema refuses the competition's request: {e}"))?
            .into_body();
        Ok(ContestRequest { route, task: Arc::from(task), body })
    }

    /// Starts miner `uid`'s turn; `None` when it is not in the pool or already in a turn.
    pub fn hold(&self, uid: u16) -> Option<Turn> {
        self.shared.pool.hold(uid).map(|hold| Turn { hold })
    }

    /// Sends `request` to the miner of `turn` alone, once its earlier requests have ended, and
    /// reads its answer to the end. A `counted` one is recorded (however it ended, unless by the
    /// validator's own fault); a warm-up one is not. `Err` says why no answer came, and whose
    /// side failed (the record, if any, is the gateway's).
    pub async fn to_miner(&self, turn: &Turn, request: &ContestRequest, counted: bool) -> Result<(), ContestError> {
        let settings = &self.shared.settings;
        let lifetime = Duration::try_from_secs_f64(settings.miner_timeout_s).unwrap_or(Duration::ZERO)
            + Duration::from_millis(settings.stream_idle_timeout_ms);
        if !turn.hold.idle(lifetime + IDLE_SLACK).await {
            return Err(ContestError::NotSent("the miner's earlier requests did not end in time".into()));
        }
        let caller = Caller::Competition { uid: turn.uid(), counted };
        let response =
            forward(&self.shared, request.route, request.body.clone(), caller).await.map_err(|e| match e {
                crate::ApiError::NoMiner(why) => ContestError::Miner(why),
                other => ContestError::NotSent(format!("{other:?}")),
            })?;
        axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| ContestError::Miner(e.to_string()))?;
        Ok(())
    }

    /// Sends `request` (as [`Competition::request`] built it) to the baseline, unsigned, within
    /// the miners' own time limit (`miner_timeout_s`), and measures it as a miner's answer is
    /// measured. `Err` when it did not come back whole, `ok` and with completion tokens: the
    /// validator's own server failed.
    pub async fn to_baseline(&self, baseline: &Baseline, request: &ContestRequest) -> Result<BaselineAnswer, String> {
        let (route, task, mut request) = (request.route, request.task.clone(), request.body.clone());
        if let Some(model) = &baseline.model {
            request.insert("model".into(), json!(model));
        }
        let body = Arc::new(serde_json::to_vec(&request).map_err(|e| e.to_string())?);
        let started_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let completion = self.measure_baseline(baseline, route, &request, &body).await?;
        let tokens = completion.last["usage"]["completion_tokens"].as_u64().unwrap_or(0);
        if completion.outcome != Outcome::Ok || tokens == 0 {
            let reason = completion.evidence_error.clone().unwrap_or_default();
            return Err(format!(
                "the baseline answered {:?} with {tokens} completion tokens {reason}",
                completion.outcome
            ));
        }
        let finished = Finished {
            id: rand::random::<u64>() >> 1, // below 2^63: ledger ids are SQLite integers
            uid: NO_MINER,
            miner_hotkey: String::new(),
            path: route.path(),
            task,
            kind: RequestKind::Baseline,
            publish_text: true,
            greedy: true,
            started_ms,
            request_id: String::new(),
            body,
            completion,
        };
        Ok(BaselineAnswer { finished })
    }

    async fn measure_baseline(
        &self,
        baseline: &Baseline,
        route: Route,
        request: &Map<String, Value>,
        body: &Arc<Vec<u8>>,
    ) -> Result<Completion, String> {
        let timeout = Duration::try_from_secs_f64(self.shared.settings.miner_timeout_s).map_err(|e| e.to_string())?;
        let url = format!("{}{}", baseline.url.trim_end_matches('/'), route.path());
        let mut meter = self.shared.client.meter(request, body.len());
        let mut post = self
            .http
            .post(&url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .body(body.as_ref().clone());
        if let Some(key) = &baseline.api_key {
            post = post.bearer_auth(key);
        }
        let mut response = post.send().await.map_err(|e| format!("{url}: {e}"))?;
        if response.status() != 200 {
            return Err(format!("{url} answered {}", response.status()));
        }
        while !meter.is_finished() {
            match response.chunk().await {
                Ok(Some(piece)) => {
                    meter.feed(&piece);
                }
                Ok(None) => break,
                Err(e) => return Err(format!("{url}: {e}")),
            }
        }
        // Timed as a miner's answer is: from the first chunk with any text, white space included
        // (the meter alone would wait for visible text, there being no evidence).
        let first_text = meter.first_text_at();
        let mut completion = meter.end();
        completion.ttft = first_text.unwrap_or(completion.ttft);
        Ok(completion)
    }

    /// Records a task's baseline answers (`kind = baseline`, uid [`NO_MINER`]). `Err` when the
    /// recorder is behind: then none is recorded.
    pub fn record_baseline(&self, answers: Vec<BaselineAnswer>) -> Result<(), String> {
        if !self.shared.recorder.has_room() {
            return Err("the recorder is behind".into());
        }
        for answer in answers {
            self.shared.recorder.send(answer.finished);
        }
        Ok(())
    }
}
