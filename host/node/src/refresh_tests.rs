//! The view refresher: a chain that cannot be read leaves the last view serving, with the
//! error in the status, and the view follows the chain again once it can be read.

use std::sync::atomic::{AtomicBool, Ordering};

use assay_chain::{Axon, Commitment, Epochs, Metagraph, WeightsCall};

use super::*;

/// A chain whose reads fail while `down`, and whose metagraph lists `neurons` neurons.
struct Switchable {
    down: AtomicBool,
    neurons: std::sync::atomic::AtomicU16,
}

#[async_trait::async_trait]
impl Chain for Switchable {
    async fn current_block(&self) -> assay_chain::Result<u64> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(assay_chain::Error::Unreachable { node: "test".into(), reason: "down".into() }),
            false => Ok(7),
        }
    }
    async fn metagraph(&self, netuid: u16) -> assay_chain::Result<Metagraph> {
        let n = self.neurons.load(Ordering::SeqCst);
        let neurons = (0..n)
            .map(|uid| assay_chain::Neuron {
                uid,
                hotkey: format!("hk{uid}"),
                stake: 0,
                validator_permit: false,
                axon: None,
                registered_at_block: 0,
                coldkey: None,
                last_update: 0,
                capacities: Default::default(),
            })
            .collect();
        Ok(Metagraph { netuid, neurons, owner_hotkey: None })
    }
    async fn set_weights(&self, _: &str, _: &WeightsCall) -> assay_chain::Result<u64> {
        unreachable!("not used")
    }
    async fn weights_accepted_since(&self, _: &str, _: &WeightsCall, _: u64) -> assay_chain::Result<Option<u64>> {
        unreachable!("not used")
    }
    async fn epochs(&self, _: u16) -> assay_chain::Result<Option<Epochs>> {
        Ok(None)
    }
    async fn serve_axon(&self, _: &str, _: u16, _: &Axon) -> assay_chain::Result<u64> {
        unreachable!("not used")
    }
    async fn set_commitment(&self, _: &str, _: u16, _: &[String]) -> assay_chain::Result<u64> {
        unreachable!("not used")
    }
    async fn commitment(&self, _: u16, _: &str) -> assay_chain::Result<Option<Commitment>> {
        Ok(None)
    }
    fn describe(&self) -> String {
        "a switchable chain".into()
    }
}

/// Waits until `done` holds (at most 5 s).
async fn until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_lost_chain_leaves_the_last_view_serving() {
    let chain = Arc::new(Switchable { down: AtomicBool::new(false), neurons: 2.into() });
    let view = ChainView::connect(chain.as_ref(), 3).await.expect("reads");
    let status = StatusHandle::default();
    let (stop, stopped) = watch::channel(false);
    let every = Duration::from_millis(10);
    let task = tokio::spawn(refresh_view(chain.clone(), view.clone(), status.clone(), (every, every), stopped));

    chain.down.store(true, Ordering::SeqCst);
    chain.neurons.store(5, Ordering::SeqCst);
    until(|| status.get().chain_error.is_some()).await;
    assert!(status.get().chain_error.unwrap_or_default().contains("down"));
    assert_eq!(view.metagraph().neurons.len(), 2, "the last metagraph keeps serving");

    chain.down.store(false, Ordering::SeqCst);
    until(|| status.get().chain_error.is_none() && view.metagraph().neurons.len() == 5).await;
    let _ = stop.send(true);
    task.await.expect("stops");
}
