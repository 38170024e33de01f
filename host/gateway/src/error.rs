//! What the gateway answers users when it cannot serve them: OpenAI-style error JSON,
//! `{"error": {"message", "type", "param", "code"}}`, with the status the `openai` clients map
//! to their error types.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400: malformed, or asks for something the gateway does not support.
    BadRequest { message: String, param: Option<&'static str> },
    /// 401: no key, or an unknown one.
    Unauthorized(String),
    /// 404: a model or a route the gateway does not serve.
    NotFound { message: String, code: &'static str },
    /// 408: the request body did not arrive within the time limit.
    BodyTimeout,
    /// 413: the body is over the limit.
    TooLarge(usize),
    /// 429: the key's rate limit.
    RateLimited,
    /// 503: no miner can serve now; the message says why.
    NoMiner(String),
    /// 503 with `Retry-After`: the gateway is at one of its limits; `what` says which.
    Overloaded { what: String, retry_after_s: u64 },
    /// 503: the publication cannot be read now (the store, or an object it holds); the details
    /// are logged, not sent.
    Unavailable(String),
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
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NoMiner(_) | ApiError::Overloaded { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::Overloaded { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        };
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
            ApiError::BodyTimeout => (
                "invalid_request_error",
                "the request body did not arrive in time".into(),
                None,
                Some("request_timeout"),
            ),
            ApiError::NoMiner(why) => {
                ("server_error", format!("no miner can serve this request now: {why}"), None, None)
            }
            ApiError::Unavailable(what) => ("server_error", what, None, Some("publication_unavailable")),
            ApiError::Overloaded { what, .. } => {
                ("server_error", format!("the gateway is overloaded ({what}); retry later"), None, Some("overloaded"))
            }
        };
        let body = serde_json::json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
