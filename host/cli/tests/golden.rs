//! The committed golden epochs audit PASS, and every kind of tampering is caught (exit 1) or
//! reported as unusable input (exit 2). Regenerate the fixture with scripts/make-golden-epoch.sh.

mod common;

use std::path::{Path, PathBuf};

use assay_epoch::{Summary, canonical};
use assay_keys::{Hotkey, Scheme};
use common::{assay, copy_tree, golden_key, run};
use sha2::{Digest, Sha256};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn summary_path(root: &Path, epoch: u64) -> PathBuf {
    root.join(format!("epochs/1/{epoch}/summary.json"))
}

fn audit(root: &Path, epoch: u64) -> (i32, String) {
    run(assay().arg("audit").arg(summary_path(root, epoch)))
}

/// A writable copy of the fixture.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture(), dir.path());
    dir
}

fn read_summary(root: &Path, epoch: u64) -> Summary {
    let bytes = std::fs::read(summary_path(root, epoch)).expect("reads summary");
    Summary::parse_and_verify(&bytes).expect("golden summary verifies")
}

fn write_signed(root: &Path, mut summary: Summary) {
    let bytes = summary.sign(&golden_key()).expect("signs");
    std::fs::write(summary_path(root, summary.epoch), bytes).expect("writes summary");
}

fn input_json(root: &Path, epoch: u64) -> String {
    let zst = std::fs::read(root.join(format!("epochs/1/{epoch}/input.json.zst"))).expect("reads input");
    String::from_utf8(canonical::decompress(&zst, 1 << 30).expect("decompresses")).expect("utf-8")
}

/// Replaces epoch `epoch`'s input with `json`, and (if `rehash`) updates and re-signs the summary
/// so that only deeper checks can catch the change.
fn replace_input(root: &Path, epoch: u64, json: &str, rehash: bool) {
    let zst = canonical::compress(json.as_bytes()).expect("compresses");
    std::fs::write(root.join(format!("epochs/1/{epoch}/input.json.zst")), &zst).expect("writes input");
    if rehash {
        let mut summary = read_summary(root, epoch);
        let input = canonical::decode::<assay_policy_sdk::v0_1::EpochInput>(json.as_bytes()).expect("still canonical");
        summary.input.zst_sha256 = sha256_hex(&zst);
        summary.input.sha256 = sha256_hex(json.as_bytes());
        summary.input.json_bytes = json.len() as u64;
        summary.input.state_sha256 = sha256_hex(&input.state);
        write_signed(root, summary);
    }
}

fn assert_fails(result: (i32, String), code: i32, expected: &str) {
    let (status, text) = result;
    assert_eq!(status, code, "expected exit {code}, output:\n{text}");
    assert!(text.contains(expected), "output lacks {expected:?}:\n{text}");
}

#[test]
fn golden_epochs_audit_pass() {
    for epoch in [0, 1] {
        let (code, text) = audit(&fixture(), epoch);
        assert_eq!(code, 0, "{text}");
        assert!(text.lines().any(|l| l == "PASS"), "{text}");
        assert!(text.contains("rerun: 8 scores, 8 weights"), "{text}");
    }
    let (_, text) = audit(&fixture(), 1);
    assert!(text.contains("chain to epoch 0"), "{text}");
    let (code, text) = run(assay().arg("audit").arg(fixture().join("epochs/1/latest.json")));
    assert_eq!(code, 0, "latest.json resolves to epoch 1: {text}");
}

/// The golden 0.1.0 input as 0.2.0 columns (equal task weights, no response times): what the
/// ported constantinople reads.
fn up_to_v0_2(old: assay_policy_sdk::v0_1::EpochInput) -> assay_policy_sdk::EpochInput {
    use assay_policy_sdk::{Challenge, Task};
    let n = old.tasks.len() as f64;
    assay_policy_sdk::EpochInput {
        netuid: old.netuid,
        epoch: old.epoch,
        block_start: old.block_start,
        block_end: old.block_end,
        tasks: old.tasks.into_iter().map(|name| Task { name, weight: 1.0 / n }).collect(),
        miners: old.miners,
        requests: old.requests.into_iter().map(|r| assay_policy_sdk::v0_1::request_of(&r)).collect(),
        token_checks: Default::default(),
        request_values: old.request_values,
        challenges: old
            .challenges
            .into_iter()
            .map(|c| Challenge {
                request_id: c.request_id,
                uid: c.uid,
                verdict: c.verdict,
                reason: c.reason,
                response_ms: None,
                points: c.points,
            })
            .collect(),
        commit_reveals: vec![],
        params: old.params,
        state: old.state,
    }
}

#[test]
fn golden_output_is_what_the_current_constantinople_source_computes() {
    // Any change of scoring behaviour must come with a new policy hash: if this fails, the
    // plugin's source (ported to contract 0.2.0, reading the same records as columns) no longer
    // computes what the golden 0.1.0 scorer computed.
    for epoch in [0, 1] {
        let input = canonical::decode::<assay_policy_sdk::v0_1::EpochInput>(input_json(&fixture(), epoch).as_bytes())
            .expect("decodes");
        let summary = read_summary(&fixture(), epoch);
        let native = assay_plugin_constantinople::score(&up_to_v0_2(input)).expect("scores natively");
        assert_eq!(native.scores, summary.output.scores, "epoch {epoch} scores");
        assert_eq!(native.weights, summary.output.weights, "epoch {epoch} weights");
        assert_eq!(sha256_hex(&native.state), summary.output.state_sha256, "epoch {epoch} state");
        assert!(native.weights.iter().any(|w| w.weight == 65535));
        assert!(native.weights.iter().any(|w| w.weight == 0), "the cheating miner (uid 7) is gated");
    }
}

#[test]
fn a_changed_input_byte_is_caught() {
    let dir = copy();
    let json = input_json(dir.path(), 1);
    let tampered = json.replacen("\"verdict\":\"pass\"", "\"verdict\":\"fail\"", 1);
    assert_ne!(json, tampered);
    replace_input(dir.path(), 1, &tampered, false);
    assert_fails(audit(dir.path(), 1), 1, "input file hashes to");

    // Even with every hash updated and the summary re-signed, the rerun disagrees.
    replace_input(dir.path(), 1, &tampered, true);
    assert_fails(audit(dir.path(), 1), 1, "FAIL: output.scores[");
}

#[test]
fn a_changed_weight_is_caught() {
    let dir = copy();
    let mut summary = read_summary(dir.path(), 1);
    let original = summary.output.weights[1].weight;
    summary.output.weights[1].weight = original.wrapping_add(1);
    write_signed(dir.path(), summary.clone());
    assert_fails(
        audit(dir.path(), 1),
        1,
        &format!("output.weights[1].weight: published {}, rerun {original}", original.wrapping_add(1)),
    );

    // Without re-signing, the signature already fails.
    let text = std::fs::read_to_string(fixture().join("epochs/1/1/summary.json")).expect("reads");
    let needle = format!("\"weight\": {original}");
    assert!(text.contains(&needle));
    std::fs::write(
        summary_path(dir.path(), 1),
        text.replacen(&needle, &format!("\"weight\": {}", original.wrapping_add(1)), 1),
    )
    .expect("writes");
    assert_fails(audit(dir.path(), 1), 1, "summary signature");
}

#[test]
fn changed_policy_bytes_are_caught() {
    let dir = copy();
    let summary = read_summary(dir.path(), 1);
    let path = dir.path().join(&summary.scorer.key);
    let mut bytes = std::fs::read(&path).expect("reads policy");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).expect("writes");
    assert_fails(audit(dir.path(), 1), 1, "policy bytes");
}

#[test]
fn a_changed_signature_is_caught() {
    let dir = copy();
    let text = std::fs::read_to_string(summary_path(dir.path(), 0)).expect("reads");
    let at = text.find("\"signature\": \"0x").expect("signed") + "\"signature\": \"0x".len();
    let mut chars: Vec<char> = text.chars().collect();
    chars[at + 5] = if chars[at + 5] == '0' { '1' } else { '0' };
    std::fs::write(summary_path(dir.path(), 0), chars.into_iter().collect::<String>()).expect("writes");
    assert_fails(audit(dir.path(), 0), 1, "summary signature");
}

#[test]
fn a_broken_state_chain_is_caught() {
    let dir = copy();
    // Hand epoch 1 a state that epoch 0 did not return, re-hashing and re-signing everything.
    let json = input_json(dir.path(), 1);
    let input = canonical::decode::<assay_policy_sdk::v0_1::EpochInput>(json.as_bytes()).expect("decodes");
    assert!(!input.state.is_empty(), "epoch 1 carries epoch 0's state");
    let mut forged = input.clone();
    forged.state = vec![1];
    let forged_json = String::from_utf8(canonical::encode(&forged).expect("encodes")).expect("utf-8");
    replace_input(dir.path(), 1, &forged_json, true);
    assert_fails(audit(dir.path(), 1), 1, "state chain");
}

#[test]
fn unusable_input_exits_2() {
    assert_fails(run(assay().args(["audit", "/nonexistent/epochs/1/0/summary.json"])), 2, "missing");
    assert_fails(run(assay().args(["audit", "/tmp/summary.json"])), 2, "is not laid out as");

    let dir = copy();
    std::fs::write(summary_path(dir.path(), 0), "{ not json").expect("writes");
    assert_fails(audit(dir.path(), 0), 2, "not JSON");

    let dir = copy();
    std::fs::remove_file(dir.path().join("epochs/1/1/input.json.zst")).expect("removes");
    assert_fails(audit(dir.path(), 1), 2, "input epochs/1/1/input.json.zst is missing");
}

fn audit_pinned(root: &Path, epoch: u64, validator: &str) -> (i32, String) {
    run(assay().arg("audit").arg(summary_path(root, epoch)).args(["--validator", validator]))
}

#[test]
fn a_pinned_validator_is_the_only_signer_accepted() {
    let golden = golden_key().ss58();
    let (code, text) = audit_pinned(&fixture(), 1, &golden);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("signature by {golden}")), "{text}");

    // Someone else's key, named in the summary and signing it, verifies on its own; pinned, it
    // is refused.
    let dir = copy();
    let forger = Hotkey::from_seed(Scheme::Sr25519, [9; 32]).expect("key");
    let mut forged = read_summary(dir.path(), 1);
    forged.validator.hotkey = forger.ss58();
    let bytes = forged.sign(&forger).expect("signs");
    std::fs::write(summary_path(dir.path(), 1), bytes).expect("writes");
    assert_fails(audit_pinned(dir.path(), 1, &golden), 1, &format!("signed by {}, not the pinned", forger.ss58()));
    assert_fails(audit_pinned(&fixture(), 1, "not-an-address"), 2, "not-an-address");
}

#[test]
fn limits_above_the_auditors_maximum_are_refused_before_anything_runs() {
    let dir = copy();
    let mut summary = read_summary(dir.path(), 1);
    summary.limits.fuel = u64::MAX;
    write_signed(dir.path(), summary);
    assert_fails(audit(dir.path(), 1), 2, "fuel 18446744073709551615 is above this auditor's maximum");
}

#[test]
fn symbolic_links_in_a_published_folder_are_refused() {
    let dir = copy();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("epochs/1/1/input.json.zst");
    let moved = elsewhere.path().join("input.json.zst");
    std::fs::rename(&input, &moved).expect("moves");
    std::os::unix::fs::symlink(&moved, &input).expect("links");
    assert_fails(audit(dir.path(), 1), 2, "is a symbolic link");
}

#[test]
fn an_oversized_summary_is_refused_unread() {
    let dir = copy();
    // Whitespace is not covered by the signature: the padded file still verifies.
    let mut text = std::fs::read_to_string(summary_path(dir.path(), 1)).expect("reads");
    text.push_str(&" ".repeat(17 << 20));
    std::fs::write(summary_path(dir.path(), 1), text).expect("writes");
    assert_fails(audit(dir.path(), 1), 2, "larger than the auditor's maximum");
}

#[test]
fn an_input_that_expands_past_its_signed_length_is_caught_early() {
    // A zstd bomb: the summary's json_bytes stays, its zst_sha256 names the bomb.
    let dir = copy();
    let mut bomb = input_json(dir.path(), 1).into_bytes();
    bomb.resize(bomb.len() + (64 << 20), b' ');
    let zst = canonical::compress(&bomb).expect("compresses");
    std::fs::write(dir.path().join("epochs/1/1/input.json.zst"), &zst).expect("writes");
    let mut summary = read_summary(dir.path(), 1);
    summary.input.zst_sha256 = sha256_hex(&zst);
    let signed_length = summary.input.json_bytes;
    write_signed(dir.path(), summary.clone());
    assert_fails(audit(dir.path(), 1), 1, &format!("decompresses to more than {signed_length} bytes"));

    // A signed length past what the auditor will hold is refused before decompressing.
    summary.input.json_bytes = 3 << 30;
    write_signed(dir.path(), summary);
    assert_fails(audit(dir.path(), 1), 2, "above the auditor's maximum");
}

// The history of a folder: `assay audit DIR --validator SS58 [--local-chain DIR]`.

fn audit_folder(root: &Path, chain: Option<&Path>) -> (i32, String) {
    let mut cmd = assay();
    cmd.arg("audit").arg(root).arg("--validator").arg(golden_key().ss58());
    if let Some(chain) = chain {
        cmd.arg("--local-chain").arg(chain);
    }
    run(&mut cmd)
}

/// A local chain with the golden validator registered, whose commitment holds `fields`.
fn chain_holding(dir: &Path, fields: &[String]) -> PathBuf {
    use assay_chain::Chain;
    let validator = golden_key().ss58();
    let metagraph: assay_chain::Metagraph =
        serde_json::from_value(serde_json::json!({"netuid": 1, "neurons": [{"uid": 0, "hotkey": validator}]}))
            .expect("metagraph");
    let path = dir.join("chain");
    let chain = assay_chain::LocalChain::create(&path, &metagraph, 12.0).expect("chain");
    if !fields.is_empty() {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(chain.set_commitment(&validator, 1, fields)).expect("commits");
    }
    path
}

fn summary_field(root: &Path, epoch: u64) -> String {
    let bytes = std::fs::read(summary_path(root, epoch)).expect("reads summary");
    format!("assay-summary:{epoch}:sha256:{}", sha256_hex(&bytes))
}

#[test]
fn a_folders_history_matching_the_chain_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain_holding(dir.path(), &[summary_field(&fixture(), 1)]);
    let (code, text) = audit_folder(&fixture(), Some(&chain));
    assert_eq!(code, 0, "{text}");
    for line in [
        "epoch 1 follows epoch 0",
        "epoch 1's summary is the one the chain holds",
        "epoch 0: rerun identical",
        "epoch 1: rerun identical",
        "PASS",
    ] {
        assert!(text.contains(line), "lacks {line:?}:\n{text}");
    }
    let (code, text) = audit_folder(&fixture(), None);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("the chain was not read"), "{text}");
    assert_fails(run(assay().arg("audit").arg(fixture())), 2, "needs --validator");
}

#[test]
fn a_missing_epoch_between_two_present_fails_as_a_gap() {
    let dir = copy();
    // Epoch 3, signed by the validator, follows an epoch 2 that is not published.
    let mut third = read_summary(dir.path(), 1);
    third.epoch = 3;
    third.previous = Some(assay_epoch::summary::Previous { epoch: 2, sha256: "00".repeat(32) });
    std::fs::create_dir_all(dir.path().join("epochs/1/3")).expect("mkdir");
    write_signed(dir.path(), third);
    assert_fails(
        audit_folder(dir.path(), None),
        1,
        "gap: epoch 3 follows epoch 2, which is not published (between 1 and 3)",
    );
}

#[test]
fn a_rewritten_earlier_summary_fails_as_a_fork() {
    let dir = copy();
    // The same epoch 0, re-signed (other bytes, a valid signature): epoch 1 no longer names it.
    write_signed(dir.path(), read_summary(dir.path(), 0));
    assert_fails(audit_folder(dir.path(), None), 1, "fork: epoch 1 names epoch 0's summary as");
}

#[test]
fn a_summary_replaced_after_its_hash_went_on_chain_fails() {
    let dir = copy();
    let chain = chain_holding(dir.path(), &[summary_field(dir.path(), 1)]);
    write_signed(dir.path(), read_summary(dir.path(), 1));
    assert_fails(audit_folder(dir.path(), Some(&chain)), 1, "but the chain holds");
    assert_fails(audit_folder(dir.path(), Some(&chain)), 1, "it was replaced after its hash went on chain");
}

#[test]
fn a_chain_without_the_validators_summary_hash_fails_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = format!("assay-policy:scorer:sha256:{}", "cd".repeat(32));
    let chain = chain_holding(dir.path(), &[policy]);
    assert_fails(audit_folder(&fixture(), Some(&chain)), 1, "the chain holds no summary hash for this validator");
}
