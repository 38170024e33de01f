//! The verification loop around one challenge: openings are asked for inside the miner's open
//! window whatever the reference queue, and exchanges recorded after an epoch's last round are
//! still offered to the planner. A reference miner on loopback, the tiny model, no WASM.

use std::time::Instant;

use assay_chain::{Metagraph, Neuron};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{Outcome, RequestEntry, RequestKind, RequestRow, SqliteLedger};
use assay_miner::http::{MinerSettings, MinerState, app};
use assay_reference_engine::tiny::{self, TinySpec};
use serde_json::json;

use super::*;

const UID: u16 = 3;

/// No challenger: every judgement is a validator fault (Void), so the tests read what was
/// measured, not a policy's verdict.
struct NoChallenger;

impl Challengers for NoChallenger {
    fn for_epoch(&self, _: u64) -> Result<Challenger, String> {
        Err("no challenger in this test".into())
    }
}

struct Loop {
    dir: tempfile::TempDir,
    verifier: Verifier,
    ledger: Arc<SqliteLedger>,
    miner: Miner,
}

impl Loop {
    /// A verifier with one worker, and a reference miner that keeps commitments `window` long.
    async fn start(window: Duration) -> Self {
        Self::start_with(window, |_| {}).await
    }

    /// As [`Loop::start`], with the verifier's settings changed by `tune`.
    async fn start_with(window: Duration, tune: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("model");
        tiny::write(&model, &TinySpec::default(), None).expect("tiny model");
        let miner_key = Hotkey::from_seed(Scheme::Sr25519, [5; 32]).expect("key");
        let miner_hotkey = miner_key.ss58();
        let state = MinerState::new(
            Engine::load(&model).expect("engine"),
            ChatTokenizer::load(&model).expect("tokenizer"),
            miner_key,
            MinerSettings { open_window: window, ..MinerSettings::default() },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app(state)).await });
        let ledger = Arc::new(SqliteLedger::open(&dir.path().join("ledger.sqlite")).expect("ledger"));
        let neuron = Neuron {
            uid: UID,
            hotkey: miner_hotkey.clone(),
            stake: 0,
            axon: Some(base_url.clone()),
            registered_at_block: 0,
            coldkey: None,
            last_update: 0,
            capacities: Default::default(),
            validator_permit: false,
        };
        let metagraph = Arc::new(Metagraph { netuid: 1, neurons: vec![neuron], owner_hotkey: None });
        let mut settings = Settings::new(model.clone());
        settings.workers = 1;
        tune(&mut settings);
        let verifier = Verifier::new(Parts {
            settings,
            engine: Engine::load(&model).expect("engine"),
            tokenizer: ChatTokenizer::load(&model).expect("tokenizer"),
            challengers: Arc::new(NoChallenger),
            limits: Limits::default(),
            params: Vec::new(),
            client: MinerClient::new(
                Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key"),
                Duration::from_secs(10),
                assay_miner_client::Settings { allow_private_axons: true, ..Default::default() },
            )
            .expect("client"),
            ledger: ledger.clone(),
            view: ChainView::fixed(0, metagraph, Instant::now()),
            epochs: Epochs::new(100).expect("epochs"),
        });
        Self { dir, verifier, ledger, miner: Miner { base_url, hotkey: miner_hotkey } }
    }

    /// An honest exchange with the miner, as the gateway would record it.
    async fn exchange(&self, id: u64) -> Exchange {
        let body = json!({
            "model": "assay-tiny",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8,
            "assay": {"request_id": format!("r-{id}"), "nonce": "00".repeat(16), "commit": true},
        });
        let path = "/v1/chat/completions";
        let completion = self.verifier.inner.client.complete(&self.miner, path, &body).await;
        assert!(completion.evidence.is_some(), "the miner sent evidence: {:?}", completion.evidence_error);
        Exchange {
            id,
            uid: UID,
            miner_hotkey: self.miner.hotkey.clone(),
            path: path.into(),
            request: body.to_string(),
            evidence: Some(completion.last.to_string()),
        }
    }

    fn record(&self, epoch: u64, exchange: Exchange) {
        let row = RequestRow {
            id: exchange.id,
            uid: UID,
            kind: RequestKind::Synthetic,
            outcome: Outcome::Ok,
            greedy: true,
            prompt_tokens: 10,
            completion_tokens: 8,
            ttft_ms: 1.0,
            total_ms: 2.0,
            reported_ttft_ms: None,
            reported_tps: None,
            quality: None,
            started_ms: 0,
        };
        let entry = RequestEntry { task: "chat".into(), record: row, values: Vec::new(), content: None };
        self.ledger.record_traffic(epoch, &[(entry, Some(exchange))]).expect("records");
    }

    /// What a round would offer in `epoch`, marked offered as a round that planned does.
    fn offer(&self, epoch: u64) -> Vec<u64> {
        let offer = self.verifier.gather(epoch).expect("gathers");
        *self.verifier.inner.offered.lock().expect("lock") = offer.reached;
        let mut ids: Vec<u64> = offer.fresh.iter().map(|x| x.id).collect();
        ids.sort_unstable();
        ids
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openings_are_asked_for_before_the_reference_queue() {
    let window = Duration::from_secs(2);
    let lab = Loop::start(window).await;
    let exchange = lab.exchange(11).await;
    // The one worker is busy for longer than the miner keeps its commitment.
    let busy = lab.verifier.inner.workers.clone().acquire_owned().await.expect("permit");
    let verifier = lab.verifier.clone();
    let miner = lab.miner.clone();
    let challenge = tokio::spawn(async move { verifier.challenge(exchange, miner, vec![[1, 0], [2, 3]], true).await });
    tokio::time::sleep(window + Duration::from_secs(1)).await;
    drop(busy);
    challenge.await.expect("the challenge ran");
    let rows = lab.ledger.challenges(0).expect("challenges");
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Measured points mean the opening verified; a missed one is judged unmeasured.
    assert_eq!(rows[0].points.len(), 2, "the honest miner's opening was not measured: {:?}", rows[0]);
    assert!(rows[0].points.iter().all(|p| p.rel_l2 < 1e-3), "{:?}", rows[0].points);
    // Its completion tokens were measured and kept beside the verdict, by request id.
    let checks = lab.ledger.token_checks(0).expect("token checks");
    let tokens = checks.get(&11).expect("the challenged request's token check");
    assert!((1..=8).contains(&tokens.len()), "one per completion token: {tokens:?}");
    assert!(tokens.iter().all(|t| t.logprob <= t.top_logprob + 1e-9), "{tokens:?}");
    drop(lab.dir);
}

/// A token-only check: one reference pass, the tokens recorded, no opening and no verdict (so
/// it can fail no one); the share of requests that get one is a checked setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_only_check_records_tokens_and_no_verdict() {
    let lab = Loop::start(Duration::from_secs(60)).await;
    let exchange = lab.exchange(21).await;
    lab.verifier.token_check(exchange, true).await;
    let checks = lab.ledger.token_checks(0).expect("token checks");
    assert!(checks.get(&21).is_some_and(|t| !t.is_empty()), "{checks:?}");
    assert!(lab.ledger.challenges(0).expect("challenges").is_empty(), "a token check is no challenge");
    let mut settings = Settings::new("m".into());
    settings.token_check_share = 1.5;
    assert_eq!(settings.check().map_err(|(key, _)| key), Err("token_check_share".to_string()));
    drop(lab.dir);
}

/// A full queue skips a token check, except one a policy needs (the validator's own greedy
/// traffic, which cacheon's gate reads): that one waits for a place, so the validator's queue
/// never leaves a miner without the check it is judged on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_needed_token_check_waits_for_the_queue_and_others_are_skipped() {
    let lab = Loop::start_with(Duration::from_secs(60), |s| {
        s.max_pending = 1;
        s.token_check_share = 1.0;
    })
    .await;
    let honest = lab.exchange(31).await;
    let exchanges: HashMap<u64, Exchange> = [31, 32, 33].map(|id| (id, Exchange { id, ..honest.clone() })).into();
    let greedy: HashSet<u64> = exchanges.keys().copied().collect();
    let needed: HashSet<u64> = [31, 32].into();
    // The queue's one place is taken while the round starts its checks.
    let busy = lab.verifier.inner.pending.clone().acquire_owned().await.expect("permit");
    let mut tasks = tokio::task::JoinSet::new();
    lab.verifier.start_token_checks(&HashSet::new(), &exchanges, &greedy, &needed, &mut tasks);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(busy);
    while tasks.join_next().await.is_some() {}
    let checks = lab.ledger.token_checks(0).expect("token checks");
    let mut checked: Vec<u64> = checks.keys().copied().collect();
    checked.sort_unstable();
    assert_eq!(checked, vec![31, 32], "the needed checks ran once the queue had room, the other was skipped");
    drop(lab.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_of_an_epoch_is_offered_in_the_next() {
    let lab = Loop::start(Duration::from_secs(60)).await;
    let honest = lab.exchange(1).await;
    let copy = |id| Exchange { id, ..honest.clone() };
    lab.record(0, copy(1));
    assert_eq!(lab.offer(0), vec![1]);
    // Recorded after epoch 0's last round, then epoch 1 begins.
    lab.record(0, copy(2));
    lab.record(1, copy(3));
    assert_eq!(lab.offer(1), vec![2, 3], "epoch 0's tail must be offered once epoch 1 begins");
    assert_eq!(lab.offer(1), Vec::<u64>::new(), "each exchange is offered once");
    lab.record(1, copy(4));
    assert_eq!(lab.offer(1), vec![4]);
    // A recorder that read its epoch just before the boundary writes into epoch 0 after epoch
    // 1's first round: it is offered at the next one, while epoch 0 is not closed.
    lab.record(0, copy(6));
    assert_eq!(lab.offer(1), vec![6], "a late write into the previous epoch must be offered");
    lab.ledger.epoch_seed(0, || [1; 32]).expect("seed");
    lab.ledger.freeze_epoch(0).expect("freezes");
    lab.ledger.close_epoch(&closing(0)).expect("closes");
    assert_eq!(lab.offer(1), Vec::<u64>::new(), "a closed epoch is read a last time, then no more");
    // Two epochs on, nothing of epoch 1 is left behind either.
    lab.record(1, copy(5));
    assert_eq!(lab.offer(2), vec![5]);
}

fn closing(epoch: u64) -> assay_ledger::Closing {
    assay_ledger::Closing {
        epoch,
        summary_sha256: "00".repeat(32),
        scorer: "scorer".into(),
        state: Vec::new(),
        objects: Vec::new(),
        weights: None,
        head: 0,
    }
}

/// With `model_id`, only requests naming that model are offered: a miner serving another
/// task's model is never measured against this reference.
#[test]
fn only_the_reference_models_requests_are_verified() {
    let exchange = |model: &str| Exchange {
        id: 1,
        uid: UID,
        miner_hotkey: "5Miner".into(),
        path: "/v1/chat/completions".into(),
        request: json!({"model": model, "messages": []}).to_string(),
        evidence: None,
    };
    assert_eq!(model_of(&exchange("assay-tiny")), Some("assay-tiny"));
    assert_eq!(model_of(&exchange("other")), Some("other"));
    let unreadable = Exchange { request: "not json".into(), ..exchange("x") };
    assert_eq!(model_of(&unreadable), None, "an unreadable body is not this reference's to judge");
}
