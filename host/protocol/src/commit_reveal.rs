//! The commitment of a commit-reveal round (decision 0009): `sha256(salt ‖ output)`, where `salt`
//! is 32 random bytes and `output` the little-endian f32 bytes of the final hidden state at the
//! prompt's last position, exactly as revealed (no length prefix: the salt's length is fixed).
//!
//! Owns: the commitment's bytes, its check, and the bounds of what a reveal may carry.
//! Must not touch: HTTP, the engine or scoring (the miner computes the output, the validator
//! scores it).

use sha2::{Digest, Sha256};

use crate::commitment::Hash;

/// Bytes of a round's salt.
pub const SALT_BYTES: usize = 32;
/// Values of a revealed output, at most, whatever a miner's `info` declares: four times the
/// widest hidden size in use (16,384), so a reveal never carries more than 256 KiB of f32.
pub const MAX_OUTPUT_VALUES: usize = 1 << 16;

/// `sha256(salt ‖ output)`.
pub fn commitment(salt: &[u8; SALT_BYTES], output: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(output);
    h.finalize().into()
}

/// Whether `salt` and `output` open `committed`.
pub fn opens(committed: &Hash, salt: &[u8; SALT_BYTES], output: &[u8]) -> bool {
    commitment(salt, output) == *committed
}

/// The little-endian bytes of `values`, as an output is committed to and revealed.
pub fn output_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A hex salt or commitment back to its bytes; `None` unless it is exactly `N` bytes of hex.
pub fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known-answer vector of decision 0009, computed independently with Python's hashlib:
    /// `hashlib.sha256(bytes(range(32)) + struct.pack('<3f', 1.0, -2.5, 0.125)).hexdigest()`.
    #[test]
    fn the_decision_records_known_answer() {
        let salt: [u8; 32] = std::array::from_fn(|i| i as u8);
        let output = output_bytes(&[1.0, -2.5, 0.125]);
        // 1.0 = 0x3f800000, -2.5 = 0xc0200000, 0.125 = 0x3e000000, each little-endian.
        assert_eq!(hex::encode(&output), "0000803f000020c00000003e");
        let committed = commitment(&salt, &output);
        assert_eq!(hex::encode(committed), "205d292c3e0bb1dfbf977ec7fcecad02258c2775590af4f1b4528fe96eaa26cb");
        assert!(opens(&committed, &salt, &output));
    }

    #[test]
    fn another_salt_or_output_does_not_open_it() {
        let salt = [7u8; 32];
        let output = output_bytes(&[0.5, 0.25]);
        let committed = commitment(&salt, &output);
        assert!(!opens(&committed, &[8u8; 32], &output));
        assert!(!opens(&committed, &salt, &output_bytes(&[0.5, 0.2500001])));
        assert!(!opens(&committed, &salt, &output[..4]), "a truncated output");
        assert_eq!(decode_hex::<32>(&hex::encode(salt)), Some(salt));
        assert_eq!(decode_hex::<32>("00"), None, "too short");
        assert_eq!(decode_hex::<32>(&"zz".repeat(32)), None, "not hex");
    }
}
