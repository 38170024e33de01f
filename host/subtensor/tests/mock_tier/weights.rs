//! Weights: the call set_weights submits, the refusals before signing, the pallet's refusal, the
//! commit-reveal path, and whether the chain already holds a call.

use assay_chain::{Chain, Error, WeightsCall};

use crate::extrinsics::{self, arg, assert_call};
use crate::node::{MockNode, fixtures, hotkey, ss58};

/// A subnet where the validator may set weights now, commit-reveal off.
const READY: &[&str] =
    &["uids_validator", "validator_permit", "weights_rate_limit", "last_update", "weights_version_key", "cr_disabled"];

/// The policy's weights as the node queues them; the config's version key (1) is not the
/// subnet's (1000).
fn policy_call() -> WeightsCall {
    WeightsCall { netuid: 3, uids: vec![1, 2, 3], weights: vec![30000, 60000, 0], version_key: 1 }
}

#[tokio::test]
async fn set_weights_submits_what_the_sdk_would() {
    let f = fixtures();
    let node = MockNode::new(READY);
    let validator = hotkey(&f, "validator");
    let chain = node.chain(Some(validator.clone())).await;
    let block = chain.set_weights(&validator.ss58(), &policy_call()).await.expect("accepted");
    assert_eq!(block, 1001, "the block the extrinsic went into");
    let submitted = node.submitted.lock().expect("lock").clone();
    assert_eq!(submitted.len(), 1);
    // Normalized as the SDK's `normalize` does, with the chain's version key.
    assert_eq!(f["normalize"]["out_uids"], serde_json::json!([1, 2]));
    assert_call(&submitted[0], &extrinsics::expected(&f, "set_weights"), &validator.public().bytes);
}

#[tokio::test]
async fn the_sdk_encodes_the_facts_vector() {
    let f = fixtures();
    assert_eq!(f["calls"]["facts_set_weights"]["hex"], "0x070002000c0000010002000c6400c800ffffe803000000000000");
    let call = extrinsics::expected(&f, "facts_set_weights");
    assert_eq!((call.pallet.as_str(), call.call.as_str()), ("SubtensorModule", "set_weights"));
}

#[tokio::test]
async fn refusals_come_before_anything_is_signed() {
    let f = fixtures();
    let validator = hotkey(&f, "validator");
    let call = policy_call();
    // Each variant overrides one entry of READY.
    let refused = |extra: &'static str| {
        let mut items = READY.to_vec();
        items.push(extra);
        items
    };

    let node = MockNode::new(&refused("last_update_recent"));
    let e =
        node.chain(Some(validator.clone())).await.set_weights(&validator.ss58(), &call).await.expect_err("too soon");
    assert!(matches!(e, Error::RateLimited { last_update: 950, rate_limit: 100, retry_at_block: 1050 }), "{e}");
    assert!(node.submitted.lock().expect("lock").is_empty());

    let node = MockNode::new(&refused("validator_permit_none"));
    let e =
        node.chain(Some(validator.clone())).await.set_weights(&validator.ss58(), &call).await.expect_err("no permit");
    assert!(matches!(e, Error::NoValidatorPermit { netuid: 3, .. }), "{e}");
    assert!(node.submitted.lock().expect("lock").is_empty());

    let stranger = hotkey(&f, "stranger");
    let node = MockNode::new(&refused("uids_stranger"));
    let e = node.chain(Some(stranger.clone())).await.set_weights(&stranger.ss58(), &call).await.expect_err("unknown");
    assert!(matches!(e, Error::NotRegistered { netuid: 3, .. }), "{e}");

    let read_only = node.chain(None).await;
    let e = read_only.set_weights(&validator.ss58(), &call).await.expect_err("no key");
    assert!(matches!(e, Error::CannotSign { .. }), "{e}");
    let e = node.chain(Some(stranger)).await.set_weights(&validator.ss58(), &call).await.expect_err("another key");
    assert!(matches!(e, Error::CannotSign { .. }), "{e}");
    let zeros = WeightsCall { weights: vec![0, 0, 0], ..call.clone() };
    let e =
        node.chain(Some(validator.clone())).await.set_weights(&validator.ss58(), &zeros).await.expect_err("nothing");
    assert!(matches!(e, Error::Refused(_)), "{e}");
    assert!(node.submitted.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_refusing_pallet_is_named() {
    let f = fixtures();
    let validator = hotkey(&f, "validator");
    let node = MockNode::new(READY);
    node.set_events("setting_weights_too_fast");
    let e = node
        .chain(Some(validator.clone()))
        .await
        .set_weights(&validator.ss58(), &policy_call())
        .await
        .expect_err("refused");
    match e {
        Error::Dispatch { pallet, error, .. } => {
            assert_eq!((pallet.as_str(), error.as_str()), ("SubtensorModule", "SettingWeightsTooFast"))
        }
        other => panic!("a dispatch error, got {other}"),
    }
}

#[tokio::test]
async fn weights_held_on_chain_are_found() {
    let f = fixtures();
    let validator = ss58(&f, "validator");
    let mut items = READY.to_vec();
    items.push("weights_validator");
    let node = MockNode::new(&items);
    let chain = node.chain(None).await;
    let call = policy_call();
    // LastUpdate of the validator (uid 0) is block 880; Weights hold the normalized call.
    assert_eq!(chain.weights_accepted_since(&validator, &call, 850).await.expect("reads"), Some(880));
    assert_eq!(chain.weights_accepted_since(&validator, &call, 881).await.expect("reads"), None, "set before");
    let other = WeightsCall { weights: vec![30000, 60000, 60000], ..call.clone() };
    assert_eq!(chain.weights_accepted_since(&validator, &other, 850).await.expect("reads"), None, "other weights");
    let stranger = ss58(&f, "stranger");
    let node = MockNode::new(&["uids_stranger", "last_update"]);
    assert_eq!(node.chain(None).await.weights_accepted_since(&stranger, &call, 0).await.expect("reads"), None);
}

#[tokio::test]
async fn a_timelocked_commit_counts_as_accepted() {
    let f = fixtures();
    let validator = ss58(&f, "validator");
    // No plain weights held; a timelocked commit from the validator at block 995.
    let node = MockNode::new(&["uids_validator", "last_update_at_commit", "cr_enabled", "tempo", "timelocked_commits"]);
    let chain = node.chain(None).await;
    assert_eq!(chain.weights_accepted_since(&validator, &policy_call(), 990).await.expect("reads"), Some(995));
    assert_eq!(chain.weights_accepted_since(&validator, &policy_call(), 996).await.expect("reads"), None);
}

/// drand quicknet's signature of round 1000 (FACTS.md).
const ROUND_1000_SIGNATURE: &str =
    "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

#[tokio::test]
async fn commit_reveal_commits_timelocked_weights_that_decrypt_at_the_reveal_round() {
    let f = fixtures();
    let validator = hotkey(&f, "validator");
    let mut items = READY.to_vec();
    items.retain(|i| *i != "cr_disabled");
    items.extend(["cr_enabled", "cr_version", "tempo", "reveal_period", "blocks_since_last_step"]);
    let node = MockNode::new(&items);
    // Subnet 3, tempo 99, head 1000: a commit in block 1001 is stored under epoch 10 and
    // revealed in the first block of epoch 11, 1096 (FACTS.md's formula for runtimes before the
    // stateful scheduler, as spec 365 is); 3 blocks of margin make 99 blocks of 12 s (the
    // fixture's AuraApi slot duration). This clock puts that moment at drand round 1000.
    const NOW: f64 = (assay_subtensor::DRAND_QUICKNET_GENESIS_UNIX_S + 3000 - 99 * 12) as f64;
    let chain = node.chain(Some(validator.clone())).await.with_clock(|| NOW);
    chain.set_weights(&validator.ss58(), &policy_call()).await.expect("committed");
    let submitted = node.submitted.lock().expect("lock").clone();
    assert_eq!(submitted.len(), 1);
    let call = extrinsics::decode(&submitted[0]);
    assert_eq!((call.pallet.as_str(), call.call.as_str()), ("SubtensorModule", "commit_timelocked_weights"));
    assert_eq!(call.signer.as_deref(), Some(&validator.public().bytes[..]));
    let names: Vec<&str> = call.args.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["netuid", "commit", "reveal_round", "commit_reveal_version"]);
    assert_eq!(arg(&call, "netuid").as_u128(), Some(3));
    assert_eq!(arg(&call, "reveal_round").as_u128(), Some(1000));
    assert_eq!(arg(&call, "commit_reveal_version").as_u128(), Some(4));
    let commit = bytes_of(arg(&call, "commit"));
    assert!(commit.len() <= assay_subtensor::MAX_COMMIT_BYTES);
    // Round 1000's real signature opens it: the SCALE payload of the normalized weights.
    let signature = hex::decode(ROUND_1000_SIGNATURE).expect("hex");
    let payload = assay_subtensor::decrypt_payload(&commit, &signature).expect("decrypts with round 1000's signature");
    let want = assay_subtensor::WeightsPayload {
        hotkey: validator.public().bytes,
        uids: vec![1, 2],
        values: vec![32768, 65535],
        version_key: 1000,
    };
    assert_eq!(payload, want);
}

/// The bytes of a decoded byte sequence (possibly inside a wrapper like BoundedVec).
fn bytes_of(v: &subxt::ext::scale_value::Value<()>) -> Vec<u8> {
    match &v.value {
        subxt::ext::scale_value::ValueDef::Composite(c) => c.values().flat_map(bytes_of).collect(),
        _ => vec![u8::try_from(v.as_u128().expect("a byte")).expect("a byte")],
    }
}
