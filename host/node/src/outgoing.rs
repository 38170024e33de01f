//! What goes out after an epoch closes: its objects to the object store, then its weights to
//! the chain (weights follow publication, so anyone can check them when they appear), from the
//! ledger's outgoing queue, retried with backoff until done.
//!
//! Idempotent across restarts: objects are the exact bytes queued at close (publishing them
//! twice writes the same bytes), and before sending weights the chain is asked whether this
//! validator's weights were accepted since the epoch closed (a host may die between the chain
//! accepting and the ledger noting it). Only the newest epoch's weights are ever sent: an
//! older epoch still pending when a newer one closes is superseded. Beside the weights, the
//! latest published summary's hash is committed on chain (`summary_commit.rs`), retried the
//! same way. `latest.json` never moves backwards: an older epoch retried after a newer one was
//! published leaves the newer pointer in place (`put_object`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use assay_chain::{Chain, WeightsCall};
use assay_ledger::{Ledger, Outgoing, WeightsState};
use assay_publish::{ObjectStore, keys};
use tracing::{error, info, warn};

use crate::Result;

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one pass over the queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// Epochs whose objects were published in this pass.
    pub published: Vec<u64>,
    /// `(epoch, block)` of weights accepted in this pass (or found accepted).
    pub weights: Vec<(u64, u64)>,
    /// Epochs still waiting for something.
    pub pending: Vec<u64>,
    /// The last error of each epoch that is still pending, for the status.
    pub errors: Vec<(u64, String)>,
    /// `(epoch, block)` of the summary hash committed on chain in this pass (or found there).
    pub committed: Option<(u64, u64)>,
}

/// The queue's drainer; keeps, per epoch that failed, how often and when it may next be tried.
#[derive(Default)]
pub struct Drainer {
    backoff: HashMap<u64, (u32, Instant)>,
    /// `set_weights` calls made and failed since start (for the metrics).
    pub(crate) weights_attempts: u64,
    pub(crate) weights_failures: u64,
    /// The summary hash's commitment: the epoch that failed, failures so far and when it may
    /// next be tried (a newer epoch is tried at once).
    commit_backoff: Option<(u64, u32, Instant)>,
}

/// How long to wait after the `failures`-th failure in a row.
fn backoff_after(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.min(8)).min(MAX_BACKOFF)
}

impl Drainer {
    /// One pass: publishes and sends what is due. Never fails as a whole: an error of one epoch
    /// is logged, kept for the status and retried later.
    pub async fn pass(
        &mut self,
        ledger: &dyn Ledger,
        chain: &dyn Chain,
        store: &dyn ObjectStore,
        netuid: u16,
        validator: &str,
    ) -> Result<Sent> {
        let mut sent = self.drain_queue(ledger, chain, store, validator).await?;
        self.commit_summary(ledger, chain, netuid, validator, &mut sent).await;
        Ok(sent)
    }

    /// The summary hash on chain, once its summary is published; a failure is logged, kept for
    /// the status (under its epoch) and retried with backoff.
    async fn commit_summary(
        &mut self,
        ledger: &dyn Ledger,
        chain: &dyn Chain,
        netuid: u16,
        validator: &str,
        sent: &mut Sent,
    ) {
        let epoch = match ledger.last_closed() {
            Ok(last) => last.map_or(0, |c| c.epoch),
            Err(e) => {
                error!(error = %e, "reading the last closed epoch failed; the summary's hash is committed later");
                return;
            }
        };
        if self.commit_backoff.is_some_and(|(failed, _, next)| failed == epoch && Instant::now() < next) {
            return;
        }
        match crate::summary_commit::commit_latest(ledger, chain, netuid, validator).await {
            Ok(done) => {
                self.commit_backoff = None;
                sent.committed = done;
            }
            Err(reason) => {
                let failures = self.commit_backoff.filter(|(failed, ..)| *failed == epoch).map_or(0, |(_, n, _)| n) + 1;
                let wait = backoff_after(failures);
                self.commit_backoff = Some((epoch, failures, Instant::now() + wait));
                error!(epoch, attempt = failures, retry_in_s = wait.as_secs(), error = %reason,
                    "committing the summary's hash on chain failed; retrying");
                sent.errors.push((epoch, reason));
            }
        }
    }

    /// The queue: each epoch's objects, then its weights.
    async fn drain_queue(
        &mut self,
        ledger: &dyn Ledger,
        chain: &dyn Chain,
        store: &dyn ObjectStore,
        validator: &str,
    ) -> Result<Sent> {
        let queue = ledger.outgoing()?;
        let mut sent = Sent::default();
        if queue.is_empty() {
            return Ok(sent);
        }
        // Across the whole history, not only the queue: a later epoch's weights that already
        // went through must not be overwritten by an older epoch's retried ones.
        let newest_with_weights = ledger.last_epoch_with_weights()?;
        for item in queue {
            if self.backoff.get(&item.epoch).is_some_and(|(_, next)| Instant::now() < *next) {
                sent.pending.push(item.epoch);
                continue;
            }
            match self.one(ledger, chain, store, validator, &item, newest_with_weights, &mut sent).await {
                Ok(true) => {
                    self.backoff.remove(&item.epoch);
                }
                Ok(false) => sent.pending.push(item.epoch),
                Err(reason) => {
                    let failures = self.backoff.get(&item.epoch).map_or(0, |(n, _)| *n) + 1;
                    let wait = backoff_after(failures);
                    self.backoff.insert(item.epoch, (failures, Instant::now() + wait));
                    error!(epoch = item.epoch, attempt = failures, retry_in_s = wait.as_secs(), error = %reason,
                        "sending a closed epoch out failed; it stays queued");
                    sent.pending.push(item.epoch);
                    sent.errors.push((item.epoch, reason));
                }
            }
        }
        Ok(sent)
    }

    /// Publishes and sends one epoch; `Ok(true)` when nothing of it is left to do.
    #[allow(clippy::too_many_arguments)]
    async fn one(
        &mut self,
        ledger: &dyn Ledger,
        chain: &dyn Chain,
        store: &dyn ObjectStore,
        validator: &str,
        item: &Outgoing,
        newest_with_weights: Option<u64>,
        sent: &mut Sent,
    ) -> std::result::Result<bool, String> {
        if !item.objects.is_empty() {
            for (key, bytes) in &item.objects {
                put_object(store, key, bytes, item.epoch)?;
            }
            ledger.mark_published(item.epoch).map_err(|e| e.to_string())?;
            info!(epoch = item.epoch, store = %store.describe(), "epoch published");
            sent.published.push(item.epoch);
        }
        let (Some(call), Some(WeightsState::Pending { attempts, .. })) = (&item.weights, &item.weights_state) else {
            return Ok(true);
        };
        if newest_with_weights.is_some_and(|newest| newest > item.epoch) {
            warn!(epoch = item.epoch, "a later epoch's weights replace this epoch's, which were never accepted");
            ledger.mark_weights(item.epoch, &WeightsState::Superseded).map_err(|e| e.to_string())?;
            return Ok(true);
        }
        let call: WeightsCall =
            serde_json::from_str(call).map_err(|e| format!("the queued weights call does not parse: {e}"))?;
        // A previous attempt may have gone through before the host died.
        let accepted = match chain.weights_accepted_since(validator, &call, item.head).await {
            Ok(Some(block)) => {
                info!(epoch = item.epoch, block, "weights were already accepted by the chain");
                Some(block)
            }
            Ok(None) => None,
            Err(e) => return self.weights_failed(ledger, item.epoch, attempts + 1, format!("asking the chain: {e}")),
        };
        let block = match accepted {
            Some(block) => block,
            None => match chain.set_weights(validator, &call).await {
                Ok(block) => {
                    self.weights_attempts += 1;
                    block
                }
                Err(e) => {
                    self.weights_attempts += 1;
                    self.weights_failures += 1;
                    return self.weights_failed(ledger, item.epoch, attempts + 1, format!("setting weights: {e}"));
                }
            },
        };
        ledger.mark_weights(item.epoch, &WeightsState::Accepted { block }).map_err(|e| e.to_string())?;
        info!(epoch = item.epoch, block, chain = %chain.describe(), "weights set");
        sent.weights.push((item.epoch, block));
        Ok(true)
    }

    fn weights_failed(
        &self,
        ledger: &dyn Ledger,
        epoch: u64,
        attempts: u32,
        reason: String,
    ) -> std::result::Result<bool, String> {
        let state = WeightsState::Pending { attempts, last_error: Some(reason.clone()) };
        if let Err(e) = ledger.mark_weights(epoch, &state) {
            warn!(epoch, error = %e, "noting a failed weights attempt failed");
        }
        Err(reason)
    }
}

/// Puts one queued object of `epoch`; a `latest.json` already naming a newer epoch is left
/// as it is (the write-once objects are the store's to guard).
fn put_object(store: &dyn ObjectStore, key: &str, bytes: &[u8], epoch: u64) -> std::result::Result<(), String> {
    if !keys::is_write_once(key)
        && let Some(newer) = published_epoch(store, key)?.filter(|published| *published > epoch)
    {
        info!(epoch, newer, key, "latest.json already names a newer epoch; it stays");
        return Ok(());
    }
    store.put(key, bytes).map_err(|e| format!("publishing {key}: {e}"))
}

/// The epoch the `latest.json` under `key` names; `None` when there is none (or it does not
/// parse: ours to replace).
fn published_epoch(store: &dyn ObjectStore, key: &str) -> std::result::Result<Option<u64>, String> {
    let bytes = store.get(key).map_err(|e| format!("reading {key}: {e}"))?;
    Ok(bytes.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).and_then(|v| v["epoch"].as_u64()))
}

#[cfg(test)]
mod tests {
    use assay_publish::LocalFolder;

    use super::*;

    fn latest(epoch: u64) -> Vec<u8> {
        format!("{{\"epoch\": {epoch}, \"summary\": \"epochs/1/{epoch}/summary.json\"}}\n").into_bytes()
    }

    #[test]
    fn latest_json_never_moves_backwards() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        let key = keys::latest(1);
        put_object(&store, &key, &latest(5), 5).expect("the first pointer");
        put_object(&store, &key, &latest(6), 6).expect("a newer epoch moves it");
        put_object(&store, &key, &latest(5), 5).expect("an older epoch retried late is not an error");
        assert_eq!(store.get(&key).expect("reads"), Some(latest(6)), "still the newer epoch");
        put_object(&store, &key, &latest(6), 6).expect("the same epoch again");
        put_object(&store, &key, &latest(7), 7).expect("moves on");
        assert_eq!(store.get(&key).expect("reads"), Some(latest(7)));
        // An unreadable pointer is ours to replace.
        store.put(&key, b"not json").expect("puts");
        put_object(&store, &key, &latest(3), 3).expect("replaces it");
        assert_eq!(store.get(&key).expect("reads"), Some(latest(3)));
        // Write-once objects go to the store as they are (it refuses other bytes).
        let summary = keys::summary(1, 3);
        put_object(&store, &summary, b"signed", 3).expect("puts");
        let err = put_object(&store, &summary, b"other", 3).expect_err("refused");
        assert!(err.contains("already holds a different object"), "{err}");
    }
}
