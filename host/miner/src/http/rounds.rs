//! `POST /assay/v1/consensus/commit` and `POST /assay/v1/consensus/reveal` (decision 0009): a
//! round's commitment and its reveal, each signed by the miner's hotkey for the validator.
//!
//! Owns: checking a round's request (model, prompt bounds, token ids) and signing the answer.
//! Must not touch: the output's computation or the round store (`crate::rounds` does those).

use assay_protocol::epistula;
use assay_protocol::wire::{CommitRequest, RevealRequest};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::{ApiError, Inner, MinerState, authenticate, now_ms, parse};

pub async fn commit(State(state): State<MinerState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let validator = authenticate(&state, &headers, &body)?;
    let request: CommitRequest = parse(&body)?;
    let inner = state.inner.clone();
    if request.model != inner.settings.model_name {
        return Err(ApiError::NotFound(format!(
            "model {:?} is not served here ({:?} is)",
            request.model, inner.settings.model_name
        )));
    }
    check_prompt(&inner, &request.prompt_token_ids)?;
    let slot = inner.slots.clone().try_acquire_owned().map_err(|_| ApiError::AtCapacity)?;
    let signer_slot = inner.signer_slots.try_acquire(&validator).ok_or(ApiError::AtCapacity)?;
    let worker = inner.clone();
    let signer = validator.clone();
    let committed = tokio::task::spawn_blocking(move || {
        let _slots = (slot, signer_slot);
        crate::commit_round(&worker.engine, &worker.rounds, &signer, request.round, &request.prompt_token_ids)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    match committed {
        Ok(answer) => signed(&inner, &answer, &validator),
        Err(e @ crate::Error::RoundConflict(_)) => Err(ApiError::Conflict(e.to_string())),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

pub async fn reveal(State(state): State<MinerState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let validator = authenticate(&state, &headers, &body)?;
    let request: RevealRequest = parse(&body)?;
    match crate::reveal_round(&state.inner.rounds, &validator, request.round) {
        Ok(answer) => signed(&state.inner, &answer, &validator),
        Err(e @ crate::Error::UnknownRound(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

/// A round's prompt is refused before any work when it is empty, longer than the miner takes,
/// or names a token the model does not have (the engine would refuse it later, as a 500).
fn check_prompt(inner: &Inner, prompt: &[u32]) -> Result<(), ApiError> {
    let max = inner.settings.max_round_prompt_tokens;
    if prompt.is_empty() || prompt.len() > max {
        return Err(ApiError::BadRequest(format!("the prompt has {} tokens (1 to {max})", prompt.len())));
    }
    let vocab = inner.engine.config().vocab_size;
    if let Some(id) = prompt.iter().find(|&&id| id as usize >= vocab) {
        return Err(ApiError::BadRequest(format!("token {id} is outside the model's {vocab} tokens")));
    }
    Ok(())
}

/// `{"assay": answer, "assay_signature": headers}`: the answer's JSON signed by the miner's
/// hotkey for `validator`, as a completion's evidence is.
fn signed<T: Serialize>(inner: &Inner, answer: &T, validator: &str) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(answer).map_err(|e| ApiError::Internal(e.to_string()))?;
    let signature = epistula::sign(&inner.hotkey, &bytes, Some(validator), now_ms());
    let headers: serde_json::Map<String, Value> =
        signature.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    Ok(Json(json!({"assay": answer, "assay_signature": headers})).into_response())
}

#[cfg(test)]
mod tests;
