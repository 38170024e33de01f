//! The devnet's hostile side (`assay devnet --hostile`): one hostile miner per [`Attack`], each
//! with its own hotkey and a neuron in the local metagraph beside the reference miners, and a
//! stranger attacking the reference miners.

use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;
use assay_chain::Neuron;
use assay_keys::{Hotkey, Scheme};
use assay_reference_engine::ChatTokenizer;
use tokio::sync::watch;

use super::stranger::{self, StrangerSettings, StrangerTally, Target};
use super::{Attack, HostileMiner, HostileSettings};

/// The running attackers; dropping the runtime they run on stops them.
#[derive(Debug)]
pub struct Fleet {
    pub miners: Vec<HostileMiner>,
    pub stranger: Arc<StrangerTally>,
    stop: watch::Sender<bool>,
}

impl Fleet {
    /// Starts them on `runtime`: the miners claim the model in `model_dir` (served as `model`),
    /// numbered from `first_uid`; the stranger attacks `targets`. Returns the neurons to register.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        model_dir: &Path,
        model: &str,
        first_uid: u16,
        targets: Vec<Target>,
    ) -> anyhow::Result<(Fleet, Vec<Neuron>)> {
        let config = assay_reference_engine::Config::load(&model_dir.join("config.json"))
            .map_err(|e| anyhow!("reading {}: {e}", model_dir.display()))?;
        let tokenizer = Arc::new(ChatTokenizer::load(model_dir)?);
        let settings = HostileSettings::new(model, config.num_layers as u32, config.hidden_size as u32);
        let mut miners = Vec::new();
        let mut neurons = Vec::new();
        for (i, attack) in Attack::ALL.into_iter().enumerate() {
            let hotkey = Hotkey::generate(Scheme::Sr25519)?;
            let miner = runtime.block_on(super::start(attack, hotkey, settings.clone(), Some(tokenizer.clone())))?;
            let uid = first_uid + i as u16;
            neurons.push(Neuron {
                uid,
                hotkey: miner.hotkey.clone(),
                stake: 0,
                axon: Some(format!("http://{}", miner.address)),
                registered_at_block: 0,
                coldkey: None,
                last_update: 0,
                capacities: Default::default(),
                validator_permit: false,
            });
            miners.push(miner);
        }
        let tally = Arc::new(StrangerTally::default());
        let (stop, stopped) = watch::channel(false);
        let (settings, counts) = (StrangerSettings::new(model), tally.clone());
        runtime.spawn(async move {
            if let Err(e) = stranger::run(targets, settings, counts, stopped).await {
                tracing::warn!(error = %e, "the stranger stopped");
            }
        });
        Ok((Fleet { miners, stranger: tally, stop }, neurons))
    }

    /// Stops the stranger (the miners stop with their runtime).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// What each attacker was asked and sent, one line each.
    pub fn describe(&self) -> String {
        let mut lines: Vec<String> =
            self.miners.iter().map(|m| format!("  {:<14} {}", m.attack.name(), m.counters.describe())).collect();
        lines.push(format!("  {:<14} {}", "stranger", self.stranger.describe()));
        lines.join("\n")
    }
}
