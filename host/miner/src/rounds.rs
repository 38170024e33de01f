//! Commit-reveal rounds (decision 0009): the final hidden state at a prompt's last position,
//! committed to with a fresh salt, and the salt and output kept until revealed. A round is known
//! by its signer and id, so one validator can neither reveal nor collide with another's; each
//! signer keeps its last `per_signer` rounds, and the store at most `total` in all (past either,
//! the oldest go first).
//!
//! Owns: computing a round's output with the engine, its commitment, and the bounded store.
//! Must not touch: HTTP and signatures (the server around it does those), or scoring.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use assay_protocol::commit_reveal::{self, SALT_BYTES};
use assay_protocol::commitment::Hash;
use assay_protocol::wire::{CommitResponse, RevealResponse, encode_vector};
use assay_reference_engine::{Engine, HiddenSelection};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// One committed round: what the commitment opens to, and the prompt it was computed on (by
/// digest), so that a retried commit of the same round gets the same answer.
#[derive(Debug)]
pub struct Round {
    pub salt: [u8; SALT_BYTES],
    /// Little-endian f32 bytes of the output.
    pub output: Vec<u8>,
    pub commitment: Hash,
    prompt_digest: Hash,
}

/// (signer, round id).
type Key = (String, u64);
/// Each kept round with its insertion sequence (the lowest is the oldest).
type Entries = BTreeMap<Key, (u64, Arc<Round>)>;

#[derive(Default)]
struct Kept {
    next: u64,
    entries: Entries,
}

/// The salt and output of every kept round; see the module doc for the bounds.
pub struct Rounds {
    per_signer: usize,
    total: usize,
    kept: Mutex<Kept>,
}

/// The final hidden state (index L, the final-normed output the LM head reads) at the last
/// position of `prompt`, from one teacher-forced pass, as the openings' vectors are computed.
pub fn round_output(engine: &Engine, prompt: &[u32]) -> Result<Vec<f32>> {
    let last = prompt.len().checked_sub(1).ok_or(Error::Empty)?;
    let point = (engine.config().num_layers, last);
    Ok(engine.teacher_forced(prompt, &HiddenSelection::Points(vec![point]), &[])?.hidden)
}

fn prompt_digest(prompt: &[u32]) -> Hash {
    let mut h = Sha256::new();
    for id in prompt {
        h.update(id.to_le_bytes());
    }
    h.finalize().into()
}

impl Rounds {
    /// A store keeping each signer's last `per_signer` rounds and `total` rounds in all (both at
    /// least one).
    pub fn new(per_signer: usize, total: usize) -> Self {
        Self { per_signer: per_signer.max(1), total: total.max(1), kept: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `signer`'s round `round`, when it is kept.
    pub fn get(&self, signer: &str, round: u64) -> Option<Arc<Round>> {
        self.lock().entries.get(&(signer.to_string(), round)).map(|(_, r)| r.clone())
    }

    /// Keeps `round` as `signer`'s `id`, forgetting the oldest past the bounds, and returns it;
    /// when that round is already kept (two commits of it at once), the first stays and is returned.
    fn insert(&self, signer: &str, id: u64, round: Round) -> Arc<Round> {
        let mut guard = self.lock();
        let Kept { next, entries } = &mut *guard;
        if let Some((_, first)) = entries.get(&(signer.to_string(), id)) {
            return first.clone();
        }
        let mine = |entries: &Entries| {
            let range = (signer.to_string(), 0)..=(signer.to_string(), u64::MAX);
            entries.range(range).map(|(k, (seq, _))| (*seq, k.clone())).collect::<Vec<_>>()
        };
        // Bounded by `per_signer` and `total`: linear scans cost less than the forward pass.
        while mine(entries).len() >= self.per_signer {
            let Some((_, oldest)) = mine(entries).into_iter().min() else { break };
            entries.remove(&oldest);
        }
        while entries.len() >= self.total {
            let Some(oldest) = entries.iter().min_by_key(|(_, (seq, _))| *seq).map(|(k, _)| k.clone()) else {
                break;
            };
            entries.remove(&oldest);
        }
        let round = Arc::new(round);
        entries.insert((signer.to_string(), id), (*next, round.clone()));
        *next += 1;
        round
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Commits `signer`'s round `id` to the final hidden state of `prompt`, with a fresh salt. A
/// retry of a kept round with the same prompt gets the same commitment; another prompt is refused.
pub fn commit_round(engine: &Engine, rounds: &Rounds, signer: &str, id: u64, prompt: &[u32]) -> Result<CommitResponse> {
    let digest = prompt_digest(prompt);
    let kept = match rounds.get(signer, id) {
        Some(kept) => kept,
        None => {
            let output = commit_reveal::output_bytes(&round_output(engine, prompt)?);
            let salt: [u8; SALT_BYTES] = rand::random();
            let commitment = commit_reveal::commitment(&salt, &output);
            rounds.insert(signer, id, Round { salt, output, commitment, prompt_digest: digest })
        }
    };
    if kept.prompt_digest != digest {
        return Err(Error::RoundConflict(id));
    }
    Ok(CommitResponse { round: id, commitment: hex::encode(kept.commitment) })
}

/// The salt and output of `signer`'s round `id`: only a round it committed to and still keeps.
pub fn reveal_round(rounds: &Rounds, signer: &str, id: u64) -> Result<RevealResponse> {
    let round = rounds.get(signer, id).ok_or(Error::UnknownRound(id))?;
    Ok(RevealResponse { round: id, salt: hex::encode(round.salt), output: encode_vector(&round.output) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(n: u8) -> Round {
        let salt = [n; SALT_BYTES];
        let output = vec![n; 8];
        Round { commitment: commit_reveal::commitment(&salt, &output), salt, output, prompt_digest: [n; 32] }
    }

    #[test]
    fn each_signer_keeps_its_last_rounds_and_the_store_its_bound() {
        let rounds = Rounds::new(2, 3);
        for id in 1..=3 {
            rounds.insert("a", id, round(id as u8));
        }
        // a's round 1 went for round 3 (two per signer).
        assert!(rounds.get("a", 1).is_none());
        assert_eq!(rounds.get("a", 3).map(|r| r.salt), Some([3; SALT_BYTES]));
        assert!(rounds.get("b", 3).is_none(), "b cannot see a's round");
        // Three in all: b's second round forgets the oldest of all (a's round 2).
        rounds.insert("b", 3, round(9));
        rounds.insert("b", 4, round(10));
        assert_eq!(rounds.len(), 3);
        assert!(rounds.get("a", 2).is_none() && rounds.get("a", 3).is_some());
        assert_eq!(rounds.get("b", 3).map(|r| r.salt), Some([9; SALT_BYTES]), "same id, other signer");
        // A second insertion of a kept round (two commits at once) keeps and returns the first.
        assert_eq!(rounds.insert("b", 3, round(11)).salt, [9; SALT_BYTES]);
        assert_eq!(rounds.len(), 3);
    }

    #[test]
    fn an_unknown_round_is_not_revealed() {
        let rounds = Rounds::new(4, 4);
        rounds.insert("a", 7, round(7));
        let revealed = reveal_round(&rounds, "a", 7).expect("kept");
        assert_eq!((revealed.round, revealed.salt), (7, hex::encode([7u8; 32])));
        assert_eq!(revealed.output, encode_vector(&[7; 8]));
        assert!(matches!(reveal_round(&rounds, "a", 8), Err(Error::UnknownRound(8))));
        assert!(matches!(reveal_round(&rounds, "b", 7), Err(Error::UnknownRound(7))));
    }
}
