//! `assay miner`: the reference miner, serving the reference engine with hidden-state
//! commitments over the signed protocol, to the validators it is told to serve; with
//! `--serve-axon`, announcing where it serves on its chain (`miner_chain`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use assay_keys::Hotkey;
use assay_miner::Signers;
use assay_miner::http::{MAX_DECLARED_TASKS, MAX_TASK_NAME_BYTES, MinerSettings, MinerState, TaskCapacity, serve};
use assay_reference_engine::{ChatTokenizer, Device, Engine};

use crate::commands::WalletFlags;
use crate::commands::miner_chain::{self, ChainFlags};
use crate::{CmdResult, failed, unusable};

// A flag given again overrides: the command line's over a flags file's (`@miner.args`).
#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct Args {
    /// A model directory laid out as a Hugging Face snapshot.
    #[arg(long)]
    model: PathBuf,
    /// The miner's wallet and hotkey (each `default` when not given, as in the Python tools).
    #[command(flatten)]
    wallet: WalletFlags,
    /// An environment variable holding the password of an encrypted hotkey (asked on the
    /// terminal when not given, and only if the hotkey is encrypted).
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// The port it listens on (0: any free one).
    #[arg(long, alias = "axon.port", default_value_t = 8091)]
    port: u16,
    /// The address it listens on.
    #[arg(long, alias = "axon.ip", default_value = "127.0.0.1")]
    host: String,
    /// The model name requests must use (default: the model folder's name).
    #[arg(long)]
    served_model_name: Option<String>,
    /// Concurrent requests before answering 429.
    #[arg(long, default_value_t = 4)]
    capacity: u32,
    /// Concurrent requests one validator may hold (default: all of `--capacity`).
    #[arg(long)]
    signer_capacity: Option<u32>,
    /// A task this miner serves and its capacity, declared in `/assay/v1/info`; repeatable
    /// (none: `--capacity` for every task of the model).
    #[arg(long = "task", value_name = "NAME=CAPACITY", value_parser = parse_task)]
    tasks: Vec<TaskCapacity>,
    /// Seconds a commitment can be opened.
    #[arg(long, default_value_t = 120)]
    open_window_s: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: Device,
    /// A validator (SS58) to serve whatever the metagraph says; repeatable.
    #[arg(long = "allow", value_name = "SS58")]
    allow: Vec<String>,
    /// The chain (`--chain-dir` or `--subtensor.network`, `--netuid`): its metagraph's
    /// validators with a permit and at least `--min-stake` are served, reread every 12 s; and
    /// `--serve-axon` announces the miner there.
    #[command(flatten)]
    pub(crate) chain: ChainFlags,
    /// Stake (rao) a validator needs to be served.
    #[arg(long, default_value_t = 0)]
    min_stake: u64,
    /// Serve any signer (a test set-up only: strangers can then spend the engine and the store).
    #[arg(long)]
    allow_any_signer: bool,
    /// Connections served at once.
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// Serve Prometheus metrics on this address (`GET /metrics`: requests, openings, store size).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Seconds a connection has to send a request's headers (and an idle one is kept).
    #[arg(long, default_value_t = 10)]
    header_read_timeout_s: u64,
    /// Seconds a request has to send its body.
    #[arg(long, default_value_t = 30)]
    body_read_timeout_s: u64,
    /// Points one opening may ask for.
    #[arg(long, default_value_t = 256)]
    max_open_points: usize,
}

/// Whom the miner serves, as the arguments say; refused when they say nobody.
fn signers(args: &Args) -> Result<Option<Arc<Signers>>, crate::Exit> {
    if args.allow_any_signer {
        tracing::warn!("serving any signer: strangers can spend this miner's engine and store");
        return Ok(None);
    }
    if args.allow.is_empty() && !args.chain.names_a_chain() {
        return Err(unusable(anyhow!(
            "say whom to serve: --chain-dir or --subtensor.network (the metagraph's validators), --allow SS58, \
             or --allow-any-signer"
        )));
    }
    for ss58 in &args.allow {
        assay_keys::decode_ss58(ss58).map_err(|e| unusable(anyhow!("--allow {ss58}: {e}")))?;
    }
    Ok(Some(Arc::new(Signers::new(args.allow.clone(), args.min_stake))))
}

/// The miner's hotkey, decrypted when its file is encrypted (Python's defaults: wallet
/// `default`, hotkey `default`).
fn hotkey(args: &Args) -> Result<Hotkey, crate::Exit> {
    args.wallet.load_hotkey(args.password_env.as_deref(), "the miner's").map_err(unusable)
}

pub fn run(args: Args) -> CmdResult {
    args.chain.check()?;
    check_tasks(&args.tasks)?;
    let signers = signers(&args)?;
    // Before the model: a missing key, a wrong password or a hotkey the chain does not know is
    // told at once.
    let hotkey = hotkey(&args)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| failed(anyhow!("starting the async runtime: {e}")))?;
    let chain = runtime.block_on(args.chain.open(&hotkey))?;
    if let (Some(chain), true) = (&chain, args.chain.serve_axon) {
        runtime.block_on(miner_chain::check_registered(chain.as_ref(), args.chain.netuid, &hotkey.ss58()))?;
    }
    let loading = format!("loading the model from {}", args.model.display());
    let engine = crate::progress::while_running(&loading, || Engine::load_on(&args.model, args.device))
        .map_err(|e| unusable(anyhow!("loading {}: {e}", args.model.display())))?;
    let tokenizer = ChatTokenizer::load(&args.model).map_err(unusable)?;
    let model_name = args.served_model_name.clone().unwrap_or_else(|| {
        args.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
    });
    tracing::info!(model = %model_name, device = %engine.device(), hotkey = %hotkey.ss58(), "miner starting");
    let settings = MinerSettings {
        model_name,
        capacity: args.capacity.max(1),
        signer_capacity: args.signer_capacity,
        tasks: args.tasks.clone(),
        open_window: Duration::from_secs(args.open_window_s),
        max_connections: args.max_connections.max(1),
        header_read_timeout: Duration::from_secs(args.header_read_timeout_s.max(1)),
        body_read_timeout: Duration::from_secs(args.body_read_timeout_s.max(1)),
        max_open_points: args.max_open_points.max(1),
        signers: signers.clone(),
        ..MinerSettings::default()
    };
    let miner_hotkey = hotkey.ss58();
    let state = MinerState::new(engine, tokenizer, hotkey, settings);
    // Served until this function returns (dropping the server stops it).
    let _metrics_server = match args.metrics_addr {
        Some(addr) => {
            let registry = std::sync::Arc::new(state.metrics_registry());
            let server = assay_metrics::serve(addr, registry, assay_metrics::Limits::default())
                .map_err(|e| unusable(anyhow!("serving metrics on {addr}: {e}")))?;
            println!("metrics: http://{}/metrics", server.local_addr());
            Some(server)
        }
        None => None,
    };
    runtime.block_on(async move {
        let netuid = args.chain.netuid;
        if let (Some(signers), Some(chain)) = (signers, &chain) {
            let count = signers.update(&chain.metagraph(netuid).await.map_err(unusable)?.neurons);
            tracing::info!(validators = count, "serving the metagraph's validators");
            tokio::spawn(assay_miner::follow_metagraph(chain.clone(), netuid, signers, Duration::from_secs(12)));
        }
        let listener = listen(&args.host, args.port).await?;
        if let (Some(chain), true) = (&chain, args.chain.serve_axon) {
            let listening = listener.local_addr().map_err(|e| failed(anyhow!("reading the listening address: {e}")))?;
            let axon = args.chain.axon(listening)?;
            miner_chain::announce(chain.as_ref(), netuid, &miner_hotkey, &axon).await?;
        }
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, state, ctrl_c).await.map_err(|e| failed(anyhow!("serving: {e}")))
    })
}

/// Binds the miner's address; logs the address bound (the port chosen, for port 0).
async fn listen(host: &str, port: u16) -> Result<tokio::net::TcpListener, crate::Exit> {
    let address = format!("{host}:{port}");
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("binding {address}"))
        .map_err(unusable)?;
    let bound = listener.local_addr().map_or(address, |a| a.to_string());
    tracing::info!(address = %bound, "miner listening");
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Miner {
        #[command(flatten)]
        args: Args,
    }

    fn parse(flags: &[&str]) -> Args {
        let all = ["miner", "--model", "m"].into_iter().chain(flags.iter().copied());
        Miner::try_parse_from(all).expect("parses").args
    }

    #[test]
    fn the_wallet_flags_have_the_python_names_and_defaults_and_the_old_names_still_work() {
        let python = parse(&["--wallet.name", "w", "--wallet.hotkey", "h", "--wallet.path", "/x", "--netuid", "9"]);
        let older = parse(&["--wallet", "w", "--hotkey", "h", "--wallet-root", "/x", "--netuid", "9"]);
        assert_eq!(python.wallet, older.wallet);
        assert_eq!(python.wallet.path, Some(PathBuf::from("/x")));
        assert_eq!(python.chain.netuid, 9);

        // Python's defaults: wallet `default`, hotkey `default`; the key is loaded from there.
        let dir = tempfile::tempdir().expect("tempdir");
        let key = Hotkey::from_seed(assay_keys::Scheme::Sr25519, [2; 32]).expect("key");
        key.save(&assay_keys::Wallet::new(Some(dir.path()), "default", "default").hotkey_path()).expect("saves");
        let args = parse(&["--wallet.path", dir.path().to_str().expect("a text path")]);
        assert_eq!(hotkey(&args).expect("loads").ss58(), key.ss58());
    }
}

/// `NAME=CAPACITY`, within the bounds a validator accepts (assay_protocol::wire).
fn parse_task(text: &str) -> Result<TaskCapacity, String> {
    let (name, capacity) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=CAPACITY"))?;
    if name.is_empty() || name.len() > MAX_TASK_NAME_BYTES {
        return Err(format!("task name {name:?} must be 1 to {MAX_TASK_NAME_BYTES} bytes"));
    }
    let capacity: u32 = capacity.parse().map_err(|e| format!("capacity {capacity:?}: {e}"))?;
    if capacity == 0 {
        return Err(format!("task {name}: capacity must be at least 1"));
    }
    Ok(TaskCapacity { name: name.into(), capacity })
}

/// The declared tasks as a validator will read them: at most [`MAX_DECLARED_TASKS`], each once.
fn check_tasks(tasks: &[TaskCapacity]) -> CmdResult {
    if tasks.len() > MAX_DECLARED_TASKS {
        return Err(unusable(anyhow!("{} --task flags (at most {MAX_DECLARED_TASKS})", tasks.len())));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = tasks.iter().find(|t| !seen.insert(t.name.as_str())) {
        return Err(unusable(anyhow!("--task {} is given twice", twice.name)));
    }
    Ok(())
}

#[cfg(test)]
mod task_tests {
    use super::*;

    #[test]
    fn task_flags_are_name_equals_capacity_within_bounds() {
        assert_eq!(parse_task("chat=8"), Ok(TaskCapacity { name: "chat".into(), capacity: 8 }));
        for bad in ["chat", "=3", "chat=0", "chat=-1", "chat=x"] {
            assert!(parse_task(bad).is_err(), "{bad} is refused");
        }
        assert!(parse_task(&format!("{}=1", "t".repeat(MAX_TASK_NAME_BYTES + 1))).is_err());
        let twice = [parse_task("a=1").expect("ok"), parse_task("a=2").expect("ok")];
        assert!(check_tasks(&twice).is_err());
    }
}
