//! The miner's signed evidence and its openings, checked: the `assay` extension must be signed
//! by the miner for this validator, and every opened point must verify against the committed
//! Merkle root.

use assay_protocol::commitment::{self, Hash};
use assay_protocol::epistula::Signed;
use assay_protocol::wire::{OpenResponse, ResponseExtension, decode_vector};
use serde_json::Value;

/// The `assay` extension of a final body or chunk, if any, after checking that the miner signed
/// it for this validator. `Err` says why it was refused.
pub fn check_evidence(last: &Value, miner: &str, validator: &str) -> Result<Option<ResponseExtension>, String> {
    let Some(ext) = last.get("assay").filter(|v| !v.is_null()) else { return Ok(None) };
    let ext: ResponseExtension =
        serde_json::from_value(ext.clone()).map_err(|e| format!("malformed assay extension: {e}"))?;
    let headers = last["assay_signature"].as_object().ok_or("the evidence is not signed")?;
    let signed = Signed::from_headers(|n| headers.get(n).and_then(|v| v.as_str()).map(str::to_string))
        .map_err(|e| e.to_string())?;
    if signed.signed_by != miner {
        return Err(format!("evidence signed by {}, not by the miner {miner}", signed.signed_by));
    }
    if signed.signed_for.as_deref() != Some(validator) {
        return Err("evidence is not signed for this validator".into());
    }
    let bytes = serde_json::to_vec(&ext).map_err(|e| e.to_string())?;
    signed.verify_signature(&bytes).map_err(|e| e.to_string())?;
    Ok(Some(ext))
}

/// Why an opening was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpeningError {
    #[error("the request was not committed")]
    NotCommitted,
    #[error("point ({0}, {1}) was asked for but not opened")]
    Missing(u32, u32),
    #[error("point ({0}, {1}) has a malformed vector")]
    Malformed(u32, u32),
    #[error("point ({0}, {1}) does not verify against the commitment")]
    BadPath(u32, u32),
}

/// Checks every asked point of an opening against the committed root; returns the vectors.
pub fn verify_opening(
    ext: &ResponseExtension,
    asked: &[[u32; 2]],
    opened: &OpenResponse,
    hidden_size: usize,
) -> Result<Vec<Vec<f32>>, OpeningError> {
    let root_hex = ext.commitment.as_deref().ok_or(OpeningError::NotCommitted)?;
    let mut root: Hash = [0; 32];
    hex::decode_to_slice(root_hex, &mut root).map_err(|_| OpeningError::NotCommitted)?;
    let positions = (ext.prompt_token_ids.len() + ext.completion_token_ids.len()) as u32;
    let mut out = Vec::with_capacity(asked.len());
    for &[layer, position] in asked {
        let point = opened
            .points
            .iter()
            .find(|p| p.layer == layer && p.position == position)
            .ok_or(OpeningError::Missing(layer, position))?;
        let bytes = decode_vector(&point.vector).ok_or(OpeningError::Malformed(layer, position))?;
        let values = ext
            .dtype
            .decode(&bytes)
            .filter(|v| v.len() == hidden_size)
            .ok_or(OpeningError::Malformed(layer, position))?;
        let mut path = Vec::with_capacity(point.path.len());
        for step in &point.path {
            let mut h: Hash = [0; 32];
            hex::decode_to_slice(step, &mut h).map_err(|_| OpeningError::BadPath(layer, position))?;
            path.push(h);
        }
        let leaf = commitment::leaf(&opened.request_id, layer, position, &bytes);
        let index = commitment::leaf_index(layer, position, positions);
        if opened.request_id != ext.request_id || !commitment::verify(&root, leaf, index, ext.leaf_count, &path) {
            return Err(OpeningError::BadPath(layer, position));
        }
        out.push(values);
    }
    Ok(out)
}
