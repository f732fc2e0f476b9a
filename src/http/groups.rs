//! Groups (departments): admin CRUD, membership, and the default group. Every change is
//! audited and makes the router re-read the team.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AuthOperator;
use super::json::Json;
use super::AppState;
use crate::actors::router::ReloadTeam;
use crate::db::audit::{self, AuditEntry};
use crate::db::groups::{self, GroupChanges, GroupRow, NewGroup};
use crate::db::operators;
use crate::domain::{Role, RoutingStrategy};
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::{GroupId, OperatorId};
use crate::validate;

/// A group (department) of operators with its routing strategy.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    pub id: GroupId,
    pub name: String,
    pub strategy: RoutingStrategy,
    /// Conversations that name no group go here; exactly one group is the default.
    pub is_default: bool,
    pub members: Vec<OperatorId>,
}

/// A group's members after one was added or removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMembers {
    pub group_id: GroupId,
    pub members: Vec<OperatorId>,
}

fn out(row: GroupRow, members: Vec<OperatorId>) -> GroupOut {
    GroupOut {
        id: row.id,
        name: row.name,
        strategy: row.strategy,
        is_default: row.is_default,
        members,
    }
}

async fn live_group(
    conn: &mut diesel_async::AsyncPgConnection,
    id: GroupId,
) -> AppResult<GroupRow> {
    match groups::find(conn, id).await {
        Ok(row) if row.deleted_at.is_none() => Ok(row),
        Ok(_) | Err(diesel::result::Error::NotFound) => Err(AppError::not_found("group")),
        Err(e) => Err(e.into()),
    }
}

fn check_name(name: &str) -> AppResult<()> {
    validate::text("name", name)?;
    if name.trim().is_empty() || name.chars().count() > 64 {
        return Err(AppError::invalid("name", "name must be 1 to 64 characters"));
    }
    Ok(())
}

/// A name clash is a 409 with its own code rather than a generic conflict.
fn name_taken(e: AppError) -> AppError {
    match e {
        AppError::Conflict { .. } => {
            AppError::conflict("group_exists", "a group with this name exists")
        }
        other => other,
    }
}

/// `GET /api/v1/groups` (any operator: agents need them to transfer)
#[utoipa::path(
    get,
    path = "/api/v1/groups",
    operation_id = "list_groups",
    tag = "groups",
    responses(
        (status = 200, description = "Every live group with its members, by name", body = Vec<GroupOut>),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, _auth: AuthOperator) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let rows = groups::list_live(&mut conn).await?;
    let memberships = groups::all_memberships(&mut conn).await?;
    let items: Vec<GroupOut> = rows
        .into_iter()
        .map(|g| {
            let members = memberships
                .iter()
                .filter(|(gid, _)| *gid == g.id)
                .map(|(_, op)| *op)
                .collect();
            out(g, members)
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewGroupRequest {
    /// 1 to 64 characters, unique ignoring case.
    pub name: String,
    /// Default `least_loaded`.
    #[serde(default = "default_strategy")]
    pub strategy: RoutingStrategy,
    /// `true` makes it the default group in place of the current one.
    #[serde(default)]
    pub is_default: bool,
}

fn default_strategy() -> RoutingStrategy {
    RoutingStrategy::LeastLoaded
}

/// `POST /api/v1/groups` (admins)
#[utoipa::path(
    post,
    path = "/api/v1/groups",
    operation_id = "create_group",
    tag = "groups",
    request_body = NewGroupRequest,
    responses(
        (status = 201, description = "Created, without members", body = GroupOut),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 409, description = "`group_exists`: the name is taken (ignoring case)", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "Invalid `name` or `strategy`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthOperator,
    body: Json<NewGroupRequest>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    check_name(&body.name)?;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            if body.is_default {
                groups::clear_default(conn).await?;
            }
            let new = NewGroup { id: GroupId::new(), name: body.name.trim(), strategy: body.strategy, is_default: body.is_default };
            let row = groups::insert(conn, &new).await?;
            let details = serde_json::json!({"name": row.name, "strategy": row.strategy, "is_default": row.is_default});
            audit::record(conn, &[AuditEntry::new(Some(by), "group.create", "group", row.id, details)]).await?;
            Ok(row)
        })
        .await
        .map_err(name_taken)?;
    state.router.do_send(ReloadTeam);
    Ok(HttpResponse::Created().json(out(row, Vec::new())))
}

/// Only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupPatch {
    /// 1 to 64 characters, unique ignoring case.
    pub name: Option<String>,
    pub strategy: Option<RoutingStrategy>,
    /// Only `true` is meaningful: another group becomes the default by being made so.
    pub is_default: Option<bool>,
}

/// `PATCH /api/v1/groups/{id}` (admins)
#[utoipa::path(
    patch,
    path = "/api/v1/groups/{id}",
    operation_id = "update_group",
    tag = "groups",
    params(("id" = GroupId, Path, description = "Group id")),
    request_body = GroupPatch,
    responses(
        (status = 200, description = "The group after the change", body = GroupOut),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such group", body = ApiError),
        (status = 409, description = "`group_exists`: the new name is taken", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "Invalid `name` or `strategy`, or `is_default` false", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<GroupId>,
    body: Json<GroupPatch>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if body.is_default == Some(false) {
        return Err(AppError::invalid(
            "is_default",
            "make another group the default instead",
        ));
    }
    let (id, by) = (*path, auth.operator.id);
    let mut conn = state.pool.get().await?;
    live_group(&mut conn, id).await?;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            if body.is_default == Some(true) {
                groups::clear_default(conn).await?;
            }
            let changes = GroupChanges {
                name: body.name.as_ref().map(|n| n.trim().to_owned()),
                strategy: body.strategy,
                is_default: body.is_default,
                updated_at: Some(Utc::now()),
            };
            let row = groups::update(conn, id, &changes).await?;
            let details = serde_json::json!({"name": body.name, "strategy": body.strategy, "is_default": body.is_default});
            audit::record(conn, &[AuditEntry::new(Some(by), "group.update", "group", id, details)]).await?;
            Ok(row)
        })
        .await
        .map_err(name_taken)?;
    let members = groups::members(&mut conn, id).await?;
    state.router.do_send(ReloadTeam);
    Ok(HttpResponse::Ok().json(out(row, members)))
}

/// `DELETE /api/v1/groups/{id}` (admins): not the default group, nor one with open chats.
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{id}",
    operation_id = "delete_group",
    tag = "groups",
    params(("id" = GroupId, Path, description = "Group id")),
    responses(
        (status = 204, description = "Deleted (soft)"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such group", body = ApiError),
        (status = 409, description = "`default_group`: the default group cannot go; `group_in_use`: it has open conversations", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<GroupId>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let (id, by) = (*path, auth.operator.id);
    let mut conn = state.pool.get().await?;
    let group = live_group(&mut conn, id).await?;
    if group.is_default {
        return Err(AppError::conflict(
            "default_group",
            "the default group cannot be deleted",
        ));
    }
    if crate::db::conversations::open_in_group(&mut conn, id).await? > 0 {
        return Err(AppError::conflict(
            "group_in_use",
            "the group still has open conversations; transfer them first",
        ));
    }
    conn.transaction::<_, AppError, _>(async |conn| {
        groups::soft_delete(conn, id, Utc::now()).await?;
        audit::record(
            conn,
            &[AuditEntry::new(
                Some(by),
                "group.delete",
                "group",
                id,
                serde_json::json!({"name": group.name}),
            )],
        )
        .await?;
        Ok(())
    })
    .await?;
    state.router.do_send(ReloadTeam);
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /api/v1/groups/{id}/members/{operator_id}` (admins)
#[utoipa::path(
    put,
    path = "/api/v1/groups/{id}/members/{operator_id}",
    operation_id = "add_group_member",
    tag = "groups",
    params(
        ("id" = GroupId, Path, description = "Group id"),
        ("operator_id" = OperatorId, Path, description = "Operator id"),
    ),
    responses(
        (status = 200, description = "The members after the change (adding a member twice changes nothing)", body = GroupMembers),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such group or operator", body = ApiError),
        (status = 409, description = "`operator_deleted`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn add_member(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<(GroupId, OperatorId)>,
) -> AppResult<HttpResponse> {
    membership(&state, &auth, path.into_inner(), true).await
}

/// `DELETE /api/v1/groups/{id}/members/{operator_id}` (admins)
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{id}/members/{operator_id}",
    operation_id = "remove_group_member",
    tag = "groups",
    params(
        ("id" = GroupId, Path, description = "Group id"),
        ("operator_id" = OperatorId, Path, description = "Operator id"),
    ),
    responses(
        (status = 200, description = "The members after the change (removing a non-member changes nothing)", body = GroupMembers),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such group or operator", body = ApiError),
        (status = 409, description = "`operator_deleted`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn remove_member(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<(GroupId, OperatorId)>,
) -> AppResult<HttpResponse> {
    membership(&state, &auth, path.into_inner(), false).await
}

async fn membership(
    state: &AppState,
    auth: &AuthOperator,
    (group, operator): (GroupId, OperatorId),
    add: bool,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    live_group(&mut conn, group).await?;
    match operators::find(&mut conn, operator).await {
        Ok(row) if row.deleted_at.is_none() => {}
        Ok(_) => {
            return Err(AppError::conflict(
                "operator_deleted",
                "that operator has been deleted",
            ))
        }
        Err(diesel::result::Error::NotFound) => return Err(AppError::not_found("operator")),
        Err(e) => return Err(e.into()),
    }
    conn.transaction::<_, AppError, _>(async |conn| {
        let action = if add {
            groups::add_member(conn, group, operator).await?;
            "group.add_member"
        } else {
            groups::remove_member(conn, group, operator).await?;
            "group.remove_member"
        };
        audit::record(
            conn,
            &[AuditEntry::new(
                Some(by),
                action,
                "group",
                group,
                serde_json::json!({"operator_id": operator}),
            )],
        )
        .await?;
        Ok(())
    })
    .await?;
    let members = groups::members(&mut conn, group).await?;
    state.router.do_send(ReloadTeam);
    Ok(HttpResponse::Ok().json(GroupMembers {
        group_id: group,
        members,
    }))
}
