//! `assay run` and `assay miner` take the Python tools' wallet flags and load the key they name,
//! encrypted ones included: the wallet bittensor-wallet wrote with a password
//! (`host/keys/tests/fixtures/wallet-encrypted`). These runs stop before any key derivation
//! (no password can be had: standard input is not a terminal, or the named variable is unset);
//! decryption itself is tested in assay-keys.

mod common;

use std::path::PathBuf;

use common::{assay, run, workspace_root};

fn encrypted_wallets() -> PathBuf {
    workspace_root().join("host/keys/tests/fixtures/wallet-encrypted")
}

/// A folder with a local chain of one neuron on netuid 1 and a config for it, whose wallet
/// does not exist (the flags must name the real one).
fn node_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let metagraph =
        r#"{"netuid": 1, "neurons": [{"uid": 0, "hotkey": "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe"}]}"#;
    std::fs::write(dir.path().join("metagraph.json"), metagraph).expect("writes");
    for args in [
        &["chain", "init", "--dir", "chain", "--metagraph", "metagraph.json"][..],
        &["config", "new", "--out", "assay.toml", "--wallet-root", "nowhere", "--wallet", "none", "--hotkey", "none"],
    ] {
        let (code, text) = run(assay().args(args).current_dir(dir.path()));
        assert_eq!(code, 0, "assay {args:?}: {text}");
    }
    dir
}

#[test]
fn run_loads_the_hotkey_the_flags_name_and_asks_its_password() {
    let dir = node_dir();
    let wallets = encrypted_wallets();
    let at = |args: &[&str]| run(assay().args(args).current_dir(dir.path()));

    let (code, text) = at(&["run", "--epochs", "1"]);
    assert_eq!(code, 2, "the config's wallet is not there: {text}");
    assert!(text.contains("nowhere/none/hotkeys/none"), "{text}");

    let wallet_path = wallets.to_str().expect("a text path");
    let flags = ["--wallet.path", wallet_path, "--wallet.name", "owner", "--wallet.hotkey", "validator"];
    let (code, text) = at(&[&["run", "--epochs", "1"][..], &flags].concat());
    assert_eq!(code, 2, "an encrypted hotkey and no terminal: {text}");
    assert!(text.contains("owner/hotkeys/validator") && text.contains("not a terminal"), "{text}");

    // The hotkey is loaded before the chain (a subtensor chain signs with it): a plaintext one
    // lets the run reach the chain, where the overridden netuid shows.
    let (code, text) = at(&["wallet", "create", "--root", "plain", "--wallet", "v", "--hotkey", "h"]);
    assert_eq!(code, 0, "{text}");
    let plain = ["--wallet.path", "plain", "--wallet.name", "v", "--wallet.hotkey", "h"];
    let (code, text) = at(&[&["run", "--epochs", "1", "--netuid", "9"][..], &plain].concat());
    assert_eq!(code, 2, "a subnet the chain does not hold: {text}");
    assert!(text.contains("subnet 9"), "{text}");

    let (code, text) = at(&["run", "--subtensor.network", "finney"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(r#"--subtensor.network needs [chain] kind = "subtensor""#), "{text}");
}

#[test]
fn the_miner_loads_its_hotkey_before_its_model_with_the_password_source_given() {
    let wallets = encrypted_wallets();
    let wallet_path = wallets.to_str().expect("a text path");
    let miner = |extra: &[&str]| {
        let base = ["miner", "--model", "no-such-model", "--allow-any-signer", "--wallet.path", wallet_path];
        run(assay().args(base).args(["--wallet.name", "owner", "--wallet.hotkey", "validator"]).args(extra))
    };
    let (code, text) = miner(&[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("loading the miner's hotkey") && text.contains("not a terminal"), "{text}");

    let (code, text) = miner(&["--password-env", "ASSAY_CLI_TEST_PASSWORD_NEVER_SET"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("ASSAY_CLI_TEST_PASSWORD_NEVER_SET") && text.contains("owner/hotkeys/validator"), "{text}");
}
