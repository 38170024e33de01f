//! Serving the miner's routes on a socket, within bounds: at most `max_connections` at once (past
//! it no more are accepted until one closes; the kernel's backlog holds the rest), and every
//! connection must send a request's headers within `header_read_timeout`, which also closes idle
//! keep-alive connections. Bodies are bounded by the routes ([`super::app`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::{MinerState, app};

/// Connections in flight get this long to finish when serving stops.
const GRACE: Duration = Duration::from_secs(10);
/// After a failed accept (out of file descriptors), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `state`'s routes on `listener` until `shutdown` resolves, then lets connections finish
/// (up to 10 s).
pub async fn serve(
    listener: TcpListener,
    state: MinerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = &state.inner.settings;
    let (max, header_timeout) = (settings.max_connections.max(1), settings.header_read_timeout);
    let app = app(state);
    let connections = Arc::new(Semaphore::new(max));
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(connection(tcp, app.clone(), header_timeout, permit, stopped.clone()));
    }
    let _ = stop.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(GRACE, connections.acquire_many(all)).await;
    Ok(())
}

/// One connection, holding its `permit` until it closes.
async fn connection(
    tcp: TcpStream,
    app: axum::Router,
    header_timeout: Duration,
    permit: OwnedSemaphorePermit,
    mut stopped: watch::Receiver<bool>,
) {
    let _permit = permit;
    // Streamed tokens go out at once, without Nagle's delay.
    let _ = tcp.set_nodelay(true);
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app));
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        }
        () = until_stopped(&mut stopped) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Resolves once serving stops (the guard is dropped here, keeping callers' futures `Send`).
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await.map(|_| ());
}
