//! Bittensor wallet hotkey files: `<root>/<wallet>/hotkeys/<hotkey>`, plaintext JSON with
//! `secretSeed` (the 32-byte seed we sign with), `publicKey`, `accountId`, `ss58Address`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Hotkey, Result, Scheme};

/// `~/.bittensor/wallets`, or `$BT_WALLET_PATH` where set.
pub fn default_wallet_root() -> PathBuf {
    if let Some(p) = std::env::var_os("BT_WALLET_PATH") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".bittensor").join("wallets")
}

pub fn wallet_hotkey_path(root: &Path, wallet: &str, hotkey: &str) -> PathBuf {
    root.join(wallet).join("hotkeys").join(hotkey)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HotkeyFile {
    account_id: String,
    public_key: String,
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    secret_phrase: Option<String>,
    #[serde(default)]
    secret_seed: Option<String>,
    ss58_address: String,
    /// 0 = ed25519, 1 = sr25519 (substrate-interface's KeypairType); absent means sr25519.
    #[serde(default)]
    crypto_type: Option<u8>,
}

fn hex64(s: &str) -> Option<[u8; 64]> {
    let mut out = [0u8; 64];
    hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut out).ok()?;
    Some(out)
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut out).ok()?;
    Some(out)
}

impl Hotkey {
    /// Loads a plaintext hotkey file and checks that its seed gives its public key.
    pub fn load(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| Error::Read { path: shown.clone(), source })?;
        if bytes.starts_with(b"$NACL") || bytes.starts_with(b"$BITTENSOR") {
            return Err(Error::Encrypted(shown));
        }
        let bad = |reason: String| Error::BadWallet { path: shown.clone(), reason };
        let file: HotkeyFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let scheme = match file.crypto_type {
            None | Some(1) => Scheme::Sr25519,
            Some(0) => Scheme::Ed25519,
            Some(other) => return Err(bad(format!("cryptoType {other} is not supported"))),
        };
        let declared = hex32(&file.public_key).ok_or_else(|| bad("publicKey is not 32 hex bytes".into()))?;
        let seed = file.secret_seed.as_deref().and_then(hex32);
        let key = match (seed, file.private_key.as_deref().and_then(hex64)) {
            (Some(seed), _) => Hotkey::from_seed(scheme, seed)?,
            // bittensor-wallet 4.1 writes a placeholder secretSeed for keys regenerated from a
            // seed; the expanded secret in privateKey is then the key.
            (None, Some(secret)) if scheme == Scheme::Sr25519 => {
                Hotkey::from_sr25519_secret(&secret, &declared).map_err(|e| bad(format!("privateKey: {e}")))?
            }
            _ => return Err(bad("it has neither a usable secretSeed nor a usable privateKey".into())),
        };
        if declared != key.public().bytes {
            return Err(bad("secretSeed does not give publicKey".into()));
        }
        if file.ss58_address != key.ss58() {
            return Err(bad(format!("ss58Address {} does not match the key ({})", file.ss58_address, key.ss58())));
        }
        Ok(key)
    }

    /// Writes the key as a plaintext hotkey file (owner-only permissions), creating folders.
    /// Only keys made from a seed can be saved (the seed is what the file keeps).
    pub fn save(&self, path: &Path) -> Result<()> {
        let Some(seed) = self.seed() else {
            return Err(Error::BadKey("this key was not made from a seed and cannot be saved".into()));
        };
        let shown = path.display().to_string();
        let public = format!("0x{}", hex::encode(self.public().bytes));
        let file = HotkeyFile {
            account_id: public.clone(),
            public_key: public,
            private_key: None,
            secret_phrase: None,
            secret_seed: Some(format!("0x{}", hex::encode(seed))),
            ss58_address: self.ss58(),
            crypto_type: Some(match self.scheme() {
                Scheme::Ed25519 => 0,
                Scheme::Sr25519 => 1,
            }),
        };
        let json =
            serde_json::to_vec(&file).map_err(|e| Error::BadWallet { path: shown.clone(), reason: e.to_string() })?;
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            write_private(path, &json)
        };
        write().map_err(|source| Error::Write { path: shown, source })
    }
}

/// Writes `bytes` to a new file beside `path` that is owner-only from its creation, then
/// renames it over `path`: the secret is never in a file anyone else could read, nor in the
/// old file's inode, which a reader may still hold open.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let create = || {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&tmp)
    };
    // A leftover of a writer that died (same pid, reused) is ours to replace.
    let mut file = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp)?;
            create()?
        }
        other => other?,
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
