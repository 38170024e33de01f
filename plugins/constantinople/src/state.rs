//! The state blob carried between epochs: smoothed challenge counts per hotkey.
//!
//! Format (version 1): `0x01`, then entries sorted by hotkey, each `u16 LE length, hotkey
//! UTF-8 bytes, f64 LE passes, f64 LE fails`. Byte-exact, so the summary's state hash is stable.

use std::collections::BTreeMap;

const VERSION: u8 = 1;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct VerificationState {
    counts: BTreeMap<String, (f64, f64)>,
}

impl VerificationState {
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut counts = BTreeMap::new();
        let Some((&version, mut rest)) = bytes.split_first() else {
            return Ok(Self { counts });
        };
        if version != VERSION {
            return Err(format!("state blob has version {version}, expected {VERSION}"));
        }
        let truncated = || "state blob is truncated".to_string();
        while !rest.is_empty() {
            let (len, tail) = rest.split_at_checked(2).ok_or_else(truncated)?;
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            let (key, tail) = tail.split_at_checked(len).ok_or_else(truncated)?;
            let (passes, tail) = tail.split_at_checked(8).ok_or_else(truncated)?;
            let (fails, tail) = tail.split_at_checked(8).ok_or_else(truncated)?;
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| "state blob holds a hotkey that is not UTF-8".to_string())?;
            let f = |b: &[u8]| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            counts.insert(key, (f(passes), f(fails)));
            rest = tail;
        }
        Ok(Self { counts })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        for (key, (passes, fails)) in &self.counts {
            let key = &key.as_bytes()[..key.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(key.len() as u16).to_le_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(&passes.to_le_bytes());
            out.extend_from_slice(&fails.to_le_bytes());
        }
        out
    }

    /// Removes and returns the counts for `hotkey`, zero when unknown.
    pub fn take(&mut self, hotkey: &str) -> (f64, f64) {
        self.counts.remove(hotkey).unwrap_or((0.0, 0.0))
    }

    pub fn insert(&mut self, hotkey: String, passes: f64, fails: f64) {
        self.counts.insert(hotkey, (passes, fails));
    }

    pub fn get(&self, hotkey: &str) -> Option<(f64, f64)> {
        self.counts.get(hotkey).copied()
    }
}
