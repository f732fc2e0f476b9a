//! The team: operators (admin CRUD, soft delete and restore, passwords, session revocation)
//! and each operator's own status. Every change is audited and told to the router.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::AuthOperator;
use super::json::Json;
use super::AppState;
use crate::actors::router::{OperatorUpdated, Presences, Revoked, RevokedTokens, SetPresence};
use crate::auth::{
    create_operator, hash_password, verify_password, OperatorIdentity, OperatorInput,
    MIN_PASSWORD_CHARS,
};
use crate::db::audit::{self, AuditEntry};
use crate::db::operators::{self, OperatorChanges, OperatorRow};
use crate::db::{groups, sessions};
use crate::domain::{Presence, Role};
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::{GroupId, OperatorId};

/// An operator as the API shows them (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorOut {
    pub id: OperatorId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub tier: i16,
    pub max_concurrent: i32,
    pub accepting: bool,
    /// Live presence: `offline` unless a socket is open.
    pub status: Presence,
    /// Conversations assigned and active now.
    pub load: u32,
    pub groups: Vec<GroupId>,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    /// A Telegram account is linked (`/link` in the bot): they can answer from the support group.
    pub telegram_linked: bool,
}

fn out(row: &OperatorRow, live: Option<(Presence, u32)>, groups: Vec<GroupId>) -> OperatorOut {
    let (status, load) = live.unwrap_or((Presence::Offline, 0));
    OperatorOut {
        id: row.id,
        email: row.email.clone(),
        name: row.name.clone(),
        role: row.role,
        tier: row.tier,
        max_concurrent: row.max_concurrent,
        accepting: row.accepting,
        status,
        load,
        groups,
        deleted: row.deleted_at.is_some(),
        created_at: row.created_at,
        telegram_linked: false,
    }
}

/// The only unique column an operator change can clash on is the email.
fn email_taken(e: AppError) -> AppError {
    match e {
        AppError::Conflict {
            code: "conflict", ..
        } => AppError::conflict("email_taken", "an operator with this email exists"),
        other => other,
    }
}

async fn presences(state: &AppState) -> HashMap<OperatorId, (Presence, u32)> {
    state.router.send(Presences).await.unwrap_or_default()
}

async fn find(
    conn: &mut diesel_async::AsyncPgConnection,
    id: OperatorId,
) -> AppResult<OperatorRow> {
    operators::find(conn, id).await.map_err(|e| match e {
        diesel::result::Error::NotFound => AppError::not_found("operator"),
        other => other.into(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include deleted operators (admins only).
    #[serde(default)]
    pub include_deleted: bool,
}

/// `GET /api/v1/operators` (supervisors and admins)
#[utoipa::path(
    get,
    path = "/api/v1/operators",
    operation_id = "list_operators",
    tag = "operators",
    params(ListQuery),
    responses(
        (status = 200, description = "Every operator with live status and load, by name", body = Vec<OperatorOut>),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthOperator,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Supervisor)?;
    let include_deleted = query.include_deleted && auth.operator.role == Role::Admin;
    let mut conn = state.pool.get().await?;
    let rows = operators::list(&mut conn, include_deleted).await?;
    let mut membership: HashMap<OperatorId, Vec<GroupId>> = HashMap::new();
    for (group, op) in groups::all_memberships(&mut conn).await? {
        membership.entry(op).or_default().push(group);
    }
    let linked = crate::telegram::store::linked_operators(&mut conn).await?;
    drop(conn);
    let live = presences(&state).await;
    let items: Vec<OperatorOut> = rows
        .iter()
        .map(|r| {
            let mut item = out(
                r,
                live.get(&r.id).copied(),
                membership.remove(&r.id).unwrap_or_default(),
            );
            item.telegram_linked = linked.contains(&r.id);
            item
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

/// `GET /api/v1/operators/{id}` (supervisors and admins, or oneself)
#[utoipa::path(
    get,
    path = "/api/v1/operators/{id}",
    operation_id = "get_operator",
    tag = "operators",
    params(("id" = OperatorId, Path, description = "Operator id")),
    responses(
        (status = 200, description = "The operator", body = OperatorOut),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Agents may only read themselves", body = ApiError),
        (status = 404, description = "No such operator", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<OperatorId>,
) -> AppResult<HttpResponse> {
    if *path != auth.operator.id {
        auth.require(Role::Supervisor)?;
    }
    let conn = state.pool.get().await?;
    Ok(HttpResponse::Ok().json(one(&state, conn, *path).await?))
}

/// An operator with their groups, live presence and Telegram link.
async fn one(
    state: &AppState,
    mut conn: crate::db::DbConn,
    id: OperatorId,
) -> AppResult<OperatorOut> {
    let row = find(&mut conn, id).await?;
    let member_of = groups::groups_of(&mut conn, row.id).await?;
    let linked = crate::telegram::store::is_linked(&mut conn, row.id).await?;
    drop(conn);
    let live = presences(state).await;
    let mut item = out(&row, live.get(&row.id).copied(), member_of);
    item.telegram_linked = linked;
    Ok(item)
}

/// `GET /api/v1/operators/me`
#[utoipa::path(
    get,
    path = "/api/v1/operators/me",
    operation_id = "get_operator_me",
    tag = "operators",
    responses(
        (status = 200, description = "The signed-in operator, with `telegram_linked`", body = OperatorOut),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn me(state: web::Data<AppState>, auth: AuthOperator) -> AppResult<HttpResponse> {
    let conn = state.pool.get().await?;
    Ok(HttpResponse::Ok().json(one(&state, conn, auth.operator.id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOperatorRequest {
    /// The login; unique ignoring case.
    pub email: String,
    /// 1 to 100 characters.
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    pub role: Role,
    /// 1 to 3 (L1 to L3), default 1; urgent and escalated conversations go to the highest
    /// tier available.
    #[serde(default = "default_tier")]
    pub tier: i16,
    /// 0 to 100, default 5: how many active conversations routing gives them at most.
    #[serde(default = "default_capacity")]
    pub max_concurrent: i32,
}

fn default_tier() -> i16 {
    1
}

fn default_capacity() -> i32 {
    5
}

/// `POST /api/v1/operators` (admins)
#[utoipa::path(
    post,
    path = "/api/v1/operators",
    operation_id = "create_operator",
    tag = "operators",
    request_body = NewOperatorRequest,
    responses(
        (status = 201, description = "Created, and a member of the default group", body = OperatorOut),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 409, description = "`email_taken`; `conflict` when a deleted operator has the email", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "Invalid `email`, `name`, `password`, `role`, `tier` or `max_concurrent`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthOperator,
    body: Json<NewOperatorRequest>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let body = body.into_inner();
    let mut conn = state.pool.get().await?;
    let input = OperatorInput {
        email: &body.email,
        name: &body.name,
        role: body.role,
        password: &body.password,
        tier: body.tier,
        max_concurrent: body.max_concurrent,
    };
    let by = auth.operator.id;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let row = create_operator(conn, &input).await?;
            let details = serde_json::json!({"email": row.email, "role": row.role});
            audit::record(
                conn,
                &[AuditEntry::new(
                    Some(by),
                    "operator.create",
                    "operator",
                    row.id,
                    details,
                )],
            )
            .await?;
            Ok(row)
        })
        .await?;
    let member_of = groups::groups_of(&mut conn, row.id).await?;
    Ok(HttpResponse::Created().json(out(&row, None, member_of)))
}

/// Only the fields present change.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OperatorPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub tier: Option<i16>,
    pub max_concurrent: Option<i32>,
    /// `false`: routing gives them nothing new, though they may still take conversations.
    pub accepting: Option<bool>,
}

impl OperatorPatch {
    fn validate(&self) -> AppResult<()> {
        crate::validate::opt_text("email", self.email.as_deref())?;
        crate::validate::opt_text("name", self.name.as_deref())?;
        if let Some(email) = &self.email {
            if !email.contains('@') || email.len() > 254 {
                return Err(AppError::invalid(
                    "email",
                    "a valid email address is required",
                ));
            }
        }
        if self
            .name
            .as_ref()
            .is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100)
        {
            return Err(AppError::invalid(
                "name",
                "name must be 1 to 100 characters",
            ));
        }
        if self.tier.is_some_and(|t| !(1..=3).contains(&t)) {
            return Err(AppError::invalid("tier", "tier must be 1, 2 or 3"));
        }
        if self.max_concurrent.is_some_and(|m| !(0..=100).contains(&m)) {
            return Err(AppError::invalid(
                "max_concurrent",
                "max_concurrent must be 0 to 100",
            ));
        }
        Ok(())
    }
}

/// Applies changes to an operator, audits them and tells the router, in that order.
async fn change(
    state: &AppState,
    by: OperatorId,
    id: OperatorId,
    action: &str,
    changes: OperatorChanges,
    details: serde_json::Value,
) -> AppResult<OperatorRow> {
    let mut conn = state.pool.get().await?;
    find(&mut conn, id).await?;
    let row = conn
        .transaction::<_, AppError, _>(async |conn| {
            let row = operators::update(conn, id, &changes).await?;
            audit::record(
                conn,
                &[AuditEntry::new(Some(by), action, "operator", id, details)],
            )
            .await?;
            Ok(row)
        })
        .await
        .map_err(email_taken)?;
    // Awaited: the sockets are told before the client hears that it is done.
    let _ = state
        .router
        .send(OperatorUpdated {
            operator: OperatorIdentity::from(&row),
            deleted: row.deleted_at.is_some(),
        })
        .await;
    Ok(row)
}

/// `PATCH /api/v1/operators/{id}` (admins)
#[utoipa::path(
    patch,
    path = "/api/v1/operators/{id}",
    operation_id = "update_operator",
    tag = "operators",
    params(("id" = OperatorId, Path, description = "Operator id")),
    request_body = OperatorPatch,
    responses(
        (status = 200, description = "The operator after the change", body = OperatorOut),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such operator", body = ApiError),
        (status = 409, description = "`conflict`: another operator has the email", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "Invalid `email`, `name`, `role`, `tier`, `max_concurrent` or `accepting`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<OperatorId>,
    body: Json<OperatorPatch>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let patch = body.into_inner();
    let details = serde_json::json!({
        "email": patch.email, "name": patch.name, "role": patch.role, "tier": patch.tier,
        "max_concurrent": patch.max_concurrent, "accepting": patch.accepting,
    });
    let changes = OperatorChanges {
        email: patch.email.map(|e| e.trim().to_owned()),
        name: patch.name.map(|n| n.trim().to_owned()),
        role: patch.role,
        tier: patch.tier,
        max_concurrent: patch.max_concurrent,
        accepting: patch.accepting,
        updated_at: Some(Utc::now()),
        ..OperatorChanges::default()
    };
    let row = change(
        &state,
        auth.operator.id,
        *path,
        "operator.update",
        changes,
        details,
    )
    .await?;
    let member_of = groups::groups_of(&mut *state.pool.get().await?, row.id).await?;
    let live = presences(&state).await;
    Ok(HttpResponse::Ok().json(out(&row, live.get(&row.id).copied(), member_of)))
}

/// `DELETE /api/v1/operators/{id}` (admins): a soft delete; sessions are revoked and open
/// conversations go back to the queue.
#[utoipa::path(
    delete,
    path = "/api/v1/operators/{id}",
    operation_id = "delete_operator",
    tag = "operators",
    params(("id" = OperatorId, Path, description = "Operator id")),
    responses(
        (status = 204, description = "Deleted (soft): signed out everywhere, open conversations back to the queue"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such operator", body = ApiError),
        (status = 409, description = "`cannot_delete_self`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<OperatorId>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    if *path == auth.operator.id {
        return Err(AppError::conflict(
            "cannot_delete_self",
            "you cannot delete yourself",
        ));
    }
    let now = Utc::now();
    let changes = OperatorChanges {
        deleted_at: Some(Some(now)),
        updated_at: Some(now),
        ..OperatorChanges::default()
    };
    change(
        &state,
        auth.operator.id,
        *path,
        "operator.delete",
        changes,
        serde_json::json!({}),
    )
    .await?;
    sessions::revoke_all(&mut *state.pool.get().await?, *path, None, now).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/operators/{id}/restore` (admins)
#[utoipa::path(
    post,
    path = "/api/v1/operators/{id}/restore",
    operation_id = "restore_operator",
    tag = "operators",
    params(("id" = OperatorId, Path, description = "Operator id")),
    responses(
        (status = 200, description = "The operator, live again", body = OperatorOut),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such operator", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn restore(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<OperatorId>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let changes = OperatorChanges {
        deleted_at: Some(None),
        updated_at: Some(Utc::now()),
        ..OperatorChanges::default()
    };
    let row = change(
        &state,
        auth.operator.id,
        *path,
        "operator.restore",
        changes,
        serde_json::json!({}),
    )
    .await?;
    let member_of = groups::groups_of(&mut *state.pool.get().await?, row.id).await?;
    let live = presences(&state).await;
    Ok(HttpResponse::Ok().json(out(&row, live.get(&row.id).copied(), member_of)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// Required when changing one's own password.
    pub current_password: Option<String>,
    /// At least 8 characters.
    pub new_password: String,
}

/// `POST /api/v1/operators/{id}/password` — oneself (with the current password) or an admin.
/// Every other session of that operator is signed out.
#[utoipa::path(
    post,
    path = "/api/v1/operators/{id}/password",
    operation_id = "change_password",
    tag = "operators",
    params(("id" = OperatorId, Path, description = "Operator id")),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session of the operator is signed out (all of them when an admin changes another's)"),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Another operator's password: admins only", body = ApiError),
        (status = 404, description = "No such operator", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`new_password` too short, or `current_password` wrong or missing (one's own)", body = ApiError),
        (status = 429, description = "`rate_limited`: five wrong current passwords for this operator; the check is refused for 15 minutes after the last (`Retry-After` gives the seconds)", body = ApiError,
            headers(("Retry-After" = u64, description = "Seconds until the current password is checked again"))),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn password(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<OperatorId>,
    body: Json<PasswordChange>,
) -> AppResult<HttpResponse> {
    let own = *path == auth.operator.id;
    if !own {
        auth.require(Role::Admin)?;
    }
    let body = body.into_inner();
    if body.new_password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            "new_password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    let mut conn = state.pool.get().await?;
    let row = find(&mut conn, *path).await?;
    if own {
        // A stolen session must not be a way to guess the password at leisure.
        state
            .password_backoff
            .charge(row.id, state.clock.now())
            .map_err(AppError::RateLimited)?;
        let current = body.current_password.clone().unwrap_or_default();
        let hash = row.password_hash.clone();
        let valid = web::block(move || verify_password(&current, &hash))
            .await
            .map_err(|_| AppError::Internal)?;
        if !valid {
            return Err(AppError::invalid(
                "current_password",
                "the current password is wrong",
            ));
        }
        state.password_backoff.clear(&row.id);
    }
    let new_password = body.new_password;
    let hash = web::block(move || hash_password(&new_password))
        .await
        .map_err(|_| AppError::Internal)??;
    drop(conn);
    let changes = OperatorChanges {
        password_hash: Some(hash),
        updated_at: Some(Utc::now()),
        ..OperatorChanges::default()
    };
    change(
        &state,
        auth.operator.id,
        *path,
        "operator.password",
        changes,
        serde_json::json!({}),
    )
    .await?;
    let keep = own.then_some(auth.token_hash.as_slice());
    let mut conn = state.pool.get().await?;
    sessions::revoke_all(&mut conn, *path, keep, Utc::now()).await?;
    let tokens = match keep {
        Some(own) => RevokedTokens::AllBut(own.to_vec()),
        None => RevokedTokens::All,
    };
    // Awaited: the sockets are told before the client hears that it is done.
    let _ = state
        .router
        .send(Revoked {
            operator: *path,
            tokens,
        })
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/operators/{id}/revoke-sessions` (admins): signs the operator out everywhere.
#[utoipa::path(
    post,
    path = "/api/v1/operators/{id}/revoke-sessions",
    operation_id = "revoke_sessions",
    tag = "operators",
    params(("id" = OperatorId, Path, description = "Operator id")),
    responses(
        (status = 200, description = "Signed out everywhere", body = RevokedSessions),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such operator", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_sessions(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<OperatorId>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let mut conn = state.pool.get().await?;
    find(&mut conn, *path).await?;
    let by = auth.operator.id;
    let id = *path;
    let revoked = conn
        .transaction::<_, AppError, _>(async |conn| {
            let n = sessions::revoke_all(conn, id, None, Utc::now()).await?;
            audit::record(
                conn,
                &[AuditEntry::new(
                    Some(by),
                    "operator.revoke_sessions",
                    "operator",
                    id,
                    serde_json::json!({"revoked": n}),
                )],
            )
            .await?;
            Ok(n)
        })
        .await?;
    // Awaited: the sockets are told before the client hears that it is done.
    let _ = state
        .router
        .send(Revoked {
            operator: id,
            tokens: RevokedTokens::All,
        })
        .await;
    Ok(HttpResponse::Ok().json(RevokedSessions { revoked }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessions {
    /// How many sessions were still valid.
    pub revoked: usize,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusRequest {
    pub status: Presence,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    pub status: Presence,
}

/// `PUT /api/v1/operators/me/status` — online, busy, away (or offline: stop receiving chats).
#[utoipa::path(
    put,
    path = "/api/v1/operators/me/status",
    operation_id = "set_my_status",
    tag = "operators",
    request_body = StatusRequest,
    responses(
        (status = 200, description = "The status now set", body = StatusResponse),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`status` missing or not `online`, `busy`, `away` or `offline`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn set_status(
    state: web::Data<AppState>,
    auth: AuthOperator,
    body: Json<StatusRequest>,
) -> AppResult<HttpResponse> {
    let id = auth.operator.id;
    let changes = OperatorChanges {
        status: Some(body.status.as_str().to_owned()),
        ..OperatorChanges::default()
    };
    let details = serde_json::json!({ "status": body.status });
    change(&state, id, id, "operator.status", changes, details).await?;
    state.router.do_send(SetPresence {
        operator: id,
        presence: body.status,
    });
    Ok(HttpResponse::Ok().json(StatusResponse {
        status: body.status,
    }))
}
