//! The chain as the request path sees it: the last head and metagraph read, and their age.
//!
//! Routing, recording and verification read a [`ChainView`] (a lock and a clone of an `Arc`),
//! never the chain itself: a slow or lost connection to a remote node never stalls a user's
//! request, and the last metagraph keeps serving while the node refreshes the view.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::{Chain, Metagraph, Result};

/// What the view holds now.
#[derive(Debug, Clone)]
pub struct ViewSnapshot {
    pub head: u64,
    pub metagraph: Arc<Metagraph>,
    /// When the head was last read from the chain.
    pub head_read: Instant,
    /// When the metagraph was last read from the chain.
    pub metagraph_read: Instant,
}

/// What miners declared (their `info`), by uid: the hotkey that declared it, and its capacity
/// per task. The chain does not say; the gateway's probes do.
pub type Declared = BTreeMap<u16, (String, BTreeMap<String, u32>)>;

/// A shared, cheaply cloned view of one subnet on one chain.
#[derive(Debug, Clone)]
pub struct ChainView {
    netuid: u16,
    state: Arc<RwLock<ViewSnapshot>>,
    /// Laid over every metagraph read, so that a refresh keeps what miners declared.
    declared: Arc<RwLock<Declared>>,
}

/// `metagraph` with each neuron's `capacities` from `declared` (only where the hotkey that
/// declared them still holds the uid; a new hotkey starts with none).
fn with_declared(metagraph: &Metagraph, declared: &Declared) -> Metagraph {
    let mut out = metagraph.clone();
    for n in &mut out.neurons {
        n.capacities = match declared.get(&n.uid) {
            Some((hotkey, capacities)) if *hotkey == n.hotkey => capacities.clone(),
            _ => BTreeMap::new(),
        };
    }
    out
}

impl ChainView {
    /// Reads the head and the metagraph once; fails when the chain cannot give them.
    pub async fn connect(chain: &dyn Chain, netuid: u16) -> Result<Self> {
        let head = chain.current_block().await?;
        let metagraph = Arc::new(chain.metagraph(netuid).await?);
        let now = Instant::now();
        Ok(Self::fixed(head, metagraph, now))
    }

    /// A view that holds what it is given until refreshed (tests, and tools that read a chain
    /// once).
    pub fn fixed(head: u64, metagraph: Arc<Metagraph>, read: Instant) -> Self {
        let netuid = metagraph.netuid;
        let snapshot = ViewSnapshot { head, metagraph, head_read: read, metagraph_read: read };
        Self { netuid, state: Arc::new(RwLock::new(snapshot)), declared: Arc::default() }
    }

    pub fn snapshot(&self) -> ViewSnapshot {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last head read.
    pub fn head(&self) -> u64 {
        self.state.read().unwrap_or_else(|p| p.into_inner()).head
    }

    /// The last metagraph read.
    pub fn metagraph(&self) -> Arc<Metagraph> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).metagraph.clone()
    }

    /// How old the metagraph is.
    pub fn metagraph_age(&self) -> Duration {
        self.state.read().unwrap_or_else(|p| p.into_inner()).metagraph_read.elapsed()
    }

    /// Reads the head again. A head never goes backwards in the view (a node that lags behind
    /// another after a reconnect must not reopen a closed epoch).
    pub async fn refresh_head(&self, chain: &dyn Chain) -> Result<u64> {
        let head = chain.current_block().await?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.head = state.head.max(head);
        state.head_read = Instant::now();
        Ok(state.head)
    }

    /// Sets what miners declared (the gateway's probes of their `info`, already bounded there):
    /// the metagraph's `capacities`, now and after every refresh.
    pub fn set_declared(&self, declared: Declared) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.metagraph = Arc::new(with_declared(&state.metagraph, &declared));
        *self.declared.write().unwrap_or_else(|p| p.into_inner()) = declared;
    }

    /// Reads the metagraph again.
    pub async fn refresh_metagraph(&self, chain: &dyn Chain) -> Result<()> {
        let read = chain.metagraph(self.netuid).await?;
        let declared = self.declared.read().unwrap_or_else(|p| p.into_inner()).clone();
        let metagraph = Arc::new(if declared.is_empty() { read } else { with_declared(&read, &declared) });
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.metagraph = metagraph;
        state.metagraph_read = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Neuron;

    fn neuron(uid: u16, hotkey: &str) -> Neuron {
        Neuron {
            uid,
            hotkey: hotkey.into(),
            stake: 0,
            validator_permit: false,
            axon: None,
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: BTreeMap::new(),
        }
    }

    #[test]
    fn declared_capacities_go_to_the_hotkey_that_declared_them() {
        let metagraph = Metagraph { netuid: 1, neurons: vec![neuron(0, "a"), neuron(1, "b")], owner_hotkey: None };
        let view = ChainView::fixed(5, Arc::new(metagraph), Instant::now());
        let caps = |pairs: &[(&str, u32)]| pairs.iter().map(|(t, c)| (t.to_string(), *c)).collect::<BTreeMap<_, _>>();
        let mut declared = Declared::new();
        declared.insert(0, ("a".into(), caps(&[("chat", 4), ("code", 2)])));
        // uid 1 changed hands: what its old hotkey declared is not the new one's.
        declared.insert(1, ("old".into(), caps(&[("chat", 9)])));
        view.set_declared(declared);
        let m = view.metagraph();
        assert_eq!(m.neurons[0].capacities, caps(&[("chat", 4), ("code", 2)]));
        assert!(m.neurons[1].capacities.is_empty());
    }
}
