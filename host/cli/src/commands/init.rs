//! `assay init validator|miner|owner`: what a new operator starts from. Writes the role's config
//! with every key explained (the validator's and the owner's `assay.toml` by serializing the
//! config type, `assay_node::Config::to_commented_toml`; the miner's flags file from the miner
//! command's own flag definitions), creates the data folders it names and, with
//! `--create-wallet`, the hotkey. Never replaces a file unless `--force`; never replaces a hotkey.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use assay_keys::{Hotkey, Scheme, default_wallet_root, wallet_hotkey_path};
use assay_node::{ChainConfig, Config};

use crate::commands::WalletFlags;
use crate::{CmdResult, Exit, failed, unusable};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The validator node (`assay run`): `assay.toml`.
    Validator,
    /// The reference miner (`assay miner @miner.args`): `miner.args`, one flag per line.
    Miner,
    /// The subnet owner's tools (`assay policy add|announce`): `assay.toml`.
    Owner,
}

#[derive(clap::Args)]
pub struct Args {
    role: Role,
    /// The folder to write into (created when missing).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The wallet and hotkey the config names (each `default` when not given, as in the
    /// Python tools).
    #[command(flatten)]
    wallet: WalletFlags,
    /// Create the hotkey (sr25519, in the Bittensor wallet layout) when there is none.
    #[arg(long)]
    create_wallet: bool,
    /// Replace files that are there (a hotkey is never replaced).
    #[arg(long)]
    force: bool,
    #[arg(long, default_value_t = 1)]
    netuid: u16,
    /// The subtensor chain: finney (the default), test, local or ws(s)://…
    #[arg(long = "subtensor.network", value_name = "NETWORK", conflicts_with = "chain_dir")]
    network: Option<String>,
    /// A local chain folder (`assay chain init`) instead of subtensor, for trials.
    #[arg(long)]
    chain_dir: Option<PathBuf>,
    /// The model folder (the validator's reference model, the miner's served model); relative to
    /// --dir.
    #[arg(long, default_value = "model")]
    model: PathBuf,
}

pub fn run(args: Args) -> CmdResult {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display())).map_err(unusable)?;
    let dir = std::path::absolute(&args.dir).map_err(unusable)?;
    let written = match args.role {
        Role::Validator | Role::Owner => write_node_config(&args, &dir),
        Role::Miner => write_miner_args(&args, &dir),
    };
    // The hotkey is created even where the config was kept: `--create-wallet` beside a config
    // that is there already is how one adds the wallet it names.
    let wallet = if args.create_wallet { create_hotkey(&args) } else { Ok(()) };
    let (file, next) = match written {
        Ok(done) => done,
        Err(Kept(path)) => {
            wallet?;
            let hotkey = if args.create_wallet {
                "; the hotkey above was seen to all the same (created, or kept where one is there)"
            } else {
                ""
            };
            return Err(unusable(anyhow!("{} exists; not replacing it (pass --force to){hotkey}", path.display())));
        }
        Err(Failed(e)) => return Err(e),
    };
    wallet?;
    println!("wrote {}", file.display());
    println!("next: {next}");
    Ok(())
}

/// Why a config file was not written.
enum NotWritten {
    /// It is there and `--force` was not given.
    Kept(PathBuf),
    Failed(Exit),
}
use NotWritten::{Failed, Kept};

impl From<Exit> for NotWritten {
    fn from(e: Exit) -> Self {
        Failed(e)
    }
}

/// Writes `text` to `path`: replacing a file there only when `force`, else as a new file (the
/// name taken between a check and the write is still refused: `create_new`).
fn write_file(path: &Path, text: &str, force: bool) -> Result<(), NotWritten> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Kept(path.to_path_buf())),
        Err(e) => return Err(Failed(failed(anyhow!("writing {}: {e}", path.display())))),
    };
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display())).map_err(failed)?;
    Ok(())
}

fn wallet_name(flags: &WalletFlags) -> (String, String) {
    let name = flags.name.clone().unwrap_or_else(|| "default".into());
    (name, flags.hotkey.clone().unwrap_or_else(|| "default".into()))
}

/// The validator's or the owner's `assay.toml`, and the folders it names.
fn node_config(args: &Args) -> Result<Config, Exit> {
    let (name, hotkey) = wallet_name(&args.wallet);
    let root = args.wallet.path.as_deref().map(std::path::absolute).transpose().map_err(unusable)?;
    let mut config = Config::local(args.netuid, root, &name, &hotkey);
    config.chain = match &args.chain_dir {
        Some(chain_dir) => ChainConfig::Local { dir: chain_dir.clone(), metagraph_refresh_ms: 2000 },
        None => ChainConfig::subtensor(args.network.as_deref().unwrap_or("finney")),
    };
    if args.role == Role::Validator {
        config.verify_with(args.model.clone());
    }
    // What `assay run` would refuse is refused now.
    Config::parse(&config.to_toml().map_err(failed)?).map_err(unusable)?;
    Ok(config)
}

const VALIDATOR_HEADER: &str = "assay.toml: the validator node's config (`assay run --config assay.toml`). Every key is \
     explained above it; a commented-out key is optional (remove the `# ` to set it). Relative paths are relative \
     to this file. Check it with `assay run --check --config assay.toml`.";

const OWNER_HEADER: &str = "assay.toml: the subnet owner's config, for `assay policy add|announce --config \
     assay.toml`: [wallet] is the owner's hotkey (it signs announcements), [chain] the subnet's chain, [publish] \
     where announced policies are published for validators to fetch. Every key is explained above it; a \
     commented-out key is optional. Relative paths are relative to this file.";

fn write_node_config(args: &Args, dir: &Path) -> Result<(PathBuf, String), NotWritten> {
    let path = dir.join("assay.toml");
    let config = node_config(args)?;
    let header = if args.role == Role::Validator { VALIDATOR_HEADER } else { OWNER_HEADER };
    let text = config.to_commented_toml(header).map_err(failed)?;
    write_file(&path, &text, args.force)?;
    let resolved = Config::load(&path).map_err(failed)?;
    for folder in std::iter::once(resolved.data_dir.clone()).chain(publish_dir(&resolved)) {
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display())).map_err(failed)?;
        println!("created {}", folder.display());
    }
    let next = match args.role {
        Role::Validator => format!("assay run --check --config {}", path.display()),
        _ => format!("assay policy add SCORER.wasm --config {}", path.display()),
    };
    Ok((path, next))
}

fn publish_dir(config: &Config) -> Option<PathBuf> {
    match &config.publish {
        assay_node::PublishConfig::Local { dir } => Some(dir.clone()),
        assay_node::PublishConfig::S3 { .. } => None,
    }
}

/// The hotkey the config names, created unless one is there.
fn create_hotkey(args: &Args) -> CmdResult {
    let (name, hotkey) = wallet_name(&args.wallet);
    let root = args.wallet.path.clone().unwrap_or_else(default_wallet_root);
    let path = wallet_hotkey_path(&root, &name, &hotkey);
    let key = Hotkey::generate(Scheme::Sr25519).map_err(failed)?;
    match key.save_new(&path) {
        Ok(()) => println!("created hotkey {} in {} (plaintext: encrypt or guard it)", key.ss58(), path.display()),
        Err(assay_keys::Error::Exists(_)) => println!("kept the hotkey that is there: {}", path.display()),
        Err(e) => return Err(failed(e)),
    }
    Ok(())
}

fn write_miner_args(args: &Args, dir: &Path) -> Result<(PathBuf, String), NotWritten> {
    let path = dir.join("miner.args");
    let text = crate::commands::miner_args::flags_file(&miner_values(args, dir));
    write_file(&path, &text, args.force)?;
    Ok((
        path.clone(),
        format!("put the model in {}, then `assay miner @{}`", dir.join(&args.model).display(), path.display()),
    ))
}

/// The flags `assay init` sets in the miner's file (the rest keep their defaults).
fn miner_values(args: &Args, dir: &Path) -> Vec<(&'static str, String)> {
    let (name, hotkey) = wallet_name(&args.wallet);
    let mut values = vec![
        ("model", dir.join(&args.model).display().to_string()),
        ("wallet.name", name),
        ("wallet.hotkey", hotkey),
        ("netuid", args.netuid.to_string()),
    ];
    // Absolute, as every other path of the file (and as the node's config gets it): the file
    // must mean the same wherever `assay miner` is started from.
    if let Some(root) = &args.wallet.path {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
        values.push(("wallet.path", root.display().to_string()));
    }
    // Only the chain the operator named: `assay miner` has none by default (it serves whoever
    // reaches it), so neither has its file.
    match (&args.chain_dir, &args.network) {
        (Some(chain_dir), _) => values.push(("chain-dir", dir.join(chain_dir).display().to_string())),
        (None, Some(network)) => values.push(("subtensor.network", network.clone())),
        (None, None) => {}
    }
    values
}
