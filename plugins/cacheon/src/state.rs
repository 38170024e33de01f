//! The state blob carried between epochs: the leader (hotkey and score) and the verification
//! gates still running, per hotkey.
//!
//! Owns: the byte format and its bounds. Must not touch: scoring (it stores what `epoch.rs`
//! hands it).
//!
//! Format (version 1): the bytes `CCH` and `0x01`; a `u8` 0 (no leader) or 1 followed by the
//! leader's hotkey (`u16 LE` length and UTF-8 bytes) and its score (`f64 LE`, finite, at least
//! 0); then a `u16 LE` count of gates and that many, sorted by hotkey, each the hotkey (as
//! above) and a `u16 LE` count of epochs left (at least 1). Byte-exact, so the summary's state
//! hash is stable. Bounds: at most [`MAX_GATES`] gates, names of at most [`MAX_NAME_BYTES`]
//! (longer hotkeys are kept cut to it, and looked up the same way). Anything else (another
//! version, a truncated blob, a count over a bound, unsorted or repeated entries, trailing
//! bytes) is an `Err`: a silent reset would hand the lead to a challenger and lift every gate
//! without anyone seeing why.

use std::collections::BTreeMap;

const MAGIC: &[u8] = b"CCH";
const VERSION: u8 = 1;
/// Most gates kept: one per miner of an epoch.
pub const MAX_GATES: usize = crate::config::MAX_MINERS;
/// Longest hotkey kept.
pub const MAX_NAME_BYTES: usize = 256;

/// The miner that won the last epoch, and its fresh score then (kept for audits; the margin
/// rule compares fresh scores, never this one).
#[derive(Debug, Clone, PartialEq)]
pub struct Leader {
    pub hotkey: String,
    pub score: f64,
}

/// Everything carried.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub leader: Option<Leader>,
    /// Epochs each gated hotkey stays at 0 after the current one.
    gates: BTreeMap<String, u16>,
}

impl State {
    /// Reads a blob of this format; an empty blob is the first epoch's (no leader, no gates).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut state = Self::default();
        if bytes.is_empty() {
            return Ok(state);
        }
        let mut reader = Reader(bytes);
        if reader.take(MAGIC.len())? != MAGIC {
            return Err("state blob is not cacheon's (no CCH magic)".to_string());
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(format!("state blob has version {version}, expected {VERSION}"));
        }
        state.leader = match reader.u8()? {
            0 => None,
            1 => Some(reader.leader()?),
            flag => return Err(format!("state blob has leader flag {flag}, expected 0 or 1")),
        };
        let count = usize::from(reader.u16()?);
        if count > MAX_GATES {
            return Err(format!("state blob holds {count} gates, more than {MAX_GATES}"));
        }
        for _ in 0..count {
            let hotkey = reader.name()?;
            let left = reader.u16()?;
            if left == 0 {
                return Err(format!("state blob holds a spent gate for {hotkey}"));
            }
            if state.gates.last_key_value().is_some_and(|(last, _)| *last >= hotkey) {
                return Err(format!("state blob lists hotkey {hotkey} out of order or twice"));
            }
            state.gates.insert(hotkey, left);
        }
        if !reader.0.is_empty() {
            return Err("state blob has trailing bytes".to_string());
        }
        Ok(state)
    }

    /// The blob of this state, byte-exact (hotkeys cut to [`MAX_NAME_BYTES`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        match &self.leader {
            None => out.push(0),
            Some(leader) => {
                out.push(1);
                put_name(&mut out, &leader.hotkey);
                out.extend_from_slice(&leader.score.to_le_bytes());
            }
        }
        let gates: Vec<_> = self.gates.iter().take(MAX_GATES).collect();
        out.extend_from_slice(&(gates.len() as u16).to_le_bytes());
        for (hotkey, left) in gates {
            put_name(&mut out, hotkey);
            out.extend_from_slice(&left.to_le_bytes());
        }
        out
    }

    /// Epochs `hotkey` stays gated after the previous one; 0 when not gated.
    pub fn gate(&self, hotkey: &str) -> u16 {
        self.gates.get(truncated(hotkey)).copied().unwrap_or(0)
    }

    /// Keeps a gate of `left` more epochs for `hotkey`; nothing when `left` is 0.
    pub fn set_gate(&mut self, hotkey: &str, left: u16) {
        if left > 0 {
            self.gates.insert(truncated(hotkey).to_string(), left);
        }
    }

    /// Whether `hotkey` is the leader's (as kept: cut to [`MAX_NAME_BYTES`]).
    pub fn is_leader(&self, hotkey: &str) -> bool {
        self.leader.as_ref().is_some_and(|l| l.hotkey == truncated(hotkey))
    }
}

/// `name` cut to [`MAX_NAME_BYTES`] on a character boundary.
pub fn truncated(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Appends `name`, cut to [`MAX_NAME_BYTES`], as a `u16 LE` length and its bytes.
fn put_name(out: &mut Vec<u8>, name: &str) {
    let name = truncated(name).as_bytes();
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
}

/// A cursor over the blob; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let (head, tail) = self.0.split_at_checked(n).ok_or_else(|| "state blob is truncated".to_string())?;
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut bytes = [0; N];
        bytes.copy_from_slice(self.take(N)?);
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn name(&mut self) -> Result<String, String> {
        let len = usize::from(self.u16()?);
        if len > MAX_NAME_BYTES {
            return Err(format!("state blob holds a hotkey of {len} bytes, more than {MAX_NAME_BYTES}"));
        }
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| "state blob holds a hotkey that is not UTF-8".to_string())
    }

    fn leader(&mut self) -> Result<Leader, String> {
        let hotkey = self.name()?;
        let score = f64::from_le_bytes(self.array()?);
        if !(score.is_finite() && score >= 0.0) {
            return Err(format!("state blob holds a leader score {score} out of range"));
        }
        Ok(Leader { hotkey, score })
    }
}
