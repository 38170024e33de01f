//! The competition driver on loopback: two reference miners behind the gateway and a third,
//! unsigned, as the baseline. A dead baseline gives no rows at all; a live one gives its counted
//! rows (`baseline`, uid 65535) and each miner's (`synthetic`, with evidence), warm-ups left out,
//! every one timed. Also the prompt's known-answer vector and the config's refusals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_chain::{ChainView, Epochs, LocalChain, Metagraph, Neuron};
use assay_gateway::{Baseline, Gateway, Parts};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{Ledger, Outcome, RequestEntry, RequestKind, SqliteLedger};
use assay_miner::http::{MinerSettings, MinerState, app};
use assay_policy_sdk::NO_MINER;
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};

use crate::competition::{CompetitionConfig, CompetitionDriver, TaskRun, contest_order, draw_prompt};
use crate::config::Config;

/// Serves a reference miner of the tiny model in `dir`; returns its `http://` address.
async fn serve(dir: &std::path::Path, key: &Hotkey, settings: MinerSettings) -> String {
    let engine = Engine::load(dir).expect("loads");
    let tokenizer = ChatTokenizer::load(dir).expect("tokenizer");
    let state = MinerState::new(engine, tokenizer, key.clone(), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).await;
    });
    format!("http://{address}")
}

fn neuron(uid: u16, key: &Hotkey, axon: String) -> Neuron {
    Neuron {
        uid,
        hotkey: key.ss58(),
        stake: 0,
        validator_permit: false,
        axon: Some(axon),
        registered_at_block: 0,
        coldkey: None,
        last_update: 0,
        capacities: Default::default(),
    }
}

/// Waits until the ledger holds `n` requests of `epoch` (the recorder writes every 20 ms).
async fn requests(ledger: &dyn Ledger, epoch: u64, n: usize) -> Vec<RequestEntry> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = ledger.requests(epoch).expect("reads");
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two reference miners of the tiny model in `dir` behind a gateway (both up), and a third,
/// unsigned, as the baseline: the gateway, the ledger, the baseline's URL and the epoch now.
async fn loopback(dir: &std::path::Path) -> (Gateway, Arc<dyn Ledger>, String, u64) {
    let model = dir.join("model");
    tiny::write(&model, &TinySpec::default(), None).expect("writes a tiny model");
    let keys: Vec<Hotkey> = (0..3).map(|i| Hotkey::from_seed(Scheme::Sr25519, [30 + i; 32]).expect("key")).collect();
    let mut neurons = Vec::new();
    for uid in 0..2u16 {
        let axon = serve(&model, &keys[uid as usize], MinerSettings::default()).await;
        neurons.push(neuron(uid, &keys[uid as usize], axon));
    }
    // The baseline: the same weights, unsigned, not a listed miner.
    let baseline_url = serve(&model, &keys[2], MinerSettings { unsigned: true, ..MinerSettings::default() }).await;

    let metagraph = Metagraph { netuid: 1, neurons, owner_hotkey: None };
    let chain = LocalChain::create(&dir.join("chain"), &metagraph, 12.0).expect("chain");
    let view = ChainView::connect(&chain, 1).await.expect("reads the chain");
    let epochs = Epochs::new(1_000_000).expect("positive");
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.join("ledger.db")).expect("ledger"));
    let mut settings = assay_gateway::Settings::new("127.0.0.1:0", "assay-tiny");
    settings.health_interval_ms = 100;
    let tokenizer = ChatTokenizer::load(&model).expect("tokenizer");
    let parts = Parts {
        settings,
        hotkey: Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key"),
        view: view.clone(),
        epochs,
        ledger: ledger.clone(),
        miners: assay_miner_client::Settings::private_network(),
        detokenizer: Some(Arc::new(move |ids: &[u32]| tokenizer.decode(ids, true).map_err(|e| e.to_string()))),
        publication: None,
    };
    let gateway = Gateway::start(parts).await.expect("gateway starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gateway.miners().iter().all(|m| m.up) {
        assert!(Instant::now() < deadline, "miners never came up: {:?}", gateway.miners());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (gateway, ledger, baseline_url, epochs.of_block(view.head()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_competition_records_the_baselines_rows_and_the_miners_and_none_with_a_dead_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gateway, ledger, baseline_url, epoch) = loopback(dir.path()).await;
    let config = CompetitionConfig {
        prompts_per_task: 3,
        warmup: 1,
        prompt_chars: 300,
        max_tokens: 12,
        ..CompetitionConfig::new(&baseline_url)
    };
    let driver = |url: &str| CompetitionDriver {
        config: config.clone(),
        gateway: gateway.competition().expect("competition"),
        ledger: ledger.clone(),
        baseline: Baseline { url: url.to_string(), api_key: None, model: None },
        tasks: vec!["chat".into()],
    };

    // The epoch already over: nothing is sent, nothing recorded.
    let runs = driver(&baseline_url).run(epoch, &|| epoch + 1).await.expect("runs");
    assert!(matches!(&runs[..], [TaskRun::Skipped { reason, .. }] if reason == "the epoch ended"));

    // A baseline nobody answers at: the validator's fault, no row for anyone.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds").local_addr().expect("address");
    let runs = driver(&format!("http://{closed}")).run(epoch, &|| epoch).await.expect("runs");
    assert!(matches!(&runs[..], [TaskRun::Skipped { task, reason }] if task == "chat" && reason.contains("baseline")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ledger.requests(epoch).expect("reads").is_empty(), "a dead baseline leaves no rows");

    let live = driver(&baseline_url);
    let runs = live.run(epoch, &|| epoch).await.expect("runs");
    let seed = ledger.epoch_seed(epoch, rand::random).expect("seed").seed;
    let miners = contest_order(&seed, &[0, 1]);
    assert_eq!(runs, vec![TaskRun::Ran { task: "chat".into(), baseline_rows: 3, miners }]);
    // 3 counted prompts × (the baseline + 2 miners); the warm-ups are not recorded.
    let rows = requests(ledger.as_ref(), epoch, 9).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ledger.requests(epoch).expect("reads").len(), 9);
    let tokens_of = |uid: u16, kind: RequestKind| {
        let mine: Vec<&RequestEntry> = rows.iter().filter(|e| e.record.uid == uid).collect();
        assert_eq!(mine.len(), 3, "uid {uid}");
        let mut tokens = Vec::new();
        for e in mine {
            let r = &e.record;
            assert_eq!((r.kind, r.outcome, r.greedy, e.task.as_str()), (kind, Outcome::Ok, true, "chat"), "{r:?}");
            assert!(r.completion_tokens > 0 && r.completion_tokens <= 12, "{r:?}");
            assert!(r.ttft_ms > 0.0 && r.ttft_ms <= r.total_ms, "{r:?}");
            tokens.push(r.completion_tokens);
        }
        tokens.sort_unstable();
        tokens
    };
    // The same weights, greedy, on the same prompts: the same numbers of tokens everywhere.
    let baseline = tokens_of(NO_MINER, RequestKind::Baseline);
    assert_eq!(tokens_of(0, RequestKind::Synthetic), baseline);
    assert_eq!(tokens_of(1, RequestKind::Synthetic), baseline);
    // The miners' answers are kept with their evidence for the verifier; the baseline's are not.
    let exchanges = ledger.exchanges_after(epoch, 0).expect("reads");
    let mut uids: Vec<u16> = exchanges.iter().map(|(_, x)| x.uid).collect();
    uids.sort_unstable();
    assert_eq!(uids, vec![0, 0, 0, 1, 1, 1]);
    assert!(exchanges.iter().all(|(_, x)| x.evidence.is_some()));

    // Run again in the same epoch (a restarted node): nothing new.
    let runs = live.run(epoch, &|| epoch).await.expect("runs");
    assert!(matches!(&runs[..], [TaskRun::Skipped { reason, .. }] if reason.contains("already")));
    gateway.shutdown(Duration::from_secs(5)).await;
    assert_eq!(ledger.requests(epoch).expect("reads").len(), 9);
}

/// `sha256("assay competition order" ‖ [7; 32] ‖ uid as u16 LE)` with Python's hashlib starts
/// 9a6d for uid 0, 29bd for 1, 00c8 for 2, 175c for 3: ascending, the order is 2, 3, 1, 0.
#[test]
fn the_miners_order_is_drawn_from_the_seed() {
    assert_eq!(contest_order(&[7; 32], &[0, 1, 2, 3]), vec![2, 3, 1, 0]);
    assert_eq!(contest_order(&[7; 32], &[3, 2, 1, 0]), vec![2, 3, 1, 0]);
}

/// `sha256("assay competition prompt" ‖ [7; 32] ‖ j as u32 LE ‖ 0 as u32 LE)` with Python's
/// hashlib: j = 0 starts 104, 208, 2, 5 → words 104 % 64 = 40 "after", 16 "river", 2 "server",
/// 5 "prompt"; j = 1 starts 183, 180, 55, 198 → 55 "moves", 52 "follows", 55 "moves", 6
/// "latency". The instruction is 56 characters; 80 cut the fourth word.
#[test]
fn the_prompts_are_drawn_from_the_seed() {
    let instruction = "Rewrite the following notes as a long, detailed report:\n";
    assert_eq!(draw_prompt(&[7; 32], 0, 80), format!("{instruction}after river server promp"));
    assert_eq!(draw_prompt(&[7; 32], 1, 80), format!("{instruction}moves follows moves late"));
    let long = draw_prompt(&[7; 32], 0, 4000);
    assert_eq!(long.len(), 4000);
    assert!(long.starts_with(&draw_prompt(&[7; 32], 0, 80)), "a prefix of the longer draw");
    assert_ne!(draw_prompt(&[8; 32], 0, 4000), long);
}

/// The baseline's API key never reaches a log through `Debug`.
#[test]
fn a_baselines_debug_hides_its_key() {
    let baseline = Baseline { url: "http://b".into(), api_key: Some("sk-secret".into()), model: None };
    let shown = format!("{baseline:?}");
    assert!(!shown.contains("sk-secret") && shown.contains("(hidden)") && shown.contains("http://b"), "{shown}");
}

#[test]
fn competition_settings_out_of_range_are_refused() {
    let good = CompetitionConfig::new("http://127.0.0.1:8100");
    assert!(good.check().is_ok());
    let key = |c: CompetitionConfig| c.check().expect_err("refused").0;
    assert_eq!(key(CompetitionConfig { baseline_url: "127.0.0.1:8100".into(), ..good.clone() }), "baseline_url");
    assert_eq!(key(CompetitionConfig { baseline_url: "http://".into(), ..good.clone() }), "baseline_url");
    assert!(CompetitionConfig { baseline_url: "http://a".into(), ..good.clone() }.check().is_ok());
    assert_eq!(key(CompetitionConfig { prompts_per_task: 0, ..good.clone() }), "prompts_per_task");
    assert_eq!(key(CompetitionConfig { prompts_per_task: 250, warmup: 7, ..good.clone() }), "prompts_per_task");
    assert_eq!(key(CompetitionConfig { prompt_chars: 0, ..good.clone() }), "prompt_chars");
    assert_eq!(key(CompetitionConfig { max_tokens: 0, ..good.clone() }), "max_tokens");
    assert_eq!(key(CompetitionConfig { baseline_api_key_env: Some(String::new()), ..good }), "baseline_api_key_env");
}

/// What `[competition]` needs of the rest of the config, each refusal naming its key.
#[test]
fn a_competition_needs_a_gateway_without_other_synthetic_traffic_and_token_checks() {
    let refused = |config: &Config| match Config::parse(&config.to_toml().expect("serializes")) {
        Err(crate::ConfigError::Invalid { key, .. }) => key,
        other => panic!("not refused: {other:?}"),
    };
    let mut config = Config::local(1, None, "v", "h");
    config.competition = Some(CompetitionConfig { max_tokens: 100, ..CompetitionConfig::new("http://127.0.0.1:1") });
    assert_eq!(refused(&config), "competition");
    let mut gateway = assay_gateway::Settings::new("127.0.0.1:0", "m");
    gateway.synthetic_per_minute = 6.0;
    config.gateway = Some(gateway.clone());
    assert_eq!(refused(&config), "gateway.synthetic_per_minute");
    gateway.synthetic_per_minute = 0.0;
    config.gateway = Some(gateway.clone());
    assert_eq!(refused(&config), "verify.token_check_share");
    let mut verify = assay_verify::Settings::new("models/reference".into());
    verify.token_check_share = 0.5;
    config.verify = Some(verify.clone());
    // Cacheon fails a miner with no checked row: a share below 1 is refused.
    assert_eq!(refused(&config), "verify.token_check_share");
    verify.token_check_share = 1.0;
    config.verify = Some(verify);
    gateway.max_tokens = 64;
    config.gateway = Some(gateway.clone());
    assert_eq!(refused(&config), "competition.max_tokens");
    gateway.max_tokens = 400;
    gateway.context_tokens = 4000;
    config.gateway = Some(gateway);
    // 4000 characters + 100 tokens + 256 > 4000.
    assert_eq!(refused(&config), "competition.prompt_chars");
    config.competition.as_mut().expect("set").prompt_chars = 3000;
    config.competition.as_mut().expect("set").tasks = vec!["text".into()];
    assert_eq!(refused(&config), "competition.tasks");
    config.competition.as_mut().expect("set").tasks = vec!["chat".into()];
    Config::parse(&config.to_toml().expect("serializes")).expect("a valid config");
    assert_eq!(config.competition_tasks(), ["chat"]);
}
