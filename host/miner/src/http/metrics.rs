//! The reference miner's Prometheus families (`assay miner --metrics-addr`, docs/metrics.md):
//! requests by route and status (counted around every route, refusals included), openings
//! served, and the commitment store's size read at scrape time. Routes are the four served,
//! anything else `other`, so labels stay few whatever clients send.

use assay_metrics::prometheus_client::collector::Collector;
use assay_metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use assay_metrics::prometheus_client::metrics::counter::Counter;
use assay_metrics::prometheus_client::metrics::family::Family;
use assay_metrics::prometheus_client::registry::Registry;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::MinerState;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MinerMetrics {
    requests: Family<RouteStatus, Counter>,
    openings: Counter,
}

impl MinerMetrics {
    pub fn opened(&self) {
        self.openings.inc();
    }
}

/// Counts each request by route and the status it was answered with.
pub(crate) async fn count_requests(State(state): State<MinerState>, request: Request, next: Next) -> Response {
    let route = match request.uri().path() {
        "/assay/v1/info" => "info",
        "/assay/v1/open" => "open",
        "/assay/v1/consensus/commit" => "commit",
        "/assay/v1/consensus/reveal" => "reveal",
        "/v1/chat/completions" => "chat",
        "/v1/completions" => "completions",
        _ => "other",
    };
    let response = next.run(request).await;
    let labels = RouteStatus { route, status: response.status().as_u16() };
    state.inner.metrics.requests.get_or_create(&labels).inc();
    response
}

/// The store's size, read at each scrape.
struct StoreSize(MinerState);

impl std::fmt::Debug for StoreSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSize")
    }
}

impl Collector for StoreSize {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let store = &self.0.inner.store;
        assay_metrics::gauge(
            &mut encoder,
            "assay_miner_store_bytes",
            "Bytes of hidden states kept for openings",
            store.bytes() as f64,
        )?;
        assay_metrics::gauge(&mut encoder, "assay_miner_store_commitments", "Commitments kept", store.len() as f64)
    }
}

impl MinerState {
    /// The registry `--metrics-addr` serves: requests, openings, the store's size.
    pub fn metrics_registry(&self) -> Registry {
        let mut registry = Registry::default();
        let metrics = &self.inner.metrics;
        registry.register("assay_miner_requests", "Requests by route and HTTP status", metrics.requests.clone());
        registry.register("assay_miner_openings", "Openings served", metrics.openings.clone());
        registry.register_collector(Box::new(StoreSize(self.clone())));
        registry
    }
}
