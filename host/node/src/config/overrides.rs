//! The command line's overrides of a config, under the Python tools' names (`--wallet.name`,
//! `--wallet.hotkey`, `--wallet.path`, `--subtensor.network`, `--netuid`): the one place they
//! change a loaded [`Config`], rechecked as the file is.

use std::path::PathBuf;

use super::{ChainConfig, Config, ConfigError};

/// What the command line sets over the config; `None` leaves the config's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--wallet.name`: `[wallet] name`.
    pub wallet_name: Option<String>,
    /// `--wallet.hotkey`: `[wallet] hotkey`.
    pub wallet_hotkey: Option<String>,
    /// `--wallet.path`: `[wallet] root` (as given: relative to the current folder, not the config's).
    pub wallet_path: Option<PathBuf>,
    /// `--subtensor.network`: `[chain] network`, for a subtensor chain only.
    pub subtensor_network: Option<String>,
    /// `--netuid`: `netuid`.
    pub netuid: Option<u16>,
}

/// Why an override was refused.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    /// `--subtensor.network` on a config whose chain is not subtensor.
    #[error("--subtensor.network needs [chain] kind = \"subtensor\" (this config's chain is kind = \"{kind}\")")]
    NetworkNeedsSubtensor { kind: &'static str },
    /// An overridden value the config's checks refuse (an empty wallet name, say).
    #[error("with the command line's values, {key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl Config {
    /// Sets what `overrides` names, then checks the result as a loaded file is checked.
    pub fn apply_overrides(&mut self, overrides: &Overrides) -> Result<(), OverrideError> {
        if let Some(network) = &overrides.subtensor_network {
            self.set_network(network)?;
        }
        if let Some(name) = &overrides.wallet_name {
            self.wallet.name = name.clone();
        }
        if let Some(hotkey) = &overrides.wallet_hotkey {
            self.wallet.hotkey = hotkey.clone();
        }
        if let Some(path) = &overrides.wallet_path {
            self.wallet.root = Some(path.clone());
        }
        if let Some(netuid) = overrides.netuid {
            self.netuid = netuid;
        }
        self.check().map_err(|e| match e {
            ConfigError::Invalid { key, reason, .. } => OverrideError::Invalid { key, reason },
            other => OverrideError::Invalid { key: "config".into(), reason: other.to_string() },
        })
    }

    /// `[chain] network = network`. The local chain has no network to choose.
    // The subtensor chain (`kind = "subtensor"`, with `network`) is wired here when it lands.
    fn set_network(&mut self, network: &str) -> Result<(), OverrideError> {
        match &mut self.chain {
            ChainConfig::Local { .. } => Err(OverrideError::NetworkNeedsSubtensor { kind: "local" }),
            ChainConfig::Subtensor { network: configured, .. } => {
                *configured = network.to_string();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::local(1, Some("/from/config".into()), "v", "h")
    }

    #[test]
    fn each_flag_overrides_its_key_and_nothing_else() {
        let overrides = Overrides {
            wallet_name: Some("owner".into()),
            wallet_hotkey: Some("validator".into()),
            wallet_path: Some("wallets".into()),
            subtensor_network: None,
            netuid: Some(42),
        };
        let mut config = config();
        config.apply_overrides(&overrides).expect("applies");
        let mut expected = self::config();
        expected.wallet.name = "owner".into();
        expected.wallet.hotkey = "validator".into();
        expected.wallet.root = Some("wallets".into());
        expected.netuid = 42;
        assert_eq!(config, expected);
        assert_eq!(config.wallet.wallet().hotkey_path(), std::path::Path::new("wallets/owner/hotkeys/validator"));

        let mut untouched = self::config();
        untouched.apply_overrides(&Overrides::default()).expect("applies");
        assert_eq!(untouched, self::config());
    }

    #[test]
    fn a_network_on_a_local_chain_is_refused_clearly() {
        let mut config = config();
        let overrides = Overrides { subtensor_network: Some("finney".into()), ..Overrides::default() };
        let err = config.apply_overrides(&overrides).unwrap_err();
        assert!(matches!(err, OverrideError::NetworkNeedsSubtensor { kind: "local" }), "{err:?}");
        assert!(err.to_string().starts_with(r#"--subtensor.network needs [chain] kind = "subtensor""#), "{err}");
        assert_eq!(config, self::config(), "a refused override changes nothing");
    }

    #[test]
    fn a_network_replaces_a_subtensor_chains() {
        let mut config = config();
        config.chain = ChainConfig::subtensor("finney");
        let overrides = Overrides { subtensor_network: Some("ws://127.0.0.1:9946".into()), ..Overrides::default() };
        config.apply_overrides(&overrides).expect("applies");
        let ChainConfig::Subtensor { network, .. } = &config.chain else { panic!("still subtensor") };
        assert_eq!(network, "ws://127.0.0.1:9946");
        let bad = Overrides { subtensor_network: Some("http://node".into()), ..Overrides::default() };
        let err = config.apply_overrides(&bad).expect_err("an address that is no network is refused");
        assert!(err.to_string().contains("chain.network"), "{err}");
    }

    #[test]
    fn an_overridden_value_is_checked_as_the_file_is() {
        for (overrides, key) in [
            (Overrides { wallet_name: Some(String::new()), ..Overrides::default() }, "wallet.name"),
            (Overrides { wallet_hotkey: Some("../../etc".into()), ..Overrides::default() }, "wallet.hotkey"),
        ] {
            let err = config().apply_overrides(&overrides).unwrap_err();
            assert!(matches!(&err, OverrideError::Invalid { key: k, .. } if k == key), "{err:?}");
        }
    }
}
