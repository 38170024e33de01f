//! The `/metrics` HTTP server: `GET /metrics` answers the registry's text, anything else a
//! 4xx. Plain threads, no async runtime. Bounded, as any endpoint reached from outside: a
//! request head of at most `max_request_bytes` (431 past it), read within `read_timeout` in all
//! (408 after it, however slowly the bytes trickle in), at most `max_connections` served at
//! once (others closed unanswered), one request per connection, nothing ever written. A
//! connection's place is released by a guard, even when its thread panics; the accept loop polls
//! a non-blocking listener and a stop flag, so stopping never depends on connecting to itself.
//!
//! What a slow client can do: hold one of the `max_connections` places for up to `read_timeout`
//! while sending its request, then for up to `write_timeout` per write the answer stalls on (a
//! client that reads a little now and then keeps its place longer, bounded by the answer's size).
//! With every place held, other scrapes are closed unanswered until places free up; nothing
//! else (the node, the gateway) waits on this server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Error, Result, Shared};

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest request head read; past it the answer is 431.
    pub max_request_bytes: usize,
    /// The time a client has to send its whole request head; past it the answer is 408.
    pub read_timeout: Duration,
    /// The time a client has to take the answer.
    pub write_timeout: Duration,
    /// Connections served at once; past them a connection is closed unanswered.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 8192,
            read_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            max_connections: 8,
        }
    }
}

/// A running server; dropping it (or [`MetricsServer::stop`]) stops it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The address it listens on (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the accept loop to end (requests in flight finish alone).
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        // The accept loop sees the flag within one poll interval.
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Serves `registry` on `addr` from a thread of its own.
pub fn serve(addr: SocketAddr, registry: Shared, limits: Limits) -> Result<MetricsServer> {
    let listener = TcpListener::bind(addr).map_err(|source| Error::Listen { addr, source })?;
    let local = listener.local_addr().map_err(|source| Error::Listen { addr, source })?;
    listener.set_nonblocking(true).map_err(|source| Error::Listen { addr, source })?;
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || accept_loop(listener, registry, limits, &flag))
        .map_err(Error::Thread)?;
    tracing::debug!(addr = %local, "serving metrics");
    Ok(MetricsServer { addr: local, stopped, thread: Some(thread) })
}

/// How often the accept loop looks at its stop flag when no connection comes.
const POLL: Duration = Duration::from_millis(50);

/// One connection's place among `max_connections`, given back when dropped (when its thread
/// ends, panicking or not, or when the thread could not be started).
struct Place(Arc<AtomicUsize>);

impl Place {
    /// A place, if fewer than `max` are taken.
    fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        if open.fetch_add(1, Ordering::SeqCst) >= max {
            open.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(open.clone()))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, registry: Shared, limits: Limits, stopped: &AtomicBool) {
    let open = Arc::new(AtomicUsize::new(0));
    while !stopped.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(_) => {
                // Out of descriptors, most often: a pause, not a busy loop.
                std::thread::sleep(POLL);
                continue;
            }
        };
        let Some(place) = Place::take(&open, limits.max_connections) else {
            continue; // dropped: closed unanswered
        };
        // Accepted sockets may inherit the listener's non-blocking mode; the answer uses timeouts.
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        let registry = registry.clone();
        // A failed spawn drops the closure, and the place with it.
        let _ = std::thread::Builder::new().name("metrics-conn".into()).spawn(move || {
            let _place = place;
            if let Err(e) = answer(stream, &registry, limits) {
                tracing::debug!(error = %e, "a metrics request failed");
            }
        });
    }
}

/// What a request head asked for.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    Metrics,
    TooLarge,
    TooSlow,
    NotGet,
    NotFound,
}

/// Reads one request head within the limits and says what it asked.
fn read_head(stream: &mut TcpStream, limits: Limits) -> std::io::Result<Asked> {
    let deadline = Instant::now() + limits.read_timeout;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > limits.max_request_bytes {
            return Ok(Asked::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Asked::TooSlow);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Ok(Asked::TooSlow);
            }
            Err(e) => return Err(e),
        }
    }
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = first_line.split(|b| *b == b' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    Ok(match (method, target) {
        (b"GET", b"/metrics") => Asked::Metrics,
        (b"GET", _) => Asked::NotFound,
        _ => Asked::NotGet,
    })
}

/// Answers one request and closes the connection.
fn answer(mut stream: TcpStream, registry: &Shared, limits: Limits) -> std::io::Result<()> {
    stream.set_write_timeout(Some(limits.write_timeout))?;
    let (status, content_type, body) = match read_head(&mut stream, limits)? {
        Asked::Metrics => ("200 OK", crate::CONTENT_TYPE, crate::encode(registry)),
        Asked::TooLarge => ("431 Request Header Fields Too Large", "text/plain", "request too large\n".into()),
        Asked::TooSlow => ("408 Request Timeout", "text/plain", "request too slow\n".into()),
        Asked::NotGet => ("405 Method Not Allowed", "text/plain", "read-only: GET /metrics\n".into()),
        Asked::NotFound => ("404 Not Found", "text/plain", "not found: GET /metrics\n".into()),
    };
    let allow = if status.starts_with("405") { "Allow: GET\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_given_back_when_its_thread_panics() {
        let open = Arc::new(AtomicUsize::new(0));
        let place = Place::take(&open, 1).expect("a place");
        assert!(Place::take(&open, 1).is_none(), "the only place is taken");
        let panicked = std::thread::spawn(move || {
            let _place = place;
            panic!("a connection's thread panics");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(open.load(Ordering::SeqCst), 0);
        assert!(Place::take(&open, 1).is_some());
    }
}
