//! The state blob carried between epochs: per hotkey, the epochs it stays gated after a failed
//! challenge. Nothing else: the score is this epoch's alone.
//!
//! Owns: the byte format and its bounds. Must not touch: scoring (it stores what `epoch.rs`
//! hands it).
//!
//! Format (version 1): the bytes `CNS` and `0x01`, then the gated miners sorted by hotkey, each:
//! `u16 LE` length and UTF-8 bytes of the hotkey, `u16 LE` gated epochs left (never 0: an
//! ungated miner is not written). Byte-exact, so the summary's state hash is stable.
//!
//! Bounds: at most [`MAX_MINERS`] entries (`epoch.rs` keeps only the epoch's miners) and
//! hotkeys of at most [`MAX_HOTKEY_BYTES`] (longer ones are cut; two hotkeys sharing the cut
//! share the longer gate), so a blob is at most 66,564 bytes. Anything else (another version,
//! a truncated blob, an entry over a bound, unsorted or repeated hotkeys, a gate of 0) is an
//! `Err`: a silent reset would hide a host bug and free every gated cheater.

use std::collections::BTreeMap;

use crate::config::MAX_MINERS;

const MAGIC: &[u8] = b"CNS";
const VERSION: u8 = 1;
/// Longest hotkey kept (an SS58 address is 48 bytes).
pub const MAX_HOTKEY_BYTES: usize = 256;

/// Gated epochs left, keyed by hotkey.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    gates: BTreeMap<String, u16>,
}

impl State {
    /// Reads a blob written by [`State::encode`]; an empty blob is an empty state (the first
    /// epoch). Anything else that is not a well-formed version-1 blob is an `Err`.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut gates = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self { gates });
        }
        let mut reader = Reader(bytes);
        if reader.take(MAGIC.len())? != MAGIC {
            return Err("state blob is not consensus's (no CNS magic)".to_string());
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(format!("state blob has version {version}, expected {VERSION}"));
        }
        while !reader.0.is_empty() {
            if gates.len() == MAX_MINERS {
                return Err(format!("state blob holds more than {MAX_MINERS} miners"));
            }
            let hotkey = reader.hotkey()?;
            let left = reader.u16()?;
            if left == 0 {
                return Err(format!("state blob holds hotkey {hotkey} with no gate"));
            }
            if gates.last_key_value().is_some_and(|(last, _)| *last >= hotkey) {
                return Err(format!("state blob lists hotkey {hotkey} out of order or twice"));
            }
            gates.insert(hotkey, left);
        }
        Ok(Self { gates })
    }

    /// Writes the blob: header, then the gates in hotkey order (at most [`MAX_MINERS`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        for (hotkey, &left) in self.gates.iter().take(MAX_MINERS) {
            let name = hotkey.as_bytes();
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&left.to_le_bytes());
        }
        out
    }

    /// Epochs `hotkey` stays gated after the previous one; 0 when it carries no gate.
    pub fn gate(&self, hotkey: &str) -> u16 {
        self.gates.get(truncated(hotkey)).copied().unwrap_or(0)
    }

    /// Records `left` gated epochs for `hotkey` (nothing when 0), keeping the longer gate when
    /// the cut hotkey is already there.
    pub fn set_gate(&mut self, hotkey: &str, left: u16) {
        if left == 0 {
            return;
        }
        let entry = self.gates.entry(truncated(hotkey).to_string()).or_insert(0);
        *entry = (*entry).max(left);
    }

    /// Hotkeys carrying a gate.
    pub fn len(&self) -> usize {
        self.gates.len()
    }

    /// Whether no hotkey carries a gate.
    pub fn is_empty(&self) -> bool {
        self.gates.is_empty()
    }
}

/// `hotkey` cut to [`MAX_HOTKEY_BYTES`] on a character boundary.
pub fn truncated(hotkey: &str) -> &str {
    let mut end = hotkey.len().min(MAX_HOTKEY_BYTES);
    while !hotkey.is_char_boundary(end) {
        end -= 1;
    }
    &hotkey[..end]
}

/// A cursor over the blob; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let (head, tail) = self.0.split_at_checked(n).ok_or_else(|| "state blob is truncated".to_string())?;
        self.0 = tail;
        Ok(head)
    }

    /// The next byte.
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// The next `u16 LE`.
    fn u16(&mut self) -> Result<u16, String> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    /// A `u16 LE` length, then that many bytes of UTF-8, at most [`MAX_HOTKEY_BYTES`].
    fn hotkey(&mut self) -> Result<String, String> {
        let len = usize::from(self.u16()?);
        if len > MAX_HOTKEY_BYTES {
            return Err(format!("state blob holds a hotkey of {len} bytes, more than {MAX_HOTKEY_BYTES}"));
        }
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| "state blob holds a hotkey that is not UTF-8".to_string())
    }
}
