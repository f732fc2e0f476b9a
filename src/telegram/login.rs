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
/// Keyed-hash space of the emails code sign-in is tried for.
pub const ACCOUNT_SPACE: &str = "operator-login-account";

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
            codes::attempts.eq(0),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// When the operator's live code was made, if there is one.
pub async fn code_made_at(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    codes::table
        .find(operator)
        .filter(codes::expires_at.gt(now))
        .select(codes::created_at)
        .first(conn)
        .await
        .optional()
}

/// Uses up the operator's code if it is `code_hash` and still valid; true when it was. A
/// wrong guess counts against the code itself, which is void after five: guesses spread
/// over many addresses at once do not get around the lock.
pub async fn redeem(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let stored: Option<(Vec<u8>, DateTime<Utc>, i32)> = codes::table
            .find(operator)
            .select((codes::code_hash, codes::expires_at, codes::attempts))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((stored, expires_at, attempts)) = stored else {
            return Ok(false);
        };
        let matches = bool::from(subtle::ConstantTimeEq::ct_eq(stored.as_slice(), code_hash));
        if !matches || expires_at <= now {
            if i64::from(attempts) + 1 >= LOCK_AFTER {
                diesel::delete(codes::table.find(operator))
                    .execute(conn)
                    .await?;
            } else {
                diesel::update(codes::table.find(operator))
                    .set(codes::attempts.eq(attempts + 1))
                    .execute(conn)
                    .await?;
            }
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
    account: &[u8],
    client: &str,
) -> QueryResult<()> {
    diesel::insert_into(failures::table)
        .values((failures::account.eq(account), failures::client.eq(client)))
        .execute(conn)
        .await
        .map(drop)
}

/// When code sign-in opens again for the account or the address, if either is locked now:
/// the oldest of the last five failures in the window, plus the window. The account is a
/// keyed hash of the email, the same whether or not an operator has it.
pub async fn locked_until(
    conn: &mut AsyncPgConnection,
    account: &[u8],
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
    let by_operator: Vec<DateTime<Utc>> = failures::table
        .filter(failures::account.eq(account))
        .filter(failures::at.gt(since))
        .order(failures::at.desc())
        .limit(LOCK_AFTER)
        .select(failures::at)
        .load(conn)
        .await?;
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
