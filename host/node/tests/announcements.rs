//! The subnet owner's policy announcements on the local chain: `assay policy announce`'s flow
//! (publication, then the commitment with the other world's field kept), and validators
//! following it: an announced scorer fetched by hash, run one epoch in shadow (both outputs
//! published and audited), then swapped in; a challenger swapped at the next boundary; an
//! announcement that cannot be fetched or fails its checks refused while the previous policy
//! keeps running.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assay_chain::{Chain, LocalChain, Neuron};
use assay_epoch::synth::{Shape, generate};
use assay_epoch::{LocalFolder, ObjectStore, audit, keys, sha256_hex};
use assay_keys::{Hotkey, Scheme};
use assay_ledger::{ChallengeRow, Ledger, RequestEntry, RequestRow};
use assay_node::announcement::Announcement;
use assay_node::follow::{ANNOUNCED_SCORER, Outcome, Refusal, Scheduled, challenger_at};
use assay_node::slots::{ACTIVE_CHALLENGER, ACTIVE_SCORER};
use assay_node::{Config, Error, Node, Published, owner};
use assay_policy_runtime::{Digest, PolicyStore, Runtime, World};

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins.sh first", path.display()))
}

/// The same component under another name: a custom section (ignored when run) appended.
fn renamed(mut component: Vec<u8>, payload: &[u8]) -> Vec<u8> {
    let name = b"assay-test";
    component.extend([0u8, (1 + name.len() + payload.len()) as u8, name.len() as u8]);
    component.extend(name);
    component.extend(payload);
    component
}

/// A node folder: a validator wallet, a local chain whose head stays in epoch 0 (1000-second
/// blocks) with an owner registered (uid 8) and marked as the subnet's owner, constantinople
/// active, epochs 0 to 5's synthetic records in the ledger, and the owner's publication folder.
struct Setup {
    dir: tempfile::TempDir,
    config: Config,
    chain: LocalChain,
    owner: Hotkey,
    constantinople: Digest,
}

const SHAPE: Shape = Shape { netuid: 1, miners: 8, requests: 120, challenges: 12, seed: 5 };

fn setup(adjust: impl FnOnce(&mut Config)) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    Hotkey::from_seed(Scheme::Sr25519, [7; 32])
        .expect("key")
        .save(&dir.path().join("wallets/v/hotkeys/h"))
        .expect("saves");
    let owner = Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key");
    let mut metagraph = generate(SHAPE, 0).metagraph;
    metagraph.neurons.push(Neuron {
        uid: 8,
        hotkey: owner.ss58(),
        stake: 0,
        validator_permit: false,
        axon: None,
        registered_at_block: 0,
        capacities: Default::default(),
        coldkey: None,
        last_update: 0,
    });
    metagraph.owner_hotkey = Some(owner.ss58());
    let chain = LocalChain::create(&dir.path().join("chain"), &metagraph, 1000.0).expect("chain");
    let mut config = Config::local(1, Some("wallets".into()), "v", "h");
    config.epoch_blocks = 10;
    config.policy.owner_publication = Some("owner-published".into());
    let policies = PolicyStore::open(dir.path().join("data/policies")).expect("store");
    let constantinople = policies.add(&plugin("constantinople")).expect("adds");
    config.policy.scorer = Some(constantinople.to_string());
    adjust(&mut config);
    let path = dir.path().join("assay.toml");
    config.save(&path).expect("saves");
    let config = Config::load(&path).expect("loads");
    let ledger = assay_ledger::SqliteLedger::open(&config.ledger_path()).expect("ledger");
    for epoch in 0..6 {
        let synth = generate(SHAPE, epoch);
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
        ledger.record_challenges(epoch, &challenges).expect("records");
    }
    Setup { dir, config, chain, owner, constantinople }
}

impl Setup {
    /// A policy runtime sharing the node's compiled cache (compiling in a debug build is slow).
    fn policy_runtime(&self) -> Runtime {
        Runtime::new(Some(&self.config.cache_dir())).expect("runtime")
    }

    fn owner_publication(&self) -> LocalFolder {
        LocalFolder::new(self.dir.path().join("owner-published"))
    }

    fn published(&self) -> LocalFolder {
        LocalFolder::new(self.dir.path().join("published"))
    }

    /// The owner puts `bytes` into its publication (checked as validators will) and announces
    /// them for `world`.
    async fn announce(&self, world: World, bytes: &[u8], from_epoch: Option<u64>) -> Announcement {
        let announcement = Announcement { world, digest: Digest::of(bytes), from_epoch };
        let runtime = self.policy_runtime();
        owner::publish(&self.owner_publication(), &runtime, &announcement, bytes).expect("publishes");
        self.commit(&announcement).await;
        announcement
    }

    /// The owner's commitment names `announcement`, whatever the publication holds.
    async fn commit(&self, announcement: &Announcement) {
        let epochs = self.config.epochs();
        owner::commit(&self.chain, 1, &self.owner.ss58(), None, announcement, epochs).await.expect("commits");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

async fn close(node: &mut Node, epoch: u64) -> Published {
    node.ledger().epoch_seed(epoch, || [1; 32]).expect("starts the epoch");
    node.close_epoch(epoch).await.expect("closes")
}

fn scheduled(outcome: Option<&Outcome>) -> Scheduled {
    match outcome {
        Some(Outcome::Accepted(s)) => s.clone(),
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn the_owner_announces_both_worlds_in_one_commitment_and_keeps_other_fields() {
    let s = setup(|_| {});
    let challenger =
        PolicyStore::open(s.config.policy_dir()).expect("store").add(&plugin("adaptive-challenger")).expect("adds");
    runtime().block_on(async {
        let foreign = vec!["https://owner.example/about".to_string()];
        s.chain.set_commitment(&s.owner.ss58(), 1, &foreign).await.expect("commits");

        let scorer = Announcement { world: World::Scorer, digest: s.constantinople, from_epoch: None };
        let held = owner::announce(&s.config, &s.owner, &scorer).await.expect("announces");
        assert_eq!(held.fields, vec![scorer.field(), foreign[0].clone()]);
        let second = Announcement { world: World::Challenger, digest: challenger, from_epoch: Some(5) };
        owner::announce(&s.config, &s.owner, &second).await.expect("announces");
        let on_chain = s.chain.commitment(1, &s.owner.ss58()).await.expect("reads").expect("held");
        assert_eq!(
            on_chain.fields,
            vec![scorer.field(), second.field(), foreign[0].clone()],
            "scorer first, the rest kept"
        );
        assert_eq!(on_chain.fields[0], format!("assay-policy:scorer:sha256:{}", s.constantinople));
        // Both are in the owner's publication (the config's), as validators will fetch them.
        for digest in [s.constantinople, challenger] {
            assert!(s.published().get(&keys::policy(&digest.to_string())).expect("reads").is_some(), "{digest}");
        }
    });
}

#[test]
fn only_the_owner_announces_and_only_what_validators_can_honour() {
    let s = setup(|_| {});
    runtime().block_on(async {
        let scorer = Announcement { world: World::Scorer, digest: s.constantinople, from_epoch: None };
        let validator = Hotkey::from_seed(Scheme::Sr25519, [7; 32]).expect("key");
        let e = owner::announce(&s.config, &validator, &scorer).await.expect_err("not the owner");
        assert!(matches!(&e, Error::NotOwner { owner: Some(o), .. } if *o == s.owner.ss58()), "{e}");
        assert!(e.is_unusable_input());

        let e = owner::announce(&s.config, &s.owner, &Announcement { from_epoch: Some(1), ..scorer })
            .await
            .expect_err("early");
        assert!(matches!(e, Error::TooEarly { named: 1, earliest: 2, .. }), "{e}");
        owner::announce(&s.config, &s.owner, &Announcement { from_epoch: Some(2), ..scorer }).await.expect("in time");

        let as_challenger = Announcement { world: World::Challenger, ..scorer };
        let e = owner::announce(&s.config, &s.owner, &as_challenger).await.expect_err("wrong world");
        assert!(e.to_string().contains("cannot be announced as a challenger"), "{e}");

        let absent = Announcement { digest: Digest::of(b"nothing"), ..scorer };
        let e = owner::announce(&s.config, &s.owner, &absent).await.expect_err("not stored");
        assert!(e.to_string().contains("assay policy add"), "{e}");

        // Another owner named in the config takes the metagraph's place.
        let mut config = s.config.clone();
        config.policy.owner_hotkey = Some(validator.ss58());
        let e = owner::announce(&config, &s.owner, &scorer).await.expect_err("the config names another owner");
        assert!(matches!(&e, Error::NotOwner { owner: Some(o), .. } if *o == validator.ss58()), "{e}");
    });
    let held = s.chain.commitments_log().expect("log");
    assert_eq!(held.len(), 1, "only the one in time was committed: {held:?}");
}

#[test]
fn an_announced_scorer_runs_one_epoch_in_shadow_then_takes_over() {
    let s = setup(|_| {});
    let second = renamed(plugin("constantinople"), b"the owner's next scorer");
    let store: Arc<dyn ObjectStore> = Arc::new(s.published());
    let rt = runtime();
    let closed = rt.block_on(async {
        let mut node =
            Node::open_with(s.config.clone(), Arc::new(s.chain.clone()), store.clone()).await.expect("opens");
        let announced = s.announce(World::Scorer, &second, None).await;
        let report = node.follow_owner(0).await.expect("reads");
        assert_eq!(report.owner, Some(s.owner.ss58()));
        assert_eq!(scheduled(report.outcome(World::Scorer)).active_from, 2, "announced at epoch 0: shadow at 1");
        let again = node.follow_owner(0).await.expect("reads");
        assert!(matches!(again.outcome(World::Scorer), Some(Outcome::Scheduled(_))), "{again:?}");
        assert!(node.status().get().announcements[0].contains("active from epoch 2"));

        let mut closed = vec![close(&mut node, 0).await, close(&mut node, 1).await, close(&mut node, 2).await];
        let after = node.follow_owner(2).await.expect("reads");
        assert!(matches!(after.outcome(World::Scorer), Some(Outcome::Active)), "{after:?}");
        assert_eq!(node.ledger().setting(ACTIVE_SCORER).expect("reads"), Some(announced.digest.to_string()));
        closed.push(close(&mut node, 3).await);
        closed
    });
    let (old, new) = (s.constantinople.to_string(), Digest::of(&second).to_string());
    let scorers: Vec<(&str, Option<&str>)> = closed
        .iter()
        .map(|p| {
            (
                p.closed.summary.scorer.sha256.as_str(),
                p.closed.summary.shadow.as_ref().map(|sh| sh.scorer.sha256.as_str()),
            )
        })
        .collect();
    assert_eq!(scorers, vec![(&*old, None), (&*old, Some(&*new)), (&*new, None), (&*new, None)]);

    // The shadow epoch: both outputs published, the active one's weights set.
    let shadow = closed[1].closed.summary.shadow.clone().expect("a shadow");
    let bytes = store.get(&shadow.output.key).expect("reads").expect("published");
    assert_eq!(sha256_hex(&bytes), shadow.output.sha256);
    assert!(store.get(&keys::policy(&new)).expect("reads").is_some(), "the shadow scorer is published");
    let log = s.chain.weights_log().expect("log");
    let active: Vec<u16> = closed[1].closed.summary.output.weights.iter().map(|w| w.weight).collect();
    assert_eq!(log[1].call.weights, active, "the active scorer's weights went on chain");
    // The new scorer starts from an empty state, as a scorer other than the previous one does.
    assert_eq!(closed[2].closed.summary.input.state_sha256, sha256_hex(&[]));

    let runtime = s.policy_runtime();
    for p in &closed {
        let report = audit(store.as_ref(), &p.closed.summary_key, &runtime).expect("audits");
        let shadow_checked = report.checked.iter().any(|c| c.starts_with(&format!("shadow scorer {new}: rerun")));
        assert_eq!(shadow_checked, p.closed.summary.epoch == 1, "{:?}", report.checked);
    }
}

#[test]
fn a_changed_shadow_output_fails_the_audit() {
    let s = setup(|_| {});
    let second = renamed(plugin("constantinople"), b"another");
    let store: Arc<dyn ObjectStore> = Arc::new(s.published());
    let closed = runtime().block_on(async {
        let mut node =
            Node::open_with(s.config.clone(), Arc::new(s.chain.clone()), store.clone()).await.expect("opens");
        s.announce(World::Scorer, &second, None).await;
        node.follow_owner(0).await.expect("reads");
        close(&mut node, 0).await;
        close(&mut node, 1).await
    });
    let shadow = closed.closed.summary.shadow.clone().expect("a shadow");
    let text = String::from_utf8(store.get(&shadow.output.key).expect("reads").expect("published")).expect("utf-8");
    let tampered = text.replacen("\"weight\": 65535", "\"weight\": 65534", 1);
    assert_ne!(tampered, text);
    // Tampered on disk: the store itself never replaces a written-once object.
    std::fs::write(s.published().root().join(&shadow.output.key), tampered.as_bytes()).expect("writes");
    let runtime = s.policy_runtime();
    let e = audit(store.as_ref(), &closed.closed.summary_key, &runtime).expect_err("caught");
    assert!(e.to_string().contains("shadow output"), "{e}");
}

/// The refusal of the scorer's announcement in `report`.
fn refused(report: &assay_node::follow::FollowReport) -> &Refusal {
    match report.outcome(World::Scorer) {
        Some(Outcome::Refused(why)) => why,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn announcements_that_cannot_be_fetched_or_fail_their_checks_are_refused_and_the_previous_scorer_runs() {
    let s = setup(|_| {});
    let publication = s.owner_publication();
    let unpublished = renamed(plugin("constantinople"), b"never published");
    let rt = runtime();
    rt.block_on(async {
        let mut node =
            Node::open_with(s.config.clone(), Arc::new(s.chain.clone()), Arc::new(s.published())).await.expect("opens");
        let scorer = |bytes: &[u8]| Announcement { world: World::Scorer, digest: Digest::of(bytes), from_epoch: None };

        s.commit(&scorer(&unpublished)).await;
        let report = node.follow_owner(0).await.expect("reads");
        assert!(matches!(refused(&report), Refusal::NotPublished(_)), "{report:?}");
        assert!(node.status().get().announcements[0].contains("refused: it is not in the owner's publication"));

        let other = renamed(plugin("constantinople"), b"other bytes");
        publication.put(&keys::policy(&Digest::of(&unpublished).to_string()), &other).expect("writes");
        let report = node.follow_owner(0).await.expect("reads");
        let why = refused(&report);
        assert!(matches!(why, Refusal::Check(assay_policy_runtime::Error::DigestMismatch { .. })), "{why}");

        let challenger = plugin("adaptive-challenger");
        publication.put(&keys::policy(&Digest::of(&challenger).to_string()), &challenger).expect("writes");
        s.commit(&scorer(&challenger)).await;
        let report = node.follow_owner(0).await.expect("reads");
        let why = refused(&report);
        assert!(matches!(why, Refusal::Check(assay_policy_runtime::Error::WrongWorld { .. })), "{why}");

        let broken = b"\0asm not a component".to_vec();
        publication.put(&keys::policy(&Digest::of(&broken).to_string()), &broken).expect("writes");
        s.commit(&scorer(&broken)).await;
        let report = node.follow_owner(0).await.expect("reads");
        let why = refused(&report);
        assert!(matches!(why, Refusal::Check(assay_policy_runtime::Error::Decode(_))), "{why}");

        let huge = vec![0u8; (assay_node::follow::MAX_POLICY_BYTES + 1) as usize];
        publication.put(&keys::policy(&Digest::of(&huge).to_string()), &huge).expect("writes");
        s.commit(&scorer(&huge)).await;
        let report = node.follow_owner(0).await.expect("reads");
        let why = refused(&report).to_string();
        assert!(why.contains("larger than"), "{why}");

        // Nothing was scheduled: the previous scorer closes the epoch, with no shadow.
        assert_eq!(node.ledger().setting(ANNOUNCED_SCORER).expect("reads").filter(|v| !v.is_empty()), None);
        let closed = close(&mut node, 0).await.closed;
        assert_eq!(closed.summary.scorer.sha256, s.constantinople.to_string());
        assert!(closed.summary.shadow.is_none());

        // The next epoch reads it again: once published, the first announcement goes through.
        s.commit(&scorer(&unpublished)).await;
        let fixed = keys::policy(&Digest::of(&unpublished).to_string());
        // The owner replaces the wrong bytes by hand (the store never replaces a policy).
        std::fs::remove_file(publication.root().join(&fixed)).expect("removes the wrong bytes");
        publication.put(&fixed, &unpublished).expect("writes");
        let report = node.follow_owner(1).await.expect("reads");
        assert_eq!(scheduled(report.outcome(World::Scorer)).active_from, 2);
    });
}

#[test]
fn an_announced_challenger_takes_over_at_the_next_boundary_without_a_shadow() {
    let challenger = plugin("adaptive-challenger");
    let next = renamed(challenger.clone(), b"the owner's next challenger");
    let s = setup(|c| {
        c.verify = Some(assay_verify::Settings::new("models/unused".into()));
    });
    let policies = PolicyStore::open(s.config.policy_dir()).expect("store");
    let mut config = s.config.clone();
    config.policy.challenger = Some(policies.add(&challenger).expect("adds").to_string());
    runtime().block_on(async {
        let mut node =
            Node::open_with(config, Arc::new(s.chain.clone()), Arc::new(s.published())).await.expect("opens");
        let old = node.challenger(0).expect("epoch 0");
        let announced = s.announce(World::Challenger, &next, None).await;
        let report = node.follow_owner(0).await.expect("reads");
        assert_eq!(scheduled(report.outcome(World::Challenger)).active_from, 1);
        challenger_at(node.ledger().as_ref(), 0).expect("swaps");
        assert_eq!(node.ledger().setting(ACTIVE_CHALLENGER).expect("reads"), Some(announced.digest.to_string()));
        assert_eq!(node.challenger(0).expect("epoch 0"), old, "epoch 0 keeps the challenger it started with");
        assert_eq!(node.challenger(1).expect("epoch 1"), Some(announced.digest.to_string()));
        let closed = close(&mut node, 0).await.closed;
        assert!(closed.summary.shadow.is_none(), "a challenger has no shadow epoch");
    });
}

#[test]
fn an_owner_going_back_to_an_earlier_scorer_starts_it_from_an_empty_state() {
    let s = setup(|_| {});
    let second = renamed(plugin("constantinople"), b"second");
    let store: Arc<dyn ObjectStore> = Arc::new(s.published());
    let closed = runtime().block_on(async {
        let mut node =
            Node::open_with(s.config.clone(), Arc::new(s.chain.clone()), store.clone()).await.expect("opens");
        s.announce(World::Scorer, &second, Some(2)).await;
        node.follow_owner(0).await.expect("reads");
        let mut closed = vec![close(&mut node, 0).await, close(&mut node, 1).await, close(&mut node, 2).await];
        // Epoch 2 ran the second scorer; the owner announces constantinople back (read at 3).
        s.announce(World::Scorer, &plugin("constantinople"), None).await;
        let report = node.follow_owner(3).await.expect("reads");
        assert_eq!(scheduled(report.outcome(World::Scorer)).active_from, 4, "read late: shadow at 3");
        closed.push(close(&mut node, 3).await);
        closed.push(close(&mut node, 4).await);
        closed
    });
    assert_eq!(closed[2].closed.summary.scorer.sha256, Digest::of(&second).to_string());
    let summary = &closed[4].closed.summary;
    assert_eq!(summary.scorer.sha256, s.constantinople.to_string());
    assert_eq!(summary.input.state_sha256, sha256_hex(&[]), "not constantinople's state of epoch 1");
    let shadow = closed[3].closed.summary.shadow.as_ref().map(|sh| sh.scorer.sha256.clone());
    assert_eq!(shadow, Some(s.constantinople.to_string()));
    let runtime = s.policy_runtime();
    for p in &closed {
        audit(store.as_ref(), &p.closed.summary_key, &runtime).expect("audits");
    }
}

#[test]
fn announcing_the_active_scorer_again_withdraws_a_scheduled_swap() {
    let s = setup(|_| {});
    let second = renamed(plugin("constantinople"), b"withdrawn");
    runtime().block_on(async {
        let mut node =
            Node::open_with(s.config.clone(), Arc::new(s.chain.clone()), Arc::new(s.published())).await.expect("opens");
        s.announce(World::Scorer, &second, None).await;
        scheduled(node.follow_owner(0).await.expect("reads").outcome(World::Scorer));
        s.announce(World::Scorer, &plugin("constantinople"), None).await;
        let report = node.follow_owner(0).await.expect("reads");
        assert!(matches!(report.outcome(World::Scorer), Some(Outcome::Active)), "{report:?}");
        assert_eq!(node.ledger().setting(ANNOUNCED_SCORER).expect("reads").as_deref(), Some(""));
        for epoch in 0..3 {
            let summary = close(&mut node, epoch).await.closed.summary;
            assert_eq!((summary.scorer.sha256, summary.shadow), (s.constantinople.to_string(), None));
        }
    });
}

#[test]
fn a_validator_that_does_not_follow_reads_nothing() {
    let s = setup(|c| c.policy.follow_owner = false);
    let second = renamed(plugin("constantinople"), b"ignored");
    runtime().block_on(async {
        let mut node =
            Node::open_with(s.config.clone(), Arc::new(s.chain.clone()), Arc::new(s.published())).await.expect("opens");
        s.announce(World::Scorer, &second, None).await;
        let report = node.follow_owner(0).await.expect("reads");
        assert!(report.outcomes.is_empty() && report.owner.is_none(), "{report:?}");
        assert_eq!(node.status().get().announcements, vec!["not following the owner ([policy] follow_owner = false)"]);
        assert!(close(&mut node, 0).await.closed.summary.shadow.is_none());
    });
}
