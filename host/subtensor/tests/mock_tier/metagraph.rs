//! The metagraph through `get_metagraph`, and through `get_neurons_lite` on a runtime without it.

use assay_chain::{Chain, Epochs, Error, Metagraph};
use serde_json::Value;
use subxt::ext::codec::{Decode, Encode};
use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};

use crate::node::{METADATA, MockNode, fixtures, ss58};

/// Checks what every path reads the same way: uids, hotkeys, coldkeys, permits, axons, last
/// update, the owner.
fn check_common(m: &Metagraph, f: &Value) {
    let neurons = f["neurons"].as_array().expect("neurons");
    assert_eq!(m.netuid, 3);
    assert_eq!(m.neurons.len(), neurons.len());
    for (n, want) in m.neurons.iter().zip(neurons) {
        let uid = want["uid"].as_u64().expect("uid");
        assert_eq!(u64::from(n.uid), uid);
        assert_eq!(n.hotkey, ss58(f, want["key"].as_str().expect("key")));
        let coldkey: [u8; 32] = crate::node::hex_bytes(&f["coldkeys"][uid as usize]).try_into().expect("32 bytes");
        assert_eq!(n.coldkey.as_deref(), Some(assay_keys::encode_ss58(&coldkey).as_str()));
        assert_eq!(n.validator_permit, want["validator_permit"].as_bool().expect("permit"));
        assert_eq!(n.last_update, want["last_update"].as_u64().expect("last update"));
    }
    let axons: Vec<Option<&str>> = m.neurons.iter().map(|n| n.axon.as_deref()).collect();
    assert_eq!(axons, [None, Some("http://10.0.0.1:8091"), Some("http://[2001:db8::1]:8092"), None]);
    assert_eq!(m.owner_hotkey.as_deref(), Some(ss58(f, "owner").as_str()));
}

#[tokio::test]
async fn metagraph_in_one_call_through_get_metagraph() {
    let f = fixtures();
    let node = MockNode::new(&[]);
    let chain = node.chain(None).await;
    let m = chain.metagraph(3).await.expect("reads the metagraph");
    check_common(&m, &f);
    let stakes: Vec<u64> = m.neurons.iter().map(|n| n.stake).collect();
    let want: Vec<u64> =
        f["neurons"].as_array().expect("neurons").iter().map(|n| n["stake"].as_u64().expect("stake")).collect();
    assert_eq!(stakes, want, "total stake");
    let registered: Vec<u64> = m.neurons.iter().map(|n| n.registered_at_block).collect();
    assert_eq!(registered, [100, 110, 120, 130]);
    assert!(matches!(chain.metagraph(4).await, Err(Error::NoSuchSubnet { netuid: 4 })));
    assert_eq!(chain.current_block().await.expect("head"), 1000);
}

/// The finney metadata without `SubnetInfoRuntimeApi.get_metagraph`, as older runtimes are.
fn metadata_without_get_metagraph() -> Vec<u8> {
    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &METADATA[..]).expect("decodes");
    let RuntimeMetadata::V16(m) = &mut prefixed.1 else { panic!("finney's metadata is V16") };
    let api = m.apis.iter_mut().find(|a| a.name == "SubnetInfoRuntimeApi").expect("the API");
    let before = api.methods.len();
    api.methods.retain(|method| method.name != "get_metagraph");
    assert_eq!(api.methods.len(), before - 1);
    prefixed.encode()
}

#[tokio::test]
async fn metagraph_through_neurons_lite_where_the_runtime_lacks_get_metagraph() {
    let f = fixtures();
    let node = MockNode::new(&["owner_hotkey"]).with_metadata(metadata_without_get_metagraph());
    let chain = node.chain(None).await;
    let m = chain.metagraph(3).await.expect("reads the metagraph");
    check_common(&m, &f);
    // NeuronInfoLite's stake is the (coldkey, stake) list, summed.
    let stakes: Vec<u64> = m.neurons.iter().map(|n| n.stake).collect();
    let want: Vec<u64> =
        f["neurons"].as_array().expect("neurons").iter().map(|n| n["stake"].as_u64().expect("stake")).collect();
    assert_eq!(stakes, want);
    assert!(m.neurons.iter().all(|n| n.registered_at_block == 0), "neurons_lite has no registration block");
}

#[tokio::test]
async fn epochs_follow_the_subnet_tempo() {
    let node = MockNode::new(&["tempo", "blocks_since_last_step"]);
    let chain = node.chain(None).await;
    // Tempo 99 on subnet 3: the step ran at block 995 (5 blocks before the head, 1000), so
    // epochs of 100 blocks start at 996, 1096…
    let epochs = chain.epochs(3).await.expect("reads").expect("a schedule");
    assert_eq!(epochs, Epochs::starting_at(100, 996).expect("positive"));
    assert_eq!(epochs.block_range(epochs.of_block(1000)), (996, 1095));
}
