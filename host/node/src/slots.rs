//! The two policy slots, scorer and challenger, and how they swap at epoch boundaries.
//!
//! `assay policy activate` writes a ledger setting; the node reads it at the next boundary, so
//! a subnet owner swaps policies with no restart. A newly activated policy that cannot load is
//! refused with a loud log and the previous one keeps working; so is a challenger whose plan is
//! refused as its own fault, while it has judged nothing in the epoch. The challenger that
//! judged an epoch is noted in the ledger per epoch, so the epoch's signed summary names the
//! challenger that ran, not the one configured.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use assay_ledger::Ledger;
use assay_policy_runtime::{Challenger, Digest, PolicyStore, Runtime, Scorer};
use tracing::{error, info, warn};

use crate::close::ScorerChoice;
use crate::{Error, Result};

/// Ledger settings the node reads at every epoch boundary; `assay policy activate` writes them.
pub const ACTIVE_SCORER: &str = "active_scorer";
pub const ACTIVE_CHALLENGER: &str = "active_challenger";

/// The ledger setting naming the challenger that judged `epoch`.
pub fn challenger_of_epoch(epoch: u64) -> String {
    format!("challenger_of_epoch.{epoch}")
}

/// Where policies come from: the store, the runtime that compiles them, the ledger's settings
/// and the config's defaults.
#[derive(Clone)]
pub struct PolicySource {
    pub ledger: Arc<dyn Ledger>,
    pub policies: PolicyStore,
    pub runtime: Runtime,
    pub default_scorer: Option<String>,
    pub default_challenger: Option<String>,
}

impl PolicySource {
    fn wanted(&self, setting: &str, default: &Option<String>) -> Result<Option<Digest>> {
        let wanted = match self.ledger.setting(setting)? {
            Some(d) => Some(d),
            None => default.clone(),
        };
        wanted.map(|d| d.parse().map_err(|e| Error::Policy(format!("the {setting} setting {d:?}: {e}")))).transpose()
    }

    /// The active scorer's digest: the ledger's setting, else the config's.
    pub fn wanted_scorer(&self) -> Result<Digest> {
        self.wanted(ACTIVE_SCORER, &self.default_scorer)?.ok_or_else(|| {
            Error::Policy(
                "no scorer is active: set policy.scorer in the config or run `assay policy activate <sha256>`".into(),
            )
        })
    }

    /// The active challenger's digest: the ledger's setting, else the config's.
    pub fn wanted_challenger(&self) -> Result<Option<Digest>> {
        self.wanted(ACTIVE_CHALLENGER, &self.default_challenger)
    }

    pub fn load_scorer(&self, digest: &Digest) -> Result<Scorer> {
        let bytes = self.policies.get(digest)?;
        Ok(self.runtime.load_scorer(digest, &bytes)?)
    }

    pub fn load_challenger(&self, digest: &Digest) -> Result<Challenger> {
        let bytes = self.policies.get(digest)?;
        Ok(self.runtime.load_challenger(digest, &bytes)?)
    }
}

/// The scorer slot: the scorer of the last boundary, kept when a newly activated one cannot be
/// loaded, and the fallback when the active one fails.
pub struct ScorerSlot {
    source: PolicySource,
    current: Option<Scorer>,
}

impl ScorerSlot {
    /// Starts from the scorer that closed the last epoch, when it still loads.
    pub fn open(source: PolicySource) -> Result<Self> {
        let mut slot = Self { source, current: None };
        if let Some(last) = slot.source.ledger.last_scorer()? {
            match last.parse().map_err(|e| Error::Policy(format!("{e}"))).and_then(|d| slot.source.load_scorer(&d)) {
                Ok(scorer) => slot.current = Some(scorer),
                Err(e) => warn!(scorer = %last, error = %e, "the last epoch's scorer cannot be loaded"),
            }
        }
        Ok(slot)
    }

    /// The scorers for this boundary. A newly activated scorer that fails to load is refused
    /// and the previous one keeps working.
    pub fn for_boundary(&mut self) -> Result<ScorerChoice> {
        let wanted = self.source.wanted_scorer()?;
        if let Some(current) = &self.current
            && current.digest() == wanted
        {
            return Ok(ScorerChoice { active: current.clone(), fallback: None, shadow: None });
        }
        match self.source.load_scorer(&wanted) {
            Ok(scorer) => {
                if let Some(previous) = &self.current {
                    info!(from = %previous.digest(), to = %wanted, "switching scorer at this epoch boundary");
                }
                let choice = ScorerChoice { active: scorer.clone(), fallback: self.current.clone(), shadow: None };
                self.current = Some(scorer);
                Ok(choice)
            }
            Err(e) => match &self.current {
                Some(current) => {
                    error!(wanted = %wanted, keeping = %current.digest(), error = %e,
                        "the activated scorer cannot be loaded; keeping the previous one");
                    Ok(ScorerChoice { active: current.clone(), fallback: None, shadow: None })
                }
                None => Err(Error::Policy(format!("loading scorer {wanted}: {e}"))),
            },
        }
    }

    /// After a close: a fallback means the newly active scorer failed, so keep the one that
    /// worked.
    pub fn closed_with_fallback(&mut self, fallback: Option<Scorer>) {
        self.current = fallback;
    }

    pub fn current(&self) -> Option<Digest> {
        self.current.as_ref().map(Scorer::digest)
    }
}

/// The challenger slot, shared with the verifier: each epoch gets the challenger active when
/// it is first asked for, swapped only at boundaries, and noted in the ledger.
pub struct ChallengerSlot {
    source: PolicySource,
    /// The challenger of each epoch asked for; the oldest are dropped.
    by_epoch: Mutex<BTreeMap<u64, Challenger>>,
    /// Challengers whose plans were refused as their own fault in this process: not taken up
    /// again at a boundary while a previous one is at hand.
    refused: Mutex<HashSet<Digest>>,
}

/// Epochs whose challenger is kept in memory (a verdict recorded late goes into the current or
/// the next epoch, never an old one).
const KEPT_EPOCHS: usize = 4;

impl ChallengerSlot {
    /// Loads the active challenger now, so a bad one is refused at start-up.
    pub fn open(source: PolicySource, epoch: u64) -> Result<Arc<Self>> {
        let slot =
            Arc::new(Self { source, by_epoch: Mutex::new(BTreeMap::new()), refused: Mutex::new(HashSet::new()) });
        slot.resolve(epoch)?;
        Ok(slot)
    }

    fn resolve(&self, epoch: u64) -> Result<Challenger> {
        let mut by_epoch = self.by_epoch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = by_epoch.get(&epoch) {
            return Ok(c.clone());
        }
        // An epoch keeps the challenger it started judging with, across a restart too: the
        // summary names one challenger per epoch, and it must be the one that judged.
        if let Some(noted) = self.noted(epoch) {
            by_epoch.insert(epoch, noted.clone());
            return Ok(noted);
        }
        let previous = by_epoch.range(..epoch).next_back().map(|(_, c)| c.clone());
        let wanted = self.source.wanted_challenger()?.ok_or_else(|| {
            Error::Policy(
                "[verify] needs a challenger policy: set policy.challenger or run `assay policy activate`".into(),
            )
        })?;
        let challenger = match self.instead_of_refused(&by_epoch, epoch, wanted) {
            Some(kept) => {
                error!(epoch, wanted = %wanted, keeping = %kept.digest(),
                    "the activated challenger's plans were refused; keeping the previous one");
                kept
            }
            None => self.switch(epoch, previous, wanted)?,
        };
        self.source.ledger.set_setting(&challenger_of_epoch(epoch), &challenger.digest().to_string())?;
        by_epoch.insert(epoch, challenger.clone());
        while by_epoch.len() > KEPT_EPOCHS {
            by_epoch.pop_first();
        }
        Ok(challenger)
    }
}

impl ChallengerSlot {
    /// `wanted` for `epoch`, loaded, unless it is `previous`; when it cannot be loaded the
    /// previous one is kept.
    fn switch(&self, epoch: u64, previous: Option<Challenger>, wanted: Digest) -> Result<Challenger> {
        Ok(match previous {
            Some(p) if p.digest() == wanted => p,
            previous => match self.source.load_challenger(&wanted) {
                Ok(c) => {
                    if let Some(p) = &previous {
                        info!(epoch, from = %p.digest(), to = %wanted, "switching challenger at this epoch boundary");
                    }
                    c
                }
                Err(e) => match previous {
                    Some(p) => {
                        error!(epoch, wanted = %wanted, keeping = %p.digest(), error = %e,
                            "the activated challenger cannot be loaded; keeping the previous one");
                        p
                    }
                    None => return Err(Error::Policy(format!("loading challenger {wanted}: {e}"))),
                },
            },
        })
    }

    /// When `wanted`'s plans were refused: the latest challenger before `epoch` whose were not.
    fn instead_of_refused(
        &self,
        by_epoch: &BTreeMap<u64, Challenger>,
        epoch: u64,
        wanted: Digest,
    ) -> Option<Challenger> {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if !refused.contains(&wanted) {
            return None;
        }
        by_epoch.range(..epoch).rev().map(|(_, c)| c).find(|c| !refused.contains(&c.digest())).cloned()
    }

    /// The challenger the ledger notes for `epoch` (this process or an earlier one judged with
    /// it), when it still loads.
    fn noted(&self, epoch: u64) -> Option<Challenger> {
        let noted = self.source.ledger.setting(&challenger_of_epoch(epoch)).ok().flatten()?;
        let loaded = noted
            .parse()
            .map_err(|e| Error::Policy(format!("{e}")))
            .and_then(|digest| self.source.load_challenger(&digest));
        match loaded {
            Ok(challenger) => Some(challenger),
            Err(e) => {
                error!(epoch, noted = %noted, error = %e,
                    "the challenger noted for this epoch cannot be loaded; the active one takes over");
                None
            }
        }
    }
}

impl ChallengerSlot {
    /// `refused`'s plan for `epoch` was refused as its own fault: the previous challenger takes
    /// the epoch back, when there is one and `refused` has judged nothing in it yet (the summary
    /// names one challenger per epoch). True when it did.
    fn take_back(&self, epoch: u64, refused: Digest, reason: &str) -> bool {
        self.refused.lock().unwrap_or_else(|p| p.into_inner()).insert(refused);
        let mut by_epoch = self.by_epoch.lock().unwrap_or_else(|p| p.into_inner());
        if by_epoch.get(&epoch).map(Challenger::digest) != Some(refused) {
            return false;
        }
        let Some(previous) = by_epoch.range(..epoch).rev().map(|(_, c)| c).find(|c| c.digest() != refused).cloned()
        else {
            error!(epoch, challenger = %refused, reason, "the challenger's plan is refused and no previous one can take over");
            return false;
        };
        let judged = match self.source.ledger.challenges(epoch) {
            Ok(rows) => !rows.is_empty(),
            Err(e) => {
                error!(epoch, error = %e, "reading the epoch's challenges failed; the refused challenger keeps it");
                return false;
            }
        };
        if judged {
            error!(epoch, challenger = %refused, reason,
                "the challenger's plan is refused, but it already judged in this epoch; it keeps the epoch");
            return false;
        }
        let noted = self.source.ledger.set_setting(&challenger_of_epoch(epoch), &previous.digest().to_string());
        if let Err(e) = noted {
            error!(epoch, error = %e, "noting the previous challenger failed; the refused challenger keeps the epoch");
            return false;
        }
        error!(epoch, refused = %refused, keeping = %previous.digest(), reason,
            "the challenger's plan is refused; the previous challenger takes the epoch back");
        by_epoch.insert(epoch, previous);
        true
    }
}

impl assay_verify::Challengers for ChallengerSlot {
    fn for_epoch(&self, epoch: u64) -> std::result::Result<Challenger, String> {
        self.resolve(epoch).map_err(|e| e.to_string())
    }

    fn plan_refused(&self, epoch: u64, challenger: Digest, reason: &str) -> bool {
        self.take_back(epoch, challenger, reason)
    }
}
