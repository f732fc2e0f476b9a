//! Queries over `canned_responses`: reply templates operators insert by typing `/shortcut`,
//! one per shortcut and language.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgTextExpressionMethods;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::prefix_pattern;
use crate::db::schema::canned_responses;
use crate::ids::CannedId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = canned_responses, check_for_backend(diesel::pg::Pg))]
pub struct CannedRow {
    pub id: CannedId,
    pub shortcut: String,
    pub language: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = canned_responses)]
pub struct NewCanned<'a> {
    pub id: CannedId,
    pub shortcut: &'a str,
    pub language: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// The columns a change sets; `None` leaves a column alone. `updated_at` is always set.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = canned_responses)]
pub struct CannedChanges<'a> {
    pub shortcut: Option<&'a str>,
    pub language: Option<&'a str>,
    pub title: Option<&'a str>,
    pub body: Option<&'a str>,
    pub updated_at: DateTime<Utc>,
}

/// What a list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct CannedFilter {
    pub language: Option<String>,
    /// A prefix of the shortcut or of the title, ignoring case.
    pub prefix: Option<String>,
}

/// Matching responses ordered by shortcut, then language.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &CannedFilter,
) -> QueryResult<Vec<CannedRow>> {
    let mut query = canned_responses::table
        .select(CannedRow::as_select())
        .order((
            canned_responses::shortcut,
            canned_responses::language,
            canned_responses::id,
        ))
        .into_boxed();
    if let Some(language) = &filter.language {
        query = query.filter(canned_responses::language.eq(language.clone()));
    }
    if let Some(prefix) = &filter.prefix {
        let pattern = prefix_pattern(prefix);
        query = query.filter(
            canned_responses::shortcut
                .ilike(pattern.clone())
                .or(canned_responses::title.ilike(pattern)),
        );
    }
    query.load(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: CannedId) -> QueryResult<CannedRow> {
    canned_responses::table
        .find(id)
        .select(CannedRow::as_select())
        .first(conn)
        .await
}

/// The response, locked until the transaction ends (see `tags::find_for_update`).
pub async fn find_for_update(conn: &mut AsyncPgConnection, id: CannedId) -> QueryResult<CannedRow> {
    canned_responses::table
        .find(id)
        .select(CannedRow::as_select())
        .for_update()
        .first(conn)
        .await
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewCanned<'_>) -> QueryResult<CannedRow> {
    diesel::insert_into(canned_responses::table)
        .values(new)
        .returning(CannedRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: CannedId,
    changes: &CannedChanges<'_>,
) -> QueryResult<CannedRow> {
    diesel::update(canned_responses::table.find(id))
        .set(changes)
        .returning(CannedRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, id: CannedId) -> QueryResult<usize> {
    diesel::delete(canned_responses::table.find(id))
        .execute(conn)
        .await
}
