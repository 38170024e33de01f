//! The state blob carried between epochs: each prover's moving average `s` and its count of
//! verified proofs, by hotkey.
//!
//! Owns: the blob's bytes. Must not touch: the formula (`formula.rs`).
//!
//! Format (version 1), byte-exact so the summary's state hash is stable: the magic `PoI`, the
//! version byte `0x01`, a `u32` LE entry count, then the entries in ascending hotkey order, each
//! `u8 length, hotkey UTF-8 bytes, f64 LE s, u32 LE verified proofs`. Keyed by hotkey, not uid:
//! a uid taken over by a new hotkey starts from nothing. Only miners of the epoch are written
//! back, so the blob holds at most one entry per uid. Anything else (another magic or version,
//! a truncated or padded blob, an entry out of order, an `s` outside `[0, 1]`) is an error:
//! a policy that cannot read its history must not guess it.

use std::collections::BTreeMap;

const MAGIC: &[u8; 3] = b"PoI";
const VERSION: u8 = 1;
/// One entry per uid at most.
const MAX_ENTRIES: usize = 1 << 16;
/// The longest hotkey the format holds (an SS58 address has 47 or 48 characters).
pub const MAX_HOTKEY_BYTES: usize = u8::MAX as usize;

/// What is remembered of one prover.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prover {
    /// The moving average of its proofs, in `[0, 1]`.
    pub s: f64,
    /// Verified proofs so far, over all epochs (saturating).
    pub samples: u32,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProverState {
    provers: BTreeMap<String, Prover>,
}

/// Splits `n` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    let (head, tail) = rest.split_at_checked(n).ok_or_else(|| "state blob is truncated".to_string())?;
    *rest = tail;
    Ok(head)
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

impl ProverState {
    /// Reads a blob; an empty one (the first epoch) is an empty state.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut provers = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self { provers });
        }
        let mut rest = bytes;
        if take(&mut rest, MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
            return Err("state blob is not a proof-of-inference state (no PoI magic)".to_string());
        }
        let version = take(&mut rest, 1)?[0];
        if version != VERSION {
            return Err(format!("state blob has version {version}, expected {VERSION}"));
        }
        let count = u32::from_le_bytes(array(take(&mut rest, 4)?)) as usize;
        if count > MAX_ENTRIES {
            return Err(format!("state blob claims {count} entries, at most {MAX_ENTRIES}"));
        }
        let mut previous: Option<String> = None;
        for _ in 0..count {
            let len = usize::from(take(&mut rest, 1)?[0]);
            let hotkey = String::from_utf8(take(&mut rest, len)?.to_vec())
                .map_err(|_| "state blob holds a hotkey that is not UTF-8".to_string())?;
            let s = f64::from_le_bytes(array(take(&mut rest, 8)?));
            let samples = u32::from_le_bytes(array(take(&mut rest, 4)?));
            if !(0.0..=1.0).contains(&s) {
                return Err(format!("state blob gives {hotkey} s = {s}, outside [0, 1]"));
            }
            if previous.as_ref().is_some_and(|p| *p >= hotkey) {
                return Err(format!("state blob lists {hotkey} out of order or twice"));
            }
            previous = Some(hotkey.clone());
            provers.insert(hotkey, Prover { s, samples });
        }
        if !rest.is_empty() {
            return Err(format!("state blob has {} bytes after its last entry", rest.len()));
        }
        Ok(Self { provers })
    }

    /// Writes the blob. Every entry fits the format ([`ProverState::insert`] refuses any other),
    /// so nothing is cut.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.provers.len() * 64);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.provers.len() as u32).to_le_bytes());
        for (hotkey, prover) in &self.provers {
            // At most MAX_HOTKEY_BYTES = u8::MAX: the length fits its byte.
            out.push(hotkey.len() as u8);
            out.extend_from_slice(hotkey.as_bytes());
            out.extend_from_slice(&prover.s.to_le_bytes());
            out.extend_from_slice(&prover.samples.to_le_bytes());
        }
        out
    }

    /// What is remembered of `hotkey`: nothing yet is `s = 0` and no samples, as the seed starts.
    pub fn get(&self, hotkey: &str) -> Prover {
        self.provers.get(hotkey).copied().unwrap_or_default()
    }

    /// Remembers `prover` under `hotkey`; refuses what the format cannot hold (a hotkey over
    /// [`MAX_HOTKEY_BYTES`], an entry beyond one per uid).
    pub fn insert(&mut self, hotkey: String, prover: Prover) -> Result<(), String> {
        if hotkey.len() > MAX_HOTKEY_BYTES {
            return Err(format!("state cannot hold a hotkey of {} bytes, at most {MAX_HOTKEY_BYTES}", hotkey.len()));
        }
        if self.provers.len() >= MAX_ENTRIES && !self.provers.contains_key(&hotkey) {
            return Err(format!("state holds {MAX_ENTRIES} entries already, one per uid"));
        }
        self.provers.insert(hotkey, prover);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.provers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.provers.is_empty()
    }
}
