//! Encrypted wallets written by the Python tools (`scripts/make-wallet-fixtures.sh`,
//! bittensor-wallet 4.1.1, password in `expected.json`) open here to the same keys.
//!
//! Every decryption is bittensor-wallet's Argon2i over 512 MiB, 8 passes: about 4 s each
//! (optimized even in test builds: `[profile.dev.package.argon2]`), run once per test, one at a
//! time in this process (and one in the child process of the environment-variable test): at most
//! two derivations, 1 GiB, at once, for about 12 s of CPU in all.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use assay_keys::{Error, Hotkey, Password, Wallet};

/// One Argon2 derivation at a time.
static ARGON2: Mutex<()> = Mutex::new(());

/// Set in a child process this binary runs one of its own tests in.
const CHILD: &str = "ASSAY_KEYS_TEST_CHILD";
const PASSWORD_VAR: &str = "ASSAY_KEYS_TEST_WALLET_PASSWORD";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wallet-encrypted")
}

struct Expected {
    wallet: Wallet,
    password: String,
    coldkey_ss58: String,
    hotkey_ss58: String,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("reads expected.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("expected.json is JSON");
    let field =
        |path: &[&str]| path.iter().fold(&json, |value, key| &value[key]).as_str().expect("a text field").to_string();
    Expected {
        wallet: Wallet::new(
            Some(&fixtures().join(field(&["wallet", "path"]))),
            &field(&["wallet", "name"]),
            &field(&["wallet", "hotkey"]),
        ),
        password: field(&["password"]),
        coldkey_ss58: field(&["coldkey_ss58"]),
        hotkey_ss58: field(&["hotkey_ss58"]),
    }
}

/// Reruns the test `name` of this binary in a child process with `env` set and standard input
/// closed (what a service has), and checks that it ran there and passed.
fn passes_in_child(name: &str, env: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([name, "--exact", "--test-threads=1", "--nocapture"]).env(CHILD, "1").stdin(Stdio::null());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("runs the test binary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{name} in a child process:\n{text}");
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

#[test]
fn the_coldkey_decrypts_to_the_address_python_gave_and_its_public_file_agrees() {
    let expected = expected();
    let public = expected.wallet.coldkey_public().expect("coldkeypub.txt needs no password");
    assert_eq!(public.ss58(), expected.coldkey_ss58);

    let _one = ARGON2.lock().unwrap_or_else(|e| e.into_inner());
    let coldkey = expected.wallet.load_coldkey(&Password::given(expected.password)).expect("decrypts");
    assert_eq!(coldkey.ss58(), expected.coldkey_ss58);
    assert_eq!(coldkey.public(), public);
    // The decrypted key signs as the coldkey.
    public.verify(b"assay", &coldkey.sign(b"assay")).expect("verifies under coldkeypub.txt");
}

#[test]
fn the_hotkey_decrypts_with_the_password_from_an_environment_variable() {
    let expected = expected();
    if !in_child() {
        let name = "the_hotkey_decrypts_with_the_password_from_an_environment_variable";
        return passes_in_child(name, &[(PASSWORD_VAR, &expected.password)]);
    }
    let _one = ARGON2.lock().unwrap_or_else(|e| e.into_inner());
    let hotkey = expected.wallet.load_hotkey(&Password::Env(PASSWORD_VAR.into())).expect("decrypts");
    assert_eq!(hotkey.ss58(), expected.hotkey_ss58);
    assert!(hotkey.seed().is_some(), "the seed is what a chain signer is made from");
}

#[test]
fn a_wrong_password_is_its_own_error_naming_the_file() {
    let expected = expected();
    let _one = ARGON2.lock().unwrap_or_else(|e| e.into_inner());
    let wrong = format!("{}!", expected.password);
    let err = expected.wallet.load_hotkey(&Password::given(wrong)).unwrap_err();
    let path = expected.wallet.hotkey_path().display().to_string();
    assert!(matches!(&err, Error::WrongPassword(p) if *p == path), "{err:?}");
    assert!(err.to_string().starts_with(&format!("wrong password for wallet file {path}")), "{err}");
}

/// Refusals that come before any derivation: no password to be had, or no password source.
#[test]
fn an_encrypted_file_without_a_password_is_refused_clearly() {
    let expected = expected();
    if !in_child() {
        return passes_in_child("an_encrypted_file_without_a_password_is_refused_clearly", &[]);
    }
    let path = expected.wallet.hotkey_path();
    let err = Hotkey::load(&path).unwrap_err();
    assert!(matches!(err, Error::Encrypted(_)), "{err:?}");

    let err = expected.wallet.load_hotkey(&Password::Env(PASSWORD_VAR.into())).unwrap_err();
    assert!(matches!(&err, Error::PasswordEnvMissing { var, .. } if var == PASSWORD_VAR), "{err:?}");
    assert!(err.to_string().contains(PASSWORD_VAR), "{err}");

    // Standard input is closed in the child: nobody to ask.
    let err = expected.wallet.load_coldkey(&Password::Prompt).unwrap_err();
    assert!(matches!(err, Error::NoTerminal(_)), "{err:?}");
    assert!(err.to_string().contains("not a terminal"), "{err}");
}

/// A plaintext hotkey beside an encrypted coldkey (the Python default) loads whatever the
/// password source, which is never consulted.
#[test]
fn a_plaintext_hotkey_never_asks_for_a_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wallet = Wallet::new(Some(dir.path()), "w", "h");
    let key = Hotkey::from_seed(assay_keys::Scheme::Sr25519, [3; 32]).expect("key");
    key.save(&wallet.hotkey_path()).expect("saves");
    let unset = Password::Env("ASSAY_KEYS_TEST_NEVER_SET".into());
    assert_eq!(wallet.load_hotkey(&unset).expect("loads").ss58(), key.ss58());
}
