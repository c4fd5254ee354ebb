//! The one error type of the HTTP edge: each variant maps to a status code and a stable
//! short `code` string that clients and tests can rely on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A request the API refuses before any function runs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not the expected shape.
    #[error("{0}")]
    BadJsonBody(String),
    /// The arguments are not an object or not valid Convex JSON.
    #[error("{0}")]
    InvalidArgs(String),
    /// The function path cannot be canonicalized.
    #[error("{0}")]
    InvalidPath(String),
    /// An unknown `format`.
    #[error("{0}")]
    BadFormat(String),
    /// The body exceeds the size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No such route.
    #[error("{0}")]
    NotFound(String),
    /// A bad or unverifiable `Authorization` header.
    #[error("{0}")]
    InvalidAuthHeader(String),
    /// A wrong admin key (Convex's `BadAdminKey`).
    #[error("The provided admin key was invalid for this instance")]
    BadAdminKey,
    /// Too many wrong admin keys lately.
    #[error("Too many wrong admin keys; try again in a few seconds")]
    TooManyRequests,
    /// An operator request refused for a reason with its own code (Convex's codes, such as
    /// `ExportInProgress`).
    #[error("{message}")]
    Refused {
        /// The code.
        code: &'static str,
        /// What went wrong, for people.
        message: String,
    },
    /// The caller must present the admin key.
    #[error("{0}")]
    AdminRequired(String),
}

impl ApiError {
    /// The stable short code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadJsonBody(_) => "BadJsonBody",
            ApiError::InvalidArgs(_) => "InvalidArgs",
            ApiError::InvalidPath(_) => "InvalidPath",
            ApiError::BadFormat(_) => "BadFormat",
            ApiError::PayloadTooLarge(_) => "PayloadTooLarge",
            ApiError::NotFound(_) => "NotFound",
            ApiError::InvalidAuthHeader(_) => "InvalidAuthHeader",
            ApiError::BadAdminKey => "BadAdminKey",
            ApiError::TooManyRequests => "TooManyRequests",
            ApiError::Refused { code, .. } => code,
            ApiError::AdminRequired(_) => "Unauthenticated",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidAuthHeader(_) | ApiError::BadAdminKey | ApiError::AdminRequired(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
