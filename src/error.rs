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
    /// Over a limit; a retry can succeed after the wait (sent as `Retry-After`, in whole
    /// seconds, at least 1).
    #[error("too many requests, slow down")]
    RateLimited(std::time::Duration),
    #[error("this conversation is closed")]
    ConversationClosed,
    /// The customer is blocked: nothing they send is stored.
    #[error("messages from you are not accepted at the moment")]
    Blocked,
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

    /// Over a limit with nothing better known than "soon".
    pub fn rate_limited_soon() -> Self {
        AppError::RateLimited(std::time::Duration::from_secs(1))
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
            AppError::RateLimited(_) => ErrorCode::RateLimited,
            AppError::ConversationClosed => ErrorCode::ConversationClosed,
            AppError::Blocked => ErrorCode::Blocked,
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
            AppError::Forbidden(_) | AppError::Blocked => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::InvalidFrame(_) | AppError::Malformed(_) => StatusCode::BAD_REQUEST,
            AppError::InvalidRequest { .. } | AppError::TooLong(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::ConversationClosed | AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            AppError::Unavailable => {
                response.insert_header(("Retry-After", "1"));
            }
            AppError::RateLimited(wait) => {
                response.insert_header(("Retry-After", retry_after_secs(*wait)));
            }
            _ => {}
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

/// A wait as `Retry-After`: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

/// The unique index that makes a retried send idempotent. A clash on it means the event was
/// stored by an attempt whose answer was lost: the sender should retry, and the retry is
/// answered with the original ack.
const IDEMPOTENCY_KEY: &str = "events_conversation_id_author_id_client_id_key";

/// Beginnings of PostgreSQL's messages for SQLSTATE class 22 (data exception). diesel-async
/// keeps the SQLSTATE to itself (it maps a few class-23 codes to a `DatabaseErrorKind` and
/// everything else to `Unknown`), so the message is all there is to go by; it is in English
/// unless the server's `lc_messages` says otherwise, and an unrecognised one stays
/// `unavailable`.
const DATA_EXCEPTIONS: &[&str] = &[
    "invalid byte sequence for encoding",  // 22021: NUL in text
    "unsupported Unicode escape sequence", // 22P05: \u0000 in jsonb
    "character with byte sequence",        // 22P05: no equivalent in the encoding
    "invalid input syntax for type",       // 22P02
    "invalid input value for enum",        // 22P02
    "malformed array literal",             // 22P02
    "value too long for type",             // 22001
    "out of range",                        // 22003, 22008, 2202E
    "numeric field overflow",              // 22003
    "division by zero",                    // 22012
    "incorrect binary data format",        // 22P03
    "invalid Unicode",                     // 22P05 and 22023 variants
    "null character not permitted",        // 22P05
];

fn is_data_exception(message: &str) -> bool {
    DATA_EXCEPTIONS.iter().any(|m| message.contains(m))
}

/// Whether the database refused the data itself (a retry of the same would fail the same way),
/// as opposed to failing to store anything at all (a lost connection, a shutdown, a cancelled
/// query, too many connections). The event writer splits a refused batch only in the first
/// case.
pub(crate) fn refused_data(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    match err {
        Error::DatabaseError(
            Kind::UniqueViolation
            | Kind::ForeignKeyViolation
            | Kind::RestrictViolation
            | Kind::ExclusionViolation
            | Kind::NotNullViolation
            | Kind::CheckViolation,
            _,
        )
        | Error::SerializationError(_)
        | Error::QueryBuilderError(_) => true,
        Error::DatabaseError(Kind::Unknown, info) => is_data_exception(info.message()),
        _ => false,
    }
}

/// What the database's refusal means for the client. Refusals caused by the request's data
/// (SQLSTATE classes 22 and 23) would fail the same way on every retry, so they are 4xx;
/// only trouble reaching or using the database is `unavailable`, which clients retry.
fn from_database_error(
    kind: diesel::result::DatabaseErrorKind,
    info: &(dyn diesel::result::DatabaseErrorInformation + Send + Sync),
) -> AppError {
    use diesel::result::DatabaseErrorKind as Kind;
    let refused = |what: &str| {
        tracing::info!(?kind, constraint = ?info.constraint_name(), error = info.message(), "{what}");
    };
    match kind {
        Kind::UniqueViolation if info.constraint_name() == Some(IDEMPOTENCY_KEY) => {
            tracing::info!("a retried send was already stored; the retry gets the original ack");
            AppError::Unavailable
        }
        Kind::UniqueViolation => {
            refused("unique violation");
            AppError::conflict("conflict", "that already exists")
        }
        Kind::ForeignKeyViolation | Kind::RestrictViolation | Kind::ExclusionViolation => {
            refused("integrity violation");
            AppError::conflict(
                "conflict",
                "that conflicts with the current state of another record",
            )
        }
        Kind::NotNullViolation | Kind::CheckViolation => {
            refused("constraint violation");
            AppError::InvalidRequest {
                message: "a value is missing or outside what is allowed".into(),
                field: None,
            }
        }
        Kind::Unknown if is_data_exception(info.message()) => {
            refused("data exception");
            AppError::InvalidRequest {
                message: "a value cannot be stored (for instance, text with a NUL character)"
                    .into(),
                field: None,
            }
        }
        _ => {
            // Most failures here are a lost connection; a client may retry.
            tracing::warn!(?kind, error = info.message(), "database error");
            AppError::Unavailable
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::Error;
        match err {
            Error::NotFound => AppError::not_found("record"),
            Error::DatabaseError(kind, info) => from_database_error(kind, info.as_ref()),
            // Our own values that could not be turned into SQL or back: a bug that a retry
            // would only repeat.
            Error::SerializationError(_)
            | Error::DeserializationError(_)
            | Error::QueryBuilderError(_)
            | Error::InvalidCString(_) => {
                tracing::error!(error = %err, "database value conversion failed");
                AppError::Internal
            }
            other => {
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

#[cfg(test)]
mod tests {
    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(super::retry_after_secs(Duration::ZERO), 1);
        assert_eq!(super::retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(super::retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(super::retry_after_secs(Duration::from_secs(900)), 900);
    }

    use super::*;
    use diesel::result::{DatabaseErrorKind as Kind, Error};

    fn db_error(kind: Kind, message: &str) -> AppError {
        Error::DatabaseError(kind, Box::new(message.to_owned())).into()
    }

    #[test]
    fn data_exceptions_are_client_errors_without_driver_text() {
        for message in [
            "invalid byte sequence for encoding \"UTF8\": 0x00",
            "unsupported Unicode escape sequence",
            "smallint out of range",
            "value too long for type character varying(10)",
        ] {
            let err = db_error(Kind::Unknown, message);
            assert_eq!(err.code(), ErrorCode::InvalidRequest, "{message}");
            assert!(!err.to_string().contains("UTF8"), "no driver text: {err}");
        }
    }

    #[test]
    fn integrity_violations_are_client_errors() {
        assert_eq!(
            db_error(Kind::CheckViolation, "new row violates check constraint").code(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            db_error(Kind::NotNullViolation, "null value").code(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            db_error(Kind::ForeignKeyViolation, "violates foreign key").code(),
            ErrorCode::Conflict
        );
        assert_eq!(
            db_error(Kind::UniqueViolation, "duplicate key").code(),
            ErrorCode::Conflict
        );
    }

    #[test]
    fn trouble_reaching_the_database_stays_unavailable() {
        for (kind, message) in [
            (Kind::ClosedConnection, "connection closed"),
            (
                Kind::UnableToSendCommand,
                "error communicating with the server",
            ),
            (Kind::SerializationFailure, "could not serialize access"),
            (
                Kind::Unknown,
                "terminating connection due to administrator command",
            ),
            (
                Kind::Unknown,
                "canceling statement due to statement timeout",
            ),
        ] {
            assert_eq!(
                db_error(kind, message).code(),
                ErrorCode::Unavailable,
                "{message}"
            );
        }
    }
}
