//! Which miners users may be sent to: those in good standing.
//!
//! A miner that failed a challenge this epoch, or failed one last epoch and was given no
//! weight for that epoch, serves no user until it is back in good standing; the validator's own
//! requests still reach it (routing's spread picks), so that it is measured and can recover.
//! Read from the ledger's verdicts every second, on a blocking thread, off the request path.
//! While the last epoch's weights are not known (a node that just started), a miner that
//! failed last epoch counts as zeroed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assay_chain::{ChainView, Epochs};
use assay_ledger::{Ledger, Verdict};
use tokio::sync::watch;
use tracing::warn;

use crate::Shared;
use crate::routing::Pool;

/// How often the verdicts are read.
const EVERY: Duration = Duration::from_secs(1);

/// The weights an epoch closed with.
#[derive(Debug, Clone)]
struct EpochWeights {
    epoch: u64,
    weights: BTreeMap<u16, f64>,
}

/// What standing is computed from.
pub(crate) struct Standing {
    ledger: Arc<dyn Ledger>,
    view: ChainView,
    epochs: Epochs,
    last: Mutex<Option<EpochWeights>>,
}

impl Standing {
    pub fn new(ledger: Arc<dyn Ledger>, view: ChainView, epochs: Epochs) -> Self {
        Self { ledger, view, epochs, last: Mutex::default() }
    }

    /// The weights `epoch` closed with, (uid, weight).
    pub fn set_weights(&self, epoch: u64, weights: &[(u16, f64)]) {
        let weights = weights.iter().copied().collect();
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(EpochWeights { epoch, weights });
    }

    /// Reads the verdicts and bars or admits miners in `pool`; on a ledger error the last
    /// standing stays.
    pub async fn refresh(&self, pool: &Pool) {
        let epoch = self.epochs.of_block(self.view.head());
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let ledger = self.ledger.clone();
        match tokio::task::spawn_blocking(move || barred(ledger.as_ref(), epoch, last.as_ref())).await {
            Ok(Ok(barred)) => pool.set_standing(&barred),
            Ok(Err(e)) => {
                warn!(error = %e, "reading verdicts for the miners' standing failed; the last standing stays")
            }
            Err(e) => warn!(error = %e, "the standing task failed; the last standing stays"),
        }
    }
}

/// The miners users may not be sent to in `epoch`: those that failed a challenge in it, and
/// those that failed one in the epoch before and were given no weight for it (by `last`, when
/// it is that epoch's weights).
fn barred(ledger: &dyn Ledger, epoch: u64, last: Option<&EpochWeights>) -> assay_ledger::Result<BTreeSet<u16>> {
    let failed = |epoch: u64| -> assay_ledger::Result<BTreeSet<u16>> {
        let challenges = ledger.challenges(epoch)?;
        Ok(challenges.into_iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.uid).collect())
    };
    let mut barred = failed(epoch)?;
    if let Some(previous) = epoch.checked_sub(1) {
        let weights = last.filter(|w| w.epoch == previous).map(|w| &w.weights);
        for uid in failed(previous)? {
            let zeroed = weights.is_none_or(|w| w.get(&uid).is_none_or(|&weight| weight <= 0.0));
            if zeroed {
                barred.insert(uid);
            }
        }
    }
    Ok(barred)
}

/// Refreshes the standing every second until `stopped`.
pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => shared.standing.refresh(&shared.pool).await,
            _ = crate::until_stopped(&mut stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use assay_ledger::{ChallengeRow, SqliteLedger};

    use super::*;

    fn challenge(request_id: u64, uid: u16, verdict: Verdict) -> ChallengeRow {
        ChallengeRow { request_id, uid, points: Vec::new(), verdict, reason: "test".into(), response_ms: None }
    }

    #[test]
    fn failing_this_epoch_or_zeroed_for_failing_the_last_bars_a_miner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).expect("ledger");
        // Epoch 4: miners 1 and 2 failed, 3 passed. Epoch 5: miner 4 failed, 5 was voided.
        let last = [challenge(1, 1, Verdict::Fail), challenge(2, 2, Verdict::Fail), challenge(3, 3, Verdict::Pass)];
        ledger.record_challenges(4, &last).expect("records");
        let this = [challenge(4, 4, Verdict::Fail), challenge(5, 5, Verdict::Void), challenge(6, 3, Verdict::Pass)];
        ledger.record_challenges(5, &this).expect("records");
        let weights = |epoch, w: &[(u16, f64)]| EpochWeights { epoch, weights: w.iter().copied().collect() };

        // Miner 1 was zeroed for its failure, miner 2 kept some weight (the policy forgave it).
        let closed = weights(4, &[(1, 0.0), (2, 0.1), (3, 0.9)]);
        assert_eq!(barred(&ledger, 5, Some(&closed)).expect("reads"), BTreeSet::from([1, 4]));
        // Weights not known for epoch 4 (an older epoch's, or none): both count as zeroed.
        assert_eq!(barred(&ledger, 5, Some(&weights(3, &[(2, 1.0)]))).expect("reads"), BTreeSet::from([1, 2, 4]));
        assert_eq!(barred(&ledger, 5, None).expect("reads"), BTreeSet::from([1, 2, 4]));
        // An epoch later, only what failed in it counts.
        assert_eq!(barred(&ledger, 6, Some(&weights(5, &[]))).expect("reads"), BTreeSet::from([4]));
    }
}
