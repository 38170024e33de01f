//! Following the subnet owner's policy announcements (the validators' side).
//!
//! Owns: reading the owner's commitment once an epoch (bounded in time), fetching an announced
//! policy by hash from the owner's publication (bounded in size) unless the store holds it,
//! checking it as `assay policy check` does (its hash, the announced world, compiles and
//! instantiates) before storing it, and the swap's schedule, kept in the ledger's settings so
//! that a restart keeps it. A scorer announced at epoch A runs in shadow at A+1 and takes over
//! at A+2 (or one epoch before and at the epoch the owner names); a challenger takes over at the
//! next boundary (or the named epoch). A policy that cannot be fetched or fails a check is
//! refused with an `error` log and a status line; the previous one keeps running and the
//! announcement is retried the next epoch.
//! Must not touch: the announcement's text (`announcement`), closing epochs (`close`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_chain::{Chain, Commitment, Epochs, Metagraph};
use assay_ledger::Ledger;
use assay_policy_runtime::{Digest, Runtime, Scorer, World};
use assay_publish::{ObjectStore, keys};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::announcement::{Announced, Announcement};
use crate::slots::{ACTIVE_CHALLENGER, ACTIVE_SCORER, PolicySource};
use crate::{Error, Result};

/// Ledger settings holding a scheduled swap (JSON of [`Scheduled`]; empty when none).
pub const ANNOUNCED_SCORER: &str = "announced_scorer";
pub const ANNOUNCED_CHALLENGER: &str = "announced_challenger";

/// The most bytes an announced policy may hold: what an owner's publication can make every
/// validator read and compile (a component is about 100 KB).
pub const MAX_POLICY_BYTES: u64 = 16 << 20;

/// How long one read of the owner's commitment may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon a failed read is tried again within the epoch.
const RETRY_AFTER: Duration = Duration::from_secs(15);

/// A swap the owner announced: `sha256` is active from epoch `active_from` (a scorer runs in
/// shadow the epoch before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    pub sha256: String,
    pub active_from: u64,
}

/// Why an announced policy was refused. The previous policy keeps running.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("it is not in the owner's publication {0}")]
    NotPublished(String),
    #[error("the policy store lacks it and no [policy] owner_publication is configured to fetch it from")]
    NoPublication,
    #[error("it is {0} bytes, over the cap of {MAX_POLICY_BYTES}")]
    TooLarge(u64),
    #[error("reading the owner's publication: {0}")]
    Unreadable(String),
    /// Its bytes do not hash to the announced digest, it is of the other world, or it does not
    /// compile or instantiate.
    #[error("{0}")]
    Check(#[from] assay_policy_runtime::Error),
}

/// What one announcement came to at a read.
#[derive(Debug)]
pub enum Outcome {
    /// It names the active policy (a swap still scheduled, if any, is withdrawn).
    Active,
    /// It was scheduled at an earlier read.
    Scheduled(Scheduled),
    /// Fetched, checked, stored and scheduled now.
    Accepted(Scheduled),
    Refused(Refusal),
}

/// One read of the owner's commitment and what became of each announcement.
#[derive(Debug, Default)]
pub struct FollowReport {
    /// The owner followed; `None` when none is known (or following is off: `following` false).
    pub owner: Option<String>,
    pub following: bool,
    /// The commitment's block, when the owner holds one.
    pub block: Option<u64>,
    pub outcomes: Vec<(Announcement, Outcome)>,
    /// Fields that start like an announcement but do not parse.
    pub malformed: Vec<String>,
}

impl FollowReport {
    /// The status's lines.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .outcomes
            .iter()
            .map(|(a, outcome)| {
                let what = match outcome {
                    Outcome::Active => "active".to_string(),
                    Outcome::Scheduled(s) | Outcome::Accepted(s) => format!("active from epoch {}", s.active_from),
                    Outcome::Refused(why) => format!("refused: {why}"),
                };
                format!("{} {}: {what}", a.world, a.digest)
            })
            .collect();
        lines.extend(self.malformed.iter().map(|m| format!("malformed announcement: {m}")));
        if !self.following {
            lines.push("not following the owner ([policy] follow_owner = false)".into());
        } else if self.owner.is_none() {
            lines.push("no subnet owner known: nothing to follow".into());
        }
        lines
    }

    /// The outcome for `world`, if the owner announced one.
    pub fn outcome(&self, world: World) -> Option<&Outcome> {
        self.outcomes.iter().find(|(a, _)| a.world == world).map(|(_, o)| o)
    }
}

/// The validator's follower: whom to follow, where to fetch from, and when it last read.
pub struct Follower {
    pub(crate) enabled: bool,
    owner_override: Option<String>,
    publication: Option<Arc<dyn ObjectStore>>,
    read_epoch: Option<u64>,
    retry_at: Option<Instant>,
}

impl Follower {
    pub fn new(enabled: bool, owner_override: Option<String>, publication: Option<Arc<dyn ObjectStore>>) -> Self {
        Self { enabled, owner_override, publication, read_epoch: None, retry_at: None }
    }

    /// Whether the loop should read the owner's commitment at `current` (once an epoch, a
    /// failed read again after a pause).
    pub(crate) fn due(&self, current: u64) -> bool {
        self.enabled && self.read_epoch != Some(current) && self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    pub(crate) fn read_done(&mut self, current: u64, ok: bool) {
        if ok {
            self.read_epoch = Some(current);
            self.retry_at = None;
        } else {
            self.retry_at = Some(Instant::now() + RETRY_AFTER);
        }
    }

    /// The owner: the config's, else the metagraph's.
    pub fn owner(&self, metagraph: &Metagraph) -> Option<String> {
        self.owner_override.clone().or_else(|| metagraph.owner_hotkey.clone())
    }

    /// The owner's commitment, within [`READ_TIMEOUT`].
    pub async fn read(&self, chain: &dyn Chain, netuid: u16, owner: &str) -> Result<Option<Commitment>> {
        match tokio::time::timeout(READ_TIMEOUT, chain.commitment(netuid, owner)).await {
            Ok(read) => Ok(read?),
            Err(_) => Err(Error::Chain(assay_chain::Error::Refused(format!(
                "reading {owner}'s commitment took over {} s",
                READ_TIMEOUT.as_secs()
            )))),
        }
    }

    /// Follows what `commitment` announces, at epoch `current`. Blocking (fetches and
    /// compiles); ledger faults are errors, an announcement's own faults its outcome.
    pub fn follow(
        &self,
        source: &PolicySource,
        epochs: Epochs,
        current: u64,
        commitment: &Commitment,
    ) -> Result<Vec<(Announcement, Outcome)>> {
        let announced = Announced::read(&commitment.fields);
        for malformed in &announced.malformed {
            error!(error = %malformed, "the owner's commitment holds a malformed announcement; it is ignored");
        }
        let at = epochs.of_block(commitment.block);
        let mut outcomes = Vec::new();
        for announcement in [announced.scorer, announced.challenger].into_iter().flatten() {
            let outcome = self.follow_one(source, &announcement, at, current)?;
            outcomes.push((announcement, outcome));
        }
        Ok(outcomes)
    }

    fn follow_one(&self, source: &PolicySource, a: &Announcement, at: u64, current: u64) -> Result<Outcome> {
        let (active, setting) = match a.world {
            World::Scorer => (Some(source.wanted_scorer()?), ANNOUNCED_SCORER),
            World::Challenger => (source.wanted_challenger()?, ANNOUNCED_CHALLENGER),
        };
        let ledger = source.ledger.as_ref();
        let scheduled = scheduled(ledger, setting)?;
        if active == Some(a.digest) {
            if let Some(withdrawn) = scheduled {
                info!(world = %a.world, withdrawn = %withdrawn.sha256, "the owner announces the active policy again: the scheduled swap is withdrawn");
                ledger.set_setting(setting, "")?;
            }
            return Ok(Outcome::Active);
        }
        if let Some(s) = scheduled.filter(|s| s.sha256 == a.digest.to_string()) {
            return Ok(Outcome::Scheduled(s));
        }
        if let Err(refusal) = self.fetch_checked(source, a) {
            error!(world = %a.world, sha256 = %a.digest, error = %refusal,
                "the owner's announced policy is refused; the previous one keeps running (retried next epoch)");
            return Ok(Outcome::Refused(refusal));
        }
        // A scorer's shadow epoch must be one not closed yet; a challenger's first epoch one not
        // started yet.
        let not_before = match a.world {
            World::Scorer => ledger.last_closed()?.map_or(0, |c| c.epoch.saturating_add(1)),
            World::Challenger => current,
        };
        let s = Scheduled { sha256: a.digest.to_string(), active_from: active_from(a, at, not_before) };
        ledger.set_setting(setting, &serde_json::to_string(&s)?)?;
        match a.world {
            World::Scorer => info!(sha256 = %a.digest, shadow_epoch = s.active_from - 1, active_from = s.active_from,
                "the owner announced a scorer: it runs in shadow, then takes over"),
            World::Challenger => info!(sha256 = %a.digest, active_from = s.active_from,
                "the owner announced a challenger: it takes over at that boundary"),
        }
        Ok(Outcome::Accepted(s))
    }

    /// The announced policy's bytes, from the store when it holds them, else from the owner's
    /// publication; checked, then stored.
    fn fetch_checked(&self, source: &PolicySource, a: &Announcement) -> std::result::Result<(), Refusal> {
        let bytes = match source.policies.get(&a.digest) {
            Ok(bytes) => bytes,
            Err(_) => fetch(self.publication.as_deref(), &a.digest)?,
        };
        check_policy(&source.runtime, &a.digest, &bytes, a.world)?;
        source.policies.add(&bytes)?;
        Ok(())
    }
}

/// The epoch an announcement takes effect at: the one it names, but no earlier than a scorer's
/// shadow epoch allows (two after the announcement's) or a challenger's next boundary, and
/// never before the epoch after `not_before` (a validator that reads it late: a scorer's shadow
/// epoch is then the first it has not closed, a challenger's the epoch after the current one).
fn active_from(a: &Announcement, at: u64, not_before: u64) -> u64 {
    let earliest = match a.world {
        World::Scorer => at.saturating_add(2),
        World::Challenger => at.saturating_add(1),
    };
    let named = a.from_epoch.unwrap_or(earliest);
    if named < earliest {
        warn!(world = %a.world, named, earliest, "the announcement names an epoch too early; it takes effect at the earliest");
    }
    named.max(earliest).max(not_before.saturating_add(1))
}

/// `digest`'s bytes from the owner's publication, within [`MAX_POLICY_BYTES`] and verified
/// against the digest.
pub fn fetch(publication: Option<&dyn ObjectStore>, digest: &Digest) -> std::result::Result<Vec<u8>, Refusal> {
    let publication = publication.ok_or(Refusal::NoPublication)?;
    let bytes = publication
        .get(&keys::policy(&digest.to_string()))
        .map_err(|e| Refusal::Unreadable(e.to_string()))?
        .ok_or_else(|| Refusal::NotPublished(publication.describe()))?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(Refusal::TooLarge(bytes.len() as u64));
    }
    digest.verify(&bytes)?;
    Ok(bytes)
}

/// `assay policy check`'s checks for an announced policy: its bytes hash to `digest`, it is a
/// component of `world`, and it compiles and instantiates.
pub fn check_policy(
    runtime: &Runtime,
    digest: &Digest,
    bytes: &[u8],
    world: World,
) -> std::result::Result<(), assay_policy_runtime::Error> {
    match world {
        World::Scorer => runtime.load_scorer(digest, bytes).map(drop),
        World::Challenger => runtime.load_challenger(digest, bytes).map(drop),
    }
}

/// The swap scheduled in `setting`, if any.
fn scheduled(ledger: &dyn Ledger, setting: &str) -> Result<Option<Scheduled>> {
    match ledger.setting(setting)?.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => Ok(Some(serde_json::from_str(&text)?)),
    }
}

/// At `epoch`'s close: a scheduled scorer due at this epoch becomes the active scorer (the
/// ledger's setting, which the scorer slot reads next); one whose shadow epoch this is is
/// returned, to run beside the active one.
pub fn scorer_at_close(source: &PolicySource, epoch: u64) -> Result<Option<Scorer>> {
    let ledger = source.ledger.as_ref();
    let Some(s) = scheduled(ledger, ANNOUNCED_SCORER)? else { return Ok(None) };
    if epoch >= s.active_from {
        info!(epoch, scorer = %s.sha256, "the owner's announced scorer takes over at this epoch");
        ledger.set_setting(ACTIVE_SCORER, &s.sha256)?;
        ledger.set_setting(ANNOUNCED_SCORER, "")?;
        return Ok(None);
    }
    if epoch.saturating_add(1) != s.active_from {
        return Ok(None);
    }
    let loaded = s.sha256.parse().map_err(|e| Error::Policy(format!("{e}"))).and_then(|d| source.load_scorer(&d));
    match loaded {
        Ok(scorer) => Ok(Some(scorer)),
        Err(e) => {
            error!(epoch, scorer = %s.sha256, error = %e, "the announced scorer cannot be loaded for its shadow epoch");
            Ok(None)
        }
    }
}

/// A scheduled challenger becomes the active one during the epoch before it is due, so that
/// the challenger slot takes it up at that boundary.
pub fn challenger_at(ledger: &dyn Ledger, current: u64) -> Result<()> {
    let Some(s) = scheduled(ledger, ANNOUNCED_CHALLENGER)? else { return Ok(()) };
    if current.saturating_add(1) >= s.active_from {
        info!(epoch = current + 1, challenger = %s.sha256, "the owner's announced challenger takes over at the next boundary");
        ledger.set_setting(ACTIVE_CHALLENGER, &s.sha256)?;
        ledger.set_setting(ANNOUNCED_CHALLENGER, "")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement(world: World, from_epoch: Option<u64>) -> Announcement {
        Announcement { world, digest: Digest::of(b"x"), from_epoch }
    }

    #[test]
    fn a_scorer_runs_in_shadow_the_epoch_before_it_takes_over() {
        // (announced at, first epoch not closed when read, named epoch) → active from
        for (at, current, named, expected) in [
            (3, 3, None, 5),
            (3, 4, None, 5),
            (3, 7, None, 8),
            (3, 3, Some(10), 10),
            (3, 3, Some(4), 5),
            (3, 12, Some(10), 13),
        ] {
            assert_eq!(
                active_from(&announcement(World::Scorer, named), at, current),
                expected,
                "{at} {current} {named:?}"
            );
        }
        for (at, current, named, expected) in [(3, 3, None, 4), (3, 5, None, 6), (3, 3, Some(8), 8), (3, 3, Some(2), 4)]
        {
            let a = announcement(World::Challenger, named);
            assert_eq!(active_from(&a, at, current), expected, "{at} {current} {named:?}");
        }
        assert_eq!(active_from(&announcement(World::Scorer, Some(u64::MAX)), u64::MAX, u64::MAX), u64::MAX);
    }
}
