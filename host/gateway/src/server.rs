//! The gateway's listener: users' connections, each served over HTTP/1.1 by hyper.
//!
//! At most `max_connections` are open at once; past that a connection is answered 503
//! (OpenAI-style JSON, `Retry-After`) and closed, so a flood of connections costs bounded file
//! descriptors and the validator keeps enough to reach miners. Request headers must arrive
//! within `header_read_timeout_ms`, which also closes idle keep-alive connections. Each request
//! carries a [`Connection`] by which the request path closes the connection of a user who
//! stopped reading. Stopping stops accepting and lets connections finish the request in flight.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::counters::Tally;
use crate::error::ApiError;

/// Connections past the cap being answered 503 at once; past these, closed unanswered.
const REFUSING_AT_ONCE: usize = 64;
/// How long a refused connection has to send its request head.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);
/// A failed accept (most often: out of file descriptors) is retried after this pause.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// The kernel's send buffer of each connection.
    pub send_buffer: usize,
}

/// A user's connection as its requests see it.
#[derive(Debug, Clone)]
pub(crate) struct Connection(Arc<Notify>);

impl Connection {
    /// Closes the connection now, whatever it is doing (its user stopped reading).
    pub fn close_now(&self) {
        self.0.notify_one();
    }
}

/// An open connection's place under the cap; counted while it lives.
struct Open {
    _permit: OwnedSemaphorePermit,
    tally: Arc<Tally>,
}

impl Open {
    fn new(permit: OwnedSemaphorePermit, tally: Arc<Tally>) -> Self {
        Tally::bump(&tally.connections);
        Self { _permit: permit, tally }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        Tally::drop_one(&self.tally.connections);
    }
}

/// Accepts and serves users' connections until `stopped`, then waits for those open to finish
/// their request in flight (dropping the returned future closes them all at once).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tally: Arc<Tally>,
    mut stopped: watch::Receiver<bool>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = crate::until_stopped(&mut stopped) => break,
        };
        while connections.try_join_next().is_some() {}
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                warn!(error = %e, "accepting a user's connection failed");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        // Chunks go out as they come: no Nagle delay on streamed tokens.
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(limits.send_buffer);
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let open = Open::new(permit, tally.clone());
                connections.spawn(serve_one(tcp, app.clone(), limits.header_read_timeout, open, closing_rx.clone()));
            }
            Err(_) => {
                Tally::bump(&tally.connections_refused);
                refuse(tcp, &refusing, &mut connections);
            }
        }
    }
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it ends, is closed by its request path, or (once the gateway
/// stops) its request in flight is done.
async fn serve_one(
    tcp: TcpStream,
    app: Router,
    header_read_timeout: Duration,
    _open: Open,
    mut closing: watch::Receiver<bool>,
) {
    let close = Arc::new(Notify::new());
    let connection = Connection(close.clone());
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(connection.clone());
        app.clone().oneshot(request)
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(error = %e, "a user's connection ended with an error");
                }
                return;
            }
            () = close.notified() => return,
            () = crate::until_stopped(&mut closing), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Answers a connection past the cap with a 503 and closes it; past `REFUSING_AT_ONCE` of
/// those, closes it unanswered.
fn refuse(tcp: TcpStream, refusing: &Arc<Semaphore>, tasks: &mut JoinSet<()>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        debug!("a connection past the cap closed unanswered");
        return;
    };
    tasks.spawn(async move {
        let _permit = permit;
        let service = hyper::service::service_fn(|_: hyper::Request<Incoming>| async {
            let busy = ApiError::Overloaded { what: "too many connections are open".into(), retry_after_s: 1 };
            Ok::<_, Infallible>(busy.into_response())
        });
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(REFUSAL_TIMEOUT).keep_alive(false);
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT * 2, builder.serve_connection(TokioIo::new(tcp), service)).await;
    });
}
