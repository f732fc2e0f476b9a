//! Queries over `events`, the immutable per-conversation log. Events are only ever inserted by
//! the event writer on behalf of a Conversation actor; everything here except the insert form
//! is read-only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::events;
use crate::domain::{Author, EventKind};
use crate::ids::ConversationId;

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub kind: EventKind,
    pub author: Author,
    pub author_id: Option<Uuid>,
    pub author_name: String,
    pub body: String,
    pub data: Option<serde_json::Value>,
    pub client_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The conversation and seq of the message `author` sent with `client_id`, in any of their
/// conversations (the newest if several).
pub async fn find_by_client_id(
    conn: &mut AsyncPgConnection,
    author: Uuid,
    client_id: &str,
) -> QueryResult<Option<(ConversationId, i64)>> {
    use super::schema::conversations;
    // Through the contact's conversations, so the (conversation, author, client_id) key is used.
    let theirs = conversations::table
        .filter(conversations::contact_id.eq(author))
        .select(conversations::id);
    events::table
        .filter(events::conversation_id.eq_any(theirs))
        .filter(events::author_id.eq(author))
        .filter(events::client_id.eq(client_id))
        .order(events::created_at.desc())
        .select((events::conversation_id, events::seq))
        .first(conn)
        .await
        .optional()
}

/// Events with `seq` greater than `after`, oldest first.
pub async fn after(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    events::table
        .filter(events::conversation_id.eq(conversation))
        .filter(events::seq.gt(after))
        .order(events::seq.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
        .await
}

/// The `limit` events just before `before`, returned oldest first (for paging history upward).
pub async fn before(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    before: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut rows: Vec<EventRow> = events::table
        .filter(events::conversation_id.eq(conversation))
        .filter(events::seq.lt(before))
        .order(events::seq.desc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
        .await?;
    rows.reverse();
    Ok(rows)
}

/// Every (author, client_id) a conversation has stored, with the ack each got, so that a
/// Conversation actor can answer a retried send without storing it twice.
pub async fn sent_client_ids(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
) -> QueryResult<Vec<(Option<Uuid>, Option<String>, i64, DateTime<Utc>)>> {
    events::table
        .filter(events::conversation_id.eq(conversation))
        .filter(events::client_id.is_not_null())
        .select((
            events::author_id,
            events::client_id,
            events::seq,
            events::created_at,
        ))
        .load(conn)
        .await
}

/// The highest stored seq: the truth a snapshot is checked against.
/// The text of the customer's first message, if they wrote one.
pub async fn first_customer_text(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
) -> QueryResult<Option<String>> {
    events::table
        .filter(events::conversation_id.eq(conversation))
        .filter(events::author.eq(crate::domain::Author::Visitor))
        .filter(events::kind.eq(crate::domain::EventKind::Message))
        .order(events::seq)
        .select(events::body)
        .first(conn)
        .await
        .optional()
}

pub async fn max_seq(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
) -> QueryResult<i64> {
    events::table
        .filter(events::conversation_id.eq(conversation))
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)
        .await
        .map(|max| max.unwrap_or(0))
}
