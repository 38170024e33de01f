//! `HttpStore` against a tiny loopback file server (std only; stops on drop): objects, 404, a
//! size cap enforced on a body that never ends, 5xx then success, timeouts, refusals.
#![cfg(feature = "remote")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assay_publish::{Error, HttpSettings, HttpStore, Location, ObjectStore, ReadOptions, open_read};

/// What the server answers for one path.
#[derive(Clone)]
enum Answer {
    Body(Vec<u8>),
    /// A 503 for the first `n` requests, then the body.
    FailFirst(usize, Vec<u8>),
    Status(u16),
    /// A 200 without a length that never ends.
    Endless,
    /// A 200 announcing `length` bytes (sending none).
    Announces(u64),
    /// Accepts and never answers.
    Silent,
}

/// A file server on 127.0.0.1:0 answering from `answers`; counts requests per path.
struct Server {
    port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(answers: &[(&str, Answer)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("address").port();
        let answers: HashMap<String, Answer> = answers.iter().map(|(p, a)| (p.to_string(), a.clone())).collect();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (answers, seen) = (answers.clone(), seen.clone());
                std::thread::spawn(move || answer(stream, &answers, &seen));
            }
        });
        Self { port, hits, stop, thread: Some(thread) }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().expect("lock").get(path).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(mut stream: TcpStream, answers: &HashMap<String, Answer>, seen: &Mutex<HashMap<String, usize>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clones"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split(' ').nth(1).unwrap_or_default().to_string();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let count = {
        let mut seen = seen.lock().expect("lock");
        let count = seen.entry(path.clone()).or_insert(0);
        *count += 1;
        *count
    };
    let head = |status: &str, length: Option<u64>| {
        let length = length.map(|n| format!("Content-Length: {n}\r\n")).unwrap_or_default();
        format!("HTTP/1.1 {status}\r\n{length}Connection: close\r\n\r\n")
    };
    let _ = match answers.get(&path).cloned() {
        None => stream.write_all(head("404 Not Found", Some(0)).as_bytes()),
        Some(Answer::Body(body)) => {
            stream.write_all(head("200 OK", Some(body.len() as u64)).as_bytes()).and_then(|()| stream.write_all(&body))
        }
        Some(Answer::FailFirst(n, _)) if count <= n => stream.write_all(head("503 Busy", Some(0)).as_bytes()),
        Some(Answer::FailFirst(_, body)) => {
            stream.write_all(head("200 OK", Some(body.len() as u64)).as_bytes()).and_then(|()| stream.write_all(&body))
        }
        Some(Answer::Status(code)) => stream.write_all(head(&format!("{code} Status"), Some(0)).as_bytes()),
        Some(Answer::Endless) => {
            let _ = stream.write_all(head("200 OK", None).as_bytes());
            // Until the client hangs up (it must, at its cap).
            loop {
                if let Err(e) = stream.write_all(&[b'x'; 4096]) {
                    break Err(e);
                }
            }
        }
        Some(Answer::Announces(length)) => stream.write_all(head("200 OK", Some(length)).as_bytes()),
        Some(Answer::Silent) => {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        }
    };
}

fn settings(base_url: String) -> HttpSettings {
    HttpSettings {
        base_url,
        max_get_bytes: 1024,
        attempts: 3,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_millis(500),
    }
}

#[test]
fn gets_objects_under_the_prefix_and_none_on_404() {
    let server = Server::start(&[
        ("/pub/epochs/1/latest.json", Answer::Body(b"{\"epoch\":3}".to_vec())),
        ("/pub/odd%20key/a%23b", Answer::Body(b"encoded".to_vec())),
    ]);
    let store = HttpStore::open(settings(server.url("/pub/"))).expect("opens");
    assert_eq!(store.get("epochs/1/latest.json").expect("gets").as_deref(), Some(&b"{\"epoch\":3}"[..]));
    assert_eq!(store.get("epochs/1/4/summary.json").expect("a 404 is no object"), None);
    assert_eq!(server.hits("/pub/epochs/1/4/summary.json"), 1, "a 404 is not retried");
    assert_eq!(store.get("odd key/a#b").expect("gets").as_deref(), Some(&b"encoded"[..]), "parts are encoded");
    assert!(matches!(store.get("../etc/passwd"), Err(Error::BadKey(_))));
    let err = store.put("epochs/1/latest.json", b"{}").expect_err("read-only");
    assert!(matches!(err, Error::ReadOnly(_)), "{err}");
    assert_eq!(store.describe(), server.url("/pub/"));
}

#[test]
fn reads_stop_at_the_cap() {
    let server = Server::start(&[
        ("/at-cap", Answer::Body(vec![7; 1024])),
        ("/past-cap", Answer::Body(vec![7; 1025])),
        ("/endless", Answer::Endless),
        ("/announces", Answer::Announces(1 << 40)),
    ]);
    let store = HttpStore::open(settings(server.url(""))).expect("opens");
    assert_eq!(store.get("at-cap").expect("at the cap reads").map(|b| b.len()), Some(1024));
    for key in ["past-cap", "endless", "announces"] {
        let started = Instant::now();
        let err = store.get(key).expect_err("past the cap");
        assert!(matches!(&err, Error::TooLarge { limit: 1024, key: k } if k == key), "{key}: {err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{key}: stopped at the cap, not at the end");
        assert_eq!(server.hits(&format!("/{key}")), 1, "{key}: too large is not retried");
    }
}

#[test]
fn a_bounded_get_stops_at_its_own_limit() {
    let server = Server::start(&[
        ("/small", Answer::Body(vec![7; 100])),
        ("/endless", Answer::Endless),
        // Under the store's cap, past the caller's: refused on the length, never waited for.
        ("/announces", Answer::Announces(500)),
    ]);
    let store = HttpStore::open(settings(server.url(""))).expect("opens");
    assert_eq!(store.get_at_most("small", 100).expect("at the limit reads").map(|b| b.len()), Some(100));
    let err = store.get_at_most("small", 99).expect_err("past the limit");
    assert!(matches!(&err, Error::TooLarge { limit: 99, .. }), "{err}");
    for key in ["endless", "announces"] {
        let started = Instant::now();
        let err = store.get_at_most(key, 64).expect_err("past the limit");
        assert!(matches!(&err, Error::TooLarge { limit: 64, key: k } if k == key), "{key}: {err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{key}: stopped at the limit");
        assert_eq!(server.hits(&format!("/{key}")), 1, "{key}: too large is not retried");
    }
    let err = store.get_at_most("endless", 1 << 40).expect_err("the store's cap still holds");
    assert!(matches!(&err, Error::TooLarge { limit: 1024, .. }), "{err}");
    assert_eq!(store.get_at_most("missing", 64).expect("a 404 is no object"), None);
    assert!(matches!(store.get_at_most("a/../b", 64), Err(Error::BadKey(_))));
}

#[test]
fn server_errors_are_retried_with_backoff_then_given_up() {
    let server = Server::start(&[
        ("/flaky", Answer::FailFirst(2, b"finally".to_vec())),
        ("/down", Answer::Status(502)),
        ("/forbidden", Answer::Status(403)),
        ("/teapot", Answer::Status(418)),
    ]);
    let store = HttpStore::open(settings(server.url(""))).expect("opens");
    assert_eq!(store.get("flaky").expect("the third try answers").as_deref(), Some(&b"finally"[..]));
    assert_eq!(server.hits("/flaky"), 3);
    let err = store.get("down").expect_err("always 502");
    assert!(matches!(&err, Error::Store(m) if m.contains("HTTP 502") && m.contains("gave up after 3 tries")), "{err}");
    assert_eq!(server.hits("/down"), 3);
    assert!(matches!(store.get("forbidden"), Err(Error::Denied(_))));
    assert_eq!(server.hits("/forbidden"), 1, "a refusal is not retried");
    assert!(matches!(store.get("teapot"), Err(Error::Store(m)) if m.contains("HTTP 418")));
    assert_eq!(server.hits("/teapot"), 1);
}

#[test]
fn a_silent_or_absent_server_times_out_within_bounds() {
    let server = Server::start(&[("/silent", Answer::Silent)]);
    let store = HttpStore::open(settings(server.url(""))).expect("opens");
    let started = Instant::now();
    let err = store.get("silent").expect_err("times out");
    assert!(matches!(&err, Error::Store(m) if m.contains("gave up after 3 tries")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "3 tries of 0.5 s and short waits");
    assert_eq!(server.hits("/silent"), 3);

    let port = server.port;
    drop(server);
    let closed = HttpStore::open(settings(format!("http://127.0.0.1:{port}"))).expect("opens");
    let err = closed.get("anything").expect_err("nothing listens");
    assert!(matches!(&err, Error::Store(m) if m.contains("gave up after 3 tries")), "{err}");
}

#[test]
fn only_https_or_loopback_http_opens() {
    for url in ["http://example.com/pub", "ftp://127.0.0.1/pub", "not a url"] {
        let err = HttpStore::open(settings(url.to_string())).err().expect("refused");
        assert!(matches!(err, Error::BadLocation { .. }), "{url}: {err}");
    }
    HttpStore::open(settings("https://pub-0123.r2.dev/validators/alice".into())).expect("https opens");
}

#[test]
fn open_read_opens_a_url_location_read_only() {
    let server = Server::start(&[("/p/epochs/1/latest.json", Answer::Body(b"{}".to_vec()))]);
    let location = Location::parse(&server.url("/p")).expect("parses");
    let store = open_read(&location, &ReadOptions::default()).expect("opens");
    assert_eq!(store.get("epochs/1/latest.json").expect("gets").as_deref(), Some(&b"{}"[..]));
    assert!(matches!(store.put("epochs/1/latest.json", b"{}"), Err(Error::ReadOnly(_))));
    // From async code too (a watchtower's): the store is used and dropped inside a task.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let url = server.url("/p");
    let got = runtime.block_on(async move {
        tokio::spawn(async move {
            let store = open_read(&Location::parse(&url).expect("parses"), &ReadOptions::default()).expect("opens");
            store.get("epochs/1/latest.json").expect("gets")
        })
        .await
        .expect("no panic")
    });
    assert_eq!(got.as_deref(), Some(&b"{}"[..]));
}
