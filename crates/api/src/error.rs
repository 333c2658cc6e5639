//! Maps engine errors onto HTTP: Docker's status codes and its error body
//! `{"message": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::{EngineError, ErrorKind};

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError(pub EngineError);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError(e)
    }
}

/// The HTTP status for an engine error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.kind);
        if status == StatusCode::NOT_MODIFIED {
            return status.into_response();
        }
        if status.is_server_error() {
            tracing::error!("{}", self.0.message);
        }
        (
            status,
            axum::Json(serde_json::json!({"message": self.0.message})),
        )
            .into_response()
    }
}

/// Result of a route handler.
pub type ApiResult<T> = Result<T, ApiError>;
