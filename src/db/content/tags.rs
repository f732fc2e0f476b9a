//! Queries over `tags`: the labels operators put on conversations. Removing a tag from
//! conversations is left to the foreign key (`ON DELETE CASCADE` on `conversation_tags`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::lower;
use crate::db::schema::{conversation_tags, tags};
use crate::ids::TagId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tags, check_for_backend(diesel::pg::Pg))]
pub struct TagRow {
    pub id: TagId,
    pub name: String,
    pub color: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tags)]
pub struct NewTag<'a> {
    pub id: TagId,
    pub name: &'a str,
    pub color: Option<&'a str>,
}

/// The columns a change sets; `None` leaves a column alone, `Some(None)` clears the colour.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tags)]
pub struct TagChanges<'a> {
    pub name: Option<&'a str>,
    pub color: Option<Option<&'a str>>,
}

impl TagChanges<'_> {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.color.is_none()
    }
}

/// Every tag, alphabetically regardless of case.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<TagRow>> {
    tags::table
        .select(TagRow::as_select())
        .order((lower(tags::name), tags::id))
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: TagId) -> QueryResult<TagRow> {
    tags::table
        .find(id)
        .select(TagRow::as_select())
        .first(conn)
        .await
}

/// The tag, locked until the transaction ends, so that its "before" in the audit log is the
/// state the change really replaced.
pub async fn find_for_update(conn: &mut AsyncPgConnection, id: TagId) -> QueryResult<TagRow> {
    tags::table
        .find(id)
        .select(TagRow::as_select())
        .for_update()
        .first(conn)
        .await
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewTag<'_>) -> QueryResult<TagRow> {
    diesel::insert_into(tags::table)
        .values(new)
        .returning(TagRow::as_returning())
        .get_result(conn)
        .await
}

/// Applies a non-empty change; `NotFound` if the tag does not exist.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: TagId,
    changes: &TagChanges<'_>,
) -> QueryResult<TagRow> {
    diesel::update(tags::table.find(id))
        .set(changes)
        .returning(TagRow::as_returning())
        .get_result(conn)
        .await
}

/// Deletes the tag (and, through the foreign key, its use on conversations); the number of
/// rows deleted.
pub async fn delete(conn: &mut AsyncPgConnection, id: TagId) -> QueryResult<usize> {
    diesel::delete(tags::table.find(id)).execute(conn).await
}

/// How many conversations carry the tag.
pub async fn usage(conn: &mut AsyncPgConnection, id: TagId) -> QueryResult<i64> {
    conversation_tags::table
        .filter(conversation_tags::tag_id.eq(id))
        .count()
        .get_result(conn)
        .await
}
