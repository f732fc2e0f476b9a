//! Credentials: argon2 password hashes, opaque bearer tokens (only their SHA-256 is stored), and
//! the identity of an authenticated operator.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel_async::AsyncPgConnection;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::operators::{self, NewOperator, OperatorRow};
use crate::domain::{ConversationStatus, Role};
use crate::error::{AppError, AppResult};
use crate::ids::OperatorId;
use crate::protocol::OperatorView;

const TOKEN_BYTES: usize = 32;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A signed-in operator, as actors and handlers need them.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorIdentity {
    pub id: OperatorId,
    pub name: String,
    pub role: Role,
    pub tier: i16,
    pub max_concurrent: i32,
    pub accepting: bool,
}

impl From<&OperatorRow> for OperatorIdentity {
    fn from(row: &OperatorRow) -> Self {
        OperatorIdentity {
            id: row.id,
            name: row.name.clone(),
            role: row.role,
            tier: row.tier,
            max_concurrent: row.max_concurrent,
            accepting: row.accepting,
        }
    }
}

impl OperatorIdentity {
    /// The visibility rule, everywhere: supervisors and admins see every conversation, agents
    /// the queue (pending) and what is assigned to them.
    pub fn may_see(&self, status: ConversationStatus, assignee: Option<OperatorId>) -> bool {
        self.role.sees_all() || status == ConversationStatus::Pending || assignee == Some(self.id)
    }

    pub fn view(&self) -> OperatorView {
        OperatorView {
            id: self.id,
            name: self.name.clone(),
            role: self.role,
        }
    }
}

pub fn hash_password(password: &str) -> AppResult<String> {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| {
        tracing::error!(error = %e, "salt encoding failed");
        AppError::Internal
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::Internal
        })
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new opaque token for the client, and the hash to store.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The fields of a new operator, checked before anything is stored.
pub struct OperatorInput<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password: &'a str,
    pub tier: i16,
    pub max_concurrent: i32,
}

impl OperatorInput<'_> {
    fn validate(&self) -> AppResult<()> {
        crate::validate::text("email", self.email)?;
        crate::validate::text("name", self.name)?;
        let email = self.email.trim();
        if email.len() > 254
            || !email.contains('@')
            || email.starts_with('@')
            || email.ends_with('@')
        {
            return Err(AppError::invalid(
                "email",
                "a valid email address is required",
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 100 {
            return Err(AppError::invalid(
                "name",
                "name must be 1 to 100 characters",
            ));
        }
        if self.password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AppError::invalid(
                "password",
                format!("password must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if !(1..=3).contains(&self.tier) {
            return Err(AppError::invalid("tier", "tier must be 1, 2 or 3"));
        }
        if !(0..=100).contains(&self.max_concurrent) {
            return Err(AppError::invalid(
                "max_concurrent",
                "max_concurrent must be 0 to 100",
            ));
        }
        Ok(())
    }
}

/// Creates an operator (used by `switchboard operator add` and the admin API).
pub async fn create_operator(
    conn: &mut AsyncPgConnection,
    input: &OperatorInput<'_>,
) -> AppResult<OperatorRow> {
    input.validate()?;
    if operators::find_by_email(conn, input.email.trim())
        .await?
        .is_some()
    {
        return Err(AppError::conflict(
            "email_taken",
            "an operator with this email exists",
        ));
    }
    let password = input.password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| AppError::Internal)??;
    let inserted = operators::insert(
        conn,
        &NewOperator {
            id: OperatorId::new(),
            email: input.email.trim(),
            name: input.name.trim(),
            password_hash: &password_hash,
            role: input.role,
            tier: input.tier,
            max_concurrent: input.max_concurrent,
        },
    )
    .await;
    // A deleted operator keeps their email; reusing it is the same clash.
    let row = match inserted {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            return Err(AppError::conflict(
                "email_taken",
                "an operator with this email exists",
            ))
        }
        other => other?,
    };
    // Everyone starts in the default group, so a new team routes without further set-up.
    let default = crate::db::groups::default_group(conn).await?;
    crate::db::groups::add_member(conn, default.id, row.id).await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_distinct_and_hash_stably() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), ha);
        assert_eq!(ha.len(), 32);
    }
}
