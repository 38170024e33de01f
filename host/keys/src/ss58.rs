//! SS58 addresses: base58 of `prefix ‖ public key ‖ first two bytes of blake2b-512("SS58PRE" ‖ prefix ‖ key)`.

use blake2::{Blake2b512, Digest};

use crate::{Error, Result};

/// The generic Substrate prefix, which Bittensor uses.
pub const SS58_PREFIX: u8 = 42;

fn checksum(data: &[u8]) -> [u8; 2] {
    let mut h = Blake2b512::new();
    h.update(b"SS58PRE");
    h.update(data);
    let out = h.finalize();
    [out[0], out[1]]
}

pub fn encode_ss58(public: &[u8; 32]) -> String {
    let mut data = Vec::with_capacity(35);
    data.push(SS58_PREFIX);
    data.extend_from_slice(public);
    let sum = checksum(&data);
    data.extend_from_slice(&sum);
    bs58::encode(data).into_string()
}

/// The 32-byte public key of an address with a one-byte prefix (any prefix below 64).
pub fn decode_ss58(address: &str) -> Result<[u8; 32]> {
    let bad = |why| Error::BadAddress(address.chars().take(64).collect(), why);
    let data = bs58::decode(address).into_vec().map_err(|_| bad("not base58"))?;
    if data.len() != 35 {
        return Err(bad("not 35 bytes long"));
    }
    if data[0] >= 64 {
        return Err(bad("two-byte prefixes are not supported"));
    }
    if checksum(&data[..33]) != [data[33], data[34]] {
        return Err(bad("checksum mismatch"));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&data[1..33]);
    Ok(key)
}
