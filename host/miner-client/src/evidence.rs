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
    let Some((ext, signed, bytes)) = read_evidence(last, miner, validator)? else { return Ok(None) };
    signed.verify_signature(&bytes).map_err(|e| e.to_string())?;
    Ok(Some(ext))
}

/// [`check_evidence`] of many answers (`(last, miner)`, all for `validator`), with their sr25519
/// signatures checked as one batch: the recorder checks a few hundred at a time. When the batch
/// fails, each signature is checked alone, so that an answer is refused only for its own
/// signature, never for another miner's.
pub fn check_evidence_batch(
    answers: &[(&Value, &str)],
    validator: &str,
) -> Vec<Result<Option<ResponseExtension>, String>> {
    let read: Vec<_> = answers.iter().map(|(last, miner)| read_evidence(last, miner, validator)).collect();
    let claims: Option<Vec<_>> = read
        .iter()
        .filter_map(|r| r.as_ref().ok().and_then(Option::as_ref))
        .map(|(_, signed, bytes)| signed.sr25519_claim(bytes).ok())
        .collect();
    let all_valid = claims.is_some_and(|claims| assay_keys::verify_sr25519_batch(&claims));
    read.into_iter()
        .map(|r| {
            let Some((ext, signed, bytes)) = r? else { return Ok(None) };
            if !all_valid {
                signed.verify_signature(&bytes).map_err(|e| e.to_string())?;
            }
            Ok(Some(ext))
        })
        .collect()
}

/// The extension, its signature's headers and the bytes they sign, after every check but the
/// signature's arithmetic.
fn read_evidence(
    last: &Value,
    miner: &str,
    validator: &str,
) -> Result<Option<(ResponseExtension, Signed, Vec<u8>)>, String> {
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
    Ok(Some((ext, signed, bytes)))
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

#[cfg(test)]
mod tests {
    use assay_keys::{Hotkey, Scheme};
    use assay_protocol::epistula;
    use assay_protocol::wire::VectorDtype;
    use serde_json::json;

    use super::*;

    /// A final body with evidence for `request_id`, signed by `miner` for `validator`.
    fn answer(miner: &Hotkey, validator: &str, request_id: &str) -> Value {
        let ext = ResponseExtension {
            request_id: request_id.into(),
            prompt_token_ids: vec![1, 2],
            completion_token_ids: vec![3],
            commitment: None,
            leaf_count: 0,
            dtype: VectorDtype::F32,
            sampler: None,
        };
        let signed = epistula::sign(miner, &serde_json::to_vec(&ext).expect("json"), Some(validator), 1);
        let headers: serde_json::Map<String, Value> =
            signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
        json!({"assay": ext, "assay_signature": headers})
    }

    /// The batch says what checking each answer alone says: a forged signature, an ed25519
    /// signer and an answer without evidence among valid ones cost those alone.
    #[test]
    fn a_batch_judges_each_answer_as_checking_it_alone_does() {
        let validator = Hotkey::generate(Scheme::Sr25519).expect("key").ss58();
        let miners: Vec<Hotkey> = (0..6).map(|_| Hotkey::generate(Scheme::Sr25519).expect("key")).collect();
        let ed = Hotkey::generate(Scheme::Ed25519).expect("key");
        let mut answers: Vec<(Value, String)> =
            miners.iter().enumerate().map(|(i, m)| (answer(m, &validator, &format!("{i:02}")), m.ss58())).collect();
        let all: Vec<(&Value, &str)> = answers.iter().map(|(a, m)| (a, m.as_str())).collect();
        let batch = check_evidence_batch(&all, &validator);
        assert!(batch.iter().all(|r| matches!(r, Ok(Some(_)))), "{batch:?}");
        assert_eq!(batch[4].as_ref().expect("ok").as_ref().expect("some").request_id, "04");

        // Answer 2's signature is another request's; answer 3 is signed with ed25519; answer 5
        // carries no evidence.
        answers[2].0["assay_signature"] = answers[1].0["assay_signature"].clone();
        answers[2].1 = answers[1].1.clone();
        answers[3] = (answer(&ed, &validator, "03"), ed.ss58());
        answers[5].0 = json!({"choices": []});
        let all: Vec<(&Value, &str)> = answers.iter().map(|(a, m)| (a, m.as_str())).collect();
        let batch = check_evidence_batch(&all, &validator);
        let alone: Vec<_> = all.iter().map(|(a, m)| check_evidence(a, m, &validator)).collect();
        assert_eq!(batch, alone);
        assert!(batch[2].is_err(), "a signature over another body is refused");
        assert!(matches!(batch[3], Ok(Some(_))), "ed25519 evidence is accepted alone and in a batch");
        assert!(matches!(batch[5], Ok(None)));
        assert!([0, 1, 4].iter().all(|&i| matches!(batch[i], Ok(Some(_)))), "the others are not charged");
        assert!(check_evidence_batch(&[], &validator).is_empty());
    }
}
