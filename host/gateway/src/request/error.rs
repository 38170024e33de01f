//! Why a request was refused, typed so that the caller can tell the causes apart, and its
//! OpenAI-style answer: a 404 for a model not served here, a 400 naming the parameter for the rest.

use crate::error::ApiError;

/// A request the gateway refuses before any miner sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// The body is not JSON, or not a JSON object.
    #[error("{0}")]
    Malformed(String),
    /// A field the API does not have on this route (OpenAI names no parameter for these).
    #[error("unrecognized request argument supplied: {0}")]
    Unrecognized(String),
    /// A field missing, of the wrong type, or outside its range.
    #[error("{message}")]
    Invalid { param: &'static str, message: String },
    /// An option refused on purpose: it would change what an honest miner computes in a way the
    /// verifier does not reproduce, or what it is asked to serve (docs/requests.md).
    #[error("{what} is not supported by this gateway: {why}")]
    Unsupported { param: &'static str, what: String, why: &'static str },
    #[error("the model `{asked}` does not exist here; this gateway serves `{served}`")]
    UnknownModel { asked: String, served: String },
    /// The prompt with its `max_tokens` may not fit the model's context, which an honest miner
    /// must then refuse.
    #[error(
        "the request may not fit the model's context of {context} tokens: the {param} may take up to \
         {prompt} tokens (text counts as one token per byte, with the chat template's share) and \
         the completion up to {completion}; shorten the {param} or lower `max_tokens`"
    )]
    TooLong { param: &'static str, prompt: u64, completion: u64, context: u64 },
}

impl RequestError {
    /// The parameter the error is about, as OpenAI's `error.param` names it.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            RequestError::Invalid { param, .. }
            | RequestError::Unsupported { param, .. }
            | RequestError::TooLong { param, .. } => Some(param),
            RequestError::Malformed(_) | RequestError::Unrecognized(_) | RequestError::UnknownModel { .. } => None,
        }
    }
}

/// What a user sent, quoted in an error at a bounded length.
pub(crate) fn excerpt(text: &str) -> String {
    const MOST: usize = 64;
    match text.char_indices().nth(MOST) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

pub(super) fn invalid(param: &'static str, message: impl Into<String>) -> RequestError {
    RequestError::Invalid { param, message: message.into() }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::UnknownModel { .. } => ApiError::NotFound { message: e.to_string(), code: "model_not_found" },
            e => ApiError::BadRequest { param: e.param(), message: e.to_string() },
        }
    }
}
