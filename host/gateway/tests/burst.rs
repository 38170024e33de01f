//! A burst beyond capacity waits for slots instead of being refused (issue 10, item 5): the
//! official `openai` client sends 32 streams at once to 16 slots (four stub miners of four, each
//! stream a third of a second long); the second half waits in the gateway's queue. Runs when the
//! test command set up the client's venv (`ASSAY_TEST_PYTHON`).

mod common;

use std::time::Duration;

use common::{KEY, MODEL, STREAMED_TOKENS, StubOptions, start_with};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_capacity_waits_for_slots_instead_of_getting_503s() {
    let Some(python) = std::env::var_os("ASSAY_TEST_PYTHON") else {
        eprintln!("skipped: ASSAY_TEST_PYTHON is not set (scripts/test.sh sets it to a venv with `openai`)");
        return;
    };
    let slow = StubOptions { token_delay: Duration::from_millis(10), ..StubOptions::capacity(4) };
    assert!(slow.token_delay * STREAMED_TOKENS as u32 >= Duration::from_millis(300));
    let net = start_with(&[slow; 4], json!({}), None).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/openai-burst-check.py");
    let base = format!("http://{}/v1", net.address);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, "--base-url", &base, "--key", KEY, "--model", MODEL, "--streams", "32"])
            .output()
    })
    .await
    .expect("joins")
    .expect("runs python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the burst was not served whole:\n{stdout}\n{stderr}");
    assert!(stdout.contains("served 32 of 32 streams"), "{stdout}");
}
