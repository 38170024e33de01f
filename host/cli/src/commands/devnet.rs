//! `assay devnet`: the whole system on one machine, no network, no GPU. A local chain, a tiny
//! model and two cheating variants of it, four reference miners (two honest at different speeds,
//! one serving another model, one serving int4-rounded weights), the gateway with synthetic
//! traffic, the verification loop, and short epochs, each published, audited and shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use assay_chain::{LocalChain, Metagraph, Neuron};
use assay_epoch::{LocalFolder, audit};
use assay_keys::{Hotkey, Scheme};
use assay_miner::http::{MinerSettings, MinerState, app};
use assay_policy_runtime::{PolicyStore, Runtime};
use assay_policy_sdk::Outcome;
use assay_reference_engine::tiny::{self, Perturbation, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};

use crate::commands::run::node::Services;
use crate::config::Config;
use crate::host::Host;
use crate::{CmdResult, failed, unusable};

/// Marks a folder as made by `assay devnet`, so a rerun may clear it.
const MARKER: &str = ".assay-devnet";
const MODEL: &str = "assay-tiny";

#[derive(clap::Args)]
pub struct Args {
    /// Epochs to run before printing the table and exiting (runs until Ctrl-C when absent).
    #[arg(long)]
    epochs: Option<u64>,
    /// Where everything goes (models, chain, ledger, published epochs); a new temporary
    /// folder when absent.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds per epoch (one-second blocks).
    #[arg(long, default_value_t = 60)]
    epoch_seconds: u64,
    /// The validator's own requests per minute.
    #[arg(long, default_value_t = 240.0)]
    synthetic_per_minute: f64,
    /// Where the built policies are (`scripts/build-plugins.sh` writes them).
    #[arg(long, env = "ASSAY_PLUGIN_DIR", default_value = "target/plugins")]
    plugins: PathBuf,
}

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
        for part in ["models", "wallets", "chain", "data", "published", "assay.toml"] {
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
    let spec = crate::commands::detect::spec();
    tiny::write(&out.join("models/reference"), &spec, None)?;
    tiny::write(&out.join("models/other-model"), &TinySpec { seed: spec.seed + 1, ..spec.clone() }, None)?;
    tiny::write(&out.join("models/int4"), &spec, Some(&Perturbation::Quantized { bits: 4, group: 32 }))?;
    Ok(())
}

fn config_text(gateway_port: u16, epoch_blocks: u64, synthetic: f64, scorer: &str, challenger: &str) -> String {
    format!(
        r#"# Written by `assay devnet`.
netuid = 1
data_dir = "data"
epoch_blocks = {epoch_blocks}
[wallet]
root = "wallets"
name = "devnet"
hotkey = "validator"
[chain]
kind = "local"
dir = "chain"
[publish]
kind = "local"
dir = "published"
[policy]
scorer = "{scorer}"
challenger = "{challenger}"
[policy.params]
"rate.floor" = 0.25
[gateway]
listen = "127.0.0.1:{gateway_port}"
model = "{MODEL}"
synthetic_per_minute = {synthetic}
health_interval_ms = 1000
[[gateway.keys]]
name = "devnet"
key = "sk-devnet"
requests_per_minute = 6000
[verify]
model = "models/reference"
interval_ms = 1000
"#
    )
}

pub fn run(args: Args) -> CmdResult {
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("assay-devnet-{}", std::process::id())),
    };
    prepare(&out).map_err(unusable)?;
    let out = out.canonicalize().map_err(|e| unusable(anyhow!("{}: {e}", out.display())))?;
    eprintln!("devnet in {}", out.display());
    let epoch_blocks = args.epoch_seconds.max(5);

    eprintln!("writing a tiny model and two cheating variants (another seed; int4-rounded weights)");
    write_models(&out).map_err(failed)?;
    let read_plugin = |name: &str| {
        let path = args.plugins.join(format!("{name}.wasm"));
        std::fs::read(&path).map_err(|e| {
            unusable(anyhow!(
                "reading {} ({e}); build the policies first with scripts/build-plugins.sh",
                path.display()
            ))
        })
    };
    let (scorer_bytes, challenger_bytes) = (read_plugin("constantinople")?, read_plugin("adaptive-challenger")?);

    let validator = Hotkey::generate(Scheme::Sr25519).map_err(failed)?;
    validator.save(&out.join("wallets/devnet/hotkeys/validator")).map_err(failed)?;

    // The miners run on their own runtime, as if on other machines.
    let miners_runtime = tokio::runtime::Runtime::new().context("starting the miners' runtime").map_err(failed)?;
    let tokenizer_dir = out.join("models/reference");
    let mut neurons = Vec::new();
    for (uid, role) in ROLES.iter().enumerate() {
        let dir = out.join("models").join(role.model);
        let engine = Engine::load(&dir).map_err(|e| failed(anyhow!("loading {}: {e}", dir.display())))?;
        let tokenizer = ChatTokenizer::load(&tokenizer_dir).map_err(failed)?;
        let hotkey = Hotkey::generate(Scheme::Sr25519).map_err(failed)?;
        let ss58 = hotkey.ss58();
        let settings = MinerSettings {
            model_name: MODEL.into(),
            token_delay: role.token_delay,
            store_bytes: 256 << 20,
            ..MinerSettings::default()
        };
        let state = MinerState::new(engine, tokenizer, hotkey, settings);
        let listener = miners_runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding a miner's port")
            .map_err(failed)?;
        let address = listener.local_addr().map_err(|e| failed(anyhow!(e)))?;
        miners_runtime.spawn(async move {
            let _ = axum::serve(listener, app(state)).await;
        });
        neurons.push(Neuron {
            uid: uid as u16,
            hotkey: ss58,
            stake: 0,
            axon: Some(format!("http://{address}")),
            registered_at_block: 0,
            capacities: Default::default(),
        });
        eprintln!("miner uid {uid} ({}) at http://{address}", role.name);
    }
    LocalChain::create(&out.join("chain"), &Metagraph { netuid: 1, neurons }, 1.0).map_err(failed)?;

    let policies = PolicyStore::open(out.join("data/policies")).map_err(failed)?;
    let scorer = policies.add(&scorer_bytes).map_err(unusable)?;
    let challenger = policies.add(&challenger_bytes).map_err(unusable)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| failed(anyhow!("finding a free port: {e}")))?;
    let config_path = out.join("assay.toml");
    std::fs::write(
        &config_path,
        config_text(port, epoch_blocks, args.synthetic_per_minute, &scorer.to_string(), &challenger.to_string()),
    )
    .map_err(|e| failed(anyhow!(e)))?;
    let config = Config::load(&config_path).map_err(unusable)?;
    let mut host = Host::open(config).map_err(unusable)?;
    let services = Services::start(&host)?;
    let stop = Arc::new(AtomicBool::new(false));
    services.stop_on_ctrl_c(stop.clone());
    eprintln!(
        "gateway at http://127.0.0.1:{port}/v1 (key sk-devnet, model {MODEL}); epochs of {epoch_blocks} s{}",
        args.epochs.map(|n| format!(", {n} of them")).unwrap_or_default()
    );

    let weights: Arc<Mutex<BTreeMap<u16, u16>>> = Arc::default();
    let live = {
        let (ledger, verifier, weights, stop) =
            (host.ledger.clone(), services.verifier.clone(), weights.clone(), stop.clone());
        let chain = host.chain.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    std::thread::sleep(Duration::from_millis(100));
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
                let epoch = chain.current_block().map(|b| b / epoch_blocks).unwrap_or(0);
                let requests = ledger.requests(epoch).unwrap_or_default();
                let tallies = verifier.as_ref().map(|v| v.tallies()).unwrap_or_default();
                let weights = weights.lock().unwrap_or_else(|p| p.into_inner()).clone();
                eprintln!("\n{}", table(epoch, &requests, &tallies, &weights));
            }
        })
    };

    let mut published = Vec::new();
    let result = host.run(Duration::from_millis(250), args.epochs, &stop, &mut |p| {
        services.epoch_closed(p);
        let mut w = weights.lock().unwrap_or_else(|p| p.into_inner());
        w.clear();
        w.extend(p.summary.output.weights.iter().map(|x| (x.uid, x.weight)));
        eprintln!("epoch {} closed: {}", p.summary.epoch, p.summary_key);
        published.push(p.summary_key.clone());
    });
    stop.store(true, Ordering::Relaxed);
    let _ = live.join();
    let tallies = services.verifier.as_ref().map(|v| v.tallies()).unwrap_or_default();
    services.shutdown();
    drop(miners_runtime);
    result.map_err(failed)?;

    // Every epoch, audited from what was published.
    let store = LocalFolder::new(out.join("published"));
    let runtime = Runtime::new(None).map_err(failed)?;
    let mut all_pass = true;
    println!("\naudits:");
    for key in &published {
        let verdict = match audit(&store, key, &runtime) {
            Ok(_) => "PASS".to_string(),
            Err(e) => {
                all_pass = false;
                format!("FAIL {e:?}")
            }
        };
        println!("  {} {verdict}", out.join("published").join(key).display());
    }
    let epoch = host.chain.current_block().map(|b| b / epoch_blocks).unwrap_or(0);
    let last_epoch = epoch.saturating_sub(1);
    let requests = host.ledger.requests(last_epoch).unwrap_or_default();
    let weights = weights.lock().unwrap_or_else(|p| p.into_inner()).clone();
    println!("\n{}", table(last_epoch, &requests, &tallies, &weights));
    if published.is_empty() {
        return Ok(());
    }
    let weight = |uid: usize| weights.get(&(uid as u16)).copied().unwrap_or(0);
    let cheaters_zero = ROLES.iter().enumerate().filter(|(_, r)| !r.honest).all(|(uid, _)| weight(uid) == 0);
    let fast_first = ROLES.iter().enumerate().all(|(uid, _)| weight(uid) <= weight(0));
    println!("cheaters at weight zero: {}", if cheaters_zero { "yes" } else { "NO" });
    println!("the faster honest miner has the most weight: {}", if fast_first { "yes" } else { "NO" });
    println!("everything is in {}", out.display());
    if !all_pass {
        return Err(failed(anyhow!("an epoch failed its audit")));
    }
    if !cheaters_zero {
        return Err(failed(anyhow!("a cheating miner kept weight")));
    }
    Ok(())
}

/// Per miner: this epoch's requests, every verdict since the start, the last closed epoch's
/// weight.
fn table(
    epoch: u64,
    requests: &[assay_ledger::RequestEntry],
    tallies: &BTreeMap<u16, assay_verify::Tally>,
    weights: &BTreeMap<u16, u16>,
) -> String {
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
    for (uid, role) in ROLES.iter().enumerate() {
        let uid16 = uid as u16;
        let mine: Vec<_> = requests.iter().filter(|e| e.record.uid == uid16).collect();
        let ok = mine.iter().filter(|e| e.record.outcome == Outcome::Ok).count();
        let t = tallies.get(&uid16).cloned().unwrap_or_default();
        let weight = weights.get(&uid16).map_or("-".to_string(), |w| w.to_string());
        lines.push(format!(
            "           {uid:<4} {:<18} {:>9} {:>9} {:>6} {:>6} {:>6} {:>7}",
            role.name,
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
