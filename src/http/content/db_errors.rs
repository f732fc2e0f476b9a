//! Turning the database's answers into this module's errors: a missing row is a 404 naming
//! what was missing, a unique-index clash a 409 with a code the client can act on.

use diesel::result::{DatabaseErrorKind, Error};

use crate::error::AppError;

/// `NotFound` as "`what` not found"; anything else as usual.
pub fn missing(what: &'static str) -> impl Fn(Error) -> AppError {
    move |err| match err {
        Error::NotFound => AppError::not_found(what),
        other => other.into(),
    }
}

/// A unique violation as the conflict `code`; anything else as usual.
pub fn clash(code: &'static str, message: &'static str) -> impl Fn(Error) -> AppError {
    move |err| match err {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppError::conflict(code, message)
        }
        other => other.into(),
    }
}
