//! The name of a policy: the sha256 of its bytes.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::Error;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Refuses `bytes` unless they hash to `self`.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), Error> {
        let actual = Digest::of(bytes);
        if actual == *self { Ok(()) } else { Err(Error::DigestMismatch { expected: *self, actual }) }
    }
}

impl FromStr for Digest {
    type Err = Error;

    /// Exactly 64 lowercase hex characters: one spelling per digest, so names compare as strings.
    fn from_str(s: &str) -> Result<Self, Error> {
        let well_formed = s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut out = [0u8; 32];
        if !well_formed || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(Error::BadDigest(s.chars().take(80).collect()));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_canonical_hex() {
        let d = Digest::of(b"abc");
        let s = d.to_string();
        assert_eq!(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(s.parse::<Digest>().expect("parses"), d);
        assert!(s.to_uppercase().parse::<Digest>().is_err());
        assert!(s[..63].parse::<Digest>().is_err());
        assert!(format!("{s}0").parse::<Digest>().is_err());
        assert!("zz".repeat(32).parse::<Digest>().is_err());
    }

    #[test]
    fn verify_names_both_digests() {
        let d = Digest::of(b"abc");
        assert!(d.verify(b"abc").is_ok());
        let err = d.verify(b"abd").unwrap_err().to_string();
        assert!(err.contains(&d.to_string()) && err.contains(&Digest::of(b"abd").to_string()), "{err}");
    }
}
