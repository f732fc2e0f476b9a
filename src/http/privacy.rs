//! Privacy operations, for admins: a contact's data exported or erased, a conversation deleted.
//! The writes go through each conversation's actor, so none can race a message or an action.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::auth::AuthOperator;
use super::conversations::ask;
use super::AppState;
use crate::actors::conversation::Conversation;
use crate::db::privacy::{self, ContactExport};
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::{ContactId, ConversationId};

/// A path id: a malformed one is refused as such (400), an unknown one is a 404.
fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> AppResult<T> {
    raw.parse()
        .map_err(|_| AppError::Malformed(format!("the {what} id must be a UUID")))
}

/// `GET /api/v1/contacts/{id}/export` (admins)
#[utoipa::path(
    get,
    path = "/api/v1/contacts/{id}/export",
    operation_id = "export_contact",
    tag = "privacy",
    params(("id" = ContactId, Path, description = "Contact id (from the conversation's contact view)")),
    responses(
        (status = 200, description = "Everything stored about the contact: the contact, every conversation with its tags and all its events (notes and system events included), and the channels they used. Channel identities themselves (Telegram ids, usernames) are never returned by any API, this one included: `identities` names only the channel and when it was linked. Audited `contact.export`", body = ContactExport),
        (status = 400, description = "`invalid_request`: the id is not a UUID", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such contact", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn export(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let contact: ContactId = path_id(&path, "contact")?;
    let mut conn = state.pool.get().await?;
    let export = privacy::export(
        &mut conn,
        contact,
        Some(auth.operator.id),
        state.clock.now(),
    )
    .await?
    .ok_or_else(|| AppError::not_found("contact"))?;
    Ok(HttpResponse::Ok().json(export))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactErased {
    pub contact_id: ContactId,
    /// When the contact's data was first erased (a repeated erase keeps it).
    pub erased_at: DateTime<Utc>,
    /// How many conversations were erased (deleted ones hold nothing and are not counted).
    pub conversations: usize,
}

/// `POST /api/v1/contacts/{id}/erase` (admins)
#[utoipa::path(
    post,
    path = "/api/v1/contacts/{id}/erase",
    operation_id = "erase_contact",
    tag = "privacy",
    params(("id" = ContactId, Path, description = "Contact id")),
    responses(
        (status = 200, description = "Erased: the contact's open conversations are closed; in every conversation the messages and notes have empty text and `data` `{\"erased\": true}` (full-text search finds nothing), Telegram media references are gone, `metadata` is `{}` and the rating comment null; the channel identities, widget tokens and queued Telegram calls are deleted. Statuses, timestamps, rating scores and tags stay, so statistics still count the conversations. Audited `contact.erase`. Erasing again answers 200 and changes nothing", body = ContactErased),
        (status = 400, description = "`invalid_request`: the id is not a UUID", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such contact", body = ApiError),
        (status = 503, description = "Storage unavailable; retry (erasing again is safe)", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn erase(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let contact: ContactId = path_id(&path, "contact")?;
    // Cut off first, so that nothing new arrives from the customer meanwhile.
    let ids = {
        let mut conn = state.pool.get().await?;
        if !privacy::cut_off(&mut conn, contact).await? {
            return Err(AppError::not_found("contact"));
        }
        privacy::live_conversations(&mut conn, contact).await?
    };
    let mut erased = 0;
    for id in ids {
        match ask(
            &state,
            id,
            Conversation::erase_request(auth.operator.clone()),
        )
        .await
        {
            Ok(()) => erased += 1,
            // Deleted in between: nothing left to erase.
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut conn = state.pool.get().await?;
    let erased_at = privacy::finish_erase(
        &mut conn,
        contact,
        Some(auth.operator.id),
        erased,
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(ContactErased {
        contact_id: contact,
        erased_at,
        conversations: erased,
    }))
}

/// `DELETE /api/v1/conversations/{id}` (admins)
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{id}",
    operation_id = "delete_conversation",
    tag = "privacy",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 204, description = "Deleted: its events, tags, timers, Telegram records and widget tokens are gone; the row stays, closed and marked deleted, so statistics still count it. Open visitor sockets get a `status` frame (`closed`, reason `deleted`), operators a `conversation` frame. From now on the conversation is not found (404) and in no list or search. Audited `conversation.delete`"),
        (status = 400, description = "`invalid_request`: the id is not a UUID", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such conversation (or deleted already)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn delete_conversation(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let id: ConversationId = path_id(&path, "conversation")?;
    ask(&state, id, Conversation::delete_request(auth.operator)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(OpenApi)]
#[openapi(
    paths(export, erase, delete_conversation),
    components(schemas(
        ContactExport,
        privacy::ExportedContact,
        privacy::ExportedBlock,
        privacy::ExportedIdentity,
        privacy::ExportedConversation,
        privacy::ExportedEvent,
        ContactErased,
    )),
    tags(
        (name = "privacy", description = "A customer's data exported or erased, a conversation deleted; admins. No API ever returns a channel identity (Telegram id, username)"),
    )
)]
struct PrivacyApi;

/// This module's part of the API document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    PrivacyApi::openapi()
}
