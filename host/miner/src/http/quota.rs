//! Each signer's share of the miner's concurrent requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many requests each signer holds, up to `max` each.
pub(crate) struct SignerSlots {
    max: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One request's hold on its signer's share; released when dropped.
pub(crate) struct SignerSlot {
    slots: Arc<SignerSlots>,
    signer: String,
}

impl SignerSlots {
    pub(crate) fn new(max: usize) -> Self {
        Self { max: max.max(1), held: Mutex::new(HashMap::new()) }
    }

    /// A slot of `signer`'s share, or `None` when it holds all of them.
    pub(crate) fn try_acquire(self: &Arc<Self>, signer: &str) -> Option<SignerSlot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(signer.to_string()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SignerSlot { slots: self.clone(), signer: signer.to_string() })
    }
}

impl Drop for SignerSlot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.signer) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.signer);
            }
        }
    }
}
