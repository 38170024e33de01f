//! The real-runtime tier: a real subtensor runtime (spec 218) run offline by chopsticks, seeded
//! with a subnet. Skipped, saying why, where node, the install (scripts/chopsticks.sh install)
//! or the chain spec is missing; the test command installs it and requires it
//! (`ASSAY_REQUIRE_CHOPSTICKS=1`).

mod chopsticks_harness;

use std::sync::Arc;
use std::time::Duration;

use assay_chain::{Axon, Chain, WeightsCall};
use assay_subtensor::{Network, SubtensorChain, Timeouts};
use chopsticks_harness::{BlockBuilder, Chopsticks, SubnetSeed, neurons_lite};
use subxt::dynamic;

const NETUID: u16 = 2;

/// A chain with `seed` written at its head (no block built on it yet).
async fn seeded(seed: &SubnetSeed) -> Option<Chopsticks> {
    let chain = Chopsticks::start().await?;
    let head = chain.head().await;
    chain.set_storage(&seed.storage(head)).await;
    Some(chain)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seeded_subnet_reads_back_through_the_runtime() {
    let seed = SubnetSeed::new(NETUID, 2, 3);
    let Some(chain) = seeded(&seed).await else { return };

    // At the seeded head, before any block runs the runtime's epoch.
    let neurons = neurons_lite(&chain, NETUID).await;
    assert_eq!(neurons.len(), 5);
    for (uid, (got, want)) in neurons.iter().zip(&seed.neurons).enumerate() {
        assert_eq!(got.uid.0 as usize, uid);
        assert_eq!(got.netuid.0, NETUID);
        assert_eq!(got.hotkey, want.hotkey.public().bytes, "uid {uid}'s hotkey");
        assert_eq!(assay_keys::encode_ss58(&got.coldkey), want.coldkey, "uid {uid}'s coldkey");
        assert_eq!(got.total_stake(), want.stake, "uid {uid}'s stake");
        assert_eq!(got.validator_permit, want.validator_permit, "uid {uid}'s permit");
        assert_eq!(got.axon_info.ip, 0, "no axon served yet");
    }
    // This runtime's epoch (a rao devnet build: `epoch_mock`) runs at every block and gives
    // every uid a permit; registrations and stake stay as seeded.
    chain.new_blocks(1).await;
    let after = neurons_lite(&chain, NETUID).await;
    assert!(after.iter().all(|n| n.validator_permit), "every uid holds a permit after a block");
    let stakes =
        |ns: &[chopsticks_harness::NeuronInfoLite]| ns.iter().map(|n| (n.hotkey, n.total_stake())).collect::<Vec<_>>();
    assert_eq!(stakes(&after), stakes(&neurons));

    // Genesis' own subnet is untouched, and a subnet nobody created has no neurons.
    assert_eq!(neurons_lite(&chain, 1).await.len(), 1);
    assert!(neurons_lite(&chain, 9).await.is_empty());

    // The same state through subxt's dynamic storage reads (the backend's client), on the
    // metadata the node serves.
    let at = chain.subxt().await.at_current_block().await.expect("head");
    let tempo = at
        .storage()
        .fetch(dynamic::storage::<(u16,), u16>("SubtensorModule", "Tempo"), (NETUID,))
        .await
        .expect("reads Tempo")
        .decode()
        .expect("a u16");
    assert_eq!(tempo, seed.tempo);
    let owner = at
        .storage()
        .fetch(dynamic::storage::<(u16,), [u8; 32]>("SubtensorModule", "SubnetOwnerHotkey"), (NETUID,))
        .await
        .expect("reads SubnetOwnerHotkey")
        .decode()
        .expect("an account");
    assert_eq!(owner, seed.hotkey(seed.owner).public().bytes);
}

/// The backend under test, signing as `hotkey`, with short timeouts (a chain on loopback).
async fn backend(chain: &Chopsticks, hotkey: Option<assay_keys::Hotkey>) -> SubtensorChain {
    let timeouts = Timeouts {
        connect: Duration::from_secs(20),
        request: Duration::from_secs(20),
        inclusion: Duration::from_secs(30),
    };
    SubtensorChain::connect(&Network::Url(chain.url()), hotkey, timeouts).await.expect("the backend connects")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backend_reads_the_metagraph_serves_axons_and_commits() {
    let seed = SubnetSeed::new(NETUID, 2, 3);
    let Some(chain) = seeded(&seed).await else { return };
    let chain = Arc::new(chain);

    // The metagraph through get_neurons_lite (spec 218 has no get_metagraph), against the
    // runtime's own answer read by the harness, at the seeded head.
    let reader = backend(&chain, None).await;
    let metagraph = reader.metagraph(NETUID).await.expect("reads the metagraph");
    let lite = neurons_lite(&chain, NETUID).await;
    assert_eq!(metagraph.netuid, NETUID);
    assert_eq!(metagraph.owner_hotkey.as_deref(), Some(seed.hotkey(seed.owner).ss58().as_str()));
    assert_eq!(metagraph.neurons.len(), lite.len());
    for (got, runtime) in metagraph.neurons.iter().zip(&lite) {
        assert_eq!(got.uid, runtime.uid.0);
        assert_eq!(got.hotkey, assay_keys::encode_ss58(&runtime.hotkey));
        assert_eq!(got.coldkey.as_deref(), Some(assay_keys::encode_ss58(&runtime.coldkey).as_str()));
        assert_eq!(got.stake, runtime.total_stake());
        assert_eq!(got.validator_permit, runtime.validator_permit);
        assert_eq!(got.axon, None);
    }
    assert_eq!(metagraph.neurons.iter().filter(|n| n.validator_permit).count(), 2, "as seeded");
    assert_eq!(reader.current_block().await.expect("head"), chain.head().await);

    let _blocks = BlockBuilder::start(chain.clone(), None);
    // A miner announces its axon; the metagraph shows it, and so does the runtime.
    let miner = seed.hotkey(3).clone();
    let axon = Axon { ip: "127.0.0.2".parse().expect("ip"), port: 8091, protocol: 4 };
    let served_at = backend(&chain, Some(miner.clone())).await.serve_axon(&miner.ss58(), NETUID, &axon).await;
    let served_at = served_at.expect("serve_axon is in a block");
    let metagraph = reader.metagraph(NETUID).await.expect("reads the metagraph");
    assert_eq!(metagraph.neurons[3].axon.as_deref(), Some("http://127.0.0.2:8091"));
    assert!(metagraph.neurons.iter().filter(|n| n.uid != 3).all(|n| n.axon.is_none()));
    let runtime_axon = &neurons_lite(&chain, NETUID).await[3].axon_info;
    assert_eq!((runtime_axon.ip, runtime_axon.port, runtime_axon.ip_type), (0x7f00_0002, 8091, 4));
    assert_eq!(runtime_axon.block, served_at);

    // The runtime's own refusal comes back named: 127.0.0.1 is not an address it takes.
    let localhost = Axon { ip: "127.0.0.1".parse().expect("ip"), ..axon.clone() };
    let refused = backend(&chain, Some(miner.clone())).await.serve_axon(&miner.ss58(), NETUID, &localhost).await;
    let refused = refused.expect_err("the runtime refuses 127.0.0.1");
    assert!(refused.to_string().contains("InvalidIpAddress"), "{refused}");

    // The owner's commitment reads back, field for field, with the block that took it.
    let owner = seed.hotkey(seed.owner).clone();
    let as_owner = backend(&chain, Some(owner.clone())).await;
    let fields = vec![format!("assay-policy:scorer:sha256:{}", "ab".repeat(32))];
    let committed_at = as_owner.set_commitment(&owner.ss58(), NETUID, &fields).await;
    let committed_at = committed_at.expect("set_commitment is in a block");
    let held = reader.commitment(NETUID, &owner.ss58()).await.expect("reads").expect("a commitment");
    assert_eq!(held.fields, fields);
    assert_eq!(held.block, committed_at);
    assert_eq!(reader.commitment(NETUID, &miner.ss58()).await.expect("reads"), None);
    // This runtime takes one field per commitment (finney three): a second is refused by name
    // before signing (the runtime itself could not decode it, and would panic).
    let two = vec!["a".to_string(), "b".to_string()];
    let e = as_owner.set_commitment(&owner.ss58(), NETUID, &two).await.expect_err("one field at most");
    assert!(matches!(e, assay_chain::Error::BadCommitment(_)), "{e}");
    assert!(e.to_string().contains("Commitments.MaxFields"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hotkey_that_is_not_registered_gets_the_clear_error() {
    let seed = SubnetSeed::new(NETUID, 1, 1);
    let Some(chain) = seeded(&seed).await else { return };
    let stranger = chopsticks_harness::key(0x77, 0);
    let as_stranger = backend(&chain, Some(stranger.clone())).await;
    let axon = Axon { ip: "127.0.0.2".parse().expect("ip"), port: 8091, protocol: 4 };
    let not_registered = |e: assay_chain::Error| {
        let message = e.to_string();
        assert!(matches!(e, assay_chain::Error::NotRegistered { netuid: NETUID, .. }), "{message}");
        assert_eq!(message, format!("hotkey {} is not registered on subnet {NETUID}", stranger.ss58()));
    };
    not_registered(as_stranger.serve_axon(&stranger.ss58(), NETUID, &axon).await.expect_err("refused"));
    not_registered(as_stranger.set_commitment(&stranger.ss58(), NETUID, &["x".into()]).await.expect_err("refused"));
    let call = WeightsCall { netuid: NETUID, uids: vec![0, 1], weights: vec![1, 1], version_key: 0 };
    not_registered(as_stranger.set_weights(&stranger.ss58(), &call).await.expect_err("refused"));
    // Refused before anything was signed: nothing waits for a block.
    assert_eq!(chain.pending_extrinsics().await, 0);
    // A registered hotkey that is not this client's key cannot be signed for.
    let other = seed.hotkey(0).ss58();
    let e = as_stranger.serve_axon(&other, NETUID, &axon).await.expect_err("cannot sign");
    assert!(matches!(e, assay_chain::Error::CannotSign { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn set_weights_leaves_them_in_the_chains_weights_storage() {
    let mut seed = SubnetSeed::new(NETUID, 2, 3);
    seed.weights_rate_limit = 1000;
    let Some(chain) = seeded(&seed).await else { return };
    let chain = Arc::new(chain);
    let _blocks = BlockBuilder::start(chain.clone(), None);
    let validator = seed.hotkey(1).clone();
    let client = backend(&chain, Some(validator.clone())).await;

    // What the policy hands over (u16 shares); the chain holds the SDK's normalization of it:
    // max-upscaled to 65535, zeros left out.
    let call = WeightsCall { netuid: NETUID, uids: vec![2, 3, 4], weights: vec![30_000, 15_000, 0], version_key: 0 };
    let since = chain.head().await;
    assert_eq!(client.weights_accepted_since(&validator.ss58(), &call, since).await.expect("reads"), None);
    let at = client.set_weights(&validator.ss58(), &call).await.expect("set_weights is in a block");

    let held = chain
        .subxt()
        .await
        .at_current_block()
        .await
        .expect("head")
        .storage()
        .fetch(dynamic::storage::<(u16, u16), Vec<(u16, u16)>>("SubtensorModule", "Weights"), (NETUID, 1))
        .await
        .expect("reads Weights")
        .decode()
        .expect("(uid, weight) pairs");
    assert_eq!(held, vec![(2, 65535), (3, 32768)]);
    assert_eq!(client.weights_accepted_since(&validator.ss58(), &call, since).await.expect("reads"), Some(at));
    let other = WeightsCall { weights: vec![30_000, 15_000, 1], ..call.clone() };
    assert_eq!(client.weights_accepted_since(&validator.ss58(), &other, since).await.expect("reads"), None);
    let metagraph = client.metagraph(NETUID).await.expect("reads");
    assert_eq!(metagraph.neurons[1].last_update, at, "the chain noted the validator's update");

    // The subnet's rate limit, read from the chain, refuses a second set before signing.
    let e = client.set_weights(&validator.ss58(), &other).await.expect_err("too soon");
    assert!(
        matches!(e, assay_chain::Error::RateLimited { last_update, rate_limit: 1000, retry_at_block } if last_update == at && retry_at_block == at + 1000),
        "{e}"
    );
    // Past it, the runtime's own checks run: a uid it does not have is its refusal, named.
    chain.jump_to(at + 1000).await;
    let unknown = WeightsCall { uids: vec![2, 4000], weights: vec![1, 1], ..call.clone() };
    let e = client.set_weights(&validator.ss58(), &unknown).await.expect_err("the runtime refuses");
    assert!(matches!(e, assay_chain::Error::Dispatch { .. }), "{e}");
    assert!(e.to_string().contains("SubtensorModule"), "{e}");
}
