//! `assay audit LOCATION` over each kind of location: a folder, a public bucket's URL (a
//! loopback file server standing in for an R2 public URL) and an S3 bucket (s3s-fs, skipped
//! with a reason where it is not installed): the golden epochs PASS, pinned to their
//! validator, and a tampered object FAILs (exit 1), fetched from the same place.

mod common;

use std::path::{Path, PathBuf};

use assay_lab::publication::{S3sFs, free_port};
use common::{FileServer, assay, assay_with_s3_keys, copy_tree, golden_validator, run, s3s_fs};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

/// One byte more in epoch 1's published dataset: its hash no longer matches the summary's.
fn tamper(root: &Path) {
    let path = root.join("dataset/1/1/requests.jsonl.zst");
    let mut bytes = std::fs::read(&path).expect("reads");
    bytes.push(0);
    std::fs::write(&path, bytes).expect("writes");
}

fn assert_pass((code, out): (i32, String), expected: &str) {
    assert_eq!(code, 0, "{out}");
    assert!(out.trim_end().ends_with("PASS") && out.contains(expected), "lacks {expected:?}:\n{out}");
}

fn assert_exit((code, out): (i32, String), expected_code: i32, expected: &str) {
    assert_eq!(code, expected_code, "{out}");
    assert!(out.contains(expected), "lacks {expected:?}:\n{out}");
}

#[test]
fn a_folder_audits_by_its_path_and_a_tampered_object_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture(), dir.path());
    let validator = golden_validator();
    let root = dir.path().to_str().expect("utf-8").to_string();
    assert_pass(run(assay().args(["audit", &root, "--validator", &validator])), "2 epochs published in");
    assert_pass(run(assay().args(["audit", &root, "--netuid", "1", "--validator", &validator])), "netuid 1");
    assert_exit(run(assay().args(["audit", &root])), 2, "needs --validator");
    tamper(dir.path());
    assert_exit(run(assay().args(["audit", &root, "--validator", &validator])), 1, "FAIL: dataset");
}

#[test]
fn a_public_url_audits_and_a_tampered_object_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("validators/alice");
    copy_tree(&fixture(), &root);
    let server = FileServer::start(dir.path());
    let validator = golden_validator();
    let base = server.url("/validators/alice");
    let history = |base: &str| run(assay().args(["audit", base, "--netuid", "1", "--validator", &validator]));

    assert_pass(history(&base), &format!("2 epochs published in {base}"));
    let latest = format!("{base}/epochs/1/latest.json");
    assert_pass(run(assay().args(["audit", &latest, "--validator", &validator])), "auditing netuid 1 epoch 1");
    assert_exit(run(assay().args(["audit", &base, "--validator", &validator])), 2, "needs --netuid");
    assert_exit(history(&server.url("/nobody")), 2, "epochs/1/latest.json is missing");

    tamper(&root);
    assert_exit(history(&base), 1, "FAIL: dataset dataset/1/1/requests.jsonl.zst");

    // A summary that a later one names, deleted: a gap, as a folder's audit finds it (not a
    // shorter history that passes with a note).
    std::fs::remove_file(root.join("epochs/1/0/summary.json")).expect("removes epoch 0's summary");
    assert_exit(history(&base), 1, "FAIL: gap: epoch 1 follows epoch 0, which is not published");
    assert_exit(run(assay().args(["audit", "http://example.com/pub", "--netuid", "1"])), 2, "this machine only");
}

#[test]
fn an_s3_bucket_audits_and_a_tampered_object_fails() {
    let Some(binary) = s3s_fs() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("assay/validators/alice");
    copy_tree(&fixture(), &root);
    let server = S3sFs::start(&binary, dir.path(), free_port().expect("port")).expect("s3s-fs starts");
    let endpoint = server.endpoint();
    let validator = golden_validator();
    let audit = |location: &str, extra: &[&str]| {
        let mut cmd = assay_with_s3_keys();
        cmd.args(["audit", location, "--s3-endpoint", &endpoint]).args(extra);
        run(&mut cmd)
    };
    let pinned = ["--netuid", "1", "--validator", validator.as_str()];

    assert_pass(audit("s3://assay/validators/alice", &pinned), "2 epochs published in s3://assay/validators/alice");
    assert_pass(audit("s3://assay/validators/alice/epochs/1/0/summary.json", &[]), "auditing netuid 1 epoch 0");
    assert_exit(audit("s3://assay/validators/bob", &pinned), 2, "epochs/1/latest.json is missing");
    let mut wrong_secret = assay_with_s3_keys();
    wrong_secret.env("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    wrong_secret.args(["audit", "s3://assay/validators/alice", "--s3-endpoint", &endpoint]).args(pinned);
    assert_exit(run(&mut wrong_secret), 2, "refused the credentials");

    tamper(&root);
    assert_exit(audit("s3://assay/validators/alice", &pinned), 1, "FAIL: dataset dataset/1/1/requests.jsonl.zst");
}
