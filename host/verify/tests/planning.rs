//! The challenger's `plan` runs for up to its fuel; the verifier runs it off the async runtime
//! it shares with the gateway, so the gateway's tasks go on meanwhile. A plan refused as the
//! challenger's fault is reported once; its requests go to the challenger that takes over, if
//! one does, and are never offered again to the one that failed.
//!
//! Components come from scripts/build-plugins.sh (scripts/test.sh runs it first).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assay_chain::{ChainView, Epochs, Metagraph, Neuron};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{Exchange, Ledger, Outcome, RequestEntry, RequestKind, RequestRow, SqliteLedger};
use assay_miner_client::MinerClient;
use assay_policy_runtime::{Challenger, Digest, Limits, Runtime};
use assay_policy_sdk::{Candidate, Param, PlanInput};
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{ChatTokenizer, Engine};
use assay_verify::{Challengers, Parts, Settings, Verifier};
use tokio::sync::watch;

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins.sh first", path.display()))
}

struct One(Challenger);

impl Challengers for One {
    fn for_epoch(&self, _: u64) -> Result<Challenger, String> {
        Ok(self.0.clone())
    }
}

/// One completed request of miner 1 in epoch 0, with its exchange.
fn ledger_with_one_exchange(dir: &std::path::Path) -> Arc<dyn Ledger> {
    let ledger = SqliteLedger::open(&dir.join("ledger.db")).expect("ledger");
    let record = RequestRow {
        id: 1,
        uid: 1,
        kind: RequestKind::Organic,
        outcome: Outcome::Ok,
        greedy: true,
        prompt_tokens: 4,
        completion_tokens: 4,
        ttft_ms: 10.0,
        total_ms: 20.0,
        reported_ttft_ms: None,
        reported_tps: None,
        quality: None,
        started_ms: 0,
    };
    let exchange = Exchange {
        id: 1,
        uid: 1,
        miner_hotkey: "miner".into(),
        path: "/v1/chat/completions".into(),
        request: "{}".into(),
        evidence: None,
    };
    let entry = RequestEntry { task: "chat".into(), record, values: vec![], content: None };
    ledger.record_traffic(0, &[(entry, Some(exchange))]).expect("records");
    Arc::new(ledger)
}

fn load(name: &str) -> Challenger {
    let bytes = plugin(name);
    Runtime::new(None).expect("engine").load_challenger(&Digest::of(&bytes), &bytes).expect("loads")
}

/// A verifier over a tiny model, with one exchange of miner 1 (which announces no axon, so
/// nothing planned is opened) to plan.
fn verifier(dir: &std::path::Path, challengers: Arc<dyn Challengers>, params: Vec<Param>, limits: Limits) -> Verifier {
    tiny::write(dir, &TinySpec::default(), None).expect("tiny model");
    let metagraph = Metagraph {
        netuid: 1,
        neurons: vec![Neuron {
            uid: 1,
            hotkey: "miner".into(),
            stake: 0,
            axon: None,
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
            validator_permit: false,
        }],
        owner_hotkey: None,
    };
    let mut settings = Settings::new(dir.to_path_buf());
    settings.interval_ms = 50;
    Verifier::new(Parts {
        settings,
        engine: Engine::load(dir).expect("engine"),
        tokenizer: ChatTokenizer::load(dir).expect("tokenizer"),
        challengers,
        limits,
        params,
        client: MinerClient::new(
            Hotkey::from_seed(Scheme::Sr25519, [3; 32]).expect("key"),
            Duration::from_secs(1),
            assay_miner_client::Settings::private_network(),
        )
        .expect("client"),
        ledger: ledger_with_one_exchange(dir),
        view: ChainView::fixed(5, Arc::new(metagraph), Instant::now()),
        epochs: Epochs::new(100).expect("epochs"),
    })
}

/// Runs `verifier` on a runtime of one thread for `long`.
fn run_for(verifier: Verifier, long: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let (stop, stopped) = watch::channel(false);
        let running = tokio::spawn(verifier.run(stopped));
        tokio::time::sleep(long).await;
        let _ = stop.send(true);
        let _ = running.await;
    });
}

#[test]
fn a_long_plan_does_not_stall_the_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let challenger = load("misbehave-challenger");
    // Mode 1 plans forever: each plan takes its whole fuel. Grow the fuel until a plan takes long
    // enough here that a stall would be plain to see; how fast fuel burns depends on the machine.
    let params = vec![Param { name: "mode".into(), value: 1.0 }];
    let probe = PlanInput {
        seed: vec![1; 32],
        layers: 2,
        progress: 0.0,
        candidates: vec![Candidate { request_id: 1, uid: 1, prompt_tokens: 4, completion_tokens: 4 }],
        history: vec![],
        params: params.clone(),
    };
    let mut limits = Limits { fuel: 1_000_000_000, ..Limits::DEFAULT };
    let plan_takes = loop {
        let started = Instant::now();
        assert!(challenger.plan(&probe, limits).is_err(), "mode 1 runs out of fuel");
        let plan_takes = started.elapsed();
        if plan_takes >= Duration::from_millis(300) || limits.fuel >= Limits::HOST_MAX.fuel {
            break plan_takes;
        }
        limits.fuel = (limits.fuel * 2).min(Limits::HOST_MAX.fuel);
    };
    assert!(plan_takes >= Duration::from_millis(150), "a plan of the largest fuel should take a while: {plan_takes:?}");

    let verifier = verifier(dir.path(), Arc::new(One(challenger)), params, limits);

    // One thread for everything, as a busy runtime would be: a task that should wake every 5 ms.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let longest_gap = runtime.block_on(async move {
        let (stop, stopped) = watch::channel(false);
        let running = tokio::spawn(verifier.run(stopped));
        let until = Instant::now() + plan_takes * 2 + Duration::from_millis(200);
        let (mut last, mut longest) = (Instant::now(), Duration::ZERO);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
            longest = longest.max(last.elapsed());
            last = Instant::now();
        }
        let _ = stop.send(true);
        let _ = running.await;
        longest
    });
    assert!(longest_gap < plan_takes / 2, "the runtime stalled for {longest_gap:?} while a plan of {plan_takes:?} ran");
}

/// Hands out `first` until its plan is refused, then `then` if there is one.
struct TakesOver {
    first: Challenger,
    then: Option<Challenger>,
    refused: AtomicBool,
    refusals: Mutex<Vec<String>>,
    asked_after_refusal: AtomicUsize,
}

impl TakesOver {
    fn new(first: Challenger, then: Option<Challenger>) -> Arc<Self> {
        Arc::new(Self {
            first,
            then,
            refused: AtomicBool::new(false),
            refusals: Mutex::new(Vec::new()),
            asked_after_refusal: AtomicUsize::new(0),
        })
    }
}

impl Challengers for TakesOver {
    fn for_epoch(&self, _: u64) -> Result<Challenger, String> {
        if !self.refused.load(Ordering::SeqCst) {
            return Ok(self.first.clone());
        }
        self.asked_after_refusal.fetch_add(1, Ordering::SeqCst);
        Ok(self.then.clone().unwrap_or_else(|| self.first.clone()))
    }

    fn plan_refused(&self, epoch: u64, challenger: Digest, reason: &str) -> bool {
        assert_eq!((epoch, challenger), (0, self.first.digest()));
        self.refusals.lock().expect("lock").push(reason.to_string());
        self.refused.store(true, Ordering::SeqCst);
        self.then.is_some()
    }
}

#[test]
fn a_refused_plan_is_reported_once_and_its_requests_go_to_the_challenger_that_takes_over() {
    // Mode 2 plans the request twice; adaptive-challenger ignores the mode.
    let params = vec![Param { name: "mode".into(), value: 2.0 }];
    let alone = TakesOver::new(load("misbehave-challenger"), None);
    let dir = tempfile::tempdir().expect("tempdir");
    run_for(verifier(dir.path(), alone.clone(), params.clone(), Limits::DEFAULT), Duration::from_millis(600));
    let refusals = alone.refusals.lock().expect("lock").clone();
    assert_eq!(refusals.len(), 1, "reported once: {refusals:?}");
    assert!(refusals[0].contains("names request 1 twice"), "{refusals:?}");
    assert_eq!(alone.asked_after_refusal.load(Ordering::SeqCst), 0, "the request is not offered again");

    let relieved = TakesOver::new(load("misbehave-challenger"), Some(load("adaptive-challenger")));
    let dir = tempfile::tempdir().expect("tempdir");
    run_for(verifier(dir.path(), relieved.clone(), params, Limits::DEFAULT), Duration::from_millis(600));
    assert_eq!(relieved.refusals.lock().expect("lock").len(), 1);
    assert_eq!(relieved.asked_after_refusal.load(Ordering::SeqCst), 1, "offered once more, to the next challenger");
}
