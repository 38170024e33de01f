//! Errors as OpenAI-style JSON: `{"error": {"message", "type", "param", "code"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed or asks for something unsupported.
    BadRequest(String),
    /// 401: missing, stale, replayed or forged signature.
    Unauthorized(String),
    /// 404: unknown request id (or its open window has passed).
    NotFound(String),
    /// 409: a commit for a round this validator already asked with another prompt.
    Conflict(String),
    /// 408: the body did not arrive within this long.
    RequestTimeout(std::time::Duration),
    /// 413: the body is larger than this many bytes.
    TooLarge(usize),
    /// 429: at capacity.
    AtCapacity,
    /// 429: too busy for another reason (the replay window is full).
    Busy(String),
    /// 500: logged; the client sees a generic message.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "invalid_request_error", m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "authentication_error", m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "invalid_request_error", m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "invalid_request_error", m),
            ApiError::RequestTimeout(after) => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                format!("the request body did not arrive within {after:?}"),
            ),
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("the body is larger than {limit} bytes"),
            ),
            ApiError::AtCapacity => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "the miner is at capacity".into())
            }
            ApiError::Busy(m) => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", m),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error".into())
            }
        };
        let body = serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
        (status, Json(body)).into_response()
    }
}
