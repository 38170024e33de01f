//! The chain as the request path sees it: the last head and metagraph read, and their age.
//!
//! Routing, recording and verification read a [`ChainView`] (a lock and a clone of an `Arc`),
//! never the chain itself: a slow or lost connection to a remote node never stalls a user's
//! request, and the last metagraph keeps serving while the node refreshes the view.

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

/// A shared, cheaply cloned view of one subnet on one chain.
#[derive(Debug, Clone)]
pub struct ChainView {
    netuid: u16,
    state: Arc<RwLock<ViewSnapshot>>,
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
        Self { netuid, state: Arc::new(RwLock::new(snapshot)) }
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

    /// Reads the metagraph again.
    pub async fn refresh_metagraph(&self, chain: &dyn Chain) -> Result<()> {
        let metagraph = Arc::new(chain.metagraph(self.netuid).await?);
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.metagraph = metagraph;
        state.metagraph_read = Instant::now();
        Ok(())
    }
}
