//! `assay watch`, the watchtower, against a publication of eight chained epochs
//! (`fixtures/watch`, scripts/make-watch-epochs.sh) and a local chain: the newest passing epoch
//! of a backfill gets the same weights from the watchtower's hotkey, once; a tampered, gapped,
//! replaced or foreign epoch gets none and the exit code says so; a restart resumes from the state file; silence is reported.

mod common;

use std::path::{Path, PathBuf};

use assay_chain::{Chain, LocalChain};
use assay_epoch::{Summary, canonical};
use assay_keys::{Hotkey, Scheme};
use common::{Killed, assay, copy_tree, golden_key, http_get, key_from, run};
use sha2::{Digest, Sha256};

/// The watchtower's own hotkey seed.
const TOWER_SEED: &str = "7761746368746f7765722d6b65792d666f722d74686520746573747321212121";
const EPOCHS: u64 = 8;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A writable publication, a local chain, the watchtower's wallet and its state file.
struct Setup {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(&fixtures().join("watch"), &dir.path().join("pub"));
        copy_tree(&fixtures().join("golden/policies"), &dir.path().join("pub/policies"));
        let (code, text) = run(assay()
            .args(["wallet", "create", "--root"])
            .arg(dir.path().join("wallets"))
            .args(["--wallet", "watch", "--hotkey", "tower", "--seed", TOWER_SEED]));
        assert_eq!(code, 0, "{text}");
        let mut neurons: Vec<serde_json::Value> = (0..8u8)
            .map(|uid| {
                let hotkey = Hotkey::from_seed(Scheme::Sr25519, [uid + 1; 32]).expect("key").ss58();
                serde_json::json!({"uid": uid, "hotkey": hotkey})
            })
            .collect();
        neurons.push(serde_json::json!({"uid": 8, "hotkey": golden_key().ss58()}));
        let metagraph: assay_chain::Metagraph =
            serde_json::from_value(serde_json::json!({"netuid": 1, "neurons": neurons})).expect("metagraph");
        LocalChain::create(&dir.path().join("chain"), &metagraph, 12.0).expect("chain");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        Self { dir, rt }
    }

    fn publication(&self) -> PathBuf {
        self.dir.path().join("pub")
    }

    fn summary_path(&self, epoch: u64) -> PathBuf {
        self.publication().join(format!("epochs/1/{epoch}/summary.json"))
    }

    fn read_summary(&self, epoch: u64) -> Summary {
        let bytes = std::fs::read(self.summary_path(epoch)).expect("reads summary");
        Summary::parse_and_verify(&bytes).expect("fixture summary verifies")
    }

    /// Publishes `summary` signed by `key` in place of its epoch's.
    fn write_signed(&self, mut summary: Summary, key: &Hotkey) {
        let bytes = summary.sign(key).expect("signs");
        std::fs::write(self.summary_path(summary.epoch), bytes).expect("writes summary");
    }

    /// The validator commits the sha256 of the summary published now at `epoch`.
    fn commit(&self, epoch: u64) {
        let sha = sha256_hex(&std::fs::read(self.summary_path(epoch)).expect("reads summary"));
        let chain = LocalChain::open(&self.dir.path().join("chain")).expect("chain");
        let field = format!("assay-summary:{epoch}:sha256:{sha}");
        self.rt.block_on(chain.set_commitment(&golden_key().ss58(), 1, &[field])).expect("commits");
    }

    /// `assay watch --once` from epoch 0, setting weights on the local chain.
    fn watch(&self, extra: &[&str]) -> (i32, String) {
        run(self.watch_command().arg("--once").args(extra))
    }

    /// `assay watch` from epoch 0, setting weights on the local chain (following, without
    /// `--once`).
    fn watch_command(&self) -> std::process::Command {
        let d = self.dir.path();
        let mut command = assay();
        command
            .arg("watch")
            .arg("--source")
            .arg(self.publication())
            .args(["--validator", &golden_key().ss58(), "--netuid", "1", "--from-epoch", "0"])
            .arg("--state")
            .arg(d.join("state.json"))
            .arg("--local-chain")
            .arg(d.join("chain"))
            .args(["--set-weights", "--wallet.name", "watch", "--wallet.hotkey", "tower", "--wallet.path"])
            .arg(d.join("wallets"))
            .arg("--policy-cache")
            .arg(d.join("cache"));
        command
    }

    /// The weights the watchtower set, in order.
    fn tower_weights(&self) -> Vec<Vec<u16>> {
        let chain = LocalChain::open(&self.dir.path().join("chain")).expect("chain");
        let tower = key_from(TOWER_SEED).ss58();
        chain.weights_log().expect("log").into_iter().filter(|e| e.validator == tower).map(|e| e.call.weights).collect()
    }

    /// The weights epoch `epoch`'s summary (as the fixture has it) names.
    fn summary_weights(&self, epoch: u64) -> Vec<u16> {
        let bytes = std::fs::read(fixtures().join(format!("watch/epochs/1/{epoch}/summary.json"))).expect("reads");
        let summary = Summary::parse_and_verify(&bytes).expect("verifies");
        summary.output.weights.iter().map(|w| w.weight).collect()
    }
}

fn assert_lines(text: &str, expected: &[&str]) {
    for line in expected {
        assert!(text.contains(line), "output lacks {line:?}:\n{text}");
    }
}

#[test]
fn a_clean_publication_passes_resumes_and_goes_silent() {
    let setup = Setup::new();
    setup.commit(EPOCHS - 1);
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 0: PASS", "epoch 7: PASS", "epoch 7 follows epoch 6", "the one the chain holds"]);
    assert_lines(&text, &["epoch 6: weights not set, epoch 7 is newer and passed", "epoch 7: weights set at block"]);
    let expected = vec![setup.summary_weights(EPOCHS - 1)];
    assert_eq!(setup.tower_weights(), expected, "a backfill sets the newest passing epoch's weights, once");

    // A restart resumes from the state file: nothing is audited again, nothing set again.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(setup.dir.path().join("state.json")).expect("state")).expect("json");
    assert_eq!(state["last_audited"]["epoch"], 7, "{state}");
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("PASS"), "re-audited:\n{text}");
    assert_lines(&text, &["watched: 0 pass, 0 fail"]);
    assert_eq!(setup.tower_weights().len(), 1);

    // latest.json has not moved since the first run: with a short --silence-after, silent.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, text) = setup.watch(&["--silence-after", "10ms"]);
    assert_eq!(code, 3, "{text}");
    assert_lines(&text, &["silent: validator"]);
}

#[test]
fn faulty_epochs_get_no_weights_and_a_restart_audits_only_the_new_ones() {
    let setup = Setup::new();
    let input_of_1 = setup.publication().join("epochs/1/1/input.json.zst");
    let mut bytes = std::fs::read(&input_of_1).expect("reads");
    bytes[20] ^= 1;
    std::fs::write(&input_of_1, bytes).expect("tampered input");
    // Epoch 6 committed on chain, then replaced by a re-signed copy (same content, other bytes).
    setup.commit(6);
    setup.write_signed(setup.read_summary(6), &golden_key());

    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 1, "{text}");
    assert_lines(
        &text,
        &[
            "epoch 0: PASS",
            "epoch 1: FAIL: input file hashes to",
            "epoch 2: PASS",
            "epoch 4: PASS",
            "epoch 5: PASS",
            "epoch 6: FAIL: epoch 6's summary hashes to",
            "it was replaced after its hash went on chain",
            "epoch 5: weights not set, epoch 6's history failed",
            "epoch 7: waiting for the chain",
            "watched: 5 pass, 2 fail, 0 unusable, 1 waiting",
        ],
    );
    // Epoch 5 passed on its links alone, and the chain's hash they lead to (epoch 6's) does not
    // match: nothing confirms epoch 5, so its weights are not set.
    let passed: Vec<Vec<u16>> = Vec::new();
    assert_eq!(setup.tower_weights(), passed, "no weights for an epoch the chain did not confirm");

    // Epoch 7 signed by another key, committed: the restart audits it alone, and fails it.
    let forger = Hotkey::from_seed(Scheme::Sr25519, [42; 32]).expect("key");
    let mut foreign = setup.read_summary(7);
    foreign.validator.hotkey = forger.ss58();
    setup.write_signed(foreign, &forger);
    setup.commit(7);
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 1, "{text}");
    assert_lines(&text, &["epoch 7: FAIL", "not the pinned validator", "watched: 0 pass, 1 fail"]);
    for earlier in 0..7 {
        assert!(!text.contains(&format!("epoch {earlier}:")), "epoch {earlier} audited again:\n{text}");
    }
    assert_eq!(setup.tower_weights(), passed, "nothing set for the foreign epoch");
}

fn input_json(setup: &Setup, epoch: u64) -> String {
    let zst = std::fs::read(setup.publication().join(format!("epochs/1/{epoch}/input.json.zst"))).expect("reads");
    String::from_utf8(canonical::decompress(&zst, 1 << 30).expect("decompresses")).expect("utf-8")
}

/// Replaces epoch 1's input with `json` and re-signs its summary with every hash updated, so
/// that only the rerun can catch the change.
fn replace_input_of_1(setup: &Setup, json: &str) {
    let zst = canonical::compress(json.as_bytes()).expect("compresses");
    std::fs::write(setup.publication().join("epochs/1/1/input.json.zst"), &zst).expect("writes input");
    let mut summary = setup.read_summary(1);
    let input = canonical::decode::<assay_policy_sdk::v0_1::EpochInput>(json.as_bytes()).expect("still canonical");
    summary.input.zst_sha256 = sha256_hex(&zst);
    summary.input.sha256 = sha256_hex(json.as_bytes());
    summary.input.json_bytes = json.len() as u64;
    summary.input.state_sha256 = sha256_hex(&input.state);
    setup.write_signed(summary, &golden_key());
}

/// A tampering kind of the golden tests, applied to epoch 1 (whose published hash the
/// validator commits, lying along): epoch 1 fails with `expected` and gets no weights; epoch 0's
/// are set when `epoch_0_set`: the tampering left epoch 0 passing and epoch 1's history (its
/// link to epoch 0, its hash on chain: what confirms epoch 0) intact.
fn check_tampering(tamper: fn(&Setup), expected: &str, epoch_0_set: bool) {
    let setup = Setup::new();
    tamper(&setup);
    setup.commit(1);
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 1, "{text}");
    assert_lines(&text, &["epoch 1: FAIL", expected, "epoch 2: waiting for the chain"]);
    let set = if epoch_0_set { vec![setup.summary_weights(0)] } else { vec![] };
    assert_eq!(setup.tower_weights(), set);
}

#[test]
fn a_changed_input_byte_fails() {
    check_tampering(
        |s| replace_input_of_1(s, &input_json(s, 1).replacen("\"verdict\":\"pass\"", "\"verdict\":\"fail\"", 1)),
        "FAIL: output.",
        true,
    );
}

#[test]
fn a_changed_weight_fails() {
    check_tampering(
        |s| {
            let mut summary = s.read_summary(1);
            summary.output.weights[1].weight = summary.output.weights[1].weight.wrapping_add(1);
            s.write_signed(summary, &golden_key());
        },
        "output.weights[1].weight: published",
        true,
    );
}

#[test]
fn a_changed_signature_fails() {
    check_tampering(
        |s| {
            let text = std::fs::read_to_string(s.summary_path(1)).expect("reads");
            let at = text.find("\"signature\": \"0x").expect("signed") + "\"signature\": \"0x".len() + 5;
            let flipped = if &text[at..at + 1] == "0" { "1" } else { "0" };
            std::fs::write(s.summary_path(1), format!("{}{flipped}{}", &text[..at], &text[at + 1..])).expect("writes");
        },
        "summary signature",
        // Epoch 1's summary is unverifiable, so its link to epoch 0 confirms nothing.
        false,
    );
}

#[test]
fn a_broken_state_chain_fails() {
    check_tampering(
        |s| {
            let mut input =
                canonical::decode::<assay_policy_sdk::v0_1::EpochInput>(input_json(s, 1).as_bytes()).expect("decodes");
            input.state = vec![1];
            replace_input_of_1(s, &String::from_utf8(canonical::encode(&input).expect("encodes")).expect("utf-8"));
        },
        "state chain",
        true,
    );
}

#[test]
fn changed_policy_bytes_fail_every_epoch_that_ran_the_policy() {
    check_tampering(
        |s| {
            let path = s.publication().join(&s.read_summary(1).scorer.key);
            let mut bytes = std::fs::read(&path).expect("reads policy");
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            std::fs::write(&path, bytes).expect("writes");
        },
        "policy bytes",
        false,
    );
}

#[test]
fn bad_arguments_and_sources_exit_2() {
    let setup = Setup::new();
    let (code, text) = run(assay().args([
        "watch",
        "--source",
        "/nonexistent",
        "--validator",
        &golden_key().ss58(),
        "--netuid",
        "1",
        "--once",
    ]));
    assert_eq!(code, 2, "{text}");
    assert_lines(&text, &["not a folder"]);
    let (code, text) = run(assay()
        .args(["watch", "--validator", &golden_key().ss58(), "--netuid", "1", "--once", "--set-weights", "--source"])
        .arg(setup.publication()));
    assert_eq!(code, 2, "{text}");
    assert_lines(&text, &["--set-weights needs a chain"]);
    let (code, text) = run(assay()
        .args(["watch", "--validator", "not-an-address", "--netuid", "1", "--once", "--source"])
        .arg(setup.publication()));
    assert_eq!(code, 2, "{text}");
    assert_lines(&text, &["--validator not-an-address"]);
    // A latest.json that is no pointer is a publication that cannot be read: exit 2 with --once
    // (followed, it is retried with a doubling pause).
    std::fs::write(setup.publication().join("epochs/1/latest.json"), "{ not json").expect("writes");
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 2, "{text}");
    assert_lines(&text, &["reading the publication: epochs/1/latest.json"]);
}

/// An epoch published late (the node's queue published the next one first): the next one names
/// it, so it is waited for, neither passed over nor blamed on its successor; waited for longer
/// than `--silence-after` it is reported (exit 3); once published, it and the rest pass.
#[test]
fn a_late_epoch_is_waited_for_not_skipped() {
    let setup = Setup::new();
    setup.commit(EPOCHS - 1);
    let epoch_3 = setup.publication().join("epochs/1/3");
    let saved = setup.dir.path().join("epoch-3");
    std::fs::rename(&epoch_3, &saved).expect("moves epoch 3");

    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 2: PASS", "epoch 3: waiting: not published, and epoch 4 names epoch 3 before it"]);
    assert!(!text.contains("epoch 4:"), "epoch 4 audited before epoch 3:\n{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert_eq!(setup.tower_weights(), Vec::<Vec<u16>>::new(), "nothing the chain confirmed yet");

    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, text) = setup.watch(&["--silence-after", "10ms"]);
    assert_eq!(code, 3, "{text}");
    assert_lines(&text, &["stalled: epoch 3 is named by a later summary but not published"]);
    assert!(!text.contains("FAIL"), "{text}");

    std::fs::rename(&saved, &epoch_3).expect("epoch 3 published late");
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 3: PASS", "epoch 4: PASS", "epoch 7: PASS", "watched: 5 pass, 0 fail"]);
    assert_eq!(setup.tower_weights(), vec![setup.summary_weights(EPOCHS - 1)]);
}

/// A validator that never commits its summary's hash: its epochs wait, and once the first has
/// waited longer than `--silence-after` it is reported (exit 3 with `--once`), not passed with 0.
#[test]
fn a_validator_that_never_commits_is_reported_stalled() {
    let setup = Setup::new();
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 0: waiting for the chain", "watched: 0 pass, 0 fail, 0 unusable, 8 waiting"]);
    // latest.json moved (rewritten), so the stall, not only silence, is what is reported.
    std::fs::write(
        setup.publication().join("epochs/1/latest.json"),
        b"{\"epoch\": 7, \"summary\": \"epochs/1/7/summary.json\"}",
    )
    .expect("writes");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, text) = setup.watch(&["--silence-after", "10ms"]);
    assert_eq!(code, 3, "{text}");
    assert_lines(&text, &["stalled: epoch 0 waited for the chain to name its summary's hash"]);
}

/// A `latest.json` that goes backwards is said loudly; the position does not follow it.
#[test]
fn a_latest_going_backwards_is_reported() {
    let setup = Setup::new();
    setup.commit(EPOCHS - 1);
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    std::fs::write(
        setup.publication().join("epochs/1/latest.json"),
        b"{\"epoch\": 5, \"summary\": \"epochs/1/5/summary.json\"}",
    )
    .expect("writes");
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["latest.json went backwards: it names epoch 5, epoch 7 was examined", "watched: 0 pass"]);
}

/// Without `--from-epoch` the start is the latest epoch, and it is kept from the first poll: a
/// chain one epoch behind leaves epoch 7 waiting, and epoch 7 stays the start (not whatever
/// `latest.json` names at the next poll), so auditing starts once the chain names it.
#[test]
fn the_start_is_kept_from_the_first_poll() {
    let setup = Setup::new();
    setup.commit(EPOCHS - 2);
    let d = setup.dir.path();
    let watch = || {
        run(assay()
            .args(["watch", "--once", "--validator", &golden_key().ss58(), "--netuid", "1", "--source"])
            .arg(setup.publication())
            .arg("--state")
            .arg(d.join("state.json"))
            .arg("--local-chain")
            .arg(d.join("chain"))
            .arg("--policy-cache")
            .arg(d.join("cache")))
    };
    let (code, text) = watch();
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 7: waiting for the chain"]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("state.json")).expect("state")).expect("json");
    assert_eq!(state["examined_through"], 6, "{state}");
    setup.commit(EPOCHS - 1);
    let (code, text) = watch();
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 7: PASS", "watched: 1 pass"]);
}

/// An epoch the validator never published, passed over by the next summary's own link (epoch
/// 7 re-signed naming epoch 5): passed over, not waited for, and epoch 7 audited against epoch 5
/// with no gap. (The fixture's epoch 7 ran on epoch 6's scorer state, so its rerun then fails
/// the state chain: that, not a gap or a wait, is its verdict.)
#[test]
fn an_epoch_the_next_summary_passes_over_is_skipped() {
    let setup = Setup::new();
    let sha_5 = sha256_hex(&std::fs::read(setup.summary_path(5)).expect("reads"));
    std::fs::remove_dir_all(setup.publication().join("epochs/1/6")).expect("epoch 6 never published");
    let mut summary = setup.read_summary(EPOCHS - 1);
    summary.previous = Some(assay_epoch::summary::Previous { epoch: 5, sha256: sha_5 });
    setup.write_signed(summary, &golden_key());
    setup.commit(EPOCHS - 1);
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 1, "{text}");
    assert_lines(
        &text,
        &["epoch 5: PASS", "epoch 6: not published", "epoch 7: FAIL: state chain: epoch 7 was given state"],
    );
    assert!(!text.contains("gap") && !text.contains("waiting:"), "{text}");
}

/// A summary over the auditor's bound: no retry changes that, so the epoch FAILs (unauditable),
/// read no further than the bound (the store's own too-large error, not a RETRY).
#[test]
fn a_summary_over_the_bound_fails_as_unauditable() {
    let setup = Setup::new();
    let mut bytes = std::fs::read(setup.summary_path(EPOCHS - 1)).expect("reads");
    bytes.resize(17 << 20, b' ');
    std::fs::write(setup.summary_path(EPOCHS - 1), bytes).expect("writes");
    setup.commit(EPOCHS - 1);
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 1, "{text}");
    assert_lines(
        &text,
        &["epoch 6: PASS", "epoch 7: FAIL: unauditable: object store: epochs/1/7/summary.json is larger"],
    );
    assert!(!text.contains("RETRY"), "{text}");
    assert_eq!(setup.tower_weights(), Vec::<Vec<u16>>::new(), "nothing the chain confirmed");
}

/// A `latest.json` naming an epoch far ahead whose summary is not there (here 10^15, and no
/// chain to cap it): the watchtower audits what is published, then waits at the first epoch
/// nothing says was passed over, and `--once` ends instead of probing every number up to it.
#[test]
fn a_latest_far_ahead_is_not_probed_forever() {
    let setup = Setup::new();
    let far = 1_000_000_000_000_000u64;
    let latest = serde_json::json!({"epoch": far, "summary": format!("epochs/1/{far}/summary.json")});
    std::fs::write(setup.publication().join("epochs/1/latest.json"), latest.to_string()).expect("writes");
    let d = setup.dir.path();
    let (code, text) = run(assay()
        .args(["watch", "--once", "--validator", &golden_key().ss58(), "--netuid", "1", "--from-epoch", "0"])
        .arg("--source")
        .arg(setup.publication())
        .arg("--state")
        .arg(d.join("state.json"))
        .arg("--policy-cache")
        .arg(d.join("cache")));
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 7: PASS", "epoch 8: waiting: not published, and no later summary says"]);
}

/// A read that fails (here epoch 2's input turned into a folder, which reads as an error, not
/// as a missing file) is no verdict: epoch 2 is not passed over, the position stays at epoch 1
/// (whose weights wait: only epoch 7's hash is on chain), and once the source reads again the
/// rest is audited and epoch 7's weights are set.
#[test]
fn a_failing_read_keeps_the_position_until_the_source_recovers() {
    let setup = Setup::new();
    setup.commit(EPOCHS - 1);
    let input = setup.publication().join("epochs/1/2/input.json.zst");
    let saved = setup.dir.path().join("input-2");
    std::fs::rename(&input, &saved).expect("moves input");
    std::fs::create_dir(&input).expect("a folder where a file was");

    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 2, "{text}");
    assert_lines(&text, &["epoch 1: PASS", "epoch 2: RETRY: a read failed", "not a plain file"]);
    assert!(!text.contains("epoch 3:"), "moved past epoch 2:\n{text}");
    // Epoch 1 passed on its links alone: its weights wait for the chain's hash (epoch 7's).
    assert_eq!(setup.tower_weights(), Vec::<Vec<u16>>::new(), "epoch 1's hash is not confirmed yet");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(setup.dir.path().join("state.json")).expect("state")).expect("json");
    assert_eq!(state["examined_through"], 1, "{state}");

    // Still failing: still there.
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 2, "{text}");
    assert_lines(&text, &["epoch 2: RETRY"]);

    std::fs::remove_dir(&input).expect("removes folder");
    std::fs::rename(&saved, &input).expect("restores input");
    let (code, text) = setup.watch(&[]);
    assert_eq!(code, 0, "{text}");
    assert_lines(&text, &["epoch 2: PASS", "epoch 7: PASS", "watched: 6 pass, 0 fail, 0 unusable"]);
    assert_eq!(setup.tower_weights(), vec![setup.summary_weights(EPOCHS - 1)]);
}

/// `GET /metrics` on `addr`, the whole response.
fn get_metrics(addr: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// Followed (no `--once`), the watchtower serves its metrics on a loopback port while it runs:
/// the eight passing epochs, the one weights call of the backfill, nothing waiting.
#[test]
fn metrics_are_served_while_following() {
    use std::io::BufRead;
    let setup = Setup::new();
    setup.commit(EPOCHS - 1);
    let mut child = setup
        .watch_command()
        .args(["--metrics-addr", "127.0.0.1:0", "--interval", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts assay watch");
    let stdout = child.stdout.take().expect("stdout");
    let following = Killed(child);
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let addr = loop {
        let line = seen.recv_timeout(std::time::Duration::from_secs(60)).expect("the metrics address is printed");
        if let Some(rest) = line.strip_prefix("metrics: http://") {
            break rest.trim_end_matches("/metrics").to_string();
        }
    };
    let expected = [
        "HTTP/1.1 200",
        "assay_watch_epochs_audited_total{verdict=\"pass\"} 8",
        "assay_watch_epochs_audited_total{verdict=\"fail\"} 0",
        "assay_watch_last_audited_epoch 7",
        "assay_watch_epochs_waiting_for_chain 0",
        "assay_watch_weights_set_total 1",
        "assay_watch_silent 0",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut response = String::new();
    while std::time::Instant::now() < deadline {
        response = get_metrics(&addr).expect("the metrics are served");
        if expected.iter().all(|line| response.contains(line)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_lines(&response, &expected);
    drop(following);
    assert!(get_metrics(&addr).is_err(), "stopped, nothing is served");
}

#[test]
fn the_dashboard_shows_each_audited_epoch_with_its_verdict_and_summary() {
    use std::io::BufRead;
    let setup = Setup::new();
    setup.commit(EPOCHS - 1);
    let mut child = Killed(
        setup
            .watch_command()
            .args(["--dashboard-addr", "127.0.0.1:0", "--interval", "1s"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starts the watchtower"),
    );
    let stdout = child.0.stdout.take().expect("piped");
    let mut lines = std::io::BufReader::new(stdout).lines().map_while(Result::ok);
    let addr = lines.find_map(|l| l.strip_prefix("dashboard: http://").map(|a| a.trim_end_matches('/').to_string()));
    let addr = addr.expect("the dashboard's address is printed");
    // Keeps reading, so that a full pipe never stops the watchtower.
    std::thread::spawn(move || lines.for_each(drop));

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let epochs = loop {
        let body = http_get(&addr, "/api/epochs").unwrap_or_default();
        let epochs: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if epochs["epochs"].as_array().is_some_and(|e| e.len() == EPOCHS as usize) {
            break epochs;
        }
        assert!(std::time::Instant::now() < deadline, "not every epoch shown: {body}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    drop(child);
    for (epoch, view) in epochs["epochs"].as_array().expect("epochs").iter().enumerate() {
        assert_eq!(view["epoch"], epoch as u64, "{view}");
        assert_eq!(view["audit"]["verdict"], "PASS", "{view}");
        let weights: Vec<u64> =
            view["miners"].as_array().expect("miners").iter().filter_map(|m| m["weight"].as_u64()).collect();
        let published: Vec<u64> =
            setup.summary_weights(epoch as u64).into_iter().map(u64::from).filter(|w| *w > 0).collect();
        assert_eq!(weights.into_iter().filter(|w| *w > 0).collect::<Vec<_>>(), published, "{view}");
    }
    assert_eq!(epochs["epochs"][0]["scorer"], setup.read_summary(0).scorer.sha256);
}
