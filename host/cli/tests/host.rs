//! The host around its policies: fallback to the previous scorer, no half-published epochs,
//! and switching the active policy while `assay run` keeps running.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use assay_epoch::Summary;
use common::{HostDir, assay};

fn summary(host: &HostDir, epoch: u64) -> Summary {
    let bytes =
        std::fs::read(host.path().join(format!("published/epochs/1/{epoch}/summary.json"))).expect("summary exists");
    Summary::parse_and_verify(&bytes).expect("verifies")
}

#[test]
fn a_failing_new_scorer_falls_back_to_the_previous_one() {
    // mode = 1 makes misbehave loop forever; constantinople ignores the parameter.
    let host = HostDir::new(12.0, |c| {
        c.policy.fuel = 500_000_000;
        c.policy.params.insert("mode".into(), 1.0);
    });
    host.ok(&["ledger", "import", "synth/records.jsonl"]);
    host.ok(&["policy", "activate", &host.constantinople]);
    host.ok(&["epoch", "close", "--epoch", "0"]);
    host.ok(&["policy", "activate", &host.misbehave]);
    let text = host.ok(&["epoch", "close", "--epoch", "1"]);
    assert!(text.contains(&format!("fallback: {} failed: policy ran out of fuel", host.misbehave)), "{text}");

    let s = summary(&host, 1);
    assert_eq!(s.scorer.sha256, host.constantinople);
    assert_eq!(s.scorer_fallback.expect("fallback recorded").failed_sha256, host.misbehave);
    assert!(s.output.weights.iter().any(|w| w.weight == 65535));
    let (code, text) = host.assay(&["audit", "published/epochs/1/1/summary.json"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn an_epoch_no_scorer_can_score_is_published_unscored_and_the_next_ones_go_on() {
    // mode = 4 weights an unknown uid. With no previous scorer there is nothing to fall back to.
    let host = HostDir::new(12.0, |c| {
        c.policy.params.insert("mode".into(), 4.0);
    });
    host.ok(&["ledger", "import", "synth/records.jsonl"]);
    host.ok(&["policy", "activate", &host.misbehave]);
    let (code, text) = host.assay(&["epoch", "close", "--epoch", "0"]);
    assert_eq!(code, 1, "the scorer failed: {text}");
    assert!(text.contains("uid 65535, which is not in the metagraph"), "{text}");

    // Published as unscored, signed like any epoch, and no weights were set.
    let path = host.path().join("published/epochs/1/0/summary.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
    let unscored: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(unscored["unscored"]["kind"], "invalid-output", "{unscored:#}");
    assert_eq!(unscored["output"]["weights"], serde_json::json!([]), "{unscored:#}");
    assert!(host.ok(&["chain", "weights", "--dir", "chain"]).trim().is_empty(), "no weights were set");
    let (code, text) = host.assay(&["audit", "published/epochs/1/0/summary.json"]);
    assert_eq!(code, 0, "the rerun fails the same way: {text}");

    // The next epoch is not blocked: with a working scorer it closes normally.
    host.ok(&["policy", "activate", &host.constantinople]);
    host.ok(&["epoch", "close", "--epoch", "1"]);
    assert_eq!(summary(&host, 1).scorer.sha256, host.constantinople);
    assert!(!host.ok(&["chain", "weights", "--dir", "chain"]).trim().is_empty());
    let (code, text) = host.assay(&["audit", "published/epochs/1/1/summary.json"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn activating_a_policy_swaps_it_at_the_next_boundary_without_a_restart() {
    // 50 ms blocks, 10 blocks per epoch: an epoch every half second.
    let host = HostDir::new(0.05, |_| {});
    // Activating compiles into the cache: done once beforehand, the activation during the run
    // is quick on a loaded machine too (epochs last half a second).
    host.ok(&["policy", "activate", &host.misbehave]);
    host.ok(&["policy", "activate", &host.constantinople]);
    let child = assay()
        .args(["run", "--epochs", "4", "--tick-ms", "50"])
        .env("ASSAY_LOG", "info")
        .current_dir(host.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts the host");

    let latest = host.path().join("published/epochs/1/latest.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !latest.exists() {
        assert!(Instant::now() < deadline, "no epoch was published within a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
    host.ok(&["policy", "activate", &host.misbehave]);
    let output = child.wait_with_output().expect("host exits after 4 epochs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("switching scorer at this epoch boundary"), "{log}");

    let mut epochs: Vec<u64> = std::fs::read_dir(host.path().join("published/epochs/1"))
        .expect("lists")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    epochs.sort_unstable();
    assert_eq!(epochs.len(), 4, "{epochs:?}");
    let scorers: Vec<String> = epochs.iter().map(|e| summary(&host, *e).scorer.sha256).collect();
    assert_eq!(scorers[0], host.constantinople);
    assert_eq!(scorers[3], host.misbehave, "{scorers:?}");
    // Once swapped, it stays swapped; every epoch chains to the one before and audits.
    let first_new = scorers.iter().position(|s| *s == host.misbehave).expect("swapped");
    assert!(scorers[first_new..].iter().all(|s| *s == host.misbehave));
    for e in &epochs {
        let (code, text) = host.assay(&["audit", &format!("published/epochs/1/{e}/summary.json")]);
        assert_eq!(code, 0, "epoch {e}: {text}");
    }
}

#[test]
fn a_dataset_line_imports_with_its_content_and_is_published_by_the_rule() {
    let host = HostDir::new(12.0, |_| {});
    // Two of synth's epoch-0 requests again, under new ids, with the content a dataset line
    // carries; the organic one holds text although its key did not opt in.
    let records = std::fs::read_to_string(host.path().join("synth/records.jsonl")).expect("synth records");
    let template: serde_json::Value = serde_json::from_str(
        records.lines().find(|l| l.contains("\"epoch\":0") && l.contains("\"record\"")).expect("a request"),
    )
    .expect("json");
    let mut lines = String::new();
    for (id, kind) in [(9_000_001u64, "organic"), (9_000_002, "synthetic")] {
        let mut line = template.clone();
        line["record"]["id"] = id.into();
        line["record"]["kind"] = kind.into();
        line["content"] = serde_json::json!({"publish_text": false, "prompt_sha256": "ab".repeat(32),
            "completion_sha256": "cd".repeat(32), "prompt": [{"role": "user", "content": format!("prompt {id}")}],
            "completion": format!("completion {id}")});
        lines.push_str(&format!("{line}\n"));
    }
    std::fs::write(host.path().join("contents.jsonl"), lines).expect("writes");
    host.ok(&["ledger", "import", "synth/records.jsonl"]);
    host.ok(&["ledger", "import", "contents.jsonl"]);
    // The ledger itself never holds the text of a user who did not opt in (the import is a
    // writer like the gateway); the validator's own text it keeps.
    let ledger = ledger_bytes(host.path());
    let holds = |needle: &str| ledger.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(holds("completion 9000002"), "the ledger's files are where the text would be");
    assert!(!holds("completion 9000001") && !holds("prompt 9000001"), "the organic text was stored");
    host.ok(&["policy", "activate", &host.constantinople]);
    host.ok(&["epoch", "close", "--epoch", "0"]);

    let published = std::fs::read(host.path().join("published/dataset/1/0/requests.jsonl.zst")).expect("published");
    assert_eq!(assay_epoch::sha256_hex(&published), summary(&host, 0).dataset.sha256, "what is signed is published");
    let text =
        String::from_utf8(assay_epoch::canonical::decompress(&published, 1 << 26).expect("zstd")).expect("utf-8");
    let content = |id: u64| -> serde_json::Value {
        let line = text.lines().find(|l| l.contains(&format!("\"id\":{id},"))).expect("the line is published");
        serde_json::from_str::<serde_json::Value>(line).expect("json")["content"].clone()
    };
    let organic = content(9_000_001);
    assert_eq!(organic["prompt_sha256"], "ab".repeat(32));
    assert!(organic.get("prompt").is_none() && organic.get("completion").is_none(), "{organic}");
    assert!(!text.contains("prompt 9000001"));
    assert_eq!(content(9_000_002)["completion"], "completion 9000002", "the validator's own is published in full");
}

/// The bytes of every `ledger.db*` file under `dir` (the database and its WAL).
fn ledger_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("reads the folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(ledger_bytes(&path));
        } else if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ledger.db")) {
            out.extend(std::fs::read(&path).expect("reads"));
        }
    }
    out
}

#[test]
fn imported_token_checks_and_response_times_reach_the_epoch_input() {
    let host = HostDir::new(12.0, |_| {});
    let text = host.ok(&["ledger", "import", "synth/records.jsonl"]);
    assert!(text.contains("epoch 0: ") && text.contains(" token checks"), "{text}");
    host.ok(&["policy", "activate", &host.constantinople]);
    host.ok(&["epoch", "close", "--epoch", "0"]);
    let zst = std::fs::read(host.path().join("published/epochs/1/0/input.json.zst")).expect("input");
    let json = assay_epoch::canonical::decompress(&zst, 1 << 30).expect("decompresses");
    let input: assay_policy_sdk::EpochInput = assay_epoch::canonical::decode(&json).expect("0.2.0 input");
    let synth = assay_epoch::synth::generate(
        assay_epoch::synth::Shape { netuid: 1, miners: 8, requests: 200, challenges: 20, seed: 1 },
        0,
    );
    let checked: Vec<u64> = input.token_checks.request.iter().map(|&i| input.requests.id[i as usize]).collect();
    assert_eq!(checked, synth.token_checks.keys().copied().collect::<Vec<_>>(), "every synthetic token check");
    let mut times: Vec<Option<f64>> = synth.challenges.iter().map(|c| c.response_ms).collect();
    times.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let mut imported: Vec<Option<f64>> =
        input.challenges.response_ms.iter().map(|&ms| (ms >= 0.0).then_some(ms)).collect();
    imported.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    assert_eq!(imported, times, "every challenge's response time");
    assert!(imported.iter().any(Option::is_some));

    std::fs::write(host.path().join("bad.jsonl"), "{\"epoch\":0,\"response_ms\":3.5}\n").expect("writes");
    let (code, text) = host.assay(&["ledger", "import", "bad.jsonl"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("response_ms belongs to a challenge"), "{text}");
}

/// `commit_reveal` lines reach the epoch input sorted by (round, uid), their task by index
/// (chat 0); a row of uid 200, which the metagraph does not list, is left out; a -1 time is a
/// commitment or reveal that never came. A commit-reveal line carrying a request is refused.
#[test]
fn imported_commit_reveal_rows_reach_the_epoch_input() {
    use assay_policy_sdk::Reveal;
    let host = HostDir::new(12.0, |_| {});
    host.ok(&["ledger", "import", "synth/records.jsonl"]);
    let row = |uid: u16, reveal: &str, times: (f64, f64), output: &str| {
        format!(
            r#"{{"epoch":0,"commit_reveal":{{"round":0,"uid":{uid},"task":"chat","reveal":"{reveal}","committed_ms":{:?},"revealed_ms":{:?},"output":{output}}}}}"#,
            times.0, times.1
        )
    };
    let lines = [
        row(3, "valid", (5.0, 9.5), "[0.5,-0.25]"),
        row(200, "late", (6.0, 90.0), "[]"),
        row(1, "missing", (-1.0, -1.0), "[]"),
    ];
    std::fs::write(host.path().join("rounds.jsonl"), lines.join("\n")).expect("writes");
    let text = host.ok(&["ledger", "import", "rounds.jsonl"]);
    assert!(text.contains("epoch 0: 3 commit-reveal rows"), "{text}");
    host.ok(&["policy", "activate", &host.constantinople]);
    host.ok(&["epoch", "close", "--epoch", "0"]);
    let zst = std::fs::read(host.path().join("published/epochs/1/0/input.json.zst")).expect("input");
    let json = assay_epoch::canonical::decompress(&zst, 1 << 30).expect("decompresses");
    let input: assay_policy_sdk::EpochInput = assay_epoch::canonical::decode(&json).expect("0.2.0 input");
    assert_eq!(input.tasks[0].name, "chat");
    /// (round, uid, task, reveal, committed_ms, revealed_ms, output)
    type Row = (u32, u16, u16, Reveal, f64, f64, Vec<f64>);
    let got: Vec<Row> = input
        .commit_reveals
        .iter()
        .map(|c| (c.round, c.uid, c.task, c.reveal, c.committed_ms, c.revealed_ms, c.output.clone()))
        .collect();
    assert_eq!(
        got,
        [(0, 1, 0, Reveal::Missing, -1.0, -1.0, vec![]), (0, 3, 0, Reveal::Valid, 5.0, 9.5, vec![0.5, -0.25])]
    );

    let mixed = r#"{"epoch":0,"task":"chat","commit_reveal":{"round":1,"uid":1,"task":"chat","reveal":"late","committed_ms":1.0,"revealed_ms":2.0}}"#;
    std::fs::write(host.path().join("mixed.jsonl"), mixed).expect("writes");
    let (code, text) = host.assay(&["ledger", "import", "mixed.jsonl"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("a commit_reveal line carries nothing else"), "{text}");
}
