//! `assay devnet` publishes to a local s3s-fs when one is installed (started on a free
//! loopback port, its bucket's folder under the devnet's folder, stopped with it), and an epoch
//! it published there PASSes `assay audit s3://…`, as one summary and as a history.
//! Skipped with a reason where s3s-fs is not installed, unless `ASSAY_REQUIRE_S3S=1`.

mod common;

use assay_lab::publication::{BUCKET, S3sFs, free_port};
use common::{assay, assay_with_s3_keys, plugin, run, s3s_fs};

#[test]
fn the_devnet_publishes_to_s3_and_its_epochs_audit_there() {
    let Some(binary) = s3s_fs() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("devnet");
    let plugins = plugin("constantinople").parent().expect("the plugins folder").to_path_buf();
    let (code, text) = run(assay()
        .env("ASSAY_S3S_FS", &binary)
        .args(["devnet", "--epochs", "2", "--epoch-seconds", "10", "--synthetic-per-minute", "300", "--out"])
        .arg(&out)
        .arg("--plugins")
        .arg(&plugins));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("publishing to s3://{BUCKET} at http://127.0.0.1:")), "said at start:\n{text}");
    assert!(text.contains(&format!("s3://{BUCKET}/epochs/1/1/summary.json PASS")), "{text}");
    let bucket = out.join("s3").join(BUCKET);
    assert!(bucket.join("epochs/1/1/summary.json").is_file(), "the bucket's folder is under the devnet's");
    assert!(!out.join("published/epochs").exists(), "nothing went to the folder");
    let config = std::fs::read_to_string(out.join("assay.toml")).expect("the config");
    assert!(config.contains("kind = \"s3\""), "{config}");

    // The devnet stopped its server with it; another serves the same bucket for the auditor.
    let server = S3sFs::start(&binary, &out.join("s3"), free_port().expect("port")).expect("s3s-fs starts");
    let summary = std::fs::read(bucket.join("epochs/1/1/summary.json")).expect("reads");
    let validator = assay_epoch::Summary::parse_and_verify(&summary).expect("verifies").validator.hotkey;
    let (code, audit) = run(assay_with_s3_keys()
        .args(["audit", &format!("s3://{BUCKET}"), "--netuid", "1", "--validator", &validator])
        .args(["--s3-endpoint", &server.endpoint()]));
    assert_eq!(code, 0, "{audit}");
    assert!(audit.contains("2 epochs published in s3://assay"), "{audit}");
    assert!(audit.contains("epoch 1 follows epoch 0"), "{audit}");
    assert!(audit.trim_end().ends_with("PASS"), "{audit}");
    let one = format!("s3://{BUCKET}/epochs/1/1/summary.json");
    let (code, audit) = run(assay_with_s3_keys()
        .args(["audit", &one, "--validator", &validator, "--s3-endpoint"])
        .arg(server.endpoint()));
    assert_eq!(code, 0, "{audit}");
    assert!(audit.trim_end().ends_with("PASS"), "{audit}");
}
