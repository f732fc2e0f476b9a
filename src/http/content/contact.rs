//! `GET /conversations/{id}/contact`: the customer behind a conversation as operators may know
//! them — an alias and their other conversations — never a name or channel identity.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::db_errors::missing;
use crate::db::content::history;
use crate::db::conversations;
use crate::domain::Channel;
use crate::error::{ApiError, AppError, AppResult};
use crate::http::auth::AuthOperator;
use crate::http::AppState;
use crate::ids::ConversationId;
use crate::protocol::ConversationSummary;

/// More than any real customer has; the panel shows the most recent.
const MAX_CONVERSATIONS: i64 = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactHistory {
    /// The alias the customer appears under, e.g. `User-7KQ2MX`.
    pub alias: String,
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
    Ok(HttpResponse::Ok().json(ContactHistory {
        alias,
        channel: row.channel,
        conversations,
    }))
}
