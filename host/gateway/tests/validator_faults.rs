//! The validator's own faults are never charged to a miner (issue 10, item 4). With every file
//! descriptor of the process taken (what a flood of connections does to a gateway without a
//! cap), the requests the gateway cannot send to a miner are answered 503, recorded against no
//! miner, and leave its circuit closed. A test binary of its own: it exhausts its process's
//! file descriptors.

mod common;

use std::fs::File;
use std::net::SocketAddr;

use assay_ledger::Outcome;
use common::{KEY, MODEL, StubOptions, start_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens `/dev/null` until the process may open no more file; `None` if the limit is too high
/// to reach.
fn take_every_descriptor() -> Option<Vec<File>> {
    let mut taken = Vec::new();
    while taken.len() < 1 << 22 {
        match File::open("/dev/null") {
            Ok(file) => taken.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return Some(taken),
            Err(e) => panic!("opening /dev/null: {e}"),
        }
    }
    None
}

/// A user's keep-alive connection, opened before the descriptors run out.
struct User {
    stream: TcpStream,
    request: String,
}

impl User {
    async fn connect(address: SocketAddr) -> Self {
        let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}).to_string();
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {KEY}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        Self { stream: TcpStream::connect(address).await.expect("connects"), request }
    }

    /// Sends the request and reads the answer: its status and its JSON body.
    async fn ask(&mut self) -> (u16, Value) {
        self.stream.write_all(self.request.as_bytes()).await.expect("sends");
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        let (head_end, length) = loop {
            let n = self.stream.read(&mut buffer).await.expect("reads");
            assert!(n > 0, "the gateway closed the user's connection");
            seen.extend_from_slice(&buffer[..n]);
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .expect("a content length");
                break (end + 4, length);
            }
        };
        while seen.len() < head_end + length {
            let n = self.stream.read(&mut buffer).await.expect("reads");
            assert!(n > 0, "the gateway closed the user's connection");
            seen.extend_from_slice(&buffer[..n]);
        }
        let status = String::from_utf8_lossy(&seen[9..12]).parse().expect("a status");
        (status, serde_json::from_slice(&seen[head_end..head_end + length]).expect("a JSON body"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_out_of_file_descriptors_charges_no_miner() {
    // Every request to the stub needs a new connection; no probe runs during the test.
    let stub = StubOptions { close_connections: true, ..StubOptions::capacity(4) };
    let settings = json!({"health_interval_ms": 60_000, "max_attempts": 1});
    let mut net = start_with(&[stub], settings, None).await;
    let mut user = User::connect(net.address).await;
    assert_eq!(user.ask().await.0, 200);

    let Some(taken) = take_every_descriptor() else {
        eprintln!("skipped: the file limit is too high to exhaust");
        return;
    };
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(user.ask().await);
    }
    drop(taken);

    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["error"]["code"], "overloaded", "{body}");
    }
    let miner = &net.gateway().miners()[0];
    assert!(!miner.circuit_open, "the validator's lack of descriptors opened the miner's circuit");
    assert_eq!(net.gateway().counters().validator_faults, 3);
    assert_eq!(user.ask().await.0, 200, "served again once descriptors are back");
    let records = net.records().await;
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Ok, Outcome::Ok], "only the served requests are recorded: {records:?}");
}
