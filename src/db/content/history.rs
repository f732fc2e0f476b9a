//! A contact's conversations, for the "earlier conversations" panel. Only the alias and
//! conversation data are read: never `channel_identities` or anything else that identifies
//! the customer.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::conversations::{ConversationRow, WithAlias};
use crate::db::schema::{contacts, conversation_tags, conversations, tags};
use crate::ids::{ContactId, ConversationId};

/// The contact's conversations other than `except`, newest first, at most `limit`.
pub async fn other_conversations(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    except: ConversationId,
    limit: i64,
) -> QueryResult<Vec<WithAlias>> {
    conversations::table
        .inner_join(contacts::table)
        .filter(conversations::contact_id.eq(contact))
        .filter(conversations::id.ne(except))
        .filter(conversations::deleted_at.is_null())
        .order((conversations::created_at.desc(), conversations::id.desc()))
        .limit(limit)
        .select((ConversationRow::as_select(), contacts::alias))
        .load(conn)
        .await
}

/// The tag names on each of `ids`, as (conversation, name) pairs ordered by name.
pub async fn tag_names(
    conn: &mut AsyncPgConnection,
    ids: &[ConversationId],
) -> QueryResult<Vec<(ConversationId, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    conversation_tags::table
        .inner_join(tags::table)
        .filter(conversation_tags::conversation_id.eq_any(ids))
        .order((conversation_tags::conversation_id, tags::name))
        .select((conversation_tags::conversation_id, tags::name))
        .load(conn)
        .await
}
