//! Queries over `conversations` (with their contact's alias) and `contacts`. The mutable columns
//! of a conversation are its owning actor's snapshot; they change only through the event writer.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::{assignments, contacts, conversation_tags, conversations};
use crate::domain::{Channel, ConversationStatus, Priority};
use crate::ids::{ContactId, ConversationId, GroupId, OperatorId, TagId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
pub struct ConversationRow {
    pub id: ConversationId,
    pub ticket: String,
    pub contact_id: ContactId,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub level: i16,
    pub assignee_id: Option<OperatorId>,
    pub language: String,
    pub category: Option<String>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub last_seq: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    pub unanswered: i32,
    pub visitor_read_seq: i64,
    pub operator_read_seq: i64,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<DateTime<Utc>>,
    pub group_id: GroupId,
    /// What automation remembers (`crate::automation::Memo`).
    pub automation: serde_json::Value,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A conversation row with the alias its customer appears under.
pub type WithAlias = (ConversationRow, String);

#[derive(Debug, Insertable)]
#[diesel(table_name = contacts)]
pub struct NewContact<'a> {
    pub id: ContactId,
    pub alias: &'a str,
    pub language: &'a str,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = conversations)]
pub struct NewConversation<'a> {
    pub id: ConversationId,
    pub group_id: GroupId,
    pub ticket: &'a str,
    pub contact_id: ContactId,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub language: &'a str,
    pub metadata: &'a serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seq: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    pub unanswered: i32,
    /// What automation remembers (`crate::automation::Memo`).
    pub automation: serde_json::Value,
}

/// The columns a Conversation actor owns, written together with its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: ConversationId,
    pub group_id: GroupId,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub level: i16,
    pub assignee_id: Option<OperatorId>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub last_seq: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    pub unanswered: i32,
    pub visitor_read_seq: i64,
    pub operator_read_seq: i64,
    pub updated_at: DateTime<Utc>,
    pub category: Option<String>,
    pub automation: crate::automation::Memo,
}

impl From<&ConversationRow> for Snapshot {
    fn from(row: &ConversationRow) -> Self {
        Snapshot {
            id: row.id,
            group_id: row.group_id,
            status: row.status,
            priority: row.priority,
            level: row.level,
            assignee_id: row.assignee_id,
            assigned_at: row.assigned_at,
            first_response_at: row.first_response_at,
            resolved_at: row.resolved_at,
            closed_at: row.closed_at,
            last_seq: row.last_seq,
            last_message_at: row.last_message_at,
            unanswered: row.unanswered,
            visitor_read_seq: row.visitor_read_seq,
            operator_read_seq: row.operator_read_seq,
            updated_at: row.updated_at,
            category: row.category.clone(),
            automation: serde_json::from_value(row.automation.clone()).unwrap_or_default(),
        }
    }
}

pub async fn insert_contact(conn: &mut AsyncPgConnection, new: &NewContact<'_>) -> QueryResult<()> {
    diesel::insert_into(contacts::table)
        .values(new)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewConversation<'_>) -> QueryResult<()> {
    diesel::insert_into(conversations::table)
        .values(new)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn find(conn: &mut AsyncPgConnection, id: ConversationId) -> QueryResult<WithAlias> {
    conversations::table
        .inner_join(contacts::table)
        .filter(conversations::id.eq(id))
        .filter(conversations::deleted_at.is_null())
        .select((ConversationRow::as_select(), contacts::alias))
        .first(conn)
        .await
}

/// Whether the conversation's open assignment has already been answered.
pub async fn open_assignment_answered(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
) -> QueryResult<bool> {
    assignments::table
        .filter(assignments::conversation_id.eq(id))
        .filter(assignments::unassigned_at.is_null())
        .select(assignments::first_response_at.is_not_null())
        .first::<bool>(conn)
        .await
        .optional()
        .map(|answered| answered.unwrap_or(false))
}

/// What the router needs of every open (pending or active) conversation at start-up.
pub async fn open_for_routing(conn: &mut AsyncPgConnection) -> QueryResult<Vec<WithAlias>> {
    conversations::table
        .inner_join(contacts::table)
        .filter(
            conversations::status.eq_any([ConversationStatus::Pending, ConversationStatus::Active]),
        )
        .select((ConversationRow::as_select(), contacts::alias))
        .load(conn)
        .await
}

/// Deletes the conversation if it still waits with nothing written (an unused widget session),
/// its tokens with it, and its contact if that has no other conversation; whether it did.
pub async fn delete_if_empty(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
) -> QueryResult<bool> {
    use diesel_async::AsyncConnection;
    conn.transaction(async |conn| {
        let contact: Option<ContactId> = diesel::delete(
            conversations::table
                .filter(conversations::id.eq(id))
                .filter(conversations::status.eq(ConversationStatus::Pending))
                .filter(conversations::last_message_at.is_null())
                .filter(conversations::last_seq.eq(0)),
        )
        .returning(conversations::contact_id)
        .get_result(conn)
        .await
        .optional()?;
        let Some(contact) = contact else {
            return Ok(false);
        };
        diesel::delete(
            contacts::table
                .filter(contacts::id.eq(contact))
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    conversations::table.filter(conversations::contact_id.eq(contacts::id)),
                ))),
        )
        .execute(conn)
        .await?;
        Ok(true)
    })
    .await
}

/// Which conversations a list may show.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    All,
    /// An agent: the queue (pending) and what is assigned to them.
    Agent(OperatorId),
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<ConversationStatus>,
    pub assignee: Option<OperatorId>,
    /// Only conversations with no assignee.
    pub unassigned: bool,
    pub priority: Option<Priority>,
    pub channel: Option<Channel>,
    /// Only conversations carrying this tag.
    pub tag: Option<TagId>,
    /// Only conversations of this category.
    pub category: Option<String>,
}

/// Position after which the next page starts: newest first, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: DateTime<Utc>,
    pub id: ConversationId,
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    visibility: Visibility,
    filter: &ListFilter,
    cursor: Option<ListCursor>,
    limit: i64,
) -> QueryResult<Vec<WithAlias>> {
    let mut query = conversations::table
        .inner_join(contacts::table)
        .select((ConversationRow::as_select(), contacts::alias))
        .order((conversations::created_at.desc(), conversations::id.desc()))
        .limit(limit)
        .into_boxed()
        // A chat nobody has written in yet is not in anyone's queue.
        .filter(
            conversations::status
                .ne(ConversationStatus::Pending)
                .or(conversations::last_message_at.is_not_null()),
        );
    // A deleted conversation stays only for statistics.
    query = query.filter(conversations::deleted_at.is_null());
    if let Visibility::Agent(me) = visibility {
        query = query.filter(
            conversations::status
                .eq(ConversationStatus::Pending)
                .or(conversations::assignee_id.eq(me)),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(conversations::status.eq(status));
    }
    if let Some(assignee) = filter.assignee {
        query = query.filter(conversations::assignee_id.eq(assignee));
    }
    if filter.unassigned {
        query = query.filter(conversations::assignee_id.is_null());
    }
    if let Some(priority) = filter.priority {
        query = query.filter(conversations::priority.eq(priority));
    }
    if let Some(channel) = filter.channel {
        query = query.filter(conversations::channel.eq(channel));
    }
    if let Some(category) = &filter.category {
        query = query.filter(conversations::category.eq(category.clone()));
    }
    if let Some(tag) = filter.tag {
        query = query.filter(
            conversations::id.eq_any(
                conversation_tags::table
                    .filter(conversation_tags::tag_id.eq(tag))
                    .select(conversation_tags::conversation_id),
            ),
        );
    }
    if let Some(c) = cursor {
        query = query.filter(
            conversations::created_at
                .lt(c.created_at)
                .or(conversations::created_at
                    .eq(c.created_at)
                    .and(conversations::id.lt(c.id))),
        );
    }
    query.load(conn).await
}

/// The open conversations an operator sees when their socket connects: the queue and their own
/// (everything open, for supervisors and admins), newest first.
pub async fn open_visible(
    conn: &mut AsyncPgConnection,
    visibility: Visibility,
    limit: i64,
) -> QueryResult<Vec<WithAlias>> {
    let mut query = conversations::table
        .inner_join(contacts::table)
        .select((ConversationRow::as_select(), contacts::alias))
        .order((conversations::created_at.desc(), conversations::id.desc()))
        .limit(limit)
        .into_boxed()
        // A chat nobody has written in yet is not in anyone's queue.
        .filter(
            conversations::status
                .ne(ConversationStatus::Pending)
                .or(conversations::last_message_at.is_not_null()),
        );
    query = match visibility {
        Visibility::All => query.filter(
            conversations::status.eq_any([ConversationStatus::Pending, ConversationStatus::Active]),
        ),
        Visibility::Agent(me) => query.filter(
            conversations::status
                .eq(ConversationStatus::Pending)
                .or(conversations::status
                    .eq(ConversationStatus::Active)
                    .and(conversations::assignee_id.eq(me))),
        ),
    };
    query.load(conn).await
}

/// A conversation's tags, by name.
pub async fn tags_of(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
) -> QueryResult<Vec<(TagId, String)>> {
    use super::schema::{conversation_tags, tags};
    conversation_tags::table
        .inner_join(tags::table)
        .filter(conversation_tags::conversation_id.eq(id))
        .order(tags::name.asc())
        .select((tags::id, tags::name))
        .load(conn)
        .await
}

/// Tag names for many conversations at once (for lists).
pub async fn tags_for(
    conn: &mut AsyncPgConnection,
    ids: &[ConversationId],
) -> QueryResult<std::collections::HashMap<ConversationId, Vec<String>>> {
    use super::schema::{conversation_tags, tags};
    let rows: Vec<(ConversationId, String)> = conversation_tags::table
        .inner_join(tags::table)
        .filter(conversation_tags::conversation_id.eq_any(ids))
        .order(tags::name.asc())
        .select((conversation_tags::conversation_id, tags::name))
        .load(conn)
        .await?;
    let mut out: std::collections::HashMap<ConversationId, Vec<String>> =
        std::collections::HashMap::new();
    for (id, name) in rows {
        out.entry(id).or_default().push(name);
    }
    Ok(out)
}

/// Summaries with their tags filled in.
pub async fn summaries(
    conn: &mut AsyncPgConnection,
    rows: &[WithAlias],
) -> QueryResult<Vec<crate::protocol::ConversationSummary>> {
    let ids: Vec<ConversationId> = rows.iter().map(|(r, _)| r.id).collect();
    let mut tags = tags_for(conn, &ids).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut summary = crate::protocol::ConversationSummary::from(row);
            summary.tags = tags.remove(&summary.id).unwrap_or_default();
            summary
        })
        .collect())
}

pub async fn contact_alias(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<String> {
    contacts::table
        .find(contact)
        .select(contacts::alias)
        .first(conn)
        .await
}

/// Whoever handled the contact's most recent conversation that had an operator.
pub async fn last_assignee_of_contact(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<Option<OperatorId>> {
    conversations::table
        .filter(conversations::contact_id.eq(contact))
        .filter(conversations::assignee_id.is_not_null())
        .order(conversations::created_at.desc())
        .select(conversations::assignee_id)
        .first::<Option<OperatorId>>(conn)
        .await
        .optional()
        .map(Option::flatten)
}

pub async fn tag_by_id(
    conn: &mut AsyncPgConnection,
    id: TagId,
) -> QueryResult<Option<(TagId, String)>> {
    use super::schema::tags;
    tags::table
        .find(id)
        .select((tags::id, tags::name))
        .first(conn)
        .await
        .optional()
}

pub async fn tag_by_name(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<(TagId, String)>> {
    use super::operators::lower;
    use super::schema::tags;
    tags::table
        .filter(lower(tags::name).eq(name.to_lowercase()))
        .select((tags::id, tags::name))
        .first(conn)
        .await
        .optional()
}

/// How many pending or active conversations a group holds.
pub async fn open_in_group(conn: &mut AsyncPgConnection, group: GroupId) -> QueryResult<i64> {
    conversations::table
        .filter(conversations::group_id.eq(group))
        .filter(
            conversations::status.eq_any([ConversationStatus::Pending, ConversationStatus::Active]),
        )
        .count()
        .get_result(conn)
        .await
}
