//! Contacts as operators may act on them: blocking and unblocking, each audited in the same
//! transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::audit::{self, AuditEntry};
use super::schema::{contacts, conversations};
use crate::ids::{ContactId, ConversationId, OperatorId};

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub reason: String,
    pub until: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

impl Block {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| u > now)
    }
}

/// Whether a block set at `at` until `until` holds at `now`.
pub fn blocked(
    at: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    at.is_some() && until.is_none_or(|u| u > now)
}

pub async fn block_of(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<Option<Block>> {
    type Row = (Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>);
    let row: Option<Row> = contacts::table
        .find(contact)
        .select((
            contacts::blocked_at,
            contacts::blocked_until,
            contacts::block_reason,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.and_then(|(at, until, reason)| {
        at.map(|at| Block {
            reason: reason.unwrap_or_default(),
            until,
            at,
        })
    }))
}

/// Blocks a contact; false when there is no such contact.
pub async fn set_block(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    block: &Block,
    by: OperatorId,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let n = diesel::update(contacts::table.find(contact))
            .set((
                contacts::blocked_at.eq(block.at),
                contacts::blocked_until.eq(block.until),
                contacts::block_reason.eq(&block.reason),
                contacts::blocked_by.eq(by),
            ))
            .execute(conn)
            .await?;
        if n == 0 {
            return Ok(false);
        }
        let details = serde_json::json!({"reason": block.reason, "until": block.until});
        audit::record(
            conn,
            &[AuditEntry::new(
                Some(by),
                "contact.block",
                "contact",
                contact,
                details,
            )],
        )
        .await?;
        Ok(true)
    })
    .await
}

/// Lifts a block; false when there is no such contact.
pub async fn clear_block(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    by: OperatorId,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let was: Option<Option<DateTime<Utc>>> = contacts::table
            .find(contact)
            .select(contacts::blocked_at)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(was) = was else {
            return Ok(false);
        };
        if was.is_some() {
            diesel::update(contacts::table.find(contact))
                .set((
                    contacts::blocked_at.eq(None::<DateTime<Utc>>),
                    contacts::blocked_until.eq(None::<DateTime<Utc>>),
                    contacts::block_reason.eq(None::<String>),
                    contacts::blocked_by.eq(None::<OperatorId>),
                ))
                .execute(conn)
                .await?;
            audit::record(
                conn,
                &[AuditEntry::new(
                    Some(by),
                    "contact.unblock",
                    "contact",
                    contact,
                    serde_json::json!({}),
                )],
            )
            .await?;
        }
        Ok(true)
    })
    .await
}

pub async fn conversation_ids(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<Vec<ConversationId>> {
    conversations::table
        .filter(conversations::contact_id.eq(contact))
        .select(conversations::id)
        .load(conn)
        .await
}
