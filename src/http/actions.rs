//! Actions on a conversation: take, assign, transfer, escalate, priority, resolve, reopen,
//! close, tags and notes. Each handler checks that its targets exist and may receive the
//! conversation, then asks the conversation's actor, which applies the rules and records it.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::AuthOperator;
use super::conversations::ask;
use super::json::Json;
use super::AppState;
use crate::actors::conversation::Ack;
use crate::actors::conversation::{Act, Action, By, PostMessage};
use crate::auth::OperatorIdentity;
use crate::db::{conversations, groups, operators};
use crate::domain::{EventKind, Priority};
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::{ConversationId, GroupId, OperatorId, TagId};
use crate::protocol::ConversationSummary;
use crate::validate;

async fn act(state: &AppState, id: ConversationId, action: Action) -> AppResult<HttpResponse> {
    let summary: ConversationSummary = ask(state, id, Act(action)).await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// A live operator who can be given a conversation: 422 (`operator_id`) unknown, 409 deleted.
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

/// A live group with members: 422 (`group_id`) unknown, 409 deleted or empty.
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
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/take",
    operation_id = "take_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation, now the caller's; taking one's own again changes nothing", body = ConversationSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The operator may not see this conversation (for an agent: one active with someone else)", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`not_pending`: resolved or closed", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/assign",
    operation_id = "assign_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "The conversation, now the operator's (an assignment record, a system event, an audit entry)", body = ConversationSummary),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`operator_deleted`; `already_assigned`: that operator has it; `conversation_closed`; `not_open`: resolved, reopen it first", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`operator_id` missing or no such operator", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn assign(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: Json<AssignRequest>,
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

/// Exactly one of the two: to an operator (active with them), or to a group (back in the
/// queue, routed by that group's strategy).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TransferRequest {
    pub operator_id: Option<OperatorId>,
    pub group_id: Option<GroupId>,
}

/// `POST /api/v1/conversations/{id}/transfer`
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/transfer",
    operation_id = "transfer_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = TransferRequest,
    responses(
        (status = 200, description = "The conversation: active with the operator, or pending in the group's queue", body = ConversationSummary),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Only the assignee, a supervisor or an admin", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`operator_deleted`, `group_deleted`, `group_empty` (no members); `already_assigned`: that operator has it; `conversation_closed`; `not_open`: resolved, reopen it first", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "Not exactly one of `operator_id` and `group_id` (named `operator_id`), or no such operator (`operator_id`) or group (`group_id`)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn transfer(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: Json<TransferRequest>,
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
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/escalate",
    operation_id = "escalate_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation one level up (L1 to L3) and one priority step up", body = ConversationSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Only the assignee, a supervisor or an admin", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`max_level`: already at L3; `conversation_closed`; `not_open`: resolved", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/priority",
    operation_id = "set_priority",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = PriorityRequest,
    responses(
        (status = 200, description = "The conversation with its new priority (unchanged if it already had it)", body = ConversationSummary),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Only the assignee, a supervisor or an admin", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`conversation_closed`; `not_open`: resolved", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`priority` missing or not `low`, `medium`, `high` or `urgent`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn priority(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: Json<PriorityRequest>,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    /// Lower-case letters, digits and `_` (1–40), e.g. `order`; null clears it.
    pub category: Option<String>,
}

/// `POST /api/v1/conversations/{id}/category`
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/category",
    operation_id = "set_category",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = CategoryRequest,
    responses(
        (status = 200, description = "The conversation with its new category (unchanged if it already had it)", body = ConversationSummary),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Only operators who may see the conversation", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`conversation_closed`", body = ApiError),
        (status = 422, description = "`category` not 1–40 of `a-z 0-9 _`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn category(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: Json<CategoryRequest>,
) -> AppResult<HttpResponse> {
    let category = body
        .category
        .as_deref()
        .map(crate::automation::templates::valid_category)
        .transpose()?;
    act(
        &state,
        *path,
        Action::SetCategory {
            by: auth.operator,
            category,
        },
    )
    .await
}

/// `POST /api/v1/conversations/{id}/resolve`
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/resolve",
    operation_id = "resolve_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation, now `resolved`", body = ConversationSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Only the assignee, a supervisor or an admin", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`already_resolved`; `conversation_closed`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    act(&state, *path, Action::Resolve(auth.operator)).await
}

/// `POST /api/v1/conversations/{id}/reopen`
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/reopen",
    operation_id = "reopen_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation, `active` again with the caller as assignee", body = ConversationSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Only the assignee, a supervisor or an admin", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`not_resolved`: only a resolved conversation reopens; `conversation_closed`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn reopen(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    act(&state, *path, Action::Reopen(auth.operator)).await
}

/// `POST /api/v1/conversations/{id}/close`
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/close",
    operation_id = "close_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation, now `closed` (final)", body = ConversationSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Only the assignee, a supervisor or an admin", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`already_closed`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/tags",
    operation_id = "tag_conversation",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = TagRequest,
    responses(
        (status = 200, description = "The conversation with the tag (unchanged if it had it)", body = ConversationSummary),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The operator may not see this conversation", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`tag_id`: neither `tag_id` nor `name` given, or no tag with that id; `name`: no tag with that name (or a name with a NUL character)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn add_tag(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: Json<TagRequest>,
) -> AppResult<HttpResponse> {
    // An unknown tag is blamed on the field that named it.
    let (found, field) = match (&body.tag_id, &body.name) {
        (Some(id), _) => {
            let mut conn = state.pool.get().await?;
            (conversations::tag_by_id(&mut conn, *id).await?, "tag_id")
        }
        (None, Some(name)) => {
            validate::text("name", name)?;
            let mut conn = state.pool.get().await?;
            (conversations::tag_by_name(&mut conn, name).await?, "name")
        }
        (None, None) => return Err(AppError::invalid("tag_id", "give tag_id or name")),
    };
    let (tag, name) = found.ok_or_else(|| AppError::invalid(field, "no such tag"))?;
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
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{id}/tags/{tag_id}",
    operation_id = "untag_conversation",
    tag = "actions",
    params(
        ("id" = ConversationId, Path, description = "Conversation id"),
        ("tag_id" = TagId, Path, description = "Tag id"),
    ),
    responses(
        (status = 200, description = "The conversation without the tag (unchanged if it did not have it)", body = ConversationSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The operator may not see this conversation", body = ApiError),
        (status = 404, description = "No such conversation (or an id that is not a UUID)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
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
    /// 1 to 64 characters, chosen by the sender; a retry with the same one is not stored twice.
    pub client_id: String,
    /// Not blank; at most `max_text_chars` characters. Never shown to the customer.
    pub text: String,
}

/// `POST /api/v1/conversations/{id}/notes` — an internal note, idempotent by `client_id`.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/notes",
    operation_id = "add_note",
    tag = "actions",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = NoteRequest,
    responses(
        (status = 201, description = "Stored; a retry with the same `client_id` gets the original ack", body = Ack),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The operator may not see this conversation", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`conversation_closed`", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`invalid_request` naming `client_id` or `text`; `too_long` for a `text` over `max_text_chars`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn note(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: Json<NoteRequest>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    let post = PostMessage {
        by: By::Operator(auth.operator),
        kind: EventKind::Note,
        client_id: body.client_id,
        text: body.text,
        data: None,
        origin: None,
    };
    let ack = ask(&state, *path, post).await?;
    Ok(HttpResponse::Created().json(ack))
}
