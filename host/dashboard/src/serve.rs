//! The dashboard's accept loop: HTTP/1 on a listener, at most [`Limits::max_connections`] at
//! once (past that a connection is closed unanswered), headers read within
//! [`Limits::header_read_timeout`] and at most 16 KiB buffered, each connection closed after
//! [`Limits::connection_lifetime`] (a polling page simply reconnects).

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::Source;

/// How much the dashboard's server takes from its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub connection_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 32,
            header_read_timeout: Duration::from_secs(5),
            connection_lifetime: Duration::from_secs(60),
        }
    }
}

/// The most bytes of a request buffered (its headers: the dashboard reads no body).
const MAX_BUF_BYTES: usize = 16 * 1024;

/// Serves the dashboard of `source` on `listener` until `stopped` turns true (or its sender is
/// dropped); open connections are then dropped.
pub async fn serve(listener: TcpListener, source: Arc<dyn Source>, limits: Limits, mut stopped: watch::Receiver<bool>) {
    let app = crate::app(source);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|s| *s) => break,
        };
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "the dashboard could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "the dashboard is at its connection limit; closing a new one");
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_BUF_BYTES);
            let connection = builder.serve_connection(TokioIo::new(tcp), service);
            let _ = tokio::time::timeout(limits.connection_lifetime, connection).await;
        });
    }
    connections.shutdown().await;
}

/// Binds the dashboard's listener at `addr` (`127.0.0.1:8090`; port 0 for any free one).
pub async fn bind(addr: &str) -> crate::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|source| crate::Error::Bind { addr: addr.to_string(), source })
}
