//! Users who misbehave, in front of stub miners (`common`): who stop reading, never finish
//! their headers or their body, or open too many connections. Each test names the issue-10 item
//! it covers.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use assay_ledger::Outcome;
use common::{ENDLESS, KEY, MODEL, NO_DONE, count, start};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// A user who sends a streamed request on a socket with a small receive buffer, then reads one
/// byte a second until the gateway closes the connection.
async fn slow_reader(address: SocketAddr, body: &Value) -> JoinHandle<()> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("a small receive buffer");
    let mut stream = socket.connect(address).await.expect("connects");
    let body = body.to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("sends the head");
    stream.write_all(body.as_bytes()).await.expect("sends the body");
    tokio::spawn(async move {
        let mut byte = [0u8; 1];
        while let Ok(1) = stream.read(&mut byte).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Item 1: sixteen users stop reading their streams (one byte a second); the miner's sixteen
/// slots come back after the idle timeout, a normal request is served well before the miner's
/// timeout, and the stalled exchanges are the users' (`cancelled`), not the miner's (before the
/// fix they were recorded as `timeout` once the miner's timeout ran out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_who_stop_reading_free_the_miners_slots_and_are_not_charged_to_the_miner() {
    let miner_timeout = Duration::from_secs(10);
    let settings = json!({"stream_idle_timeout_ms": 300, "miner_timeout_s": miner_timeout.as_secs_f64()});
    let mut net = start(&[16], settings).await;
    let endless = json!({"model": MODEL, "messages": [{"role": "user", "content": ENDLESS}], "stream": true,
        "max_tokens": 4096});
    let started = Instant::now();
    let mut readers = Vec::new();
    for _ in 0..16 {
        readers.push(slow_reader(net.address, &endless).await);
    }
    net.wait_until("the miner serves the 16 streams", |n| n.stubs[0].in_flight() == 16).await;

    let deadline = started + miner_timeout - Duration::from_secs(2);
    loop {
        let response = net.chat("hello", false).send().await.expect("sends");
        let status = response.status();
        if status == 200 {
            break;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(Instant::now() < deadline, "a normal request was never served while 16 users stalled: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.wait_until("the miner's stalled requests are cancelled", |n| n.stubs[0].in_flight() == 0).await;
    for reader in readers {
        reader.abort();
    }
    let records = net.records().await;
    assert_eq!(count(&records, Outcome::Timeout), 0, "stalled users were charged to the miner: {records:?}");
    assert_eq!(count(&records, Outcome::Cancelled), 16, "{records:?}");
    assert_eq!(count(&records, Outcome::Ok), 1, "{records:?}");
    assert_eq!(records.len(), 17, "{records:?}");
}

/// Sends `head` (and nothing more) on a fresh connection; returns it.
async fn send_raw(address: SocketAddr, head: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connects");
    stream.write_all(head.as_bytes()).await.expect("sends");
    stream
}

/// Whether the gateway closes `stream` within `within` (an end of file or a reset), reading
/// and dropping whatever it sends first.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut sink)).await.is_ok()
}

/// Item 4: a connection whose headers never end, and one that sends nothing, are closed after
/// `header_read_timeout_ms`; a body that never arrives gets a 408 after `body_read_timeout_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_bodies_are_timed_out() {
    let net = start(&[4], json!({"header_read_timeout_ms": 300, "body_read_timeout_ms": 300})).await;
    let mut partial = send_raw(net.address, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n").await;
    let mut silent = send_raw(net.address, "").await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"model\":"
    );
    let mut slow_body = send_raw(net.address, &head).await;
    assert!(closed_within(&mut partial, Duration::from_secs(3)).await, "a head that never ends kept its connection");
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await, "a silent connection was kept");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), slow_body.read(&mut answer))
        .await
        .expect("a body that never arrives is answered")
        .expect("reads");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    // Still serving.
    assert_eq!(net.chat("hello", false).send().await.expect("sends").status(), 200);
}

/// A keep-alive connection that has been served once (so the gateway surely accepted it).
async fn served_connection(address: SocketAddr) -> tokio::net::TcpStream {
    let mut stream = send_raw(address, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !seen.ends_with(b"}") {
        let n = stream.read(&mut buffer).await.expect("reads");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    stream
}

/// Item 4: past `max_connections` a connection gets a 503 in the OpenAI format with
/// `Retry-After` (not a hung socket, nor a descriptor the validator needs for miners); once
/// one closes, users are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_get_a_503_and_the_gateway_keeps_serving() {
    let net = start(&[4], json!({"max_connections": 4})).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(served_connection(net.address).await);
    }
    let refused = net.chat("hello", false).send().await.expect("answered");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
    let body: Value = refused.json().await.expect("an OpenAI-style error");
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert_eq!(net.gateway().counters().connections_refused, 1);

    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while net.chat("hello", false).send().await.expect("answered").status() != 200 {
        assert!(Instant::now() < deadline, "a closed connection never gave its place back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ends_without_done_is_an_error_for_the_user_not_a_whole_answer() {
    let mut net = start(&[4], json!({"max_attempts": 1})).await;
    let response = net.chat(NO_DONE, true).send().await.expect("sends");
    assert_eq!(response.status(), 200);
    let read = response.bytes().await;
    // The held-back end (the evidence and the finish reason) never came: the user's stream is
    // cut with an error, so no client takes the shortened answer for a whole one.
    match read {
        Ok(body) => panic!("the stream ended cleanly: {}", String::from_utf8_lossy(&body)),
        Err(e) => assert!(e.is_body() || e.is_decode(), "{e}"),
    }
    let records = net.records().await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_ne!(records[0].outcome, Outcome::Ok, "{records:?}");
}
