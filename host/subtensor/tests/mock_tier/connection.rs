//! A node that is not there, that stops answering, or that fails and comes back: every call
//! errors within its timeout (no hang), with `Error::Unreachable`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use assay_chain::{Chain, Error};
use assay_subtensor::{Network, SubtensorChain, Timeouts};
use subxt_rpcs::client::{RawRpcFuture, RawRpcSubscription, RawValue, RpcClientT};

use crate::node::{MockNode, quick};

const ANSWERS: u8 = 0;
const FAILS: u8 = 1;
const HANGS: u8 = 2;

/// The mock node behind a switch: answering, failing like a lost connection, or silent.
struct Switched {
    node: subxt_rpcs::client::MockRpcClient,
    mode: Arc<AtomicU8>,
}

fn lost() -> subxt_rpcs::Error {
    subxt_rpcs::Error::Client(Box::new(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset")))
}

impl RpcClientT for Switched {
    fn request_raw<'a>(&'a self, method: &'a str, params: Option<Box<RawValue>>) -> RawRpcFuture<'a, Box<RawValue>> {
        match self.mode.load(Ordering::SeqCst) {
            ANSWERS => self.node.request_raw(method, params),
            FAILS => Box::pin(async { Err(lost()) }),
            _ => Box::pin(std::future::pending()),
        }
    }

    fn subscribe_raw<'a>(
        &'a self,
        sub: &'a str,
        params: Option<Box<RawValue>>,
        unsub: &'a str,
    ) -> RawRpcFuture<'a, RawRpcSubscription> {
        match self.mode.load(Ordering::SeqCst) {
            ANSWERS => self.node.subscribe_raw(sub, params, unsub),
            FAILS => Box::pin(async { Err(lost()) }),
            _ => Box::pin(std::future::pending()),
        }
    }
}

fn short() -> Timeouts {
    let t = Duration::from_millis(300);
    Timeouts { connect: t, request: t, inclusion: t }
}

#[tokio::test]
async fn a_node_that_goes_away_errors_in_time_and_is_used_again_when_back() {
    let node = MockNode::new(&["tempo", "blocks_since_last_step"]);
    let mode = Arc::new(AtomicU8::new(ANSWERS));
    let rpc = Switched { node: node.client(), mode: mode.clone() };
    let chain = SubtensorChain::over(rpc, "switched node".into(), None, short()).await.expect("connects");
    assert_eq!(chain.current_block().await.expect("answers"), 1000);

    for (state, name) in [(FAILS, "failing"), (HANGS, "silent")] {
        mode.store(state, Ordering::SeqCst);
        let started = Instant::now();
        let e = chain.metagraph(3).await.expect_err("the node is gone");
        assert!(matches!(e, Error::Unreachable { .. }), "{name}: {e}");
        let e = chain.epochs(3).await.expect_err("the node is gone");
        assert!(matches!(e, Error::Unreachable { .. }), "{name}: {e}");
        assert!(started.elapsed() < Duration::from_secs(3), "{name}: errors within the timeouts");
    }
    mode.store(ANSWERS, Ordering::SeqCst);
    assert_eq!(chain.current_block().await.expect("answers again"), 1000);
}

#[tokio::test]
async fn a_silent_node_is_unreachable_at_connection() {
    let node = MockNode::new(&[]);
    let rpc = Switched { node: node.client(), mode: Arc::new(AtomicU8::new(HANGS)) };
    let started = Instant::now();
    let e = SubtensorChain::over(rpc, "silent node".into(), None, short()).await.expect_err("no answer");
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn no_node_at_the_address_is_unreachable() {
    // A port nothing listens on, and one that accepts TCP but never speaks WebSocket.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds").local_addr().expect("addr");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let silent_addr = silent.local_addr().expect("addr");
    for addr in [closed, silent_addr] {
        let network: Network = format!("ws://{addr}").parse().expect("an address");
        let started = Instant::now();
        let e = SubtensorChain::connect(&network, None, short()).await.expect_err("nothing there");
        assert!(matches!(e, Error::Unreachable { .. }), "{addr}: {e}");
        assert!(started.elapsed() < Duration::from_secs(3), "{addr}: within the connect timeout");
    }
    drop(silent);
}

#[tokio::test]
async fn describes_itself() {
    let chain = MockNode::new(&[]).chain(None).await;
    assert_eq!(chain.describe(), "subtensor at mock node");
    let _ = quick();
}
