//! The exit codes the command line promises: 2 for unusable input (a missing file, a bad
//! argument or config, an epoch that cannot be closed as asked), 1 for a check that failed.

mod common;

use common::{HostDir, assay, run};

#[test]
fn unusable_input_exits_2_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |args: &[&str]| run(assay().args(args).current_dir(dir.path()));

    let (code, text) = at(&["audit", "published/epochs/1/0/summary.json"]);
    assert_eq!(code, 2, "a missing summary: {text}");
    let (code, text) =
        at(&["config", "new", "--out", "assay.toml", "--set", "verify.model=\"m\"", "--set", "verify.device=\"cdua\""]);
    assert_eq!(code, 2, "a device typo: {text}");
    assert!(text.contains("verify.device") && text.contains("cdua"), "{text}");
    let (code, text) = at(&["config", "new", "--out", "assay.toml", "--set", "epoch_blok=3"]);
    assert_eq!(code, 2, "an unknown key: {text}");
    assert!(text.contains("epoch_blok"), "{text}");
    assert!(!dir.path().join("assay.toml").exists(), "a refused config is not written");
    let (code, text) =
        at(&["config", "new", "--out", "assay.toml", "--wallet-root", "wallets", "--set", "epoch_blocks=10"]);
    assert_eq!(code, 0, "{text}");
    // The hotkey is loaded first (a subtensor chain signs with it), then the chain.
    let (code, text) = at(&["run", "--epochs", "1"]);
    assert_eq!(code, 2, "a hotkey that is not there: {text}");
    assert!(text.contains("validator hotkey"), "{text}");
    let (code, text) = at(&["wallet", "create", "--root", "wallets", "--wallet", "validator", "--hotkey", "default"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = at(&["run", "--epochs", "1"]);
    assert_eq!(code, 2, "a chain that is not there: {text}");
    assert!(text.contains("local chain"), "{text}");

    let host = HostDir::new(12.0, |_| {});
    host.ok(&["ledger", "import", "synth/records.jsonl"]);
    let (code, text) = host.assay(&["policy", "activate", &"ab".repeat(32)]);
    assert_eq!(code, 2, "a policy not in the store: {text}");
    host.ok(&["policy", "activate", &host.constantinople]);
    host.ok(&["epoch", "close", "--epoch", "1"]);
    // Used to exit 1 ("a check failed") through a bare `?`.
    let (code, text) = host.assay(&["epoch", "close", "--epoch", "0"]);
    assert_eq!(code, 2, "an epoch before the last closed one: {text}");
    assert!(text.contains("already closed"), "{text}");
}

#[test]
fn a_failed_check_exits_1() {
    let host = HostDir::new(12.0, |c| {
        c.policy.params.insert("mode".into(), 4.0);
    });
    host.ok(&["ledger", "import", "synth/records.jsonl"]);
    host.ok(&["policy", "activate", &host.misbehave]);
    let (code, text) = host.assay(&["epoch", "close", "--epoch", "0"]);
    assert_eq!(code, 1, "a scorer whose output is refused: {text}");
}
