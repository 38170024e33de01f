//! What the gateway answers users when it cannot serve them: OpenAI-style error JSON,
//! `{"error": {"message", "type", "param", "code"}}`, with the status the `openai` clients map
//! to their error types.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400: malformed, or asks for something the gateway does not support.
    BadRequest { message: String, param: Option<&'static str> },
    /// 401: no key, or an unknown one.
    Unauthorized(String),
    /// 404: a model or a route the gateway does not serve.
    NotFound { message: String, code: &'static str },
    /// 413: the body is over the limit.
    TooLarge(usize),
    /// 429: the key's rate limit.
    RateLimited,
    /// 503: no miner can serve now; the message says why.
    NoMiner(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), param: None }
    }

    pub fn bad_param(param: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into(), param: Some(param) }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NoMiner(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (kind, message, param, code) = match self {
            ApiError::BadRequest { message, param } => ("invalid_request_error", message, param, None),
            ApiError::Unauthorized(m) => ("invalid_request_error", m, None, Some("invalid_api_key")),
            ApiError::NotFound { message, code } => ("invalid_request_error", message, None, Some(code)),
            ApiError::TooLarge(limit) => (
                "invalid_request_error",
                format!("the request body is larger than {limit} bytes"),
                None,
                Some("request_too_large"),
            ),
            ApiError::RateLimited => (
                "requests",
                "rate limit reached for this API key; retry later".into(),
                None,
                Some("rate_limit_exceeded"),
            ),
            ApiError::NoMiner(why) => {
                ("server_error", format!("no miner can serve this request now: {why}"), None, None)
            }
        };
        let body = serde_json::json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
        (status, Json(body)).into_response()
    }
}
