//! One-time sign-in codes sent by the bot: the code is stored as a keyed hash, one live code
//! per operator (a new one voids the old), five minutes, single use; wrong codes are counted
//! per operator and per client address, and five in 15 minutes lock code sign-in for either.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{operator_login_codes as codes, operator_login_failures as failures};
use crate::ids::OperatorId;

pub const CODE_DIGITS: usize = 6;
pub const CODE_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
pub const LOCK_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
pub const LOCK_AFTER: i64 = 5;
/// Keyed-hash space of sign-in codes.
pub const SPACE: &str = "operator-login-code";

/// A fresh code of six digits.
pub fn new_code() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random_range(0..1_000_000);
    format!("{n:06}")
}

/// Stores `code_hash` as the operator's one live code, voiding any earlier one.
pub async fn store_code(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(codes::table)
        .values((
            codes::operator_id.eq(operator),
            codes::code_hash.eq(code_hash),
            codes::expires_at.eq(now + CODE_TTL),
            codes::created_at.eq(now),
        ))
        .on_conflict(codes::operator_id)
        .do_update()
        .set((
            codes::code_hash.eq(code_hash),
            codes::expires_at.eq(now + CODE_TTL),
            codes::created_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Uses up the operator's code if it is `code_hash` and still valid; true when it was.
pub async fn redeem(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let stored: Option<(Vec<u8>, DateTime<Utc>)> = codes::table
            .find(operator)
            .select((codes::code_hash, codes::expires_at))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((stored, expires_at)) = stored else {
            return Ok(false);
        };
        let matches = bool::from(subtle::ConstantTimeEq::ct_eq(stored.as_slice(), code_hash));
        if !matches || expires_at <= now {
            return Ok(false);
        }
        diesel::delete(codes::table.find(operator))
            .execute(conn)
            .await?;
        Ok(true)
    })
    .await
}

pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    operator: Option<OperatorId>,
    client: &str,
) -> QueryResult<()> {
    diesel::insert_into(failures::table)
        .values((
            failures::operator_id.eq(operator),
            failures::client.eq(client),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// When code sign-in opens again for the operator or the address, if either is locked now:
/// the oldest of the last five failures in the window, plus the window.
pub async fn locked_until(
    conn: &mut AsyncPgConnection,
    operator: Option<OperatorId>,
    client: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let since = now - LOCK_WINDOW;
    let by_client: Vec<DateTime<Utc>> = failures::table
        .filter(failures::client.eq(client))
        .filter(failures::at.gt(since))
        .order(failures::at.desc())
        .limit(LOCK_AFTER)
        .select(failures::at)
        .load(conn)
        .await?;
    let by_operator: Vec<DateTime<Utc>> = match operator {
        Some(op) => {
            failures::table
                .filter(failures::operator_id.eq(op))
                .filter(failures::at.gt(since))
                .order(failures::at.desc())
                .limit(LOCK_AFTER)
                .select(failures::at)
                .load(conn)
                .await?
        }
        None => Vec::new(),
    };
    let until = |recent: &[DateTime<Utc>]| {
        (recent.len() as i64 >= LOCK_AFTER)
            .then(|| recent.last().map(|oldest| *oldest + LOCK_WINDOW))
            .flatten()
    };
    Ok(until(&by_client).max(until(&by_operator)))
}

/// Forgets failures older than the window.
pub async fn purge(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(failures::table.filter(failures::at.lt(now - LOCK_WINDOW)))
        .execute(conn)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_have_six_digits() {
        for _ in 0..100 {
            let code = super::new_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
