//! `POST /v1/chat/completions` and `POST /v1/completions`, streaming (SSE) or not.

use std::convert::Infallible;

use assay_protocol::epistula;
use assay_protocol::wire::{RequestExtension, ResponseExtension};
use assay_reference_engine::{FinishReason, SamplingParams, top_logprobs};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use super::{ApiError, MinerState, authenticate, now_ms, parse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Text,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Request {
    model: Option<String>,
    messages: Option<Value>,
    prompt: Option<String>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    /// f64 as parsed, never rounded: the sampler's inputs are the request's values
    /// (docs/sampling.md).
    temperature: Option<f64>,
    top_p: Option<f64>,
    /// 0, or vLLM's -1, is no limit.
    top_k: Option<i64>,
    seed: Option<u64>,
    stop: Option<Stop>,
    #[serde(default)]
    stream: bool,
    /// Chat: a boolean; completions: the number of top log-probs.
    logprobs: Option<Value>,
    top_logprobs: Option<usize>,
    /// vLLM's extension: generate through end-of-sequence tokens, up to `max_tokens`.
    #[serde(default)]
    ignore_eos: bool,
    assay: Option<RequestExtension>,
}

const DEFAULT_MAX_TOKENS: usize = 256;
const MAX_TOP_LOGPROBS: usize = 20;

/// One generated token as the client sees it.
struct TokenOut {
    id: u32,
    logprob: f32,
    top: Vec<(u32, f32)>,
}

pub async fn chat(state: State<MinerState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    complete(state, headers, body, Kind::Chat).await
}

pub async fn text(state: State<MinerState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    complete(state, headers, body, Kind::Text).await
}

async fn complete(
    State(state): State<MinerState>,
    headers: HeaderMap,
    body: Bytes,
    kind: Kind,
) -> Result<Response, ApiError> {
    // A baseline server (`unsigned`) serves everyone as one anonymous caller.
    let validator = if state.inner.settings.unsigned { String::new() } else { authenticate(&state, &headers, &body)? };
    let request: Request = parse(&body)?;
    let inner = state.inner.clone();
    if let Some(model) = &request.model
        && *model != inner.settings.model_name
    {
        return Err(ApiError::NotFound(format!(
            "model {model:?} is not served here ({:?} is)",
            inner.settings.model_name
        )));
    }
    let slot = inner.slots.clone().try_acquire_owned().map_err(|_| ApiError::AtCapacity)?;
    // A signer's share of the slots: one validator cannot take them all from the others.
    let signer_slot = inner.signer_slots.try_acquire(&validator).ok_or(ApiError::AtCapacity)?;

    let prompt_ids = match kind {
        Kind::Chat => {
            let messages =
                request.messages.as_ref().ok_or_else(|| ApiError::BadRequest("messages is required".into()))?;
            inner.tokenizer.chat_ids(messages, true, &json!({})).map_err(|e| ApiError::BadRequest(e.to_string()))?
        }
        Kind::Text => {
            let prompt = request.prompt.as_deref().ok_or_else(|| ApiError::BadRequest("prompt is required".into()))?;
            inner.tokenizer.encode(prompt).map_err(|e| ApiError::BadRequest(e.to_string()))?
        }
    };
    if prompt_ids.is_empty() {
        return Err(ApiError::BadRequest("the prompt is empty".into()));
    }
    let params = sampling_params(&request)?;
    let max_tokens = request.max_completion_tokens.or(request.max_tokens).unwrap_or(DEFAULT_MAX_TOKENS);
    let stops: Vec<String> = match request.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    let top_n = match (kind, &request.logprobs) {
        (Kind::Chat, Some(Value::Bool(true))) => Some(request.top_logprobs.unwrap_or(0).min(MAX_TOP_LOGPROBS)),
        (Kind::Text, Some(Value::Number(n))) => Some((n.as_u64().unwrap_or(0) as usize).min(MAX_TOP_LOGPROBS)),
        _ => None,
    };
    // The same set the verifier checks end-of-sequence against.
    let mut stop_ids = assay_reference_engine::stop_token_ids(inner.engine.config(), &inner.tokenizer);
    if request.ignore_eos {
        stop_ids.clear();
    }
    let id = format!("{}-{}", if kind == Kind::Chat { "chatcmpl" } else { "cmpl" }, uuid_like());
    let created = now_ms() / 1000;
    let model = inner.settings.model_name.clone();
    let extension = request.assay.clone();

    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(64);
    let streaming = request.stream;
    let (final_id, final_model) = (id.clone(), model.clone());
    let generation = tokio::task::spawn_blocking(move || {
        let _slots = (slot, signer_slot);
        let tokenizer = &inner.tokenizer;
        let mut out: Vec<TokenOut> = Vec::new();
        let mut sent_chars = 0usize;
        let mut text = String::new();
        let mut stopped_by_string = false;
        let longest_stop = stops.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        let token_delay = inner.settings.token_delay;
        let result = inner.engine.generate_with(&prompt_ids, &params, max_tokens, &stop_ids, &mut |token, logits| {
            if !token_delay.is_zero() {
                std::thread::sleep(token_delay);
            }
            let lp = assay_reference_engine::log_softmax(logits);
            let top = top_n.filter(|n| *n > 0).map(|n| top_logprobs(logits, n)).unwrap_or_default();
            out.push(TokenOut {
                id: token,
                logprob: lp.get(token as usize).copied().unwrap_or(f32::NEG_INFINITY),
                top,
            });
            if stop_ids.contains(&token) {
                return true;
            }
            let ids: Vec<u32> = out.iter().map(|t| t.id).collect();
            text = tokenizer.decode(&ids, true).unwrap_or_default();
            if let Some(at) = stops.iter().filter_map(|s| text.find(s.as_str())).min() {
                text.truncate(at);
                stopped_by_string = true;
            }
            if streaming {
                // Hold back what could still become a stop string, and half-decoded characters.
                let chars: Vec<char> = text.chars().collect();
                let mut safe = if stopped_by_string {
                    chars.len()
                } else {
                    chars.len().saturating_sub(longest_stop.saturating_sub(1))
                };
                while safe > sent_chars && chars[safe - 1] == '\u{fffd}' && !stopped_by_string {
                    safe -= 1;
                }
                if safe > sent_chars {
                    let delta: String = chars[sent_chars..safe].iter().collect();
                    sent_chars = safe;
                    if tx.blocking_send(chunk(kind, &id, created, &model, Some(&delta), None)).is_err() {
                        return false; // the client went away: stop generating
                    }
                }
            }
            !stopped_by_string
        });
        let generation = result.map_err(|e| ApiError::Internal(e.to_string()))?;
        let finish =
            if generation.finish_reason == FinishReason::Length && !stopped_by_string { "length" } else { "stop" };
        if streaming {
            let chars: Vec<char> = text.chars().collect();
            if chars.len() > sent_chars {
                let delta: String = chars[sent_chars..].iter().collect();
                let _ = tx.blocking_send(chunk(kind, &id, created, &model, Some(&delta), None));
            }
        }
        let completion_ids: Vec<u32> = generation.tokens.clone();
        let evidence = match &extension {
            Some(ext) => Some(commit_and_sign(&inner, ext, &prompt_ids, &completion_ids, &validator)?),
            None => None,
        };
        let usage = json!({"prompt_tokens": prompt_ids.len(), "completion_tokens": completion_ids.len(),
                           "total_tokens": prompt_ids.len() + completion_ids.len()});
        let logprobs = top_n.map(|_| logprobs_json(kind, tokenizer, &out));
        Ok::<_, ApiError>((text, finish, usage, logprobs, evidence, tx))
    });

    if streaming {
        tokio::spawn(async move {
            match generation.await {
                Ok(Ok((_, finish, usage, _, evidence, tx))) => {
                    let mut last = chunk(kind, &final_id, created, &final_model, None, Some(finish));
                    last["usage"] = usage;
                    if let Some((ext, signature)) = evidence {
                        last["assay"] = json!(ext);
                        last["assay_signature"] = signature;
                    }
                    let _ = tx.send(last).await;
                }
                Ok(Err(e)) => tracing::warn!(error = ?e, "streamed generation failed"),
                Err(e) => tracing::error!(error = %e, "generation task failed"),
            }
        });
        let events = tokio_stream::StreamExt::map(ReceiverStream::new(rx), |v| {
            Ok::<_, Infallible>(Event::default().data(v.to_string()))
        });
        let done = tokio_stream::once(Ok::<_, Infallible>(Event::default().data("[DONE]")));
        return Ok(Sse::new(tokio_stream::StreamExt::chain(events, done)).into_response());
    }

    let (text, finish, usage, logprobs, evidence, _tx) =
        generation.await.map_err(|e| ApiError::Internal(e.to_string()))??;
    let choice = match kind {
        Kind::Chat => {
            json!({"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": logprobs, "finish_reason": finish})
        }
        Kind::Text => json!({"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}),
    };
    let mut body = json!({
        "id": final_id,
        "object": if kind == Kind::Chat { "chat.completion" } else { "text_completion" },
        "created": created,
        "model": state.inner.settings.model_name,
        "choices": [choice],
        "usage": usage,
    });
    if let Some((ext, signature)) = evidence {
        body["assay"] = json!(ext);
        body["assay_signature"] = signature;
    }
    Ok(Json(body).into_response())
}

fn uuid_like() -> String {
    let n = now_ms();
    format!("{n:x}{:08x}", std::process::id())
}

fn chunk(kind: Kind, id: &str, created: u64, model: &str, delta: Option<&str>, finish: Option<&str>) -> Value {
    let choice = match kind {
        Kind::Chat => {
            let delta = match delta {
                Some(d) => json!({"role": "assistant", "content": d}),
                None => json!({}),
            };
            json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish})
        }
        Kind::Text => json!({"index": 0, "text": delta.unwrap_or(""), "logprobs": null, "finish_reason": finish}),
    };
    json!({
        "id": id,
        "object": if kind == Kind::Chat { "chat.completion.chunk" } else { "text_completion" },
        "created": created,
        "model": model,
        "choices": [choice],
    })
}

fn logprobs_json(kind: Kind, tokenizer: &assay_reference_engine::ChatTokenizer, out: &[TokenOut]) -> Value {
    let piece = |id: u32| tokenizer.decode(&[id], false).unwrap_or_default();
    match kind {
        Kind::Chat => json!({"content": out.iter().map(|t| {
            let p = piece(t.id);
            json!({"token": p, "logprob": t.logprob, "bytes": p.as_bytes(),
                   "top_logprobs": t.top.iter().map(|(id, lp)| {
                       let q = piece(*id);
                       json!({"token": q, "logprob": lp, "bytes": q.as_bytes()})
                   }).collect::<Vec<_>>()})
        }).collect::<Vec<_>>()}),
        Kind::Text => json!({
            "tokens": out.iter().map(|t| piece(t.id)).collect::<Vec<_>>(),
            "token_logprobs": out.iter().map(|t| t.logprob).collect::<Vec<_>>(),
            "top_logprobs": out.iter().map(|t| t.top.iter().map(|(id, lp)| (piece(*id), json!(lp))).collect::<serde_json::Map<_, _>>()).collect::<Vec<_>>(),
        }),
    }
}

/// What the request asks to be sampled with. A validator's request names every value
/// (docs/sampling.md); another client's gets OpenAI's defaults and a seed from the clock.
fn sampling_params(request: &Request) -> Result<SamplingParams, ApiError> {
    let top_k = request.top_k.unwrap_or(0);
    let params = SamplingParams {
        temperature: request.temperature.unwrap_or(1.0),
        top_k: if top_k <= 0 { 0 } else { u32::try_from(top_k).unwrap_or(u32::MAX) },
        top_p: request.top_p.unwrap_or(1.0),
        seed: request.seed.unwrap_or_else(now_ms),
    };
    params.validate().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(params)
}

/// Commits to the hidden states when asked, and signs the evidence for the validator.
fn commit_and_sign(
    inner: &super::Inner,
    ext: &RequestExtension,
    prompt: &[u32],
    completion: &[u32],
    validator: &str,
) -> Result<(ResponseExtension, Value), ApiError> {
    let mut response = if ext.commit {
        let window = inner.settings.open_window;
        crate::commit(&inner.engine, &inner.store, validator, &ext.request_id, prompt, completion, window)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
    } else {
        ResponseExtension {
            request_id: ext.request_id.clone(),
            prompt_token_ids: prompt.to_vec(),
            completion_token_ids: completion.to_vec(),
            commitment: None,
            leaf_count: 0,
            dtype: assay_protocol::wire::VectorDtype::F32,
            sampler: None,
        }
    };
    // The reference miner generates with the protocol's sampler (the engine's only one), and
    // signs so only when the validator asks: an older validator's evidence struct has no
    // `sampler`, re-serialises without it and would refuse the signature (decision 0010).
    response.sampler = ext.signed_sampler();
    let bytes = serde_json::to_vec(&response).map_err(|e| ApiError::Internal(e.to_string()))?;
    let signed = epistula::sign(&inner.hotkey, &bytes, Some(validator), now_ms());
    let headers: serde_json::Map<String, Value> =
        signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    Ok((response, Value::Object(headers)))
}
