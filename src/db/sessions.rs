//! Queries over the two token tables: operator sessions and widget (visitor) sessions. Only
//! SHA-256 hashes of tokens are stored or looked up.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::operators::OperatorRow;
use super::schema::{operator_sessions, operators, widget_sessions};
use crate::ids::{ContactId, ConversationId, OperatorId};

#[derive(Debug, Insertable)]
#[diesel(table_name = operator_sessions)]
pub struct NewOperatorSession<'a> {
    pub id: Uuid,
    pub operator_id: OperatorId,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_operator_session(
    conn: &mut AsyncPgConnection,
    new: &NewOperatorSession<'_>,
) -> QueryResult<()> {
    diesel::insert_into(operator_sessions::table)
        .values(new)
        .execute(conn)
        .await
        .map(drop)
}

/// The operator holding an unexpired, unrevoked token, if the operator is not deleted.
pub async fn operator_by_token(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<OperatorRow>> {
    Ok(operator_session_by_token(conn, token_hash, now)
        .await?
        .map(|(row, _)| row))
}

/// As `operator_by_token`, with the token's expiry (a socket closes when its token ends).
pub async fn operator_session_by_token(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<(OperatorRow, DateTime<Utc>)>> {
    operator_sessions::table
        .inner_join(operators::table)
        .filter(operator_sessions::token_hash.eq(token_hash))
        .filter(operator_sessions::expires_at.gt(now))
        .filter(operator_sessions::revoked_at.is_null())
        .filter(operators::deleted_at.is_null())
        .select((OperatorRow::as_select(), operator_sessions::expires_at))
        .first(conn)
        .await
        .optional()
}

pub async fn revoke_operator_session(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(operator_sessions::table)
        .filter(operator_sessions::token_hash.eq(token_hash))
        .filter(operator_sessions::revoked_at.is_null())
        .set(operator_sessions::revoked_at.eq(now))
        .execute(conn)
        .await
}

#[derive(Debug, Insertable)]
#[diesel(table_name = widget_sessions)]
pub struct NewWidgetSession<'a> {
    pub id: Uuid,
    pub contact_id: ContactId,
    pub conversation_id: ConversationId,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_widget_session(
    conn: &mut AsyncPgConnection,
    new: &NewWidgetSession<'_>,
) -> QueryResult<()> {
    diesel::insert_into(widget_sessions::table)
        .values(new)
        .execute(conn)
        .await
        .map(drop)
}

/// The conversation and contact an unexpired widget token is bound to.
pub async fn widget_by_token(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<(ConversationId, ContactId)>> {
    widget_sessions::table
        .filter(widget_sessions::token_hash.eq(token_hash))
        .filter(widget_sessions::expires_at.gt(now))
        .select((
            widget_sessions::conversation_id,
            widget_sessions::contact_id,
        ))
        .first(conn)
        .await
        .optional()
}

/// Revokes every live session of an operator, except `keep` (the caller's own), if given.
pub async fn revoke_all(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
    keep: Option<&[u8]>,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let query = operator_sessions::table
        .filter(operator_sessions::operator_id.eq(operator))
        .filter(operator_sessions::revoked_at.is_null())
        .into_boxed();
    let query = match keep {
        Some(hash) => query.filter(operator_sessions::token_hash.ne(hash.to_vec())),
        None => query,
    };
    let ids: Vec<Uuid> = query.select(operator_sessions::id).load(conn).await?;
    diesel::update(operator_sessions::table.filter(operator_sessions::id.eq_any(ids)))
        .set(operator_sessions::revoked_at.eq(now))
        .execute(conn)
        .await
}
