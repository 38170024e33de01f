//! The one schema of what the gateway forwards: the bodies of `POST /v1/chat/completions` and
//! `POST /v1/completions` as typed structs with explicit ranges.
//!
//! Every request a miner receives passed [`validate`] (users') or [`check`] (the validator's
//! own), so it is one that an honest miner (vLLM serving the model, or the reference miner)
//! serves and that the verifier can judge: a miner that refuses one is at fault. Unknown fields
//! are refused; options that would change what the model computes, or the prompt the template
//! renders, in ways the verifier does not reproduce are refused unless their value is a no-op;
//! OpenAI's hints to its own service are dropped. The decision for each field is in
//! `docs/requests.md`.
//!
//! [`validate`] is pure (bytes in, a typed request or a typed error out): the fuzz target calls it.

mod error;
mod fields;
mod messages;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::proxy::Route;
pub use error::RequestError;
pub use messages::{Message, Role};

pub(crate) use error::excerpt;
use error::invalid;
use fields::Fields;

/// What bounds a request, from the gateway's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits<'a> {
    /// The model served when `tasks` is empty.
    pub model: &'a str,
    /// The configured tasks: any model one of them names is served.
    pub tasks: &'a [crate::Task],
    /// The largest `max_tokens` (or `max_completion_tokens`).
    pub max_tokens: u64,
    /// The model's context in tokens (vLLM's `max_model_len`): prompt and completion together.
    pub context_tokens: u64,
}

/// Stop sequences at most, as OpenAI allows.
pub const MAX_STOPS: usize = 4;
/// Characters of one stop sequence at most.
pub const MAX_STOP_CHARS: usize = 256;
/// Top log-probs per token at most (OpenAI's chat limit, vLLM's default `max_logprobs`).
pub const MAX_TOP_LOGPROBS: u32 = 20;
/// Log-probs per token at most on `/v1/completions` (OpenAI's limit).
pub const MAX_COMPLETION_LOGPROBS: u32 = 5;
/// What a chat template adds to the messages' text, at most: a default system prompt and the
/// generation prompt, then each message's role and delimiters (Qwen2.5's adds about 20 + 3,
/// then 5 per message).
pub const TEMPLATE_TOKENS: u64 = 64;
/// What it adds per message, at most (see [`TEMPLATE_TOKENS`]).
pub const TEMPLATE_TOKENS_PER_MESSAGE: u64 = 8;
/// The completion's length when `/v1/completions` names none (OpenAI's and vLLM's default).
pub const COMPLETIONS_DEFAULT_MAX_TOKENS: u64 = 16;

/// A request the gateway forwards.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Validated {
    Chat(ChatRequest),
    Completion(CompletionRequest),
}

/// `POST /v1/chat/completions` as a miner receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    pub model: String,
    /// At least one.
    pub messages: Vec<Message>,
    /// 1..=[`Limits::max_tokens`]; takes precedence over `max_tokens`, as in vLLM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// 0..=[`MAX_TOP_LOGPROBS`]; above 0 only with `logprobs: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// `POST /v1/completions` as a miner receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompletionRequest {
    pub model: String,
    /// Text, not empty (a list of prompts or token ids is not served: the verifier renders text).
    pub prompt: String,
    /// Top log-probs per token, 0..=[`MAX_COMPLETION_LOGPROBS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// The options both routes share.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Sampling {
    /// 1..=[`Limits::max_tokens`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// 0..=2; 0 is greedy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// (0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// At least 1 (the user's -1 and 0, "no limit", parse as absent and are never sent: vLLM up
    /// to 0.8.5 answers 0 with a 400, which would be charged to the miner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// 0..=2^63-1: what both vLLM (a signed 64-bit integer) and the reference miner take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Only with `stream: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// vLLM's extension, which the verifier knows: generate through end-of-sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_eos: Option<bool>,
}

/// Up to [`MAX_STOPS`] non-empty sequences of at most [`MAX_STOP_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

impl Validated {
    pub fn route(&self) -> Route {
        match self {
            Validated::Chat(_) => Route::Chat,
            Validated::Completion(_) => Route::Completions,
        }
    }

    pub fn sampling(&self) -> &Sampling {
        match self {
            Validated::Chat(c) => &c.sampling,
            Validated::Completion(c) => &c.sampling,
        }
    }

    /// The body a miner receives (`forward` adds the `assay` extension).
    pub fn into_body(self) -> Map<String, Value> {
        // Cannot fail: every field is a string, a number, a boolean or a list or struct of them.
        match serde_json::to_value(self) {
            Ok(Value::Object(body)) => body,
            _ => Map::new(),
        }
    }
}

/// Names every sampling parameter in a body the schema wrote, as the protocol's sampler reads
/// them (docs/sampling.md, decision 0010): what the user left out gets OpenAI's default
/// (temperature 1, `top_p` 1), and a body without a `seed` gets `drawn` (below 2^63, as the
/// schema admits). `top_k` is sent only when it is a limit (at least 1): every vLLM takes an
/// absent `top_k` as "no limit", where versions up to 0.8.5 refuse 0 with a 400 that would be
/// charged to the miner; the verifier reads an absent `top_k` as 0 (off). A miner then samples
/// with exactly the values it receives and the verifier replays those same values from the
/// stored body; the user's own values, `seed` included, are kept as they are. Pure: the caller
/// draws the seed.
pub fn explicit_sampling(body: &mut Map<String, Value>, drawn: u64) {
    body.entry("temperature").or_insert(Value::from(1.0));
    body.entry("top_p").or_insert(Value::from(1.0));
    body.entry("seed").or_insert(Value::from(drawn & (u64::MAX >> 1)));
}

/// A user's body, as sent to `route`.
pub fn validate(route: Route, body: &[u8], limits: &Limits<'_>) -> Result<Validated, RequestError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => check(route, map, limits),
        Ok(_) => Err(RequestError::Malformed("the body must be a JSON object".into())),
        Err(e) => Err(RequestError::Malformed(format!("the body is not valid JSON: {e}"))),
    }
}

/// A body already parsed (the validator's own requests are built as maps).
pub fn check(route: Route, body: Map<String, Value>, limits: &Limits<'_>) -> Result<Validated, RequestError> {
    let mut fields = Fields::new(body);
    let model = model(&mut fields, limits)?;
    let validated = match route {
        Route::Chat => Validated::Chat(chat(&mut fields, model, limits)?),
        Route::Completions => Validated::Completion(completion(&mut fields, model, limits)?),
    };
    fields.drop_no_ops_and_hints(route)?;
    fields.finish()?;
    fits(&validated, limits)?;
    Ok(bounded(validated, limits))
}

/// Names the completion's bound in every forwarded body: a chat without one would let a miner
/// generate (and sign) up to the whole context, past the gateway's `max_tokens`; the
/// verifier's evidence bound reads it from the body sent. The bound is the gateway's limit,
/// within what the context leaves after the prompt (as `fits` estimates it); `/v1/completions`
/// gets its documented default of 16.
fn bounded(mut request: Validated, limits: &Limits<'_>) -> Validated {
    match &mut request {
        Validated::Chat(c) if c.max_completion_tokens.is_none() && c.sampling.max_tokens.is_none() => {
            let template = TEMPLATE_TOKENS + TEMPLATE_TOKENS_PER_MESSAGE * c.messages.len() as u64;
            let prompt = messages::text_bytes(&c.messages).saturating_add(template);
            c.sampling.max_tokens = Some(limits.max_tokens.min(limits.context_tokens.saturating_sub(prompt)).max(1));
        }
        Validated::Completion(c) if c.sampling.max_tokens.is_none() => {
            c.sampling.max_tokens = Some(COMPLETIONS_DEFAULT_MAX_TOKENS.min(limits.max_tokens));
        }
        _ => {}
    }
    request
}

fn model(fields: &mut Fields, limits: &Limits<'_>) -> Result<String, RequestError> {
    let model = match fields.take_value("model") {
        None => return Err(invalid("model", "you must provide a model parameter")),
        Some(Value::String(m)) => m,
        Some(_) => return Err(invalid("model", "`model` must be a string")),
    };
    let served =
        if limits.tasks.is_empty() { model == limits.model } else { limits.tasks.iter().any(|t| t.model == model) };
    if !served {
        let names: std::collections::BTreeSet<&str> = limits.tasks.iter().map(|t| t.model.as_str()).collect();
        let served = if names.is_empty() {
            limits.model.to_string()
        } else {
            names.into_iter().collect::<Vec<_>>().join("`, `")
        };
        return Err(RequestError::UnknownModel { asked: excerpt(&model), served });
    }
    Ok(model)
}

fn chat(fields: &mut Fields, model: String, limits: &Limits<'_>) -> Result<ChatRequest, RequestError> {
    let messages = messages::messages(fields.take_value("messages"))?;
    let max_completion_tokens = max_tokens(fields, "max_completion_tokens", limits)?;
    let logprobs = fields.take::<bool>("logprobs", "a boolean")?;
    let top_logprobs =
        fields.take_where::<u32>("top_logprobs", &format!("an integer from 0 to {MAX_TOP_LOGPROBS}"), |n| {
            *n <= MAX_TOP_LOGPROBS
        })?;
    if top_logprobs.is_some_and(|n| n > 0) && logprobs != Some(true) {
        return Err(invalid("top_logprobs", "`top_logprobs` needs `logprobs: true`"));
    }
    let sampling = sampling(fields, limits)?;
    Ok(ChatRequest { model, messages, max_completion_tokens, logprobs, top_logprobs, sampling })
}

fn completion(fields: &mut Fields, model: String, limits: &Limits<'_>) -> Result<CompletionRequest, RequestError> {
    let prompt = match fields.take_value("prompt") {
        Some(Value::String(p)) if !p.is_empty() => p,
        Some(Value::String(_)) => return Err(invalid("prompt", "`prompt` must not be empty")),
        _ => {
            return Err(invalid(
                "prompt",
                "`prompt` must be a string (lists of prompts and token ids are not supported)",
            ));
        }
    };
    let logprobs =
        fields.take_where::<u32>("logprobs", &format!("an integer from 0 to {MAX_COMPLETION_LOGPROBS}"), |n| {
            *n <= MAX_COMPLETION_LOGPROBS
        })?;
    let sampling = sampling(fields, limits)?;
    Ok(CompletionRequest { model, prompt, logprobs, sampling })
}

fn max_tokens(fields: &mut Fields, name: &'static str, limits: &Limits<'_>) -> Result<Option<u64>, RequestError> {
    let most = limits.max_tokens;
    fields.take_where::<u64>(name, &format!("an integer from 1 to {most}"), |n| (1..=most).contains(n))
}

fn sampling(fields: &mut Fields, limits: &Limits<'_>) -> Result<Sampling, RequestError> {
    let max_tokens = max_tokens(fields, "max_tokens", limits)?;
    let temperature = fields.take_where::<f64>("temperature", "a number from 0 to 2", |t| (0.0..=2.0).contains(t))?;
    let top_p = fields.take_where::<f64>("top_p", "a number in (0, 1]", |p| *p > 0.0 && *p <= 1.0)?;
    let top_k = fields.take_where::<i64>("top_k", "an integer: at least 1, or -1 or 0 for no limit", |k| {
        (-1..=i64::from(u32::MAX)).contains(k)
    })?;
    // "No limit" is the same as no `top_k`; vLLM versions disagree on spelling it 0 or -1.
    let top_k = top_k.and_then(|k| u32::try_from(k).ok()).filter(|k| *k > 0);
    let seed =
        fields.take_where::<u64>("seed", "an integer from 0 to 9223372036854775807", |s| i64::try_from(*s).is_ok())?;
    let stop = fields.take_where::<Stop>(
        "stop",
        &format!("a string or a list of up to {MAX_STOPS} non-empty strings of at most {MAX_STOP_CHARS} characters"),
        stop_is_valid,
    )?;
    let stream = fields.take::<bool>("stream", "a boolean")?;
    let stream_options =
        fields.take::<StreamOptions>("stream_options", "an object with an optional boolean `include_usage`")?;
    if stream_options.is_some() && stream != Some(true) {
        return Err(invalid("stream_options", "`stream_options` is only allowed with `stream: true`"));
    }
    let ignore_eos = fields.take::<bool>("ignore_eos", "a boolean")?;
    Ok(Sampling { max_tokens, temperature, top_p, top_k, seed, stop, stream, stream_options, ignore_eos })
}

fn stop_is_valid(stop: &Stop) -> bool {
    let one = |s: &String| !s.is_empty() && s.chars().count() <= MAX_STOP_CHARS;
    match stop {
        Stop::One(s) => one(s),
        Stop::Many(list) => list.len() <= MAX_STOPS && list.iter().all(one),
    }
}

/// Refuses a request whose prompt, with its `max_tokens`, may not fit the model's context (an
/// honest miner must refuse it). The gateway has no tokenizer, so it bounds the prompt's tokens
/// from above: the model's byte-level BPE makes at most one token per byte of text.
fn fits(request: &Validated, limits: &Limits<'_>) -> Result<(), RequestError> {
    let (param, prompt, completion) = match request {
        Validated::Chat(c) => {
            let template = TEMPLATE_TOKENS + TEMPLATE_TOKENS_PER_MESSAGE * c.messages.len() as u64;
            // vLLM gives an unbounded chat the rest of the context: one token must fit.
            let completion = c.max_completion_tokens.or(c.sampling.max_tokens).unwrap_or(1);
            ("messages", messages::text_bytes(&c.messages).saturating_add(template), completion)
        }
        Validated::Completion(c) => {
            ("prompt", c.prompt.len() as u64, c.sampling.max_tokens.unwrap_or(COMPLETIONS_DEFAULT_MAX_TOKENS))
        }
    };
    if prompt.saturating_add(completion) > limits.context_tokens {
        return Err(RequestError::TooLong { param, prompt, completion, context: limits.context_tokens });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
