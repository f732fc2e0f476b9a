//! Automation settings: offline auto-reply templates (`/auto-replies`), escalation rules
//! (`/settings/escalation`) and groups' business hours (`/groups/{id}/business-hours`).
//! Supervisors and admins read them; admins change them, each change audited. Conversations
//! use a change from their next message on.

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::AuthOperator;
use super::content::db_errors::{clash, missing};
use super::json::Json;
use super::AppState;
use crate::automation::hours::{BusinessHours, Schedule};
use crate::automation::rules::EscalationRules;
use crate::automation::templates::{self, AutoReplyBody, AutoReplyRow};
use crate::db::audit::{self, AuditEntry};
use crate::db::schema::groups;
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::GroupId;

const CATEGORY_EXISTS: &str = "an auto-reply with this category exists";

#[derive(Debug, Serialize, ToSchema)]
pub struct AutoReplyList {
    /// By category, fallbacks last.
    pub items: Vec<AutoReplyRow>,
}

fn audited(
    by: crate::ids::OperatorId,
    action: &str,
    id: Uuid,
    details: serde_json::Value,
) -> AuditEntry {
    AuditEntry::new(Some(by), action, "auto_reply", id, details)
}

/// The change is stored: a failure to re-read the templates is logged, not the caller's.
async fn reload_templates(state: &AppState, conn: &mut diesel_async::AsyncPgConnection) {
    let _serial = state.automation.reloading().await;
    if let Err(e) = state.automation.reload_templates(conn).await {
        tracing::warn!(error = %e, "auto-reply templates not reloaded");
    }
}

/// `GET /api/v1/auto-replies` (supervisors and admins)
#[utoipa::path(
    get,
    path = "/api/v1/auto-replies",
    tag = "automation",
    responses(
        (status = 200, description = "Every template, active or not", body = AutoReplyList),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, auth: AuthOperator) -> AppResult<HttpResponse> {
    auth.require(Role::Supervisor)?;
    let mut conn = state.pool.get().await?;
    let items = templates::list(&mut conn).await?;
    Ok(HttpResponse::Ok().json(AutoReplyList { items }))
}

/// `GET /api/v1/auto-replies/{id}` (supervisors and admins)
#[utoipa::path(
    get,
    path = "/api/v1/auto-replies/{id}",
    tag = "automation",
    params(("id" = Uuid, Path, description = "Template id")),
    responses(
        (status = 200, description = "The template", body = AutoReplyRow),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
        (status = 404, description = "No such template", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Supervisor)?;
    let mut conn = state.pool.get().await?;
    let row = templates::get(&mut conn, *path)
        .await
        .map_err(missing("auto-reply"))?;
    Ok(HttpResponse::Ok().json(row))
}

/// `POST /api/v1/auto-replies` (admin)
#[utoipa::path(
    post,
    path = "/api/v1/auto-replies",
    tag = "automation",
    request_body = AutoReplyBody,
    responses(
        (status = 201, description = "Created", body = AutoReplyRow),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 409, description = "`category_exists`", body = ApiError),
        (status = 413, description = "`too_long`: a reply over 2000 characters", body = ApiError),
        (status = 422, description = "Invalid `category`, `keywords` or `replies`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthOperator,
    body: Json<AutoReplyBody>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let row = templates::insert(conn, &body)
                .await
                .map_err(clash("category_exists", CATEGORY_EXISTS))?;
            let entry = audited(
                by,
                "auto_reply.create",
                row.id,
                json!({"category": row.category}),
            );
            audit::record(conn, &[entry]).await?;
            Ok(row)
        })
        .await?;
    reload_templates(&state, &mut conn).await;
    Ok(HttpResponse::Created().json(row))
}

/// `PUT /api/v1/auto-replies/{id}` (admin): the template as given replaces the stored one.
#[utoipa::path(
    put,
    path = "/api/v1/auto-replies/{id}",
    tag = "automation",
    params(("id" = Uuid, Path, description = "Template id")),
    request_body = AutoReplyBody,
    responses(
        (status = 200, description = "The template after the change", body = AutoReplyRow),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such template", body = ApiError),
        (status = 409, description = "`category_exists`", body = ApiError),
        (status = 413, description = "`too_long`: a reply over 2000 characters", body = ApiError),
        (status = 422, description = "Invalid `category`, `keywords` or `replies`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<Uuid>,
    body: Json<AutoReplyBody>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let (by, id) = (auth.operator.id, *path);
    let mut conn = state.pool.get().await?;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let row = templates::update(conn, id, &body)
                .await
                .map_err(|e| match e {
                    diesel::result::Error::NotFound => AppError::not_found("auto-reply"),
                    other => clash("category_exists", CATEGORY_EXISTS)(other),
                })?;
            let entry = audited(
                by,
                "auto_reply.update",
                row.id,
                json!({"category": row.category, "active": row.active}),
            );
            audit::record(conn, &[entry]).await?;
            Ok(row)
        })
        .await?;
    reload_templates(&state, &mut conn).await;
    Ok(HttpResponse::Ok().json(row))
}

/// `DELETE /api/v1/auto-replies/{id}` (admin)
#[utoipa::path(
    delete,
    path = "/api/v1/auto-replies/{id}",
    tag = "automation",
    params(("id" = Uuid, Path, description = "Template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such template", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let (by, id) = (auth.operator.id, *path);
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        if !templates::delete(conn, id).await? {
            return Err(AppError::not_found("auto-reply"));
        }
        audit::record(conn, &[audited(by, "auto_reply.delete", id, json!({}))]).await?;
        Ok(())
    })
    .await?;
    reload_templates(&state, &mut conn).await;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/settings/escalation` (supervisors and admins)
#[utoipa::path(
    get,
    path = "/api/v1/settings/escalation",
    tag = "automation",
    responses(
        (status = 200, description = "The escalation rules in force", body = EscalationRules),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get_escalation(
    state: web::Data<AppState>,
    auth: AuthOperator,
) -> AppResult<HttpResponse> {
    auth.require(Role::Supervisor)?;
    Ok(HttpResponse::Ok().json(&state.automation.rules().0))
}

/// `PUT /api/v1/settings/escalation` (admin): every field is given.
#[utoipa::path(
    put,
    path = "/api/v1/settings/escalation",
    tag = "automation",
    request_body = EscalationRules,
    responses(
        (status = 200, description = "The rules now in force", body = EscalationRules),
        (status = 400, description = "Malformed body or a field missing", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 422, description = "A keyword or a limit out of range", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn put_escalation(
    state: web::Data<AppState>,
    auth: AuthOperator,
    body: Json<EscalationRules>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let rules = body.into_inner();
    let by = auth.operator.id;
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        crate::automation::save_rules(conn, &rules).await?;
        let details = serde_json::to_value(&rules).unwrap_or_default();
        let entry = AuditEntry::new(
            Some(by),
            "settings.escalation",
            "settings",
            Uuid::nil(),
            details,
        );
        audit::record(conn, &[entry]).await?;
        Ok(())
    })
    .await?;
    state.automation.set_rules(rules.clone());
    Ok(HttpResponse::Ok().json(rules))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BusinessHoursView {
    /// Null: the group is always open.
    pub business_hours: Option<BusinessHours>,
    /// Whether the group is open now.
    pub open_now: bool,
}

async fn group_hours(
    conn: &mut diesel_async::AsyncPgConnection,
    id: GroupId,
) -> AppResult<Option<serde_json::Value>> {
    groups::table
        .find(id)
        .filter(groups::deleted_at.is_null())
        .select(groups::business_hours)
        .first(conn)
        .await
        .map_err(missing("group"))
}

fn view(state: &AppState, stored: Option<serde_json::Value>) -> BusinessHoursView {
    let business_hours: Option<BusinessHours> = stored.and_then(|v| serde_json::from_value(v).ok());
    let open_now = business_hours
        .as_ref()
        .and_then(|h| Schedule::parse(h).ok())
        .is_none_or(|s| s.is_open(state.clock.now()));
    BusinessHoursView {
        business_hours,
        open_now,
    }
}

/// `GET /api/v1/groups/{id}/business-hours`
#[utoipa::path(
    get,
    path = "/api/v1/groups/{id}/business-hours",
    tag = "automation",
    params(("id" = GroupId, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group's weekly schedule", body = BusinessHoursView),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 404, description = "No such group", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get_hours(
    state: web::Data<AppState>,
    _auth: AuthOperator,
    path: web::Path<GroupId>,
) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let stored = group_hours(&mut conn, *path).await?;
    Ok(HttpResponse::Ok().json(view(&state, stored)))
}

/// `PUT /api/v1/groups/{id}/business-hours` (admin); `DELETE` makes the group always open.
#[utoipa::path(
    put,
    path = "/api/v1/groups/{id}/business-hours",
    tag = "automation",
    params(("id" = GroupId, Path, description = "Group id")),
    request_body = BusinessHours,
    responses(
        (status = 200, description = "The schedule now in force", body = BusinessHoursView),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such group", body = ApiError),
        (status = 422, description = "An unknown time zone or day, a bad time, overlapping intervals", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn put_hours(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<GroupId>,
    body: Json<BusinessHours>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    Schedule::parse(&body)?;
    let value = serde_json::to_value(&*body).unwrap_or_default();
    set_hours(&state, auth.operator.id, *path, Some(value)).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/groups/{id}/business-hours",
    tag = "automation",
    params(("id" = GroupId, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group is always open", body = BusinessHoursView),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such group", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn delete_hours(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<GroupId>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    set_hours(&state, auth.operator.id, *path, None).await
}

async fn set_hours(
    state: &AppState,
    by: crate::ids::OperatorId,
    id: GroupId,
    value: Option<serde_json::Value>,
) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let n = diesel::update(groups::table.find(id).filter(groups::deleted_at.is_null()))
            .set(groups::business_hours.eq(&value))
            .execute(conn)
            .await?;
        if n == 0 {
            return Err(AppError::not_found("group"));
        }
        let details = json!({"business_hours": value});
        let entry = AuditEntry::new(Some(by), "group.business_hours", "group", id, details);
        audit::record(conn, &[entry]).await?;
        Ok(())
    })
    .await?;
    let _serial = state.automation.reloading().await;
    if let Err(e) = state.automation.reload_hours(&mut conn).await {
        // Stored: the next change reloads it, and a restart reads it.
        tracing::warn!(error = %e, "business hours not reloaded");
    }
    Ok(HttpResponse::Ok().json(view(state, value)))
}
