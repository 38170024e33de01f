//! The state blob carried between epochs: per (hotkey, task), the recent period scores and the
//! recent quality records.
//!
//! Owns: the byte format and its bounds. Must not touch: scoring (it stores what `epoch.rs`
//! hands it, already cut to the configured lengths).
//!
//! Format (version 1): the bytes `N19` and `0x01`, then entries sorted by (hotkey, task), each:
//! `u16 LE` length and UTF-8 bytes of the hotkey, the same for the task name, `u8` period
//! count and that many periods newest first (`f64 LE` score, `f64 LE` consumed), `u16 LE`
//! record count and that many quality records oldest first (`f32 LE` quality, `f32 LE` speed
//! metric). Byte-exact, so the summary's state hash is stable. Quality records are kept as f32
//! from the moment they are made, so a round trip changes nothing.
//!
//! Bounds: at most [`MAX_PERIODS`] periods and [`MAX_RECORDS`] records per entry, names of at
//! most [`MAX_NAME_BYTES`]; `epoch.rs` keeps only the epoch's own miners and tasks. Anything
//! else (another version, a truncated blob, a count over a bound, unsorted or repeated entries)
//! is an `Err`: the seed has no equivalent to follow, and a silent reset would hide a host bug and
//! wipe every miner's history without anyone seeing why.

use std::collections::BTreeMap;

use crate::formula::Period;

const MAGIC: &[u8] = b"N19";
const VERSION: u8 = 1;
/// Most periods an entry may hold (the `period.history` parameter's ceiling).
pub const MAX_PERIODS: usize = 64;
/// Most quality records an entry may hold (the `quality.window` parameter's ceiling).
pub const MAX_RECORDS: usize = 200;
/// Longest hotkey or task name kept.
pub const MAX_NAME_BYTES: usize = 256;

/// One checked request, as the quality average and the speed bonus read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityRecord {
    pub quality: f32,
    /// Quality × completion tokens per second of the validator's clock.
    pub metric: f32,
}

/// What one miner carries for one task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Carried {
    /// Newest first.
    pub periods: Vec<Period>,
    /// Oldest first.
    pub records: Vec<QualityRecord>,
}

/// Everything carried, keyed by (hotkey, task name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    entries: BTreeMap<(String, String), Carried>,
}

impl State {
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self { entries });
        }
        let mut reader = Reader(bytes);
        if reader.take(MAGIC.len())? != MAGIC {
            return Err("state blob is not nineteen's (no N19 magic)".to_string());
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(format!("state blob has version {version}, expected {VERSION}"));
        }
        while !reader.0.is_empty() {
            let key = (reader.name("hotkey")?, reader.name("task")?);
            let carried = reader.carried()?;
            if entries.last_key_value().is_some_and(|(last, _)| *last >= key) {
                return Err(format!("state blob lists ({}, {}) out of order or twice", key.0, key.1));
            }
            entries.insert(key, carried);
        }
        Ok(Self { entries })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        for ((hotkey, task), carried) in &self.entries {
            put_name(&mut out, hotkey);
            put_name(&mut out, task);
            let periods = &carried.periods[..carried.periods.len().min(MAX_PERIODS)];
            out.push(periods.len() as u8);
            for p in periods {
                out.extend_from_slice(&p.score.to_le_bytes());
                out.extend_from_slice(&p.consumed.to_le_bytes());
            }
            let records = &carried.records[carried.records.len().saturating_sub(MAX_RECORDS)..];
            out.extend_from_slice(&(records.len() as u16).to_le_bytes());
            for r in records {
                out.extend_from_slice(&r.quality.to_le_bytes());
                out.extend_from_slice(&r.metric.to_le_bytes());
            }
        }
        out
    }

    /// Removes and returns what `hotkey` carries for `task`, empty when nothing.
    pub fn take(&mut self, hotkey: &str, task: &str) -> Carried {
        self.entries.remove(&key(hotkey, task)).unwrap_or_default()
    }

    /// Keeps `carried` unless it is empty (an empty entry would only take room).
    pub fn insert(&mut self, hotkey: &str, task: &str, carried: Carried) {
        if carried.periods.is_empty() && carried.records.is_empty() {
            return;
        }
        self.entries.insert(key(hotkey, task), carried);
    }

    pub fn get(&self, hotkey: &str, task: &str) -> Option<&Carried> {
        self.entries.get(&key(hotkey, task))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn key(hotkey: &str, task: &str) -> (String, String) {
    (truncated(hotkey).to_string(), truncated(task).to_string())
}

/// `name` cut to [`MAX_NAME_BYTES`] on a character boundary.
fn truncated(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

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

    fn name(&mut self, what: &str) -> Result<String, String> {
        let len = usize::from(self.u16()?);
        if len > MAX_NAME_BYTES {
            return Err(format!("state blob holds a {what} of {len} bytes, more than {MAX_NAME_BYTES}"));
        }
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| format!("state blob holds a {what} that is not UTF-8"))
    }

    fn carried(&mut self) -> Result<Carried, String> {
        let period_count = usize::from(self.u8()?);
        if period_count > MAX_PERIODS {
            return Err(format!("state blob holds {period_count} periods, more than {MAX_PERIODS}"));
        }
        let mut periods = Vec::with_capacity(period_count);
        for _ in 0..period_count {
            let score = f64::from_le_bytes(self.array()?);
            let consumed = f64::from_le_bytes(self.array()?);
            if !((0.0..=1.0).contains(&score) && consumed.is_finite() && consumed >= 0.0) {
                return Err(format!("state blob holds a period ({score}, {consumed}) out of range"));
            }
            periods.push(Period { score, consumed });
        }
        let record_count = usize::from(self.u16()?);
        if record_count > MAX_RECORDS {
            return Err(format!("state blob holds {record_count} quality records, more than {MAX_RECORDS}"));
        }
        let mut records = Vec::with_capacity(record_count);
        for _ in 0..record_count {
            let quality = f32::from_le_bytes(self.array()?);
            let metric = f32::from_le_bytes(self.array()?);
            if !((0.0..=1.0).contains(&quality) && metric.is_finite() && metric >= 0.0) {
                return Err(format!("state blob holds a quality record ({quality}, {metric}) out of range"));
            }
            records.push(QualityRecord { quality, metric });
        }
        Ok(Carried { periods, records })
    }
}
