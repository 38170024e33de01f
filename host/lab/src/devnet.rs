//! `assay devnet`: the whole system on one machine, no network, no GPU. A local chain, a tiny
//! model and two cheating variants of it, four reference miners (two honest at different speeds,
//! one serving another model, one serving int4-rounded weights), the gateway with synthetic
//! traffic, the verification loop (and, for `--scorer consensus`, one commit-reveal round per
//! epoch, in which the honest miners' shared weights agree and the cheaters' land away from
//! them; for `--scorer cacheon`, the server competition against a fifth reference miner, unlisted
//! and unsigned, as the baseline), and short epochs, each published, audited and shown. The
//! subnet's owner (`crate::owner`) announces a second scorer in epoch 1: epoch 2 runs it in
//! shadow, epoch 3 with it, as the summaries say. Epochs go to a local S3 server when one is
//! installed (`crate::publication`), else to a folder.
//! With `hostile`, one hostile miner per attack of issue #10 and a stranger attacking the
//! reference miners join (`crate::hostile`), and the run fails when an honest miner was charged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use assay_chain::{LocalChain, Metagraph, Neuron};
use assay_epoch::audit;
use assay_keys::{Hotkey, Scheme};
use assay_ledger::Outcome;
use assay_miner::Signers;
use assay_miner::http::{MinerSettings, MinerState, serve};
use assay_node::{Config, Node, RunOptions, Status, Verdicts};
use assay_policy_runtime::{Digest, PolicyStore, Runtime};
use assay_reference_engine::tiny::{self, Perturbation, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};
use tokio::sync::watch;

use crate::bad_input;
use crate::charges::{self, Member};
use crate::devnet_scorer::DevnetScorer;
use crate::devnet_view::SharedView;
use crate::devnet_watch::{Followed, WatchVerdicts, Watchtower};
use crate::hostile::Fleet;
use crate::hostile::stranger::Target;
use crate::owner::{Owner, closed_line, scorers_by_epoch};
use crate::publication::Publication;

/// Marks a folder as made by `assay devnet`, so a rerun may clear it.
const MARKER: &str = ".assay-devnet";
const MODEL: &str = "assay-tiny";

/// What `assay devnet` runs.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Epochs to run before printing the table and returning (until Ctrl-C when absent).
    pub epochs: Option<u64>,
    /// Where everything goes (models, chain, ledger, published epochs); a new temporary
    /// folder when absent.
    pub out: Option<PathBuf>,
    /// Seconds per epoch (one-second blocks).
    pub epoch_seconds: u64,
    /// The validator's own requests per minute.
    pub synthetic_per_minute: f64,
    /// Where the built policies are (`scripts/build-plugins.sh` writes them).
    pub plugins: PathBuf,
    /// Hostile miners (one per attack) and a stranger join; an honest miner charged fails the run.
    pub hostile: bool,
    /// The `assay` binary: a watchtower (`assay watch`) follows the publication beside the
    /// validator, and the run fails unless it passes every epoch. None: no watchtower.
    pub watchtower: Option<PathBuf>,
    /// Where the start-up lines, closed epochs and the live table are shown (plain lines on
    /// stderr by default; the CLI redraws the table in place on a terminal).
    pub view: SharedView,
    /// Where the validator's web dashboard listens (a free loopback port when absent).
    pub dashboard_addr: Option<std::net::SocketAddr>,
    /// The scoring policy run, and so the traffic configured for it.
    pub scorer: DevnetScorer,
}

/// The file in the devnet's folder a terminal view moves the logs to.
pub const LOG_FILE: &str = "devnet.log";

/// One of the devnet's miners.
struct Role {
    name: &'static str,
    /// Which model folder it serves.
    model: &'static str,
    token_delay: Duration,
    honest: bool,
}

const ROLES: [Role; 4] = [
    Role { name: "honest-fast", model: "reference", token_delay: Duration::ZERO, honest: true },
    Role { name: "honest-slow", model: "reference", token_delay: Duration::from_millis(15), honest: true },
    Role { name: "cheat-other-model", model: "other-model", token_delay: Duration::ZERO, honest: false },
    Role { name: "cheat-int4", model: "int4", token_delay: Duration::ZERO, honest: false },
];

fn prepare(out: &Path) -> anyhow::Result<()> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        if !out.join(MARKER).exists() {
            return Err(anyhow!(
                "{} is not empty and was not made by `assay devnet`; pick another --out",
                out.display()
            ));
        }
        for part in ["models", "wallets", "chain", "data", "published", "s3", "owner-published", "assay.toml", LOG_FILE]
        {
            let path = out.join(part);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else if path.exists() {
                std::fs::remove_file(&path)?;
            }
        }
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join(MARKER), "made by assay devnet; rerunning it clears this folder\n")?;
    Ok(())
}

fn write_models(out: &Path) -> anyhow::Result<()> {
    // The model family the challenger's thresholds were calibrated on.
    let spec = crate::detect::spec();
    tiny::write(&out.join("models/reference"), &spec, None)?;
    tiny::write(&out.join("models/other-model"), &TinySpec { seed: spec.seed + 1, ..spec.clone() }, None)?;
    tiny::write(&out.join("models/int4"), &spec, Some(&Perturbation::Quantized { bits: 4, group: 32 }))?;
    Ok(())
}

/// The validator's config, built with the config type: the gateway on `gateway_port`, epochs
/// of `epoch_blocks` one-second blocks, the two policies, verification on the reference model.
fn config(gateway_port: u16, epoch_blocks: u64, synthetic: f64, scorer: &str, challenger: &str) -> Config {
    let mut config = Config::local(1, Some("wallets".into()), "devnet", "validator");
    config.epoch_blocks = epoch_blocks;
    config.policy.scorer = Some(scorer.into());
    config.policy.challenger = Some(challenger.into());
    config.policy.params.insert("rate.floor".into(), 0.25);
    // The owner's announced policies are fetched from here.
    config.policy.owner_publication = Some("owner-published".into());
    // Every miner is on this machine.
    config.miners.allow_private_axons = true;
    let mut gateway = assay_gateway::Settings::new(&format!("127.0.0.1:{gateway_port}"), MODEL);
    gateway.synthetic_per_minute = synthetic;
    gateway.health_interval_ms = 1000;
    // The tiny model spends a token per byte in 4096 positions: the validator's synthetic
    // requests stay short, under limits users have too.
    gateway.max_tokens = 64;
    gateway.max_body_bytes = 1024;
    gateway.keys.push(assay_gateway::ApiKey {
        name: "devnet".into(),
        key: "sk-devnet".into(),
        requests_per_minute: 6000,
        burst: None,
        publish_text: false,
    });
    config.gateway = Some(gateway);
    let mut verify = assay_verify::Settings::new("models/reference".into());
    verify.interval_ms = 1000;
    // The devnet's miners run the tiny model on the CPU, where replay_tolerance was calibrated.
    verify.replay_sampled = true;
    config.verify = Some(verify);
    if let assay_node::ChainConfig::Local { metagraph_refresh_ms, .. } = &mut config.chain {
        *metagraph_refresh_ms = 1000;
    }
    config
}

/// Starts the four reference miners on their own runtime, as if on other machines, serving the
/// devnet's `validator` only; returns the runtime (dropping it stops them) and the metagraph's
/// neurons.
fn start_miners(
    out: &Path,
    validator: &str,
    scorer: DevnetScorer,
) -> anyhow::Result<(tokio::runtime::Runtime, Vec<Neuron>)> {
    let runtime = tokio::runtime::Runtime::new().context("starting the miners' runtime")?;
    let tokenizer_dir = out.join("models/reference");
    let mut neurons = Vec::new();
    for (uid, role) in ROLES.iter().enumerate() {
        let dir = out.join("models").join(role.model);
        let engine = Engine::load(&dir).map_err(|e| anyhow!("loading {}: {e}", dir.display()))?;
        let tokenizer = ChatTokenizer::load(&tokenizer_dir)?;
        let hotkey = Hotkey::generate(Scheme::Sr25519)?;
        let ss58 = hotkey.ss58();
        let settings = MinerSettings {
            model_name: MODEL.into(),
            tasks: scorer.miner_tasks(),
            token_delay: role.token_delay,
            store_bytes: 256 << 20,
            // The miners read no chain: the devnet's one validator is listed here.
            signers: Some(Arc::new(Signers::new([validator.to_string()], 0))),
            ..MinerSettings::default()
        };
        let state = MinerState::new(engine, tokenizer, hotkey, settings);
        let listener =
            runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).context("binding a miner's port")?;
        let address = listener.local_addr()?;
        runtime.spawn(serve(listener, state, std::future::pending()));
        neurons.push(Neuron {
            uid: uid as u16,
            hotkey: ss58,
            stake: 0,
            validator_permit: false,
            axon: Some(format!("http://{address}")),
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
        });
    }
    Ok((runtime, neurons))
}

/// The baseline's added time per token: the honest fast miner (none) beats it, the slow one
/// (15 ms) does not.
const BASELINE_TOKEN_DELAY: Duration = Duration::from_millis(5);

/// Starts cacheon's baseline server on the miners' runtime: a reference miner of the reference
/// model, unsigned (a plain OpenAI-compatible server), listed nowhere; says where and returns
/// its URL.
fn start_baseline(out: &Path, runtime: &tokio::runtime::Runtime, view: &SharedView) -> anyhow::Result<String> {
    let dir = out.join("models/reference");
    let engine = Engine::load(&dir).map_err(|e| anyhow!("loading {}: {e}", dir.display()))?;
    let tokenizer = ChatTokenizer::load(&dir)?;
    let settings = MinerSettings {
        model_name: MODEL.into(),
        token_delay: BASELINE_TOKEN_DELAY,
        unsigned: true,
        ..MinerSettings::default()
    };
    let state = MinerState::new(engine, tokenizer, Hotkey::generate(Scheme::Sr25519)?, settings);
    let listener =
        runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).context("binding the baseline's port")?;
    let address = listener.local_addr()?;
    runtime.spawn(serve(listener, state, std::future::pending()));
    let url = format!("http://{address}");
    view.line(&format!("baseline server (an unlisted reference miner, unsigned) at {url}"));
    Ok(url)
}

/// The devnet's validator in its metagraph: staked, with a permit, no axon.
fn validator_neuron(uid: u16, hotkey: &str) -> Neuron {
    Neuron {
        uid,
        hotkey: hotkey.to_string(),
        stake: 1_000_000_000_000,
        validator_permit: true,
        axon: None,
        registered_at_block: 0,
        coldkey: None,
        last_update: 0,
        capacities: Default::default(),
    }
}

/// The policy `name` built in `plugins`.
fn read_plugin(plugins: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let path = plugins.join(format!("{name}.wasm"));
    std::fs::read(&path).map_err(|e| {
        bad_input(anyhow!("reading {} ({e}); build the policies first with scripts/build-plugins.sh", path.display()))
    })
}

/// Runs the devnet: builds it in `options.out`, runs the node, audits every published epoch
/// and prints the per-miner table. Fails when an audit fails or a cheater kept weight.
pub fn run(options: DevnetOptions) -> anyhow::Result<()> {
    let out = match &options.out {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("assay-devnet-{}", std::process::id())),
    };
    // Before anything is written: a scorer not built yet is told at once.
    let scorer_bytes = options.scorer.read(&options.plugins)?;
    prepare(&out).map_err(bad_input)?;
    let out = out.canonicalize().map_err(|e| bad_input(anyhow!("{}: {e}", out.display())))?;
    let view = &options.view;
    view.line(&format!("devnet in {}", out.display()));
    view.folder_ready(&out);
    let epoch_blocks = options.epoch_seconds.max(5);

    view.line("writing a tiny model and two cheating variants (another seed; int4-rounded weights)");
    write_models(&out)?;
    let challenger_bytes = read_plugin(&options.plugins, "adaptive-challenger")?;
    view.line(&format!("scorer: {}", options.scorer));
    let validator = Hotkey::generate(Scheme::Sr25519)?;
    validator.save(&out.join("wallets/devnet/hotkeys/validator"))?;

    let (miners_runtime, mut neurons) = start_miners(&out, &validator.ss58(), options.scorer)?;
    let baseline = match options.scorer {
        DevnetScorer::Cacheon => Some(start_baseline(&out, &miners_runtime, view)?),
        _ => None,
    };
    let mut members = reference_members();
    let fleet = match options.hostile {
        true => Some(join_hostile(&out, &miners_runtime, &mut neurons, &mut members)?),
        false => None,
    };
    // Compiled before the chain starts (a debug build compiles slowly), so that epoch 0 closes
    // on time.
    precompile(&out.join("data/cache"), &scorer_bytes, &challenger_bytes)?;
    let owner = Owner::prepare(&out, &out.join("data/cache"), (&options.scorer.to_string(), &scorer_bytes), view)?;
    let miner_neurons = neurons.clone();
    create_chain(&out, neurons, &owner, &validator)?;
    let policies = PolicyStore::open(out.join("data/policies"))?;
    let scorer = policies.add(&scorer_bytes).map_err(bad_input)?;
    let challenger = policies.add(&challenger_bytes).map_err(bad_input)?;
    let publication = crate::publication::open(&out);
    view.line(&publication.description);
    // The owner's uid (`create_chain`): cacheon burns what its winners are not paid there.
    let competition = (baseline.as_deref(), miner_neurons.len() as u16);
    let (config, port, metrics_listen) =
        write_config(&out, &options, &publication, (&scorer, &challenger), competition)?;
    let names = owner.names(&scorer);
    let epochs = config.epochs();

    let runtime = tokio::runtime::Runtime::new().context("starting the node's runtime")?;
    // The config's chain, opened here because the node is handed the devnet's store.
    let chain: Arc<dyn assay_chain::Chain> = Arc::new(LocalChain::open(&out.join("chain"))?);
    let mut node = runtime.block_on(Node::open_with(config, chain, publication.store.clone()))?;
    let (stop, stopped) = watch::channel(false);
    crate::stop_on_ctrl_c(&runtime, stop.clone());
    let watchtower = start_watchtower(&options, &out, &validator.ss58(), &publication)?;
    // Served until the devnet returns, its report included.
    let (_dashboard, dashboard_addr) =
        serve_dashboard(&runtime, &node, options.dashboard_addr, watchtower.as_ref().map(Watchtower::verdicts))?;
    let endpoints = Endpoints {
        miners: &miner_neurons,
        members: &members,
        gateway_port: port,
        metrics: metrics_listen,
        dashboard: dashboard_addr,
    };
    for line in addresses(&endpoints) {
        view.line(&line);
    }
    let how_many = options.epochs.map(|n| format!(", {n} of them")).unwrap_or_default();
    view.line(&format!("epochs of {epoch_blocks} s{how_many}"));
    let watching = watchtower.as_ref().map(Watchtower::verdicts);
    let live = live_table(&runtime, &node, members.clone(), watching, view.clone(), stopped.clone());
    let announcing = owner.announce_in_epoch_1(&runtime, &out.join("chain"), epochs, view.clone(), stopped.clone());
    let mut published = Vec::new();
    let mut closed_epochs = Vec::new();
    let run_options = RunOptions { tick: Duration::from_millis(250), stop_after: options.epochs };
    let result = runtime.block_on(node.run(run_options, stopped, &mut |closed| {
        view.line(&closed_line(closed, &names));
        published.push(closed.summary_key.clone());
        closed_epochs.push(closed.summary.epoch);
    }));
    let _ = stop.send(true);
    let _ = runtime.block_on(live);
    view.finish();
    let announced = runtime.block_on(announcing).map_err(|e| anyhow!("the owner's task: {e}"));
    if let Some(fleet) = &fleet {
        fleet.stop();
    }
    drop(miners_runtime);
    result?;
    announced??;
    let watched = watchtower.map(|w| w.finish(&closed_epochs, WATCHTOWER_PATIENCE));
    let reported = report(&out, &publication, &node, &published, &members, (&names, options.scorer));
    let reported = reported.and(report_watchtower(watched.as_ref(), &closed_epochs));
    // Printed whatever the audits said: the soak reads both.
    let hostile = fleet.as_ref().map_or(Ok(()), |fleet| report_hostile(&node, &members, fleet));
    reported.and(hostile)
}

/// Serves the validator's dashboard at `addr` (a free loopback port when absent), with the
/// watchtower's verdicts beside its epochs, and prints its address; it stops when the returned
/// sender is dropped.
fn serve_dashboard(
    runtime: &tokio::runtime::Runtime,
    node: &Node,
    addr: Option<std::net::SocketAddr>,
    watchtower: Option<WatchVerdicts>,
) -> anyhow::Result<(watch::Sender<bool>, std::net::SocketAddr)> {
    let addr = addr.unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = runtime
        .block_on(assay_dashboard::bind(&addr.to_string()))
        .map_err(|e| crate::bad_input(anyhow!("serving the dashboard on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let board = node.dashboard();
    runtime.spawn(assay_dashboard::serve(listener, Arc::new(board.clone()), Default::default(), stopped.clone()));
    if let Some(verdicts) = watchtower {
        let mut stopped = stopped;
        runtime.spawn(async move {
            loop {
                for (epoch, verdict) in verdicts.get() {
                    board.note_audit(
                        epoch,
                        assay_dashboard::Audit { verdict, detail: Some("the devnet's watchtower".into()) },
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        });
    }
    Ok((stop, bound))
}

/// How long the watchtower may take, once the validator stopped, to audit the last epochs.
const WATCHTOWER_PATIENCE: Duration = Duration::from_secs(120);

/// The reference miners, by uid, before any hostile one joins.
fn reference_members() -> Vec<Member> {
    ROLES.iter().enumerate().map(|(uid, r)| Member { uid: uid as u16, name: r.name.into(), honest: r.honest }).collect()
}

/// The local chain: the miners' `neurons`, then the owner and the validator.
fn create_chain(out: &Path, mut neurons: Vec<Neuron>, owner: &Owner, validator: &Hotkey) -> anyhow::Result<()> {
    neurons.push(owner.neuron(neurons.len() as u16));
    // The validator is a neuron with a validator permit, as on a real subnet: the local chain
    // takes its summary-hash commitments (it refuses a hotkey not in the metagraph). It serves
    // no axon, so the policy gives it no weight.
    neurons.push(validator_neuron(neurons.len() as u16, &validator.ss58()));
    let owner_hotkey = Some(owner.hotkey.ss58());
    LocalChain::create(&out.join("chain"), &Metagraph { netuid: 1, neurons, owner_hotkey }, 1.0)?;
    Ok(())
}

/// The node's `assay.toml` in `out`, written and read back as the node reads it, and the
/// gateway's port (a free one).
fn write_config(
    out: &Path,
    options: &DevnetOptions,
    publication: &Publication,
    (scorer, challenger): (&Digest, &Digest),
    (baseline, owner_uid): (Option<&str>, u16),
) -> anyhow::Result<(Config, u16, std::net::SocketAddr)> {
    let port = crate::publication::free_port().context("finding a free port for the gateway")?;
    let path = out.join("assay.toml");
    let epoch_blocks = options.epoch_seconds.max(5);
    let synthetic = options.synthetic_per_minute;
    let mut written = config(port, epoch_blocks, synthetic, &scorer.to_string(), &challenger.to_string());
    written.publish = publication.config.clone();
    options.scorer.configure(&mut written, MODEL, epoch_blocks, baseline);
    if options.scorer == DevnetScorer::Cacheon {
        written.policy.params.insert("burn.uid".into(), f64::from(owner_uid));
    }
    // Prometheus metrics on a free loopback port (`curl` it while the devnet runs).
    let metrics_port = crate::publication::free_port().context("finding a free port for metrics")?;
    let metrics_listen = std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port));
    written.metrics = Some(assay_node::MetricsConfig { listen: metrics_listen });
    written.save(&path)?;
    Ok((Config::load(&path)?, port, metrics_listen))
}

/// The watchtower beside the validator, following its publication and its local chain.
fn start_watchtower(
    options: &DevnetOptions,
    out: &Path,
    validator: &str,
    publication: &Publication,
) -> anyhow::Result<Option<Watchtower>> {
    let Some(assay) = &options.watchtower else { return Ok(None) };
    let chain_dir = out.join("chain");
    let followed = Followed {
        assay,
        // What an auditor names (`s3://assay` with the server's endpoint and keys, or the folder).
        source: &publication.location,
        source_args: &publication.reader_args,
        source_env: &publication.reader_env,
        // The validator's summary hashes, which it commits there (it is in the metagraph).
        chain_dir: Some(&chain_dir),
        validator,
        netuid: 1,
        state: out.join("data/watch-state.json"),
        policy_cache: out.join("data/watch-cache"),
        log: out.join("data/watch.log"),
    };
    Ok(Some(Watchtower::start(&followed)?))
}

/// Prints the watchtower's verdict per epoch; fails unless every closed epoch passed.
fn report_watchtower(watched: Option<&BTreeMap<u64, String>>, epochs: &[u64]) -> anyhow::Result<()> {
    let Some(watched) = watched else { return Ok(()) };
    println!(
        "
watchtower (assay watch, beside the validator):"
    );
    let mut all_pass = true;
    for epoch in epochs {
        let verdict = watched.get(epoch).map_or("no verdict", String::as_str);
        all_pass &= verdict == "PASS";
        println!("  watchtower: epoch {epoch} {verdict}");
    }
    if !all_pass {
        return Err(anyhow!("the watchtower did not pass every epoch"));
    }
    Ok(())
}

/// Compiles both policies into the node's cache.
fn precompile(cache: &Path, scorer: &[u8], challenger: &[u8]) -> anyhow::Result<()> {
    let runtime = Runtime::new(Some(cache))?;
    runtime.load_scorer(&Digest::of(scorer), scorer).map_err(bad_input)?;
    runtime.load_challenger(&Digest::of(challenger), challenger).map_err(bad_input)?;
    Ok(())
}

/// Starts one hostile miner per attack (and the stranger attacking the reference miners) on the
/// miners' runtime; their neurons and members join the others.
fn join_hostile(
    out: &Path,
    miners_runtime: &tokio::runtime::Runtime,
    neurons: &mut Vec<Neuron>,
    members: &mut Vec<Member>,
) -> anyhow::Result<Fleet> {
    let targets =
        neurons.iter().filter_map(|n| Some(Target { base_url: n.axon.clone()?, hotkey: n.hotkey.clone() })).collect();
    let first = neurons.len() as u16;
    let (fleet, hostile) = Fleet::start(miners_runtime, &out.join("models/reference"), MODEL, first, targets)?;
    members.extend(fleet.miners.iter().zip(&hostile).map(|(m, n)| Member {
        uid: n.uid,
        name: m.attack.name().into(),
        honest: false,
    }));
    neurons.extend(hostile);
    Ok(fleet)
}

/// What the devnet started that a person may reach.
struct Endpoints<'a> {
    /// The miners' neurons (reference and hostile), with their axons.
    miners: &'a [Neuron],
    members: &'a [Member],
    gateway_port: u16,
    /// The validator's Prometheus metrics.
    metrics: std::net::SocketAddr,
    /// The validator's web dashboard.
    dashboard: std::net::SocketAddr,
}

/// The start-up lines saying where everything is, in one place: one line per endpoint (add a
/// new endpoint's line here). The gateway's line is read by scripts/soak.sh.
fn addresses(endpoints: &Endpoints) -> Vec<String> {
    let mut lines = Vec::new();
    for neuron in endpoints.miners {
        let name = endpoints.members.iter().find(|m| m.uid == neuron.uid).map_or("?", |m| m.name.as_str());
        let axon = neuron.axon.as_deref().unwrap_or("no axon");
        lines.push(format!("miner uid {} ({name}) at {axon}", neuron.uid));
    }
    lines.push(format!("gateway at http://127.0.0.1:{}/v1 (key sk-devnet, model {MODEL})", endpoints.gateway_port));
    lines.push(format!("metrics: http://{}/metrics", endpoints.metrics));
    lines.push(format!("dashboard: http://{}/", endpoints.dashboard));
    lines
}

/// Shows the table every five seconds until `stopped`.
fn live_table(
    runtime: &tokio::runtime::Runtime,
    node: &Node,
    members: Vec<Member>,
    watchtower: Option<WatchVerdicts>,
    view: SharedView,
    mut stopped: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (status, ledger) = (node.status(), node.ledger().clone());
    let http = reqwest::Client::new();
    runtime.spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            let st = status.get();
            let epoch = st.epoch;
            let requests = ledger.requests(epoch).unwrap_or_default();
            let mut text = table(epoch, &requests, &st, &members);
            if let Some(verdicts) = &watchtower {
                text.push_str(&format!("\n           watchtower by epoch: {}", verdicts.column(8)));
            }
            if let Some(base) = &st.gateway {
                text.push('\n');
                text.push_str(&dataset_line(&http, base).await);
            }
            view.table(&text);
        }
    })
}

/// What the gateway's public dataset says now (`GET /v1/dataset/stats`), in one line.
async fn dataset_line(http: &reqwest::Client, base: &str) -> String {
    let asked = http.get(format!("{base}/v1/dataset/stats")).timeout(Duration::from_secs(2)).send().await;
    let stats = match asked {
        Ok(answer) => answer.json::<serde_json::Value>().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stats {
        Ok(s) => format!(
            "dataset served by the gateway: {} epochs published, {} requests, {} organic and {} synthetic counted",
            s["epochs"], s["requests"], s["counted"]["organic"], s["counted"]["synthetic"]
        ),
        Err(e) => format!("dataset served by the gateway: unavailable ({e})"),
    }
}

/// Audits every published epoch, prints the scorer of each (and the one in shadow) and the final
/// table.
fn report(
    out: &Path,
    publication: &Publication,
    node: &Node,
    published: &[String],
    members: &[Member],
    (names, scorer): (&BTreeMap<String, String>, DevnetScorer),
) -> anyhow::Result<()> {
    let store = publication.store.as_ref();
    let runtime = Runtime::new(None)?;
    let mut all_pass = true;
    println!("\naudits:");
    for key in published {
        let verdict = match audit(store, key, &runtime) {
            Ok(_) => "PASS".to_string(),
            Err(e) => {
                all_pass = false;
                format!("FAIL {e:?}")
            }
        };
        println!("  {}/{key} {verdict}", publication.location);
    }
    println!("\nscorers by epoch (as the signed summaries name them):");
    for line in scorers_by_epoch(store, published, names) {
        println!("{line}");
    }
    let status = node.status().get();
    // The table of the last closed epoch, beside the weights it produced.
    let last_epoch = status.last_closed.as_ref().map_or(status.epoch.saturating_sub(1), |l| l.epoch);
    let requests = node.ledger().requests(last_epoch).unwrap_or_default();
    println!("\n{}", table(last_epoch, &requests, &status, members));
    if scorer == DevnetScorer::Cacheon {
        println!("\n{}", crate::devnet_competition::timings(last_epoch, &requests, members));
    }
    if published.is_empty() {
        return Ok(());
    }
    let weights: BTreeMap<u16, u16> =
        status.last_closed.as_ref().map(|l| l.weights.iter().copied().collect()).unwrap_or_default();
    let weight = |uid: usize| weights.get(&(uid as u16)).copied().unwrap_or(0);
    let cheaters_zero = ROLES.iter().enumerate().filter(|(_, r)| !r.honest).all(|(uid, _)| weight(uid) == 0);
    let fast_first = ROLES.iter().enumerate().all(|(uid, _)| weight(uid) <= weight(0));
    println!("cheaters at weight zero: {}", if cheaters_zero { "yes" } else { "NO" });
    // Only constantinople weighs serving speed first; nineteen weighs delivered volume and
    // proof-of-inference the time to answer an opening, so for them it is no check.
    if scorer == DevnetScorer::Constantinople {
        println!("the faster honest miner has the most weight: {}", if fast_first { "yes" } else { "NO" });
    }
    // Consensus pays every honest miner for agreeing with the verified mean.
    let honest_paid = ROLES.iter().enumerate().filter(|(_, r)| r.honest).all(|(uid, _)| weight(uid) > 0);
    if scorer == DevnetScorer::Consensus {
        println!("honest miners above weight zero: {}", if honest_paid { "yes" } else { "NO" });
    }
    // Cacheon pays only miners faster than its baseline: an honest miner's weight says its speed.
    if scorer == DevnetScorer::Cacheon {
        let paid: Vec<&str> =
            ROLES.iter().enumerate().filter(|(uid, r)| r.honest && weight(*uid) > 0).map(|(_, r)| r.name).collect();
        println!("honest miners paid (faster than the baseline): {}", paid.join(", "));
    }
    println!("everything is in {}", out.display());
    if !all_pass {
        return Err(anyhow!("an epoch failed its audit"));
    }
    if !cheaters_zero {
        return Err(anyhow!("a cheating miner kept weight"));
    }
    if scorer == DevnetScorer::Consensus && !honest_paid {
        return Err(anyhow!("an honest miner ended at weight zero under consensus"));
    }
    if scorer == DevnetScorer::Cacheon {
        crate::devnet_competition::check(&requests, weight(0)).map_err(|e| anyhow!(e))?;
    }
    Ok(())
}

/// Per miner: this epoch's requests, every verdict since the start, the last closed epoch's
/// weight.
fn table(epoch: u64, requests: &[assay_ledger::RequestEntry], status: &Status, members: &[Member]) -> String {
    let weights: BTreeMap<u16, u16> =
        status.last_closed.as_ref().map(|l| l.weights.iter().copied().collect()).unwrap_or_default();
    let mut lines = vec![
        format!(
            "epoch {epoch:<4} {:<4} {:<18} {:>19} {:>20} {:>7}",
            "", "", "requests this epoch", "challenges so far", "weight"
        ),
        format!(
            "           {:<4} {:<18} {:>9} {:>9} {:>6} {:>6} {:>6} {:>7}",
            "uid", "miner", "all", "ok", "pass", "fail", "void", "(last)"
        ),
    ];
    for member in members {
        let uid16 = member.uid;
        let mine: Vec<_> = requests.iter().filter(|e| e.record.uid == uid16).collect();
        let ok = mine.iter().filter(|e| e.record.outcome == Outcome::Ok).count();
        let t: Verdicts = status.verdicts.get(&uid16).cloned().unwrap_or_default();
        let weight = weights.get(&uid16).map_or("-".to_string(), |w| w.to_string());
        lines.push(format!(
            "           {uid16:<4} {:<18} {:>9} {:>9} {:>6} {:>6} {:>6} {:>7}",
            member.name,
            mine.len(),
            ok,
            t.passed,
            t.failed,
            t.voided,
            weight
        ));
    }
    lines.join("\n")
}

/// The hostile run's last word: every miner's charges over the whole run, what each attacker
/// got through, and a failure when an honest miner was charged for anything.
fn report_hostile(node: &Node, members: &[Member], fleet: &Fleet) -> anyhow::Result<()> {
    let status = node.status().get();
    let weights: BTreeMap<u16, u16> =
        status.last_closed.as_ref().map(|l| l.weights.iter().copied().collect()).unwrap_or_default();
    let charged = charges::tally(node.ledger().as_ref(), status.epoch);
    println!("\nthe whole run, per miner (requests by outcome, challenges by verdict):");
    println!("{}", charges::table(members, &charged, &weights));
    println!("\nattackers (what each was asked and sent):\n{}", fleet.describe());
    let hostile_weight: Vec<&str> = members
        .iter()
        .filter(|m| !m.honest && weights.get(&m.uid).is_some_and(|w| *w > 0))
        .map(|m| m.name.as_str())
        .collect();
    println!(
        "cheating and hostile miners at weight zero: {}",
        if hostile_weight.is_empty() { "yes".to_string() } else { format!("NO ({})", hostile_weight.join(", ")) }
    );
    let honest = charges::honest_charged(members, &charged);
    if honest.is_empty() {
        println!("honest miners charged: none");
        return Ok(());
    }
    println!("honest miners charged: {}", honest.join("; "));
    Err(anyhow!("an honest miner was charged: {}", honest.join("; ")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_devnet_replays_sampled_tokens() {
        // Off by default (`[verify] replay_sampled`); the devnet's tiny CPU model is where the
        // default tolerance was calibrated, so it turns the replay on.
        let config = super::config(0, 5, 1.0, "scorer", "challenger");
        let verify = config.verify.as_ref().map(|v| (v.replay_sampled, v.replay_tolerance));
        assert_eq!(verify, Some((true, assay_verify::REPLAY_TOLERANCE)));
    }
}
