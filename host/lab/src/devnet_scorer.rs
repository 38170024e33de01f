//! `assay devnet --scorer`: which scoring policy the devnet runs, where its component is, and
//! the traffic it needs (tasks, declared capacities, the synthetic load's pacing, challenge rate,
//! commit-reveal rounds, the server competition against a baseline).
//!
//! Must not touch: the devnet's run itself (`devnet.rs` asks this module and applies it).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::anyhow;
use assay_miner::http::TaskCapacity;
use assay_node::Config;

use crate::bad_input;

/// A scorer the devnet can run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DevnetScorer {
    /// Hidden-state verification, throughput and latency (the default).
    #[default]
    Constantinople,
    /// Capacity-based tasks: two tasks with weights, capacity declared per task, the validator's
    /// load a drawn fraction of each declared capacity.
    Nineteen,
    /// A verified-proof moving average: enough challenges to give every miner its minimum samples.
    ProofOfInference,
    /// Commit-reveal among hosters: one round per epoch (`[rounds]`), and enough challenges
    /// that the honest miners are verified (their reveals make the mean) and the cheaters gated.
    Consensus,
    /// A server competition against a baseline (`[competition]`): once per epoch the same prompts
    /// go to a baseline server (an extra reference miner, not listed) and to each miner; every
    /// competition request is token-checked, and no other synthetic traffic is sent.
    Cacheon,
}

impl DevnetScorer {
    pub const ALL: [DevnetScorer; 5] = [
        DevnetScorer::Constantinople,
        DevnetScorer::Nineteen,
        DevnetScorer::ProofOfInference,
        DevnetScorer::Consensus,
        DevnetScorer::Cacheon,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DevnetScorer::Constantinople => "constantinople",
            DevnetScorer::Nineteen => "nineteen",
            DevnetScorer::ProofOfInference => "proof-of-inference",
            DevnetScorer::Consensus => "consensus",
            DevnetScorer::Cacheon => "cacheon",
        }
    }

    /// Where `scripts/build-plugins.sh` writes its component.
    pub fn path(self, plugins: &Path) -> PathBuf {
        plugins.join(format!("{}.wasm", self.name()))
    }

    /// Its component's bytes; a missing file is a clear error naming the script that builds it.
    pub fn read(self, plugins: &Path) -> anyhow::Result<Vec<u8>> {
        let path = self.path(plugins);
        std::fs::read(&path).map_err(|e| {
            bad_input(anyhow!(
                "the {} scorer is not built: reading {} ({e}); build the policies with scripts/build-plugins.sh",
                self.name(),
                path.display()
            ))
        })
    }

    /// The tasks each devnet miner declares (none: its `capacity` counts for every task).
    pub fn miner_tasks(self) -> Vec<TaskCapacity> {
        match self {
            DevnetScorer::Nineteen => {
                vec![
                    TaskCapacity { name: "chat".into(), capacity: 4 },
                    TaskCapacity { name: "text".into(), capacity: 2 },
                ]
            }
            DevnetScorer::Constantinople
            | DevnetScorer::ProofOfInference
            | DevnetScorer::Consensus
            | DevnetScorer::Cacheon => Vec::new(),
        }
    }

    /// Sets the traffic this scorer needs in the devnet's validator config; `baseline` is the
    /// baseline server's URL (cacheon's competition runs only with one).
    pub fn configure(self, config: &mut Config, model: &str, epoch_seconds: u64, baseline: Option<&str>) {
        match self {
            DevnetScorer::Constantinople => {
                // The pooled epoch gate on, for the devnet's model (its hidden-state errors,
                // pooled over a miner's epoch, decide besides the pass rate).
                let layers = crate::detect::spec().layers as f64;
                config.policy.params.insert(assay_plugin_constantinople::evidence::LAYERS_PARAM.into(), layers);
            }
            DevnetScorer::Nineteen => {
                let task = |name: &str, weight, route| assay_gateway::Task {
                    name: name.into(),
                    model: model.into(),
                    weight,
                    route: Some(route),
                };
                config.tasks = vec![
                    task("chat", 0.75, assay_gateway::TaskRoute::Chat),
                    task("text", 0.25, assay_gateway::TaskRoute::Completion),
                ];
                if let Some(gateway) = &mut config.gateway {
                    gateway.synthetic_mode = assay_gateway::SyntheticMode::Capacity;
                    // One scoring period per epoch; the lightest draw (0.04 of a capacity of 2)
                    // still sends a few requests.
                    gateway.synthetic_period_s = epoch_seconds.max(5) as f64;
                    gateway.synthetic_per_capacity = 40.0;
                }
                // Quality comes from the token check: half the requests not challenged get one.
                if let Some(verify) = &mut config.verify {
                    verify.token_check_share = 0.5;
                }
            }
            DevnetScorer::ProofOfInference => {
                // Every miner's proofs are its verified challenges: challenge at least half of
                // its requests (the adaptive challenger's `rate.floor`; its default
                // `min_per_epoch`, 16, already exceeds the scorer's minimum of samples).
                config.policy.params.insert("rate.floor".into(), 0.5);
            }
            DevnetScorer::Consensus => {
                // A round takes at most 4 s of an epoch of at least 5: it starts at the epoch's
                // first tick and is recorded before the epoch closes.
                config.rounds = Some(assay_node::rounds::RoundsConfig {
                    commit_window_ms: 2_500,
                    reveal_window_ms: 1_500,
                    prompt_tokens: 32,
                    ..Default::default()
                });
                // The mean is over verified miners' reveals: challenge at least half of every
                // miner's requests so that each honest one passes some in every epoch.
                config.policy.params.insert("rate.floor".into(), 0.5);
            }
            DevnetScorer::Cacheon => configure_competition(config, model, baseline),
        }
    }
}

/// Cacheon's traffic: one task, the competition alone as synthetic traffic, every request
/// token-checked (the correctness gate reads them, its log-prob threshold lowered for the tiny
/// model) and half of each miner's challenged (the int4 cheater's greedy tokens pass the gate;
/// its hidden states do not). Four counted prompts of 600 characters and one warm-up, 48 tokens
/// each: with four miners and the baseline, 25 requests, some ten seconds of a devnet epoch.
fn configure_competition(config: &mut Config, model: &str, baseline: Option<&str>) {
    // One task of weight 1 (the seed's case): both routes are `chat`, and its score is the miner's.
    config.tasks = vec![assay_gateway::Task { name: "chat".into(), model: model.into(), weight: 1.0, route: None }];
    if let Some(gateway) = &mut config.gateway {
        gateway.synthetic_per_minute = 0.0;
        gateway.synthetic_mode = assay_gateway::SyntheticMode::Rate;
        gateway.max_tokens = gateway.max_tokens.max(48);
    }
    if let Some(verify) = &mut config.verify {
        verify.token_check_share = 1.0;
    }
    config.policy.params.insert("rate.floor".into(), 0.5);
    // The tiny model's distribution is nearly flat: its greedy tokens have log-prob about −3.3
    // under the reference (measured in a devnet run), where the gate's −1.0 is for real models.
    // Rank 0 (`gate.similarity`) still tells the other model's tokens (similarity 0) apart.
    config.policy.params.insert("gate.mean_logprob".into(), -5.0);
    config.competition = baseline.map(|url| assay_node::competition::CompetitionConfig {
        prompts_per_task: 4,
        warmup: 1,
        prompt_chars: 600,
        max_tokens: 48,
        ..assay_node::competition::CompetitionConfig::new(url)
    });
}

impl FromStr for DevnetScorer {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|s| s.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scorer {text:?}; one of {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for DevnetScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scorers_are_named_as_their_components() {
        for s in DevnetScorer::ALL {
            assert_eq!(s.name().parse::<DevnetScorer>(), Ok(s));
            assert_eq!(s.path(Path::new("p")), Path::new("p").join(format!("{s}.wasm")));
        }
        assert_eq!(DevnetScorer::default(), DevnetScorer::Constantinople);
        let err = "nineteen2".parse::<DevnetScorer>().expect_err("refused");
        assert!(err.contains("constantinople, nineteen, proof-of-inference, consensus, cacheon"), "{err}");
    }

    #[test]
    fn a_missing_component_names_the_build_script() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = DevnetScorer::Nineteen.read(dir.path()).expect_err("missing").to_string();
        assert!(err.contains("nineteen.wasm") && err.contains("scripts/build-plugins.sh"), "{err}");
    }

    #[test]
    fn constantinople_gets_the_pooled_epoch_gate_for_the_devnets_model() {
        let mut config = Config::local(1, None, "v", "h");
        DevnetScorer::Constantinople.configure(&mut config, "m", 30, None);
        assert_eq!(config.policy.params.get("evidence.layers"), Some(&4.0));
        Config::parse(&config.to_toml().expect("serializes")).expect("a valid config");
    }

    #[test]
    fn proof_of_inference_gets_more_challenges() {
        let mut config = Config::local(1, None, "v", "h");
        DevnetScorer::ProofOfInference.configure(&mut config, "m", 30, None);
        assert_eq!(config.policy.params.get("rate.floor"), Some(&0.5));
        assert_eq!(config.policy.params.get("min_per_epoch"), None);
        assert!(config.tasks.is_empty() && DevnetScorer::ProofOfInference.miner_tasks().is_empty());
    }

    #[test]
    fn consensus_gets_a_round_per_epoch_and_more_challenges() {
        let mut config = Config::local(1, None, "v", "h");
        config.verify = Some(assay_verify::Settings::new("models/reference".into()));
        DevnetScorer::Consensus.configure(&mut config, "m", 30, None);
        let rounds = config.rounds.as_ref().expect("rounds on");
        // 2.5 s to commit + 1.5 s to reveal = 4 s, within the shortest devnet epoch (5 s).
        assert_eq!((rounds.commit_window_ms, rounds.reveal_window_ms, rounds.prompt_tokens), (2_500, 1_500, 32));
        assert_eq!(config.policy.params.get("rate.floor"), Some(&0.5));
        Config::parse(&config.to_toml().expect("serializes")).expect("a valid config");
    }

    #[test]
    fn cacheon_gets_the_competition_alone_and_every_request_token_checked() {
        let mut config = Config::local(1, None, "v", "h");
        let mut gateway = assay_gateway::Settings::new("127.0.0.1:0", "m");
        gateway.synthetic_per_minute = 240.0;
        config.gateway = Some(gateway);
        config.verify = Some(assay_verify::Settings::new("models/reference".into()));
        DevnetScorer::Cacheon.configure(&mut config, "m", 30, Some("http://127.0.0.1:9000"));
        let competition = config.competition.as_ref().expect("the competition on");
        assert_eq!(competition.baseline_url, "http://127.0.0.1:9000");
        assert_eq!((competition.prompts_per_task, competition.warmup, competition.max_tokens), (4, 1, 48));
        assert_eq!(config.gateway.as_ref().map(|g| g.synthetic_per_minute), Some(0.0), "no other synthetic traffic");
        assert_eq!(config.verify.as_ref().map(|v| v.token_check_share), Some(1.0));
        assert_eq!(config.policy.params.get("gate.mean_logprob"), Some(&-5.0));
        assert_eq!(config.task_weights().into_iter().collect::<Vec<_>>(), [("chat".into(), 1.0)]);
        Config::parse(&config.to_toml().expect("serializes")).expect("a valid config");
    }

    #[test]
    fn nineteen_gets_two_weighted_tasks_declared_capacities_and_capacity_load() {
        let mut config = Config::local(1, None, "v", "h");
        config.gateway = Some(assay_gateway::Settings::new("127.0.0.1:0", "m"));
        config.verify = Some(assay_verify::Settings::new("models/reference".into()));
        DevnetScorer::Nineteen.configure(&mut config, "m", 30, None);
        assert_eq!(
            config.task_weights().into_iter().collect::<Vec<_>>(),
            [("chat".into(), 0.75), ("text".into(), 0.25)]
        );
        let gateway = config.gateway.as_ref().expect("a gateway");
        assert_eq!(gateway.synthetic_mode, assay_gateway::SyntheticMode::Capacity);
        assert_eq!(gateway.synthetic_period_s, 30.0);
        assert_eq!(config.verify.as_ref().map(|v| v.token_check_share), Some(0.5), "token checks on");
        let declared: Vec<String> = DevnetScorer::Nineteen.miner_tasks().into_iter().map(|t| t.name).collect();
        assert_eq!(declared, ["chat", "text"], "the miners declare the tasks the validator serves");
        // What the devnet writes is a config `assay run --check` accepts.
        Config::parse(&config.to_toml().expect("serializes")).expect("a valid config");
    }
}
