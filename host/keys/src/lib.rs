//! Hotkeys: the validator's and the miners' signing identities.
//!
//! Owns: sr25519 (Bittensor's scheme, signing context `substrate`) and ed25519 keys, signatures
//! and their verification, SS58 addresses, and Bittensor wallets as the Python tools write them
//! (`~/.bittensor/wallets/<wallet>/{coldkey,coldkeypub.txt,hotkeys/<hotkey>}`, JSON key files,
//! plaintext or `$NACL`-encrypted), with the passwords they need (terminal or environment).
//! Must not touch: what is signed. Callers decide the message bytes.

mod error;
mod layout;
mod nacl;
mod password;
mod ss58;
mod wallet;

use std::fmt;

use schnorrkel::{ExpansionMode, MiniSecretKey, signing_context};

pub use error::{Error, Result};
pub use layout::Wallet;
pub use password::Password;
pub use ss58::{SS58_PREFIX, decode_ss58, encode_ss58};
pub use wallet::{default_wallet_root, wallet_hotkey_path};

/// sr25519 signatures in the Substrate ecosystem are made under this context.
const SUBSTRATE_CONTEXT: &[u8] = b"substrate";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sr25519,
    Ed25519,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sr25519 => "sr25519",
            Scheme::Ed25519 => "ed25519",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "sr25519" => Ok(Scheme::Sr25519),
            "ed25519" => Ok(Scheme::Ed25519),
            other => Err(Error::UnknownScheme(other.to_string())),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A public key with its scheme: what a signature is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    pub scheme: Scheme,
    pub bytes: [u8; 32],
}

impl PublicKey {
    pub fn ss58(&self) -> String {
        encode_ss58(&self.bytes)
    }

    /// Checks a 64-byte signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        let signature: [u8; 64] =
            signature.try_into().map_err(|_| Error::BadSignature(format!("{} bytes, expected 64", signature.len())))?;
        match self.scheme {
            Scheme::Sr25519 => {
                let key = schnorrkel::PublicKey::from_bytes(&self.bytes).map_err(|e| Error::BadKey(e.to_string()))?;
                let sig =
                    schnorrkel::Signature::from_bytes(&signature).map_err(|e| Error::BadSignature(e.to_string()))?;
                key.verify(signing_context(SUBSTRATE_CONTEXT).bytes(message), &sig)
                    .map_err(|_| Error::BadSignature("does not verify".into()))
            }
            Scheme::Ed25519 => {
                let key =
                    ed25519_dalek::VerifyingKey::from_bytes(&self.bytes).map_err(|e| Error::BadKey(e.to_string()))?;
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature))
                    .map_err(|_| Error::BadSignature("does not verify".into()))
            }
        }
    }
}

/// One sr25519 signature to check in a batch: the signer's key, the message, the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sr25519Claim {
    pub key: [u8; 32],
    pub message: Vec<u8>,
    pub signature: [u8; 64],
}

/// Whether every claim is a valid sr25519 signature (context `substrate`), checked together:
/// one randomized multi-scalar multiplication instead of one per signature, about half the
/// work per signature for large batches. `false` says only that at least one is not valid:
/// the caller checks them one by one to learn which (a bad signature must never cost the
/// others). An empty batch is valid.
pub fn verify_sr25519_batch(claims: &[Sr25519Claim]) -> bool {
    let mut keys = Vec::with_capacity(claims.len());
    let mut signatures = Vec::with_capacity(claims.len());
    for claim in claims {
        match (schnorrkel::PublicKey::from_bytes(&claim.key), schnorrkel::Signature::from_bytes(&claim.signature)) {
            (Ok(key), Ok(signature)) => {
                keys.push(key);
                signatures.push(signature);
            }
            _ => return false,
        }
    }
    let context = signing_context(SUBSTRATE_CONTEXT);
    let transcripts = claims.iter().map(|c| context.bytes(&c.message));
    schnorrkel::verify_batch(transcripts, &signatures, &keys, false).is_ok()
}

#[derive(Clone)]
enum Secret {
    Sr25519(schnorrkel::Keypair),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A signing key. The 32-byte seed is what wallet files keep (`secretSeed`), when there is one.
#[derive(Clone)]
pub struct Hotkey {
    seed: Option<[u8; 32]>,
    secret: Secret,
    /// The address, encoded once: it goes into every signed request's headers.
    ss58: std::sync::OnceLock<String>,
}

impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hotkey({} {})", self.scheme(), self.ss58())
    }
}

impl Hotkey {
    /// The key for a 32-byte seed, as `Keypair.create_from_seed` makes it in Python
    /// (sr25519: mini secret key expanded in Ed25519 mode).
    pub fn from_seed(scheme: Scheme, seed: [u8; 32]) -> Result<Self> {
        let secret = match scheme {
            Scheme::Sr25519 => {
                let mini = MiniSecretKey::from_bytes(&seed).map_err(|e| Error::BadKey(e.to_string()))?;
                Secret::Sr25519(mini.expand_to_keypair(ExpansionMode::Ed25519))
            }
            Scheme::Ed25519 => Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)),
        };
        Ok(Self { seed: Some(seed), secret, ss58: Default::default() })
    }

    /// An sr25519 key from its 64-byte expanded secret (wallet files' `privateKey`), in either
    /// encoding the ecosystem uses (schnorrkel's own, or the "ed25519-style" one of the Python
    /// bindings). `public` picks the encoding that yields it.
    pub fn from_sr25519_secret(secret: &[u8; 64], public: &[u8; 32]) -> Result<Self> {
        let candidates = [schnorrkel::SecretKey::from_bytes(secret), schnorrkel::SecretKey::from_ed25519_bytes(secret)];
        for candidate in candidates.into_iter().flatten() {
            let keypair = candidate.to_keypair();
            if keypair.public.to_bytes() == *public {
                return Ok(Self { seed: None, secret: Secret::Sr25519(keypair), ss58: Default::default() });
            }
        }
        Err(Error::BadKey("the 64-byte secret does not give the public key in either encoding".into()))
    }

    /// A fresh random key.
    pub fn generate(scheme: Scheme) -> Result<Self> {
        let seed: [u8; 32] = rand::random();
        Self::from_seed(scheme, seed)
    }

    pub fn scheme(&self) -> Scheme {
        match self.secret {
            Secret::Sr25519(_) => Scheme::Sr25519,
            Secret::Ed25519(_) => Scheme::Ed25519,
        }
    }

    pub fn public(&self) -> PublicKey {
        let bytes = match &self.secret {
            Secret::Sr25519(kp) => kp.public.to_bytes(),
            Secret::Ed25519(sk) => sk.verifying_key().to_bytes(),
        };
        PublicKey { scheme: self.scheme(), bytes }
    }

    pub fn ss58(&self) -> String {
        self.ss58.get_or_init(|| self.public().ss58()).clone()
    }

    /// The 32-byte seed, when the key was made from one.
    pub fn seed(&self) -> Option<&[u8; 32]> {
        self.seed.as_ref()
    }

    /// A 64-byte signature over `message` (sr25519 signatures are randomized: two signatures of
    /// the same message differ, and both verify).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        match &self.secret {
            Secret::Sr25519(kp) => kp.sign(signing_context(SUBSTRATE_CONTEXT).bytes(message)).to_bytes(),
            Secret::Ed25519(sk) => {
                use ed25519_dalek::Signer;
                sk.sign(message).to_bytes()
            }
        }
    }
}

#[cfg(test)]
mod tests;
