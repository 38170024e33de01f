//! The ledger: the durable record of what happened in each epoch.
//!
//! Owns: the [`Ledger`] interface, its row types (`rows`), and the SQLite backend
//! ([`SqliteLedger`]): request, challenge, token-check and commit-reveal rows, exchanges kept for verification, each
//! epoch's challenge seed and its commitment, the policies' state blobs, the host's settings
//! (which policy is active), and the outgoing queue of closed epochs (publication and weights
//! still to send). Must not touch: scoring, HTTP or the chain; it stores and returns rows.
//!
//! Another backend (Postgres, for validators that run several instances) implements the same
//! trait; callers hold an `Arc<dyn Ledger>` and never name the backend.

mod contract;
mod error;
mod reveals;
mod rows;
mod schema;
mod sqlite;

pub use error::{Error, Result};
pub use rows::{
    ChallengeRow, ClosedEpoch, Closing, EpochSeed, Exchange, Outcome, Outgoing, PointRow, RequestContent, RequestEntry,
    RequestKind, RequestRow, Verdict, WeightsState,
};
pub use rows::{CommitRevealRow, MAX_REVEAL_ELEMENTS, RevealStatus};
pub use rows::{MAX_TOKEN_CHECKS, TokenCheckRow};
pub use sqlite::{DEFAULT_RESERVE_BYTES, SqliteLedger};

/// What the host needs from a ledger. Every write is durable when it returns `Ok`.
pub trait Ledger: Send + Sync {
    /// Records requests of `epoch` with their exchanges, in one transaction. Refused as a whole
    /// with [`Error::Frozen`] once the epoch's closing has begun, so that a late record goes to
    /// a later epoch instead of being silently left out of scoring; with [`Error::Duplicate`]
    /// when a request id is already recorded for the epoch; with [`Error::Full`] when the disk
    /// is full or down to the space kept for closing epochs.
    fn record_traffic(&self, epoch: u64, entries: &[(RequestEntry, Option<Exchange>)]) -> Result<usize>;

    /// The epoch's exchanges recorded after position `after` (0: from the first), in recording
    /// order, each with its position: a reader that polls passes the last position it saw.
    fn exchanges_after(&self, epoch: u64, after: i64) -> Result<Vec<(i64, Exchange)>>;

    /// Marks `epoch` as closing: from now on nothing is recorded into it. Idempotent.
    fn freeze_epoch(&self, epoch: u64) -> Result<()>;

    /// Records judged challenges of `epoch`; refused with [`Error::Frozen`] once its closing
    /// has begun.
    fn record_challenges(&self, epoch: u64, rows: &[ChallengeRow]) -> Result<usize>;

    /// Records the token checks of requests verified in `epoch` (each cut to
    /// [`MAX_TOKEN_CHECKS`] tokens; a request checked twice keeps its first); refused with
    /// [`Error::Frozen`] once its closing has begun. A backend without the table (a test
    /// double) keeps none.
    fn record_token_checks(&self, _epoch: u64, _rows: &[TokenCheckRow]) -> Result<usize> {
        Ok(0)
    }

    /// The token checks recorded in `epoch`, by request id: what the epoch input's per-request
    /// token measurements are filled from.
    fn token_checks(
        &self,
        _epoch: u64,
    ) -> Result<std::collections::BTreeMap<u64, Vec<assay_policy_sdk::TokenMeasurement>>> {
        Ok(Default::default())
    }

    /// Records the commit-reveal rows of rounds run in `epoch`, in one transaction. Refused as
    /// a whole with [`Error::Frozen`] once its closing has begun; with [`Error::Duplicate`] when
    /// a (round, uid) is already recorded for the epoch; with [`Error::BadCommitReveal`] for a
    /// row the contract cannot carry (an output over [`MAX_REVEAL_ELEMENTS`] or on a reveal
    /// that is not valid, a number that is not finite, a negative time). A backend without the
    /// table (a test double) keeps none.
    fn record_commit_reveals(&self, _epoch: u64, _rows: &[CommitRevealRow]) -> Result<usize> {
        Ok(0)
    }

    /// The commit-reveal rows recorded in the epochs of `epochs`, each with its epoch, by
    /// (epoch, round, uid).
    fn commit_reveals(&self, _epochs: std::ops::Range<u64>) -> Result<Vec<(u64, CommitRevealRow)>> {
        Ok(Vec::new())
    }

    /// The epoch's requests, by id (without their `content`: see `request_contents`).
    fn requests(&self, epoch: u64) -> Result<Vec<RequestEntry>>;

    /// The contents kept for the public dataset of the epoch's requests, by request id (the
    /// epoch's close reads them; until retention drops them).
    fn request_contents(&self, epoch: u64) -> Result<std::collections::BTreeMap<u64, RequestContent>>;

    /// The epoch's challenges, by request id then in recording order.
    fn challenges(&self, epoch: u64) -> Result<Vec<ChallengeRow>>;

    /// The seed of `epoch`, drawing (with `draw`) and committing a fresh one on first call.
    /// The seed stays secret until the epoch's summary reveals it.
    fn epoch_seed(&self, epoch: u64, draw: fn() -> [u8; 32]) -> Result<EpochSeed>;

    /// Closes an epoch: marks it closed with its summary's sha256, keeps the scorer's new state
    /// and queues what must still go out, in one transaction.
    fn close_epoch(&self, closing: &Closing) -> Result<()>;

    /// Epochs before `before` whose seed was drawn (they were started) but which are not closed.
    fn open_epochs(&self, before: u64) -> Result<Vec<u64>>;

    /// The latest closed epoch, if any.
    fn last_closed(&self) -> Result<Option<ClosedEpoch>>;

    /// The state `scorer` returned at its latest closed epoch before `epoch`; empty when it has
    /// none (a newly activated policy starts from an empty state).
    fn state_before(&self, epoch: u64, scorer: &str) -> Result<Vec<u8>>;

    /// The scorer that closed the latest epoch, if any.
    fn last_scorer(&self) -> Result<Option<String>>;

    fn set_setting(&self, key: &str, value: &str) -> Result<()>;

    fn setting(&self, key: &str) -> Result<Option<String>>;

    /// Closed epochs whose publication or weights are not done, oldest first.
    fn outgoing(&self) -> Result<Vec<Outgoing>>;

    /// The latest closed epoch that has weights to set, done or not: older pending weights are
    /// stale once it exists.
    fn last_epoch_with_weights(&self) -> Result<Option<u64>>;

    /// The latest closed epoch whose objects were all published, if any.
    fn last_published(&self) -> Result<Option<u64>>;

    /// Every object of `epoch` is published: its queued bytes are dropped.
    fn mark_published(&self, epoch: u64) -> Result<()>;

    /// What `epoch`'s weights became.
    fn mark_weights(&self, epoch: u64, state: &WeightsState) -> Result<()>;

    /// Retention: drops the exchanges (the bodies sent, users' prompts among them, and the
    /// miners' evidence) and the requests' contents (hashes, published text) of epochs closed
    /// before `closed_before_ms` whose objects are published; request and challenge records,
    /// seeds and states stay. Returns how many exchanges were dropped.
    fn prune_bodies(&self, closed_before_ms: u64) -> Result<usize>;
}

/// Records requests without exchanges (imports, tests).
pub fn record_requests(ledger: &dyn Ledger, epoch: u64, entries: &[RequestEntry]) -> Result<usize> {
    let rows: Vec<(RequestEntry, Option<Exchange>)> = entries.iter().map(|e| (e.clone(), None)).collect();
    ledger.record_traffic(epoch, &rows)
}

#[cfg(test)]
mod tests;
