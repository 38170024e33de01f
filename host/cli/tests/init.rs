//! `assay init` and `assay run --check`: a new validator's config says what is still missing in
//! plain words, passes once the wallet, the model and a scorer are there, is never replaced
//! without `--force`, and reads back as the defaults; the owner's and the miner's files are
//! accepted by their commands.

mod common;

use std::path::{Path, PathBuf};

use assay_node::{ChainConfig, Config};
use common::{assay, plugin, run};

/// Runs `assay args` in `dir`, expecting exit `code`; returns what it printed.
fn expect(dir: &Path, args: &[&str], code: i32) -> String {
    let (got, text) = run(assay().args(args).current_dir(dir));
    assert_eq!(got, code, "assay {args:?}:\n{text}");
    text
}

/// Every file and folder under `dir`, for telling that a command created nothing.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).expect("reads").flatten() {
            if entry.path().is_dir() {
                pending.push(entry.path());
            }
            found.push(entry.path());
        }
    }
    found.sort();
    found
}

/// A folder with a local chain in `node/chain` (one neuron), for configs that name it.
fn with_chain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let metagraph =
        r#"{"netuid": 1, "neurons": [{"uid": 0, "hotkey": "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM"}]}"#;
    std::fs::write(dir.path().join("metagraph.json"), metagraph).expect("writes");
    expect(dir.path(), &["chain", "init", "--dir", "node/chain", "--metagraph", "metagraph.json"], 0);
    dir
}

fn missing_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains(": MISSING: ")).collect()
}

#[test]
fn a_new_validator_is_told_what_is_missing_until_nothing_is() {
    let tmp = with_chain();
    let dir = tmp.path();
    let wallets = dir.join("wallets");
    let wallets = wallets.to_str().expect("a text path");
    let init = ["init", "validator", "--dir", "node", "--chain-dir", "chain", "--wallet.path", wallets];
    let text = expect(dir, &[&init[..], &["--wallet.name", "v", "--wallet.hotkey", "h"]].concat(), 0);
    assert!(text.contains("next: assay run --check --config"), "{text}");
    assert!(dir.join("node/data").is_dir() && dir.join("node/published").is_dir(), "the data folders: {text}");

    let before = listing(dir);
    let text = expect(dir, &["run", "--check", "--config", "node/assay.toml"], 1);
    assert_eq!(listing(dir), before, "--check created something");
    let missing = missing_lines(&text);
    assert_eq!(missing.len(), 3, "wallet, model and scorer, nothing else:\n{text}");
    for (what, words) in
        [("wallet", "there is no hotkey file at"), ("model", "the model folder"), ("scorer", "no scorer is named")]
    {
        let line = missing.iter().find(|l| l.starts_with(&format!("{what}: MISSING: "))).expect(what);
        assert!(line.contains(words) && line.contains("— do this: "), "{line}");
    }
    for ok in ["chain: ok", "publication: ok", "data: ok"] {
        assert!(text.contains(ok), "{ok}:\n{text}");
    }

    let created = expect(dir, &["wallet", "create", "--root", wallets, "--wallet", "v", "--hotkey", "h"], 0);
    let ss58 = created.lines().find(|l| l.starts_with('5')).expect("the new hotkey's address").trim().to_string();
    expect(dir, &["engine", "tiny", "--out", "node/model"], 0);
    let scorer = plugin("constantinople");
    let added = expect(dir, &["policy", "add", scorer.to_str().expect("path"), "--config", "node/assay.toml"], 0);
    let sha = added.split_whitespace().next().expect("a digest").to_string();
    expect(dir, &["policy", "activate", &sha, "--config", "node/assay.toml"], 0);
    let ledger = dir.join("node/data/ledger.db");
    let stamp = || (std::fs::read(&ledger).expect("reads"), std::fs::metadata(&ledger).expect("there").modified().ok());
    let (before, files) = (stamp(), listing(dir));
    let text = expect(dir, &["run", "--check", "--config", "node/assay.toml"], 1);
    assert!(stamp() == before && listing(dir) == files, "--check changed the ledger or its folder");
    let missing = missing_lines(&text);
    assert_eq!(missing.len(), 1, "only the registration:\n{text}");
    let expected = format!("registration: MISSING: hotkey {ss58} is not registered on subnet 1");
    assert!(missing[0].starts_with(&expected), "{text}");
    // Registered (the local chain's metagraph lists it), the check passes.
    let metagraph = format!(r#"{{"netuid": 1, "neurons": [{{"uid": 0, "hotkey": "{ss58}"}}]}}"#);
    std::fs::write(dir.join("node/chain/metagraph.json"), metagraph).expect("writes");
    let text = expect(dir, &["run", "--check", "--config", "node/assay.toml"], 0);
    assert!(missing_lines(&text).is_empty() && text.contains("checks passed"), "{text}");
    assert!(text.contains(&format!("scorer: ok ({sha}")), "{text}");
}

#[test]
fn init_never_replaces_a_file_unless_forced_and_the_file_reads_back_as_the_defaults() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    expect(dir, &["init", "validator", "--dir", "v", "--subtensor.network", "test"], 0);
    let path = dir.join("v/assay.toml");
    let written = std::fs::read_to_string(&path).expect("reads");
    std::fs::write(&path, "netuid = 9\n").expect("edits");
    let text = expect(dir, &["init", "validator", "--dir", "v"], 2);
    assert!(text.contains("exists") && text.contains("--force"), "{text}");
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), "netuid = 9\n", "replaced without --force");
    // --create-wallet beside a config that is there still creates the hotkey, and says so.
    let wallet = ["--wallet.path", "w", "--wallet.name", "v", "--create-wallet"];
    let text = expect(dir, &[&["init", "validator", "--dir", "v"][..], &wallet].concat(), 2);
    assert!(text.contains("created hotkey 5") && text.contains("exists") && text.contains("hotkey above"), "{text}");
    assert!(dir.join("w/v/hotkeys/default").is_file(), "{text}");
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), "netuid = 9\n", "replaced without --force");
    expect(dir, &["init", "validator", "--dir", "v", "--subtensor.network", "test", "--force"], 0);
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), written);

    let mut defaults = Config::local(1, None, "default", "default");
    defaults.chain = ChainConfig::subtensor("test");
    defaults.verify_with("model".into());
    assert_eq!(Config::parse(&written).expect("parses"), defaults, "{written}");
    for key in ["[gateway]", "[[gateway.keys]]", "bucket", "password_env", "owner_hotkey"] {
        let commented = written.lines().any(|l| l.starts_with("# ") && l.contains(key));
        assert!(commented, "the optional {key} is shown commented out:\n{written}");
    }
    std::fs::write(dir.join("bad.toml"), written.replace("workers = 1", "workers = \"one\"")).expect("writes");
    let text = expect(dir, &["run", "--check", "--config", "bad.toml"], 2);
    assert!(text.contains("verify.workers"), "a parse error names the key: {text}");
    let comments = written.lines().filter(|l| l.starts_with('#')).count();
    let keys = written.lines().filter(|l| !l.starts_with('#') && l.contains(" = ")).count();
    assert!(comments > keys, "every key has a comment above it ({comments} comments, {keys} keys)");
}

#[test]
fn the_owners_and_the_miners_files_are_accepted_by_their_commands() {
    let tmp = with_chain();
    let dir = tmp.path();
    let wallets = dir.join("wallets");
    let wallets = wallets.to_str().expect("a text path");
    let wallet = ["--wallet.path", wallets, "--wallet.name", "o", "--create-wallet"];
    let text = expect(dir, &[&["init", "owner", "--dir", "node", "--chain-dir", "chain"][..], &wallet].concat(), 0);
    assert!(text.contains("created hotkey 5"), "{text}");
    assert!(dir.join("wallets/o/hotkeys/default").is_file(), "{text}");
    let text = expect(dir, &["init", "owner", "--dir", "node", "--chain-dir", "chain", "--force"], 0);
    assert!(text.contains("next: assay policy add"), "{text}");
    expect(dir, &["policy", "list", "--config", "node/assay.toml"], 0);

    let miner = ["init", "miner", "--dir", "miner", "--chain-dir", "../node/chain"];
    let text =
        expect(dir, &[&miner[..], &["--wallet.path", wallets, "--wallet.name", "m", "--create-wallet"]].concat(), 0);
    assert!(text.contains("assay miner @"), "{text}");
    let args = std::fs::read_to_string(dir.join("miner/miner.args")).expect("reads");
    assert!(args.contains("--wallet.name=m") && args.contains("# --allow=SS58"), "{args}");
    // The flags parse and the miner goes on to load its model, which is not there yet.
    let text = expect(dir, &["miner", "@miner/miner.args"], 2);
    assert!(text.contains("loading") && text.contains("miner/model"), "{text}");
    // The file's chain is replaced by one given after it (no clash between the two chain flags).
    let closed = format!("ws://127.0.0.1:{}", assay_lab::publication::free_port().expect("port"));
    let text = expect(dir, &["miner", "@miner/miner.args", "--subtensor.network", &closed], 1);
    assert!(text.contains(&closed) && !text.contains("cannot be used with"), "the command line's chain: {text}");
    // A miner given no chain gets none in its file (the miner has none by default); a relative
    // --wallet.path is written absolute, as the model's and the chain's paths are.
    expect(dir, &["init", "miner", "--dir", "bare", "--wallet.path", "wallets"], 0);
    let args = std::fs::read_to_string(dir.join("bare/miner.args")).expect("reads");
    assert!(!args.lines().any(|l| l.starts_with("--subtensor.network") || l.starts_with("--chain-dir")), "{args}");
    let root = std::fs::canonicalize(dir).expect("canonical").join("wallets");
    let written = args.lines().find_map(|l| l.strip_prefix("--wallet.path=")).expect("a wallet.path line");
    assert_eq!(std::fs::canonicalize(written).ok(), std::fs::canonicalize(&root).ok(), "{args}");
    assert!(Path::new(written).is_absolute(), "{args}");
}

/// `config` with its publication in s3s-fs's bucket (keys in `AK`/`SK`), the gateway on
/// `listen` and a subtensor `chain` given 1 s to answer, written over `path`.
fn with_bucket_and_gateway(path: &Path, endpoint: &str, listen: &str, chain: &str) {
    let mut config = Config::parse(&std::fs::read_to_string(path).expect("reads")).expect("parses");
    config.publish = assay_node::PublishConfig::S3 {
        bucket: assay_lab::publication::BUCKET.into(),
        prefix: String::new(),
        endpoint: Some(endpoint.into()),
        region: "us-east-1".into(),
        access_key_env: Some("AK".into()),
        secret_key_env: Some("SK".into()),
    };
    config.gateway = Some(assay_gateway::Settings::new(listen, "m"));
    config.chain = ChainConfig::Subtensor {
        network: chain.into(),
        metagraph_refresh_blocks: 10,
        connect_timeout_ms: 1000,
        request_timeout_ms: 1000,
        inclusion_timeout_ms: 1000,
    };
    std::fs::write(path, config.to_commented_toml("test").expect("renders")).expect("writes");
}

#[test]
fn the_check_names_an_unreachable_chain_a_refused_bucket_and_a_taken_address() {
    let Some(binary) = common::s3s_fs() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("s3").join(assay_lab::publication::BUCKET)).expect("bucket folder");
    let port = assay_lab::publication::free_port().expect("port");
    let server = assay_lab::publication::S3sFs::start(&binary, &dir.join("s3"), port).expect("s3s-fs starts");
    let closed = format!("ws://127.0.0.1:{}", assay_lab::publication::free_port().expect("port"));
    expect(dir, &["init", "validator", "--dir", "node", "--subtensor.network", &closed], 0);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let listen = taken.local_addr().expect("address").to_string();
    with_bucket_and_gateway(&dir.join("node/assay.toml"), &server.endpoint(), &listen, &closed);

    let check = |secret: &str| {
        let started = std::time::Instant::now();
        let mut cmd = assay();
        cmd.args(["run", "--check", "--config", "node/assay.toml"]).current_dir(dir);
        cmd.env("AK", assay_lab::publication::ACCESS_KEY).env("SK", secret);
        let (code, text) = run(&mut cmd);
        assert_eq!(code, 1, "a failed check is exit 1: {text}");
        assert!(started.elapsed() < std::time::Duration::from_secs(8), "the chain's 1 s bounds its check: {text}");
        text
    };
    let text = check(assay_lab::publication::SECRET_KEY);
    assert!(text.contains("publication: ok (s3://"), "{text}");
    let line = |what: &str| text.lines().find(|l| l.starts_with(what)).unwrap_or_default().to_string();
    // Refused at once or retried until the check's bound, depending on how busy the machine is:
    // either way the line names the node and says it did not answer.
    let chain = line("chain: MISSING: subtensor");
    assert!(chain.contains(&closed) && chain.contains("answer"), "{text}");
    assert!(line("listen: MISSING: ").contains(&format!("gateway.listen: cannot listen on {listen}")), "{text}");
    let text = check("not-the-secret");
    assert!(text.contains("publication: MISSING: bucket assay:"), "{text}");
    drop(taken);
}

/// A bucket whose server accepts connections and never answers: the check gives it one try
/// within the check's timeout and then ends (the blocking thread left behind does not hold it).
#[test]
fn a_bucket_that_never_answers_is_told_within_the_checks_timeout() {
    let tmp = with_chain();
    let dir = tmp.path();
    expect(dir, &["init", "validator", "--dir", "node", "--chain-dir", "chain"], 0);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let endpoint = format!("http://{}", silent.local_addr().expect("address"));
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().flatten().collect();
        drop(held);
    });
    let path = dir.join("node/assay.toml");
    let mut config = Config::parse(&std::fs::read_to_string(&path).expect("reads")).expect("parses");
    config.publish = assay_node::PublishConfig::S3 {
        bucket: "silent".into(),
        prefix: String::new(),
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_env: Some("AK".into()),
        secret_key_env: Some("SK".into()),
    };
    std::fs::write(&path, config.to_commented_toml("test").expect("renders")).expect("writes");
    let started = std::time::Instant::now();
    let mut cmd = assay();
    cmd.args(["run", "--check", "--config", "node/assay.toml"]).current_dir(dir).env("AK", "a").env("SK", "s");
    let (code, text) = run(&mut cmd);
    let took = started.elapsed();
    assert_ne!(code, 0, "{text}");
    let timeout = assay_node::preflight::CHECK_TIMEOUT;
    assert!(took < timeout + std::time::Duration::from_secs(3), "took {took:?} (timeout {timeout:?}):\n{text}");
    assert!(text.lines().any(|l| l.starts_with("publication: MISSING: ")), "{text}");
}

/// `assay wallet create` and `assay init --create-wallet` write a hotkey through the same
/// no-replace path: over an existing one, create fails (exit 2) and init keeps it, intact.
#[test]
fn a_hotkey_that_is_there_is_never_replaced_without_force() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let create = ["wallet", "create", "--root", "wallets", "--wallet", "v", "--hotkey", "h"];
    expect(dir, &create, 0);
    let path = dir.join("wallets/v/hotkeys/h");
    let before = std::fs::read(&path).expect("reads");
    let text = expect(dir, &create, 2);
    assert!(text.contains("exists") && text.contains("--force"), "{text}");
    let wallet = ["--wallet.path", "wallets", "--wallet.name", "v", "--wallet.hotkey", "h", "--create-wallet"];
    let text = expect(dir, &[&["init", "validator", "--dir", "node"][..], &wallet].concat(), 0);
    assert!(text.contains("kept the hotkey that is there"), "{text}");
    assert_eq!(std::fs::read(&path).expect("reads"), before, "the hotkey is intact");
    let hotkeys: Vec<_> = std::fs::read_dir(path.parent().expect("folder")).expect("reads").flatten().collect();
    assert_eq!(hotkeys.len(), 1, "no temporary file left: {hotkeys:?}");
    expect(dir, &[&create[..], &["--force"]].concat(), 0);
    assert_ne!(std::fs::read(&path).expect("reads"), before, "--force replaces it");
}
