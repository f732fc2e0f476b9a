//! A customer's data as a whole: the export of everything stored about a contact, erasing it,
//! deleting one conversation, and purging old closed conversations. Each write is one
//! transaction; the conversation parts are run by the conversation's actor (or, from the
//! command line, with no server running).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{self, AuditEntry};
use super::events::EventRow;
use super::schema::{
    channel_identities, contacts, conversation_tags, conversations, deadlines, events, tags,
    telegram_outbox, telegram_posts, telegram_topics, widget_sessions,
};
use crate::domain::{Author, Channel, ConversationStatus, EventKind, Priority};
use crate::ids::{ContactId, ConversationId, OperatorId};
use crate::telegram::outbox::contact_lane;

/// Keys of a system event's `data` that point at something outside (a Telegram message or
/// file); erasing removes them. Messages and notes lose their whole `data`.
const MEDIA_KEYS: [&str; 9] = [
    "file_id",
    "message_id",
    "telegram_message_id",
    "media",
    "caption",
    "album",
    "media_group_id",
    "edit_of",
    "telegram",
];

/// Everything stored about one contact, for the contact themselves. It names no channel
/// identity: a Telegram id or username is never part of any answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactExport {
    pub contact: ExportedContact,
    /// The channels the contact was reached on, without the identities themselves.
    pub identities: Vec<ExportedIdentity>,
    /// Every conversation, oldest first, with all its events.
    pub conversations: Vec<ExportedConversation>,
    pub exported_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedContact {
    pub id: ContactId,
    /// The alias operators know the contact by, e.g. `User-7KQ2MX`.
    pub alias: String,
    pub language: String,
    pub created_at: DateTime<Utc>,
    /// Set while (or since) the contact was blocked.
    pub block: Option<ExportedBlock>,
    /// When the contact's data was erased; null if never.
    pub erased_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedBlock {
    pub reason: String,
    /// The block ends then; null: until lifted.
    pub until: Option<DateTime<Utc>>,
    pub blocked_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema, Queryable)]
pub struct ExportedIdentity {
    pub channel: Channel,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedConversation {
    pub id: ConversationId,
    pub ticket: String,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub priority: Priority,
    /// Escalation level, 0 to 2 (L1 to L3).
    pub level: i16,
    pub category: Option<String>,
    pub language: String,
    /// What the website sent with the widget session.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// An admin deleted the conversation then: its events are gone.
    pub deleted_at: Option<DateTime<Utc>>,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<DateTime<Utc>>,
    pub tags: Vec<String>,
    pub events: Vec<ExportedEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub author: Author,
    /// The operator's name, the contact's alias, or `System`.
    pub name: String,
    pub text: String,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}

impl From<EventRow> for ExportedEvent {
    fn from(e: EventRow) -> Self {
        ExportedEvent {
            seq: e.seq,
            kind: e.kind,
            author: e.author,
            name: e.author_name,
            text: e.body,
            data: e.data,
            at: e.created_at,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = contacts, check_for_backend(diesel::pg::Pg))]
struct ContactRow {
    id: ContactId,
    alias: String,
    language: String,
    created_at: DateTime<Utc>,
    blocked_at: Option<DateTime<Utc>>,
    blocked_until: Option<DateTime<Utc>>,
    block_reason: Option<String>,
    erased_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
struct ConversationFacts {
    id: ConversationId,
    ticket: String,
    channel: Channel,
    status: ConversationStatus,
    priority: Priority,
    level: i16,
    category: Option<String>,
    language: String,
    metadata: serde_json::Value,
    created_at: DateTime<Utc>,
    assigned_at: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
    rating: Option<i16>,
    rating_comment: Option<String>,
    rated_at: Option<DateTime<Utc>>,
}

/// The contact's export, read in one snapshot, and the export audited (`by` None: from the
/// command line); None when there is no such contact.
pub async fn export(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    by: Option<OperatorId>,
    now: DateTime<Utc>,
) -> QueryResult<Option<ContactExport>> {
    conn.build_transaction()
        .repeatable_read()
        .run(async |conn| {
            let Some(row) = contacts::table
                .find(contact)
                .select(ContactRow::as_select())
                .first(conn)
                .await
                .optional()?
            else {
                return Ok(None);
            };
            let identities: Vec<ExportedIdentity> = channel_identities::table
                .filter(channel_identities::contact_id.eq(contact))
                .order(channel_identities::created_at.asc())
                .select((channel_identities::channel, channel_identities::created_at))
                .load(conn)
                .await?;
            let facts: Vec<ConversationFacts> = conversations::table
                .filter(conversations::contact_id.eq(contact))
                .order((conversations::created_at.asc(), conversations::id.asc()))
                .select(ConversationFacts::as_select())
                .load(conn)
                .await?;
            let ids: Vec<ConversationId> = facts.iter().map(|c| c.id).collect();
            let tag_rows: Vec<(ConversationId, String)> = conversation_tags::table
                .inner_join(tags::table)
                .filter(conversation_tags::conversation_id.eq_any(&ids))
                .order(tags::name.asc())
                .select((conversation_tags::conversation_id, tags::name))
                .load(conn)
                .await?;
            let event_rows: Vec<EventRow> = events::table
                .filter(events::conversation_id.eq_any(&ids))
                .order((events::conversation_id, events::seq))
                .select(EventRow::as_select())
                .load(conn)
                .await?;
            let conversations = facts
                .into_iter()
                .map(|c| {
                    let tags = tag_rows
                        .iter()
                        .filter(|(id, _)| *id == c.id)
                        .map(|(_, name)| name.clone())
                        .collect();
                    let events = event_rows
                        .iter()
                        .filter(|e| e.conversation_id == c.id)
                        .cloned()
                        .map(ExportedEvent::from)
                        .collect();
                    exported(c, tags, events)
                })
                .collect::<Vec<_>>();
            let details = json!({"conversations": conversations.len()});
            audit::record(
                conn,
                &[audited(
                    by,
                    "contact.export",
                    "contact",
                    contact,
                    details,
                    now,
                )],
            )
            .await?;
            Ok(Some(ContactExport {
                contact: ExportedContact {
                    id: row.id,
                    alias: row.alias,
                    language: row.language,
                    created_at: row.created_at,
                    block: row.blocked_at.map(|at| ExportedBlock {
                        reason: row.block_reason.unwrap_or_default(),
                        until: row.blocked_until,
                        blocked_at: at,
                    }),
                    erased_at: row.erased_at,
                },
                identities,
                conversations,
                exported_at: now,
            }))
        })
        .await
}

fn exported(
    c: ConversationFacts,
    tags: Vec<String>,
    events: Vec<ExportedEvent>,
) -> ExportedConversation {
    ExportedConversation {
        id: c.id,
        ticket: c.ticket,
        channel: c.channel,
        status: c.status,
        priority: c.priority,
        level: c.level,
        category: c.category,
        language: c.language,
        metadata: c.metadata,
        created_at: c.created_at,
        assigned_at: c.assigned_at,
        first_response_at: c.first_response_at,
        resolved_at: c.resolved_at,
        closed_at: c.closed_at,
        deleted_at: c.deleted_at,
        rating: c.rating,
        rating_comment: c.rating_comment,
        rated_at: c.rated_at,
        tags,
        events,
    }
}

/// An audit entry at `now` (the caller's clock, not the database's).
fn audited(
    by: Option<OperatorId>,
    action: &str,
    target_type: &str,
    target: impl ToString,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        created_at: now,
        ..AuditEntry::new(by, action, target_type, target, details)
    }
}

/// Cuts the contact off from every channel, so nothing new arrives while their conversations
/// are erased: their channel identities (the Telegram link), widget tokens (of every
/// conversation), Telegram calls queued for their chat and a pending rating question. False
/// when there is no such contact.
pub async fn cut_off(conn: &mut AsyncPgConnection, contact: ContactId) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let found: Option<ContactId> = contacts::table
            .find(contact)
            .select(contacts::id)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        if found.is_none() {
            return Ok(false);
        }
        diesel::delete(
            channel_identities::table.filter(channel_identities::contact_id.eq(contact)),
        )
        .execute(conn)
        .await?;
        diesel::delete(widget_sessions::table.filter(widget_sessions::contact_id.eq(contact)))
            .execute(conn)
            .await?;
        diesel::delete(
            telegram_outbox::table.filter(telegram_outbox::lane.eq(contact_lane(contact))),
        )
        .execute(conn)
        .await?;
        diesel::sql_query("DELETE FROM telegram_surveys WHERE contact_id = $1")
            .bind::<SqlUuid, _>(contact.0)
            .execute(conn)
            .await?;
        Ok(true)
    })
    .await
}

/// The contact's conversations that still have data (deleted ones have none left).
pub async fn live_conversations(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<Vec<ConversationId>> {
    conversations::table
        .filter(conversations::contact_id.eq(contact))
        .filter(conversations::deleted_at.is_null())
        .order(conversations::created_at.asc())
        .select(conversations::id)
        .load(conn)
        .await
}

/// Erases what one conversation holds of its customer, keeping what statistics count (status,
/// timestamps, rating scores, tags, assignments): every message and note loses its text (it
/// becomes empty, so full-text search finds nothing) and its `data` (which becomes
/// `{"erased": true}`) and client id; system events lose their references to Telegram
/// messages and files; the metadata the website sent becomes `{}` and the rating comment null;
/// the conversation's widget tokens and Telegram calls go. Running it again changes nothing.
pub async fn erase_conversation(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
) -> QueryResult<()> {
    conn.transaction(async |conn| {
        diesel::update(
            events::table
                .filter(events::conversation_id.eq(id))
                .filter(events::kind.eq_any([EventKind::Message, EventKind::Note])),
        )
        .set((
            events::body.eq(""),
            events::data.eq(Some(json!({"erased": true}))),
            events::client_id.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
        diesel::sql_query(
            "UPDATE events SET data = data - $2 \
             WHERE conversation_id = $1 AND kind = 'system' AND data ?| $2",
        )
        .bind::<SqlUuid, _>(id.0)
        .bind::<Array<Text>, _>(MEDIA_KEYS.to_vec())
        .execute(conn)
        .await?;
        diesel::update(conversations::table.find(id))
            .set((
                conversations::metadata.eq(json!({})),
                conversations::rating_comment.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
        diesel::delete(widget_sessions::table.filter(widget_sessions::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(telegram_outbox::table.filter(telegram_outbox::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}

/// Closes a conversation without its actor (the command line, with no server running): no
/// system event, the open assignment ends. Nothing happens to a closed one.
pub async fn close_directly(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let closed = diesel::update(
            conversations::table
                .find(id)
                .filter(conversations::status.ne(ConversationStatus::Closed)),
        )
        .set((
            conversations::status.eq(ConversationStatus::Closed),
            conversations::closed_at.eq(now),
            conversations::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
        end_assignment(conn, id, now).await?;
        Ok(closed > 0)
    })
    .await
}

async fn end_assignment(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    use super::schema::assignments as a;
    diesel::update(
        a::table
            .filter(a::conversation_id.eq(id))
            .filter(a::unassigned_at.is_null()),
    )
    .set(a::unassigned_at.eq(now))
    .execute(conn)
    .await
    .map(drop)
}

/// The last step of an erase: the contact is cut off again (a call queued by the closing of
/// a conversation goes too), marked erased (the first time only) and the erase audited. The
/// time it was erased.
pub async fn finish_erase(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    by: Option<OperatorId>,
    conversations_erased: usize,
    now: DateTime<Utc>,
) -> QueryResult<DateTime<Utc>> {
    cut_off(conn, contact).await?;
    conn.transaction(async |conn| {
        let first = diesel::update(
            contacts::table
                .find(contact)
                .filter(contacts::erased_at.is_null()),
        )
        .set(contacts::erased_at.eq(now))
        .execute(conn)
        .await?
            > 0;
        let erased_at: Option<DateTime<Utc>> = contacts::table
            .find(contact)
            .select(contacts::erased_at)
            .first(conn)
            .await?;
        let details = json!({"conversations": conversations_erased, "first": first});
        audit::record(
            conn,
            &[audited(
                by,
                "contact.erase",
                "contact",
                contact,
                details,
                now,
            )],
        )
        .await?;
        Ok(erased_at.unwrap_or(now))
    })
    .await
}

/// Erases a contact's data straight in the database, without the conversations' actors: for
/// the command line. Its open conversations are closed first (without a system event). The
/// number of conversations erased; None for an unknown contact.
pub async fn erase_directly(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    now: DateTime<Utc>,
) -> QueryResult<Option<(usize, DateTime<Utc>)>> {
    if !cut_off(conn, contact).await? {
        return Ok(None);
    }
    let ids = live_conversations(conn, contact).await?;
    for id in &ids {
        close_directly(conn, *id, now).await?;
        erase_conversation(conn, *id).await?;
    }
    let erased_at = finish_erase(conn, contact, None, ids.len(), now).await?;
    Ok(Some((ids.len(), erased_at)))
}

/// Deletes a conversation for good, keeping its row for statistics: its events, tags,
/// timers, Telegram rows and widget tokens go; the row is marked deleted and closed (its
/// closing time kept if it had one), its metadata and rating comment cleared; the deletion is
/// audited. False when there is no such conversation (or it was deleted already).
pub async fn delete_conversation(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    by: OperatorId,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let marked = diesel::sql_query(
            "UPDATE conversations SET deleted_at = $2, status = 'closed', \
                 closed_at = coalesce(closed_at, $2), updated_at = $2, \
                 metadata = '{}', rating_comment = NULL \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind::<SqlUuid, _>(id.0)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        if marked == 0 {
            return Ok(false);
        }
        end_assignment(conn, id, now).await?;
        diesel::delete(events::table.filter(events::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(conversation_tags::table.filter(conversation_tags::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(deadlines::table.filter(deadlines::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(telegram_outbox::table.filter(telegram_outbox::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(telegram_posts::table.filter(telegram_posts::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(telegram_topics::table.filter(telegram_topics::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::sql_query("DELETE FROM telegram_surveys WHERE conversation_id = $1")
            .bind::<SqlUuid, _>(id.0)
            .execute(conn)
            .await?;
        diesel::delete(widget_sessions::table.filter(widget_sessions::conversation_id.eq(id)))
            .execute(conn)
            .await?;
        audit::record(
            conn,
            &[audited(
                Some(by),
                "conversation.delete",
                "conversation",
                id,
                json!({}),
                now,
            )],
        )
        .await?;
        Ok(true)
    })
    .await
}

/// Deletes up to `limit` conversations closed before `cutoff`, with everything that hangs off
/// them (the foreign keys cascade), and their contacts that are left with no conversation
/// (with their channel identities and queued Telegram calls). Rows another purge holds are
/// skipped. How many conversations went.
pub async fn purge_closed_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    conn.transaction(async |conn| {
        let doomed: Vec<ConversationId> = conversations::table
            .filter(conversations::status.eq(ConversationStatus::Closed))
            .filter(conversations::closed_at.lt(cutoff))
            .order(conversations::closed_at.asc())
            .limit(limit)
            .select(conversations::id)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        if doomed.is_empty() {
            return Ok(0);
        }
        let owners: Vec<ContactId> =
            diesel::delete(conversations::table.filter(conversations::id.eq_any(&doomed)))
                .returning(conversations::contact_id)
                .get_results(conn)
                .await?;
        let orphans: Vec<ContactId> =
            diesel::delete(contacts::table.filter(contacts::id.eq_any(&owners)).filter(
                diesel::dsl::not(diesel::dsl::exists(
                    conversations::table.filter(conversations::contact_id.eq(contacts::id)),
                )),
            ))
            .returning(contacts::id)
            .get_results(conn)
            .await?;
        let lanes: Vec<String> = orphans.iter().map(|c| contact_lane(*c)).collect();
        diesel::delete(telegram_outbox::table.filter(telegram_outbox::lane.eq_any(&lanes)))
            .execute(conn)
            .await?;
        Ok(doomed.len())
    })
    .await
}

/// Records a purge in the audit log (no operator: the server did it).
pub async fn audit_purge(
    conn: &mut AsyncPgConnection,
    purged: u64,
    days: u32,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    audit::record(
        conn,
        &[audited(
            None,
            "retention.purge",
            "conversations",
            "retention",
            json!({"conversations": purged, "retention_days": days}),
            now,
        )],
    )
    .await
}
