//! The state blob carried between epochs: per hotkey, its verification gate and, per task, the
//! recent period scores and the recent quality records.
//!
//! Owns: the byte format and its bounds. Must not touch: scoring (it stores what `epoch.rs`
//! hands it, already cut to the configured lengths).
//!
//! Format (version 2): the bytes `N19` and `0x02`, then miners sorted by hotkey, each: `u16 LE`
//! length and UTF-8 bytes of the hotkey, `u16 LE` gated epochs left, `u8` task count and that
//! many tasks sorted by name, each: `u16 LE` length and UTF-8 bytes of the task name, `u8`
//! period count and that many periods newest first (`f32 LE` score, `f32 LE` consumed), `u16
//! LE` record count and that many quality records oldest first (`f32 LE` quality, `f32 LE`
//! speed metric). Byte-exact, so the summary's state hash is stable. Periods and quality
//! records are kept as f32 from the moment they are made, so a round trip changes nothing, and
//! the conversion is IEEE rounding, the same on the native and the wasm32 build. The seed keeps
//! period scores as Postgres `FLOAT` (f64); f32 moves a score by at most 6e-8 of itself (4 times
//! that after the per-task 4th power), under a quarter of one step of a u16 weight (1.5e-5 of
//! the best), and counts consumed tokens exactly up to 2^24 per period.
//!
//! Bounds: at most [`MAX_PERIODS`] periods, [`MAX_RECORDS`] records and [`MAX_TASKS_PER_MINER`]
//! tasks per miner, names of at most [`MAX_NAME_BYTES`]; `epoch.rs` keeps only the epoch's own
//! miners and tasks, and [`worst_case_bytes`] is what the configuration is checked against.
//! Anything else (another version, a truncated blob, a count over a bound, unsorted or repeated
//! entries) is an `Err`: the seed has no equivalent to follow, and a silent reset would hide a
//! host bug and wipe every miner's history without anyone seeing why.

use std::collections::BTreeMap;

use crate::formula::Period;

const MAGIC: &[u8] = b"N19";
const VERSION: u8 = 2;
/// Most periods an entry may hold (the `period.history` parameter's ceiling).
pub const MAX_PERIODS: usize = 64;
/// Most quality records an entry may hold (the `quality.window` parameter's ceiling).
pub const MAX_RECORDS: usize = 200;
/// Longest hotkey or task name kept.
pub const MAX_NAME_BYTES: usize = 256;
/// Most tasks one miner's entry may hold (a `u8` count).
pub const MAX_TASKS_PER_MINER: usize = 255;

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

impl Carried {
    fn is_empty(&self) -> bool {
        self.periods.is_empty() && self.records.is_empty()
    }
}

/// What one miner carries: its gate and its tasks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinerState {
    /// Epochs the miner stays gated (scores 0) after the current one, from its last failed
    /// challenge.
    pub gated_epochs_left: u16,
    /// Per task name.
    pub tasks: BTreeMap<String, Carried>,
}

impl MinerState {
    fn is_empty(&self) -> bool {
        self.gated_epochs_left == 0 && self.tasks.is_empty()
    }
}

/// Everything carried, keyed by hotkey.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    miners: BTreeMap<String, MinerState>,
}

/// Bytes of the largest blob `miners` miners can produce, each with a hotkey of
/// [`MAX_NAME_BYTES`] and, for every task named in `tasks`, a full history of `history` periods
/// and `window` records.
pub fn worst_case_bytes(miners: usize, tasks: &[&str], history: usize, window: usize) -> usize {
    let per_task: usize = tasks
        .iter()
        .map(|t| 2 + truncated(t).len() + 1 + 8 * history.min(MAX_PERIODS) + 2 + 8 * window.min(MAX_RECORDS))
        .sum();
    MAGIC.len() + 1 + miners * (2 + MAX_NAME_BYTES + 2 + 1 + per_task)
}

impl State {
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut miners = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self { miners });
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
            let hotkey = reader.name("hotkey")?;
            let miner = reader.miner()?;
            if miners.last_key_value().is_some_and(|(last, _)| *last >= hotkey) {
                return Err(format!("state blob lists hotkey {hotkey} out of order or twice"));
            }
            miners.insert(hotkey, miner);
        }
        Ok(Self { miners })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        for (hotkey, miner) in &self.miners {
            put_name(&mut out, hotkey);
            out.extend_from_slice(&miner.gated_epochs_left.to_le_bytes());
            let tasks: Vec<_> = miner.tasks.iter().take(MAX_TASKS_PER_MINER).collect();
            out.push(tasks.len() as u8);
            for (task, carried) in tasks {
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
        }
        out
    }

    /// Removes and returns what `hotkey` carries, empty when nothing.
    pub fn take(&mut self, hotkey: &str) -> MinerState {
        self.miners.remove(truncated(hotkey)).unwrap_or_default()
    }

    /// Keeps `miner` without its empty tasks, unless nothing is left (an empty entry would only
    /// take room).
    pub fn insert(&mut self, hotkey: &str, mut miner: MinerState) {
        miner.tasks.retain(|_, carried| !carried.is_empty());
        miner.tasks = miner.tasks.into_iter().map(|(task, carried)| (truncated(&task).to_string(), carried)).collect();
        if miner.is_empty() {
            return;
        }
        self.miners.insert(truncated(hotkey).to_string(), miner);
    }

    pub fn get(&self, hotkey: &str) -> Option<&MinerState> {
        self.miners.get(truncated(hotkey))
    }

    /// What `hotkey` carries for `task`.
    pub fn task(&self, hotkey: &str, task: &str) -> Option<&Carried> {
        self.get(hotkey)?.tasks.get(truncated(task))
    }

    pub fn len(&self) -> usize {
        self.miners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.miners.is_empty()
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

    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_le_bytes(self.array()?))
    }

    fn name(&mut self, what: &str) -> Result<String, String> {
        let len = usize::from(self.u16()?);
        if len > MAX_NAME_BYTES {
            return Err(format!("state blob holds a {what} of {len} bytes, more than {MAX_NAME_BYTES}"));
        }
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| format!("state blob holds a {what} that is not UTF-8"))
    }

    fn miner(&mut self) -> Result<MinerState, String> {
        let gated_epochs_left = self.u16()?;
        let count = self.u8()?;
        let mut tasks = BTreeMap::new();
        for _ in 0..count {
            let task = self.name("task")?;
            let carried = self.carried()?;
            if tasks.last_key_value().is_some_and(|(last, _): (&String, _)| *last >= task) {
                return Err(format!("state blob lists task {task} out of order or twice"));
            }
            tasks.insert(task, carried);
        }
        Ok(MinerState { gated_epochs_left, tasks })
    }

    fn carried(&mut self) -> Result<Carried, String> {
        let period_count = usize::from(self.u8()?);
        if period_count > MAX_PERIODS {
            return Err(format!("state blob holds {period_count} periods, more than {MAX_PERIODS}"));
        }
        let mut periods = Vec::with_capacity(period_count);
        for _ in 0..period_count {
            let (score, consumed) = (self.f32()?, self.f32()?);
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
            let (quality, metric) = (self.f32()?, self.f32()?);
            if !((0.0..=1.0).contains(&quality) && metric.is_finite() && metric >= 0.0) {
                return Err(format!("state blob holds a quality record ({quality}, {metric}) out of range"));
            }
            records.push(QualityRecord { quality, metric });
        }
        Ok(Carried { periods, records })
    }
}
