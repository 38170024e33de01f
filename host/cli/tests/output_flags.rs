//! What scripts and log shippers read: `--json` puts one JSON object on stdout carrying the
//! result (an audit's verdict, epochs and mismatches; a policy check; the chain's weights),
//! `--quiet` prints nothing on stdout and keeps the exit codes, `--log-format json` writes
//! JSON lines, and logs written to a pipe carry no escape codes.

mod common;

use std::path::{Path, PathBuf};

use assay_epoch::canonical;
use common::{assay, copy_tree, golden_validator, output, plugin};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

fn summary(root: &Path, epoch: u64) -> PathBuf {
    root.join(format!("epochs/1/{epoch}/summary.json"))
}

/// The one JSON object a `--json` run printed on stdout.
fn json_of(stdout: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line of JSON on stdout:\n{stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A copy of the golden publication whose epoch 1 input has one verdict changed.
fn tampered() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture(), dir.path());
    let path = dir.path().join("epochs/1/1/input.json.zst");
    let json = canonical::decompress(&std::fs::read(&path).expect("reads"), 1 << 30).expect("decompresses");
    let json = String::from_utf8(json).expect("utf-8");
    let changed = json.replacen("\"verdict\":\"pass\"", "\"verdict\":\"fail\"", 1);
    assert_ne!(json, changed);
    std::fs::write(&path, canonical::compress(changed.as_bytes()).expect("compresses")).expect("writes");
    dir
}

/// The fields of every `audit --json` object, in order (README).
const AUDIT_FIELDS: [&str; 9] =
    ["verdict", "location", "netuid", "epochs", "failed_epoch", "mismatches", "checked", "notes", "error"];

/// The audit object a `--json` run printed, checked to carry exactly [`AUDIT_FIELDS`] in order.
fn audit_json(stdout: &str) -> serde_json::Value {
    let json = json_of(stdout);
    let mut fields: Vec<&str> = json.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    fields.sort_unstable();
    let mut expected = AUDIT_FIELDS;
    expected.sort_unstable();
    assert_eq!(fields, expected, "{json}");
    // In order on the line (serde_json's map above sorts its keys).
    let at: Vec<Option<usize>> = AUDIT_FIELDS.iter().map(|f| stdout.find(&format!("\"{f}\":"))).collect();
    assert!(at.is_sorted(), "{stdout}");
    json
}

#[test]
fn audit_json_of_a_pass_a_fail_and_unusable_input_has_one_shape() {
    let at = summary(&fixture(), 1);
    let (code, stdout, stderr) = output(assay().args(["audit", "--json"]).arg(&at));
    assert_eq!(code, 0, "{stderr}");
    let pass = audit_json(&stdout);
    assert_eq!(pass["verdict"], "PASS", "{pass}");
    assert_eq!(pass["location"].as_str(), Some(at.display().to_string().as_str()), "{pass}");
    assert_eq!((pass["netuid"].as_u64(), &pass["epochs"]), (Some(1), &serde_json::json!([1])), "{pass}");
    assert_eq!((&pass["failed_epoch"], &pass["error"]), (&serde_json::Value::Null, &serde_json::Value::Null));
    assert_eq!(pass["mismatches"], serde_json::json!([]), "{pass}");
    assert!(pass["checked"].as_array().is_some_and(|c| !c.is_empty()), "{pass}");
    let unpinned = |n: &serde_json::Value| n.as_str().is_some_and(|n| n.contains("the signer is not pinned"));
    assert!(pass["notes"].as_array().is_some_and(|n| n.iter().any(unpinned)), "{pass}");

    let dir = tampered();
    let at = summary(dir.path(), 1);
    let (code, stdout, stderr) = output(assay().args(["audit", "--json"]).arg(&at));
    assert_eq!(code, 1, "{stderr}");
    let fail = audit_json(&stdout);
    assert_eq!(fail["verdict"], "FAIL", "{fail}");
    assert_eq!(fail["location"].as_str(), Some(at.display().to_string().as_str()), "{fail}");
    assert_eq!((fail["netuid"].as_u64(), &fail["epochs"]), (Some(1), &serde_json::json!([1])), "{fail}");
    assert_eq!((fail["failed_epoch"].as_u64(), &fail["error"]), (Some(1), &serde_json::Value::Null), "{fail}");
    let mismatch = fail["mismatches"][0].as_str().expect("a mismatch");
    assert!(mismatch.contains("input file hashes to"), "{fail}");

    // Unusable input: exit 2, and still the same object, the error in it.
    let (code, stdout, _) = output(assay().args(["audit", "--json", "/nonexistent/epochs/1/0/summary.json"]));
    assert_eq!(code, 2);
    let unusable = audit_json(&stdout);
    assert_eq!(unusable["verdict"], "UNUSABLE", "{unusable}");
    assert_eq!(unusable["location"], "/nonexistent/epochs/1/0/summary.json", "{unusable}");
    assert!(unusable["error"].as_str().is_some_and(|e| e.contains("cannot audit")), "{unusable}");
    assert_eq!(
        (&unusable["failed_epoch"], &unusable["mismatches"]),
        (&serde_json::Value::Null, &serde_json::json!([]))
    );
}

#[test]
fn audit_json_of_a_history_names_every_epoch_its_notes_and_the_failed_one() {
    let validator = golden_validator();
    let (code, stdout, stderr) =
        output(assay().arg("audit").arg(fixture()).args(["--validator", &validator, "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let pass = audit_json(&stdout);
    assert_eq!((pass["verdict"].as_str(), &pass["epochs"]), (Some("PASS"), &serde_json::json!([0, 1])), "{pass}");
    assert_eq!((pass["netuid"].as_u64(), &pass["failed_epoch"]), (Some(1), &serde_json::Value::Null), "{pass}");
    let not_read = |n: &serde_json::Value| n.as_str().is_some_and(|n| n.starts_with("the chain was not read"));
    assert!(pass["notes"].as_array().is_some_and(|n| n.iter().any(not_read)), "{pass}");

    let dir = tampered();
    let (code, stdout, stderr) =
        output(assay().arg("audit").arg(dir.path()).args(["--validator", &validator, "--json"]));
    assert_eq!(code, 1, "{stderr}");
    let fail = audit_json(&stdout);
    assert_eq!((fail["verdict"].as_str(), &fail["epochs"]), (Some("FAIL"), &serde_json::json!([0, 1])), "{fail}");
    assert_eq!(fail["failed_epoch"].as_u64(), Some(1), "{fail}");
    assert!(fail["notes"].as_array().is_some_and(|n| n.iter().any(not_read)), "{fail}");
}

/// Why commands cannot run on a pseudo-terminal here, or `None` where they can: util-linux's
/// `script` is missing, or cannot open a pseudo-terminal (a container without /dev/pts).
fn no_terminal() -> Option<String> {
    match std::process::Command::new("script").args(["-qec", "true", "/dev/null"]).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "util-linux's script cannot open a pseudo-terminal ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        Err(e) => Some(format!("util-linux's script cannot run ({e})")),
    }
}

/// A command run on a pseudo-terminal (util-linux's `script`): everything it drew, or `None`
/// (with the reason printed) where no pseudo-terminal can be had.
fn on_a_terminal(args: &[&str]) -> Option<String> {
    if let Some(reason) = no_terminal() {
        eprintln!("skipping the terminal half: {reason}");
        return None;
    }
    let assay = env!("CARGO_BIN_EXE_assay");
    let line = std::iter::once(assay).chain(args.iter().copied()).map(|a| format!("'{a}'")).collect::<Vec<_>>();
    let out = std::process::Command::new("script")
        .args(["-qfec", &format!("stty cols 120 rows 40; {}", line.join(" ")), "/dev/null"])
        .env("ASSAY_LOG", "warn")
        .output()
        .expect("script ran a moment ago");
    let drawn = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?} on a terminal: {drawn}");
    Some(drawn)
}

#[test]
fn a_history_audit_draws_its_bar_on_a_terminal_only() {
    let validator = golden_validator();
    let root = fixture().display().to_string();
    let args = ["audit", root.as_str(), "--validator", validator.as_str()];
    let (code, stdout, stderr) = output(assay().args(args));
    assert_eq!(code, 0, "{stderr}");
    for bar in ["reading summaries", "rerunning epochs"] {
        assert!(!stdout.contains(bar) && !stderr.contains(bar), "{stderr}");
    }
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    let Some(drawn) = on_a_terminal(&args) else { return };
    // The summaries' reading (the slow part over S3 or HTTP) has its bar, then the reruns.
    assert!(drawn.contains("reading summaries ["), "{drawn:?}");
    assert!(drawn.contains("rerunning epochs ["), "{drawn:?}");
    // The bar is cleared (back to the line's start, line erased) before the verdict is written.
    assert!(drawn.contains("\r\x1b[2KPASS\r\n"), "{drawn:?}");
    // --quiet draws nothing, not even the bar.
    let quiet = on_a_terminal(&[&args[..], &["--quiet"]].concat()).expect("a terminal a moment ago");
    assert!(!quiet.contains("rerunning epochs") && !quiet.contains('\x1b'), "{quiet:?}");
}

#[test]
fn quiet_prints_nothing_on_stdout_and_keeps_the_exit_codes() {
    let (code, stdout, _) = output(assay().args(["audit", "--quiet"]).arg(summary(&fixture(), 1)));
    assert_eq!((code, stdout.as_str()), (0, ""));
    let dir = tampered();
    let (code, stdout, _) = output(assay().args(["audit", "-q"]).arg(summary(dir.path(), 1)));
    assert_eq!((code, stdout.as_str()), (1, ""));
    let (code, stdout, _) = output(assay().args(["policy", "check", "--quiet"]).arg(plugin("constantinople")));
    assert_eq!((code, stdout.as_str()), (0, ""));
    // Without a flag, the same commands print for people.
    let (code, stdout, _) = output(assay().arg("audit").arg(summary(&fixture(), 1)));
    assert_eq!(code, 0);
    assert!(stdout.lines().any(|l| l == "PASS"), "{stdout}");
}

#[test]
fn policy_and_chain_commands_print_json() {
    let (code, stdout, stderr) = output(assay().args(["policy", "--json", "check"]).arg(plugin("adaptive-challenger")));
    assert_eq!(code, 0, "{stderr}");
    let check = json_of(&stdout);
    assert_eq!((check["ok"].as_bool(), check["world"].as_str()), (Some(true), Some("challenger")), "{check}");
    assert_eq!(check["sha256"].as_str().map(str::len), Some(64), "{check}");

    let dir = tempfile::tempdir().expect("tempdir");
    let metagraph = dir.path().join("metagraph.json");
    std::fs::write(
        &metagraph,
        r#"{"netuid": 3, "neurons": [{"uid": 0, "hotkey": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}]}"#,
    )
    .expect("writes");
    let chain = dir.path().join("chain");
    let (code, stdout, stderr) =
        output(assay().args(["chain", "init", "--json", "--dir"]).arg(&chain).arg("--metagraph").arg(&metagraph));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((json_of(&stdout)["netuid"].as_u64(), json_of(&stdout)["neurons"].as_u64()), (Some(3), Some(1)));
    let (code, stdout, stderr) = output(assay().args(["chain", "weights", "--json", "--dir"]).arg(&chain));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json_of(&stdout)["weights"], serde_json::json!([]));
}

/// The failure object a failed `--json` command printed: its verdict, and the error in it.
fn failure_of(stdout: &str) -> (String, String) {
    let json = json_of(stdout);
    let field = |name: &str| json[name].as_str().unwrap_or_else(|| panic!("no {name}: {json}")).to_string();
    (field("verdict"), field("error"))
}

#[test]
fn failed_policy_and_chain_commands_still_print_an_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, "not a component").expect("writes");
    let (code, stdout, stderr) = output(assay().args(["policy", "check", "--json"]).arg(&not_wasm));
    assert_eq!(code, 1, "{stderr}");
    let (verdict, error) = failure_of(&stdout);
    assert_eq!(verdict, "FAIL", "{stdout}");
    assert!(!error.is_empty() && stderr.contains(&error), "{stdout}\n{stderr}");

    let (code, stdout, stderr) = output(assay().args(["policy", "--json", "check", "/nonexistent/p.wasm"]));
    assert_eq!(code, 2, "{stderr}");
    let (verdict, error) = failure_of(&stdout);
    assert_eq!(verdict, "UNUSABLE", "{stdout}");
    assert!(error.contains("/nonexistent/p.wasm"), "{stdout}");

    let (code, stdout, stderr) = output(assay().args(["chain", "weights", "--json", "--dir", "/nonexistent/chain"]));
    assert_eq!(code, 2, "{stderr}");
    let (verdict, error) = failure_of(&stdout);
    assert_eq!(verdict, "UNUSABLE", "{stdout}");
    assert!(error.contains("/nonexistent/chain"), "{stdout}");
}

#[test]
fn policy_run_json_carries_the_output_and_the_fuel() {
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(summary(&fixture(), 1)).expect("reads")).expect("json");
    let policy = fixture().join(summary["scorer"]["key"].as_str().expect("the scorer's key"));
    let input = fixture().join("epochs/1/1/input.json.zst");
    let (code, stdout, stderr) =
        output(assay().args(["policy", "run", "--json"]).arg(&policy).arg("--input").arg(&input));
    assert_eq!(code, 0, "{stderr}");
    let run = json_of(&stdout);
    assert_eq!(run["output"]["weights"], summary["output"]["weights"], "{run}");
    assert!(run["fuel_used"].as_u64().is_some_and(|fuel| fuel > 0), "{run}");
}

/// `assay chain encrypt-weights` logs what it committed (at info).
fn encrypt_weights() -> std::process::Command {
    let mut cmd = assay();
    cmd.args(["--log", "info", "chain", "encrypt-weights", "--round", "1000", "--uids", "0,1", "--weights", "1,2"])
        .args(["--version-key", "1", "--hotkey-ss58", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"]);
    cmd
}

#[test]
fn json_logs_are_json_lines_and_text_logs_on_a_pipe_have_no_escape_codes() {
    let (code, stdout, stderr) = output(encrypt_weights().args(["--log-format", "json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.trim().is_empty() && !stdout.contains('{'), "the commit, in hex: {stdout}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?} in\n{stderr}")))
        .collect();
    let commit = lines.iter().find(|l| l["fields"]["message"].as_str().is_some_and(|m| m.contains("drand round 1000")));
    assert_eq!(commit.map(|l| l["level"].as_str()), Some(Some("INFO")), "{stderr}");

    let (code, _, stderr) = output(encrypt_weights().env("ASSAY_LOG_FORMAT", "text"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("INFO") && stderr.contains("drand round 1000"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "{stderr:?}");

    let (code, stdout, stderr) = output(encrypt_weights().arg("--json"));
    assert_eq!(code, 0, "{stderr}");
    let commit = json_of(&stdout);
    assert_eq!((commit["round"].as_u64(), commit["uids"].as_array().map(Vec::len)), (Some(1000), Some(2)));
}
