//! Users are served only by miners in good standing (issue 10, item 6): once a miner fails a
//! challenge, users' requests go to the others, while the validator's own requests still reach
//! it, so that it is measured and can recover.

mod common;

use assay_ledger::{ChallengeRow, RequestKind, Verdict};
use common::{EPOCH_BLOCKS, start};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_that_failed_verification_serves_no_user_but_is_still_measured() {
    let mut net = start(&[8, 8], json!({"synthetic_per_minute": 3000.0})).await;
    let epoch = net.view.head() / EPOCH_BLOCKS;
    let failed = ChallengeRow {
        request_id: 1,
        uid: 0,
        points: Vec::new(),
        verdict: Verdict::Fail,
        reason: "cheap model".into(),
        response_ms: None,
    };
    net.ledger.record_challenges(epoch, &[failed]).expect("records the verdict");
    net.wait_until("miner 0 is out of good standing", |n| !n.gateway().miners()[0].good_standing).await;
    let synthetic_before = requests_to(&net, 0, RequestKind::Synthetic);

    for _ in 0..40 {
        assert_eq!(net.chat("hello", false).send().await.expect("sends").status(), 200);
    }
    // Synthetic traffic goes on meanwhile (50 a second, spread over both miners): waited for, not
    // slept on, so a loaded machine only makes the test slower.
    net.wait_until("the validator measures the barred miner again", |n| {
        requests_to(n, 0, RequestKind::Synthetic) > synthetic_before
    })
    .await;
    let records = net.records().await;
    let users: Vec<u16> = records.iter().filter(|r| r.kind == RequestKind::Organic).map(|r| r.uid).collect();
    assert_eq!(users.len(), 40);
    assert!(users.iter().all(|&uid| uid == 1), "users were sent to the miner that failed verification: {users:?}");
}

fn requests_to(net: &common::Net, uid: u16, kind: RequestKind) -> usize {
    let epoch = net.view.head() / EPOCH_BLOCKS;
    let records = net.ledger.requests(epoch).expect("reads");
    records.iter().filter(|e| e.record.uid == uid && e.record.kind == kind).count()
}
