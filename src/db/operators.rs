//! Queries over `operators`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::operators;
use crate::domain::Role;
use crate::ids::OperatorId;

diesel::define_sql_function!(
    /// SQL `lower()`, for case-insensitive lookups.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = operators, check_for_backend(diesel::pg::Pg))]
pub struct OperatorRow {
    pub id: OperatorId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub tier: i16,
    pub max_concurrent: i32,
    pub accepting: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = operators)]
pub struct NewOperator<'a> {
    pub id: OperatorId,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub tier: i16,
    pub max_concurrent: i32,
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewOperator<'_>,
) -> QueryResult<OperatorRow> {
    diesel::insert_into(operators::table)
        .values(new)
        .returning(OperatorRow::as_returning())
        .get_result(conn)
        .await
}

/// A live (not deleted) operator by email, ignoring case.
pub async fn find_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Option<OperatorRow>> {
    operators::table
        .filter(lower(operators::email).eq(email.to_lowercase()))
        .filter(operators::deleted_at.is_null())
        .select(OperatorRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find(conn: &mut AsyncPgConnection, id: OperatorId) -> QueryResult<OperatorRow> {
    operators::table
        .find(id)
        .select(OperatorRow::as_select())
        .first(conn)
        .await
}

/// Every operator, deleted ones too when asked, by name.
pub async fn list(
    conn: &mut AsyncPgConnection,
    include_deleted: bool,
) -> QueryResult<Vec<OperatorRow>> {
    let mut query = operators::table
        .order(operators::name.asc())
        .select(OperatorRow::as_select())
        .into_boxed();
    if !include_deleted {
        query = query.filter(operators::deleted_at.is_null());
    }
    query.load(conn).await
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = operators)]
pub struct OperatorChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub tier: Option<i16>,
    pub max_concurrent: Option<i32>,
    pub accepting: Option<bool>,
    pub status: Option<String>,
    pub password_hash: Option<String>,
    pub deleted_at: Option<Option<DateTime<Utc>>>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: OperatorId,
    changes: &OperatorChanges,
) -> QueryResult<OperatorRow> {
    diesel::update(operators::table.find(id))
        .set(changes)
        .returning(OperatorRow::as_returning())
        .get_result(conn)
        .await
}
