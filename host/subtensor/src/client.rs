//! [`SubtensorChain`]: the subxt client, its timeouts and the reads every part shares
//! (storage entries and runtime API calls at the finalized head, decoded by field name with the
//! metadata the node serves).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use assay_chain::{Error, Result};
use assay_keys::Hotkey;
use subxt::backend::LegacyBackend;
use subxt::client::OnlineClientAtBlock;
use subxt::ext::frame_decode::runtime_apis::IntoEncodableValues as ApiArgs;
use subxt::ext::frame_decode::storage::{IntoDecodableValues, IntoEncodableValues};
use subxt::ext::scale_decode::DecodeAsType;
use subxt::rpcs::RpcClient;
use subxt::rpcs::client::RpcClientT;
use subxt::{OnlineClient, SubstrateConfig};

use crate::network::Network;
use crate::rpc::{TransportFailures, Watched, connect_ws};
use crate::signer::HotkeySigner;

/// The client at one block.
pub(crate) type AtBlock = OnlineClientAtBlock<SubstrateConfig>;

/// How long the client waits for a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the first connection.
    pub connect: Duration,
    /// For any read (each chain method as a whole).
    pub request: Duration,
    /// For a submitted extrinsic to be in a block (in-block is enough).
    pub inclusion: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(20), request: Duration::from_secs(30), inclusion: Duration::from_secs(120) }
    }
}

/// Seconds since the Unix epoch (the drand round of a timelocked commit depends on it).
pub type Clock = fn() -> f64;

fn system_clock() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The subtensor chain behind assay's [`Chain`](assay_chain::Chain) trait.
pub struct SubtensorChain {
    pub(crate) client: OnlineClient<SubstrateConfig>,
    pub(crate) node: String,
    pub(crate) signer: Option<HotkeySigner>,
    pub(crate) timeouts: Timeouts,
    pub(crate) failures: TransportFailures,
    pub(crate) clock: Clock,
}

impl std::fmt::Debug for SubtensorChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubtensorChain").field("node", &self.node).field("signer", &self.signer).finish()
    }
}

impl SubtensorChain {
    /// Connects to `network`'s node, signing with `hotkey` (read-only without one: calls that
    /// sign refuse). Fails with [`Error::Unreachable`] when the node does not answer within
    /// the connect timeout.
    pub async fn connect(network: &Network, hotkey: Option<Hotkey>, timeouts: Timeouts) -> Result<Self> {
        let ws = connect_ws(network.url(), timeouts.connect, timeouts.request).await?;
        Self::over(ws, network.to_string(), hotkey, timeouts).await
    }

    /// A chain over any RPC client (tests: subxt-rpcs' mock client), named `node` in messages.
    pub async fn over(rpc: impl RpcClientT, node: String, hotkey: Option<Hotkey>, timeouts: Timeouts) -> Result<Self> {
        let failures = TransportFailures::default();
        let rpc = RpcClient::new(Watched::new(rpc, node.clone(), failures.clone()));
        // The legacy RPC methods: every subtensor node and chopsticks serve them, and they need
        // no background subscription.
        let backend = Arc::new(LegacyBackend::<SubstrateConfig>::builder().build(rpc));
        let before = failures.count();
        let client = tokio::time::timeout(timeouts.connect, OnlineClient::from_backend(backend))
            .await
            .map_err(|_| Error::Unreachable {
                node: node.clone(),
                reason: "no genesis hash within the timeout".into(),
            })?
            .map_err(|e| crate::error::from_subxt(&node, "reading the genesis hash", failures.count() > before, e))?;
        let signer = hotkey.map(HotkeySigner::new);
        Ok(Self { client, node, signer, timeouts, failures, clock: system_clock })
    }

    /// Replaces the wall clock (tests pin the drand round this way).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs `operation` under the request timeout; an error is `Unreachable` when the
    /// connection failed meanwhile or the time ran out.
    pub(crate) async fn bounded<T>(&self, what: &str, operation: impl Future<Output = Result<T>>) -> Result<T> {
        self.bounded_by(self.timeouts.request, what, operation).await
    }

    pub(crate) async fn bounded_by<T>(
        &self,
        limit: Duration,
        what: &str,
        operation: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, operation).await {
            Ok(result) => result,
            Err(_) => Err(Error::Unreachable {
                node: self.node.clone(),
                reason: format!("{what}: no answer within {limit:?}"),
            }),
        }
    }

    /// Maps a subxt error met while doing `what`, given the transport failure count before.
    pub(crate) fn failed(&self, what: &str, before: u64, error: impl std::fmt::Display) -> Error {
        crate::error::from_subxt(&self.node, what, self.failures.count() > before, error)
    }

    /// The client at the finalized head.
    pub(crate) async fn at_head(&self) -> Result<AtBlock> {
        let before = self.failures.count();
        self.client.at_current_block().await.map_err(|e| self.failed("reading the finalized head", before, e))
    }

    /// Reads a storage entry (its default when unset; `None` where it has neither a value nor
    /// a default, or the runtime has no such entry).
    pub(crate) async fn read<K: IntoEncodableValues + IntoDecodableValues, V: DecodeAsType>(
        &self,
        at: &AtBlock,
        pallet: &str,
        entry: &str,
        keys: K,
    ) -> Result<Option<V>> {
        if !has_storage(at, pallet, entry) {
            return Ok(None);
        }
        let what = format!("reading {pallet}.{entry}");
        let before = self.failures.count();
        let address = subxt::dynamic::storage::<K, V>(pallet, entry);
        let value = at.storage().try_fetch(address, keys).await.map_err(|e| self.failed(&what, before, e))?;
        value.map(|v| v.decode().map_err(|e| Error::Protocol(format!("{what}: {e}")))).transpose()
    }

    /// Like [`Self::read`], for an entry the runtime must have.
    pub(crate) async fn read_required<K: IntoEncodableValues + IntoDecodableValues, V: DecodeAsType>(
        &self,
        at: &AtBlock,
        pallet: &str,
        entry: &str,
        keys: K,
    ) -> Result<V> {
        self.read(at, pallet, entry, keys)
            .await?
            .ok_or_else(|| Error::Protocol(format!("the runtime has no {pallet}.{entry} (nor a default)")))
    }

    /// Calls a runtime API method.
    pub(crate) async fn call_api<A: ApiArgs, V: DecodeAsType>(
        &self,
        at: &AtBlock,
        api: &str,
        method: &str,
        args: A,
    ) -> Result<V> {
        let what = format!("calling {api}.{method}");
        let before = self.failures.count();
        let payload = subxt::dynamic::runtime_api_call::<A, V>(api, method, args);
        at.runtime_apis().call(payload).await.map_err(|e| self.failed(&what, before, e))
    }
}

/// Whether the runtime at `at` has the storage entry `pallet.entry`.
pub(crate) fn has_storage(at: &AtBlock, pallet: &str, entry: &str) -> bool {
    at.metadata_ref().pallet_by_name(pallet).and_then(|p| p.storage()).and_then(|s| s.entry_by_name(entry)).is_some()
}

/// Whether the runtime at `at` has the runtime API method `api.method`.
pub(crate) fn has_api(at: &AtBlock, api: &str, method: &str) -> bool {
    at.metadata_ref().runtime_api_trait_by_name(api).and_then(|a| a.method_by_name(method)).is_some()
}

/// Whether the runtime at `at` has the call `pallet.call`.
pub(crate) fn has_call(at: &AtBlock, pallet: &str, call: &str) -> bool {
    at.metadata_ref().pallet_by_name(pallet).and_then(|p| p.call_variant_by_name(call)).is_some()
}
