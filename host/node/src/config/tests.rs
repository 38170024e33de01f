//! The config round-trips through its TOML, and every kind of bad value is refused with the
//! key's dotted path.

use super::*;

fn full() -> Config {
    let mut config = Config::local(7, Some("wallets".into()), "v", "h");
    config.epoch_blocks = 10;
    config.policy.scorer = Some("ab".repeat(32));
    config.policy.params.insert("rate.floor".into(), 0.25);
    let mut gateway = assay_gateway::Settings::new("127.0.0.1:9", "m");
    gateway.keys.push(assay_gateway::ApiKey {
        name: "a".into(),
        key: "sk-a".into(),
        requests_per_minute: 60,
        burst: Some(2),
        publish_text: true,
    });
    gateway.synthetic_per_minute = 3.5;
    config.gateway = Some(gateway);
    config.verify = Some(assay_verify::Settings::new("models/reference".into()));
    config.tokenizer = Some("models/tokenizer".into());
    config.miners.allow_private_axons = true;
    config.policy.owner_hotkey = Some("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into());
    config.policy.owner_publication = Some("owner".into());
    config.metrics = Some(MetricsConfig { listen: "127.0.0.1:9464".parse().expect("an address") });
    config
}

#[test]
fn a_serialized_config_reads_back_the_same() {
    let config = full();
    let text = config.to_toml().expect("serializes");
    assert_eq!(Config::parse(&text).expect("parses"), config, "{text}");
    let minimal = Config::local(1, None, "v", "h");
    assert_eq!(Config::parse(&minimal.to_toml().expect("serializes")).expect("parses"), minimal);
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("assay.toml");
    full().save(&path).expect("saves");
    let loaded = Config::load(&path).expect("loads");
    assert_eq!(loaded.data_dir, dir.path().join("data"));
    assert_eq!(loaded.tokenizer_dir(), Some(dir.path().join("models/tokenizer").as_path()));
    assert_eq!(loaded.verify.expect("verify").model, dir.path().join("models/reference"));
    assert_eq!(loaded.policy.owner_publication, Some(dir.path().join("owner")));
}

/// `(what to change in the TOML, the key the error must name, words it must contain)`.
fn check(edit: impl Fn(&mut toml::Table), key: &str, words: &str) {
    let mut table: toml::Table = toml::from_str(&full().to_toml().expect("serializes")).expect("toml");
    edit(&mut table);
    let text = toml::to_string(&table).expect("toml");
    let err = Config::parse(&text).expect_err("refused").to_string();
    assert!(err.contains(key), "the error names {key}: {err}");
    assert!(err.contains(words), "the error says {words:?}: {err}");
}

fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    let (last, parents) = path.split_last().expect("a path");
    let mut at = table;
    for p in parents {
        at = at.get_mut(*p).and_then(toml::Value::as_table_mut).expect("a table");
    }
    at.insert((*last).to_string(), value);
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    use toml::Value::{Float, Integer, String as Text};
    check(|t| set(t, &["epoch_blok"], Integer(3)), "epoch_blok", "unknown field");
    check(|t| set(t, &["gateway", "listn"], Text("x".into())), "gateway", "listn");
    check(|t| set(t, &["gateway", "miner_timeout_s"], Float(-1.0)), "gateway.miner_timeout_s", "positive");
    check(|t| set(t, &["gateway", "miner_timeout_s"], Float(f64::INFINITY)), "gateway.miner_timeout_s", "finite");
    check(|t| set(t, &["verify", "open_timeout_s"], Float(f64::NAN)), "verify.open_timeout_s", "finite");
    check(|t| set(t, &["verify", "device"], Text("cdua".into())), "verify.device", "cdua");
    check(|t| set(t, &["verify", "interval_ms"], Integer(-5)), "verify.interval_ms", "-5");
    check(|t| set(t, &["epoch_blocks"], Integer(0)), "epoch_blocks", "at least 1");
    check(|t| set(t, &["policy", "params", "rate.floor"], Float(f64::NAN)), "policy.params.rate.floor", "finite");
    check(|t| set(t, &["chain", "kind"], Text("subtensr".into())), "chain", "subtensr");
    check(|t| set(t, &["ledger", "keep_bodies_days"], Float(-1.0)), "ledger.keep_bodies_days", "from 0");
    check(|t| set(t, &["ledger", "keep_bodies_days"], Float(1e300)), "ledger.keep_bodies_days", "from 0");
    check(|t| set(t, &["verify", "open_timeout_s"], Float(1e300)), "verify.open_timeout_s", "at most");
    check(|t| set(t, &["verify", "max_pending"], Integer(0)), "verify.max_pending", "from 1");
    check(|t| set(t, &["gateway", "max_connections"], Integer(0)), "gateway.max_connections", "at least 1");
    check(|t| set(t, &["gateway", "stream_idle_timeout_ms"], Integer(-1)), "gateway.stream_idle_timeout_ms", "-1");
    check(|t| set(t, &["gateway", "queue_per_key"], Integer(5000)), "gateway.queue_per_key", "at most queue_max");
    check(|t| set(t, &["gateway", "recorder_queue_max"], Integer(0)), "gateway.recorder_queue_max", "at least 1");
    check(|t| set(t, &["miners", "max_response_bytes"], Integer(0)), "miners.max_response_bytes", "at least 1");
    check(|t| set(t, &["miners", "allow_privat_axons"], toml::Value::Boolean(true)), "miners", "allow_privat_axons");
    check(|t| set(t, &["policy", "owner_hotkey"], Text("5Owner".into())), "policy.owner_hotkey", "not an SS58 address");
    check(|t| set(t, &["policy", "follow_owner"], Text("yes".into())), "policy.follow_owner", "bool");
}

#[test]
fn a_config_written_before_the_gateways_limits_loads_with_their_defaults() {
    let mut table: toml::Table = toml::from_str(&full().to_toml().expect("serializes")).expect("toml");
    let gateway = table.get_mut("gateway").and_then(toml::Value::as_table_mut).expect("a gateway table");
    let limits = [
        "max_miner_capacity",
        "stream_idle_timeout_ms",
        "user_send_buffer_bytes",
        "max_connections",
        "header_read_timeout_ms",
        "body_read_timeout_ms",
        "queue_timeout_ms",
        "queue_max",
        "queue_per_key",
        "recorder_queue_max",
        "recorder_queue_bytes",
    ];
    for key in limits {
        assert!(gateway.remove(key).is_some(), "{key} is written");
    }
    let old = Config::parse(&toml::to_string(&table).expect("toml")).expect("an older config still loads");
    assert_eq!(old, full());
}

#[test]
fn policy_limits_stay_within_what_auditors_run() {
    use toml::Value::Integer;
    check(|t| set(t, &["policy", "fuel"], Integer(200_000_000_000)), "policy.fuel", "above the host maximum");
    check(|t| set(t, &["policy", "state_bytes"], Integer(1 << 40)), "policy.state_bytes", "above the host maximum");
    check(|t| set(t, &["policy", "fuel"], Integer(0)), "policy", "at least 1");
    assert_eq!(full().limits(), Limits::DEFAULT, "defaults");
}

#[test]
fn devices_are_read_strictly() {
    for (text, device) in [("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:1", "cuda:1"), ("auto", "auto")] {
        let mut config = full();
        let mut table: toml::Table = toml::from_str(&config.to_toml().expect("toml")).expect("toml");
        set(&mut table, &["verify", "device"], toml::Value::String(text.into()));
        config = Config::parse(&toml::to_string(&table).expect("toml")).expect("parses");
        assert_eq!(config.verify.expect("verify").device.to_string(), device);
    }
}

/// A duration no clock can hold (it would panic in `Duration::from_secs_f64` or in `Instant +`
/// when the node starts) is refused when the config is read, naming its key.
#[test]
fn durations_past_what_a_clock_holds_are_refused_naming_the_key() {
    use toml::Value::{Float, Integer};
    check(|t| set(t, &["gateway", "miner_timeout_s"], Float(1e30)), "gateway.miner_timeout_s", "at most");
    check(|t| set(t, &["verify", "open_timeout_s"], Float(1e300)), "verify.open_timeout_s", "at most");
    check(|t| set(t, &["chain", "metagraph_refresh_ms"], Integer(i64::MAX)), "chain.metagraph_refresh_ms", "at most");
    check(|t| set(t, &["gateway", "health_interval_ms"], Integer(i64::MAX)), "gateway.health_interval_ms", "at most");
    check(|t| set(t, &["verify", "interval_ms"], Integer(i64::MAX)), "verify.interval_ms", "at most");
    for key in ["stream_idle_timeout_ms", "header_read_timeout_ms", "body_read_timeout_ms", "queue_timeout_ms"] {
        check(|t| set(t, &["gateway", key], Integer(i64::MAX)), &format!("gateway.{key}"), "at most");
    }
    // A rate so low its mean gap overflows a duration.
    check(|t| set(t, &["gateway", "synthetic_per_minute"], Float(1e-300)), "gateway.synthetic_per_minute", "at least");
}

/// `[chain] kind = "subtensor"`: it round-trips, defaults what it leaves out, and refuses a
/// network it cannot name or a bound it cannot keep.
#[test]
fn a_subtensor_chain_is_configured_and_checked() {
    use toml::Value::{Integer, String as Text};
    let mut config = full();
    config.chain = ChainConfig::subtensor("finney");
    let text = config.to_toml().expect("serializes");
    assert_eq!(Config::parse(&text).expect("parses"), config, "{text}");
    // Only the kind and the network: the rest takes its defaults.
    let mut table: toml::Table = toml::from_str(&text).expect("toml");
    let chain = table.get_mut("chain").and_then(toml::Value::as_table_mut).expect("a chain table");
    chain.retain(|key, _| key == "kind" || key == "network");
    chain.insert("network".into(), Text("wss://node.example:443".into()));
    let read = Config::parse(&toml::to_string(&table).expect("toml")).expect("parses");
    assert_eq!(read.chain, ChainConfig::subtensor("wss://node.example:443"));
    assert_eq!(read.chain.metagraph_refresh(), std::time::Duration::from_secs(120), "10 blocks of 12 s");
    assert_eq!(read.chain.head_refresh(), std::time::Duration::from_secs(2));

    let refused = |key: &str, value: toml::Value, words: &str| {
        let mut table: toml::Table = toml::from_str(&text).expect("toml");
        set(&mut table, &["chain", key], value);
        let err = Config::parse(&toml::to_string(&table).expect("toml")).expect_err("refused").to_string();
        assert!(err.contains(&format!("chain.{key}")) && err.contains(words), "{key}: {err}");
    };
    refused("network", Text("mainnet".into()), "unknown network");
    refused("network", Text("http://127.0.0.1:9944".into()), "ws://");
    refused("metagraph_refresh_blocks", Integer(0), "from 1");
    refused("metagraph_refresh_blocks", Integer(1_000_000), "from 1");
    for key in ["connect_timeout_ms", "request_timeout_ms", "inclusion_timeout_ms"] {
        refused(key, Integer(0), "from 1");
        refused(key, Integer(i64::MAX), "from 1");
    }
}

/// A subtensor node that is not there fails the node's start within the connect timeout,
/// naming the chain; the hotkey it would sign with is loaded first.
#[test]
fn an_unreachable_subtensor_node_fails_the_start_in_time() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds").local_addr().expect("addr");
    let chain = ChainConfig::Subtensor {
        network: format!("ws://{closed}"),
        metagraph_refresh_blocks: 10,
        connect_timeout_ms: 300,
        request_timeout_ms: 300,
        inclusion_timeout_ms: 300,
    };
    let hotkey = assay_keys::Hotkey::from_seed(assay_keys::Scheme::Sr25519, [3; 32]).expect("key");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let started = std::time::Instant::now();
    let err = runtime.block_on(crate::open_chain(&chain, &hotkey)).err().expect("refused").to_string();
    assert!(err.contains("subtensor chain") && err.contains("cannot be reached"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[test]
fn an_s3_publication_is_configured_and_checked() {
    use toml::Value::String as Text;
    let mut config = full();
    config.publish = PublishConfig::S3 {
        bucket: "assay".into(),
        prefix: "validators/alice".into(),
        endpoint: Some("https://account.r2.cloudflarestorage.com".into()),
        region: "auto".into(),
        access_key_env: Some("R2_ACCESS_KEY_ID".into()),
        secret_key_env: Some("R2_SECRET_ACCESS_KEY".into()),
    };
    let text = config.to_toml().expect("serializes");
    assert_eq!(Config::parse(&text).expect("parses"), config, "{text}");
    // Only the kind and the bucket: R2's region, no prefix, the AWS credential chain.
    let mut table: toml::Table = toml::from_str(&text).expect("toml");
    let publish = table.get_mut("publish").and_then(toml::Value::as_table_mut).expect("a publish table");
    publish.retain(|key, _| key == "kind" || key == "bucket");
    let read = Config::parse(&toml::to_string(&table).expect("toml")).expect("parses");
    let expected = PublishConfig::S3 {
        bucket: "assay".into(),
        prefix: String::new(),
        endpoint: None,
        region: "auto".into(),
        access_key_env: None,
        secret_key_env: None,
    };
    assert_eq!(read.publish, expected);

    let refused = |edit: &dyn Fn(&mut toml::Table), key: &str, words: &str| {
        let mut table: toml::Table = toml::from_str(&text).expect("toml");
        edit(&mut table);
        let err = Config::parse(&toml::to_string(&table).expect("toml")).expect_err("refused").to_string();
        assert!(err.contains(key) && err.contains(words), "{key}: {err}");
    };
    let no_secret = |t: &mut toml::Table| {
        t.get_mut("publish").and_then(toml::Value::as_table_mut).expect("publish").remove("secret_key_env");
    };
    refused(&no_secret, "publish.access_key_env", "both");
    refused(&|t| set(t, &["publish", "bucket"], Text(String::new())), "publish.bucket", "must name a bucket");
    refused(&|t| set(t, &["publish", "bukket"], Text("x".into())), "publish", "bukket");
}

/// Credentials named in the config but absent from the environment stop the start, naming the
/// variable: the operator's to fix, before anything is published.
#[test]
fn an_s3_publication_without_its_credentials_does_not_open() {
    let publish = PublishConfig::S3 {
        bucket: "assay".into(),
        prefix: String::new(),
        endpoint: Some("http://127.0.0.1:9".into()),
        region: "auto".into(),
        access_key_env: Some("ASSAY_TEST_UNSET_ACCESS_KEY_51c2".into()),
        secret_key_env: Some("ASSAY_TEST_UNSET_SECRET_KEY_51c2".into()),
    };
    let err = crate::open_store(&publish).err().expect("refused").to_string();
    assert!(err.contains("s3://assay") && err.contains("ASSAY_TEST_UNSET_ACCESS_KEY_51c2"), "{err}");
    let mut with_keys_unset = publish.clone();
    if let PublishConfig::S3 { access_key_env, secret_key_env, .. } = &mut with_keys_unset {
        (*access_key_env, *secret_key_env) = (None, None);
    }
    let store = crate::open_store(&with_keys_unset).expect("the AWS chain opens without contacting anything");
    assert_eq!(store.describe(), "s3://assay at http://127.0.0.1:9");
}

#[test]
fn the_dashboard_is_off_unless_configured_and_its_address_is_checked() {
    assert_eq!(full().dashboard, None);
    let mut config = full();
    config.dashboard = Some(DashboardConfig { listen: "127.0.0.1:8090".into() });
    let text = config.to_toml().expect("serializes");
    assert!(text.contains("[dashboard]\nlisten = \"127.0.0.1:8090\""), "{text}");
    assert_eq!(Config::parse(&text).expect("parses"), config);
    let listen = |t: &mut toml::Table| {
        let mut dashboard = toml::Table::new();
        dashboard.insert("listen".into(), toml::Value::String("localhost".into()));
        t.insert("dashboard".into(), toml::Value::Table(dashboard));
    };
    check(listen, "dashboard.listen", "not a host:port address");
    check(|t| set(t, &["dashboard"], toml::Value::Table(toml::Table::new())), "dashboard", "listen");
}

/// `[[tasks]]`: they round-trip, give the epoch's task weights, and a bad list is refused
/// naming its key; none keeps today's two route tasks at one half each.
#[test]
fn tasks_are_configured_and_checked() {
    use assay_gateway::{Task, TaskRoute};
    assert_eq!(full().task_weights(), BTreeMap::from([("chat".into(), 0.5), ("completion".into(), 0.5)]));
    let task =
        |name: &str, model: &str, weight: f64, route| Task { name: name.into(), model: model.into(), weight, route };
    let mut config = full();
    config.tasks = vec![task("chat-7b", "m", 0.75, Some(TaskRoute::Chat)), task("small", "tiny", 0.25, None)];
    config.verify.as_mut().expect("verify").model_id = Some("m".into());
    let text = config.to_toml().expect("serializes");
    assert!(text.contains("[[tasks]]"), "{text}");
    assert_eq!(Config::parse(&text).expect("parses"), config, "{text}");
    assert_eq!(config.task_weights(), BTreeMap::from([("chat-7b".into(), 0.75), ("small".into(), 0.25)]));
    let refused = |tasks: Vec<Task>, key: &str, words: &str| {
        let mut bad = full();
        bad.tasks = tasks;
        let err = Config::parse(&bad.to_toml().expect("serializes")).expect_err("refused").to_string();
        assert!(err.contains(key) && err.contains(words), "{err}");
    };
    refused(vec![task("a", "m", 0.5, None), task("b", "n", 0.6, None)], "tasks.weight", "sum to");
    refused(vec![task("a", "m", 0.5, None), task("a", "n", 0.5, None)], "tasks.name", "twice");
    refused(vec![task("a", "m", -1.0, None), task("b", "n", 2.0, None)], "tasks.weight", "above 0");
    let many = (0..=assay_gateway::tasks::MAX_TASKS).map(|i| task(&format!("t{i}"), "m", 1.0 / 17.0, None)).collect();
    refused(many, "tasks.name", "at most");
    // Two models and one reference engine: the engine must say which model it judges.
    let two_models = vec![task("a", "m", 0.5, None), task("b", "n", 0.5, None)];
    refused(two_models.clone(), "verify.model_id", "2 models");
    let mut named = full();
    named.tasks = two_models;
    named.verify.as_mut().expect("verify").model_id = Some("m".into());
    assert_eq!(Config::parse(&named.to_toml().expect("serializes")).expect("parses"), named);
}
