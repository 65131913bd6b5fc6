//! Errors of the JSON side and how they become responses, plus the `Retry-After` every receiving
//! endpoint adds to a rate-limited answer, in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is wrong; the message says how, and is safe to show.
    #[error("{0}")]
    BadRequest(String),
    /// No valid token for this resource.
    #[error("a valid token is required (Authorization: Bearer TOKEN)")]
    Unauthorized,
    /// The token is valid but does not cover this site.
    #[error("this token does not cover that site")]
    Forbidden,
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Our failure; the detail was logged, the client gets a generic message.
    #[error("internal error")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if matches!(self, Self::Unauthorized) {
            // Lets a browser ask for the token (as the password) on the owner's page.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"linkback\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::error!(error = %error, "storage failed while answering a request");
        Self::Internal
    }
}

/// Adds `Retry-After` (seconds) to the answer of a rate-limited announcement.
pub(crate) fn with_retry_after(
    mut response: Response,
    rejection: &crate::protocol::Rejection,
) -> Response {
    if let crate::protocol::Rejection::RateLimited { retry_after_secs } = rejection {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(*retry_after_secs),
        );
    }
    response
}
