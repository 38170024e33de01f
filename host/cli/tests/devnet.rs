//! `assay devnet --epochs N --out DIR`: the whole system on loopback. The cheaters end at weight
//! zero, the faster honest miner with the most weight, every published epoch audits PASS, and the
//! subnet owner's announcement swaps the scorer mid-run after a shadow epoch, as the summaries say,
//! and the watchtower beside the validator (`assay watch`) passes every epoch.

mod common;

use common::{assay, plugin, run};

/// Where the devnet's epochs are on disk: its S3 bucket's folder when s3s-fs is installed,
/// else its publication folder.
fn published(out: &std::path::Path) -> std::path::PathBuf {
    let bucket = out.join("s3").join(assay_lab::publication::BUCKET);
    if bucket.is_dir() { bucket } else { out.join("published") }
}

/// The scorer that ran `epoch` and the one in shadow beside it, as its signed summary says.
fn scorers(out: &std::path::Path, epoch: u64) -> (String, Option<String>) {
    let bytes = std::fs::read(published(out).join(format!("epochs/1/{epoch}/summary.json"))).expect("published");
    let summary = assay_epoch::Summary::parse_and_verify(&bytes).expect("verifies");
    (summary.scorer.sha256, summary.shadow.map(|s| s.scorer.sha256))
}

#[test]
fn devnet_catches_both_cheaters_every_epoch_audits_and_the_owner_swaps_the_scorer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("devnet");
    let plugins = plugin("constantinople").parent().expect("the plugins folder").to_path_buf();
    // Logs at info, so that plenty of log lines go through the pipe.
    let scraper = std::thread::spawn({
        let out = out.clone();
        move || scrape_twice_while_running(&out)
    });
    let (code, stdout) = run(assay()
        .env("ASSAY_LOG", "info")
        .args(["devnet", "--epochs", "4", "--epoch-seconds", "12", "--synthetic-per-minute", "300", "--out"])
        .arg(&out)
        .arg("--plugins")
        .arg(&plugins));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("metrics: http://127.0.0.1:"), "{stdout}");
    metrics_moved(scraper.join().expect("the scraper"));
    assert!(stdout.contains("cheaters at weight zero: yes"), "{stdout}");
    assert!(stdout.contains("the faster honest miner has the most weight: yes"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.ends_with("summary.json PASS")).count(), 4, "{stdout}");
    // The watchtower beside the validator passed every epoch (and showed it in the live table).
    for epoch in 0..4 {
        assert!(stdout.contains(&format!("  watchtower: epoch {epoch} PASS\n")), "{stdout}");
    }
    assert!(stdout.contains("watchtower by epoch: 0:pass"), "{stdout}");
    // The validator is in its local chain's metagraph: its summary hashes went on chain (no
    // "not registered" retries), and the watchtower checked them there.
    assert!(!stdout.contains("is not registered on subnet"), "{stdout}");
    let watch_log = std::fs::read_to_string(out.join("data/watch.log")).expect("the watchtower's log");
    assert!(watch_log.contains("summary is the one the chain holds"), "{watch_log}");
    assert!(!watch_log.contains("the chain was not read"), "{watch_log}");
    // Through a pipe (this test's) and into a file: plain lines, no escape codes, and the table
    // printed as lines rather than redrawn.
    assert!(stdout.contains(" INFO "), "log lines at info: {stdout}");
    assert!(!stdout.contains("\x1b["), "{stdout:?}");
    assert!(!watch_log.contains("\x1b["), "{watch_log:?}");
    assert!(stdout.contains("gateway at http://127.0.0.1:"), "{stdout}");
    assert!(!out.join(assay_lab::devnet::LOG_FILE).exists(), "logs stay on stderr when it is not a terminal");

    // The owner announced after epoch 0 closed (during epoch 1): epoch 2 ran the announced
    // scorer in shadow, epoch 3 with it.
    let commitments = std::fs::read_to_string(out.join("chain/commitments.jsonl")).expect("the owner committed");
    // The owner's last announcement (the validator's summary hashes are committed there too).
    let field: serde_json::Value = commitments
        .lines()
        .rev()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json"))
        .find(|c| c["fields"][0].as_str().is_some_and(|f| f.starts_with("assay-policy:")))
        .expect("an announcement");
    let announced = field["fields"][0].as_str().expect("a field").strip_prefix("assay-policy:scorer:sha256:");
    let announced = announced.expect("a scorer announcement").to_string();
    let constantinople = scorers(&out, 0).0;
    assert_ne!(announced, constantinople);
    let expected = [
        (constantinople.clone(), None),
        (constantinople.clone(), None),
        (constantinople, Some(announced.clone())),
        (announced, None),
    ];
    assert_eq!((0..4).map(|e| scorers(&out, e)).collect::<Vec<_>>(), expected, "{stdout}");
    assert!(
        stdout.contains("  epoch 2    constantinople   in shadow: constantinople, as the owner announced it"),
        "{stdout}"
    );
    assert!(stdout.contains("  epoch 3    constantinople, as the owner announced it\n"), "{stdout}");

    // The published epochs audit on their own, as an outsider would run it.
    for epoch in 0..4 {
        let summary = published(&out).join(format!("epochs/1/{epoch}/summary.json"));
        let (code, audit) = run(assay().arg("audit").arg(&summary));
        assert_eq!(code, 0, "{audit}");
        assert!(audit.trim_end().ends_with("PASS"), "{audit}");
    }
    // The weights went on the local chain: the cheaters (uids 2 and 3), the owner (4, no
    // axon) and the validator itself (5, a neuron with a permit, no axon) at zero.
    let (code, weights) = run(assay().args(["chain", "weights", "--dir"]).arg(out.join("chain")));
    assert_eq!(code, 0, "{weights}");
    let last = weights.lines().last().expect("weights were set");
    assert!(last.ends_with(" 2:0 3:0 4:0 5:0"), "{weights}");
    assert!(last.contains(" 0:65535 "), "{weights}");

    // A rerun into the same folder starts afresh; a folder devnet did not make is refused.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "mine").expect("write");
    let (code, refused) = run(assay().args(["devnet", "--epochs", "1", "--out"]).arg(&foreign));
    assert_eq!(code, 2, "{refused}");
    assert!(foreign.join("notes.txt").exists(), "nothing of the user's is touched");
}

/// The detection experiment's command on a small sample: the table prints, honest miners pass,
/// and a miner serving another model fails every challenge. (The full run is in
/// docs/verification.md; it is an experiment, not a test.)
#[test]
fn the_detection_experiment_runs_on_a_small_sample() {
    let plugins = plugin("adaptive-challenger").parent().expect("the plugins folder").to_path_buf();
    let (code, out) = run(assay()
        .args(["dev", "detect", "--honest", "40", "--per-attack", "10", "--epoch-challenges", "5", "--plugins"])
        .arg(&plugins));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("honest false positives: 0 of 40 challenges (0 void)"), "{out}");
    // The first table (the one by challenges per epoch follows a blank line).
    let table = out.lines().take_while(|l| !l.is_empty());
    let other_model: Vec<&str> = table.filter(|l| l.starts_with("| (a) another model")).collect();
    assert_eq!(other_model.len(), 2, "{out}");
    assert!(other_model.iter().all(|l| l.contains("| 10 | 100.0 % |")), "{out}");

    let (code, table) = run(assay().args(["dev", "calibrate", "--requests", "20", "--plugins"]).arg(&plugins));
    assert_eq!(code, 0, "{table}");
    // The whole table, as the SDK's `calibration::Calibration` literal.
    assert!(table.contains("--positions late`"), "{table}");
    assert!(table.contains("    rel_l2_thresholds: &[(0.0000, "), "{table}");
    assert!(table.contains("    honest_medians: &[(0.0000, "), "{table}");
    assert!(table.contains("    pooled_ratio_limit: "), "{table}");
    assert!(table.contains("    evidence: evidence::Honest { mean: "), "{table}");
}

/// `--trained` runs the experiment on the committed trained models: the table prints, another
/// model is caught, and honest false positives, if any, are named among the missed targets.
#[test]
fn the_detection_experiment_runs_on_the_trained_models() {
    let plugins = plugin("adaptive-challenger").parent().expect("the plugins folder").to_path_buf();
    let (code, out) = run(assay()
        .args(["dev", "detect", "--trained", "--honest", "20", "--per-attack", "10", "--epoch-challenges", "5"])
        .arg("--plugins")
        .arg(&plugins));
    assert_eq!(code, 0, "{out}");
    let table = out.lines().take_while(|l| !l.is_empty());
    let other_model: Vec<&str> = table.filter(|l| l.starts_with("| (a) another model")).collect();
    assert_eq!(other_model.len(), 2, "{out}");
    assert!(other_model.iter().all(|l| l.contains("| 10 | 100.0 % |")), "{out}");
    let none_failed = out.contains("honest false positives: 0 of 20");
    assert_eq!(none_failed, !out.contains("  honest: "), "{out}");
}

/// `--write-model` writes the honest model; a copy with one tensor scaled, served through
/// `--attack-model`, gets its own rows, named by its folder, and is caught.
#[test]
fn the_detection_experiment_serves_a_model_derived_from_the_written_one() {
    let plugins = plugin("adaptive-challenger").parent().expect("the plugins folder").to_path_buf();
    let dir = tempfile::tempdir().expect("tempdir");
    let (honest, derived) = (dir.path().join("honest"), dir.path().join("down-x2"));
    let (code, out) = run(assay().args(["dev", "detect", "--write-model"]).arg(&honest));
    assert_eq!(code, 0, "{out}");
    common::copy_tree(&honest, &derived);
    scale_tensor(&derived.join("model.safetensors"), "model.layers.1.mlp.down_proj.weight", 2.0);
    let (code, out) = run(assay()
        .args(["dev", "detect", "--honest", "4", "--per-attack", "10", "--epoch-challenges", "5", "--plugins"])
        .arg(&plugins)
        .arg("--attack-model")
        .arg(&derived));
    assert_eq!(code, 0, "{out}");
    let table = out.lines().take_while(|l| !l.is_empty());
    let rows: Vec<&str> = table.filter(|l| l.starts_with("| down-x2 |")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    // Layer 1's MLP output doubled moves every later hidden state far past the thresholds.
    assert!(rows.iter().all(|l| l.contains("| 10 | 100.0 % |")), "{out}");
    assert!(rows.iter().all(|l| l.ends_with("| none (--attack-model) |")), "{out}");
}

/// Multiplies the f32 tensor `name` of a safetensors file by `factor`, in place (header: a u64
/// length, then JSON with each tensor's `data_offsets` into the bytes after it).
fn scale_tensor(path: &std::path::Path, name: &str, factor: f32) {
    let mut bytes = std::fs::read(path).expect("reads the weights");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).expect("header");
    assert_eq!(header[name]["dtype"], "F32", "{header}");
    let offsets = &header[name]["data_offsets"];
    let (start, end) = (offsets[0].as_u64().expect("start") as usize, offsets[1].as_u64().expect("end") as usize);
    for value in bytes[8 + header_len + start..8 + header_len + end].chunks_exact_mut(4) {
        let scaled = f32::from_le_bytes(value.try_into().expect("4 bytes")) * factor;
        value.copy_from_slice(&scaled.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("writes the weights");
}

/// Scrapes the devnet validator's `/metrics` (its address from the devnet's `assay.toml`, as
/// `curl` would) once it answers and again 15 s later; `None` when it never answered twice.
fn scrape_twice_while_running(out: &std::path::Path) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let get = |addr: std::net::SocketAddr| -> Option<String> {
        let mut stream = std::net::TcpStream::connect(addr).ok()?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: devnet\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        text.starts_with("HTTP/1.1 200").then_some(text)
    };
    let mut first = None;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let Ok(config) = assay_node::Config::load(&out.join("assay.toml")) else { continue };
        let addr = config.metrics.as_ref()?.listen;
        match (&first, get(addr)) {
            (None, Some(text)) => {
                first = Some(text);
                std::thread::sleep(std::time::Duration::from_secs(15));
            }
            (Some(_), Some(text)) => return first.map(|f| (f, text)),
            (Some(_), None) => return None,
            (None, None) => {}
        }
    }
    None
}

/// The sum of every sample of `family` (all its label sets).
fn total(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.strip_prefix(family).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The families of issue 16 are served, and traffic, challenges and the chain move them.
fn metrics_moved(scrapes: Option<(String, String)>) {
    let (first, second) = scrapes.expect("the devnet's metrics were scraped twice while it ran");
    for family in [
        "assay_gateway_attempts_total",
        "assay_gateway_latency_seconds_count",
        "assay_gateway_ttft_seconds_count",
        "assay_gateway_miner_circuit",
        "assay_gateway_in_flight",
        "assay_verify_challenges_total",
        "assay_verify_queue_depth",
        "assay_chain_head_block",
        "assay_chain_connected",
        "assay_metagraph_age_seconds",
        "assay_epoch_last_closed",
        "assay_ledger_bytes",
    ] {
        assert!(second.lines().any(|l| l.starts_with(family)), "{family} is not served:\n{second}");
    }
    for family in ["assay_gateway_attempts_total", "assay_gateway_latency_seconds_count", "assay_chain_head_block"] {
        let (before, after) = (total(&first, family), total(&second, family));
        assert!(after > before, "{family} did not move: {before} then {after}");
    }
}
