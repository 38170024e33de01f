//! The commit of commit-reveal v4: the SCALE-encoded weights, timelock-encrypted to a drand
//! quicknet round, and its decryption with that round's signature.
//!
//! The format is the chain's (`pallet-drand` and `commit_timelocked_weights`) and bittensor-drand's:
//! an ark-serialize compressed `TLECiphertext<TinyBLS381>` (timelock 0.0.1, not wrapped in any
//! envelope) of `WeightsTlockPayload { hotkey: Vec<u8>, uids, values, version_key }`, for the
//! identity `sha256(round as big-endian u64)` under quicknet's public key, the body sealed with
//! AES-GCM under a fresh random key. Whoever holds the round's signature (drand publishes it
//! when the round comes) can decrypt it: the chain does, and so can anyone checking.

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use thiserror::Error;
use timelock::curves::drand::TinyBLS381;
use timelock::ibe::fullident::Identity;
use timelock::stream_ciphers::AESGCMStreamCipherProvider;
use timelock::tlock::{EngineBLS, TLECiphertext, tld, tle};

/// Drand quicknet's public key (a compressed G2 point).
pub const DRAND_QUICKNET_PUBLIC_KEY_HEX: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";

/// The most bytes a commit may have: `commit_timelocked_weights` takes a `BoundedVec<u8, 5000>`.
pub const MAX_COMMIT_BYTES: usize = 5000;

/// What a validator commits to: its weights for the subnet, revealed by the chain at the round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsPayload {
    /// The committing hotkey's public key (the chain requires it to be the signer's).
    pub hotkey: [u8; 32],
    pub uids: Vec<u16>,
    /// u16 weights, as [`convert_weights_and_uids_for_emit`](super::convert_weights_and_uids_for_emit) makes them.
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// The chain's `WeightsTlockPayload`: the hotkey as a SCALE `Vec<u8>` (length-prefixed).
#[derive(Encode, Decode)]
struct WeightsTlockPayload {
    hotkey: Vec<u8>,
    uids: Vec<u16>,
    values: Vec<u16>,
    version_key: u64,
}

impl Encode for WeightsPayload {
    fn encode_to<T: parity_scale_codec::Output + ?Sized>(&self, dest: &mut T) {
        WeightsTlockPayload {
            hotkey: self.hotkey.to_vec(),
            uids: self.uids.clone(),
            values: self.values.clone(),
            version_key: self.version_key,
        }
        .encode_to(dest)
    }
}

impl Decode for WeightsPayload {
    fn decode<I: parity_scale_codec::Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let wire = WeightsTlockPayload::decode(input)?;
        let hotkey = <[u8; 32]>::try_from(wire.hotkey.as_slice())
            .map_err(|_| parity_scale_codec::Error::from("hotkey is not 32 bytes"))?;
        Ok(WeightsPayload { hotkey, uids: wire.uids, values: wire.values, version_key: wire.version_key })
    }
}

impl WeightsPayload {
    /// Decodes exactly one payload: trailing bytes are refused.
    pub fn from_scale(bytes: &[u8]) -> Result<Self, TimelockError> {
        Self::decode_all(&mut &bytes[..]).map_err(TimelockError::MalformedPayload)
    }
}

/// Why a commit could not be made or opened.
#[derive(Debug, Error)]
pub enum TimelockError {
    #[error("drand quicknet's public key does not decode: {0}")]
    DrandPublicKey(String),
    #[error("timelock encryption failed: {0}")]
    Encryption(String),
    #[error("the commit would be {bytes} bytes, above the chain's {MAX_COMMIT_BYTES}: too many weights")]
    CommitTooLarge { bytes: usize },
    #[error("ciphertext of {bytes} bytes is above the chain's {MAX_COMMIT_BYTES}")]
    CiphertextTooLarge { bytes: usize },
    #[error("ciphertext is not a compressed TLECiphertext<TinyBLS381>: {0}")]
    MalformedCiphertext(#[source] ark_serialize::SerializationError),
    #[error("signature is not a compressed BLS12-381 G1 point (48 bytes): {0}")]
    MalformedSignature(#[source] ark_serialize::SerializationError),
    #[error("the signature does not open this ciphertext (another round's, or not drand quicknet's)")]
    WrongSignature,
    #[error("the ciphertext's body does not decrypt: {0}")]
    Decryption(String),
    #[error("decrypted bytes are not a SCALE WeightsTlockPayload: {0}")]
    MalformedPayload(#[source] parity_scale_codec::Error),
}

/// The identity drand signs for round `round`: sha256 of the round as a big-endian u64.
fn round_identity(round: u64) -> Identity {
    Identity::new(b"", vec![Sha256::digest(round.to_be_bytes()).to_vec()])
}

fn drand_public_key() -> Result<<TinyBLS381 as EngineBLS>::PublicKeyGroup, TimelockError> {
    let bytes = hex::decode(DRAND_QUICKNET_PUBLIC_KEY_HEX).map_err(|e| TimelockError::DrandPublicKey(e.to_string()))?;
    <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(bytes.as_slice())
        .map_err(|e| TimelockError::DrandPublicKey(e.to_string()))
}

/// Encrypts `payload` to drand quicknet round `reveal_round`: the bytes of a
/// `commit_timelocked_weights` commit. Random (a fresh AES key and IBE randomness from `rng`),
/// so two commits of the same payload differ; both decrypt to it.
pub fn encrypt_for_round(
    payload: &WeightsPayload,
    reveal_round: u64,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, TimelockError> {
    let mut aes_key = [0u8; 32];
    rng.fill_bytes(&mut aes_key);
    let ciphertext = tle::<TinyBLS381, AESGCMStreamCipherProvider, _>(
        drand_public_key()?,
        aes_key,
        &payload.encode(),
        round_identity(reveal_round),
        rng,
    )
    .map_err(|e| TimelockError::Encryption(format!("{e:?}")))?;
    let mut bytes = Vec::with_capacity(ciphertext.compressed_size());
    ciphertext.serialize_compressed(&mut bytes).map_err(|e| TimelockError::Encryption(e.to_string()))?;
    if bytes.len() > MAX_COMMIT_BYTES {
        return Err(TimelockError::CommitTooLarge { bytes: bytes.len() });
    }
    Ok(bytes)
}

/// Decrypts a commit with the round's drand signature (48 bytes, compressed G1; drand's
/// `signature` field, hex-decoded): the plaintext, which for a weights commit is a SCALE
/// [`WeightsPayload`]. A signature of another round fails with [`TimelockError::WrongSignature`].
pub fn decrypt_with_signature(ciphertext: &[u8], signature_bytes: &[u8]) -> Result<Vec<u8>, TimelockError> {
    if ciphertext.len() > MAX_COMMIT_BYTES {
        return Err(TimelockError::CiphertextTooLarge { bytes: ciphertext.len() });
    }
    let ciphertext =
        TLECiphertext::<TinyBLS381>::deserialize_compressed(ciphertext).map_err(TimelockError::MalformedCiphertext)?;
    let signature = <TinyBLS381 as EngineBLS>::SignatureGroup::deserialize_compressed(signature_bytes)
        .map_err(TimelockError::MalformedSignature)?;
    tld::<TinyBLS381, AESGCMStreamCipherProvider>(ciphertext, signature).map_err(|e| match e {
        timelock::tlock::Error::InvalidSignature => TimelockError::WrongSignature,
        other => TimelockError::Decryption(format!("{other:?}")),
    })
}

/// [`decrypt_with_signature`], then the plaintext decoded as a weights payload.
pub fn decrypt_payload(ciphertext: &[u8], signature_bytes: &[u8]) -> Result<WeightsPayload, TimelockError> {
    WeightsPayload::from_scale(&decrypt_with_signature(ciphertext, signature_bytes)?)
}
