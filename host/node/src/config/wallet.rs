//! `[wallet]`: which Bittensor wallet and hotkey the node signs with, where an encrypted key's
//! password comes from, and the one function that loads the key for every command.

use assay_keys::{Hotkey, Password, Wallet};

use super::WalletConfig;

impl WalletConfig {
    /// The wallet and hotkey this config names (root `~/.bittensor/wallets` when absent).
    pub fn wallet(&self) -> Wallet {
        Wallet::new(self.root.as_deref(), &self.name, &self.hotkey)
    }

    /// Where an encrypted hotkey's password comes from: the variable `password_env` names, or
    /// the terminal.
    pub fn password(&self) -> Password {
        match &self.password_env {
            Some(var) => Password::Env(var.clone()),
            None => Password::Prompt,
        }
    }

    /// The hotkey, decrypted when its file is encrypted (seconds: Argon2i over 512 MiB).
    /// Blocking: it may prompt on the terminal.
    pub fn load_hotkey(&self) -> assay_keys::Result<Hotkey> {
        self.wallet().load_hotkey(&self.password())
    }

    /// What serde cannot say: names that are one path component, a variable name that can be
    /// one. `Err((key, reason))`, the key relative to `[wallet]`.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, value) in [("name", &self.name), ("hotkey", &self.hotkey)] {
            if value.is_empty() || value.contains(['/', '\\']) || value == "." || value == ".." {
                return Err((key, format!("{value:?} must be a file name (not empty, no path separator)")));
            }
        }
        if let Some(var) = &self.password_env
            && (var.is_empty() || var.contains(['=', '\0']))
        {
            return Err(("password_env", format!("{var:?} is not an environment variable's name")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Config;

    /// The wallet bittensor-wallet wrote with a password (assay-keys' fixture).
    fn encrypted_wallet_root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/tests/fixtures/wallet-encrypted")
    }

    #[test]
    fn password_env_round_trips_and_a_bad_name_is_refused() {
        let mut config = Config::local(1, None, "owner", "validator");
        config.wallet.password_env = Some("VALIDATOR_PW".into());
        let text = config.to_toml().expect("serializes");
        assert!(text.contains("password_env = \"VALIDATOR_PW\""), "{text}");
        assert_eq!(Config::parse(&text).expect("parses"), config);
        assert!(matches!(config.wallet.password(), Password::Env(var) if var == "VALIDATOR_PW"));
        config.wallet.password_env = None;
        assert!(matches!(config.wallet.password(), Password::Prompt));

        let bad = text.replace("VALIDATOR_PW", "A=B");
        let err = Config::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("wallet.password_env") && err.contains("A=B"), "{err}");
    }

    /// The variable is read only when the hotkey turns out to be encrypted, and one that is
    /// not set is named (no key derivation runs: the password is missing first).
    #[test]
    fn an_encrypted_hotkey_reads_the_named_variable() {
        let mut wallet = WalletConfig {
            root: Some(encrypted_wallet_root()),
            name: "owner".into(),
            hotkey: "validator".into(),
            password_env: Some("ASSAY_NODE_TEST_PASSWORD_NEVER_SET".into()),
        };
        let err = wallet.load_hotkey().unwrap_err();
        assert!(
            matches!(&err, assay_keys::Error::PasswordEnvMissing { var, .. } if var == "ASSAY_NODE_TEST_PASSWORD_NEVER_SET"),
            "{err:?}"
        );
        assert!(err.to_string().contains("owner/hotkeys/validator"), "{err}");

        let dir = tempfile::tempdir().expect("tempdir");
        wallet.root = Some(dir.path().into());
        let key = Hotkey::from_seed(assay_keys::Scheme::Sr25519, [1; 32]).expect("key");
        key.save(&wallet.wallet().hotkey_path()).expect("saves");
        assert_eq!(wallet.load_hotkey().expect("a plaintext hotkey needs no password").ss58(), key.ss58());
    }
}
