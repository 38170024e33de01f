//! The JSON-RPC connection to a subtensor node: a WebSocket client that reconnects with backoff,
//! inside [`Watched`], which bounds every answer, counts the calls the connection failed, and
//! logs when the node is lost and when it answers again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use subxt::ext::futures::StreamExt;
use subxt_rpcs::Error as RpcError;
use subxt_rpcs::client::reconnecting_rpc_client::ExponentialBackoff;
use subxt_rpcs::client::{RawRpcFuture, RawRpcSubscription, RawValue, ReconnectingRpcClient, RpcClientT};
use tracing::{info, warn};

/// The largest answer taken from a node (a metagraph of 4096 neurons is well under 2 MiB, the
/// runtime's metadata about 300 KiB; both travel as hex).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Counts calls that failed for the connection's sake, shared with the chain client, which
/// tells "the node is unreachable" from "the node answered something unusable" by whether this
/// count moved while an operation ran.
#[derive(Debug, Clone, Default)]
pub struct TransportFailures(Arc<AtomicU64>);

impl TransportFailures {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// An RPC client that bounds answers, counts transport failures and logs losses and recoveries.
pub struct Watched<R> {
    inner: R,
    node: String,
    failures: TransportFailures,
    lost: Arc<AtomicBool>,
}

impl<R: RpcClientT> Watched<R> {
    pub fn new(inner: R, node: String, failures: TransportFailures) -> Self {
        Self { inner, node, failures, lost: Arc::new(AtomicBool::new(false)) }
    }

    /// Notes what a call's outcome says about the connection.
    fn observe<T>(&self, result: &Result<T, RpcError>) {
        match result {
            Err(e @ (RpcError::Client(_) | RpcError::DisconnectedWillReconnect(_))) => {
                self.failures.note();
                if !self.lost.swap(true, Ordering::Relaxed) {
                    warn!(node = %self.node, error = %e, "lost the chain node; reconnecting with backoff");
                }
            }
            Ok(_) if self.lost.swap(false, Ordering::Relaxed) => {
                info!(node = %self.node, "the chain node answers again");
            }
            _ => {}
        }
    }
}

/// A call made while the connection is down fails at once: subxt retries
/// `DisconnectedWillReconnect` immediately and in a loop (a busy spin until the node is back),
/// so it is handed on as a plain connection failure, and the caller tries again later.
fn fail_fast(error: RpcError) -> RpcError {
    match error {
        RpcError::DisconnectedWillReconnect(reason) => {
            RpcError::Client(format!("connection lost ({reason}); reconnecting").into())
        }
        other => other,
    }
}

fn too_large(bytes: usize) -> RpcError {
    RpcError::Deserialization(serde::de::Error::custom(format!(
        "an answer of {bytes} bytes is over the {MAX_RESPONSE_BYTES}-byte limit"
    )))
}

impl<R: RpcClientT> RpcClientT for Watched<R> {
    fn request_raw<'a>(&'a self, method: &'a str, params: Option<Box<RawValue>>) -> RawRpcFuture<'a, Box<RawValue>> {
        Box::pin(async move {
            let result = self.inner.request_raw(method, params).await.map_err(fail_fast);
            self.observe(&result);
            let answer = result?;
            match answer.get().len() {
                n if n > MAX_RESPONSE_BYTES => Err(too_large(n)),
                _ => Ok(answer),
            }
        })
    }

    fn subscribe_raw<'a>(
        &'a self,
        sub: &'a str,
        params: Option<Box<RawValue>>,
        unsub: &'a str,
    ) -> RawRpcFuture<'a, RawRpcSubscription> {
        Box::pin(async move {
            let result = self.inner.subscribe_raw(sub, params, unsub).await.map_err(fail_fast);
            self.observe(&result);
            let subscription = result?;
            let stream = subscription.stream.map(|item| match item {
                Ok(v) if v.get().len() > MAX_RESPONSE_BYTES => Err(too_large(v.get().len())),
                other => other.map_err(fail_fast),
            });
            Ok(RawRpcSubscription { stream: Box::pin(stream), id: subscription.id })
        })
    }
}

/// Opens a reconnecting WebSocket client to `url`: answers bounded, each request under
/// `request_timeout`, lost connections retried with exponential backoff (0.2 s doubling to
/// 30 s, forever); the first connection must succeed within `connect_timeout`.
pub async fn connect_ws(
    url: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<ReconnectingRpcClient, assay_chain::Error> {
    let unreachable = |reason: String| assay_chain::Error::Unreachable { node: url.to_string(), reason };
    let max = u32::try_from(MAX_RESPONSE_BYTES).unwrap_or(u32::MAX);
    let builder = ReconnectingRpcClient::builder()
        .retry_policy(ExponentialBackoff::from_millis(2).factor(100).max_delay(Duration::from_secs(30)))
        .max_response_size(max)
        .request_timeout(request_timeout)
        .connection_timeout(connect_timeout);
    match tokio::time::timeout(connect_timeout, builder.build(url)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no connection within {connect_timeout:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use subxt_rpcs::client::MockRpcClient;
    use subxt_rpcs::client::mock_rpc_client::Json;

    use super::*;

    #[tokio::test]
    async fn answers_are_bounded_and_transport_failures_counted() {
        let mock = MockRpcClient::builder()
            .method_handler("big", async |_| Json("x".repeat(MAX_RESPONSE_BYTES)))
            .method_handler("small", async |_| Json(1))
            .method_handler("lost", async |_| {
                Err::<Json<u8>, _>(RpcError::DisconnectedWillReconnect("socket closed".into()))
            })
            .build();
        let failures = TransportFailures::default();
        let rpc = Watched::new(mock, "test".into(), failures.clone());
        let e = rpc.request_raw("big", None).await.expect_err("too large");
        assert!(e.to_string().contains("limit"), "{e}");
        assert_eq!(failures.count(), 0, "an oversized answer is the node's fault, not the connection's");
        assert_eq!(rpc.request_raw("small", None).await.expect("answers").get(), "1");
        let e = rpc.request_raw("lost", None).await.expect_err("lost");
        assert!(matches!(e, RpcError::Client(_)), "handed on as a plain failure, not retried in a loop: {e}");
        assert_eq!(failures.count(), 1);
        assert!(rpc.lost.load(Ordering::Relaxed));
        rpc.request_raw("small", None).await.expect("answers again");
        assert!(!rpc.lost.load(Ordering::Relaxed));
    }
}
