//! `assay run --check`: whether a loaded config can run, told one finding at a time in plain
//! words (what is missing and what to do), before any daemon starts.
//!
//! Owns: the checks (wallet, chain, publication, model, policies, data folder, listen addresses),
//! each bounded by [`CHECK_TIMEOUT`]. Must not touch: anything on disk or on chain. It creates no
//! file or folder (a ledger that is there is opened read-only, one that is not is not opened), signs nothing, binds a listen
//! address only for the instant of the check.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use assay_keys::Hotkey;
use assay_ledger::{Ledger, SqliteLedger};
use assay_policy_runtime::{Digest, PolicyStore};

use crate::config::{ChainConfig, Config, PublishConfig};
use crate::slots::{ACTIVE_CHALLENGER, ACTIVE_SCORER};

/// The longest any one check may take (a chain node or a bucket that does not answer).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One check's outcome: `Ok(what was found)` or what is missing and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked (`wallet`, `chain`, `model`…).
    pub what: &'static str,
    pub outcome: Result<String, Missing>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is wrong, in plain words.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    fn ok(what: &'static str, found: impl Into<String>) -> Self {
        Self { what, outcome: Ok(found.into()) }
    }

    fn missing(what: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { what, outcome: Err(Missing { problem: problem.into(), fix: fix.into() }) }
    }

    /// `wallet: ok …` or `wallet: MISSING: … — do this: …`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Ok(found) => format!("{}: ok ({found})", self.what),
            Err(Missing { problem, fix }) => format!("{}: MISSING: {problem} — do this: {fix}", self.what),
        }
    }
}

/// Every check of `config` (paths resolved, as [`Config::load`] leaves them); `config_path` is
/// named in the fixes.
pub async fn check(config: &Config, config_path: &Path) -> Vec<Finding> {
    let shown = config_path.display();
    let (wallet, hotkey) = wallet(config, &shown.to_string());
    let mut findings = vec![wallet, data_dir(config)];
    // The two network checks run side by side, so the whole check takes one timeout at most.
    let publish = config.publish.clone();
    let (chain, publication) = tokio::join!(
        chain(&config.chain, config.netuid, hotkey.as_deref()),
        blocking("publication", move || publication(&publish, CHECK_TIMEOUT))
    );
    findings.extend(chain);
    findings.push(publication);
    if let Some(verify) = &config.verify {
        findings.push(model("model", &verify.model, "verify.model"));
    }
    if let Some(tokenizer) = &config.tokenizer {
        findings.push(model("tokenizer", tokenizer, "tokenizer"));
    }
    findings.extend(policies(config, &shown.to_string()));
    findings.extend(bindable_all(&listen_addresses(config)));
    findings
}

/// Runs a blocking check on its own thread, giving up after [`CHECK_TIMEOUT`].
async fn blocking(what: &'static str, check: impl FnOnce() -> Finding + Send + 'static) -> Finding {
    match tokio::time::timeout(CHECK_TIMEOUT, tokio::task::spawn_blocking(check)).await {
        Ok(Ok(finding)) => finding,
        Ok(Err(e)) => Finding::missing(what, format!("the check stopped: {e}"), "run the check again"),
        Err(_) => Finding::missing(
            what,
            format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            "check the address and the network",
        ),
    }
}

/// The wallet's finding, and the hotkey's SS58 where it could be read (a plaintext file).
fn wallet(config: &Config, config_path: &str) -> (Finding, Option<String>) {
    let path = config.hotkey_path();
    let create = format!(
        "create it with `assay wallet create --wallet.name {} --wallet.hotkey {}{}`, or name your own in [wallet] of {config_path}",
        config.wallet.name,
        config.wallet.hotkey,
        config.wallet.root.as_ref().map(|r| format!(" --wallet.path {}", r.display())).unwrap_or_default(),
    );
    if !path.exists() {
        return (Finding::missing("wallet", format!("there is no hotkey file at {}", path.display()), create), None);
    }
    match Hotkey::load(&path) {
        Ok(key) => (Finding::ok("wallet", format!("hotkey {} in {}", key.ss58(), path.display())), Some(key.ss58())),
        // Not decrypted (seconds of Argon2): only whether its password will be there.
        Err(assay_keys::Error::Encrypted(_)) => (encrypted(&path, config.wallet.password_env.as_deref()), None),
        Err(e) => (Finding::missing("wallet", format!("the hotkey file cannot be used: {e}"), create), None),
    }
}

fn encrypted(path: &Path, password_env: Option<&str>) -> Finding {
    let shown = path.display();
    match password_env {
        None => Finding::ok("wallet", format!("encrypted hotkey in {shown}; its password is asked at start")),
        Some(var) if std::env::var_os(var).is_some() => {
            Finding::ok("wallet", format!("encrypted hotkey in {shown}; its password is from ${var}"))
        }
        Some(var) => Finding::missing(
            "wallet",
            format!("the hotkey in {shown} is encrypted and ${var} (wallet.password_env) is not set"),
            format!("set {var} to its password in the node's environment, or remove password_env to be asked at start"),
        ),
    }
}

fn data_dir(config: &Config) -> Finding {
    let dir = &config.data_dir;
    if dir.is_dir() {
        Finding::ok("data", dir.display().to_string())
    } else {
        Finding::missing(
            "data",
            format!("the data folder {} does not exist", dir.display()),
            format!("create it (`mkdir -p {}`) or run `assay init validator`", dir.display()),
        )
    }
}

/// The chain's finding and, where it answers, whether subnet `netuid` is there with `hotkey`
/// registered on it (the validator's; `None` when it could not be read).
async fn chain(config: &ChainConfig, netuid: u16, hotkey: Option<&str>) -> Vec<Finding> {
    match config {
        ChainConfig::Local { dir, .. } => match assay_chain::LocalChain::open(dir) {
            Ok(local) => vec![
                Finding::ok("chain", format!("local chain in {}", dir.display())),
                registration(&local, netuid, hotkey, CHECK_TIMEOUT).await,
            ],
            Err(e) => vec![Finding::missing(
                "chain",
                format!("no local chain in {}: {e}", dir.display()),
                format!("create one with `assay chain init --dir {}`, or use kind = \"subtensor\"", dir.display()),
            )],
        },
        ChainConfig::Subtensor { network, connect_timeout_ms, .. } => {
            // The connection and the metagraph together within the one check's timeout.
            let started = std::time::Instant::now();
            let timeout = CHECK_TIMEOUT.min(Duration::from_millis(*connect_timeout_ms));
            match subtensor(network, timeout).await {
                Ok((found, client)) => {
                    let left = CHECK_TIMEOUT.saturating_sub(started.elapsed());
                    vec![found, registration(&client, netuid, hotkey, left).await]
                }
                Err(missing) => vec![missing],
            }
        }
    }
}

/// Subnet `netuid` on `chain` and `hotkey` among its neurons, read within `timeout`.
async fn registration(chain: &dyn assay_chain::Chain, netuid: u16, hotkey: Option<&str>, timeout: Duration) -> Finding {
    let what = "registration";
    let metagraph = match tokio::time::timeout(timeout, chain.metagraph(netuid)).await {
        Ok(Ok(metagraph)) => metagraph,
        Ok(Err(e)) => {
            return Finding::missing(
                what,
                format!("subnet {netuid} cannot be read from the {}: {}", chain.describe(), shortened(&e.to_string())),
                "check netuid (the subnet must exist on this chain)",
            );
        }
        Err(_) => {
            return Finding::missing(
                what,
                format!("subnet {netuid}'s metagraph did not come within {} s", timeout.as_secs()),
                "check the chain node and run the check again",
            );
        }
    };
    let neurons = metagraph.neurons.len();
    match hotkey {
        None => Finding::ok(
            what,
            format!("subnet {netuid} has {neurons} neurons (the hotkey was not read, so not looked up)"),
        ),
        Some(hotkey) => match metagraph.neurons.iter().find(|n| n.hotkey == hotkey) {
            Some(neuron) => Finding::ok(what, format!("hotkey {hotkey} is uid {} on subnet {netuid}", neuron.uid)),
            None => Finding::missing(
                what,
                format!("hotkey {hotkey} is not registered on subnet {netuid} ({neurons} neurons)"),
                format!(
                    "register it on subnet {netuid} (`btcli subnet register --netuid {netuid}`), or check netuid and [wallet]"
                ),
            ),
        },
    }
}

/// A subtensor node that answers a connection within `timeout`, and its client.
async fn subtensor(network: &str, timeout: Duration) -> Result<(Finding, assay_subtensor::SubtensorChain), Finding> {
    let fix = "check [chain] network and that the node is up and reachable from here";
    let network: assay_subtensor::Network = match network.parse() {
        Ok(n) => n,
        Err(e) => return Err(Finding::missing("chain", format!("{network:?} is not a network: {e}"), fix)),
    };
    let timeouts = assay_subtensor::Timeouts { connect: timeout, request: timeout, inclusion: timeout };
    let connect = assay_subtensor::SubtensorChain::connect(&network, None, timeouts);
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(client)) => Ok((Finding::ok("chain", format!("subtensor {network} answers")), client)),
        Ok(Err(e)) => Err(Finding::missing("chain", format!("subtensor {network} does not answer: {e}"), fix)),
        Err(_) => Err(Finding::missing(
            "chain",
            format!("subtensor {network} did not answer within {} ms", timeout.as_millis()),
            fix,
        )),
    }
}

fn publication(config: &PublishConfig, timeout: Duration) -> Finding {
    match config {
        // Writable as this user may write (access(2), W_OK: owner, group and mode, not just
        // the mode's owner bits); nothing is created to find out.
        PublishConfig::Local { dir } => match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() && rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok() => {
                Finding::ok("publication", dir.display().to_string())
            }
            Ok(_) => Finding::missing(
                "publication",
                format!("{} is not a writable folder", dir.display()),
                "point [publish] dir at a folder this user can write",
            ),
            Err(_) => Finding::missing(
                "publication",
                format!("the publication folder {} does not exist", dir.display()),
                format!("create it (`mkdir -p {}`)", dir.display()),
            ),
        },
        PublishConfig::S3 { bucket, .. } => {
            let fix = "check [publish] bucket, endpoint and region, and the credentials' variables";
            // One try, bounded like every check: the node's own bounds (8 tries, 300 s per try)
            // would keep an operator waiting for minutes on a bucket that accepts and never answers.
            let store = match crate::open_store_with(config, |s| {
                s.attempts = 1;
                s.connect_timeout = timeout;
                s.operation_timeout = timeout;
            }) {
                Ok(store) => store,
                Err(e) => return Finding::missing("publication", e.to_string(), fix),
            };
            // Any answer but a refusal or an error is a reachable bucket: nothing need be there yet.
            match store.get_at_most("epochs/check/latest.json", 1 << 20) {
                Ok(_) => Finding::ok("publication", format!("{} answers", store.describe())),
                Err(e) => {
                    Finding::missing("publication", format!("bucket {bucket}: {}", shortened(&e.to_string())), fix)
                }
            }
        }
    }
}

/// At most 300 characters of an error (an SDK's debug dump says nothing more an operator needs).
fn shortened(reason: &str) -> String {
    match reason.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason.to_string(),
    }
}

/// A model folder: `config.json`, at least one `.safetensors`, `tokenizer.json`.
fn model(what: &'static str, dir: &Path, key: &str) -> Finding {
    let fix = format!(
        "download the model into {} (e.g. `huggingface-cli download MODEL --local-dir {}`) or point {key} at its folder",
        dir.display(),
        dir.display()
    );
    if !dir.is_dir() {
        return Finding::missing(what, format!("the model folder {} does not exist", dir.display()), fix);
    }
    let has_weights = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "safetensors")))
        .unwrap_or(false);
    let lacking: Vec<&str> = [
        ("config.json", dir.join("config.json").is_file()),
        ("*.safetensors", has_weights),
        ("tokenizer.json", dir.join("tokenizer.json").is_file()),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| name)
    .collect();
    if lacking.is_empty() {
        Finding::ok(what, dir.display().to_string())
    } else {
        Finding::missing(what, format!("the model folder {} lacks {}", dir.display(), lacking.join(", ")), fix)
    }
}

/// The scorer (and the challenger, when there is one) that will run: the ledger's active one
/// where a ledger exists, else the config's; each must be in the policy store.
fn policies(config: &Config, config_path: &str) -> Vec<Finding> {
    // Read-only: the check neither creates, nor migrates, nor changes the journal of a ledger.
    let path = config.ledger_path();
    let unreadable = |e: assay_ledger::Error| {
        Finding::missing(
            "ledger",
            format!("the ledger {} cannot be read: {e}", path.display()),
            "run the assay version that wrote it, or move the file aside (a new one starts empty)",
        )
    };
    let mut older = None;
    let ledger = match path.is_file().then(|| SqliteLedger::open_read_only(&path)).transpose() {
        Ok(ledger) => ledger,
        // The node migrates an older ledger when it starts; read-only, it cannot be read here.
        Err(assay_ledger::Error::OlderSchema { found, current }) => {
            older = Some(Finding::ok(
                "ledger",
                format!(
                    "schema v{found}, migrated to v{current} when the node starts; its active policies are not checked"
                ),
            ));
            None
        }
        Err(e) => return vec![unreadable(e)],
    };
    let setting = |key: &str| ledger.as_ref().map(|l| l.setting(key)).transpose().map(Option::flatten);
    let (scorer, challenger) = match (setting(ACTIVE_SCORER), setting(ACTIVE_CHALLENGER)) {
        (Ok(scorer), Ok(challenger)) => (scorer, challenger),
        (Err(e), _) | (_, Err(e)) => return vec![unreadable(e)],
    };
    // Opening a store creates its folder: only one that is there is opened.
    let store = config.policy_dir().is_dir().then(|| PolicyStore::open(config.policy_dir()).ok()).flatten();
    let add = format!(
        "`assay policy add FILE.wasm --config {config_path}`, then set policy.scorer to the sha256 it prints \
         (or `assay policy activate SHA256 --config {config_path}`)"
    );
    let mut findings = vec![match scorer.or(config.policy.scorer.clone()) {
        // An owner's config (`assay init owner`) names neither: it runs no node.
        None if config.verify.is_none() => {
            Finding::ok("scorer", "none named, and no [verify]: an owner's config, which runs no node")
        }
        None => Finding::missing("scorer", "no scorer is named", add.clone()),
        Some(sha) => stored("scorer", &sha, store.as_ref(), &add),
    }];
    if let Some(sha) = challenger.or(config.policy.challenger.clone()) {
        findings.push(stored("challenger", &sha, store.as_ref(), &add));
    }
    findings.extend(older);
    findings
}

fn stored(what: &'static str, sha: &str, store: Option<&PolicyStore>, add: &str) -> Finding {
    let digest: Digest = match sha.parse() {
        Ok(d) => d,
        Err(e) => return Finding::missing(what, format!("{sha:?} is not a sha256: {e}"), add),
    };
    match store {
        Some(store) if store.contains(&digest) => Finding::ok(what, format!("{sha} in the policy store")),
        _ => Finding::missing(what, format!("{sha} is not in the policy store"), add),
    }
}

/// The addresses the node will listen on, by their key: every `listen` key of the serialized
/// config (`gateway.listen`, and any section added later that names one the same way).
fn listen_addresses(config: &Config) -> Vec<(String, String)> {
    let table = config.to_toml().ok().and_then(|text| text.parse::<toml::Table>().ok()).unwrap_or_default();
    let mut addresses = Vec::new();
    collect_listen("", &table, &mut addresses);
    addresses
}

fn collect_listen(path: &str, table: &toml::Table, into: &mut Vec<(String, String)>) {
    for (key, value) in table {
        let full = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match value {
            toml::Value::String(address) if key == "listen" => into.push((full, address.clone())),
            toml::Value::Table(inner) => collect_listen(&full, inner, into),
            _ => {}
        }
    }
}

/// One finding per listen key: each address must bind, with every earlier one still held, so
/// two keys naming the same address (say `metrics.listen = dashboard.listen`) are caught too.
fn bindable_all(addresses: &[(String, String)]) -> Vec<Finding> {
    let mut held = Vec::new();
    let mut findings = Vec::new();
    for (key, address) in addresses {
        let earlier = addresses.iter().take_while(|(k, _)| k != key).find(|(_, a)| a == address);
        let finding = match (earlier, TcpListener::bind(address.as_str())) {
            (Some((other, _)), _) => Finding::missing(
                "listen",
                format!("{key} and {other} both name {address}"),
                format!("give {key} an address of its own"),
            ),
            (None, Ok(listener)) => {
                held.push(listener);
                Finding::ok("listen", format!("{key} {address} is free"))
            }
            (None, Err(e)) => Finding::missing(
                "listen",
                format!("{key}: cannot listen on {address}: {e}"),
                format!("free that address or change {key}"),
            ),
        };
        findings.push(finding);
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_folder_is_told_exactly_what_it_lacks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lacks = |finding: Finding| finding.outcome.expect_err("missing").problem;
        assert!(lacks(model("model", &dir.path().join("none"), "verify.model")).contains("does not exist"));
        std::fs::write(dir.path().join("config.json"), "{}").expect("writes");
        let problem = lacks(model("model", dir.path(), "verify.model"));
        assert!(problem.ends_with("lacks *.safetensors, tokenizer.json"), "{problem}");
        std::fs::write(dir.path().join("model.safetensors"), "").expect("writes");
        std::fs::write(dir.path().join("tokenizer.json"), "{}").expect("writes");
        let found = model("model", dir.path(), "verify.model");
        assert_eq!(found.line(), format!("model: ok ({})", dir.path().display()));
    }

    #[test]
    fn every_listen_key_is_checked() {
        let mut config = Config::local(1, None, "v", "h");
        assert!(listen_addresses(&config).is_empty());
        config.gateway = Some(assay_gateway::Settings::new("127.0.0.1:8000", "m"));
        assert_eq!(listen_addresses(&config), [("gateway.listen".to_string(), "127.0.0.1:8000".to_string())]);
        config.dashboard = Some(crate::DashboardConfig { listen: "127.0.0.1:8090".into() });
        config.metrics = Some(crate::MetricsConfig { listen: ([127, 0, 0, 1], 9464).into() });
        let mut keys: Vec<String> = listen_addresses(&config).into_iter().map(|(key, _)| key).collect();
        keys.sort();
        assert_eq!(keys, ["dashboard.listen", "gateway.listen", "metrics.listen"]);
    }

    #[test]
    fn two_keys_naming_one_address_are_a_clash() {
        let free = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").to_string();
        let addresses = [("dashboard.listen".to_string(), free.clone()), ("metrics.listen".to_string(), free.clone())];
        let findings = bindable_all(&addresses);
        assert!(findings[0].outcome.is_ok(), "{}", findings[0].line());
        let clash = findings[1].line();
        assert!(clash.contains("metrics.listen and dashboard.listen both name"), "{clash}");
    }

    #[test]
    fn a_missing_line_says_what_to_do() {
        let line = Finding::missing("wallet", "no hotkey", "create one").line();
        assert_eq!(line, "wallet: MISSING: no hotkey — do this: create one");
        assert!(shortened(&"x".repeat(1000)).chars().count() == 301);
    }

    /// Every file under `dir` with a hash of its bytes and its modification time.
    fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
        use std::hash::{Hash, Hasher};
        let hash = |bytes: Vec<u8>| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            h.finish()
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("reads")
            .flatten()
            .map(|e| {
                let meta = e.metadata().expect("metadata");
                (e.path(), hash(std::fs::read(e.path()).expect("reads")), meta.modified().expect("mtime"))
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_ledger_is_read_without_a_change_and_an_unreadable_one_is_a_failed_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::local(1, None, "v", "h");
        config.data_dir = dir.path().to_path_buf();
        let sha = "ab".repeat(32);
        {
            let ledger = SqliteLedger::open(&config.ledger_path()).expect("opens");
            ledger.set_setting(ACTIVE_SCORER, &sha).expect("sets");
        }
        let before = snapshot(dir.path());
        std::thread::sleep(Duration::from_millis(20));
        let findings = policies(&config, "assay.toml");
        assert_eq!(snapshot(dir.path()), before, "the check changed the data folder");
        let problem = findings[0].outcome.clone().expect_err("not in the store").problem;
        assert_eq!(problem, format!("{sha} is not in the policy store"), "the ledger's scorer is read");

        std::fs::write(config.ledger_path(), b"not a database, not at all, of any kind".repeat(200)).expect("writes");
        let findings = policies(&config, "assay.toml");
        assert_eq!(findings.len(), 1, "{findings:?}");
        let line = findings[0].line();
        assert!(line.starts_with("ledger: MISSING: the ledger ") && line.contains("cannot be read"), "{line}");
    }

    #[test]
    fn an_encrypted_hotkey_whose_password_variable_is_unset_is_missing() {
        let path = Path::new("/w/hotkeys/h");
        let unset = "ASSAY_PREFLIGHT_TEST_SURELY_UNSET";
        let line = encrypted(path, Some(unset)).line();
        assert!(line.starts_with("wallet: MISSING: ") && line.contains(&format!("${unset}")), "{line}");
        assert!(encrypted(path, None).outcome.is_ok());
        assert!(encrypted(path, Some("PATH")).outcome.is_ok(), "a variable that is set");
    }

    #[test]
    fn the_validators_hotkey_is_looked_up_on_its_subnet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registered = "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM";
        let metagraph: assay_chain::Metagraph =
            serde_json::from_str(&format!(r#"{{"netuid": 1, "neurons": [{{"uid": 3, "hotkey": "{registered}"}}]}}"#))
                .expect("a metagraph");
        let chain = assay_chain::LocalChain::create(dir.path(), &metagraph, 12.0).expect("a local chain");
        let look = |netuid, hotkey| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(registration(&chain, netuid, hotkey, CHECK_TIMEOUT))
        };
        assert_eq!(
            look(1, Some(registered)).line(),
            format!("registration: ok (hotkey {registered} is uid 3 on subnet 1)")
        );
        let other = look(1, Some("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"));
        assert!(other.line().contains("is not registered on subnet 1"), "{}", other.line());
        assert!(look(1, None).outcome.is_ok());
        assert!(look(9, Some(registered)).outcome.is_err(), "a subnet the chain does not have");
    }

    #[test]
    fn an_owners_config_is_not_asked_for_a_scorer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::local(1, None, "o", "default");
        config.data_dir = dir.path().to_path_buf();
        assert!(policies(&config, "assay.toml")[0].outcome.is_ok());
        config.verify_with("model".into());
        assert!(policies(&config, "assay.toml")[0].line().contains("no scorer is named"));
    }

    #[test]
    fn a_publication_folder_this_user_cannot_write_is_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = |path: &Path| publication(&PublishConfig::Local { dir: path.to_path_buf() }, CHECK_TIMEOUT);
        assert!(local(dir.path()).outcome.is_ok());
        assert!(local(&dir.path().join("none")).line().contains("does not exist"));
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).expect("chmod");
        let finding = local(dir.path());
        // Root writes a 0555 folder all the same, and access(2) says so.
        let probe = dir.path().join("probe");
        let writable_anyway = std::fs::File::create(&probe).is_ok();
        let _ = std::fs::remove_file(&probe);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        if writable_anyway {
            assert!(finding.outcome.is_ok(), "root writes a 0555 folder: {}", finding.line());
        } else {
            assert!(finding.line().contains("is not a writable folder"), "{}", finding.line());
        }
    }
}
