//! Commit-reveal rows as the ledger stores them: what a row must be to be stored, its output as
//! little-endian f64 bytes, its reveal status as text. Must not touch: the round's traffic
//! (commitments, salts, windows), which the host judges before a row gets here.

use crate::rows::{CommitRevealRow, MAX_REVEAL_ELEMENTS, RevealStatus};
use crate::{Error, Result};

/// Refuses a row the contract cannot carry: an output over [`MAX_REVEAL_ELEMENTS`], an output
/// on a reveal that is not valid, an element or time that is not finite, a negative time.
pub(crate) fn check(epoch: u64, row: &CommitRevealRow) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::BadCommitReveal(format!("epoch {epoch} round {} uid {}: {reason}", row.round, row.uid)))
    };
    if row.output.len() > MAX_REVEAL_ELEMENTS {
        return bad(format!("{} output elements, over the {MAX_REVEAL_ELEMENTS} kept", row.output.len()));
    }
    if row.reveal != RevealStatus::Valid && !row.output.is_empty() {
        return bad(format!("an output on a {:?} reveal (only a valid one has an output)", row.reveal));
    }
    if let Some(i) = row.output.iter().position(|v| !v.is_finite()) {
        return bad(format!("output element {i} is {}", row.output[i]));
    }
    if let Some(t) = row.committed_ms.into_iter().chain(row.revealed_ms).find(|t| !t.is_finite() || *t < 0.0) {
        return bad(format!("a time of {t} ms (times are finite and not negative)"));
    }
    Ok(())
}

/// The output as little-endian f64 bytes, 8 per element.
pub(crate) fn output_bytes(output: &[f64]) -> Vec<u8> {
    output.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The output of stored bytes; a length that is not a multiple of 8 is a corrupt row.
pub(crate) fn output_of(bytes: &[u8]) -> Result<Vec<f64>> {
    let chunks = bytes.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return Err(Error::Corrupt(format!("commit-reveal output of {} bytes", bytes.len())));
    }
    Ok(chunks.map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect())
}

pub(crate) fn status_text(status: RevealStatus) -> &'static str {
    match status {
        RevealStatus::Valid => "valid",
        RevealStatus::Missing => "missing",
        RevealStatus::Mismatch => "mismatch",
        RevealStatus::Late => "late",
    }
}

pub(crate) fn status_parse(text: &str) -> Result<RevealStatus> {
    match text {
        "valid" => Ok(RevealStatus::Valid),
        "missing" => Ok(RevealStatus::Missing),
        "mismatch" => Ok(RevealStatus::Mismatch),
        "late" => Ok(RevealStatus::Late),
        other => Err(Error::Corrupt(format!("reveal status {other:?}"))),
    }
}
