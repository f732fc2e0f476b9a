//! Actions on a conversation: take, assign, transfer, escalate, priority, resolve, reopen,
//! close, tags and notes. Each handler checks that its targets exist and may receive the
//! conversation, then asks the conversation's actor, which applies the rules and records it.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::AuthOperator;
use super::conversations::ask;
use super::AppState;
use crate::actors::conversation::{Act, Action, By, PostMessage};
use crate::auth::OperatorIdentity;
use crate::db::{conversations, groups, operators};
use crate::domain::{EventKind, Priority};
use crate::error::{AppError, AppResult};
use crate::ids::{ConversationId, GroupId, OperatorId, TagId};
use crate::protocol::ConversationSummary;

async fn act(state: &AppState, id: ConversationId, action: Action) -> AppResult<HttpResponse> {
    let summary: ConversationSummary = ask(state, id, Act(action)).await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// A live operator who can be given a conversation: 404 unknown, 409 deleted.
async fn target_operator(state: &AppState, id: OperatorId) -> AppResult<OperatorIdentity> {
    let mut conn = state.pool.get().await?;
    let row = operators::find(&mut conn, id).await.map_err(|e| match e {
        diesel::result::Error::NotFound => AppError::invalid("operator_id", "no such operator"),
        other => other.into(),
    })?;
    if row.deleted_at.is_some() {
        return Err(AppError::conflict(
            "operator_deleted",
            "that operator has been deleted",
        ));
    }
    Ok(OperatorIdentity::from(&row))
}

/// A live group with members: 404 unknown, 409 deleted or empty.
async fn target_group(state: &AppState, id: GroupId) -> AppResult<String> {
    let mut conn = state.pool.get().await?;
    let group = groups::find(&mut conn, id).await.map_err(|e| match e {
        diesel::result::Error::NotFound => AppError::invalid("group_id", "no such group"),
        other => other.into(),
    })?;
    if group.deleted_at.is_some() {
        return Err(AppError::conflict(
            "group_deleted",
            "that group has been deleted",
        ));
    }
    if groups::members(&mut conn, id).await?.is_empty() {
        return Err(AppError::conflict(
            "group_empty",
            "that group has no operators",
        ));
    }
    Ok(group.name)
}

/// `POST /api/v1/conversations/{id}/take`
pub async fn take(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    act(&state, *path, Action::Take(auth.operator)).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignRequest {
    pub operator_id: OperatorId,
}

/// `POST /api/v1/conversations/{id}/assign` (supervisors and admins)
pub async fn assign(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: web::Json<AssignRequest>,
) -> AppResult<HttpResponse> {
    if !auth.operator.role.sees_all() {
        return Err(AppError::Forbidden(
            "assigning needs the supervisor role".into(),
        ));
    }
    let to = target_operator(&state, body.operator_id).await?;
    act(
        &state,
        *path,
        Action::Assign {
            by: auth.operator,
            to,
        },
    )
    .await
}

/// Exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TransferRequest {
    pub operator_id: Option<OperatorId>,
    pub group_id: Option<GroupId>,
}

/// `POST /api/v1/conversations/{id}/transfer`
pub async fn transfer(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: web::Json<TransferRequest>,
) -> AppResult<HttpResponse> {
    let action = match (body.operator_id, body.group_id) {
        (Some(op), None) => Action::TransferToOperator {
            by: auth.operator,
            to: target_operator(&state, op).await?,
        },
        (None, Some(group)) => {
            let name = target_group(&state, group).await?;
            Action::TransferToGroup {
                by: auth.operator,
                group,
                name,
            }
        }
        _ => {
            return Err(AppError::invalid(
                "operator_id",
                "give exactly one of operator_id and group_id",
            ))
        }
    };
    act(&state, *path, action).await
}

/// `POST /api/v1/conversations/{id}/escalate`
pub async fn escalate(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    act(&state, *path, Action::Escalate(auth.operator)).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PriorityRequest {
    pub priority: Priority,
}

/// `POST /api/v1/conversations/{id}/priority`
pub async fn priority(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: web::Json<PriorityRequest>,
) -> AppResult<HttpResponse> {
    act(
        &state,
        *path,
        Action::SetPriority {
            by: auth.operator,
            priority: body.priority,
        },
    )
    .await
}

/// `POST /api/v1/conversations/{id}/resolve`
pub async fn resolve(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    act(&state, *path, Action::Resolve(auth.operator)).await
}

/// `POST /api/v1/conversations/{id}/reopen`
pub async fn reopen(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    act(&state, *path, Action::Reopen(auth.operator)).await
}

/// `POST /api/v1/conversations/{id}/close`
pub async fn close(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    act(&state, *path, Action::Close(auth.operator)).await
}

/// A tag by id or by name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TagRequest {
    pub tag_id: Option<TagId>,
    pub name: Option<String>,
}

/// `POST /api/v1/conversations/{id}/tags`
pub async fn add_tag(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: web::Json<TagRequest>,
) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let found = match (&body.tag_id, &body.name) {
        (Some(id), _) => conversations::tag_by_id(&mut conn, *id).await?,
        (None, Some(name)) => conversations::tag_by_name(&mut conn, name).await?,
        (None, None) => return Err(AppError::invalid("tag_id", "give tag_id or name")),
    };
    drop(conn);
    let (tag, name) = found.ok_or_else(|| AppError::invalid("tag_id", "no such tag"))?;
    act(
        &state,
        *path,
        Action::AddTag {
            by: auth.operator,
            tag,
            name,
        },
    )
    .await
}

/// `DELETE /api/v1/conversations/{id}/tags/{tag_id}`
pub async fn remove_tag(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<(ConversationId, TagId)>,
) -> AppResult<HttpResponse> {
    let (id, tag) = path.into_inner();
    act(
        &state,
        id,
        Action::RemoveTag {
            by: auth.operator,
            tag,
        },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteRequest {
    pub client_id: String,
    pub text: String,
}

/// `POST /api/v1/conversations/{id}/notes` — an internal note, idempotent by `client_id`.
pub async fn note(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: web::Json<NoteRequest>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    let post = PostMessage {
        by: By::Operator(auth.operator),
        kind: EventKind::Note,
        client_id: body.client_id,
        text: body.text,
        origin: None,
    };
    let ack = ask(&state, *path, post).await?;
    Ok(HttpResponse::Created().json(ack))
}
