//! The public dataset end to end: requests recorded with their content (a key that opted in, one
//! that did not, the validator's own), the epoch closed and published, then the running node's
//! gateway serves it: the download is the file the summary signed, with text only where it may
//! be published.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_chain::LocalChain;
use assay_epoch::synth::{Shape, generate};
use assay_epoch::{LocalFolder, ObjectStore, audit, sha256_hex};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{RequestContent, RequestEntry, RequestKind, RequestRow};
use assay_node::{Config, Node, RunOptions};
use assay_policy_runtime::{PolicyStore, Runtime};
use serde_json::{Value, json};
use tokio::sync::watch;

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins.sh first", path.display()))
}

/// Request `id` of epoch 0 by `kind`; its content as the gateway's recorder keeps it (no text
/// unless `publish_text`).
fn request(template: &RequestRow, id: u64, kind: RequestKind, publish_text: bool) -> RequestEntry {
    let record = RequestRow { id, kind, started_ms: 1_000 + id, ..template.clone() };
    let content = RequestContent {
        publish_text,
        prompt_sha256: sha256_hex(format!("prompt {id}").as_bytes()),
        completion_sha256: sha256_hex(format!("completion {id}").as_bytes()),
        prompt: publish_text.then(|| json!([{"role": "user", "content": format!("prompt {id}")}])),
        completion: publish_text.then(|| format!("completion {id}")),
    };
    RequestEntry { task: "chat".into(), record, values: vec![], content: Some(content) }
}

async fn get(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.get(url).send().await.expect("answers")
}

/// Polls the node's status for its gateway, then `/v1/dataset/epochs` until epoch 0 is read.
async fn serving(node_status: &assay_node::StatusHandle, http: &reqwest::Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the dataset was not served in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Some(base) = node_status.get().gateway else { continue };
        let body: Value = get(http, &format!("{base}/v1/dataset/epochs")).await.json().await.expect("JSON");
        if body["data"][0]["dataset"]["bytes"].is_u64() {
            return base;
        }
    }
}

#[test]
fn a_running_node_serves_its_published_dataset_with_text_only_where_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    Hotkey::from_seed(Scheme::Sr25519, [7; 32])
        .expect("key")
        .save(&dir.path().join("wallets/v/hotkeys/h"))
        .expect("saves");
    let synth = generate(Shape { netuid: 1, miners: 4, requests: 3, challenges: 0, seed: 3 }, 0);
    let chain = LocalChain::create(&dir.path().join("chain"), &synth.metagraph, 1000.0).expect("chain");
    let mut config = Config::local(1, Some("wallets".into()), "v", "h");
    config.epoch_blocks = 10;
    let policies = PolicyStore::open(dir.path().join("data/policies")).expect("store");
    config.policy.scorer = Some(policies.add(&plugin("constantinople")).expect("adds").to_string());
    config.gateway = Some(assay_gateway::Settings::new("127.0.0.1:0", "m"));
    let path = dir.path().join("assay.toml");
    config.save(&path).expect("saves");
    let config = Config::load(&path).expect("loads");
    let ledger = assay_ledger::SqliteLedger::open(&config.ledger_path()).expect("ledger");
    let template = RequestRow::from_record(&synth.requests[0].record);
    let rows = [
        request(&template, 1, RequestKind::Organic, true),
        request(&template, 2, RequestKind::Organic, false),
        request(&template, 3, RequestKind::Synthetic, true),
    ];
    assay_ledger::record_requests(&ledger, 0, &rows).expect("records");
    drop(ledger);

    let store: Arc<dyn ObjectStore> = Arc::new(LocalFolder::new(dir.path().join("published")));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let (summary, downloaded, stats) = runtime.block_on(async {
        let mut node = Node::open_with(config, Arc::new(chain), store.clone()).await.expect("opens");
        let closed = node.close_epoch(0).await.expect("closes");
        assert_eq!(closed.sent.published, vec![0], "{:?}", closed.sent);
        let (stop, stopped) = watch::channel(false);
        let status = node.status();
        let client = async {
            let http = reqwest::Client::new();
            let base = serving(&status, &http).await;
            let download = get(&http, &format!("{base}/v1/dataset/download?epoch=0")).await;
            assert_eq!(download.status().as_u16(), 200);
            let bytes = download.bytes().await.expect("body").to_vec();
            let stats: Value = get(&http, &format!("{base}/v1/dataset/stats")).await.json().await.expect("JSON");
            // Its idle connections closed, the gateway stops without waiting out its grace period.
            drop(http);
            let _ = stop.send(true);
            (bytes, stats)
        };
        let options = RunOptions { tick: Duration::from_millis(50), stop_after: None };
        let mut on_close = |_: &assay_node::Closed| {};
        let (ran, (bytes, stats)) = tokio::join!(node.run(options, stopped, &mut on_close), client);
        ran.expect("runs");
        (closed.closed.summary, bytes, stats)
    });

    // What is served is what was signed, and the epoch still audits.
    assert_eq!(sha256_hex(&downloaded), summary.dataset.sha256);
    audit(store.as_ref(), &keys_summary(), &Runtime::new(None).expect("runtime")).expect("audits");
    let text = assay_epoch::canonical::decompress(&downloaded, 1 << 20).expect("zstd");
    let lines: Vec<Value> =
        String::from_utf8(text).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let content = |id: u64| lines.iter().find(|l| l["record"]["id"] == id).expect("a line")["content"].clone();
    assert_eq!(content(1)["completion"], "completion 1", "the key opted in");
    assert_eq!(content(3)["prompt"][0]["content"], "prompt 3", "the validator's own request");
    let redacted = content(2);
    assert_eq!(redacted["prompt_sha256"], sha256_hex(b"prompt 2"));
    assert!(redacted.get("prompt").is_none() && redacted.get("completion").is_none(), "{redacted}");
    assert_eq!((stats["epochs"].as_u64(), stats["requests"].as_u64()), (Some(1), Some(3)), "{stats}");
    assert_eq!((stats["counted"]["organic"].as_u64(), stats["counted"]["synthetic"].as_u64()), (Some(2), Some(1)));
}

fn keys_summary() -> String {
    assay_publish::keys::summary(1, 0)
}
