//! Committed requests kept for their open window, within a memory bound: the oldest are
//! forgotten first when the bound is reached, and expired ones on every access.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use assay_protocol::commitment::MerkleTree;

use crate::{Error, Result};

/// One committed request: its tree and every hidden state, layer-major `[layers, positions, h]`.
#[derive(Debug)]
pub struct Committed {
    pub tree: MerkleTree,
    pub hidden: Vec<f32>,
    pub layers: u32,
    pub positions: u32,
    pub hidden_size: usize,
    pub expires: Instant,
}

impl Committed {
    fn bytes(&self) -> usize {
        self.hidden.len() * 4 + self.tree.leaf_count() as usize * 64
    }
}

pub struct Store {
    max_bytes: usize,
    entries: Mutex<VecDeque<(String, Committed)>>,
}

impl Store {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, entries: Mutex::new(VecDeque::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, Committed)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, request_id: &str, committed: Committed) -> Result<()> {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|(_, c)| c.expires > now);
        if entries.iter().any(|(id, _)| id == request_id) {
            return Err(Error::Duplicate(request_id.to_string()));
        }
        let mut total: usize = entries.iter().map(|(_, c)| c.bytes()).sum::<usize>() + committed.bytes();
        while total > self.max_bytes {
            match entries.pop_front() {
                Some((_, old)) => total -= old.bytes(),
                None => break,
            }
        }
        entries.push_back((request_id.to_string(), committed));
        Ok(())
    }

    pub fn with<T>(&self, request_id: &str, f: impl FnOnce(&Committed) -> Result<T>) -> Result<T> {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|(_, c)| c.expires > now);
        let (_, c) = entries
            .iter()
            .find(|(id, _)| id == request_id)
            .ok_or_else(|| Error::UnknownRequest(request_id.to_string()))?;
        f(c)
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().iter().map(|(_, c)| c.bytes()).sum()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
