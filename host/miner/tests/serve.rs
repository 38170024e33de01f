//! The reference miner on a real socket: a client that sends its headers or its body too slowly
//! is cut off, and past its connection cap the miner accepts no more until one closes.

use std::time::{Duration, Instant};

use assay_keys::{Hotkey, Scheme};
use assay_miner::http::{MinerSettings, MinerState, serve};
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Running {
    _dir: tempfile::TempDir,
    address: std::net::SocketAddr,
}

async fn start(settings: MinerSettings) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &TinySpec::default(), None).expect("writes");
    let engine = Engine::load(dir.path()).expect("loads");
    let tokenizer = ChatTokenizer::load(dir.path()).expect("tokenizer");
    let hotkey = Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key");
    let state = MinerState::new(engine, tokenizer, hotkey, settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(serve(listener, state, std::future::pending()));
    Running { _dir: dir, address }
}

/// Reads until the server closes the connection or `within` passes; `None` when it did not close.
async fn read_until_closed(socket: &mut TcpStream, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// `GET /assay/v1/info` on a new connection, answered within `within` or `None`.
async fn info(address: std::net::SocketAddr, within: Duration) -> Option<String> {
    let attempt = async {
        let mut socket = TcpStream::connect(address).await.ok()?;
        socket.write_all(b"GET /assay/v1/info HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.ok()?;
        read_until_closed(&mut socket, within).await
    };
    tokio::time::timeout(within, attempt).await.ok().flatten().filter(|r| r.starts_with("HTTP/1.1 200"))
}

fn settings() -> MinerSettings {
    MinerSettings {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..MinerSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let running = start(settings()).await;
    let mut socket = TcpStream::connect(running.address).await.expect("connects");
    socket.write_all(b"GET /assay/v1/info HTTP/1.1\r\nhost: x\r\n").await.expect("writes");
    let started = Instant::now();
    assert!(read_until_closed(&mut socket, Duration::from_secs(3)).await.is_some(), "the connection stayed open");
    assert!(started.elapsed() >= Duration::from_millis(250), "closed before the timeout: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408() {
    let running = start(settings()).await;
    let mut socket = TcpStream::connect(running.address).await.expect("connects");
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\":";
    socket.write_all(head.as_bytes()).await.expect("writes");
    let answer = read_until_closed(&mut socket, Duration::from_secs(3)).await.expect("the server answered in time");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\""), "OpenAI-style error JSON: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_connection_cap_the_miner_accepts_no_more_until_one_closes() {
    let running = start(MinerSettings {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(30),
        ..MinerSettings::default()
    })
    .await;
    assert!(info(running.address, Duration::from_secs(3)).await.is_some(), "served under the cap");
    let idle: Vec<TcpStream> = vec![
        TcpStream::connect(running.address).await.expect("connects"),
        TcpStream::connect(running.address).await.expect("connects"),
    ];
    // Let the server take both before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(info(running.address, Duration::from_millis(500)).await.is_none(), "served past the connection cap");
    drop(idle);
    assert!(info(running.address, Duration::from_secs(3)).await.is_some(), "served once connections closed");
}
