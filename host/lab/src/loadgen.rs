//! Tools for measuring the gateway: `assay dev mock-worker`, an OpenAI-style worker that answers
//! at once (so that whatever sits in front of it is the bottleneck), and `assay dev load`, a
//! closed-loop load generator that prints requests/s and latency percentiles.
//!
//! The mock answers a request that carries the `assay` extension as a miner does: with evidence
//! (token ids, no commitment) signed by its own hotkey for the validator that signed the
//! request, so that the gateway serves and records it as it would a miner's, signature check
//! included; a request without the extension (another router's) gets the plain answer.
//! `scripts/bench-gateway.sh` uses both to compare the gateway with vllm-router.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use assay_keys::Hotkey;
use assay_protocol::epistula;
use assay_protocol::wire::{Info, RequestExtension, ResponseExtension, VectorDtype};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct MockOptions {
    pub host: String,
    pub port: u16,
    /// The model id it reports and answers as.
    pub model: String,
    /// Content chunks in a streamed answer.
    pub chunks: usize,
    /// Signs the evidence; its address is printed at start-up.
    pub hotkey: Hotkey,
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Base URL, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    pub path: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`.
    pub key: Option<String>,
    pub concurrency: usize,
    /// Seconds measured, after one second of warm-up.
    pub seconds: f64,
    pub stream: bool,
    /// A label for the printed line.
    pub label: String,
}

fn chunk(model: &str, content: Option<&str>, finish: Option<&str>, evidence: Option<&(Value, Value)>) -> String {
    let delta = match content {
        Some(c) => json!({"content": c}),
        None => json!({}),
    };
    let mut chunk = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    attach(&mut chunk, evidence);
    format!("data: {chunk}\n\n")
}

fn attach(body: &mut Value, evidence: Option<&(Value, Value)>) {
    if let Some((extension, signature)) = evidence {
        body["assay"] = extension.clone();
        body["assay_signature"] = signature.clone();
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The evidence a miner sends for `request` (when it carries the `assay` extension): 8 prompt
/// tokens, `completion_tokens` completion tokens, no commitment, signed by `hotkey` for the
/// validator that signed the request (`Epistula-Signed-By`).
fn evidence(hotkey: &Hotkey, request: &Value, headers: &HeaderMap, completion_tokens: usize) -> Option<(Value, Value)> {
    let extension: RequestExtension = serde_json::from_value(request.get("assay")?.clone()).ok()?;
    let validator = headers.get(epistula::HEADER_SIGNED_BY)?.to_str().ok()?;
    let response = ResponseExtension {
        request_id: extension.request_id,
        prompt_token_ids: vec![1; 8],
        completion_token_ids: vec![1; completion_tokens],
        commitment: None,
        leaf_count: 0,
        dtype: VectorDtype::F32,
        sampler: None,
    };
    let bytes = serde_json::to_vec(&response).ok()?;
    let signed = epistula::sign(hotkey, &bytes, Some(validator), now_ms());
    let headers: serde_json::Map<String, Value> =
        signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    Some((json!(response), Value::Object(headers)))
}

/// The mock's answers: whole, and streamed (`chunks` pieces then the finish event).
struct Answers {
    model: String,
    chunks: usize,
    hotkey: Hotkey,
}

impl Answers {
    fn whole(&self, evidence: Option<&(Value, Value)>) -> Bytes {
        let mut body = json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello ".repeat(self.chunks)},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": self.chunks, "total_tokens": 8 + self.chunks}});
        attach(&mut body, evidence);
        Bytes::from(body.to_string())
    }

    fn streamed(&self, evidence: Option<&(Value, Value)>) -> Bytes {
        let mut stream = String::new();
        for _ in 0..self.chunks {
            stream.push_str(&chunk(&self.model, Some("hello "), None, None));
        }
        stream.push_str(&chunk(&self.model, None, Some("stop"), evidence));
        stream.push_str("data: [DONE]\n\n");
        Bytes::from(stream)
    }

    fn answer(&self, headers: &HeaderMap, body: &[u8]) -> axum::response::Response {
        // Parse like a real server, so that each path pays the same worker cost.
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return (axum::http::StatusCode::BAD_REQUEST, "bad JSON").into_response();
        };
        let evidence = evidence(&self.hotkey, &request, headers, self.chunks);
        if request["stream"].as_bool().unwrap_or(false) {
            let body = Body::from_stream(tokio_stream::iter([Ok::<_, Infallible>(self.streamed(evidence.as_ref()))]));
            ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
        } else {
            ([(header::CONTENT_TYPE, "application/json")], self.whole(evidence.as_ref())).into_response()
        }
    }
}

pub fn mock_worker(args: MockOptions) -> anyhow::Result<()> {
    let info = Info {
        protocol_version: assay_protocol::PROTOCOL_VERSION,
        model: args.model.clone(),
        layers: 1,
        hidden_size: 1,
        capacity: 100_000,
        open_window_s: 0,
        tasks: Vec::new(),
        routes: Vec::new(),
    };
    println!("mock worker signs its evidence as {}", args.hotkey.ss58());
    let answers = Arc::new(Answers { model: args.model, chunks: args.chunks.max(1), hotkey: args.hotkey });
    let complete = move |headers: HeaderMap, body: Bytes| {
        let answers = answers.clone();
        async move { answers.answer(&headers, &body) }
    };
    let app = Router::new()
        .route("/assay/v1/info", get(move || async move { axum::Json(info.clone()) }))
        .route("/health", get(|| async { "ok" }))
        .route("/v1/chat/completions", post(complete.clone()))
        .route("/v1/completions", post(complete));
    crate::serve_until_ctrl_c(&args.host, args.port, app, "mock worker")
}

/// One measured request: total time and time to the first body bytes.
async fn one(client: &reqwest::Client, args: &LoadOptions, body: &Bytes) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let mut request = client
        .post(format!("{}{}", args.url, args.path))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone());
    if let Some(key) = &args.key {
        request = request.bearer_auth(key);
    }
    let mut response = request.send().await?;
    if !response.status().is_success() {
        return Err(anyhow!("status {}", response.status()));
    }
    let mut first = None;
    while let Some(piece) = response.chunk().await? {
        if first.is_none() && !piece.is_empty() {
            first = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    Ok((total, first.unwrap_or(total)))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

pub fn load(args: LoadOptions) -> anyhow::Result<()> {
    let measured = Duration::try_from_secs_f64(args.seconds)
        .ok()
        .filter(|d| *d <= Duration::from_secs(86_400))
        .ok_or_else(|| crate::bad_input(anyhow::anyhow!("--seconds {} must be from 0 to 86400", args.seconds)))?;
    let body = Bytes::from(
        if args.path.contains("chat") {
            json!({"model": args.model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8,
                "stream": args.stream})
        } else {
            json!({"model": args.model, "prompt": "Say hello.", "max_tokens": 8, "stream": args.stream})
        }
        .to_string(),
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let args = Arc::new(args);
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .build()
            .context("building the HTTP client")?;
        let warm_until = Instant::now() + Duration::from_secs(1);
        let end = warm_until + measured;
        let mut workers = Vec::new();
        for _ in 0..args.concurrency.max(1) {
            let (client, args, body) = (client.clone(), args.clone(), body.clone());
            workers.push(tokio::spawn(async move {
                let mut measured = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < end {
                    let started = Instant::now();
                    match one(&client, &args, &body).await {
                        Ok(times) if started >= warm_until => measured.push(times),
                        Ok(_) => {}
                        Err(_) => errors += 1,
                    }
                }
                (measured, errors)
            }));
        }
        let mut totals = Vec::new();
        let mut firsts = Vec::new();
        let mut errors = 0;
        for worker in workers {
            let (measured, e) = worker.await.context("a load worker panicked")?;
            errors += e;
            for (total, first) in measured {
                totals.push(total);
                firsts.push(first);
            }
        }
        totals.sort();
        firsts.sort();
        let rps = totals.len() as f64 / args.seconds;
        println!(
            "{:<14} {:<6} c={:<3} rps={:>8.0} p50_ms={:>7.3} p99_ms={:>7.3} ttfb_p50_ms={:>7.3} errors={}",
            args.label,
            if args.stream { "stream" } else { "whole" },
            args.concurrency,
            rps,
            percentile(&totals, 0.5),
            percentile(&totals, 0.99),
            percentile(&firsts, 0.5),
            errors
        );
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use assay_keys::Scheme;

    use super::*;

    /// The mock's evidence passes the gateway's check of a miner's evidence, for the validator
    /// that signed the request; a request without the extension gets none.
    #[test]
    fn the_mocks_evidence_verifies_as_a_miners() {
        let miner = Hotkey::generate(Scheme::Sr25519).expect("key");
        let validator = Hotkey::generate(Scheme::Sr25519).expect("key");
        let mut headers = HeaderMap::new();
        headers.insert(epistula::HEADER_SIGNED_BY, validator.ss58().parse().expect("header"));
        let request = json!({"model": "mock", "assay": {"request_id": "00ab", "nonce": "01", "commit": true}});
        let (extension, signature) = evidence(&miner, &request, &headers, 8).expect("evidence");
        let answer = json!({"assay": extension, "assay_signature": signature});
        let checked = assay_miner_client::check_evidence(&answer, &miner.ss58(), &validator.ss58())
            .expect("verifies")
            .expect("present");
        assert_eq!((checked.request_id.as_str(), checked.completion_token_ids.len()), ("00ab", 8));
        let other = Hotkey::generate(Scheme::Sr25519).expect("key");
        assert!(assay_miner_client::check_evidence(&answer, &miner.ss58(), &other.ss58()).is_err());
        assert!(evidence(&miner, &json!({"model": "mock"}), &headers, 8).is_none());
    }
}
