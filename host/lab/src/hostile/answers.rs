//! What a hostile miner claims when it answers at all: a plausible completion (text, token ids,
//! a commitment to hidden states it never computed) with evidence signed by its own hotkey, as a
//! whole body or as SSE events. Each attack bends one piece of it.

use std::sync::Arc;

use assay_keys::Hotkey;
use assay_protocol::epistula;
use assay_protocol::wire::{RequestExtension, ResponseExtension, VectorDtype};
use assay_reference_engine::ChatTokenizer;
use serde_json::{Value, json};

/// The text a hostile miner claims to have generated (cut to what was asked).
const CLAIMED: &str = "The quick brown fox jumps over the lazy dog, and then it rests in the shade of an old oak. ";

/// What the validator asked, as far as a hostile miner cares.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    pub chat: bool,
    pub streaming: bool,
    pub max_tokens: usize,
    pub prompt_ids: Vec<u32>,
    pub extension: Option<RequestExtension>,
}

/// A claimed completion: the text shown and the token ids signed (equal unless an attack
/// unties them).
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub text: String,
    pub completion_ids: Vec<u32>,
}

/// Builds claims and signs them as the hostile miner.
pub(crate) struct Forger {
    pub hotkey: Hotkey,
    pub model: String,
    /// Hidden states per position (layers + 1), for a plausible leaf count.
    pub states: u64,
    /// The model's tokenizer, so that prompt and completion ids look like the real ones;
    /// without it every byte is a token.
    pub tokenizer: Option<Arc<ChatTokenizer>>,
}

impl Forger {
    /// Reads the request a validator sent; `None` when it is not JSON.
    pub fn asked(&self, body: &[u8], chat: bool) -> Option<Asked> {
        let request: Value = serde_json::from_slice(body).ok()?;
        let max_tokens = request["max_completion_tokens"].as_u64().or(request["max_tokens"].as_u64()).unwrap_or(16);
        let prompt_ids = if chat {
            let rendered =
                self.tokenizer.as_ref().and_then(|t| t.chat_ids(&request["messages"], true, &json!({})).ok());
            rendered.unwrap_or_else(|| bytes_as_ids(request["messages"].to_string().as_bytes()))
        } else {
            self.encode(request["prompt"].as_str().unwrap_or(""))
        };
        Some(Asked {
            chat,
            streaming: request["stream"].as_bool().unwrap_or(false),
            max_tokens: usize::try_from(max_tokens).unwrap_or(usize::MAX).clamp(1, 4096),
            prompt_ids,
            extension: serde_json::from_value(request["assay"].clone()).ok(),
        })
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        match self.tokenizer.as_ref().and_then(|t| t.encode(text).ok()) {
            Some(ids) => ids,
            None => bytes_as_ids(text.as_bytes()),
        }
    }

    fn decode(&self, ids: &[u32]) -> String {
        match self.tokenizer.as_ref().and_then(|t| t.decode(ids, true).ok()) {
            Some(text) => text,
            None => ids.iter().filter_map(|&id| u8::try_from(id).ok()).map(char::from).collect(),
        }
    }

    /// The claimed completion for `asked`, within its `max_tokens`.
    pub fn claim(&self, asked: &Asked) -> Claim {
        let mut ids = self.encode(&CLAIMED.repeat(1 + asked.max_tokens / 8));
        ids.truncate(asked.max_tokens);
        Claim { text: self.decode(&ids), completion_ids: ids }
    }

    /// The `assay` extension for `completion_ids` with a commitment to nothing it computed, and
    /// the miner's signature over it for `validator` (as the real miner signs its evidence).
    pub fn evidence(&self, asked: &Asked, completion_ids: Vec<u32>, validator: &str) -> Option<(Value, Value)> {
        let extension = asked.extension.as_ref()?;
        let positions = (asked.prompt_ids.len() + completion_ids.len()) as u64;
        let root: [u8; 32] = rand::random();
        let response = ResponseExtension {
            request_id: extension.request_id.clone(),
            prompt_token_ids: asked.prompt_ids.clone(),
            completion_token_ids: completion_ids,
            commitment: extension.commit.then(|| root.iter().map(|b| format!("{b:02x}")).collect()),
            leaf_count: if extension.commit { positions * self.states } else { 0 },
            dtype: VectorDtype::F32,
            sampler: None,
        };
        let bytes = serde_json::to_vec(&response).ok()?;
        let signed = epistula::sign(&self.hotkey, &bytes, Some(validator), crate::hostile::now_ms());
        let headers: serde_json::Map<String, Value> =
            signed.headers().into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
        Some((json!(response), Value::Object(headers)))
    }

    /// A whole (non-streamed) completion body showing `text`.
    pub fn whole(&self, asked: &Asked, text: &str, evidence: Option<(Value, Value)>) -> Value {
        let choice = if asked.chat {
            json!({"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": null, "finish_reason": "length"})
        } else {
            json!({"index": 0, "text": text, "logprobs": null, "finish_reason": "length"})
        };
        let mut body = json!({"id": "cmpl-hostile", "object": object(asked, false), "created": 0,
            "model": self.model, "choices": [choice]});
        attach(&mut body, evidence);
        body
    }

    /// One SSE event carrying `delta` (or the final event, with the evidence, when `None`).
    pub fn event(&self, asked: &Asked, delta: Option<&str>, evidence: Option<(Value, Value)>) -> String {
        let finish = if delta.is_none() { json!("length") } else { Value::Null };
        let choice = match (asked.chat, delta) {
            (true, Some(d)) => {
                json!({"index": 0, "delta": {"role": "assistant", "content": d}, "finish_reason": finish})
            }
            (true, None) => json!({"index": 0, "delta": {}, "finish_reason": finish}),
            (false, d) => json!({"index": 0, "text": d.unwrap_or(""), "finish_reason": finish}),
        };
        let mut chunk = json!({"id": "cmpl-hostile", "object": object(asked, true), "created": 0,
            "model": self.model, "choices": [choice]});
        attach(&mut chunk, evidence);
        format!("data: {chunk}\n\n")
    }

    /// The whole SSE body showing `pieces` one event each, then the evidence and `[DONE]`.
    pub fn events(&self, asked: &Asked, pieces: &[&str], evidence: Option<(Value, Value)>) -> String {
        let mut out: String = pieces.iter().map(|p| self.event(asked, Some(p), None)).collect();
        out.push_str(&self.event(asked, None, evidence));
        out.push_str("data: [DONE]\n\n");
        out
    }
}

fn object(asked: &Asked, chunk: bool) -> &'static str {
    match (asked.chat, chunk) {
        (true, true) => "chat.completion.chunk",
        (true, false) => "chat.completion",
        (false, _) => "text_completion",
    }
}

fn attach(body: &mut Value, evidence: Option<(Value, Value)>) {
    if let Some((extension, signature)) = evidence {
        body["assay"] = extension;
        body["assay_signature"] = signature;
    }
}

fn bytes_as_ids(bytes: &[u8]) -> Vec<u32> {
    bytes.iter().map(|&b| u32::from(b)).collect()
}

/// Splits `text` into pieces of about `size` characters (on character boundaries).
pub(crate) fn pieces(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size.max(1)).map(|c| c.iter().collect()).collect()
}
