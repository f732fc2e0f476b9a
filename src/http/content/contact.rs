//! `GET /conversations/{id}/contact`: the customer behind a conversation as operators may know
//! them — an alias and their other conversations — never a name or channel identity.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::db_errors::missing;
use crate::db::content::history;
use crate::db::{contacts, conversations};
use crate::domain::Channel;
use crate::error::{ApiError, AppError, AppResult};
use crate::http::auth::AuthOperator;
use crate::http::AppState;
use crate::ids::{ContactId, ConversationId};
use crate::protocol::ConversationSummary;

/// More than any real customer has; the panel shows the most recent.
const MAX_CONVERSATIONS: i64 = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactHistory {
    /// The contact's id (for blocking); it says nothing about who they are.
    pub id: ContactId,
    /// The alias the customer appears under, e.g. `User-7KQ2MX`.
    pub alias: String,
    /// Set while the contact is blocked: nothing they send is stored.
    pub blocked: Option<BlockView>,
    /// False when replies cannot reach them (they blocked the Telegram bot).
    pub reachable: bool,
    /// The channel of the conversation asked about.
    pub channel: Channel,
    /// The same customer's other conversations (conversation summaries), newest first, at most 100.
    pub conversations: Vec<ConversationSummary>,
}

/// `GET /api/v1/conversations/{id}/contact`
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/contact",
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The customer's alias and their other conversations", body = ContactHistory),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The operator may not see this conversation", body = ApiError),
        (status = 404, description = "No such conversation", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn contact(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ConversationId>,
) -> AppResult<HttpResponse> {
    let id = *path;
    let mut conn = state.pool.get().await?;
    let (row, alias) = conversations::find(&mut conn, id)
        .await
        .map_err(missing("conversation"))?;
    if !auth.operator.may_see(row.status, row.assignee_id) {
        return Err(AppError::Forbidden(
            "you may not see this conversation".into(),
        ));
    }
    // The others are listed whoever handled them: a summary carries no message text, and
    // knowing a customer's past tickets is the point of this view.
    let others =
        history::other_conversations(&mut conn, row.contact_id, id, MAX_CONVERSATIONS).await?;
    let ids: Vec<ConversationId> = others.iter().map(|(c, _)| c.id).collect();
    let mut tags: HashMap<ConversationId, Vec<String>> = HashMap::new();
    for (conversation, name) in history::tag_names(&mut conn, &ids).await? {
        tags.entry(conversation).or_default().push(name);
    }
    let conversations = others
        .iter()
        .map(|found| {
            let mut summary = ConversationSummary::from(found);
            summary.tags = tags.remove(&summary.id).unwrap_or_default();
            summary
        })
        .collect();
    let block = contacts::block_of(&mut conn, row.contact_id).await?;
    let reachable = crate::telegram::store::reachable(&mut conn, row.contact_id)
        .await?
        .unwrap_or(true);
    Ok(HttpResponse::Ok().json(ContactHistory {
        id: row.contact_id,
        alias,
        blocked: block
            .filter(|b| b.is_active(Utc::now()))
            .map(BlockView::from),
        reachable,
        channel: row.channel,
        conversations,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockView {
    pub reason: String,
    /// The block ends then; null: until lifted.
    pub until: Option<DateTime<Utc>>,
    pub blocked_at: DateTime<Utc>,
}

impl From<contacts::Block> for BlockView {
    fn from(b: contacts::Block) -> Self {
        BlockView {
            reason: b.reason,
            until: b.until,
            blocked_at: b.at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// Why (1 to 500 characters); operators see it, the customer does not.
    pub reason: String,
    /// When the block ends (in the future); absent: until lifted.
    pub until: Option<DateTime<Utc>>,
}

const MAX_REASON_CHARS: usize = 500;

/// `POST /api/v1/contacts/{id}/block` (supervisors and admins)
#[utoipa::path(
    post,
    path = "/api/v1/contacts/{id}/block",
    operation_id = "block_contact",
    tag = "conversations",
    params(("id" = ContactId, Path, description = "Contact id (from the conversation's contact view)")),
    request_body = BlockRequest,
    responses(
        (status = 200, description = "Blocked: nothing they send is stored; a Telegram customer is told politely once a day, a web visitor gets `blocked`", body = BlockView),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
        (status = 404, description = "No such contact", body = ApiError),
        (status = 422, description = "`invalid_request` naming `reason` or `until` (in the past)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn block(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ContactId>,
    body: crate::http::json::Json<BlockRequest>,
) -> AppResult<HttpResponse> {
    auth.require(crate::domain::Role::Supervisor)?;
    let body = body.into_inner();
    let reason = body.reason.trim();
    crate::validate::text("reason", reason)?;
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::invalid(
            "reason",
            format!("reason must be 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    let now = Utc::now();
    if body.until.is_some_and(|u| u <= now) {
        return Err(AppError::invalid("until", "until must be in the future"));
    }
    let block = contacts::Block {
        reason: reason.to_owned(),
        until: body.until,
        at: now,
    };
    let mut conn = state.pool.get().await?;
    if !contacts::set_block(&mut conn, *path, &block, auth.operator.id).await? {
        return Err(AppError::not_found("contact"));
    }
    tell_conversations(&state, &mut conn, *path, Some(block.until)).await?;
    Ok(HttpResponse::Ok().json(BlockView::from(block)))
}

/// `DELETE /api/v1/contacts/{id}/block` (supervisors and admins)
#[utoipa::path(
    delete,
    path = "/api/v1/contacts/{id}/block",
    operation_id = "unblock_contact",
    tag = "conversations",
    params(("id" = ContactId, Path, description = "Contact id")),
    responses(
        (status = 204, description = "Unblocked (or was not blocked)"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Supervisors and admins only", body = ApiError),
        (status = 404, description = "No such contact", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn unblock(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<ContactId>,
) -> AppResult<HttpResponse> {
    auth.require(crate::domain::Role::Supervisor)?;
    let mut conn = state.pool.get().await?;
    if !contacts::clear_block(&mut conn, *path, auth.operator.id).await? {
        return Err(AppError::not_found("contact"));
    }
    tell_conversations(&state, &mut conn, *path, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Running conversations of the contact learn the change at once (the others read it when
/// they start).
async fn tell_conversations(
    state: &AppState,
    conn: &mut diesel_async::AsyncPgConnection,
    contact: ContactId,
    block: Option<Option<DateTime<Utc>>>,
) -> AppResult<()> {
    for id in contacts::conversation_ids(conn, contact).await? {
        if let Some(addr) = state.registry.running(id) {
            addr.do_send(crate::actors::conversation::ContactBlocked { contact, block });
        }
    }
    Ok(())
}
