//! Which miner serves a request: the miners of the metagraph, their health, load, speed and
//! score, power-of-two-choices selection, and a circuit breaker per miner.
//!
//! A miner is a candidate when its last health probe answered, its circuit is not open, it is
//! not cooling off after a 429 and it has a free slot of its declared capacity (bounded by the
//! gateway's `max_miner_capacity`: a miner's word steers traffic to it). Of two random
//! candidates the cheaper serves: cost = (in flight + 1) × smoothed time to first token ÷
//! score factor, where the factor comes from the last epoch's weights (a zero-weight miner
//! still gets some traffic, so it can still be measured). Users' requests go only to miners in
//! good standing (`standing`): a miner known to have cheated serves no user. One pick in twenty is random among the
//! candidates, so that estimates of miners the router stopped choosing do not go stale; the
//! validator's synthetic requests are spread uniformly, so every miner is measured and
//! challenged however slow or badly scored it is.
//!
//! A competition (cacheon's traffic) may `hold` a miner for its turn ([`Pool::hold`]): while the
//! hold lasts no user's or other synthetic request is routed to that miner, so the contest
//! measures the miner alone and on the same terms as every other contestant; the [`Hold`] waits
//! for the requests already under way there to end before the turn starts ([`Hold::idle`]). A
//! metagraph update that replaces the held miner's slot (a new hotkey or address: another
//! miner) ends its turn in effect: the new slot is not held, and the competition's requests find
//! no slot.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use assay_chain::Neuron;
use assay_miner_client::Miner;
use assay_policy_sdk::Outcome;
use rand::Rng;
use tokio::sync::Notify;

/// Consecutive failures that open a miner's circuit.
const FAILURES_TO_OPEN: u32 = 3;
const FIRST_COOLDOWN: Duration = Duration::from_secs(1);
const LONGEST_COOLDOWN: Duration = Duration::from_secs(30);
/// How long a miner that answered 429 is left alone.
const RATE_LIMIT_PAUSE: Duration = Duration::from_millis(500);
/// The time to first token assumed for a miner not yet measured.
const UNMEASURED_TTFT_MS: f64 = 50.0;
/// The share of picks made at random among the candidates: a miner that was slow once (or is
/// back after a restart) is measured again instead of being priced out on a stale estimate.
const EXPLORE: f64 = 0.05;

#[derive(Debug)]
struct Health {
    /// The last probe of `/assay/v1/info` answered with the gateway's model.
    up: bool,
    capacity: u32,
    in_flight: u32,
    ttft_ms: f64,
    failures: u32,
    /// Open circuit: no traffic until then; after it, one trial request (half-open).
    open_until: Option<Instant>,
    cooldown: Duration,
    trial_in_flight: bool,
    paused_until: Option<Instant>,
    /// Score factor from the last epoch's weights, in (0, 1.25].
    factor: f64,
    /// No failed verification this epoch, nor zeroed for one last epoch: users may be sent here.
    good_standing: bool,
    /// The tasks its last good `info` declared, with their capacities (bounded there).
    tasks: BTreeMap<String, u32>,
    /// A competition's turn holds it: only that competition's requests are given it.
    held: bool,
}

/// Who a pick is for: it decides which miners are candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Picker {
    /// A user's request: only miners in good standing, never a held one.
    User,
    /// The validator's own request: any miner, but never a held one.
    Validator,
    /// The competition holding the miner.
    Competition,
}

/// One miner of the pool.
#[derive(Debug)]
pub struct Slot {
    pub uid: u16,
    pub miner: Miner,
    health: Mutex<Health>,
}

impl Slot {
    fn new(uid: u16, miner: Miner) -> Self {
        Self {
            uid,
            miner,
            health: Mutex::new(Health {
                up: false,
                capacity: 1,
                in_flight: 0,
                ttft_ms: UNMEASURED_TTFT_MS,
                failures: 0,
                open_until: None,
                cooldown: FIRST_COOLDOWN,
                trial_in_flight: false,
                paused_until: None,
                factor: 1.0,
                good_standing: true,
                tasks: BTreeMap::new(),
                held: false,
            }),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cost of sending one more request here, or `None` when the miner is not a candidate
    /// for `picker` (for a user's request, one not in good standing never is; a held one is only
    /// the competition's).
    fn cost(&self, now: Instant, picker: Picker) -> Option<f64> {
        let h = self.health();
        if !h.up || h.in_flight >= h.capacity || h.paused_until.is_some_and(|t| now < t) {
            return None;
        }
        if (picker == Picker::User && !h.good_standing) || h.held != (picker == Picker::Competition) {
            return None;
        }
        if let Some(until) = h.open_until
            && (now < until || h.trial_in_flight)
        {
            return None;
        }
        Some(f64::from(h.in_flight + 1) * h.ttft_ms / h.factor)
    }

    /// A snapshot for logs and the status view.
    pub fn describe(&self) -> SlotState {
        let h = self.health();
        SlotState {
            uid: self.uid,
            up: h.up,
            capacity: h.capacity,
            good_standing: h.good_standing,
            circuit_open: h.open_until.is_some(),
            half_open: h.open_until.is_some_and(|until| Instant::now() >= until),
            in_flight: h.in_flight,
            ttft_ms: h.ttft_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlotState {
    pub uid: u16,
    pub up: bool,
    /// Requests the router gives it at once: its declared capacity, within the gateway's bound.
    pub capacity: u32,
    /// Whether users' requests may go to it (no failed verification this epoch, not zeroed for
    /// one last epoch).
    pub good_standing: bool,
    pub circuit_open: bool,
    /// The circuit is open and its cooldown is over: one trial request is admitted (or is in
    /// flight) and decides whether it closes.
    pub half_open: bool,
    pub in_flight: u32,
    pub ttft_ms: f64,
}

/// A request's hold on a miner's slot; released (and the miner's health updated) by
/// [`Lease::settle`], or on drop as a cancellation.
#[derive(Debug)]
pub struct Lease {
    pub slot: Arc<Slot>,
    trial: bool,
    settled: bool,
    /// The pool's signal that a slot came free (requests waiting for one listen to it).
    freed: Arc<Notify>,
}

impl Lease {
    /// Records how the request ended with this miner.
    pub fn settle(mut self, outcome: Outcome, ttft: Duration) {
        self.release(Some((outcome, ttft)));
    }

    fn release(&mut self, result: Option<(Outcome, Duration)>) {
        if self.settled {
            return;
        }
        self.settled = true;
        let mut h = self.slot.health();
        h.in_flight = h.in_flight.saturating_sub(1);
        if self.trial {
            h.trial_in_flight = false;
        }
        let now = Instant::now();
        match result {
            Some((Outcome::Ok, ttft)) => {
                h.ttft_ms = 0.8 * h.ttft_ms + 0.2 * ttft.as_secs_f64() * 1e3;
                h.failures = 0;
                h.open_until = None;
                h.cooldown = FIRST_COOLDOWN;
            }
            // A 429 is the miner protecting itself, not a failure.
            Some((Outcome::RateLimited, _)) => h.paused_until = Some(now + RATE_LIMIT_PAUSE),
            Some((Outcome::ServerError | Outcome::Timeout | Outcome::BadResponse, _)) => {
                h.failures += 1;
                if self.trial || h.failures >= FAILURES_TO_OPEN {
                    let cooldown = if self.trial { (h.cooldown * 2).min(LONGEST_COOLDOWN) } else { h.cooldown };
                    h.cooldown = cooldown;
                    h.open_until = Some(now + cooldown);
                    tracing::warn!(uid = self.slot.uid, cooldown_ms = cooldown.as_millis() as u64, "circuit opened");
                }
            }
            // Cancelled by the user: says nothing about the miner.
            Some((Outcome::Cancelled, _)) | None => {}
        }
        drop(h);
        self.freed.notify_one();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release(None);
    }
}

/// A competition's hold on a miner (see the module doc): released on drop.
#[derive(Debug)]
pub struct Hold {
    slot: Arc<Slot>,
    freed: Arc<Notify>,
}

/// How often [`Hold::idle`] looks whether the miner's earlier requests have ended.
const IDLE_POLL: Duration = Duration::from_millis(10);

impl Hold {
    /// The held miner's uid.
    pub fn uid(&self) -> u16 {
        self.slot.uid
    }

    /// Waits until no request is under way at the held miner (none can start there but the
    /// holder's), at most `limit`; `false` when some still were then.
    pub async fn idle(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            if self.slot.health().in_flight == 0 {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(IDLE_POLL).await;
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.slot.health().held = false;
        // Requests waiting for a slot may take this miner's again.
        self.freed.notify_one();
    }
}

/// The miners the gateway routes to.
#[derive(Debug)]
pub struct Pool {
    slots: RwLock<Vec<Arc<Slot>>>,
    /// The most requests one miner is given at once, whatever capacity it declares.
    max_capacity: u32,
    freed: Arc<Notify>,
    /// Miners not in good standing, kept for the slots the metagraph brings later.
    barred: RwLock<BTreeSet<u16>>,
}

impl Pool {
    pub fn new(max_capacity: u32) -> Self {
        Self {
            slots: RwLock::new(Vec::new()),
            max_capacity: max_capacity.max(1),
            freed: Arc::default(),
            barred: RwLock::default(),
        }
    }

    /// Resolves when a lease is given back (or was, since the last call).
    pub async fn freed(&self) {
        self.freed.notified().await;
    }

    /// Whether a miner not in `tried` could serve users at all, now or once it has room: one
    /// that is up and in good standing (its circuit may be open: it closes after a cooldown).
    pub fn could_serve(&self, tried: &[u16]) -> bool {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).iter().any(|s| {
            let h = s.health();
            !tried.contains(&s.uid) && h.up && h.good_standing
        })
    }

    /// Bars the miners of `barred` from users' requests, and admits the others again.
    pub fn set_standing(&self, barred: &BTreeSet<u16>) {
        *self.barred.write().unwrap_or_else(|p| p.into_inner()) = barred.clone();
        for slot in self.slots() {
            let good = !barred.contains(&slot.uid);
            let mut h = slot.health();
            if h.good_standing && !good {
                tracing::warn!(uid = slot.uid, "miner failed verification: users are no longer sent to it");
            } else if !h.good_standing && good {
                tracing::info!(uid = slot.uid, "miner is in good standing again: users are sent to it");
            }
            h.good_standing = good;
        }
    }

    /// Brings the pool in line with the metagraph: neurons that serve an address are miners; a
    /// miner whose hotkey and address did not change keeps its health.
    pub fn update(&self, neurons: &[Neuron]) {
        let barred = self.barred.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        let next: Vec<Arc<Slot>> = neurons
            .iter()
            .filter_map(|n| {
                let base_url = n.axon.as_ref()?.trim_end_matches('/').to_string();
                let kept =
                    slots.iter().find(|s| s.uid == n.uid && s.miner.hotkey == n.hotkey && s.miner.base_url == base_url);
                Some(match kept {
                    Some(s) => s.clone(),
                    None => {
                        let slot = Slot::new(n.uid, Miner { base_url, hotkey: n.hotkey.clone() });
                        slot.health().good_standing = !barred.contains(&n.uid);
                        Arc::new(slot)
                    }
                })
            })
            .collect();
        *slots = next;
    }

    pub fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Miner `uid`'s slot, if it is in the pool.
    fn slot(&self, uid: u16) -> Option<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).iter().find(|s| s.uid == uid).cloned()
    }

    /// Records a health probe: `Some(capacity)` when the miner answered with the right model.
    pub fn probed(&self, slot: &Slot, capacity: Option<u32>) {
        let mut h = slot.health();
        match capacity {
            Some(c) => {
                if !h.up {
                    tracing::info!(uid = slot.uid, url = %slot.miner.base_url, "miner is up");
                }
                h.up = true;
                // A miner's word on its capacity steers traffic to it: bounded, so that one
                // declaring millions is not handed every user at once.
                let bounded = c.clamp(1, self.max_capacity);
                if c > self.max_capacity && h.capacity != bounded {
                    tracing::warn!(
                        uid = slot.uid,
                        declared = c,
                        bound = self.max_capacity,
                        "miner declares more capacity than the gateway gives one miner"
                    );
                }
                h.capacity = bounded;
            }
            None => {
                if h.up {
                    tracing::warn!(uid = slot.uid, url = %slot.miner.base_url, "miner is down");
                }
                h.up = false;
            }
        }
    }

    /// Records the tasks a miner's `info` declared (checked and bounded by the caller), kept
    /// until its next good `info`.
    pub fn declare(&self, slot: &Slot, tasks: BTreeMap<String, u32>) {
        slot.health().tasks = tasks;
    }

    /// The miners that do not serve `task`: requests of that task are not sent there.
    pub fn not_serving(&self, task: &str) -> Vec<u16> {
        self.slots().iter().filter(|s| !s.health().tasks.contains_key(task)).map(|s| s.uid).collect()
    }

    /// The miners up and serving `task`, by uid: the competition's contestants.
    pub fn serving(&self, task: &str) -> Vec<u16> {
        let mut uids: Vec<u16> = self
            .slots()
            .iter()
            .filter(|s| {
                let h = s.health();
                h.up && h.tasks.contains_key(task)
            })
            .map(|s| s.uid)
            .collect();
        uids.sort_unstable();
        uids
    }

    /// What each miner declared, for the chain view's `capacities`.
    pub fn declared(&self) -> assay_chain::Declared {
        self.slots()
            .iter()
            .filter_map(|s| {
                let tasks = s.health().tasks.clone();
                (!tasks.is_empty()).then(|| (s.uid, (s.miner.hotkey.clone(), tasks)))
            })
            .collect()
    }

    /// Sets each miner's score factor from the last epoch's weights (uid, weight).
    pub fn set_scores(&self, weights: &[(u16, f64)]) {
        let top = weights.iter().map(|w| w.1).fold(0.0, f64::max);
        for slot in self.slots() {
            let weight = weights.iter().find(|w| w.0 == slot.uid).map_or(0.0, |w| w.1);
            slot.health().factor = if top > 0.0 { 0.25 + weight / top } else { 1.0 };
        }
    }

    /// Holds miner `uid` for a competition's turn; `None` when it is not in the pool or another
    /// turn holds it already.
    pub fn hold(&self, uid: u16) -> Option<Hold> {
        let slot = self.slot(uid)?;
        let mut h = slot.health();
        if h.held {
            return None;
        }
        h.held = true;
        drop(h);
        Some(Hold { slot, freed: self.freed.clone() })
    }

    /// A slot of held miner `uid` (unless in `tried`) for its competition's request.
    pub fn pick_held(&self, uid: u16, tried: &[u16]) -> Option<Lease> {
        if tried.contains(&uid) {
            return None;
        }
        let slot = self.slot(uid)?;
        slot.cost(Instant::now(), Picker::Competition)?;
        self.lease(&slot, Picker::Competition)
    }

    /// Picks a miner among the candidates not in `tried`: for users, by power of two choices
    /// among the miners in good standing; when `spread` (the validator's own requests, which
    /// measure every miner so that any can recover), uniformly among all. Held miners are left out.
    pub fn pick(&self, tried: &[u16], spread: bool) -> Option<Lease> {
        let now = Instant::now();
        let picker = if spread { Picker::Validator } else { Picker::User };
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        let candidates: Vec<(&Arc<Slot>, f64)> = slots
            .iter()
            .filter(|s| !tried.contains(&s.uid))
            .filter_map(|s| s.cost(now, picker).map(|c| (s, c)))
            .collect();
        let chosen = match candidates.len() {
            0 => return None,
            1 => candidates[0].0,
            n if spread || rand::thread_rng().gen_bool(EXPLORE) => candidates[rand::thread_rng().gen_range(0..n)].0,
            n => {
                let mut rng = rand::thread_rng();
                let a = rng.gen_range(0..n);
                let b = (a + rng.gen_range(1..n)) % n;
                if candidates[a].1 <= candidates[b].1 { candidates[a].0 } else { candidates[b].0 }
            }
        };
        self.lease(chosen, picker)
    }

    /// Takes one of `slot`'s places for `picker`'s request.
    fn lease(&self, slot: &Arc<Slot>, picker: Picker) -> Option<Lease> {
        let mut h = slot.health();
        // The candidate was chosen without holding every lock: check again, the hold too (a
        // hold that began meanwhile must not see a user's request start after its `idle`).
        if h.in_flight >= h.capacity || h.held != (picker == Picker::Competition) {
            return None;
        }
        h.in_flight += 1;
        let trial = h.open_until.is_some();
        if trial {
            h.trial_in_flight = true;
        }
        drop(h);
        Some(Lease { slot: slot.clone(), trial, settled: false, freed: self.freed.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: u16) -> Pool {
        let pool = Pool::new(64);
        let neurons: Vec<Neuron> = (0..n)
            .map(|uid| Neuron {
                uid,
                hotkey: format!("hk{uid}"),
                stake: 0,
                validator_permit: false,
                axon: Some(format!("http://127.0.0.1:{}", 9000 + uid)),
                registered_at_block: 0,
                coldkey: None,
                last_update: 0,
                capacities: Default::default(),
            })
            .collect();
        pool.update(&neurons);
        for slot in pool.slots() {
            pool.probed(&slot, Some(4));
        }
        pool
    }

    #[test]
    fn only_miners_that_are_up_and_have_room_are_picked() {
        let pool = pool(2);
        pool.probed(&pool.slots()[0], None);
        let leases: Vec<Lease> = (0..4).map(|_| pool.pick(&[], false).expect("miner 1 has room")).collect();
        assert!(leases.iter().all(|l| l.slot.uid == 1));
        assert!(pool.pick(&[], false).is_none(), "capacity is spent");
        drop(leases);
        assert_eq!(pool.pick(&[], false).expect("room again").slot.uid, 1);
        assert!(pool.pick(&[1], false).is_none(), "miner 1 was already tried");
    }

    #[test]
    fn a_declared_capacity_is_bounded() {
        let pool = Pool::new(8);
        let neurons = [Neuron {
            uid: 0,
            hotkey: "hk0".into(),
            stake: 0,
            axon: Some("http://127.0.0.1:9000".into()),
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
            validator_permit: false,
        }];
        pool.update(&neurons);
        pool.probed(&pool.slots()[0], Some(u32::MAX));
        let leases: Vec<Lease> = (0..8).map(|_| pool.pick(&[], false).expect("within the bound")).collect();
        assert!(pool.pick(&[], false).is_none(), "a miner declaring u32::MAX slots got a ninth request at once");
        assert_eq!(pool.slots()[0].describe().capacity, 8);
        drop(leases);
    }

    #[test]
    fn failures_open_the_circuit_and_a_successful_trial_closes_it() {
        let pool = pool(1);
        for _ in 0..FAILURES_TO_OPEN {
            pool.pick(&[], false).expect("closed").settle(Outcome::ServerError, Duration::ZERO);
        }
        assert!(pool.pick(&[], false).is_none(), "open");
        assert!(!pool.slots()[0].describe().half_open, "open, cooling down");
        pool.slots()[0].health().open_until = Some(Instant::now());
        assert!(pool.slots()[0].describe().half_open, "cooled down: half-open");
        let trial = pool.pick(&[], false).expect("half-open admits a trial");
        assert!(pool.pick(&[], false).is_none(), "one trial at a time");
        assert!(pool.slots()[0].describe().half_open, "half-open while the trial runs");
        trial.settle(Outcome::Ok, Duration::from_millis(5));
        assert!(!pool.slots()[0].describe().circuit_open);
        assert!(pool.pick(&[], false).is_some());
    }

    #[test]
    fn a_rate_limited_miner_is_paused_not_failed() {
        let pool = pool(1);
        for _ in 0..FAILURES_TO_OPEN + 1 {
            pool.slots()[0].health().paused_until = None;
            pool.pick(&[], false).expect("not paused").settle(Outcome::RateLimited, Duration::ZERO);
        }
        assert!(pool.pick(&[], false).is_none(), "paused");
        let state = pool.slots()[0].describe();
        assert!(!state.circuit_open);
        assert_eq!(pool.slots()[0].health().failures, 0);
    }

    #[test]
    fn the_faster_miner_gets_most_of_the_traffic() {
        let pool = pool(2);
        pool.slots()[0].health().ttft_ms = 10.0;
        pool.slots()[1].health().ttft_ms = 40.0;
        let picks = (0..1000).filter(|_| pool.pick(&[], false).expect("room").slot.uid == 0).count();
        // Two choices among two: the faster wins whenever both are drawn, which is always,
        // except for the random exploring picks (5 %, half of them to the slower miner).
        assert!(picks > 940, "{picks}");
        pool.set_scores(&[(0, 0.0), (1, 1.0)]);
        let picks = (0..1000).filter(|_| pool.pick(&[], false).expect("room").slot.uid == 0).count();
        assert!(picks < 60, "cost 10/0.25 = 40 > 40/1.25 = 32, so only exploring picks: {picks}");
    }

    #[test]
    fn users_are_sent_only_to_miners_in_good_standing_and_the_validator_to_all() {
        let pool = pool(3);
        pool.set_standing(&BTreeSet::from([1]));
        let users: BTreeSet<u16> = (0..300).map(|_| pool.pick(&[], false).expect("room").slot.uid).collect();
        assert_eq!(users, BTreeSet::from([0, 2]));
        let validator: BTreeSet<u16> = (0..300).map(|_| pool.pick(&[], true).expect("room").slot.uid).collect();
        assert_eq!(validator, BTreeSet::from([0, 1, 2]), "the validator keeps measuring a barred miner");
        assert!(!pool.could_serve(&[0, 2]), "a barred miner is no reason to wait");
        pool.set_standing(&BTreeSet::new());
        assert!(pool.could_serve(&[0, 2]));
    }

    #[test]
    fn spread_picks_reach_every_miner() {
        let pool = pool(3);
        pool.slots()[0].health().ttft_ms = 1.0;
        pool.set_scores(&[(0, 1.0), (1, 0.0), (2, 0.0)]);
        let mut seen = [0; 3];
        for _ in 0..300 {
            seen[usize::from(pool.pick(&[], true).expect("room").slot.uid)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 60), "{seen:?}");
    }

    #[test]
    fn a_held_miner_serves_the_competition_alone_until_the_hold_ends() {
        let pool = pool(2);
        let hold = pool.hold(1).expect("miner 1 is in the pool");
        assert!(pool.hold(1).is_none(), "one turn at a time");
        assert!(pool.hold(7).is_none(), "no such miner");
        for spread in [false, true] {
            let picked: BTreeSet<u16> = (0..200).map(|_| pool.pick(&[], spread).expect("room").slot.uid).collect();
            assert_eq!(picked, BTreeSet::from([0]), "spread {spread}: a held miner was given another request");
        }
        assert!(pool.pick_held(0, &[]).is_none(), "miner 0 is not held");
        assert!(pool.pick_held(1, &[1]).is_none(), "already tried");
        let leases: Vec<Lease> = (0..4).map(|_| pool.pick_held(1, &[]).expect("the holder's slots")).collect();
        assert!(pool.pick_held(1, &[]).is_none(), "capacity still bounds the holder");
        drop(leases);
        drop(hold);
        assert!(pool.pick_held(1, &[]).is_none(), "the hold ended");
        let slot = pool.slot(0).expect("miner 0");
        let late = pool.hold(0).expect("miner 0 is free");
        assert!(pool.lease(&slot, Picker::User).is_none(), "chosen before the hold, leased after it");
        assert!(pool.lease(&slot, Picker::Competition).is_some());
        drop(late);
        let picked: BTreeSet<u16> = (0..200).map(|_| pool.pick(&[], true).expect("room").slot.uid).collect();
        assert_eq!(picked, BTreeSet::from([0, 1]), "released: miner 1 serves everyone again");
    }

    #[tokio::test]
    async fn a_hold_waits_until_the_miners_earlier_requests_end() {
        let pool = pool(1);
        let earlier = pool.pick(&[], false).expect("room");
        let hold = pool.hold(0).expect("in the pool");
        assert!(!hold.idle(Duration::from_millis(30)).await, "a user's request is still under way");
        let settle = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            earlier.settle(Outcome::Ok, Duration::from_millis(5));
        };
        // A generous limit: the request ends after 20 ms, the limit only bounds a broken wait.
        let (idle, ()) = tokio::join!(hold.idle(Duration::from_secs(30)), settle);
        assert!(idle, "the earlier request ended within the limit");
        assert_eq!(hold.uid(), 0);
    }

    #[test]
    fn an_update_keeps_the_health_of_unchanged_miners() {
        let pool = pool(2);
        pool.slots()[1].health().ttft_ms = 7.0;
        let mut neurons: Vec<Neuron> = pool
            .slots()
            .iter()
            .map(|s| Neuron {
                uid: s.uid,
                hotkey: s.miner.hotkey.clone(),
                stake: 0,
                validator_permit: false,
                axon: Some(s.miner.base_url.clone()),
                registered_at_block: 0,
                coldkey: None,
                last_update: 0,
                capacities: Default::default(),
            })
            .collect();
        neurons[0].hotkey = "new owner".into();
        pool.update(&neurons);
        assert!(!pool.slots()[0].describe().up, "a new hotkey starts unprobed");
        assert_eq!(pool.slots()[1].describe().ttft_ms, 7.0);
    }
}
