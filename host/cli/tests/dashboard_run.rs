//! `assay run` with `[dashboard] listen`: the node serves its dashboard while it runs, each
//! closed epoch as its published summary says, with a link serving that summary; read-only.
//! (Miners' rows with weights, verdicts and latencies: `dashboard_browser.rs` on a devnet.)

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{HostDir, Killed, assay, http};

#[test]
fn assay_run_serves_its_dashboard_with_the_closed_epochs() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let addr = format!("127.0.0.1:{port}");
    let listen = addr.clone();
    // 0.2 s blocks, 10 blocks an epoch: an epoch closes every two seconds.
    let host = HostDir::new(0.2, move |c| c.dashboard = Some(assay_node::DashboardConfig { listen }));
    host.ok(&["policy", "activate", &host.constantinople]);
    let _node = Killed(
        assay()
            .args(["run", "--tick-ms", "50"])
            .current_dir(host.path())
            .env("ASSAY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(host.path().join("node.log")).expect("a log file"))
            .spawn()
            .expect("starts the node"),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        let body = http(&addr, "GET", "/api/epochs").map(|(_, body)| body).unwrap_or_default();
        let epochs: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(epoch) = epochs["epochs"].as_array().and_then(|e| e.first().cloned()) {
            break epoch;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(host.path().join("node.log")).unwrap_or_default();
            panic!("no closed epoch on the dashboard: {body}\n{log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let first = &first;
    let summary =
        std::fs::read(host.path().join(format!("published/{}", first["summary_key"].as_str().expect("a key"))));
    let summary: serde_json::Value = serde_json::from_slice(&summary.expect("published")).expect("json");
    let weighted: Vec<(u64, u64)> = first["miners"]
        .as_array()
        .expect("miners")
        .iter()
        .filter(|m| m["weight"].as_u64().is_some_and(|w| w > 0))
        .map(|m| (m["uid"].as_u64().expect("uid"), m["weight"].as_u64().expect("weight")))
        .collect();
    let published: Vec<(u64, u64)> = summary["output"]["weights"]
        .as_array()
        .expect("weights")
        .iter()
        .filter(|w| w["weight"].as_u64().is_some_and(|w| w > 0))
        .map(|w| (w["uid"].as_u64().expect("uid"), w["weight"].as_u64().expect("weight")))
        .collect();
    assert_eq!(first["scorer"], summary["scorer"]["sha256"], "{first}");
    assert_eq!(first["scorer"], host.constantinople.as_str());
    assert_eq!(weighted, published, "the dashboard shows the weights the summary signed");

    let link = format!("/api/summaries/{}", first["epoch"]);
    let (status, body) = http(&addr, "GET", &link).expect("answers");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).expect("json"), summary);
    let (status, _) = http(&addr, "GET", "/api/overview").expect("answers");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, body) = http(&addr, "POST", "/api/overview").expect("answers");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed", "{body}");
}
