//! Operator endpoints over conversations: lists and history are read-only queries; messages
//! and actions are requests to the conversation's actor.

use actix::dev::ToEnvelope;
use actix::{Handler, Message};
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::AuthOperator;
use super::json::Json;
use super::widget::{HistoryQuery, Page};
use super::AppState;
use crate::actors::conversation::{Ack, By, Conversation, PostMessage};
use crate::auth::OperatorIdentity;
use crate::db::conversations::{self, ListCursor, ListFilter, Visibility};
use crate::db::events::{self, EventRow};
use crate::domain::{Author, EventKind};
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::{ConversationId, OperatorId, TagId};
use crate::protocol::ConversationSummary;

fn visibility(op: &OperatorIdentity) -> Visibility {
    if op.role.sees_all() {
        Visibility::All
    } else {
        Visibility::Agent(op.id)
    }
}

/// Sends `msg` to the conversation's actor, once more if the actor stopped in between.
pub(super) async fn ask<M, R>(state: &AppState, id: ConversationId, msg: M) -> AppResult<R>
where
    M: Message<Result = AppResult<R>> + Clone + Send + 'static,
    R: Send + 'static,
    Conversation: Handler<M>,
    <Conversation as actix::Actor>::Context: ToEnvelope<Conversation, M>,
{
    match state.registry.get_or_start(id).send(msg.clone()).await {
        Ok(result) => result,
        Err(_) => state.registry.get_or_start(id).send(msg).await?,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `pending`, `active`, `resolved` or `closed`.
    pub status: Option<String>,
    /// An operator id, `me`, or `none` (waiting for an operator).
    pub assignee: Option<String>,
    /// `low`, `medium`, `high` or `urgent`.
    pub priority: Option<String>,
    /// `web` or `telegram`.
    pub channel: Option<String>,
    /// A tag id: only conversations carrying that tag.
    pub tag: Option<String>,
    /// Only conversations of this category (`order`, `payment`, ...).
    pub category: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
}

fn encode_cursor(c: &ListCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", c.created_at.timestamp_micros(), c.id))
}

fn decode_cursor(raw: &str) -> AppResult<ListCursor> {
    let bad = || AppError::invalid("cursor", "cursor is not one this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (micros, id) = text.split_once('|').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    Ok(ListCursor {
        created_at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// `GET /api/v1/conversations?status=&assignee=&priority=&channel=&tag=&cursor=&limit=`
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    operation_id = "list_conversations",
    tag = "conversations",
    params(ListQuery),
    responses(
        (status = 200, description = "Newest first; agents see pending conversations and their own, supervisors and admins all. Pass `next` as `cursor`", body = Page<ConversationSummary>),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 422, description = "Invalid `status`, `assignee`, `priority`, `channel`, `tag`, `cursor` or `limit`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthOperator,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let limit = match query.limit {
        None => 50,
        Some(n) if (1..=100).contains(&n) => n,
        Some(_) => return Err(AppError::invalid("limit", "limit must be 1 to 100")),
    };
    let mut filter = ListFilter {
        status: parse_param(&query.status, "status")?,
        priority: parse_param(&query.priority, "priority")?,
        channel: parse_param(&query.channel, "channel")?,
        category: query
            .category
            .as_deref()
            .map(crate::automation::templates::valid_category)
            .transpose()?,
        ..ListFilter::default()
    };
    match query.assignee.as_deref() {
        None => {}
        Some("me") => filter.assignee = Some(auth.operator.id),
        Some("none") => filter.unassigned = true,
        Some(id) => {
            filter.assignee = Some(id.parse::<OperatorId>().map_err(|_| {
                AppError::invalid(
                    "assignee",
                    "assignee must be an operator id, 'me' or 'none'",
                )
            })?)
        }
    }
    filter.tag = query
        .tag
        .as_deref()
        .map(|t| t.parse::<TagId>())
        .transpose()
        .map_err(|_| AppError::invalid("tag", "tag must be a tag id"))?;
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut conn = state.pool.get().await?;
    let rows = conversations::list(
        &mut conn,
        visibility(&auth.operator),
        &filter,
        cursor,
        limit,
    )
    .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| {
            rows.last().map(|(r, _)| {
                encode_cursor(&ListCursor {
                    created_at: r.created_at,
                    id: r.id,
                })
            })
        })
        .flatten();
    let items = conversations::summaries(&mut conn, &rows).await?;
    Ok(HttpResponse::Ok().json(Page { items, next }))
}

/// An optional query parameter of a `text_enum!` type; a wrong value is a 422 naming it.
fn parse_param<T>(raw: &Option<String>, field: &str) -> AppResult<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.as_deref()
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| AppError::invalid(field, e.to_string()))
}

/// Loads a conversation the operator may see: 404 if it does not exist, 403 if hidden.
async fn visible(
    state: &AppState,
    op: &OperatorIdentity,
    id: ConversationId,
) -> AppResult<ConversationSummary> {
    let mut conn = state.pool.get().await?;
    let found = conversations::find(&mut conn, id)
        .await
        .map_err(|e| match e {
            diesel::result::Error::NotFound => AppError::not_found("conversation"),
            other => other.into(),
        })?;
    let summary = conversations::summaries(&mut conn, std::slice::from_ref(&found))
        .await?
        .pop()
        .ok_or(AppError::Internal)?;
    if op.may_see(summary.status, summary.assignee) {
        Ok(summary)
    } else {
        Err(AppError::Forbidden(
            "you may not see this conversation".into(),
        ))
    }
}

/// `GET /api/v1/conversations/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    operation_id = "get_conversation",
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation", body = ConversationSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The operator may not see this conversation (an agent, another's)", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(visible(&state, &auth.operator, *path).await?))
}

/// An event as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub author: Author,
    /// The operator's real name, the customer's alias, or `System`.
    pub name: String,
    pub text: String,
    pub at: DateTime<Utc>,
    /// System events: what happened (`action`: `assigned`, `transferred`, `escalated`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

impl From<EventRow> for OperatorEvent {
    fn from(e: EventRow) -> Self {
        OperatorEvent {
            seq: e.seq,
            kind: e.kind,
            author: e.author,
            name: e.author_name,
            text: e.body,
            at: e.created_at,
            data: e.data,
        }
    }
}

/// `GET /api/v1/conversations/{id}/events?after=|before=&limit=` — 50 a page by default;
/// without a cursor, the newest page; `next` pages further back.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/events",
    operation_id = "conversation_history",
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of history in ascending `seq`, with notes, real names and `data`", body = Page<OperatorEvent>),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The operator may not see this conversation", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 422, description = "Invalid `limit`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn events(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    query: web::Query<HistoryQuery>,
) -> AppResult<HttpResponse> {
    let id = *path;
    let limit = query.limit()?;
    visible(&state, &auth.operator, id).await?;
    let mut conn = state.pool.get().await?;
    let rows = match (query.after, query.before) {
        (Some(after), _) => events::after(&mut conn, id, after, limit).await?,
        (None, Some(before)) => events::before(&mut conn, id, before, limit).await?,
        (None, None) => events::before(&mut conn, id, i64::MAX, limit).await?,
    };
    let next = (rows.len() as i64 == limit && query.after.is_none())
        .then(|| rows.first().map(|r| r.seq.to_string()))
        .flatten();
    let items: Vec<OperatorEvent> = rows.into_iter().map(OperatorEvent::from).collect();
    Ok(HttpResponse::Ok().json(Page { items, next }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMessage {
    /// 1 to 64 characters, chosen by the sender; a retry with the same one is not stored twice.
    pub client_id: String,
    /// Not blank; at most `max_text_chars` characters.
    pub text: String,
    /// `message` (default) or `note`.
    #[serde(default)]
    pub kind: Option<EventKind>,
}

/// `POST /api/v1/conversations/{id}/messages` — idempotent by `client_id`, like the socket.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/messages",
    operation_id = "post_message",
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = NewMessage,
    responses(
        (status = 201, description = "Stored; a retry with the same `client_id` gets the original ack", body = Ack),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "A message needs the assignee, a supervisor or an admin (take the conversation first); a note, anyone who may see it", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 409, description = "`conversation_closed`", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`invalid_request` naming `client_id`, `text` or `kind`; `too_long` for a `text` over `max_text_chars`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn post_message(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: Json<NewMessage>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    let kind = match body.kind.unwrap_or(EventKind::Message) {
        EventKind::System => return Err(AppError::invalid("kind", "kind must be message or note")),
        other => other,
    };
    let post = PostMessage {
        by: By::Operator(auth.operator),
        kind,
        client_id: body.client_id,
        text: body.text,
        data: None,
        origin: None,
    };
    let ack = ask(&state, *path, post).await?;
    Ok(HttpResponse::Created().json(ack))
}
