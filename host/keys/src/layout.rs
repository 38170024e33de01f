//! A wallet as the Python tools lay it out, `<root>/<name>/`: `coldkey` (usually encrypted),
//! `coldkeypub.txt`, `hotkeys/<hotkey>` (plaintext by default, encrypted on request), and the one
//! way every command loads a key from it.

use std::path::{Path, PathBuf};

use crate::password::Password;
use crate::{Hotkey, PublicKey, Result, default_wallet_root, wallet_hotkey_path};

/// One wallet and one of its hotkeys, as `--wallet.path`, `--wallet.name` and
/// `--wallet.hotkey` name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    /// The folder of wallets (`--wallet.path`).
    pub root: PathBuf,
    /// The wallet's folder name (`--wallet.name`).
    pub name: String,
    /// The hotkey's file name (`--wallet.hotkey`).
    pub hotkey: String,
}

impl Wallet {
    /// The wallet `name` with hotkey `hotkey` under `root`, or under [`default_wallet_root`].
    pub fn new(root: Option<&Path>, name: &str, hotkey: &str) -> Self {
        let root = root.map(Path::to_path_buf).unwrap_or_else(default_wallet_root);
        Self { root, name: name.into(), hotkey: hotkey.into() }
    }

    pub fn hotkey_path(&self) -> PathBuf {
        wallet_hotkey_path(&self.root, &self.name, &self.hotkey)
    }

    pub fn coldkey_path(&self) -> PathBuf {
        self.root.join(&self.name).join("coldkey")
    }

    pub fn coldkeypub_path(&self) -> PathBuf {
        self.root.join(&self.name).join("coldkeypub.txt")
    }

    /// The hotkey, decrypted with `password` when its file is encrypted: what the validator,
    /// the miner and the owner's tools sign with.
    pub fn load_hotkey(&self, password: &Password) -> Result<Hotkey> {
        Hotkey::load_with(&self.hotkey_path(), password)
    }

    /// The coldkey, decrypted with `password` when its file is encrypted (it usually is).
    pub fn load_coldkey(&self, password: &Password) -> Result<Hotkey> {
        Hotkey::load_with(&self.coldkey_path(), password)
    }

    /// The coldkey's public key, from `coldkeypub.txt`: no password needed.
    pub fn coldkey_public(&self) -> Result<PublicKey> {
        PublicKey::load(&self.coldkeypub_path())
    }
}
