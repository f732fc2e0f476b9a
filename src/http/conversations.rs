//! Operator endpoints over conversations: lists and history are read-only queries; messages
//! and actions are requests to the conversation's actor.

use actix::dev::ToEnvelope;
use actix::{Handler, Message};
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::AuthOperator;
use super::widget::{HistoryQuery, Page};
use super::AppState;
use crate::actors::conversation::{By, Conversation, PostMessage};
use crate::auth::OperatorIdentity;
use crate::db::conversations::{self, ListCursor, ListFilter, Visibility};
use crate::db::events::{self, EventRow};
use crate::domain::{Author, ConversationStatus, EventKind};
use crate::error::{AppError, AppResult};
use crate::ids::{ConversationId, OperatorId};
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

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    /// An operator id, `me`, or `none`.
    pub assignee: Option<String>,
    pub cursor: Option<String>,
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

/// `GET /api/v1/conversations?status=&assignee=&cursor=&limit=`
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
    let mut filter = ListFilter::default();
    if let Some(status) = &query.status {
        filter.status = Some(
            status
                .parse::<ConversationStatus>()
                .map_err(|e| AppError::invalid("status", e.to_string()))?,
        );
    }
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
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(visible(&state, &auth.operator, *path).await?))
}

/// An event as operators see it.
#[derive(Debug, Serialize)]
pub struct OperatorEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub author: Author,
    pub name: String,
    pub text: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Deserialize)]
pub struct NewMessage {
    pub client_id: String,
    pub text: String,
    /// `message` (default) or `note`.
    #[serde(default)]
    pub kind: Option<EventKind>,
}

/// `POST /api/v1/conversations/{id}/messages` — idempotent by `client_id`, like the socket.
pub async fn post_message(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
    body: web::Json<NewMessage>,
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
        origin: None,
    };
    let ack = ask(&state, *path, post).await?;
    Ok(HttpResponse::Created().json(ack))
}
