//! The node around its epochs: what is signed is what ran (the challenger swap), and a closed
//! epoch goes out exactly once, whatever fails on the way (the chain after accepting weights,
//! the object store).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use assay_chain::{Chain, LocalChain, Metagraph, WeightsCall};
use assay_dashboard::Source;
use assay_epoch::synth::{Shape, generate};
use assay_epoch::{LocalFolder, ObjectStore, Summary, audit};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{ChallengeRow, RequestEntry, RequestRow};
use assay_node::slots::{ACTIVE_CHALLENGER, ACTIVE_SCORER};
use assay_node::{Config, Error, Node};
use assay_policy_runtime::{PolicyStore, Runtime};

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins.sh first", path.display()))
}

/// The same component under another name: a custom section (ignored when run) appended.
fn renamed(mut component: Vec<u8>) -> Vec<u8> {
    let (name, payload) = (b"assay-test", b"another build");
    component.extend([0u8, (1 + name.len() + payload.len()) as u8, name.len() as u8]);
    component.extend(name);
    component.extend(payload);
    component
}

/// A node folder: wallet, a local chain whose head stays in epoch 0 (1000-second blocks),
/// constantinople active, and epochs 0 and 1's synthetic records in the ledger.
struct Setup {
    dir: tempfile::TempDir,
    config: Config,
    chain: LocalChain,
}

fn setup(adjust: impl FnOnce(&mut Config)) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    Hotkey::from_seed(Scheme::Sr25519, [7; 32])
        .expect("key")
        .save(&dir.path().join("wallets/v/hotkeys/h"))
        .expect("saves");
    let shape = Shape { netuid: 1, miners: 8, requests: 200, challenges: 20, seed: 3 };
    let synth = generate(shape, 0);
    let chain = LocalChain::create(&dir.path().join("chain"), &synth.metagraph, 1000.0).expect("chain");
    let mut config = Config::local(1, Some("wallets".into()), "v", "h");
    config.epoch_blocks = 10;
    let policies = PolicyStore::open(dir.path().join("data/policies")).expect("store");
    config.policy.scorer = Some(policies.add(&plugin("constantinople")).expect("adds").to_string());
    adjust(&mut config);
    let path = dir.path().join("assay.toml");
    config.save(&path).expect("saves");
    let config = Config::load(&path).expect("loads");
    let ledger = assay_ledger::SqliteLedger::open(&config.ledger_path()).expect("ledger");
    for epoch in [0, 1] {
        let synth = generate(shape, epoch);
        let rows: Vec<RequestEntry> = synth
            .requests
            .iter()
            .map(|r| RequestEntry {
                task: r.task.clone(),
                record: RequestRow::from_record(&r.record),
                values: vec![],
                content: None,
            })
            .collect();
        assay_ledger::record_requests(&ledger, epoch, &rows).expect("records");
        let challenges: Vec<ChallengeRow> = synth.challenges.iter().map(ChallengeRow::from_record).collect();
        assay_ledger::Ledger::record_challenges(&ledger, epoch, &challenges).expect("records");
    }
    Setup { dir, config, chain }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// How [`Flaky`] answers weights calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The chain accepts the weights, then the connection drops before the answer.
    LosesAnswer,
    /// The node is unreachable: nothing is accepted.
    Down,
    /// Weights go through, but commitments are refused.
    CommitmentsRefused,
}

/// A local chain whose weights calls fail as `fault` says.
struct Flaky {
    inner: LocalChain,
    fault: std::sync::Mutex<Fault>,
}

impl Flaky {
    fn new(inner: LocalChain, fault: Fault) -> Arc<Self> {
        Arc::new(Self { inner, fault: std::sync::Mutex::new(fault) })
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().expect("lock") = fault;
    }
}

#[async_trait::async_trait]
impl Chain for Flaky {
    async fn current_block(&self) -> assay_chain::Result<u64> {
        self.inner.current_block().await
    }
    async fn metagraph(&self, netuid: u16) -> assay_chain::Result<Metagraph> {
        self.inner.metagraph(netuid).await
    }
    async fn set_weights(&self, validator: &str, call: &WeightsCall) -> assay_chain::Result<u64> {
        let fault = *self.fault.lock().expect("lock");
        if fault == Fault::Down {
            return Err(assay_chain::Error::Refused("the node is unreachable".into()));
        }
        let block = self.inner.set_weights(validator, call).await?;
        if fault == Fault::LosesAnswer {
            return Err(assay_chain::Error::Refused("connection lost before the answer".into()));
        }
        Ok(block)
    }
    async fn weights_accepted_since(
        &self,
        v: &str,
        call: &WeightsCall,
        since: u64,
    ) -> assay_chain::Result<Option<u64>> {
        self.inner.weights_accepted_since(v, call, since).await
    }
    async fn epochs(&self, netuid: u16) -> assay_chain::Result<Option<assay_chain::Epochs>> {
        self.inner.epochs(netuid).await
    }
    async fn serve_axon(&self, hotkey: &str, netuid: u16, axon: &assay_chain::Axon) -> assay_chain::Result<u64> {
        self.inner.serve_axon(hotkey, netuid, axon).await
    }
    async fn set_commitment(&self, hotkey: &str, netuid: u16, fields: &[String]) -> assay_chain::Result<u64> {
        if *self.fault.lock().expect("lock") == Fault::CommitmentsRefused {
            return Err(assay_chain::Error::Refused("the commitment extrinsic failed".into()));
        }
        self.inner.set_commitment(hotkey, netuid, fields).await
    }
    async fn commitment(&self, netuid: u16, hotkey: &str) -> assay_chain::Result<Option<assay_chain::Commitment>> {
        self.inner.commitment(netuid, hotkey).await
    }
    fn describe(&self) -> String {
        "a flaky chain".into()
    }
}

/// A store that refuses every write while `broken` is set (a full disk, a bucket down).
struct Refuses {
    inner: LocalFolder,
    broken: AtomicBool,
}

impl ObjectStore for Refuses {
    fn put(&self, key: &str, bytes: &[u8]) -> assay_publish::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(assay_publish::Error::Store("no space left on device".into()));
        }
        self.inner.put(key, bytes)
    }
    fn get(&self, key: &str) -> assay_publish::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

fn published(s: &Setup) -> LocalFolder {
    LocalFolder::new(s.dir.path().join("published"))
}

#[test]
fn weights_that_went_through_before_the_host_died_are_not_set_twice() {
    let s = setup(|_| {});
    let rt = runtime();
    let flaky = Flaky::new(s.chain.clone(), Fault::LosesAnswer);
    let store: Arc<dyn ObjectStore> = Arc::new(published(&s));
    let first = rt.block_on(async {
        let mut node = Node::open_with(s.config.clone(), flaky.clone(), store.clone()).await.expect("opens");
        node.close_epoch(0).await.expect("closes")
    });
    assert!(first.sent.weights.is_empty(), "the answer was lost: {:?}", first.sent);
    assert_eq!(s.chain.weights_log().expect("log").len(), 1, "the chain did accept them");

    // The host comes back (the same ledger) with a working connection.
    flaky.set(Fault::None);
    let (again, closing_again) = rt.block_on(async {
        let mut node = Node::open_with(s.config.clone(), flaky.clone(), store.clone()).await.expect("reopens");
        let sent = node.send().await.expect("sends");
        (sent, node.close_epoch(0).await)
    });
    assert_eq!(again.weights.len(), 1, "{again:?}");
    assert_eq!(s.chain.weights_log().expect("log").len(), 1, "weights were not set a second time");
    assert!(matches!(closing_again, Err(Error::AlreadyClosed { epoch: 0, .. })), "{closing_again:?}");

    // The published summary is the one signed at the close, and it audits.
    let bytes = store.get(&first.closed.summary_key).expect("reads").expect("published");
    assert_eq!(assay_epoch::sha256_hex(&bytes), first.closed.summary_sha256);
    audit(store.as_ref(), &first.closed.summary_key, &Runtime::new(None).expect("runtime")).expect("audits");
}

#[test]
fn a_store_that_fails_delays_publication_and_never_re_signs() {
    let s = setup(|_| {});
    let rt = runtime();
    let store = Arc::new(Refuses { inner: published(&s), broken: AtomicBool::new(true) });
    let chain: Arc<dyn Chain> = Arc::new(s.chain.clone());
    let closed = rt.block_on(async {
        let mut node = Node::open_with(s.config.clone(), chain.clone(), store.clone()).await.expect("opens");
        let published = node.close_epoch(0).await.expect("closes");
        assert!(published.sent.published.is_empty());
        assert!(!published.sent.errors.is_empty(), "the failure is reported");
        assert_eq!(node.status().get().outgoing, vec![0]);
        assert_eq!(node.dashboard().overview().queued, vec![0], "the page marks it queued, not linked");
        published.closed
    });
    assert_eq!(store.get(&closed.summary_key).expect("reads"), None, "nothing is published yet");
    // Weights follow publication, so that anyone can check them when they appear on chain.
    assert!(s.chain.weights_log().expect("log").is_empty());

    store.broken.store(false, Ordering::SeqCst);
    let sent = rt.block_on(async {
        let mut node = Node::open_with(s.config.clone(), chain.clone(), store.clone()).await.expect("reopens");
        node.send().await.expect("sends")
    });
    assert_eq!(sent.published, vec![0]);
    assert_eq!(sent.weights.len(), 1);
    assert_eq!(s.chain.weights_log().expect("log").len(), 1);
    let bytes = store.get(&closed.summary_key).expect("reads").expect("published now");
    assert_eq!(assay_epoch::sha256_hex(&bytes), closed.summary_sha256, "the summary signed at the close");
    let summary = Summary::parse_and_verify(&bytes).expect("verifies");
    assert_eq!(summary.epoch, 0);
    audit(store.as_ref(), &closed.summary_key, &Runtime::new(None).expect("runtime")).expect("audits");
    let ledger = assay_ledger::SqliteLedger::open(&s.config.ledger_path()).expect("ledger");
    assert!(assay_ledger::Ledger::outgoing(&ledger).expect("reads").is_empty());
}

/// The validator's commitments on the local chain, oldest first.
fn commitments(chain: &LocalChain) -> Vec<Vec<String>> {
    chain.commitments_log().expect("log").into_iter().map(|entry| entry.commitment.fields).collect()
}

/// The setup's chain with the validator registered (a commitment needs it), in its own folder.
fn chain_with_validator(s: &Setup, rt: &tokio::runtime::Runtime, validator: &str) -> LocalChain {
    let mut metagraph = rt.block_on(s.chain.metagraph(1)).expect("metagraph");
    let mut neuron = metagraph.neurons[0].clone();
    neuron.uid = metagraph.neurons.len() as u16;
    neuron.hotkey = validator.to_string();
    neuron.axon = None;
    neuron.validator_permit = true;
    metagraph.neurons.push(neuron);
    LocalChain::create(&s.dir.path().join("chain-with-validator"), &metagraph, 1000.0).expect("chain")
}

#[test]
fn summaries_chain_and_each_hash_goes_on_chain_after_its_publication() {
    let s = setup(|_| {});
    let rt = runtime();
    let validator = Hotkey::from_seed(Scheme::Sr25519, [7; 32]).expect("key").ss58();
    // The validator is also the owner: its policy announcement must survive.
    let chain = chain_with_validator(&s, &rt, &validator);
    let announcement = format!("assay-policy:scorer:sha256:{}", "cd".repeat(32));
    rt.block_on(chain.set_commitment(&validator, 1, std::slice::from_ref(&announcement))).expect("commits");
    let store = Arc::new(Refuses { inner: published(&s), broken: AtomicBool::new(true) });
    let flaky = Flaky::new(chain.clone(), Fault::CommitmentsRefused);
    let (first, second) = rt.block_on(async {
        let mut node = Node::open_with(s.config.clone(), flaky.clone(), store.clone()).await.expect("opens");
        let first = node.close_epoch(0).await.expect("closes");
        assert_eq!(first.sent.committed, None, "nothing goes on chain before the summary is published");
        assert_eq!(commitments(&chain).len(), 1);
        store.broken.store(false, Ordering::SeqCst);
        // The host restarts: publication is retried at once.
        let mut node = Node::open_with(s.config.clone(), flaky.clone(), store.clone()).await.expect("reopens");
        let sent = node.send().await.expect("sends");
        assert_eq!(sent.published, vec![0]);
        assert_eq!(sent.committed, None, "{sent:?}");
        assert!(sent.errors.iter().any(|(_, e)| e.contains("the commitment extrinsic failed")), "{sent:?}");
        flaky.set(Fault::None);
        (first, node.close_epoch(1).await.expect("closes"))
    });
    // The failed commitment was retried (after its backoff) once epoch 1 superseded it.
    let expected = |closed: &assay_node::Closed| {
        format!("assay-summary:{}:sha256:{}", closed.summary.epoch, closed.summary_sha256)
    };
    assert_eq!(second.sent.committed.map(|(epoch, _)| epoch), Some(1), "{:?}", second.sent);
    assert_eq!(commitments(&chain).last(), Some(&vec![announcement.clone(), expected(&second.closed)]));
    assert_eq!(first.closed.summary.previous, None, "the validator's first summary");
    let previous = second.closed.summary.previous.clone().expect("names its previous summary");
    assert_eq!((previous.epoch, previous.sha256), (0, first.closed.summary_sha256.clone()));

    // Idempotent: a restarted host commits nothing twice.
    let count = commitments(&chain).len();
    let again = rt.block_on(async {
        let mut node = Node::open_with(s.config.clone(), flaky.clone(), store.clone()).await.expect("reopens");
        node.send().await.expect("sends")
    });
    assert_eq!(again.committed, None);
    assert_eq!(commitments(&chain).len(), count);
}

#[test]
fn the_summary_names_the_challenger_that_judged_the_epoch() {
    let challenger = plugin("adaptive-challenger");
    let (old, new) = {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PolicyStore::open(dir.path()).expect("store");
        (store.add(&challenger).expect("adds"), store.add(&renamed(challenger.clone())).expect("adds"))
    };
    let s = setup(|c| {
        c.policy.challenger = Some(old.to_string());
        c.verify = Some(assay_verify::Settings::new("models/unused".into()));
    });
    let policies = PolicyStore::open(s.config.policy_dir()).expect("store");
    policies.add(&challenger).expect("adds");
    policies.add(&renamed(challenger)).expect("adds");
    let rt = runtime();
    rt.block_on(async {
        let node = Node::open(s.config.clone()).await.expect("opens");
        assert_eq!(node.challenger(0).expect("epoch 0").as_deref(), Some(old.to_string().as_str()));
        // The owner activates another challenger during epoch 0: it judges from epoch 1 on.
        node.ledger().set_setting(ACTIVE_CHALLENGER, &new.to_string()).expect("activates");
        assert_eq!(node.challenger(0).expect("epoch 0").as_deref(), Some(old.to_string().as_str()));
        assert_eq!(node.challenger(1).expect("epoch 1").as_deref(), Some(new.to_string().as_str()));

        // A restart during epoch 0 keeps the challenger epoch 0 started with.
        drop(node);
        let mut node = Node::open(s.config.clone()).await.expect("reopens");
        assert_eq!(node.challenger(0).expect("epoch 0").as_deref(), Some(old.to_string().as_str()));

        let closed = node.close_epoch(0).await.expect("closes").closed;
        assert_eq!(closed.summary.challenger, Some(old.to_string()), "epoch 0 was judged by the old challenger");
        node.ledger().epoch_seed(1, || [1; 32]).expect("starts epoch 1");
        let closed = node.close_epoch(1).await.expect("closes").closed;
        assert_eq!(closed.summary.challenger, Some(new.to_string()));
    });
}

#[test]
fn two_epochs_closed_in_the_same_block_both_set_their_weights() {
    let s = setup(|_| {});
    let rt = runtime();
    let (first, second) = rt.block_on(async {
        let mut node = Node::open(s.config.clone()).await.expect("opens");
        let first = node.close_epoch(0).await.expect("closes");
        node.ledger().epoch_seed(1, || [1; 32]).expect("starts epoch 1");
        (first, node.close_epoch(1).await.expect("closes"))
    });
    assert_ne!(first.closed.summary.output.weights, second.closed.summary.output.weights);
    assert_eq!(first.sent.weights.len(), 1, "{:?}", first.sent);
    assert_eq!(second.sent.weights.len(), 1, "the first epoch's weights are not taken for the second's");
    let log = s.chain.weights_log().expect("log");
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].block, log[1].block, "both in one block");
}

#[test]
fn an_older_epochs_retried_weights_never_replace_a_newer_epochs() {
    let s = setup(|_| {});
    let rt = runtime();
    let chain = Flaky::new(s.chain.clone(), Fault::Down);
    let store: Arc<dyn ObjectStore> = Arc::new(published(&s));
    let (late, sent) = rt.block_on(async {
        let mut node = Node::open_with(s.config.clone(), chain.clone(), store.clone()).await.expect("opens");
        let first = node.close_epoch(0).await.expect("closes");
        assert!(first.sent.weights.is_empty(), "the chain is down: {:?}", first.sent);
        chain.set(Fault::None);
        node.ledger().epoch_seed(1, || [1; 32]).expect("starts epoch 1");
        let second = node.close_epoch(1).await.expect("closes");
        assert_eq!(second.sent.weights.len(), 1, "epoch 1's weights go through: {:?}", second.sent);
        // Past epoch 0's backoff, its weights come up for a retry.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        (second, node.send().await.expect("sends"))
    });
    assert!(sent.weights.is_empty(), "epoch 0's weights were superseded, not sent: {sent:?}");
    let log = s.chain.weights_log().expect("log");
    assert_eq!(log.len(), 1);
    let newest = &late.closed.summary.output.weights;
    assert_eq!(log[0].call.weights, newest.iter().map(|w| w.weight).collect::<Vec<_>>(), "the chain holds epoch 1's");
    let ledger = assay_ledger::SqliteLedger::open(&s.config.ledger_path()).expect("ledger");
    assert!(assay_ledger::Ledger::outgoing(&ledger).expect("reads").is_empty(), "nothing is left to send");
}

/// Records one exchange (a body with a user's prompt) into `epoch` of the setup's ledger.
fn record_exchange(s: &Setup, epoch: u64) -> assay_ledger::SqliteLedger {
    let ledger = assay_ledger::SqliteLedger::open(&s.config.ledger_path()).expect("ledger");
    let mut entry = assay_ledger::Ledger::requests(&ledger, epoch).expect("reads").remove(0);
    entry.record.id = u64::MAX >> 2;
    let exchange = assay_ledger::Exchange {
        id: entry.record.id,
        uid: entry.record.uid,
        miner_hotkey: "5Miner".into(),
        path: "/v1/chat/completions".into(),
        request: r#"{"messages":[{"role":"user","content":"a user's private prompt"}]}"#.into(),
        evidence: None,
    };
    assay_ledger::Ledger::record_traffic(&ledger, epoch, &[(entry, Some(exchange))]).expect("records");
    ledger
}

#[test]
fn retention_drops_bodies_once_published_and_old_enough() {
    let rt = runtime();
    let bodies =
        |ledger: &assay_ledger::SqliteLedger| assay_ledger::Ledger::exchanges_after(ledger, 0, 0).expect("reads").len();
    for (days, dropped) in [(0.0, 1), (7.0, 0)] {
        let s = setup(|c| c.ledger.keep_bodies_days = days);
        let ledger = record_exchange(&s, 0);
        rt.block_on(async {
            let chain: Arc<dyn Chain> = Arc::new(s.chain.clone());
            let mut node = Node::open_with(s.config.clone(), chain, Arc::new(published(&s))).await.expect("opens");
            assert_eq!(node.prune(), 0, "nothing is closed yet");
            node.close_epoch(0).await.expect("closes and publishes");
            assert_eq!(node.prune(), dropped, "kept for {days} days");
        });
        assert_eq!(bodies(&ledger), 1 - dropped);
        assert!(!assay_ledger::Ledger::requests(&ledger, 0).expect("reads").is_empty(), "the records stay");
    }
}

#[test]
fn an_epoch_whose_scorer_hands_on_too_much_state_closes_unscored_and_the_next_one_closes() {
    let s = setup(|c| {
        c.policy.params.insert("mode".into(), 9.0); // misbehave: a state of 4 MiB
    });
    let misbehave = PolicyStore::open(s.config.policy_dir()).expect("store").add(&plugin("misbehave")).expect("adds");
    let rt = runtime();
    let store: Arc<dyn ObjectStore> = Arc::new(published(&s));
    let (unscored, next) = rt.block_on(async {
        let mut node =
            Node::open_with(s.config.clone(), Arc::new(s.chain.clone()), store.clone()).await.expect("opens");
        node.ledger().set_setting(ACTIVE_SCORER, &misbehave.to_string()).expect("activates");
        let unscored = node.close_epoch(0).await.expect("closes unscored");
        node.ledger()
            .set_setting(ACTIVE_SCORER, &s.config.policy.scorer.clone().expect("configured"))
            .expect("activates");
        node.ledger().epoch_seed(1, || [1; 32]).expect("starts epoch 1");
        (unscored, node.close_epoch(1).await.expect("closes"))
    });
    let summary = &unscored.closed.summary;
    assert_eq!(summary.limits.state_bytes, 1 << 20, "the state limit is signed with the epoch");
    let why = summary.unscored.as_ref().expect("unscored");
    assert_eq!(why.kind, "invalid-output");
    assert!(why.reason.contains("state of 4194304 bytes is over the limit of 1048576"), "{why:?}");
    assert!(summary.output.weights.is_empty() && unscored.sent.weights.is_empty(), "no weights");
    assert_eq!(unscored.sent.published, vec![0], "published all the same");
    assert!(next.closed.summary.unscored.is_none());
    assert_eq!(next.sent.weights.len(), 1, "the next epoch sets its weights");
    assert_eq!(s.chain.weights_log().expect("log").len(), 1);
    let runtime = Runtime::new(None).expect("runtime");
    for closed in [&unscored.closed, &next.closed] {
        audit(store.as_ref(), &closed.summary_key, &runtime).expect("audits");
    }
}

#[test]
fn the_close_tallies_the_dashboard_only_when_one_was_asked_for() {
    let rt = runtime();
    for asked in [false, true] {
        let s = setup(|_| {});
        let chain: Arc<dyn Chain> = Arc::new(s.chain.clone());
        let store = Arc::new(published(&s));
        let (closed, epochs) = rt.block_on(async {
            let mut node = Node::open_with(s.config.clone(), chain, store).await.expect("opens");
            let board = asked.then(|| node.dashboard());
            let closed = node.close_epoch(0).await.expect("closes").closed;
            (closed, board.map(|b| b.epochs()))
        });
        if !asked {
            assert!(closed.miners.is_empty(), "no dashboard, no tally");
            continue;
        }
        let requests: u32 = closed.miners.iter().map(|m| m.requests).sum();
        assert_eq!(requests, 200, "the tally is of the records the close scored");
        let epochs = epochs.expect("asked");
        assert_eq!(epochs.len(), 1);
        let kept = &epochs[0];
        assert_eq!((kept.epoch, kept.summary_key.as_str()), (0, closed.summary_key.as_str()));
        assert_eq!(kept.miners.len(), closed.miners.len());
        assert!(kept.miners.iter().all(|m| m.weight.is_some()), "the weights joined to the rows");
        let shares: f64 = kept.miners.iter().filter_map(|m| m.share).sum();
        assert!((shares - 100.0).abs() < 1e-6, "every weighted uid has a row: {shares}");
    }
}

/// An input that cannot be published (here a non-finite parameter, which the config refuses
/// but a caller of the closer could hand over) stops the close before any policy runs on it.
#[test]
fn an_input_that_cannot_be_published_is_never_scored() {
    let s = setup(|_| {});
    let ledger = assay_ledger::SqliteLedger::open(&s.config.ledger_path()).expect("ledger");
    let policies = PolicyStore::open(s.config.policy_dir()).expect("store");
    let bytes = plugin("constantinople");
    let digest = policies.add(&bytes).expect("adds");
    let runtime = Runtime::new(None).expect("runtime");
    let scorer = runtime.load_scorer(&digest, &bytes).expect("loads");
    let hotkey = Hotkey::from_seed(Scheme::Sr25519, [7; 32]).expect("key");
    let settings = assay_node::EpochSettings {
        netuid: 1,
        epochs: assay_chain::Epochs::new(10).expect("epochs"),
        params: vec![assay_policy_sdk::Param { name: "rate".into(), value: f64::NAN }],
        limits: assay_policy_runtime::Limits::default(),
        version_key: 0,
        task_weights: Default::default(),
    };
    let closer =
        assay_node::Closer { ledger: &ledger, policies: &policies, hotkey: &hotkey, settings: &settings, tally: false };
    let metagraph = generate(Shape { netuid: 1, miners: 8, requests: 200, challenges: 20, seed: 3 }, 0).metagraph;
    let choice = assay_node::ScorerChoice { active: scorer, fallback: None, shadow: None };
    let e = closer.close(0, metagraph, 1, &choice, None).expect_err("refused");
    assert!(e.to_string().contains("parameter rate = NaN"), "{e}");
    assert_eq!(assay_ledger::Ledger::last_closed(&ledger).expect("reads"), None, "nothing was closed");
}
