//! Users for the soak (`assay dev users`, `scripts/soak.sh`): requests at a bounded rate against
//! an OpenAI-style endpoint, streamed and whole, chat and text, with hostile users mixed in
//! (streams read one byte a second, invalid bodies, bursts beyond capacity). Every request ends
//! in the tally under its kind and its cause (`served`, the status and the OpenAI error's code,
//! a cut stream…), printed every `report_every` and at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// A user reads no more of one answer (the gateway's answers are a few KB; a flood is not).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What `assay dev users` runs.
#[derive(Debug, Clone)]
pub struct UsersOptions {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8000` (requests go to `/v1/...`).
    pub url: String,
    /// Sent as `Authorization: Bearer`.
    pub key: Option<String>,
    pub model: String,
    /// Requests started per second, every kind together (bursts come on top).
    pub rate: f64,
    pub seconds: f64,
    /// Mix in hostile users: of every ten requests two are invalid and one is a stalled stream.
    pub hostile: bool,
    /// How long a stalled stream is held (read one byte a second) before it is dropped.
    pub stall: Duration,
    /// Stalled streams held at once, at most.
    pub max_stalled: usize,
    /// Streams sent at once in a burst (0: none), every `burst_every`.
    pub burst: usize,
    pub burst_every: Duration,
    /// Requests in flight at most (stalled ones included); past it a request is skipped.
    pub max_in_flight: usize,
    pub report_every: Duration,
    /// The largest `max_tokens` the gateway allows (stalled streams ask for it).
    pub max_tokens: u64,
}

/// Requests by kind and how they ended.
#[derive(Debug, Default)]
pub struct Tally(Mutex<BTreeMap<(&'static str, String), u64>>);

impl Tally {
    pub fn add(&self, kind: &'static str, cause: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry((kind, cause.into())).or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<(&'static str, String), u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// (all, served) over every kind.
    pub fn totals(&self) -> (u64, u64) {
        let all = self.snapshot();
        (all.values().sum(), all.iter().filter(|((_, c), _)| c == "served").map(|(_, n)| n).sum())
    }

    /// One line per kind and cause.
    pub fn describe(&self) -> String {
        self.snapshot().iter().map(|((kind, cause), n)| format!("  {n:>7}  {kind:<8} {cause}\n")).collect()
    }
}

/// The cause of an error answer: its status, the OpenAI error's code (or type) and param, and the
/// start of its message with numbers blanked (so that causes group without growing unbounded).
pub fn cause_of(status: u16, body: &[u8]) -> String {
    let error = serde_json::from_slice::<Value>(body).ok().map(|b| b["error"].clone()).unwrap_or(Value::Null);
    let code = error["code"].as_str().or(error["type"].as_str()).unwrap_or("no OpenAI error body");
    let param = error["param"].as_str().map(|p| format!(" (param {p})")).unwrap_or_default();
    let mut message: String = error["message"].as_str().unwrap_or("").chars().take(64).collect();
    message = message.split(|c: char| c.is_ascii_digit()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join("N");
    if message.is_empty() { format!("{status} {code}{param}") } else { format!("{status} {code}{param}: {message}") }
}

/// A request body of the normal mix; `n` picks the route, the mode and the sampling: greedy, or
/// sampled within a `top_p` nucleus (where the challenger is calibrated, as the synthetic traffic).
fn normal(model: &str, n: u64) -> (&'static str, bool, Value) {
    let stream = n.is_multiple_of(2);
    let (temperature, top_p) = if n % 4 < 2 { (0.0, 1.0) } else { (0.7, 0.95) };
    let question = format!("Question {n}: what is the colour of the sky, and why?");
    let mut body = json!({"model": model, "max_tokens": 16, "temperature": temperature, "top_p": top_p,
        "stream": stream});
    if n % 8 < 4 {
        body["messages"] = json!([{"role": "user", "content": question}]);
        ("/v1/chat/completions", stream, body)
    } else {
        body["prompt"] = json!(question);
        ("/v1/completions", stream, body)
    }
}

/// Bodies an honest miner must refuse (issue #10, item 2), or the gateway must; raw text, so
/// that not-JSON is among them.
fn invalid(model: &str, n: u64) -> (&'static str, String) {
    let chat = |extra: Value| {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        ("/v1/chat/completions", body.to_string())
    };
    match n % 10 {
        0 => ("/v1/completions", json!({"model": model, "prompt": "", "max_tokens": 8}).to_string()),
        1 => chat(json!({"top_k": "ten"})),
        2 => chat(json!({"seed": "abc"})),
        3 => chat(json!({"stop": 5})),
        4 => chat(json!({"logprobs": true, "top_logprobs": "many"})),
        5 => chat(json!({"top_logprobs": 500, "logprobs": true})),
        6 => chat(json!({"temperature": -1})),
        7 => chat(json!({"max_tokens": 0})),
        8 => chat(json!({"messages": []})),
        _ => ("/v1/chat/completions", format!("{{\"model\": \"{model}\", \"messages\": [")),
    }
}

struct Users {
    options: UsersOptions,
    http: reqwest::Client,
    tally: Tally,
    in_flight: AtomicUsize,
    stalled: AtomicUsize,
}

/// Runs the users for `options.seconds`, then prints the tally.
pub fn run(options: UsersOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(180)).build().context("building the HTTP client")?;
        let users = Arc::new(Users {
            options,
            http,
            tally: Tally::default(),
            in_flight: AtomicUsize::new(0),
            stalled: AtomicUsize::new(0),
        });
        users.clone().schedule().await;
        let (all, served) = users.tally.totals();
        println!("users: {all} requests, {served} served; by kind and cause:\n{}", users.tally.describe());
        Ok(())
    })
}

impl Users {
    /// Starts requests at the rate until the end, then waits a little for those in flight.
    async fn schedule(self: Arc<Self>) {
        let o = &self.options;
        let started = Instant::now();
        let end = started + Duration::from_secs_f64(o.seconds.max(0.0));
        let every = Duration::from_secs_f64(1.0 / o.rate.max(0.001));
        // The first burst half-way through the first period, so that a short run has one.
        let (mut next_burst, mut next_report) = (started + o.burst_every / 2, started + o.report_every);
        let mut n = 0u64;
        while Instant::now() < end {
            let now = Instant::now();
            if o.burst > 0 && now >= next_burst {
                next_burst = now + o.burst_every;
                // Even numbers: streams, as the issue's burst of the `openai` client.
                (0..o.burst as u64).for_each(|i| self.clone().spawn("burst", 2 * i));
            }
            if now >= next_report {
                next_report = now + o.report_every;
                let (all, served) = self.tally.totals();
                println!("users [{:>5.0} s] ended {all}, served {served}", started.elapsed().as_secs_f64());
            }
            let kind = match (o.hostile, n % 10) {
                (true, 3 | 7) => "invalid",
                (true, 5) if self.stalled.load(Ordering::Relaxed) < o.max_stalled => "stalled",
                _ => "normal",
            };
            self.clone().spawn(kind, n);
            n += 1;
            tokio::time::sleep(every).await;
        }
        let grace = Instant::now() + Duration::from_secs(5);
        while self.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < grace {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left = self.in_flight.load(Ordering::Relaxed);
        if left > 0 {
            self.tally.add("all", format!("still in flight at the end: {left}"));
        }
    }

    fn spawn(self: Arc<Self>, kind: &'static str, n: u64) {
        if self.in_flight.load(Ordering::Relaxed) >= self.options.max_in_flight {
            self.tally.add(kind, "skipped: the users' in-flight bound");
            return;
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let cause = match kind {
                "invalid" => self.invalid(n).await,
                "stalled" => self.stalled(n).await,
                _ => self.normal(n).await,
            };
            self.tally.add(kind, cause);
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }

    fn post(&self, path: &str, body: String) -> reqwest::RequestBuilder {
        let request =
            self.http.post(format!("{}{path}", self.options.url)).header("content-type", "application/json").body(body);
        match &self.options.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn normal(&self, n: u64) -> String {
        let (path, stream, body) = normal(&self.options.model, n);
        match self.post(path, body.to_string()).send().await {
            Ok(response) => read_answer(response, stream).await,
            Err(e) => transport(&e),
        }
    }

    async fn invalid(&self, n: u64) -> String {
        let (path, body) = invalid(&self.options.model, n);
        match self.post(path, body).send().await {
            Ok(r) if r.status().is_success() => "served (an invalid request was answered 200)".into(),
            Ok(r) => {
                let status = r.status().as_u16();
                cause_of(status, &r.bytes().await.unwrap_or_default())
            }
            Err(e) => transport(&e),
        }
    }

    /// A stream asked for and then read one byte a second, through a small receive buffer.
    async fn stalled(&self, n: u64) -> String {
        self.stalled.fetch_add(1, Ordering::Relaxed);
        let cause = stall(&self.options, n).await.unwrap_or_else(|e| format!("could not stall: {e}"));
        self.stalled.fetch_sub(1, Ordering::Relaxed);
        cause
    }
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() { "timed out (180 s)".into() } else { "transport error".into() }
}

/// Reads an answer to the end: `served` or why not.
async fn read_answer(mut response: reqwest::Response, stream: bool) -> String {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(_)) if body.len() > MAX_ANSWER_BYTES => {
                return "answer over 1 MB (the user stopped reading)".into();
            }
            Ok(Some(piece)) => body.extend_from_slice(&piece),
            Ok(None) => break,
            Err(e) if e.is_timeout() => return "timed out (180 s)".into(),
            Err(_) => return if status == 200 { "stream broken".into() } else { cause_of(status, &body) },
        }
    }
    if status != 200 {
        return cause_of(status, &body);
    }
    let text = String::from_utf8_lossy(&body);
    if stream {
        if text.contains("\"error\"") {
            return "stream ended with an error event".into();
        }
        if !text.contains("data: [DONE]") {
            return "stream ended without [DONE]".into();
        }
    } else if !serde_json::from_slice::<Value>(&body).is_ok_and(|b| b["choices"][0].is_object()) {
        return "200 with a malformed body".into();
    }
    "served".into()
}

/// Raw HTTP/1.1 over a socket with a small receive buffer: the status line, then one byte a
/// second for `options.stall`.
async fn stall(options: &UsersOptions, n: u64) -> anyhow::Result<String> {
    let address = options.url.trim_start_matches("http://").trim_end_matches('/');
    let address: std::net::SocketAddr = address.parse().context("the users' stall needs an http://ip:port URL")?;
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_recv_buffer_size(1024)?;
    let tcp = socket.connect(address).await?;
    let body = json!({"model": options.model, "messages": [{"role": "user", "content": format!("Tell story {n}.")}],
        "max_tokens": options.max_tokens, "stream": true})
    .to_string();
    let auth = options.key.as_ref().map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    write_all(&tcp, format!("{head}{body}").as_bytes()).await?;
    let mut status_line = Vec::new();
    while !status_line.ends_with(b"\r\n") && status_line.len() < 256 {
        let Some(byte) = read_byte(&tcp).await? else { return Ok("closed before a status line".into()) };
        status_line.push(byte);
    }
    let status = String::from_utf8_lossy(&status_line).split_whitespace().nth(1).unwrap_or("?").to_string();
    if status != "200" {
        return Ok(format!("{status} (refused at once)"));
    }
    let started = Instant::now();
    while started.elapsed() < options.stall {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if read_byte(&tcp).await?.is_none() {
            return Ok(format!("200, then closed by the server after {:.0} s", started.elapsed().as_secs_f64()));
        }
    }
    Ok(format!("200, held {:.0} s and dropped", options.stall.as_secs_f64()))
}

async fn write_all(tcp: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        tcp.writable().await?;
        match tcp.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One byte, or `None` at the end of the stream.
async fn read_byte(tcp: &TcpStream) -> std::io::Result<Option<u8>> {
    let mut byte = [0u8; 1];
    loop {
        tcp.readable().await?;
        match tcp.try_read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(byte[0])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_name_the_status_and_the_openai_code() {
        let body = br#"{"error": {"message": "m", "type": "invalid_request_error", "param": "top_k", "code": null}}"#;
        assert_eq!(cause_of(400, body), "400 invalid_request_error (param top_k): m");
        let no_miner = br#"{"error": {"type": "server_error", "message": "no miner: 3 tried at 12 s", "code": null}}"#;
        assert_eq!(cause_of(503, no_miner), "503 server_error: no miner: N tried at N s");
        assert_eq!(cause_of(502, b"<html>"), "502 no OpenAI error body");
    }

    #[test]
    fn every_invalid_body_is_invalid_and_the_normal_mix_covers_both_routes_and_modes() {
        for n in 0..10 {
            let (_, body) = invalid("m", n);
            let valid_chat = serde_json::from_str::<Value>(&body).is_ok_and(|b| {
                b["messages"].as_array().is_some_and(|m| !m.is_empty())
                    && b.as_object().is_some_and(|o| o.len() == 3)
                    && b["max_tokens"] == 8
            });
            assert!(!valid_chat, "{body}");
        }
        let mixes: std::collections::BTreeSet<(&str, bool)> =
            (0..8).map(|n| normal("m", n)).map(|(p, s, _)| (p, s)).collect();
        assert_eq!(mixes.len(), 4);
    }
}
