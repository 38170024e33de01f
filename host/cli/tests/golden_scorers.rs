//! The published golden epochs of the contract 0.2.0 scorers, `fixtures/golden-nineteen`,
//! `-proof-of-inference`, `-cacheon` and `-consensus` (scripts/make-golden-epoch.sh <scorer>):
//! epochs 1 and 2, each audits PASS, epoch by epoch and as a folder; a tampered copy FAILs; the
//! cheating miner (uid 7, which fails challenges) has weight 0 in each epoch (under nineteen and
//! proof-of-inference every other one more; under cacheon the winner leads and uid 7 has failed
//! the correctness gate too; under consensus the late and mismatched reveals are at 0 as well);
//! the inputs carry what each scorer reads (two weighted tasks, per-task capacities, token checks
//! on greedy requests, challenge response times; baseline rows on the competition's prompts;
//! one commit-reveal round). Beside them the 0.1.0 golden (`fixtures/golden`, golden.rs) still
//! passes under its original scorer hash.

mod common;

use std::path::{Path, PathBuf};

use assay_epoch::{Summary, canonical};
use assay_policy_sdk::{EpochInput, Verdict};
use common::{assay, copy_tree, golden_key, run};
use sha2::{Digest, Sha256};

/// The 0.1.0 constantinople the original golden fixture was published with.
const ORIGINAL_SCORER: &str = "6553c9e1265d0388bf6297a0798d0ef1fd5059ba340db2aa03d573c098209a41";

/// The two published epochs (after every synthetic miner's registration, so none is new).
const EPOCHS: [u64; 2] = [1, 2];

/// The cheating miner of `assay_epoch::synth` (every eighth): it fails most challenges.
const CHEAT: u16 = 7;

/// A golden fixture of a 0.2.0 scorer: its folder and the name of the component that counts
/// the cheat's failed challenges.
struct Golden {
    scorer: &'static str,
    fails_component: &'static str,
}

const NINETEEN: Golden = Golden { scorer: "nineteen", fails_component: "failed_challenges" };
const PROOF_OF_INFERENCE: Golden = Golden { scorer: "proof-of-inference", fails_component: "fails" };
const CACHEON: Golden = Golden { scorer: "cacheon", fails_component: "failed_challenges" };
const CONSENSUS: Golden = Golden { scorer: "consensus", fails_component: "failed_challenges" };

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

impl Golden {
    fn dir(&self) -> PathBuf {
        fixture(&format!("golden-{}", self.scorer))
    }

    /// A writable copy.
    fn copy(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(&self.dir(), dir.path());
        dir
    }
}

fn summary_path(root: &Path, epoch: u64) -> PathBuf {
    root.join(format!("epochs/1/{epoch}/summary.json"))
}

fn audit(root: &Path, epoch: u64) -> (i32, String) {
    run(assay().arg("audit").arg(summary_path(root, epoch)))
}

fn read_summary(root: &Path, epoch: u64) -> Summary {
    let bytes = std::fs::read(summary_path(root, epoch)).expect("reads summary");
    Summary::parse_and_verify(&bytes).expect("golden summary verifies")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn input(root: &Path, epoch: u64) -> EpochInput {
    let zst = std::fs::read(root.join(format!("epochs/1/{epoch}/input.json.zst"))).expect("reads input");
    let json = canonical::decompress(&zst, 1 << 30).expect("decompresses");
    canonical::decode(&json).expect("a canonical 0.2.0 input")
}

/// Replaces epoch `epoch`'s input, updating every hash in its summary and re-signing it, so
/// that only the rerun can catch the change.
fn replace_input_resigned(root: &Path, epoch: u64, input: &EpochInput) {
    let json = canonical::encode(input).expect("encodes");
    let zst = canonical::compress(&json).expect("compresses");
    std::fs::write(root.join(format!("epochs/1/{epoch}/input.json.zst")), &zst).expect("writes input");
    let mut summary = read_summary(root, epoch);
    summary.input.zst_sha256 = sha256_hex(&zst);
    summary.input.sha256 = sha256_hex(&json);
    summary.input.json_bytes = json.len() as u64;
    summary.input.state_sha256 = sha256_hex(&input.state);
    let bytes = summary.sign(&golden_key()).expect("signs");
    std::fs::write(summary_path(root, epoch), bytes).expect("writes summary");
}

fn assert_fails(result: (i32, String), expected: &str) {
    let (status, text) = result;
    assert_eq!(status, 1, "expected exit 1, output:\n{text}");
    assert!(text.contains(expected), "output lacks {expected:?}:\n{text}");
}

fn audits_pass(golden: &Golden) {
    let dir = golden.dir();
    for epoch in EPOCHS {
        let (code, text) = audit(&dir, epoch);
        assert_eq!(code, 0, "{} epoch {epoch}: {text}", golden.scorer);
        assert!(text.lines().any(|l| l == "PASS"), "{text}");
        assert!(text.contains("(contract 0.2.0)"), "{text}");
        assert!(text.contains("rerun: 8 scores, 8 weights"), "{text}");
    }
    assert!(audit(&dir, 2).1.contains("chain to epoch 1"));
    let (code, text) = run(assay().arg("audit").arg(&dir).arg("--validator").arg(golden_key().ss58()));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("epoch 2 follows epoch 1") && text.contains("epoch 2: rerun identical"), "{text}");
}

#[test]
fn the_nineteen_golden_epochs_audit_pass() {
    audits_pass(&NINETEEN);
}

#[test]
fn the_proof_of_inference_golden_epochs_audit_pass() {
    audits_pass(&PROOF_OF_INFERENCE);
}

#[test]
fn the_cacheon_golden_epochs_audit_pass() {
    audits_pass(&CACHEON);
}

#[test]
fn the_consensus_golden_epochs_audit_pass() {
    audits_pass(&CONSENSUS);
}

/// uid 7 fails challenges in every epoch, its weight is 0 and its component counts them;
/// someone has 65535. Returns each epoch's output.
fn the_cheat_fails_and_weighs_zero(golden: &Golden) -> Vec<assay_epoch::summary::OutputRecord> {
    let mut outputs = Vec::new();
    for epoch in EPOCHS {
        let input = input(&golden.dir(), epoch);
        let c = &input.challenges;
        let fails = (0..c.uid.len()).filter(|&i| c.uid[i] == CHEAT && c.verdict[i] == Verdict::Fail).count();
        assert!(fails > 0, "{} epoch {epoch}: uid {CHEAT} fails a challenge", golden.scorer);
        let output = read_summary(&golden.dir(), epoch).output;
        assert_eq!(weight(&output, CHEAT), Some(0), "{} epoch {epoch}: {:?}", golden.scorer, output.weights);
        assert_eq!(
            component(&output, CHEAT, golden.fails_component),
            Some(fails as f64),
            "{} epoch {epoch}",
            golden.scorer
        );
        assert!(output.weights.iter().any(|w| w.weight == 65535), "{:?}", output.weights);
        outputs.push(output);
    }
    outputs
}

fn weight(output: &assay_epoch::summary::OutputRecord, uid: u16) -> Option<u16> {
    output.weights.iter().find(|w| w.uid == uid).map(|w| w.weight)
}

fn component(output: &assay_epoch::summary::OutputRecord, uid: u16, name: &str) -> Option<f64> {
    let score = output.scores.iter().find(|s| s.uid == uid)?;
    score.components.iter().find(|c| c.name == name).map(|c| c.value)
}

/// Under cacheon only the winner, the runner-up and `burn.uid` (0 by default: synthetic uid 0
/// stands for the owner) are paid. uid 7, the fastest server, fails the correctness gate (half
/// its tokens are not the reference's) and is gated by its failed challenges: fresh score 0,
/// weight 0; the winner, at 65535, is an honest miner with a positive fresh score.
#[test]
fn the_failing_miner_has_weight_0_in_each_cacheon_epoch() {
    for (output, epoch) in the_cheat_fails_and_weighs_zero(&CACHEON).iter().zip(EPOCHS) {
        assert_eq!(component(output, CHEAT, "gated"), Some(1.0), "epoch {epoch}");
        assert_eq!(component(output, CHEAT, "correct"), Some(0.0), "epoch {epoch}");
        assert_eq!(component(output, CHEAT, "fresh_score"), Some(0.0), "epoch {epoch}");
        let winner = output.scores.iter().find(|s| component(output, s.uid, "winner") == Some(1.0)).expect("a winner");
        assert_ne!(winner.uid, CHEAT);
        assert!(component(output, winner.uid, "fresh_score").is_some_and(|f| f > 0.0), "epoch {epoch}");
        let paid = output.weights.iter().filter(|w| w.weight > 0).count();
        assert!((2..=3).contains(&paid), "epoch {epoch}: winner, runner-up and the burn uid: {:?}", output.weights);
    }
}

/// Under consensus uid 7 (far from the others, and gated) is at 0, and so are uid 5 (late) and
/// uid 6 (mismatched reveal); every other miner is weighted.
#[test]
fn the_failing_miner_has_weight_0_in_each_consensus_epoch() {
    for (output, epoch) in the_cheat_fails_and_weighs_zero(&CONSENSUS).iter().zip(EPOCHS) {
        assert_eq!(component(output, CHEAT, "gated"), Some(1.0), "epoch {epoch}");
        for uid in 0..8u16 {
            let zero = [5, 6, CHEAT].contains(&uid);
            assert_eq!(weight(output, uid) == Some(0), zero, "epoch {epoch} uid {uid}: {:?}", output.weights);
        }
        for uid in [5, 6] {
            assert_eq!(component(output, uid, "refused_rounds"), Some(1.0), "epoch {epoch} uid {uid}");
        }
    }
}

/// uid 7 fails challenges in every epoch, and its weight is 0 in every epoch, every other
/// miner's above 0; someone leads.
fn the_cheat_is_weighted_zero(golden: &Golden) {
    for output in the_cheat_fails_and_weighs_zero(golden) {
        assert!(output.weights.iter().all(|w| (w.weight == 0) == (w.uid == CHEAT)), "{:?}", output.weights);
    }
}

#[test]
fn the_failing_miner_has_weight_0_in_each_nineteen_epoch() {
    the_cheat_is_weighted_zero(&NINETEEN);
}

#[test]
fn the_failing_miner_has_weight_0_in_each_proof_of_inference_epoch() {
    the_cheat_is_weighted_zero(&PROOF_OF_INFERENCE);
}

#[test]
fn the_inputs_carry_what_the_scorers_read() {
    for golden in [NINETEEN, PROOF_OF_INFERENCE] {
        for epoch in EPOCHS {
            let input = input(&golden.dir(), epoch);
            let at = format!("{} epoch {epoch}", golden.scorer);
            let tasks: Vec<(&str, f64)> = input.tasks.iter().map(|t| (t.name.as_str(), t.weight)).collect();
            assert_eq!(tasks, [("chat", 0.6), ("completion", 0.4)], "{at}");
            assert!(input.miners.iter().all(|m| m.capacities.len() == 2), "{at}: per-task capacities");
            let r = &input.requests;
            assert!(r.task.contains(&0) && r.task.contains(&1), "{at}: requests of both tasks");
            let t = &input.token_checks;
            assert!(!t.request.is_empty(), "{at}: token checks");
            assert!(t.request.iter().any(|&i| r.greedy[i as usize]), "{at}: token checks on greedy requests");
            let timed = input.challenges.response_ms.iter().filter(|&&ms| ms > 0.0).count();
            assert!(timed * 10 >= input.challenges.uid.len() * 9, "{at}: challenges carry response times");
        }
        // proof-of-inference weights a miner after weights.min_samples (2) verified proofs over
        // all epochs: every honest miner has them in the first epoch already.
        let c = &input(&golden.dir(), EPOCHS[0]).challenges;
        for uid in (0..8u16).filter(|&uid| uid != CHEAT) {
            let passes = (0..c.uid.len()).filter(|&i| c.uid[i] == uid && c.verdict[i] == Verdict::Pass).count();
            assert!(passes >= 2, "{}: uid {uid} passes {passes}", golden.scorer);
        }
    }
}

/// A passed challenge of an honest, weighted miner turned into a failure, every hash updated
/// and the summary re-signed: only the rerun can tell, and it does.
fn a_flipped_verdict_fails(golden: &Golden) {
    let dir = golden.copy();
    let mut input = input(dir.path(), 2);
    let weights = read_summary(dir.path(), 2).output.weights;
    let c = &input.challenges;
    let i = (0..c.uid.len())
        .find(|&i| c.verdict[i] == Verdict::Pass && weights.iter().any(|w| w.uid == c.uid[i] && w.weight > 0))
        .expect("a pass of a weighted miner");
    input.challenges.verdict[i] = Verdict::Fail;
    replace_input_resigned(dir.path(), 2, &input);
    assert_fails(audit(dir.path(), 2), "FAIL: output.");

    // An untouched input with a published weight changed and re-signed fails too.
    let dir = golden.copy();
    let mut summary = read_summary(dir.path(), 2);
    summary.output.weights[0].weight = summary.output.weights[0].weight.wrapping_add(1);
    std::fs::write(summary_path(dir.path(), 2), summary.sign(&golden_key()).expect("signs")).expect("writes");
    assert_fails(audit(dir.path(), 2), "output.weights[0].weight: published");
}

#[test]
fn a_tampered_nineteen_copy_fails() {
    a_flipped_verdict_fails(&NINETEEN);
}

#[test]
fn a_tampered_proof_of_inference_copy_fails() {
    a_flipped_verdict_fails(&PROOF_OF_INFERENCE);
}

#[test]
fn a_tampered_cacheon_copy_fails() {
    a_flipped_verdict_fails(&CACHEON);
    // The baseline made slower (every baseline time doubled), re-signed: the miners'
    // improvements grow, and only the rerun can tell.
    let dir = CACHEON.copy();
    let mut input = input(dir.path(), 2);
    let r = &mut input.requests;
    for i in (0..r.id.len()).filter(|&i| r.uid[i] == assay_policy_sdk::NO_MINER) {
        r.ttft_ms[i] *= 2.0;
        r.total_ms[i] *= 2.0;
    }
    replace_input_resigned(dir.path(), 2, &input);
    assert_fails(audit(dir.path(), 2), "FAIL: output.");
}

#[test]
fn a_tampered_consensus_copy_fails() {
    a_flipped_verdict_fails(&CONSENSUS);
    // An honest reveal moved by 1 in one element, re-signed: its distance to the mean changes.
    let dir = CONSENSUS.copy();
    let mut input = input(dir.path(), 2);
    let row = input.commit_reveals.iter_mut().find(|c| c.uid == 0).expect("uid 0 revealed");
    row.output[0] += 1.0;
    replace_input_resigned(dir.path(), 2, &input);
    assert_fails(audit(dir.path(), 2), "FAIL: output.");
}

/// The competition's inputs: per task, baseline rows (uid 65535, kind baseline) on the prompts
/// every miner was sent, every miner row greedy and token-checked, none of the baseline's.
#[test]
fn the_cacheon_inputs_carry_the_competition() {
    use assay_policy_sdk::{NO_MINER, RequestKind};
    for epoch in EPOCHS {
        let input = input(&CACHEON.dir(), epoch);
        let r = &input.requests;
        for task in [0u16, 1] {
            let prompts = |uid: u16| -> Vec<(u32, u32)> {
                (0..r.id.len())
                    .filter(|&i| r.uid[i] == uid && r.task[i] == task)
                    .map(|i| (r.prompt_tokens[i], r.completion_tokens[i]))
                    .collect()
            };
            let baseline = prompts(NO_MINER);
            assert_eq!(baseline.len(), 16, "epoch {epoch} task {task}");
            for uid in 0..8 {
                assert_eq!(prompts(uid), baseline, "epoch {epoch} task {task} uid {uid}");
            }
        }
        let baseline_rows = (0..r.id.len()).filter(|&i| r.kind[i] == RequestKind::Baseline).count();
        assert_eq!(baseline_rows, 32, "epoch {epoch}");
        assert!(r.greedy.iter().all(|&g| g));
        let checked: Vec<usize> = input.token_checks.request.iter().map(|&i| i as usize).collect();
        assert_eq!(checked.len(), 8 * 32, "epoch {epoch}: every miner row checked");
        assert!(checked.iter().all(|&i| r.uid[i] != NO_MINER));
    }
}

/// The consensus inputs: one round (0) on task chat, a row per miner sorted by uid, uid 5
/// late, uid 6 mismatched, the others valid with 8 elements.
#[test]
fn the_consensus_inputs_carry_one_round() {
    use assay_policy_sdk::Reveal;
    for epoch in EPOCHS {
        let input = input(&CONSENSUS.dir(), epoch);
        let rows: Vec<(u32, u16, u16, Reveal, usize)> =
            input.commit_reveals.iter().map(|c| (c.round, c.uid, c.task, c.reveal, c.output.len())).collect();
        let expected: Vec<(u32, u16, u16, Reveal, usize)> = (0..8u16)
            .map(|uid| match uid {
                5 => (0, uid, 0, Reveal::Late, 0),
                6 => (0, uid, 0, Reveal::Mismatch, 0),
                _ => (0, uid, 0, Reveal::Valid, 8),
            })
            .collect();
        assert_eq!(rows, expected, "epoch {epoch}");
        assert_eq!(input.tasks[0].name, "chat");
    }
}

#[test]
fn the_0_1_golden_still_passes_under_its_original_scorer() {
    let dir = fixture("golden");
    for epoch in [0, 1] {
        let summary = read_summary(&dir, epoch);
        assert_eq!(summary.scorer.sha256, ORIGINAL_SCORER);
        let (code, text) = audit(&dir, epoch);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains(&format!("scorer bytes hash to {ORIGINAL_SCORER} (contract 0.1.0)")), "{text}");
    }
}
