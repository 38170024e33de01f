//! `assay wallet create`: a hotkey file in the Bittensor wallet layout.

use std::path::PathBuf;

use anyhow::anyhow;
use assay_keys::{Hotkey, Scheme, default_wallet_root, wallet_hotkey_path};

use crate::{CmdResult, failed, unusable};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create `<root>/<wallet>/hotkeys/<hotkey>` and print its SS58 address.
    Create {
        #[arg(long, alias = "wallet.name")]
        wallet: String,
        #[arg(long, alias = "wallet.hotkey")]
        hotkey: String,
        /// Wallets folder (default `~/.bittensor/wallets`, or `$BT_WALLET_PATH`).
        #[arg(long, alias = "wallet.path")]
        root: Option<PathBuf>,
        #[arg(long, default_value = "sr25519", value_parser = ["sr25519", "ed25519"])]
        scheme: String,
        /// A 32-byte seed in hex, for reproducible test keys; random when absent.
        #[arg(long)]
        seed: Option<String>,
        /// Replace an existing hotkey file.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: Command) -> CmdResult {
    let Command::Create { wallet, hotkey, root, scheme, seed, force } = cmd;
    let scheme = Scheme::parse(&scheme).map_err(unusable)?;
    let key = match seed {
        Some(hex_seed) => {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_seed.trim_start_matches("0x"), &mut bytes)
                .map_err(|_| unusable(anyhow!("--seed must be 32 bytes of hex")))?;
            Hotkey::from_seed(scheme, bytes)
        }
        None => Hotkey::generate(scheme),
    }
    .map_err(failed)?;
    let path = wallet_hotkey_path(&root.unwrap_or_else(default_wallet_root), &wallet, &hotkey);
    let saved = if force { key.save(&path) } else { key.save_new(&path) };
    saved.map_err(|e| match e {
        assay_keys::Error::Exists(_) => unusable(anyhow!("{e} (pass --force to replace it)")),
        e => failed(e),
    })?;
    eprintln!("wrote {}", path.display());
    println!("{}", key.ss58());
    Ok(())
}
