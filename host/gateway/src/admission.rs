//! Users' requests waiting for a miner's slot.
//!
//! When every miner is busy a user's request waits, up to `queue_timeout_ms`, in its API key's
//! line. Freed slots are handed to the lines in turn (round robin between keys, arrival order
//! within one), so one key's burst cannot starve another key. The lines are bounded
//! (`queue_max` requests in all, `queue_per_key` per key); past them, and past the deadline,
//! the user gets a 503 with `Retry-After`. The validator's own requests never wait here.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::counters::Tally;
use crate::routing::{Lease, Pool};

/// Waiting requests look again this often, for what frees no slot (a circuit's cooldown, a
/// 429 pause, a miner coming up).
const RECHECK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max: usize,
    pub per_key: usize,
}

/// Why a request got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No miner it has not tried is up: waiting would not help.
    NoMiner,
    /// The lines are full (in all, or for its key).
    Full,
    /// Its deadline passed while it waited.
    TimedOut,
}

enum Joined {
    Now(Lease),
    /// In line, with a ticket; a slot comes through the receiver.
    Waiting(u64, oneshot::Receiver<Lease>),
}

struct Waiter {
    ticket: u64,
    tried: Vec<u16>,
    handoff: oneshot::Sender<Lease>,
}

/// One key's waiting requests; never empty while it is in `Lines::order`.
struct Line {
    key: String,
    waiters: VecDeque<Waiter>,
}

#[derive(Default)]
struct Lines {
    /// The keys with someone waiting, in the order they are served next.
    order: VecDeque<Line>,
    waiting: usize,
    next_ticket: u64,
}

pub(crate) struct Queue {
    lines: Mutex<Lines>,
    limits: Limits,
}

impl Queue {
    pub fn new(limits: Limits) -> Self {
        Self { lines: Mutex::default(), limits }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests waiting now.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// A slot of a miner not in `tried` for a request of `key`: at once when one is free and no
    /// one is waiting, else in turn, until `deadline`.
    pub async fn acquire(
        &self,
        pool: &Pool,
        tally: &Tally,
        key: &str,
        tried: &[u16],
        deadline: Instant,
    ) -> Result<Lease, Refusal> {
        let (ticket, mut handoff) = match self.join(pool, key, tried)? {
            Joined::Now(lease) => return Ok(lease),
            Joined::Waiting(ticket, handoff) => (ticket, handoff),
        };
        Tally::bump(&tally.queued);
        let _leave = Leave { queue: self, ticket, tally };
        loop {
            self.dispatch(pool);
            tokio::select! {
                lease = &mut handoff => return lease.map_err(|_| Refusal::TimedOut),
                () = pool.freed() => {}
                () = tokio::time::sleep(RECHECK) => {}
                () = tokio::time::sleep_until(deadline) => {
                    self.leave(ticket);
                    // Handed a slot just before leaving: take it.
                    return handoff.try_recv().map_err(|_| Refusal::TimedOut);
                }
            }
        }
    }

    /// Takes a free slot at once, or a place in `key`'s line.
    fn join(&self, pool: &Pool, key: &str, tried: &[u16]) -> Result<Joined, Refusal> {
        let mut lines = self.lock();
        if lines.waiting == 0
            && let Some(lease) = pool.pick(tried, false)
        {
            return Ok(Joined::Now(lease));
        }
        if !pool.could_serve(tried) {
            return Err(Refusal::NoMiner);
        }
        let queued_for_key = lines.order.iter().find(|l| l.key == key).map_or(0, |l| l.waiters.len());
        if lines.waiting >= self.limits.max || queued_for_key >= self.limits.per_key {
            return Err(Refusal::Full);
        }
        let ticket = lines.next_ticket;
        lines.next_ticket += 1;
        let (handoff, rx) = oneshot::channel();
        let waiter = Waiter { ticket, tried: tried.to_vec(), handoff };
        match lines.order.iter_mut().find(|l| l.key == key) {
            Some(line) => line.waiters.push_back(waiter),
            None => lines.order.push_back(Line { key: key.to_string(), waiters: VecDeque::from([waiter]) }),
        }
        lines.waiting += 1;
        Ok(Joined::Waiting(ticket, rx))
    }

    /// Hands every free slot it can to the lines in turn.
    fn dispatch(&self, pool: &Pool) {
        // Slots whose waiter left meanwhile: given back once the lines are unlocked.
        let mut unclaimed = Vec::new();
        {
            let mut lines = self.lock();
            let mut misses = 0;
            while misses < lines.order.len() {
                let Some(mut line) = lines.order.pop_front() else { break };
                match line.waiters.front().and_then(|w| pool.pick(&w.tried, false)) {
                    Some(lease) => {
                        misses = 0;
                        if let Some(waiter) = line.waiters.pop_front() {
                            lines.waiting -= 1;
                            if let Err(lease) = waiter.handoff.send(lease) {
                                unclaimed.push(lease);
                            }
                        }
                    }
                    None => misses += 1,
                }
                if !line.waiters.is_empty() {
                    lines.order.push_back(line);
                }
            }
        }
        drop(unclaimed);
    }

    /// Takes `ticket` out of its line, if it is still waiting.
    fn leave(&self, ticket: u64) {
        let mut lines = self.lock();
        let Some(at) = lines.order.iter().position(|l| l.waiters.iter().any(|w| w.ticket == ticket)) else { return };
        if let Some(line) = lines.order.get_mut(at) {
            line.waiters.retain(|w| w.ticket != ticket);
            if line.waiters.is_empty() {
                lines.order.remove(at);
            }
        }
        lines.waiting -= 1;
    }
}

/// Leaves the line however the wait ends (the user may go away while waiting).
struct Leave<'a> {
    queue: &'a Queue,
    ticket: u64,
    tally: &'a Tally,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.queue.leave(self.ticket);
        Tally::drop_one(&self.tally.queued);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use assay_chain::Neuron;

    use super::*;

    /// One miner with one slot.
    fn pool() -> Pool {
        let pool = Pool::new(1);
        let neuron = Neuron {
            uid: 0,
            hotkey: "hk".into(),
            stake: 0,
            axon: Some("http://127.0.0.1:9".into()),
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
            validator_permit: false,
        };
        pool.update(&[neuron]);
        pool.probed(&pool.slots()[0], Some(1));
        pool
    }

    struct Fixture {
        pool: Arc<Pool>,
        queue: Arc<Queue>,
        tally: Arc<Tally>,
    }

    impl Fixture {
        fn new(max: usize, per_key: usize) -> Self {
            Self { pool: Arc::new(pool()), queue: Arc::new(Queue::new(Limits { max, per_key })), tally: Arc::default() }
        }

        /// A request of `key` waiting up to `wait`; resolves to the key when served.
        fn request(
            &self,
            key: &'static str,
            wait: Duration,
        ) -> tokio::task::JoinHandle<Result<(&'static str, Lease), Refusal>> {
            let (pool, queue, tally) = (self.pool.clone(), self.queue.clone(), self.tally.clone());
            tokio::spawn(async move {
                let lease = queue.acquire(&pool, &tally, key, &[], Instant::now() + wait).await?;
                Ok((key, lease))
            })
        }

        async fn until_waiting(&self, n: usize) {
            while self.queue.waiting() != n {
                tokio::task::yield_now().await;
            }
        }
    }

    #[tokio::test]
    async fn freed_slots_go_to_the_keys_in_turn() {
        let f = Fixture::new(100, 100);
        let held = f.pool.pick(&[], false).expect("the one slot");
        let mut waiting = Vec::new();
        for _ in 0..4 {
            waiting.push(f.request("burst", Duration::from_secs(10)));
            f.until_waiting(waiting.len()).await;
        }
        waiting.push(f.request("other", Duration::from_secs(10)));
        f.until_waiting(5).await;
        drop(held);
        let mut served = Vec::new();
        for _ in 0..5 {
            // Each request served gives its slot back, which serves the next in turn.
            let next = futures_first(&mut waiting).await;
            served.push(next);
        }
        assert_eq!(served, ["burst", "other", "burst", "burst", "burst"], "the other key waited behind a burst");
    }

    /// The first of `tasks` to finish (its key), removed from the list; its lease dropped.
    async fn futures_first(
        tasks: &mut Vec<tokio::task::JoinHandle<Result<(&'static str, Lease), Refusal>>>,
    ) -> &'static str {
        loop {
            if let Some(at) = tasks.iter().position(|t| t.is_finished()) {
                let (key, lease) = tasks.remove(at).await.expect("joins").expect("served");
                drop(lease);
                return key;
            }
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn the_lines_are_bounded_and_a_wait_ends_at_its_deadline() {
        let f = Fixture::new(3, 2);
        let _held = f.pool.pick(&[], false).expect("the one slot");
        let a = [f.request("a", Duration::from_secs(10)), f.request("a", Duration::from_secs(10))];
        f.until_waiting(2).await;
        let third = f.request("a", Duration::from_secs(10)).await.expect("joins");
        assert_eq!(third.err(), Some(Refusal::Full), "past the key's share");
        let b = f.request("b", Duration::from_millis(50));
        f.until_waiting(3).await;
        let c = f.request("c", Duration::from_secs(10)).await.expect("joins");
        assert_eq!(c.err(), Some(Refusal::Full), "past the queue's size");
        assert_eq!(b.await.expect("joins").err(), Some(Refusal::TimedOut));
        assert_eq!(f.queue.waiting(), 2, "a request that timed out left its line");
        for task in a {
            task.abort();
        }
    }

    #[tokio::test]
    async fn a_request_does_not_wait_when_no_miner_is_up() {
        let f = Fixture::new(10, 10);
        f.pool.probed(&f.pool.slots()[0], None);
        let refused = f.request("a", Duration::from_secs(10)).await.expect("joins");
        assert_eq!(refused.err(), Some(Refusal::NoMiner));
    }
}
