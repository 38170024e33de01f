//! `assay miner`: the reference miner, serving the reference engine with hidden-state
//! commitments over the signed protocol.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use assay_keys::{Hotkey, default_wallet_root, wallet_hotkey_path};
use assay_miner::http::{MinerSettings, MinerState, app};
use assay_reference_engine::{ChatTokenizer, Device, Engine};

use crate::{CmdResult, unusable};

#[derive(clap::Args)]
pub struct Args {
    /// A model directory laid out as a Hugging Face snapshot.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    wallet: String,
    #[arg(long)]
    hotkey: String,
    /// Wallets folder (default `~/.bittensor/wallets`, or `$BT_WALLET_PATH`).
    #[arg(long)]
    wallet_root: Option<PathBuf>,
    #[arg(long, default_value_t = 8091)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The model name requests must use (default: the model folder's name).
    #[arg(long)]
    served_model_name: Option<String>,
    /// Concurrent requests before answering 429.
    #[arg(long, default_value_t = 4)]
    capacity: u32,
    /// Seconds a commitment can be opened.
    #[arg(long, default_value_t = 120)]
    open_window_s: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: Device,
}

pub fn run(args: Args) -> CmdResult {
    let engine = Engine::load_on(&args.model, args.device)
        .map_err(|e| unusable(anyhow!("loading {}: {e}", args.model.display())))?;
    let tokenizer = ChatTokenizer::load(&args.model).map_err(unusable)?;
    let root = args.wallet_root.unwrap_or_else(default_wallet_root);
    let hotkey = Hotkey::load(&wallet_hotkey_path(&root, &args.wallet, &args.hotkey)).map_err(unusable)?;
    let model_name = args.served_model_name.unwrap_or_else(|| {
        args.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
    });
    tracing::info!(model = %model_name, device = %engine.device(), hotkey = %hotkey.ss58(), "miner starting");
    let settings = MinerSettings {
        model_name,
        capacity: args.capacity.max(1),
        open_window: Duration::from_secs(args.open_window_s),
        ..MinerSettings::default()
    };
    let state = MinerState::new(engine, tokenizer, hotkey, settings);
    assay_lab::serve_until_ctrl_c(&args.host, args.port, app(state), "miner").map_err(crate::lab_error)
}
