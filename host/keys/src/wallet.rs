//! Bittensor wallet key files (`<root>/<wallet>/hotkeys/<hotkey>`, `<root>/<wallet>/coldkey`):
//! JSON with `secretSeed` (the 32-byte seed we sign with), `publicKey`, `accountId`,
//! `ss58Address`, either plaintext or encrypted (`$NACL`, see `nacl`); and the public-key files
//! (`coldkeypub.txt`).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::password::Password;
use crate::{Error, Hotkey, PublicKey, Result, Scheme, nacl};

/// The most a key file may hold: Python's are under 1 KiB (a file this large is not one).
const MAX_KEYFILE_BYTES: u64 = 64 * 1024;

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

/// How a key file's bytes are stored, from their first bytes (bittensor-wallet's
/// `keyfile_data_encryption_method`).
enum Stored {
    Plain,
    Nacl,
    Unsupported(&'static str),
}

fn stored(bytes: &[u8]) -> Stored {
    if bytes.starts_with(nacl::PREFIX) {
        Stored::Nacl
    } else if bytes.starts_with(b"$ANSIBLE_VAULT") {
        Stored::Unsupported("Ansible Vault")
    } else if bytes.starts_with(b"gAAAAA") {
        Stored::Unsupported("the legacy Fernet scheme")
    } else if bytes.starts_with(b"$BITTENSOR") {
        Stored::Unsupported("an unknown $BITTENSOR scheme")
    } else {
        Stored::Plain
    }
}

/// A key file's bytes, refused past [`MAX_KEYFILE_BYTES`] without reading further.
fn read_keyfile(path: &Path) -> Result<Vec<u8>> {
    let shown = || path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| Error::Read { path: shown(), source })?;
    let mut bytes = Vec::new();
    file.take(MAX_KEYFILE_BYTES + 1).read_to_end(&mut bytes).map_err(|source| Error::Read { path: shown(), source })?;
    if bytes.len() as u64 > MAX_KEYFILE_BYTES {
        return Err(Error::BadWallet { path: shown(), reason: format!("larger than {MAX_KEYFILE_BYTES} bytes") });
    }
    Ok(bytes)
}

/// The plaintext of the `$NACL` file `shown`, under the password `password` gives.
fn decrypt(bytes: &[u8], shown: &str, password: &Password) -> Result<Zeroizing<Vec<u8>>> {
    let password = password.read(shown)?;
    tracing::info!(file = %shown, "decrypting the wallet file (Argon2i over 512 MiB: a few seconds)");
    nacl::open(bytes, password.as_bytes()).map_err(|failure| match failure {
        nacl::Failure::WrongPassword => Error::WrongPassword(shown.into()),
        nacl::Failure::Truncated => {
            Error::BadWallet { path: shown.into(), reason: "the encrypted file is truncated".into() }
        }
        nacl::Failure::Kdf(reason) => Error::Kdf { path: shown.into(), reason },
    })
}

/// A public-key file (`coldkeypub.txt`, `hotkeys/<name>pub.txt`): plaintext JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyFile {
    public_key: String,
    ss58_address: String,
    #[serde(default)]
    crypto_type: Option<u8>,
}

impl PublicKey {
    /// Loads a public-key file as bittensor-wallet writes it, checking that its address is its
    /// key's.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_keyfile(path)?;
        let shown = path.display().to_string();
        let bad = |reason: String| Error::BadWallet { path: shown.clone(), reason };
        let file: PublicKeyFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let scheme = scheme_of(file.crypto_type).map_err(bad)?;
        let bytes = hex32(&file.public_key).ok_or_else(|| bad("publicKey is not 32 hex bytes".into()))?;
        let key = PublicKey { scheme, bytes };
        if file.ss58_address != key.ss58() {
            return Err(bad(format!("ss58Address {} is not publicKey's ({})", file.ss58_address, key.ss58())));
        }
        Ok(key)
    }
}

/// 0 = ed25519, 1 = sr25519 (substrate-interface's KeypairType); absent means sr25519.
fn scheme_of(crypto_type: Option<u8>) -> std::result::Result<Scheme, String> {
    match crypto_type {
        None | Some(1) => Ok(Scheme::Sr25519),
        Some(0) => Ok(Scheme::Ed25519),
        Some(other) => Err(format!("cryptoType {other} is not supported")),
    }
}

impl Hotkey {
    /// Loads a plaintext key file and checks that its seed gives its public key; an encrypted
    /// one is refused ([`Error::Encrypted`]): see [`Hotkey::load_with`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_keyfile(path)?;
        let shown = path.display().to_string();
        match stored(&bytes) {
            Stored::Plain => Self::from_keyfile(&bytes, &shown),
            Stored::Nacl => Err(Error::Encrypted(shown)),
            Stored::Unsupported(method) => Err(Error::UnsupportedEncryption { path: shown, method }),
        }
    }

    /// Loads a key file, plaintext or `$NACL`-encrypted; `password` is asked for only when the
    /// file is encrypted. Decrypting takes seconds and 512 MiB (bittensor-wallet's Argon2i).
    pub fn load_with(path: &Path, password: &Password) -> Result<Self> {
        let bytes = read_keyfile(path)?;
        let shown = path.display().to_string();
        match stored(&bytes) {
            Stored::Plain => Self::from_keyfile(&bytes, &shown),
            Stored::Nacl => Self::from_keyfile(&decrypt(&bytes, &shown, password)?, &shown),
            Stored::Unsupported(method) => Err(Error::UnsupportedEncryption { path: shown, method }),
        }
    }

    /// The key in a plaintext key file's JSON (`shown` names the file in errors).
    fn from_keyfile(bytes: &[u8], shown: &str) -> Result<Self> {
        let bad = |reason: String| Error::BadWallet { path: shown.into(), reason };
        let file: HotkeyFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let scheme = scheme_of(file.crypto_type).map_err(bad)?;
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

    /// Writes the key as a plaintext hotkey file (owner-only permissions), creating folders,
    /// replacing a file that is there. Only keys made from a seed can be saved (the seed is what
    /// the file keeps).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.write_file(path, Publish::Replace)
    }

    /// [`Hotkey::save`], but never over a file that is there, however close two writers come:
    /// the file is published with a hard link, which fails when the name exists
    /// ([`Error::Exists`], the file there left as it was). `assay wallet create` and `assay init
    /// --create-wallet` write through this.
    pub fn save_new(&self, path: &Path) -> Result<()> {
        self.write_file(path, Publish::New)
    }

    fn write_file(&self, path: &Path, publish: Publish) -> Result<()> {
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
            write_private(path, &json, publish)
        };
        write().map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Exists(shown),
            _ => Error::Write { path: shown, source },
        })
    }
}

/// How [`write_private`] puts its file in place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// Renamed over whatever is there.
    Replace,
    /// Hard-linked to the name, failing (`AlreadyExists`) when the name is taken.
    New,
}

/// Writes `bytes` to a new file beside `path` that is owner-only from its creation, then
/// renames it over `path`: the secret is never in a file anyone else could read, nor in the
/// old file's inode, which a reader may still hold open.
fn write_private(path: &Path, bytes: &[u8], publish: Publish) -> std::io::Result<()> {
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
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| match publish {
        Publish::Replace => std::fs::rename(&tmp, path),
        Publish::New => std::fs::hard_link(&tmp, path),
    });
    if written.is_err() || publish == Publish::New {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
