//! Which validators the miner serves: those the metagraph gives a validator permit and at least
//! a minimum stake, and those listed by the operator (a devnet lists its validator). Anyone else
//! is refused before their signature is even checked, so strangers cannot spend the miner's
//! engine, fill its store, or evict the validators' commitments.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use assay_chain::{Chain, Neuron};
use assay_protocol::epistula::Allow;

/// The signers a miner serves; the metagraph's part changes as it is refreshed.
#[derive(Debug)]
pub struct Signers {
    listed: HashSet<String>,
    min_stake: u64,
    from_metagraph: RwLock<HashSet<String>>,
}

impl Signers {
    /// `listed` always, and (after [`Signers::update`]) the metagraph's validators with at least
    /// `min_stake` rao.
    pub fn new(listed: impl IntoIterator<Item = String>, min_stake: u64) -> Self {
        Self { listed: listed.into_iter().collect(), min_stake, from_metagraph: RwLock::new(HashSet::new()) }
    }

    /// Takes the validators of a fresh metagraph; returns how many qualify.
    pub fn update(&self, neurons: &[Neuron]) -> usize {
        let validators: HashSet<String> = neurons
            .iter()
            .filter(|n| n.validator_permit && n.stake >= self.min_stake)
            .map(|n| n.hotkey.clone())
            .collect();
        let count = validators.len();
        *self.from_metagraph.write().unwrap_or_else(|p| p.into_inner()) = validators;
        count
    }

    pub fn allows(&self, signer: &str) -> bool {
        self.listed.contains(signer) || self.from_metagraph.read().unwrap_or_else(|p| p.into_inner()).contains(signer)
    }
}

impl Allow for Signers {
    fn allows(&self, signer: &str) -> bool {
        Signers::allows(self, signer)
    }
}

/// Rereads `netuid`'s metagraph from `chain` every `every` into `signers`, forever (run it as a
/// task). A chain that cannot be read leaves the last set serving.
pub async fn follow_metagraph(chain: Arc<dyn Chain>, netuid: u16, signers: Arc<Signers>, every: Duration) {
    let mut failing = false;
    loop {
        match chain.metagraph(netuid).await {
            Ok(metagraph) => {
                let count = signers.update(&metagraph.neurons);
                if failing {
                    tracing::info!(validators = count, "the metagraph is readable again");
                }
                failing = false;
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "the metagraph cannot be read; the last validators are served");
            }
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neuron(hotkey: &str, stake: u64, validator_permit: bool) -> Neuron {
        Neuron {
            uid: 0,
            hotkey: hotkey.into(),
            stake,
            validator_permit,
            axon: None,
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
        }
    }

    #[test]
    fn validators_with_a_permit_and_enough_stake_and_those_listed_are_served() {
        let signers = Signers::new(["devnet".to_string()], 1_000);
        assert!(signers.allows("devnet") && !signers.allows("rich"));
        let count = signers.update(&[
            neuron("rich", 5_000, true),
            neuron("poor", 999, true),
            neuron("no-permit", 1_000_000, false),
            neuron("exact", 1_000, true),
        ]);
        assert_eq!(count, 2);
        assert!(signers.allows("rich") && signers.allows("exact") && signers.allows("devnet"));
        assert!(!signers.allows("poor") && !signers.allows("no-permit") && !signers.allows("stranger"));
        // A validator that loses its permit is no longer served.
        signers.update(&[neuron("rich", 5_000, false)]);
        assert!(!signers.allows("rich") && signers.allows("devnet"));
    }
}
