//! `assay.toml`: what a validator host is configured with. Relative paths are relative to the
//! file's own folder, so a config and its data travel together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use assay_policy_runtime::Limits;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub netuid: u16,
    /// Ledger, policy store and compiled-policy cache live here.
    pub data_dir: PathBuf,
    /// Blocks per epoch.
    #[serde(default = "default_epoch_blocks")]
    pub epoch_blocks: u64,
    #[serde(default = "default_version_key")]
    pub version_key: u64,
    pub wallet: WalletConfig,
    pub chain: ChainConfig,
    pub publish: PublishConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    /// The OpenAI-compatible gateway `assay run` serves users with; none when absent.
    #[serde(default)]
    pub gateway: Option<GatewayConfig>,
    /// The verification loop (challenges against the reference engine); none when absent.
    #[serde(default)]
    pub verify: Option<VerifyConfig>,
}

/// `[gateway]`: the gateway's own settings. A build without the network stack (an auditor's)
/// keeps the section as it is and refuses to serve it.
#[cfg(feature = "node")]
pub type GatewayConfig = assay_gateway::Settings;
#[cfg(not(feature = "node"))]
pub type GatewayConfig = toml::Value;

/// `[verify]`: the verification loop's settings (the same arrangement as `[gateway]`).
#[cfg(feature = "node")]
pub type VerifyConfig = assay_verify::Settings;
#[cfg(not(feature = "node"))]
pub type VerifyConfig = toml::Value;

fn default_epoch_blocks() -> u64 {
    125 // 25 minutes of 12-second blocks
}

fn default_version_key() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// Folder of Bittensor wallets; `~/.bittensor/wallets` (or `$BT_WALLET_PATH`) when absent.
    pub root: Option<PathBuf>,
    pub name: String,
    pub hotkey: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChainConfig {
    /// A file-backed chain in `dir` (see `assay chain init`).
    Local { dir: PathBuf },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum PublishConfig {
    /// A folder laid out as the bucket would be.
    Local { dir: PathBuf },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The scorer to use until `assay policy activate` names another.
    pub scorer: Option<String>,
    pub challenger: Option<String>,
    #[serde(default = "default_fuel")]
    pub fuel: u64,
    #[serde(default = "default_memory")]
    pub memory_bytes: u64,
    /// Parameters handed to the scorer, by name.
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            scorer: None,
            challenger: None,
            fuel: default_fuel(),
            memory_bytes: default_memory(),
            params: BTreeMap::new(),
        }
    }
}

fn default_fuel() -> u64 {
    Limits::default().fuel
}

fn default_memory() -> u64 {
    Limits::default().memory_bytes
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut config.data_dir);
        if let Some(root) = config.wallet.root.as_mut() {
            resolve(root);
        }
        match &mut config.chain {
            ChainConfig::Local { dir } => resolve(dir),
        }
        match &mut config.publish {
            PublishConfig::Local { dir } => resolve(dir),
        }
        #[cfg(feature = "node")]
        if let Some(verify) = config.verify.as_mut() {
            resolve(&mut verify.model);
        }
        if config.epoch_blocks == 0 {
            bail!("config {}: epoch_blocks must be at least 1", path.display());
        }
        if let Some(bad) = config.policy.params.iter().find(|(_, v)| !v.is_finite()) {
            bail!("config {}: parameter {} is not a finite number", path.display(), bad.0);
        }
        Ok(config)
    }

    pub fn limits(&self) -> Limits {
        Limits { fuel: self.policy.fuel, memory_bytes: self.policy.memory_bytes }
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.data_dir.join("ledger.db")
    }

    pub fn policy_dir(&self) -> PathBuf {
        self.data_dir.join("policies")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }

    pub fn hotkey_path(&self) -> PathBuf {
        let root = self.wallet.root.clone().unwrap_or_else(assay_keys::default_wallet_root);
        assay_keys::wallet_hotkey_path(&root, &self.wallet.name, &self.wallet.hotkey)
    }
}
