//! Fuzzing on stable Rust: each target (a test in `tests/`) feeds a parser that reads what a
//! peer sent with mutations of the seeds in `corpus/<target>/` (bytes flipped, inserted,
//! deleted, truncated, spliced from another seed) and with arbitrary bytes, through proptest,
//! which shrinks a failure to a small input and records it under `proptest-regressions/`.
//!
//! `scripts/test.sh` runs a short pass (`ASSAY_FUZZ_CASES`, 256 cases per target by default);
//! `scripts/fuzz.sh [CASES]` runs a long one. The seeds are written by
//! `scripts/make-fuzz-corpus.sh` (this crate's `make-corpus`).
//! Owns: the mutation strategy and the corpus files. Must not touch: the parsers themselves.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per target: `ASSAY_FUZZ_CASES`, else 256.
pub fn cases() -> u32 {
    std::env::var("ASSAY_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

/// The proptest config of every target: [`cases`] cases, no forking.
pub fn config() -> Config {
    Config { cases: cases(), failure_persistence: None, ..Config::default() }
}

/// The folder of `target`'s seeds.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

/// `target`'s seeds, sorted by file name. Panics when there are none: a target without seeds
/// fuzzes nothing but noise.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/make-fuzz-corpus.sh", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).expect("reads a seed")).collect();
    assert!(!seeds.is_empty(), "no seeds in {}; run scripts/make-fuzz-corpus.sh", dir.display());
    seeds
}

/// One edit of a byte string; positions are taken modulo its length.
#[derive(Debug, Clone)]
pub enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    /// A slice of another seed (index, start, length) inserted at a position.
    Splice(usize, usize, usize, usize),
    /// A byte repeated (long runs find length bugs).
    Repeat(usize, u8, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(p, b)| Mutation::Insert(p, b)),
        2 => (any::<usize>(), 1usize..16).prop_map(|(p, n)| Mutation::Delete(p, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<usize>(), any::<usize>(), 1usize..64)
            .prop_map(|(s, a, p, n)| Mutation::Splice(s, a, p, n)),
        1 => (any::<usize>(), any::<u8>(), 1usize..4096).prop_map(|(p, b, n)| Mutation::Repeat(p, b, n)),
    ]
}

/// Applies `edits` to `seed`, reading spliced bytes from `seeds`.
pub fn mutate(seed: &[u8], edits: &[Mutation], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for edit in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match edit {
            Mutation::Set(p, b) if !out.is_empty() => {
                let i = p % out.len();
                out[i] = *b;
            }
            Mutation::Set(..) => {}
            Mutation::Insert(p, bytes) => {
                let i = at(*p, out.len());
                out.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(p, n) => {
                let i = at(*p, out.len());
                let end = (i + n).min(out.len());
                out.drain(i..end);
            }
            Mutation::Truncate(p) => out.truncate(at(*p, out.len())),
            Mutation::Splice(s, a, p, n) => {
                let other = &seeds[s % seeds.len()];
                let start = at(*a, other.len()).min(other.len());
                let end = (start + n).min(other.len());
                let i = at(*p, out.len());
                out.splice(i..i, other[start..end].iter().copied());
            }
            Mutation::Repeat(p, b, n) => {
                let i = at(*p, out.len());
                out.splice(i..i, std::iter::repeat_n(*b, *n));
            }
        }
    }
    out
}

/// Inputs for a target: mostly mutated seeds (one to four edits), sometimes arbitrary bytes.
/// Yields `(seed index or None, bytes)`.
pub fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = (Option<usize>, Vec<u8>)> {
    let count = seeds.len();
    prop_oneof![
        9 => (0..count, prop::collection::vec(mutation(), 0..5)).prop_map(move |(i, edits)| {
            (Some(i), mutate(&seeds[i], &edits, &seeds))
        }),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(|bytes| (None, bytes)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds() {
        let seeds = vec![b"hello".to_vec(), Vec::new()];
        let edits = [
            Mutation::Set(99, b'x'),
            Mutation::Insert(1000, b"ab".to_vec()),
            Mutation::Delete(3, 100),
            Mutation::Splice(1, 5, 0, 9),
            Mutation::Repeat(2, b'z', 3),
            Mutation::Truncate(4),
        ];
        assert_eq!(mutate(b"hello", &edits, &seeds), b"hezz".to_vec());
        assert_eq!(mutate(b"", &[Mutation::Set(3, 1), Mutation::Delete(0, 4)], &seeds), Vec::<u8>::new());
    }
}
