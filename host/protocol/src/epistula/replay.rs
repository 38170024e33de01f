//! The uuids a receiver has accepted within its window: constant time per request (a set for
//! lookups, a queue in expiry order for forgetting) and a fixed capacity.

use std::collections::{HashSet, VecDeque};

use super::EpistulaError;

pub(super) struct ReplayCache {
    capacity: usize,
    seen: HashSet<String>,
    /// (forget after, uuid), in insertion order: expiries never decrease (see `insert`).
    queue: VecDeque<(u64, String)>,
}

impl ReplayCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), seen: HashSet::new(), queue: VecDeque::new() }
    }

    /// Takes `uuid` at `now_ms`, to be remembered until `forget_after_ms`. A uuid already held is
    /// a replay; a full cache refuses rather than forgetting a uuid early.
    pub(super) fn insert(&mut self, uuid: &str, now_ms: u64, forget_after_ms: u64) -> Result<(), EpistulaError> {
        while let Some((expiry, _)) = self.queue.front()
            && *expiry < now_ms
        {
            if let Some((_, old)) = self.queue.pop_front() {
                self.seen.remove(&old);
            }
        }
        if self.seen.contains(uuid) {
            return Err(EpistulaError::Replayed(uuid.to_string()));
        }
        if self.seen.len() >= self.capacity {
            return Err(EpistulaError::Busy);
        }
        // A clock that stepped back must not put an expiry before an earlier one: the queue
        // is forgotten from its front only.
        let expiry = self.queue.back().map_or(forget_after_ms, |(last, _)| forget_after_ms.max(*last));
        self.seen.insert(uuid.to_string());
        self.queue.push_back((expiry, uuid.to_string()));
        Ok(())
    }
}
