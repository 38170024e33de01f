//! The network-facing services beside the epoch loop: the gateway (`[gateway]`), the
//! verifier (`[verify]`), the commit-reveal round driver (`[rounds]`, `crate::rounds`) and the
//! competition driver (`[competition]`, `crate::competition`), started from the node's parts and
//! stopped with every record and verdict written.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use assay_gateway::Gateway;
use assay_ledger::MAX_REVEAL_ELEMENTS;
use assay_miner_client::{MinerClient, SharedDetokenizer};
use assay_reference_engine::{ChatTokenizer, Engine};
use assay_verify::Verifier;
use tokio::sync::watch;
use tracing::{error, info};

use crate::competition::CompetitionDriver;
use crate::rounds::RoundDriver;
use crate::{Error, Node, Result};

/// Requests in flight get this long to finish when the node stops.
const GRACE: Duration = Duration::from_secs(10);
/// Openings and completions a verifier waits for, at most.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the round driver looks for a new epoch.
const ROUND_TICK: Duration = Duration::from_millis(500);

pub(crate) struct Services {
    pub gateway: Option<Gateway>,
    pub verifier: Option<Verifier>,
    verifier_task: Option<tokio::task::JoinHandle<()>>,
    rounds_task: Option<tokio::task::JoinHandle<()>>,
    competition_task: Option<tokio::task::JoinHandle<()>>,
    stop_verifier: watch::Sender<bool>,
}

impl Services {
    pub async fn start(node: &Node) -> Result<Services> {
        let gateway = match node.config.gateway.clone() {
            None => None,
            Some(mut settings) => {
                // The config's top-level `[[tasks]]`: which task a request belongs to.
                settings.tasks = node.config.tasks.clone();
                let dir = node.config.tokenizer_dir().map(Path::to_path_buf);
                let detokenizer = tokio::task::spawn_blocking(move || dir.as_deref().map(detokenizer).transpose())
                    .await
                    .map_err(|e| Error::Service(format!("loading the tokenizer: {e}")))??;
                let parts = assay_gateway::Parts {
                    settings,
                    hotkey: node.hotkey.clone(),
                    view: node.view.clone(),
                    epochs: node.settings.epochs,
                    ledger: node.ledger.clone(),
                    miners: node.config.miners.clone(),
                    detokenizer,
                    publication: Some(assay_gateway::Publication {
                        store: node.store.clone(),
                        netuid: node.config.netuid,
                        limits: assay_gateway::DatasetLimits::default(),
                    }),
                };
                Some(Gateway::start(parts).await.map_err(|e| Error::Service(format!("gateway: {e}")))?)
            }
        };
        let verifier = match (&node.config.verify, &node.challengers) {
            (Some(settings), Some(challengers)) => {
                let (settings, challengers) = (settings.clone(), challengers.clone());
                let parts = node.verifier_parts(settings, challengers);
                // Loading a model reads gigabytes: off the async workers.
                let verifier = tokio::task::spawn_blocking(move || parts.and_then(load_verifier))
                    .await
                    .map_err(|e| Error::Service(format!("loading the reference model: {e}")))??;
                Some(verifier)
            }
            _ => None,
        };
        let (stop_verifier, stopped) = watch::channel(false);
        let verifier_task = verifier.clone().map(|v| tokio::spawn(v.run(stopped.clone())));
        let rounds_task = round_driver(node)?
            .map(|driver| tokio::spawn(drive_rounds(driver, node.view.clone(), node.settings.epochs, stopped.clone())));
        let competition_task = competition_driver(node, gateway.as_ref())?
            .map(|driver| tokio::spawn(drive_competition(driver, node.view.clone(), node.settings.epochs, stopped)));
        Ok(Services { gateway, verifier, verifier_task, rounds_task, competition_task, stop_verifier })
    }

    /// Stops both; every record and verdict reaches the ledger before this returns.
    pub async fn shutdown(self) {
        let _ = self.stop_verifier.send(true);
        if let Some(task) = self.verifier_task {
            let _ = tokio::time::timeout(GRACE, task).await;
        }
        for task in [self.rounds_task, self.competition_task].into_iter().flatten() {
            let _ = tokio::time::timeout(GRACE, task).await;
        }
        if let Some(gateway) = self.gateway {
            gateway.shutdown(GRACE).await;
        }
    }
}

/// The round driver `[rounds]` asks for: the model and task of the first `[[tasks]]` (absent:
/// the gateway's model, task `chat`), the vocabulary of the model folder the node reads
/// tokens with (`tokenizer`, else `verify.model`).
fn round_driver(node: &Node) -> Result<Option<RoundDriver>> {
    let Some(config) = node.config.rounds.clone() else { return Ok(None) };
    let refuse = |reason: String| Error::Open { what: "the commit-reveal rounds ([rounds])".into(), reason };
    let (task, model) = match (node.config.tasks.first(), &node.config.gateway) {
        (Some(t), _) => (t.name.clone(), t.model.clone()),
        // The default tasks are `chat` and `completion` by route; a round names the first.
        (None, Some(g)) => ("chat".to_string(), g.model.clone()),
        (None, None) => return Err(refuse("no [[tasks]] and no gateway name the model miners run".into())),
    };
    let dir = node.config.tokenizer_dir().ok_or_else(|| refuse("no tokenizer or verify.model folder".into()))?;
    let model_config =
        assay_reference_engine::Config::load(&dir.join("config.json")).map_err(|e| refuse(e.to_string()))?;
    let vocab = u32::try_from(model_config.vocab_size)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| refuse(format!("a vocabulary of {} tokens", model_config.vocab_size)))?;
    let hidden_size = model_config.hidden_size;
    if !(1..=MAX_REVEAL_ELEMENTS).contains(&hidden_size) {
        let reason = format!("a hidden size of {hidden_size}, outside the 1..={MAX_REVEAL_ELEMENTS} a round row holds");
        return Err(refuse(reason));
    }
    let client = MinerClient::new(node.hotkey.clone(), VERIFY_TIMEOUT, node.config.miners.clone())
        .map_err(|e| Error::Service(format!("rounds: {e}")))?;
    Ok(Some(RoundDriver {
        config,
        client: Arc::new(client),
        ledger: node.ledger.clone(),
        validator: node.hotkey.ss58(),
        model,
        task,
        vocab,
        hidden_size,
    }))
}

/// The epoch's commit-reveal round, once per epoch ([`once_per_epoch`]).
async fn drive_rounds(
    driver: RoundDriver,
    view: assay_chain::ChainView,
    epochs: assay_chain::Epochs,
    stop: watch::Receiver<bool>,
) {
    let (driver, metagraphs) = (Arc::new(driver), view.clone());
    once_per_epoch(view, epochs, stop, move |epoch| {
        let (driver, metagraph) = (driver.clone(), metagraphs.metagraph());
        async move {
            if let Err(e) = driver.run(epoch, &metagraph).await {
                error!(epoch, error = %e, "the epoch's commit-reveal round was not recorded");
            }
        }
    })
    .await;
}

/// Runs `run` once per epoch, at the first tick of each (the epoch the node starts in
/// included), until `stop`; a run under way when `stop` comes is abandoned.
async fn once_per_epoch<F, Fut>(
    view: assay_chain::ChainView,
    epochs: assay_chain::Epochs,
    mut stop: watch::Receiver<bool>,
    mut run: F,
) where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut last = None;
    while !*stop.borrow() {
        let epoch = epochs.of_block(view.head());
        if last != Some(epoch) {
            last = Some(epoch);
            tokio::select! {
                () = run(epoch) => {}
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(ROUND_TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The competition driver `[competition]` asks for, on the gateway's signed path (the config's
/// check refused a competition without a gateway); the baseline's API key read from its
/// environment variable now, so that a missing one stops the start.
fn competition_driver(node: &Node, gateway: Option<&Gateway>) -> Result<Option<CompetitionDriver>> {
    let Some(config) = node.config.competition.clone() else { return Ok(None) };
    let refuse = |reason: String| Error::Open { what: "the competition ([competition])".into(), reason };
    let gateway = gateway.ok_or_else(|| refuse("no [gateway] to send its requests through".into()))?;
    let api_key = match &config.baseline_api_key_env {
        None => None,
        Some(name) => Some(std::env::var(name).map_err(|e| refuse(format!("the baseline's API key ${name}: {e}")))?),
    };
    let baseline =
        assay_gateway::Baseline { url: config.baseline_url.clone(), api_key, model: config.baseline_model.clone() };
    Ok(Some(CompetitionDriver {
        gateway: gateway.competition().map_err(|e| refuse(e.to_string()))?,
        ledger: node.ledger.clone(),
        baseline,
        tasks: node.config.competition_tasks(),
        config,
    }))
}

/// The competition once per epoch ([`once_per_epoch`]); a run also stops itself when its
/// epoch ends.
async fn drive_competition(
    driver: CompetitionDriver,
    view: assay_chain::ChainView,
    epochs: assay_chain::Epochs,
    stop: watch::Receiver<bool>,
) {
    let (driver, clock) = (Arc::new(driver), view.clone());
    once_per_epoch(view, epochs, stop, move |epoch| {
        let (driver, clock) = (driver.clone(), clock.clone());
        async move {
            let epoch_now = || epochs.of_block(clock.head());
            if let Err(e) = driver.run(epoch, &epoch_now).await {
                error!(epoch, error = %e, "validator fault: the epoch's competition did not run (no rows)");
            }
        }
    })
    .await;
}

/// What the verifier needs but the model, which `load_verifier` reads.
pub(crate) struct VerifierParts {
    pub settings: assay_verify::Settings,
    pub challengers: Arc<dyn assay_verify::Challengers>,
    pub limits: assay_policy_runtime::Limits,
    pub params: Vec<assay_policy_sdk::Param>,
    pub hotkey: assay_keys::Hotkey,
    pub ledger: Arc<dyn assay_ledger::Ledger>,
    pub view: assay_chain::ChainView,
    pub epochs: assay_chain::Epochs,
    pub miners: assay_miner_client::Settings,
}

/// The tokenizer in `dir`, as the gateway checks relayed text with: signed ids to text, special
/// tokens skipped (as vLLM and the reference miner send it).
fn detokenizer(dir: &Path) -> Result<SharedDetokenizer> {
    let tokenizer = ChatTokenizer::load(dir)
        .map_err(|e| Error::Open { what: format!("the tokenizer of {}", dir.display()), reason: e.to_string() })?;
    Ok(Arc::new(move |ids: &[u32]| tokenizer.decode(ids, true).map_err(|e| e.to_string())))
}

/// The reference model and its tokenizer, on the device `[verify]` names (`auto` falls back to
/// the CPU, saying why; `cuda` without a GPU is refused).
fn reference(settings: &assay_verify::Settings) -> Result<(Engine, ChatTokenizer)> {
    let model = &settings.model;
    let engine = Engine::load_on(model, settings.device).map_err(|e| Error::Open {
        what: format!("the reference model {} on {}", model.display(), settings.device),
        reason: e.to_string(),
    })?;
    let tokenizer = ChatTokenizer::load(model)
        .map_err(|e| Error::Open { what: format!("the tokenizer of {}", model.display()), reason: e.to_string() })?;
    info!(model = %model.display(), device = %engine.device(), "verification loaded its reference model");
    Ok((engine, tokenizer))
}

fn load_verifier(p: VerifierParts) -> Result<Verifier> {
    let (engine, tokenizer) = reference(&p.settings)?;
    let client =
        MinerClient::new(p.hotkey, VERIFY_TIMEOUT, p.miners).map_err(|e| Error::Service(format!("verifier: {e}")))?;
    Ok(Verifier::new(assay_verify::Parts {
        settings: p.settings,
        engine,
        tokenizer,
        challengers: p.challengers,
        limits: p.limits,
        params: p.params,
        client,
        ledger: p.ledger,
        view: p.view,
        epochs: p.epochs,
    }))
}

#[cfg(test)]
mod tests {
    use assay_reference_engine::Device;
    use assay_reference_engine::tiny::{self, TinySpec};

    use super::*;

    #[test]
    fn verification_runs_on_the_configured_device() {
        let dir = tempfile::tempdir().expect("tempdir");
        tiny::write(dir.path(), &TinySpec::default(), None).expect("writes a tiny model");
        let mut settings = assay_verify::Settings::new(dir.path().to_path_buf());
        settings.device = Device::Cpu;
        let (engine, _) = reference(&settings).expect("loads on the CPU");
        assert_eq!(engine.device(), "cpu");
        settings.device = Device::Cuda(0);
        match reference(&settings) {
            Ok((engine, _)) => {
                assert!(engine.device().starts_with("cuda"), "{}", engine.device());
                eprintln!("a GPU is here: the CPU-fallback half of this test does not apply");
                return;
            }
            Err(err) => {
                // Refused, never silently the CPU.
                assert!(matches!(err, Error::Open { .. }), "{err}");
                assert!(err.to_string().contains("cuda:0"), "{err}");
            }
        }
        settings.device = Device::Auto;
        let (engine, _) = reference(&settings).expect("auto falls back to the CPU");
        assert_eq!(engine.device(), "cpu");
    }
}
