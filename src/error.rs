//! One error type for the whole server. Each variant has its own HTTP status and protocol code;
//! internal causes (SQL, driver text) are logged, never sent to a client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub type AppResult<T> = Result<T, AppError>;

/// The machine-readable codes of PROTOCOL.md, shared by HTTP bodies and `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    InvalidFrame,
    InvalidRequest,
    TooLong,
    RateLimited,
    ConversationClosed,
    Blocked,
    Conflict,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidFrame(String),
    /// A request that cannot be parsed at all (malformed JSON, wrong content type).
    #[error("{0}")]
    Malformed(String),
    /// A well-formed request whose content is wrong; `field` names the culprit when there is one.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    TooLong(String),
    /// An HTTP body over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("too many requests, slow down")]
    RateLimited,
    #[error("this conversation is closed")]
    ConversationClosed,
    /// A state that forbids the action (closing a closed conversation, taking a taken one).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Storage is unreachable; the client should retry (with the same client_id).
    #[error("storage is unavailable, retry later")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::InvalidRequest {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthorized(_) => ErrorCode::Unauthorized,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::InvalidFrame(_) => ErrorCode::InvalidFrame,
            AppError::InvalidRequest { .. } | AppError::Malformed(_) => ErrorCode::InvalidRequest,
            AppError::TooLong(_) | AppError::PayloadTooLarge(_) => ErrorCode::TooLong,
            AppError::RateLimited => ErrorCode::RateLimited,
            AppError::ConversationClosed => ErrorCode::ConversationClosed,
            AppError::Conflict { .. } => ErrorCode::Conflict,
            AppError::Unavailable => ErrorCode::Unavailable,
            AppError::Internal => ErrorCode::Internal,
        }
    }

    /// The code as sent on the wire; conflicts carry a more specific one.
    pub fn code_str(&self) -> &'static str {
        match self {
            AppError::Conflict { code, .. } => code,
            other => match other.code() {
                ErrorCode::Unauthorized => "unauthorized",
                ErrorCode::Forbidden => "forbidden",
                ErrorCode::NotFound => "not_found",
                ErrorCode::InvalidFrame => "invalid_frame",
                ErrorCode::InvalidRequest => "invalid_request",
                ErrorCode::TooLong => "too_long",
                ErrorCode::RateLimited => "rate_limited",
                ErrorCode::ConversationClosed => "conversation_closed",
                ErrorCode::Blocked => "blocked",
                ErrorCode::Conflict => "conflict",
                ErrorCode::Unavailable => "unavailable",
                ErrorCode::Internal => "internal",
            },
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::InvalidRequest { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// The error body every endpoint answers with (for the API document; responses are built
/// from `AppError`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiError {
    pub error: ApiErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiErrorDetail {
    /// One of the protocol's error codes, e.g. `not_found`, `forbidden`, `invalid_request`.
    pub code: String,
    pub message: String,
    /// The request field at fault, for validation errors.
    pub field: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::InvalidFrame(_) | AppError::Malformed(_) => StatusCode::BAD_REQUEST,
            AppError::InvalidRequest { .. } | AppError::TooLong(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            AppError::ConversationClosed | AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, AppError::Unavailable | AppError::RateLimited) {
            response.insert_header(("Retry-After", "1"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code_str(),
                message: self.to_string(),
                field: self.field(),
            },
        })
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => AppError::not_found("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::debug!(constraint = ?info.constraint_name(), "unique violation");
                AppError::conflict("conflict", "that already exists")
            }
            other => {
                // Most failures here are a lost connection; a client may retry.
                tracing::warn!(error = %other, "database error");
                AppError::Unavailable
            }
        }
    }
}

impl From<crate::db::PoolError> for AppError {
    fn from(err: crate::db::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool error");
        AppError::Unavailable
    }
}

impl From<actix::MailboxError> for AppError {
    fn from(err: actix::MailboxError) -> Self {
        tracing::warn!(error = %err, "actor mailbox error");
        AppError::Unavailable
    }
}
