//! Where the password of an encrypted wallet file comes from: the terminal (echo off), an
//! environment variable, or the caller. It is read only when a file turns out to be encrypted,
//! and kept in memory that is wiped when dropped.

use std::fmt;
use std::io::IsTerminal;

use zeroize::Zeroizing;

use crate::{Error, Result};

/// A source of wallet passwords.
#[derive(Clone)]
pub enum Password {
    /// Asked on the terminal with echo off, as the Python tools ask (and trimmed, as they trim
    /// it); refused when standard input is not a terminal (a service has nobody to ask).
    Prompt,
    /// The value of this environment variable, as it is (no trimming, no decoding).
    Env(String),
    /// This password (tests, and tools that already hold it).
    Given(Zeroizing<String>),
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::Prompt => f.write_str("Password::Prompt"),
            Password::Env(name) => write!(f, "Password::Env({name:?})"),
            Password::Given(_) => f.write_str("Password::Given(..)"),
        }
    }
}

impl Password {
    /// A password given as text.
    pub fn given(password: impl Into<String>) -> Self {
        Password::Given(Zeroizing::new(password.into()))
    }

    /// The password for the encrypted wallet file `path` (named in the prompt and in errors).
    pub fn read(&self, path: &str) -> Result<Zeroizing<String>> {
        match self {
            Password::Given(password) => Ok(password.clone()),
            Password::Env(name) => match std::env::var(name) {
                Ok(value) => Ok(Zeroizing::new(value)),
                Err(std::env::VarError::NotPresent) => {
                    Err(Error::PasswordEnvMissing { path: path.into(), var: name.clone() })
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(Error::PasswordEnvNotText { path: path.into(), var: name.clone() })
                }
            },
            Password::Prompt => prompt(path),
        }
    }
}

fn prompt(path: &str) -> Result<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::NoTerminal(path.into()));
    }
    let typed = rpassword::prompt_password(format!("Password for wallet file {path}: "))
        .map_err(|source| Error::Prompt { path: path.into(), source })?;
    let typed = Zeroizing::new(typed);
    Ok(Zeroizing::new(typed.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variable that is set is read in `tests/encrypted_wallets.rs`, in a child process
    /// given it (setting one here would race the other test threads).
    #[test]
    fn a_missing_environment_variable_is_named() {
        let missing = "ASSAY_KEYS_TEST_PASSWORD_NEVER_SET";
        let err = Password::Env(missing.into()).read("w/coldkey").unwrap_err();
        assert!(matches!(&err, Error::PasswordEnvMissing { var, .. } if var == missing), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(missing) && text.contains("w/coldkey"), "{text}");
    }

    #[test]
    fn a_given_password_is_never_printed() {
        let password = Password::given("hunter2");
        assert_eq!(password.read("x").expect("given").as_str(), "hunter2");
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
