//! The validator's own faults are never charged to a miner (issue 10, item 4). With every file
//! descriptor of the process taken (what a flood of connections does to a gateway without a
//! cap), the requests the gateway cannot send to a miner are answered 503, recorded against no
//! miner, and leave its circuit closed. A test binary of its own: it exhausts its process's
//! file descriptors.

mod common;

use std::fs::File;

use assay_ledger::Outcome;
use common::{KEY, MODEL, StubOptions, start_with};
use serde_json::{Value, json};

/// Opens `/dev/null` until the process may open no more file; `None` if the limit is too high
/// to reach.
fn take_every_descriptor() -> Option<Vec<File>> {
    let mut taken = Vec::new();
    while taken.len() < 1 << 22 {
        match File::open("/dev/null") {
            Ok(file) => taken.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return Some(taken),
            Err(e) => panic!("opening /dev/null: {e}"),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_out_of_file_descriptors_charges_no_miner() {
    // Every request to the stub needs a new connection; no probe runs during the test.
    let stub = StubOptions { capacity: 4, close_connections: true };
    let settings = json!({"health_interval_ms": 60_000, "max_attempts": 1});
    let mut net = start_with(&[stub], settings, None).await;
    let url = format!("http://{}/v1/chat/completions", net.address);
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hello"}]});
    let ask = || net.http.post(&url).bearer_auth(KEY).json(&body).send();
    // The user's connection is open (and kept alive) before the descriptors run out.
    assert_eq!(ask().await.expect("sends").status(), 200);

    let Some(taken) = take_every_descriptor() else {
        eprintln!("skipped: the file limit is too high to exhaust");
        return;
    };
    let mut answers = Vec::new();
    for _ in 0..3 {
        let response = ask().await.expect("the user's open connection is answered");
        answers.push((response.status().as_u16(), response.json::<Value>().await.unwrap_or_default()));
    }
    drop(taken);

    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["error"]["code"], "overloaded", "{body}");
    }
    let miner = &net.gateway().miners()[0];
    assert!(!miner.circuit_open, "the validator's lack of descriptors opened the miner's circuit");
    assert_eq!(net.gateway().counters().validator_faults, 3);
    assert_eq!(ask().await.expect("sends").status(), 200, "served again once descriptors are back");
    let records = net.records().await;
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Ok, Outcome::Ok], "only the served requests are recorded: {records:?}");
}
