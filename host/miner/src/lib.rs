//! The reference miner's core: it serves completions from the reference engine and commits to
//! the hidden states behind each one, then opens any (layer, position) of them on request.
//!
//! Owns: computing a completion's hidden states and their Merkle commitment, keeping them for the
//! open window within a memory bound, and answering openings; and commit-reveal rounds
//! ([`rounds`]: a prompt's final hidden state committed to, then revealed). Must not touch: HTTP
//! and signatures (the server around it does that) or anything of the validator.
//!
//! This miner keeps the vectors, which suits tiny models: a request of `n` tokens on a model of
//! `L` layers and hidden size `h` keeps `(L + 1) × n × h × 4` bytes (0.8 MB for 200 tokens of a
//! 4-layer, 256-wide model). A 7B miner would recompute them with a deterministic pass instead
//! (DESIGN.md).

pub mod http;
pub mod rounds;
mod signers;
mod store;

use std::time::{Duration, Instant};

use assay_protocol::commitment::{MerkleTree, leaf, leaf_index};
use assay_protocol::wire::{OpenResponse, OpenedPoint, ResponseExtension, VectorDtype, encode_vector};
use assay_reference_engine::{Engine, HiddenSelection};

pub use rounds::{Rounds, commit_round, reveal_round};
pub use signers::{Signers, follow_metagraph};
pub use store::{Committed, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("engine: {0}")]
    Engine(#[from] assay_reference_engine::Error),
    #[error("request {0} is unknown or its open window has passed")]
    UnknownRequest(String),
    #[error("point ({layer}, {position}) is outside the request's {layers} hidden states × {positions} positions")]
    PointOutOfRange { layer: u32, position: u32, layers: u32, positions: u32 },
    #[error("request {0} is already committed")]
    Duplicate(String),
    #[error("the request has no tokens")]
    Empty,
    #[error("round {0} is already committed to another prompt")]
    RoundConflict(u64),
    #[error("round {0} was not committed to here, or is forgotten")]
    UnknownRound(u64),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Computes every hidden state of `tokens` (prompt and completion), commits to them, and keeps
/// them in `store` for `window`, as `signer`'s. Returns the response extension the miner sends back.
pub fn commit(
    engine: &Engine,
    store: &Store,
    signer: &str,
    request_id: &str,
    prompt: &[u32],
    completion: &[u32],
    window: Duration,
) -> Result<ResponseExtension> {
    let tokens: Vec<u32> = prompt.iter().chain(completion).copied().collect();
    if tokens.is_empty() {
        return Err(Error::Empty);
    }
    let c = engine.config();
    let (n, h, layers) = (tokens.len(), c.hidden_size, c.num_layers + 1);
    let hidden = engine.teacher_forced(&tokens, &HiddenSelection::All, &[])?.hidden;
    let leaves = (0..layers)
        .flat_map(|layer| (0..n).map(move |position| (layer, position)))
        .map(|(layer, position)| {
            let at = (layer * n + position) * h;
            let bytes: Vec<u8> = hidden[at..at + h].iter().flat_map(|v| v.to_le_bytes()).collect();
            leaf(request_id, layer as u32, position as u32, &bytes)
        })
        .collect();
    let tree = MerkleTree::new(leaves).ok_or(Error::Empty)?;
    let extension = ResponseExtension {
        request_id: request_id.to_string(),
        prompt_token_ids: prompt.to_vec(),
        completion_token_ids: completion.to_vec(),
        commitment: Some(hex::encode(tree.root())),
        leaf_count: tree.leaf_count(),
        dtype: VectorDtype::F32,
        // Signed only when the request asks (`RequestExtension::signed_sampler`): the caller sets it.
        sampler: None,
    };
    let committed = Committed {
        tree,
        hidden,
        layers: layers as u32,
        positions: n as u32,
        hidden_size: h,
        // A window past what the clock holds keeps the commitment until the memory bound drops it.
        expires: Instant::now()
            .checked_add(window)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365)),
    };
    store.insert(signer, request_id, committed)?;
    Ok(extension)
}

/// The vectors and Merkle paths of `points` of `signer`'s committed request. Only copying
/// happens under the store's lock; the encoding after it.
pub fn open(store: &Store, signer: &str, request_id: &str, points: &[[u32; 2]]) -> Result<OpenResponse> {
    let raw = store.with(signer, request_id, |c| {
        let mut raw = Vec::with_capacity(points.len());
        for &[layer, position] in points {
            if layer >= c.layers || position >= c.positions {
                return Err(Error::PointOutOfRange { layer, position, layers: c.layers, positions: c.positions });
            }
            let index = leaf_index(layer, position, c.positions);
            let at = index as usize * c.hidden_size;
            let path = c.tree.path(index).unwrap_or_default();
            raw.push((layer, position, c.hidden[at..at + c.hidden_size].to_vec(), path));
        }
        Ok(raw)
    })?;
    let points = raw
        .into_iter()
        .map(|(layer, position, values, path)| {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let path = path.iter().map(hex::encode).collect();
            OpenedPoint { layer, position, vector: encode_vector(&bytes), path }
        })
        .collect();
    Ok(OpenResponse { request_id: request_id.to_string(), points })
}

#[cfg(test)]
mod tests;
