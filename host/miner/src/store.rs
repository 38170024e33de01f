//! Committed requests kept for their open window, within a memory bound, per signer: a request
//! is known by its signer and id, so one validator can neither open nor collide with another's.
//! Past a signer's own bound its oldest go first; past the store's bound the oldest of the
//! signer holding the most bytes go first, so a validator that floods commitments evicts its
//! own. Every operation is amortized constant time (plus the number of signers).

use std::collections::{HashMap, VecDeque};
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

/// (signer, request id).
type Key = (String, String);

#[derive(Default)]
struct Share {
    bytes: usize,
    /// (sequence, request id), oldest first; entries no longer live are skipped.
    order: VecDeque<(u64, String)>,
}

#[derive(Default)]
struct Entries {
    live: HashMap<Key, (u64, Committed)>,
    /// Every insertion, oldest first (one window for all, so also in expiry order).
    order: VecDeque<(u64, Key)>,
    shares: HashMap<String, Share>,
    total: usize,
    next: u64,
}

impl Entries {
    #[cfg(test)]
    fn is_live(&self, seq: u64, key: &Key) -> bool {
        self.live.get(key).is_some_and(|(s, _)| *s == seq)
    }

    fn remove(&mut self, key: &Key) {
        let Some((_, committed)) = self.live.remove(key) else { return };
        self.total -= committed.bytes();
        if let Some(share) = self.shares.get_mut(&key.0) {
            share.bytes -= committed.bytes();
        }
        self.tidy(&key.0);
    }

    /// Drops `signer`'s leading entries that are no longer live, and its share once empty.
    fn tidy(&mut self, signer: &str) {
        let Some(share) = self.shares.get_mut(signer) else { return };
        while let Some((seq, id)) = share.order.front() {
            let key = (signer.to_string(), id.clone());
            if self.live.get(&key).is_some_and(|(s, _)| s == seq) {
                break;
            }
            share.order.pop_front();
        }
        if share.order.is_empty() {
            self.shares.remove(signer);
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((seq, key)) = self.order.front() {
            match self.live.get(key) {
                Some((s, c)) if s == seq && c.expires > now => break,
                Some((s, _)) if s == seq => {
                    let key = key.clone();
                    self.order.pop_front();
                    self.remove(&key);
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// Forgets `signer`'s oldest live entry; false when it has none.
    fn evict_oldest_of(&mut self, signer: &str) -> bool {
        self.tidy(signer);
        let Some(id) = self.shares.get(signer).and_then(|s| s.order.front()).map(|(_, id)| id.clone()) else {
            return false;
        };
        self.remove(&(signer.to_string(), id));
        true
    }

    /// Whose oldest entry goes to make room for `extra` bytes of `inserting`'s: the signer
    /// holding the most once those bytes are counted (`inserting` on a tie), if it holds any;
    /// else the largest other holder.
    fn to_evict(&self, inserting: &str, extra: usize) -> Option<String> {
        let own = self.shares.get(inserting).map_or(0, |s| s.bytes);
        let others = self.shares.iter().filter(|(signer, s)| *signer != inserting && s.bytes > 0);
        let largest_other = others.max_by_key(|(_, s)| s.bytes).map(|(signer, s)| (signer.clone(), s.bytes));
        match largest_other {
            Some((_, theirs)) if own > 0 && own + extra >= theirs => Some(inserting.to_string()),
            Some((signer, _)) => Some(signer),
            None if own > 0 => Some(inserting.to_string()),
            None => None,
        }
    }
}

pub struct Store {
    max_bytes: usize,
    signer_max_bytes: usize,
    entries: Mutex<Entries>,
}

impl Store {
    /// A store of `max_bytes` in all, with no bound per signer but that.
    pub fn new(max_bytes: usize) -> Self {
        Self::with_signer_bound(max_bytes, max_bytes)
    }

    /// A store of `max_bytes` in all and `signer_max_bytes` per signer.
    pub fn with_signer_bound(max_bytes: usize, signer_max_bytes: usize) -> Self {
        Self { max_bytes, signer_max_bytes, entries: Mutex::new(Entries::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, signer: &str, request_id: &str, committed: Committed) -> Result<()> {
        let mut entries = self.lock();
        let now = Instant::now();
        entries.expire(now);
        let key = (signer.to_string(), request_id.to_string());
        match entries.live.get(&key) {
            Some((_, c)) if c.expires > now => return Err(Error::Duplicate(request_id.to_string())),
            Some(_) => entries.remove(&key),
            None => {}
        }
        let bytes = committed.bytes();
        while entries.shares.get(signer).is_some_and(|s| s.bytes + bytes > self.signer_max_bytes) {
            if !entries.evict_oldest_of(signer) {
                break;
            }
        }
        while entries.total + bytes > self.max_bytes {
            let Some(victim) = entries.to_evict(signer, bytes) else { break };
            entries.evict_oldest_of(&victim);
        }
        let seq = entries.next;
        entries.next += 1;
        entries.total += bytes;
        let share = entries.shares.entry(signer.to_string()).or_default();
        share.bytes += bytes;
        share.order.push_back((seq, request_id.to_string()));
        entries.order.push_back((seq, key.clone()));
        entries.live.insert(key, (seq, committed));
        Ok(())
    }

    /// Runs `f` on `signer`'s committed request `request_id`, under the store's lock: keep it short.
    pub fn with<T>(&self, signer: &str, request_id: &str, f: impl FnOnce(&Committed) -> Result<T>) -> Result<T> {
        let mut entries = self.lock();
        let now = Instant::now();
        entries.expire(now);
        let key = (signer.to_string(), request_id.to_string());
        // Expiry is checked per entry too: windows are the same for all in a miner, not in tests.
        match entries.live.get(&key) {
            Some((_, committed)) if committed.expires > now => f(committed),
            Some(_) => {
                entries.remove(&key);
                Err(Error::UnknownRequest(request_id.to_string()))
            }
            None => Err(Error::UnknownRequest(request_id.to_string())),
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().total
    }

    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    fn is_consistent(&self) -> bool {
        let entries = self.lock();
        let total: usize = entries.live.values().map(|(_, c)| c.bytes()).sum();
        let shares: usize = entries.shares.values().map(|s| s.bytes).sum();
        total == entries.total
            && shares == total
            && entries.order.iter().filter(|(s, k)| entries.is_live(*s, k)).count() == entries.live.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn committed(values: usize, window: Duration) -> Committed {
        let tree = MerkleTree::new(vec![[0u8; 32]]).expect("a tree");
        Committed {
            tree,
            hidden: vec![0.0; values],
            layers: 1,
            positions: 1,
            hidden_size: values,
            expires: Instant::now() + window,
        }
    }

    #[test]
    fn requests_are_per_signer_and_floods_evict_the_flooders_own() {
        let one = committed(100, Duration::from_secs(60)).bytes();
        let store = Store::new(3 * one);
        store.insert("a", "r", committed(100, Duration::from_secs(60))).expect("inserts");
        // The same id under another signer is another request.
        store.insert("b", "r", committed(100, Duration::from_secs(60))).expect("inserts");
        assert!(matches!(store.insert("a", "r", committed(100, Duration::from_secs(60))), Err(Error::Duplicate(_))));
        for i in 0..5 {
            store.insert("b", &format!("flood-{i}"), committed(100, Duration::from_secs(60))).expect("inserts");
        }
        assert!(store.with("a", "r", |_| Ok(())).is_ok(), "a's request survives b's flood");
        assert!(store.with("b", "r", |_| Ok(())).is_err(), "b's oldest went first");
        assert!(store.with("b", "flood-4", |_| Ok(())).is_ok());
        assert!(store.with("a", "flood-4", |_| Ok(())).is_err(), "a cannot open b's request");
        assert!(store.bytes() <= 3 * one && store.is_consistent());
    }

    #[test]
    fn a_signers_own_bound_and_the_window_are_kept() {
        let one = committed(100, Duration::from_secs(60)).bytes();
        let store = Store::with_signer_bound(10 * one, 2 * one);
        for i in 0..4 {
            store.insert("a", &format!("{i}"), committed(100, Duration::from_secs(60))).expect("inserts");
        }
        assert_eq!(store.len(), 2);
        assert!(store.with("a", "3", |_| Ok(())).is_ok() && store.with("a", "1", |_| Ok(())).is_err());
        store.insert("b", "short", committed(100, Duration::from_millis(20))).expect("inserts");
        std::thread::sleep(Duration::from_millis(40));
        assert!(store.with("b", "short", |_| Ok(())).is_err());
        assert_eq!(store.len(), 2);
        assert!(store.is_consistent());
    }
}
