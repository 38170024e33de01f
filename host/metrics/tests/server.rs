//! The `/metrics` server: scraped twice with reqwest, values move; a huge, a slow, a non-GET
//! and a stray request refused; stopping it frees the port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_metrics::prometheus_client::metrics::counter::Counter;
use assay_metrics::prometheus_client::registry::Registry;
use assay_metrics::{Limits, serve};

fn counted() -> (Counter, Arc<Registry>) {
    let mut registry = Registry::default();
    let counter = Counter::<u64>::default();
    registry.register("assay_test_things", "Things counted", counter.clone());
    let histogram = assay_metrics::seconds_histogram();
    histogram.observe(0.01);
    registry.register("assay_test_seconds", "Durations", histogram);
    (counter, Arc::new(registry))
}

/// One raw request, the whole answer (the server closes after it).
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // The server may answer (and close) before taking all of a huge request.
    let _ = stream.write_all(request);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn scrapes_move_and_bad_requests_are_refused() {
    let (counter, registry) = counted();
    let server = serve("127.0.0.1:0".parse().expect("addr"), registry, Limits::default()).expect("serves");
    let addr = server.local_addr();
    let url = format!("http://{addr}/metrics");
    let client = reqwest::Client::new();
    let first = client.get(&url).send().await.expect("scrape");
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], assay_metrics::CONTENT_TYPE);
    let first = first.text().await.expect("body");
    assert!(first.contains("assay_test_things_total 0"), "{first}");
    assert!(first.contains("assay_test_seconds_count 1"), "{first}");
    counter.inc_by(3);
    let second = client.get(&url).send().await.expect("scrape").text().await.expect("body");
    assert!(second.contains("assay_test_things_total 3"), "{second}");

    let stray = client.get(format!("http://{addr}/")).send().await.expect("answers");
    assert_eq!(stray.status(), 404);
    let post = client.post(&url).body("x").send().await.expect("answers");
    assert_eq!(post.status(), 405);

    let huge = tokio::task::spawn_blocking(move || {
        let mut request = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', 1 << 20));
        raw(addr, &request)
    });
    let huge = huge.await.expect("joined");
    assert!(huge.starts_with("HTTP/1.1 431"), "{huge:.80}");

    let slow = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).expect("connects");
        stream.write_all(b"GET /metr").expect("writes");
        let mut answer = String::new();
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let _ = stream.read_to_string(&mut answer);
        (answer, started.elapsed())
    });
    let (slow, took) = slow.await.expect("joined");
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
    assert!(took < Duration::from_secs(5), "a slow client is cut at the read timeout, took {took:?}");

    server.stop();
    assert!(TcpStream::connect(addr).is_err(), "stopped, nothing listens");
}

#[test]
fn connections_past_the_cap_are_closed_unanswered() {
    let (_, registry) = counted();
    let limits = Limits { max_connections: 2, read_timeout: Duration::from_secs(3), ..Limits::default() };
    let server = serve("127.0.0.1:0".parse().expect("addr"), registry, limits).expect("serves");
    let addr = server.local_addr();
    // Two idle connections hold both places.
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).expect("connects")).collect();
    std::thread::sleep(Duration::from_millis(200));
    let third = raw(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(third, "", "past the cap a connection is closed unanswered");
    drop(held);
    // Once they are cut at the read timeout, scrapes are answered again.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(raw(addr, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
}

/// A registry whose encoding panics the first `n` scrapes (a connection's thread panics).
#[derive(Debug)]
struct PanicsFirst(std::sync::atomic::AtomicUsize);

impl assay_metrics::prometheus_client::collector::Collector for PanicsFirst {
    fn encode(&self, _: assay_metrics::prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let left = self.0.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.0.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            panic!("encoding panics");
        }
        Ok(())
    }
}

#[test]
fn panicking_connections_give_their_place_back() {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(PanicsFirst(3.into())));
    let limits = Limits { max_connections: 1, ..Limits::default() };
    let server = serve("127.0.0.1:0".parse().expect("addr"), Arc::new(registry), limits).expect("serves");
    let addr = server.local_addr();
    for _ in 0..3 {
        // The thread panics: the connection closes unanswered.
        assert_eq!(raw(addr, b"GET /metrics HTTP/1.1\r\n\r\n"), "");
    }
    // With one place only, this is answered only if each panicking thread gave it back.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = raw(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the place leaked: {answer:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(1), "stopping waits only for the accept loop's poll");
}
