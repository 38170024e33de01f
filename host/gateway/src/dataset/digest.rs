//! One pass over an epoch's published `requests.jsonl.zst`: its counts (by kind, outcome, miner,
//! tokens) and its newest records, for `/v1/dataset/stats` and `/v1/dataset/recent`.
//! Must not touch: the store (the caller hands over the bytes it read and checked).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use serde::Serialize;
use serde_json::Value;

/// Requests counted by who sent them, how they ended, and their tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub requests: u64,
    pub organic: u64,
    pub synthetic: u64,
    pub baseline: u64,
    /// A `kind` none of the above (a newer node's, or a bad line): counted in `requests` only here.
    pub unknown: u64,
    /// Outcome `ok`; the others failed (the miner's fault or a user who went away).
    pub ok: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// One miner's share of the requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct MinerCounts {
    pub requests: u64,
    pub ok: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Counts come from published files, which may say anything: they saturate, never wrap or panic.
fn add(total: &mut u64, more: u64) {
    *total = total.saturating_add(more);
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        add(&mut self.requests, other.requests);
        add(&mut self.organic, other.organic);
        add(&mut self.synthetic, other.synthetic);
        add(&mut self.baseline, other.baseline);
        add(&mut self.unknown, other.unknown);
        add(&mut self.ok, other.ok);
        add(&mut self.prompt_tokens, other.prompt_tokens);
        add(&mut self.completion_tokens, other.completion_tokens);
    }
}

impl MinerCounts {
    pub fn add(&mut self, other: &MinerCounts) {
        add(&mut self.requests, other.requests);
        add(&mut self.ok, other.ok);
        add(&mut self.prompt_tokens, other.prompt_tokens);
        add(&mut self.completion_tokens, other.completion_tokens);
    }
}

/// What one epoch's dataset file holds, in brief.
#[derive(Debug, Clone, Default)]
pub(crate) struct Digest {
    /// The published file's size.
    pub bytes: u64,
    pub counts: Counts,
    pub miners: BTreeMap<u16, MinerCounts>,
    /// Lines that are not a dataset record, or longer than the cap on a line (skipped, counted).
    pub unreadable: u64,
    /// The newest records (by `started_ms`, then id), newest first, with the size of their line;
    /// emptied once newer epochs hold enough of them.
    pub newest: Vec<Kept>,
}

/// A record kept for `/recent`, and the bytes of its line.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub line: Value,
    pub bytes: u64,
}

/// Why a dataset file could not be digested.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DigestError {
    #[error("decompressing the dataset: {0}")]
    Zstd(std::io::Error),
    #[error("the dataset decompresses to more than {0} bytes")]
    TooLarge(u64),
}

/// The longest line read: a longer one is skipped (as unreadable) without being held.
pub(crate) const MAX_LINE_BYTES: usize = 8 << 20;

impl DigestError {
    /// The short code the endpoints say.
    pub fn code(&self) -> &'static str {
        match self {
            DigestError::Zstd(_) => "not_zstd",
            DigestError::TooLarge(_) => "decompresses_too_large",
        }
    }
}

/// Reads `zst` (at most `max_jsonl` bytes once decompressed, lines of at most `max_line` bytes),
/// keeping the newest records: at most `keep` of them and `keep_bytes` of their lines.
pub(crate) fn digest(
    zst: &[u8],
    max_jsonl: u64,
    max_line: usize,
    keep: usize,
    keep_bytes: u64,
) -> Result<Digest, DigestError> {
    let decoder = zstd::Decoder::new(zst).map_err(DigestError::Zstd)?;
    let mut lines = BufReader::new(decoder.take(max_jsonl.saturating_add(1)));
    let mut out = Digest { bytes: zst.len() as u64, ..Digest::default() };
    let (mut read, mut line, mut held) = (0u64, Vec::new(), 0u64);
    loop {
        line.clear();
        let (n, oversize) = read_line(&mut lines, &mut line, max_line).map_err(DigestError::Zstd)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > max_jsonl {
            return Err(DigestError::TooLarge(max_jsonl));
        }
        if oversize {
            out.unreadable = out.unreadable.saturating_add(1);
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(value) if count(&mut out, &value) => {
                let kept = Kept { line: value, bytes: line.len() as u64 };
                keep_newest(&mut out.newest, &mut held, kept, keep, keep_bytes);
            }
            _ => out.unreadable = out.unreadable.saturating_add(1),
        }
    }
    newest_first(&mut out.newest, keep, keep_bytes);
    Ok(out)
}

/// Reads one line into `line`, keeping at most `max` bytes of it: the bytes read (0 at the end)
/// and whether the line was longer (then `line` is left empty and the rest of it is read past).
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> std::io::Result<(usize, bool)> {
    let (mut read, mut oversize) = (0, false);
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((read, oversize));
        }
        let (n, ends) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        if !oversize && line.len() + n <= max {
            line.extend_from_slice(&buffer[..n]);
        } else {
            oversize = true;
            line.clear();
        }
        reader.consume(n);
        read += n;
        if ends {
            return Ok((read, oversize));
        }
    }
}

/// Counts one line; false when it is not a dataset record.
fn count(out: &mut Digest, line: &Value) -> bool {
    let record = &line["record"];
    let (Some(uid), Some(kind), Some(outcome)) =
        (record["uid"].as_u64(), record["kind"].as_str(), record["outcome"].as_str())
    else {
        return false;
    };
    let Ok(uid) = u16::try_from(uid) else { return false };
    let prompt = record["prompt_tokens"].as_u64().unwrap_or(0);
    let completion = record["completion_tokens"].as_u64().unwrap_or(0);
    let ok = u64::from(outcome == "ok");
    let c = &mut out.counts;
    add(&mut c.requests, 1);
    match kind {
        "organic" => add(&mut c.organic, 1),
        "synthetic" => add(&mut c.synthetic, 1),
        "baseline" => add(&mut c.baseline, 1),
        _ => add(&mut c.unknown, 1),
    }
    add(&mut c.ok, ok);
    add(&mut c.prompt_tokens, prompt);
    add(&mut c.completion_tokens, completion);
    let miner = out.miners.entry(uid).or_default();
    miner.add(&MinerCounts { requests: 1, ok, prompt_tokens: prompt, completion_tokens: completion });
    true
}

/// Sorting key of a record: when it started, then its id.
pub(crate) fn recency(line: &Value) -> (u64, u64) {
    let record = &line["record"];
    (record["started_ms"].as_u64().unwrap_or(0), record["id"].as_u64().unwrap_or(0))
}

/// Adds `kept` (`held`: the bytes of what is kept), trimming to the newest within `keep` and
/// `keep_bytes` whenever twice as many, or twice the bytes, have gathered.
fn keep_newest(newest: &mut Vec<Kept>, held: &mut u64, kept: Kept, keep: usize, keep_bytes: u64) {
    *held = held.saturating_add(kept.bytes);
    newest.push(kept);
    if newest.len() >= keep.saturating_mul(2).max(1) || *held >= keep_bytes.saturating_mul(2).max(1) {
        *held = newest_first(newest, keep, keep_bytes);
    }
}

/// Sorts newest first and keeps at most `keep` records and `keep_bytes` of lines; the bytes kept.
fn newest_first(newest: &mut Vec<Kept>, keep: usize, keep_bytes: u64) -> u64 {
    newest.sort_by_key(|kept| std::cmp::Reverse(recency(&kept.line)));
    newest.truncate(keep);
    let within = within_bytes(newest.iter().map(|k| k.bytes), keep_bytes);
    newest.truncate(within);
    newest.iter().map(|k| k.bytes).sum()
}

/// How many of `sizes`, from the first, fit in `budget`.
pub(crate) fn within_bytes(sizes: impl Iterator<Item = u64>, budget: u64) -> usize {
    let mut total = 0u64;
    sizes
        .take_while(|size| {
            total = total.saturating_add(*size);
            total <= budget
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(id: u64, uid: u16, kind: &str, outcome: &str, started_ms: u64) -> String {
        json!({"epoch": 3, "task": "chat", "record": {"id": id, "uid": uid, "kind": kind, "outcome": outcome,
            "prompt_tokens": 10, "completion_tokens": 5, "started_ms": started_ms}})
        .to_string()
    }

    fn zst(lines: &[String]) -> Vec<u8> {
        zstd::encode_all(lines.join("\n").as_bytes(), 3).expect("compresses")
    }

    #[test]
    fn counts_by_kind_outcome_and_miner_and_keeps_the_newest() {
        let lines = [
            line(1, 0, "organic", "ok", 30),
            line(2, 1, "synthetic", "ok", 10),
            line(3, 1, "organic", "timeout", 20),
            "not json".to_string(),
            json!({"epoch": 3}).to_string(),
        ];
        let digest = digest(&zst(&lines), 1 << 20, MAX_LINE_BYTES, 2, 1 << 20).expect("digests");
        assert_eq!(
            digest.counts,
            Counts {
                requests: 3,
                organic: 2,
                synthetic: 1,
                baseline: 0,
                unknown: 0,
                ok: 2,
                prompt_tokens: 30,
                completion_tokens: 15
            }
        );
        assert_eq!(digest.miners[&1], MinerCounts { requests: 2, ok: 1, prompt_tokens: 20, completion_tokens: 10 });
        assert_eq!(digest.unreadable, 2);
        let ids: Vec<u64> = digest.newest.iter().map(|k| k.line["record"]["id"].as_u64().expect("id")).collect();
        assert_eq!(ids, [1, 3]);
    }

    #[test]
    fn a_file_past_the_bound_or_not_zstd_is_refused() {
        let lines: Vec<String> = (0..100).map(|i| line(i, 0, "organic", "ok", i)).collect();
        assert!(matches!(digest(&zst(&lines), 1000, MAX_LINE_BYTES, 10, 1 << 20), Err(DigestError::TooLarge(1000))));
        assert!(matches!(digest(b"plain text", 1000, MAX_LINE_BYTES, 10, 1 << 20), Err(DigestError::Zstd(_))));
    }

    #[test]
    fn counts_saturate_rather_than_overflow() {
        let huge = json!({"record": {"id": 1, "uid": 0, "kind": "organic", "outcome": "ok",
            "prompt_tokens": u64::MAX, "completion_tokens": u64::MAX, "started_ms": 1}})
        .to_string();
        let digest = digest(&zst(&[huge.clone(), huge]), 1 << 20, MAX_LINE_BYTES, 2, 1 << 20).expect("digests");
        assert_eq!(digest.counts.prompt_tokens, u64::MAX);
        assert_eq!(digest.miners[&0].completion_tokens, u64::MAX);
        let mut total = digest.counts.clone();
        total.add(&digest.counts);
        assert_eq!(total.prompt_tokens, u64::MAX);
        let mut miner = digest.miners[&0].clone();
        miner.add(&digest.miners[&0]);
        assert_eq!(miner.prompt_tokens, u64::MAX);
    }

    #[test]
    fn a_line_past_the_cap_is_skipped_as_unreadable_and_the_next_is_read() {
        let long = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
        let lines = [line(1, 0, "organic", "ok", 1), long, line(2, 0, "organic", "ok", 2)];
        let digest = digest(&zst(&lines), 1 << 20, 1000, 10, 1 << 20).expect("digests");
        assert_eq!((digest.counts.requests, digest.unreadable), (2, 1));
    }

    #[test]
    fn baseline_and_an_unknown_kind_are_counted_apart() {
        let lines = [line(1, 0, "baseline", "ok", 1), line(2, 0, "from-the-future", "ok", 2)];
        let counts = digest(&zst(&lines), 1 << 20, MAX_LINE_BYTES, 10, 1 << 20).expect("digests").counts;
        assert_eq!((counts.requests, counts.synthetic, counts.baseline, counts.unknown), (2, 0, 1, 1));
    }

    #[test]
    fn the_newest_kept_are_bounded_in_bytes_too() {
        let lines: Vec<String> = (0..50).map(|i| line(i, 0, "organic", "ok", i)).collect();
        let each = lines[49].len() as u64 + 1;
        let digest = digest(&zst(&lines), 1 << 20, MAX_LINE_BYTES, 40, each * 3).expect("digests");
        let ids: Vec<u64> = digest.newest.iter().map(|k| k.line["record"]["id"].as_u64().expect("id")).collect();
        assert_eq!(ids, [49, 48, 47]);
    }
}
