//! `[metrics]` end to end: a real node with its gateway on a local chain whose epochs end every
//! half second, scraped twice with reqwest around some users' requests: the families are there
//! and their values move (counters grow, a histogram's count grows, the head and the last
//! closed epoch advance), no API key's secret is ever shown; and every metric the Grafana
//! dashboard in docs/ queries is one the node exposes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_chain::LocalChain;
use assay_epoch::synth::{Shape, generate};
use assay_epoch::{LocalFolder, ObjectStore};
use assay_keys::{Hotkey, Scheme};
use assay_node::{Config, MetricsConfig, Node, RunOptions, StatusHandle};
use assay_policy_runtime::PolicyStore;
use tokio::sync::watch;

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins.sh first", path.display()))
}

/// The value of the sample named exactly `series` (with its labels), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The metric names a scrape declares (`# TYPE name kind`).
fn declared(text: &str) -> BTreeSet<String> {
    text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next().map(str::to_string)).collect()
}

/// A node on a chain of 0.1 s blocks and 5-block epochs, with a gateway (key `alice`) and
/// metrics on a free loopback port.
fn node_config(dir: &Path) -> (Config, LocalChain) {
    Hotkey::from_seed(Scheme::Sr25519, [7; 32]).expect("key").save(&dir.join("wallets/v/hotkeys/h")).expect("saves");
    let mut synth = generate(Shape { netuid: 1, miners: 4, requests: 0, challenges: 0, seed: 3 }, 0);
    // Miners at a loopback port nobody serves: the router knows them, their circuits show.
    for neuron in &mut synth.metagraph.neurons {
        neuron.axon = Some("http://127.0.0.1:9".into());
    }
    let chain = LocalChain::create(&dir.join("chain"), &synth.metagraph, 0.1).expect("chain");
    let mut config = Config::local(1, Some("wallets".into()), "v", "h");
    config.epoch_blocks = 5;
    config.miners.allow_private_axons = true;
    let policies = PolicyStore::open(dir.join("data/policies")).expect("store");
    config.policy.scorer = Some(policies.add(&plugin("constantinople")).expect("adds").to_string());
    let mut gateway = assay_gateway::Settings::new("127.0.0.1:0", "m");
    gateway.keys.push(assay_gateway::ApiKey {
        name: "alice".into(),
        key: "sk-secret-alice".into(),
        requests_per_minute: 6000,
        burst: None,
        publish_text: false,
    });
    config.gateway = Some(gateway);
    config.metrics = Some(MetricsConfig { listen: "127.0.0.1:0".parse().expect("addr") });
    let path = dir.join("assay.toml");
    config.save(&path).expect("saves");
    (Config::load(&path).expect("loads"), chain)
}

/// Waits for the node's status to name its metrics and gateway addresses.
async fn addresses(status: &StatusHandle) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the node did not start serving in time");
        let s = status.get();
        if let (Some(metrics), Some(gateway)) = (s.metrics, s.gateway) {
            return (metrics, gateway);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Scrapes, sends users' requests, waits for epochs to close, scrapes again.
async fn scrape_around_traffic(status: &StatusHandle) -> (String, String) {
    let (metrics, gateway) = addresses(status).await;
    let http = reqwest::Client::new();
    let scrape = || async {
        let response = http.get(&metrics).send().await.expect("scraped");
        assert_eq!(response.status(), 200);
        response.text().await.expect("text")
    };
    let first = scrape().await;
    for key in ["sk-secret-alice", "sk-secret-alice", "sk-wrong"] {
        let _ = http.get(format!("{gateway}/v1/models")).bearer_auth(key).send().await.expect("answers");
    }
    // At least two more epochs end (0.5 s each) and close.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = scrape().await;
    (first, second)
}

#[test]
fn a_running_node_serves_metrics_that_move_and_the_dashboard_uses_only_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, chain) = node_config(dir.path());
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFolder::new(dir.path().join("published")));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let (first, second) = runtime.block_on(async {
        let mut node = Node::open_with(config, Arc::new(chain), store).await.expect("opens");
        let (stop, stopped) = watch::channel(false);
        let status = node.status();
        let client = async {
            let scrapes = scrape_around_traffic(&status).await;
            let _ = stop.send(true);
            scrapes
        };
        let options = RunOptions { tick: Duration::from_millis(50), stop_after: None };
        let mut on_close = |_: &assay_node::Closed| {};
        let (ran, scrapes) = tokio::join!(node.run(options, stopped, &mut on_close), client);
        ran.expect("runs");
        scrapes
    });

    let alice_ok = r#"assay_gateway_requests_total{route="models",status="200",key="alice"}"#;
    let refused = r#"assay_gateway_requests_total{route="models",status="401",key=""}"#;
    assert_eq!(value(&first, alice_ok), None, "{first}");
    assert_eq!(value(&second, alice_ok), Some(2.0), "{second}");
    assert_eq!(value(&second, refused), Some(1.0), "{second}");
    assert!(!second.contains("sk-secret"), "a key's secret is never shown");
    let grew = |series: &str| {
        let (a, b) = (value(&first, series).unwrap_or(0.0), value(&second, series).expect(series));
        assert!(b > a, "{series}: {a} then {b}");
    };
    grew(r#"assay_epoch_close_seconds_count{stage="score"}"#);
    grew("assay_chain_head_block");
    grew("assay_epoch_last_closed");
    for stage in ["records", "score", "encode", "sign", "commit"] {
        let series = format!(r#"assay_epoch_last_close_seconds{{stage="{stage}"}}"#);
        assert!(value(&second, &series).is_some_and(|s| s >= 0.0), "{series}:\n{second}");
    }
    assert_eq!(value(&second, "assay_chain_connected"), Some(1.0));
    assert!(value(&second, "assay_ledger_bytes").is_some_and(|b| b > 0.0), "{second}");
    assert!(value(&second, "assay_policy_fuel_used").is_some_and(|f| f > 0.0), "{second}");
    for family in [
        "assay_gateway_in_flight",
        "assay_gateway_refused_total",
        "assay_gateway_retries_total",
        "assay_gateway_miner_circuit",
        "assay_epoch_last_published",
        "assay_weights_set_attempts_total",
        "assay_weights_set_failures_total",
        "assay_metagraph_age_seconds",
        "assay_outgoing_epochs",
    ] {
        assert!(declared(&second).contains(family), "{family} is not exposed:\n{second}");
    }
    let mut circuits = second.lines().filter(|l| l.starts_with("assay_gateway_miner_circuit{"));
    assert!(circuits.next().is_some(), "each miner's circuit is shown:\n{second}");

    dashboard_uses_only_exposed_metrics(&second);
    docs_name_what_the_node_exposes(&second);
}

/// The families the node exposes: what the scrape declares, with those the gateway and a
/// verifier fill only with miners' answers and challenges (this node has neither).
fn exposed(scrape: &str) -> BTreeSet<String> {
    let mut exposed = declared(scrape);
    let mut filled = assay_metrics::prometheus_client::registry::Registry::default();
    assay_verify::Verifier::describe_metrics(&mut filled);
    assay_gateway::Gateway::describe_metrics(&mut filled);
    exposed.extend(declared(&assay_metrics::encode(&filled)));
    exposed
}

/// docs/metrics.md's validator table names exactly the families the node exposes.
fn docs_name_what_the_node_exposes(scrape: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let text = std::fs::read_to_string(&path).expect("docs/metrics.md");
    let section = text.split("\n## ").find(|s| s.starts_with("Validator")).expect("a Validator section");
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .filter(|name| name.starts_with("assay_"))
        .map(str::to_string)
        .collect();
    assert!(documented.len() >= 30, "the validator's table: {documented:?}");
    let exposed: BTreeSet<String> = exposed(scrape).into_iter().filter(|n| n.starts_with("assay_")).collect();
    let undocumented: Vec<_> = exposed.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&exposed).collect();
    assert!(undocumented.is_empty(), "exposed but not in docs/metrics.md: {undocumented:?}");
    assert!(missing.is_empty(), "in docs/metrics.md but not exposed: {missing:?}");
}

/// Every `assay_…` name in the Grafana dashboard's queries is a family the node exposes (a
/// histogram's `_bucket`, `_sum` and `_count` are its family's); the families that fill only
/// with miners' answers and challenges are those the gateway and a verifier register, since
/// this node has no live miner and runs no verifier.
fn dashboard_uses_only_exposed_metrics(scrape: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "a Grafana 10/11 schema");
    let variables = dashboard["templating"]["list"].as_array().expect("variables");
    assert!(variables.iter().any(|v| v["type"] == "datasource" && v["query"] == "prometheus"));

    let exposed = exposed(scrape);
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a query");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("assay_") {
                    used.insert(word.to_string());
                }
            }
        }
    }
    assert!(used.len() >= 20, "the dashboard uses the families: {used:?}");
    for name in &used {
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        assert!(
            exposed.contains(name) || exposed.contains(family),
            "the dashboard queries {name}, which the node does not expose; exposed: {exposed:?}"
        );
    }
}

/// The last closed and last published epochs come back from the ledger when a node reopens,
/// instead of reading "none yet" (-1) until the next close.
#[test]
fn a_reopened_node_knows_its_last_closed_and_published_epochs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, chain) = node_config(dir.path());
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFolder::new(dir.path().join("published")));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    runtime.block_on(async {
        let mut node = Node::open_with(config.clone(), Arc::new(chain.clone()), store.clone()).await.expect("opens");
        let fresh = node.status().get();
        assert_eq!((fresh.last_closed_epoch, fresh.last_published), (None, None));
        let closed = node.close_epoch(0).await.expect("closes");
        assert_eq!(closed.sent.published, vec![0], "{:?}", closed.sent);
        drop(node);

        let node = Node::open_with(config, Arc::new(chain), store).await.expect("reopens");
        let reopened = node.status().get();
        assert_eq!(reopened.last_closed_epoch, Some(0));
        assert_eq!(reopened.last_published, Some(0));
    });
}
