//! The real-runtime tier: a real subtensor runtime (spec 218) run offline by chopsticks, seeded
//! with a subnet. Skipped, saying why, where node, the install (scripts/chopsticks.sh install)
//! or the chain spec is missing; the test command installs it and requires it
//! (`ASSAY_REQUIRE_CHOPSTICKS=1`).

mod chopsticks_harness;

use chopsticks_harness::{Chopsticks, SubnetSeed, neurons_lite};
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
