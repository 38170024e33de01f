//! Tools for measuring the gateway: `assay dev mock-worker`, an OpenAI-style worker that answers
//! at once (so that whatever sits in front of it is the bottleneck), and `assay dev load`, a
//! closed-loop load generator that prints requests/s and latency percentiles.
//! `scripts/bench-gateway.sh` uses both to compare the gateway with vllm-router.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use assay_protocol::wire::Info;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
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

fn chunk(model: &str, content: Option<&str>, finish: Option<&str>) -> String {
    let delta = match content {
        Some(c) => json!({"content": c}),
        None => json!({}),
    };
    let chunk = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {chunk}\n\n")
}

pub fn mock_worker(args: MockOptions) -> anyhow::Result<()> {
    let model = Arc::new(args.model);
    let chunks = args.chunks.max(1);
    let info = Info {
        protocol_version: assay_protocol::PROTOCOL_VERSION,
        model: model.to_string(),
        layers: 1,
        hidden_size: 1,
        capacity: 100_000,
        open_window_s: 0,
        tasks: Vec::new(),
    };
    let whole = Bytes::from(
        json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": *model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello ".repeat(chunks)},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": chunks, "total_tokens": 8 + chunks}})
        .to_string(),
    );
    let mut stream = String::new();
    for _ in 0..chunks {
        stream.push_str(&chunk(&model, Some("hello "), None));
    }
    stream.push_str(&chunk(&model, None, Some("stop")));
    stream.push_str("data: [DONE]\n\n");
    let streamed = Bytes::from(stream);
    let complete = move |body: Bytes| {
        let (whole, streamed) = (whole.clone(), streamed.clone());
        async move {
            // Parse like a real server, so that each path pays the same worker cost.
            let Ok(request) = serde_json::from_slice::<Value>(&body) else {
                return (axum::http::StatusCode::BAD_REQUEST, "bad JSON").into_response();
            };
            if request["stream"].as_bool().unwrap_or(false) {
                let body = Body::from_stream(tokio_stream::iter([Ok::<_, Infallible>(streamed)]));
                ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
            } else {
                ([(header::CONTENT_TYPE, "application/json")], whole).into_response()
            }
        }
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
