//! The `$NACL` encryption of bittensor-wallet's key files (4.x, `keyfile.rs`): `$NACL ‖ nonce
//! (24 bytes) ‖ secretbox(plaintext)`, the secretbox (XSalsa20-Poly1305, tag first) keyed with
//! libsodium's `crypto_pwhash_argon2i13` of the password: a fixed salt, `OPSLIMIT_SENSITIVE`
//! (8 passes) and `MEMLIMIT_SENSITIVE` (512 MiB), one lane, a 32-byte key.

use argon2::{Algorithm, Argon2, Params, Version};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use zeroize::Zeroizing;

/// What an encrypted file starts with.
pub(crate) const PREFIX: &[u8] = b"$NACL";
/// bittensor-wallet's `NACL_SALT`, the same for every file and password.
const SALT: [u8; 16] = *b"\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1";
/// libsodium's `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE`.
const PASSES: u32 = 8;
/// libsodium's `crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE` (512 MiB), in KiB as Argon2 counts.
const MEMORY_KIB: u32 = 512 * 1024;
const NONCE_BYTES: usize = 24;
/// Poly1305's tag, which the secretbox puts before the ciphertext.
const TAG_BYTES: usize = 16;

/// Why a `$NACL` file did not open.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Shorter than prefix, nonce and tag.
    Truncated,
    /// The tag does not verify: another password (or damaged bytes, which look the same).
    WrongPassword,
    /// Argon2 refused to run (it cannot allocate its memory, say).
    Kdf(String),
}

/// The key bittensor-wallet derives from `password`: Argon2i v1.3 over 512 MiB, 8 passes.
/// Takes seconds and the memory, by design.
fn derive_key(password: &[u8]) -> Result<Zeroizing<[u8; 32]>, Failure> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, Some(32)).map_err(|e| Failure::Kdf(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
        .hash_password_into(password, &SALT, key.as_mut())
        .map_err(|e| Failure::Kdf(e.to_string()))?;
    Ok(key)
}

/// The plaintext of a whole `$NACL` file under `key` (the framing, without the key derivation).
fn open_with_key(file: &[u8], key: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let body = file.strip_prefix(PREFIX).ok_or(Failure::Truncated)?;
    if body.len() < NONCE_BYTES + TAG_BYTES {
        return Err(Failure::Truncated);
    }
    let (nonce, sealed) = body.split_at(NONCE_BYTES);
    XSalsa20Poly1305::new(Key::from_slice(key))
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map(Zeroizing::new)
        .map_err(|_| Failure::WrongPassword)
}

/// The plaintext of a whole `$NACL` file (prefix included) under `password`.
pub(crate) fn open(file: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failure> {
    // A truncated file is refused before the expensive derivation.
    if file.len() < PREFIX.len() + NONCE_BYTES + TAG_BYTES {
        return Err(Failure::Truncated);
    }
    open_with_key(file, &*derive_key(password)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file sealed the way bittensor-wallet seals one, under a given key (no derivation, so
    /// the framing is tested in microseconds; the key derivation is tested on the Python
    /// tools' files in `tests/encrypted_wallets.rs`).
    fn seal(plaintext: &[u8], key: &[u8; 32], nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
        let sealed =
            XSalsa20Poly1305::new(Key::from_slice(key)).encrypt(Nonce::from_slice(&nonce), plaintext).expect("seals");
        [PREFIX, &nonce[..], &sealed].concat()
    }

    #[test]
    fn the_framing_opens_and_every_damage_is_a_failed_tag() {
        let key = [9u8; 32];
        let file = seal(b"{\"secretSeed\": \"0x..\"}", &key, [4; NONCE_BYTES]);
        assert_eq!(file.len(), PREFIX.len() + NONCE_BYTES + TAG_BYTES + 22);
        assert_eq!(open_with_key(&file, &key).expect("opens").as_slice(), b"{\"secretSeed\": \"0x..\"}");
        assert_eq!(open_with_key(&file, &[8u8; 32]), Err(Failure::WrongPassword));
        for at in [PREFIX.len(), PREFIX.len() + NONCE_BYTES, file.len() - 1] {
            let mut damaged = file.clone();
            damaged[at] ^= 1;
            assert_eq!(open_with_key(&damaged, &key), Err(Failure::WrongPassword), "byte {at}");
        }
    }

    #[test]
    fn a_truncated_file_is_refused_before_the_key_is_derived() {
        let key = [9u8; 32];
        let file = seal(b"", &key, [4; NONCE_BYTES]);
        assert!(open_with_key(&file, &key).expect("an empty plaintext opens").is_empty());
        // Were the 512 MiB derivation run here, this test would take seconds, not microseconds.
        let started = std::time::Instant::now();
        assert_eq!(open(&file[..file.len() - 1], b"password"), Err(Failure::Truncated));
        assert_eq!(open(b"$NACL", b"password"), Err(Failure::Truncated));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "the derivation takes seconds");
    }
}
