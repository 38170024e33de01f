//! Axons and commitments: the calls submitted, a commitment read back, and a hotkey that is not
//! registered refused before anything is signed.

use assay_chain::{Axon, Chain, Commitment, Error};

use crate::extrinsics::{self, assert_call};
use crate::node::{MockNode, fixtures, hotkey, ss58};

#[tokio::test]
async fn serve_axon_submits_what_the_sdk_would() {
    let f = fixtures();
    let miner = hotkey(&f, "miner1");
    let node = MockNode::new(&["uids_miner1"]);
    let chain = node.chain(Some(miner.clone())).await;
    let axon = Axon { ip: "192.0.2.7".parse().expect("ip"), port: 8093, protocol: 4 };
    assert_eq!(chain.serve_axon(&miner.ss58(), 3, &axon).await.expect("served"), 1001);
    let submitted = node.submitted.lock().expect("lock").clone();
    assert_eq!(submitted.len(), 1);
    assert_call(&submitted[0], &extrinsics::expected(&f, "serve_axon"), &miner.public().bytes);
}

#[tokio::test]
async fn a_commitment_is_set_and_read_back() {
    let f = fixtures();
    let owner = hotkey(&f, "owner");
    let text = f["commitment"].as_str().expect("text").to_string();
    let node = MockNode::new(&["uids_owner", "commitment_owner", "commitment_stranger"]);
    let chain = node.chain(Some(owner.clone())).await;
    chain.set_commitment(&owner.ss58(), 3, std::slice::from_ref(&text)).await.expect("committed");
    let submitted = node.submitted.lock().expect("lock").clone();
    assert_eq!(submitted.len(), 1);
    assert_call(&submitted[0], &extrinsics::expected(&f, "set_commitment"), &owner.public().bytes);
    // What the chain holds (CommitmentOf, as the SDK encodes a Registration).
    let held = chain.commitment(3, &owner.ss58()).await.expect("reads");
    assert_eq!(held, Some(Commitment { block: 990, fields: vec![text] }));
    assert_eq!(chain.commitment(3, &ss58(&f, "stranger")).await.expect("reads"), None);
}

#[tokio::test]
async fn an_unregistered_hotkey_is_refused_before_submitting() {
    let f = fixtures();
    let stranger = hotkey(&f, "stranger");
    let node = MockNode::new(&["uids_stranger"]);
    let chain = node.chain(Some(stranger.clone())).await;
    let axon = Axon { ip: "192.0.2.7".parse().expect("ip"), port: 8093, protocol: 4 };
    let e = chain.serve_axon(&stranger.ss58(), 3, &axon).await.expect_err("not registered");
    assert!(matches!(e, Error::NotRegistered { netuid: 3, .. }), "{e}");
    let e = chain.set_commitment(&stranger.ss58(), 3, &["x".to_string()]).await.expect_err("not registered");
    assert!(matches!(e, Error::NotRegistered { netuid: 3, .. }), "{e}");
    let e = chain.set_commitment(&stranger.ss58(), 3, &["x".repeat(129)]).await.expect_err("too long");
    assert!(matches!(e, Error::BadCommitment(_)), "{e}");
    assert!(node.submitted.lock().expect("lock").is_empty(), "nothing was submitted");
}
