//! Queries over `groups` (departments) and their members.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use super::operators::lower;
use super::schema::{group_members, groups};
use crate::domain::RoutingStrategy;
use crate::ids::{GroupId, OperatorId};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Serialize)]
#[diesel(table_name = groups, check_for_backend(diesel::pg::Pg))]
pub struct GroupRow {
    pub id: GroupId,
    pub name: String,
    pub strategy: RoutingStrategy,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = groups)]
pub struct NewGroup<'a> {
    pub id: GroupId,
    pub name: &'a str,
    pub strategy: RoutingStrategy,
    pub is_default: bool,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = groups)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub strategy: Option<RoutingStrategy>,
    pub is_default: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewGroup<'_>) -> QueryResult<GroupRow> {
    diesel::insert_into(groups::table)
        .values(new)
        .returning(GroupRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: GroupId,
    changes: &GroupChanges,
) -> QueryResult<GroupRow> {
    diesel::update(groups::table.find(id))
        .set(changes)
        .returning(GroupRow::as_returning())
        .get_result(conn)
        .await
}

/// Clears the default flag everywhere, so another group can take it.
pub async fn clear_default(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::update(groups::table.filter(groups::is_default.eq(true)))
        .set(groups::is_default.eq(false))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn soft_delete(
    conn: &mut AsyncPgConnection,
    id: GroupId,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(groups::table.find(id).filter(groups::deleted_at.is_null()))
        .set(groups::deleted_at.eq(now))
        .execute(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: GroupId) -> QueryResult<GroupRow> {
    groups::table
        .find(id)
        .select(GroupRow::as_select())
        .first(conn)
        .await
}

/// A live group by name, ignoring case.
pub async fn find_by_name(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<GroupRow>> {
    groups::table
        .filter(lower(groups::name).eq(name.to_lowercase()))
        .filter(groups::deleted_at.is_null())
        .select(GroupRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn default_group(conn: &mut AsyncPgConnection) -> QueryResult<GroupRow> {
    groups::table
        .filter(groups::is_default.eq(true))
        .filter(groups::deleted_at.is_null())
        .select(GroupRow::as_select())
        .first(conn)
        .await
}

pub async fn list_live(conn: &mut AsyncPgConnection) -> QueryResult<Vec<GroupRow>> {
    groups::table
        .filter(groups::deleted_at.is_null())
        .order(groups::name.asc())
        .select(GroupRow::as_select())
        .load(conn)
        .await
}

pub async fn members(conn: &mut AsyncPgConnection, id: GroupId) -> QueryResult<Vec<OperatorId>> {
    group_members::table
        .filter(group_members::group_id.eq(id))
        .select(group_members::operator_id)
        .load(conn)
        .await
}

/// Every (group, operator) pair, for the router's view of the team.
pub async fn all_memberships(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(GroupId, OperatorId)>> {
    group_members::table
        .select((group_members::group_id, group_members::operator_id))
        .load(conn)
        .await
}

pub async fn groups_of(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
) -> QueryResult<Vec<GroupId>> {
    group_members::table
        .filter(group_members::operator_id.eq(operator))
        .select(group_members::group_id)
        .load(conn)
        .await
}

pub async fn add_member(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    operator: OperatorId,
) -> QueryResult<usize> {
    diesel::insert_into(group_members::table)
        .values((
            group_members::group_id.eq(group),
            group_members::operator_id.eq(operator),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    operator: OperatorId,
) -> QueryResult<usize> {
    diesel::delete(
        group_members::table
            .filter(group_members::group_id.eq(group))
            .filter(group_members::operator_id.eq(operator)),
    )
    .execute(conn)
    .await
}
