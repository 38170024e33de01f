//! `assay.toml`: what a validator node is configured with; the one definition of it. Devnet,
//! tests, benchmarks and scripts build a [`Config`] and serialize it (`assay config new` for
//! scripts), so no config is written by hand twice.
//!
//! Loading is strict: an unknown key, a wrong type, a negative or infinite duration or an
//! unknown device is refused with the key's dotted path, never silently defaulted. Relative
//! paths are relative to the file's own folder, so a config and its data travel together.

mod commented;
pub mod notes;
mod overrides;
mod wallet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assay_chain::Epochs;
use assay_policy_runtime::Limits;
use serde::{Deserialize, Serialize};

pub use overrides::{OverrideError, Overrides};

/// Why a config was refused: always names the file and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("parsing config {path}: {key}: {reason}")]
    Invalid { path: String, key: String, reason: String },
    #[error("parsing config {path}: {reason}")]
    Syntax { path: String, reason: String },
    #[error("writing config: {0}")]
    Write(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// A model folder whose `tokenizer.json` turns miners' signed tokens into the text users
    /// must receive; `verify.model` when absent (neither: relayed text is not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
    pub wallet: WalletConfig,
    pub chain: ChainConfig,
    pub publish: PublishConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub ledger: LedgerConfig,
    /// How the validator talks to miners: which axon addresses, how much an answer may take.
    #[serde(default)]
    pub miners: assay_miner_client::Settings,
    /// The OpenAI-compatible gateway the node serves users with; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<assay_gateway::Settings>,
    /// The verification loop (challenges against the reference engine); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<assay_verify::Settings>,
    /// The commit-reveal rounds the node drives, one per epoch (decision 0009); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<crate::rounds::RoundsConfig>,
    /// The server competition the node drives, once per epoch (cacheon's traffic); none when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competition: Option<crate::competition::CompetitionConfig>,
    /// The subnet's tasks (`[[tasks]]`: name, model, weight, optionally a route); none: the
    /// gateway's model, tasks `chat` and `completion` by route, weighted equally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<assay_gateway::Task>,
    /// The read-only web dashboard (docs/dashboard.md); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<DashboardConfig>,
    /// Prometheus metrics (`GET /metrics`, read-only, docs/metrics.md); none served when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
}

/// `[dashboard]`: where the web dashboard listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// `host:port` to serve it on, e.g. `127.0.0.1:8090`. It shows no secret and changes
    /// nothing, but what the validator scores: keep it on loopback or behind a proxy.
    pub listen: String,
}

/// `[metrics]`: where the node serves its Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address `GET /metrics` is served on, e.g. `127.0.0.1:9464` (port 0: any free port, as
    /// the status then says). Anyone who reaches it reads the validator's counters: keep it on
    /// loopback or a private network.
    pub listen: std::net::SocketAddr,
}

/// The longest duration a setting may name: a day (past what a clock holds, a longer one would
/// panic where it becomes an `Instant`).
const MAX_MS: u64 = 86_400_000;

fn default_epoch_blocks() -> u64 {
    125 // 25 minutes of 12-second blocks
}

fn default_version_key() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// Folder of Bittensor wallets; `~/.bittensor/wallets` (or `$BT_WALLET_PATH`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    pub name: String,
    pub hotkey: String,
    /// An environment variable holding the password of an encrypted (`$NACL`) hotkey; asked on
    /// the terminal when absent (and only if the hotkey is encrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChainConfig {
    /// A file-backed chain in `dir` (see `assay chain init`).
    Local {
        dir: PathBuf,
        /// How often the metagraph is reread, in milliseconds.
        #[serde(default = "default_metagraph_refresh")]
        metagraph_refresh_ms: u64,
    },
    /// A Bittensor chain (subtensor), through subxt (crate `assay-subtensor`).
    Subtensor {
        /// `finney`, `test`, `local` (ws://127.0.0.1:9944), or a node's `ws://`/`wss://` address.
        network: String,
        /// How often the metagraph is reread, in blocks (of 12 seconds).
        #[serde(default = "default_metagraph_refresh_blocks")]
        metagraph_refresh_blocks: u64,
        /// How long the first connection to the node may take.
        #[serde(default = "default_connect_timeout")]
        connect_timeout_ms: u64,
        /// How long a read (the head, the metagraph, a storage entry) may take.
        #[serde(default = "default_request_timeout")]
        request_timeout_ms: u64,
        /// How long a submitted extrinsic (weights, an axon, a commitment) may take to be in a block.
        #[serde(default = "default_inclusion_timeout")]
        inclusion_timeout_ms: u64,
    },
}

fn default_metagraph_refresh() -> u64 {
    2000
}

fn default_metagraph_refresh_blocks() -> u64 {
    10
}

fn default_connect_timeout() -> u64 {
    20_000
}

fn default_request_timeout() -> u64 {
    30_000
}

fn default_inclusion_timeout() -> u64 {
    120_000
}

/// Subtensor's block time, for settings counted in blocks.
pub const SUBTENSOR_BLOCK_MS: u64 = 12_000;

impl ChainConfig {
    /// A subtensor chain on `network` with the default refresh and timeouts.
    pub fn subtensor(network: &str) -> Self {
        ChainConfig::Subtensor {
            network: network.into(),
            metagraph_refresh_blocks: default_metagraph_refresh_blocks(),
            connect_timeout_ms: default_connect_timeout(),
            request_timeout_ms: default_request_timeout(),
            inclusion_timeout_ms: default_inclusion_timeout(),
        }
    }

    /// How often the node rereads the metagraph.
    pub fn metagraph_refresh(&self) -> std::time::Duration {
        let ms = match self {
            ChainConfig::Local { metagraph_refresh_ms, .. } => *metagraph_refresh_ms,
            ChainConfig::Subtensor { metagraph_refresh_blocks, .. } => {
                metagraph_refresh_blocks.saturating_mul(SUBTENSOR_BLOCK_MS)
            }
        };
        std::time::Duration::from_millis(ms)
    }

    /// How often the node rereads the head: a remote node is not polled faster than every 2 s.
    pub fn head_refresh(&self) -> std::time::Duration {
        let floor = match self {
            ChainConfig::Local { .. } => std::time::Duration::from_millis(200),
            ChainConfig::Subtensor { .. } => std::time::Duration::from_secs(2),
        };
        self.metagraph_refresh().min(floor)
    }

    /// What serde cannot say: ranges and the network's name.
    fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, reason: String| Err((format!("chain.{key}"), reason));
        match self {
            ChainConfig::Local { metagraph_refresh_ms, .. } => {
                if *metagraph_refresh_ms == 0 {
                    return bad("metagraph_refresh_ms", "must be at least 1".into());
                }
                if *metagraph_refresh_ms > MAX_MS {
                    return bad("metagraph_refresh_ms", format!("{metagraph_refresh_ms} must be at most {MAX_MS} ms"));
                }
            }
            ChainConfig::Subtensor {
                network,
                metagraph_refresh_blocks,
                connect_timeout_ms,
                request_timeout_ms,
                inclusion_timeout_ms,
            } => {
                if let Err(e) = network.parse::<assay_subtensor::Network>() {
                    return bad("network", e.to_string());
                }
                let max_blocks = MAX_MS / SUBTENSOR_BLOCK_MS;
                if !(1..=max_blocks).contains(metagraph_refresh_blocks) {
                    return bad(
                        "metagraph_refresh_blocks",
                        format!("{metagraph_refresh_blocks} must be from 1 to {max_blocks}"),
                    );
                }
                for (key, ms) in [
                    ("connect_timeout_ms", connect_timeout_ms),
                    ("request_timeout_ms", request_timeout_ms),
                    ("inclusion_timeout_ms", inclusion_timeout_ms),
                ] {
                    if !(1..=MAX_MS).contains(ms) {
                        return bad(key, format!("{ms} must be from 1 to {MAX_MS} ms"));
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum PublishConfig {
    /// A folder laid out as the bucket would be.
    Local { dir: PathBuf },
    /// An S3-compatible bucket (Cloudflare R2, AWS S3, s3s-fs): docs/publication.md.
    S3 {
        bucket: String,
        /// Prepended to every key; may be empty.
        #[serde(default)]
        prefix: String,
        /// R2: `https://<account>.r2.cloudflarestorage.com`; AWS's endpoint when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        /// The environment variables holding the access key and the secret (both or neither);
        /// without them, the usual AWS environment/profile chain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_env: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_key_env: Option<String>,
    },
}

fn default_region() -> String {
    "auto".into() // R2's
}

impl PublishConfig {
    fn check(&self) -> Result<(), (String, String)> {
        match self {
            Self::Local { .. } => Ok(()),
            Self::S3 { bucket, access_key_env, secret_key_env, .. } => {
                if bucket.is_empty() {
                    return Err(("bucket".into(), "must name a bucket".into()));
                }
                if access_key_env.is_some() != secret_key_env.is_some() {
                    let reason = "name both access_key_env and secret_key_env, or neither (the AWS chain)";
                    return Err(("access_key_env".into(), reason.into()));
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The scorer to use until `assay policy activate` names another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer: Option<String>,
    /// The challenger to use until `assay policy activate` names another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenger: Option<String>,
    #[serde(default = "default_fuel")]
    pub fuel: u64,
    #[serde(default = "default_memory")]
    pub memory_bytes: u64,
    /// The most state a scorer may hand on to its next epoch; written into every summary.
    #[serde(default = "default_state")]
    pub state_bytes: u64,
    /// Parameters handed to the policies, by name.
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
    /// Follow the subnet owner's announcements (`assay policy announce`): the owner's
    /// commitment is read every epoch and the policies it names are fetched, checked and swapped
    /// in. On by default: it does nothing while no owner is known (neither `owner_hotkey` nor
    /// the metagraph's).
    #[serde(default = "default_follow_owner")]
    pub follow_owner: bool,
    /// The subnet owner's hotkey (SS58), in place of the metagraph's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_hotkey: Option<String>,
    /// Where the owner publishes announced policies: a folder laid out as the bucket
    /// (`policies/<sha256>.wasm`). Without it an announced policy must already be in the policy
    /// store (`assay policy add`), else it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_publication: Option<PathBuf>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            scorer: None,
            challenger: None,
            fuel: default_fuel(),
            memory_bytes: default_memory(),
            state_bytes: default_state(),
            params: BTreeMap::new(),
            follow_owner: default_follow_owner(),
            owner_hotkey: None,
            owner_publication: None,
        }
    }
}

/// `[ledger]`: how long what users and miners sent is kept, and the disk kept free.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// Days the exchanges of a closed, published epoch are kept (the bodies sent, users'
    /// prompts among them, and the miners' evidence); request and challenge records, seeds,
    /// states and summaries are kept for good. 0 drops them as soon as they are published.
    #[serde(default = "default_keep_bodies_days")]
    pub keep_bodies_days: f64,
    /// Free disk bytes that traffic records never take, so that epochs still close, publish
    /// and prune on a disk that traffic has filled (users then get a 503).
    #[serde(default = "default_reserve_bytes")]
    pub reserve_bytes: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self { keep_bodies_days: default_keep_bodies_days(), reserve_bytes: default_reserve_bytes() }
    }
}

impl LedgerConfig {
    /// How long bodies are kept (`check` bounded the days).
    pub fn keep_bodies(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.keep_bodies_days * 86_400.0)
    }
}

fn default_keep_bodies_days() -> f64 {
    7.0
}

fn default_reserve_bytes() -> u64 {
    assay_ledger::DEFAULT_RESERVE_BYTES
}

fn default_follow_owner() -> bool {
    true
}

fn default_fuel() -> u64 {
    Limits::default().fuel
}

fn default_memory() -> u64 {
    Limits::default().memory_bytes
}

fn default_state() -> u64 {
    Limits::default().state_bytes
}

impl Config {
    /// A node on a local chain in `chain/`, publishing to `published/`, with the wallet
    /// `name`/`hotkey`: the starting point that tools and tests adjust.
    pub fn local(netuid: u16, wallet_root: Option<PathBuf>, name: &str, hotkey: &str) -> Self {
        Self {
            netuid,
            data_dir: "data".into(),
            epoch_blocks: default_epoch_blocks(),
            version_key: default_version_key(),
            tokenizer: None,
            wallet: WalletConfig { root: wallet_root, name: name.into(), hotkey: hotkey.into(), password_env: None },
            chain: ChainConfig::Local { dir: "chain".into(), metagraph_refresh_ms: default_metagraph_refresh() },
            publish: PublishConfig::Local { dir: "published".into() },
            policy: PolicyConfig::default(),
            ledger: LedgerConfig::default(),
            miners: assay_miner_client::Settings::default(),
            gateway: None,
            verify: None,
            rounds: None,
            competition: None,
            tasks: Vec::new(),
            dashboard: None,
            metrics: None,
        }
    }

    /// Reads, checks and resolves the config at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        let mut config = Self::parse_as(&text, &shown)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.resolve_paths(&base);
        Ok(config)
    }

    /// Parses and checks a config's text (paths left as written).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_as(text, "(text)")
    }

    /// [`Config::parse`], naming the text `name` in errors (the file it will be or came from).
    pub fn parse_as(text: &str, name: &str) -> Result<Self, ConfigError> {
        Self::parse_unnamed(text).map_err(|e| e.in_file(name))
    }

    fn parse_unnamed(text: &str) -> Result<Self, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let reason = e.into_inner().message().trim().to_string();
            if key == "." || key.is_empty() {
                ConfigError::Syntax { path: String::new(), reason }
            } else {
                ConfigError::Invalid { path: String::new(), key, reason }
            }
        })?;
        config.check()?;
        Ok(config)
    }

    /// The config as TOML, the way `load` reads it.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Write(e.to_string()))
    }

    /// Writes the config to `path` (whole or not at all).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = self.to_toml()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| ConfigError::Write(format!("{}: {e}", path.display())))
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.data_dir);
        if let Some(root) = self.wallet.root.as_mut() {
            resolve(root);
        }
        match &mut self.chain {
            ChainConfig::Local { dir, .. } => resolve(dir),
            ChainConfig::Subtensor { .. } => {}
        }
        match &mut self.publish {
            PublishConfig::Local { dir } => resolve(dir),
            PublishConfig::S3 { .. } => {}
        }
        if let Some(verify) = self.verify.as_mut() {
            resolve(&mut verify.model);
        }
        if let Some(tokenizer) = self.tokenizer.as_mut() {
            resolve(tokenizer);
        }
        if let Some(publication) = self.policy.owner_publication.as_mut() {
            resolve(publication);
        }
    }

    /// What serde cannot say: ranges, finiteness, durations.
    fn check(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, reason: String| Err(ConfigError::Invalid { path: String::new(), key: key.into(), reason });
        if self.epoch_blocks == 0 {
            return invalid("epoch_blocks", "must be at least 1".into());
        }
        // Summaries carry the limits, and auditors refuse any above the host maximum.
        if let Some((name, value, max)) = self.limits().exceeding(&Limits::HOST_MAX) {
            return invalid(&format!("policy.{name}"), format!("{value} is above the host maximum of {max}"));
        }
        if self.policy.fuel == 0 || self.policy.memory_bytes == 0 {
            return invalid("policy", "fuel and memory_bytes must be at least 1".into());
        }
        if let Some((name, value)) = self.policy.params.iter().find(|(_, v)| !v.is_finite()) {
            return invalid(&format!("policy.params.{name}"), format!("{value} is not a finite number"));
        }
        if let Some(owner) = &self.policy.owner_hotkey
            && let Err(e) = assay_keys::decode_ss58(owner)
        {
            return invalid("policy.owner_hotkey", format!("{owner:?} is not an SS58 address: {e}"));
        }
        let days = self.ledger.keep_bodies_days;
        if !(days.is_finite() && (0.0..=36_500.0).contains(&days)) {
            return invalid("ledger.keep_bodies_days", format!("{days} must be a number of days from 0 to 36500"));
        }
        self.chain.check().or_else(|(key, reason)| invalid(&key, reason))?;
        self.wallet.check().or_else(|(key, reason)| invalid(&format!("wallet.{key}"), reason))?;
        self.publish.check().or_else(|(key, reason)| invalid(&format!("publish.{key}"), reason))?;
        self.miners.check().or_else(|(key, reason)| invalid(&format!("miners.{key}"), reason))?;
        if let Some(g) = &self.gateway {
            g.check().or_else(|(key, reason)| invalid(&format!("gateway.{key}"), reason))?;
        }
        assay_gateway::check_tasks(&self.tasks).or_else(|(key, reason)| invalid(&key, reason))?;
        let models: std::collections::BTreeSet<&str> = self.tasks.iter().map(|t| t.model.as_str()).collect();
        if models.len() > 1 && self.verify.as_ref().is_some_and(|v| v.model_id.is_none()) {
            // One reference engine judges one model: another model's requests must not reach it.
            let reason =
                format!("[[tasks]] name {} models: name the one verify.model is the reference of", models.len());
            return invalid("verify.model_id", reason);
        }
        if let Some(v) = &self.verify {
            v.check().or_else(|(key, reason)| invalid(&format!("verify.{key}"), reason))?;
        }
        if let Some(r) = &self.rounds {
            r.check().or_else(|(key, reason)| invalid(&format!("rounds.{key}"), reason))?;
            if self.tokenizer_dir().is_none() {
                return invalid(
                    "rounds",
                    "rounds draw their prompt from the model's vocabulary: set verify.model or tokenizer".into(),
                );
            }
        }
        if let Some(c) = &self.competition {
            c.check().or_else(|(key, reason)| invalid(&format!("competition.{key}"), reason))?;
            self.check_competition(c).or_else(|(key, reason)| invalid(&key, reason))?;
        }
        if let Some(d) = &self.dashboard
            && d.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid("dashboard.listen", format!("{:?} is not a host:port address", d.listen));
        }
        Ok(())
    }

    /// What `[competition]` needs of the other sections: `Err((key, reason))`.
    fn check_competition(&self, c: &crate::competition::CompetitionConfig) -> Result<(), (String, String)> {
        let refuse = |key: &str, reason: &str| Err((key.to_string(), reason.to_string()));
        let Some(gateway) = &self.gateway else {
            return refuse("competition", "miners are asked through the gateway's signed path: configure [gateway]");
        };
        if gateway.synthetic_per_minute > 0.0 || gateway.synthetic_mode != assay_gateway::SyntheticMode::Rate {
            // The policy reads every synthetic row of a miner as a competition request.
            return refuse(
                "gateway.synthetic_per_minute",
                "must be 0 (and synthetic_mode \"rate\") with [competition]: its requests are the only synthetic ones",
            );
        }
        // Cacheon fails a miner none of whose rows was token-checked: every row must be.
        if !self.verify.as_ref().is_some_and(|v| v.token_check_share == 1.0) {
            return refuse(
                "verify.token_check_share",
                "the competition's greedy requests are its correctness test: set [verify] with token_check_share 1 \
                 (every request checked)",
            );
        }
        if u64::from(c.max_tokens) > gateway.max_tokens {
            let reason = format!("{} must be at most gateway.max_tokens ({})", c.max_tokens, gateway.max_tokens);
            return Err(("competition.max_tokens".into(), reason));
        }
        // The gateway counts a prompt as one token per byte; the chat template adds a little.
        if u64::from(c.prompt_chars) + u64::from(c.max_tokens) + 256 > gateway.context_tokens {
            let reason = format!(
                "{} with max_tokens {} (and 256 for the template) must fit gateway.context_tokens ({})",
                c.prompt_chars, c.max_tokens, gateway.context_tokens
            );
            return Err(("competition.prompt_chars".into(), reason));
        }
        let weights = self.task_weights();
        if let Some(unknown) = c.tasks.iter().find(|t| !weights.contains_key(*t)) {
            return Err(("competition.tasks".into(), format!("{unknown:?} is not a task of this subnet")));
        }
        Ok(())
    }

    /// The tasks the competition runs on: its `tasks`, else the first `[[tasks]]`, else `chat`.
    pub fn competition_tasks(&self) -> Vec<String> {
        match &self.competition {
            None => Vec::new(),
            Some(c) if !c.tasks.is_empty() => c.tasks.clone(),
            Some(_) => vec![self.tasks.first().map_or_else(|| "chat".to_string(), |t| t.name.clone())],
        }
    }

    /// The task weights an epoch is scored with (the seam the epoch input's tasks come from).
    pub fn task_weights(&self) -> BTreeMap<String, f64> {
        assay_gateway::task_weights(&self.tasks)
    }

    pub fn epochs(&self) -> Epochs {
        // `check` refused zero.
        Epochs::new(self.epoch_blocks).unwrap_or(Epochs::new(1).expect("one block is an epoch schedule"))
    }

    pub fn limits(&self) -> Limits {
        Limits { fuel: self.policy.fuel, memory_bytes: self.policy.memory_bytes, state_bytes: self.policy.state_bytes }
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

    /// The folder of the tokenizer that ties relayed text to signed tokens: `tokenizer`, else
    /// `verify.model`.
    pub fn tokenizer_dir(&self) -> Option<&Path> {
        self.tokenizer.as_deref().or(self.verify.as_ref().map(|v| v.model.as_path()))
    }

    pub fn hotkey_path(&self) -> PathBuf {
        self.wallet.wallet().hotkey_path()
    }
}

impl ConfigError {
    fn in_file(self, file: &str) -> Self {
        match self {
            ConfigError::Invalid { key, reason, .. } => ConfigError::Invalid { path: file.into(), key, reason },
            ConfigError::Syntax { reason, .. } => ConfigError::Syntax { path: file.into(), reason },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
