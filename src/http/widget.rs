//! The public widget endpoints: opening a conversation, and a visitor reading its own history.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::{client_ip, AppState};
use crate::actors::conversation::{
    self, visible_to_visitor, visitor_action, visitor_facing_name, Customer, First, OpenRequest,
};
use crate::auth::hash_token;
use crate::db::{events, sessions};
use crate::domain::{Author, Channel, ConversationStatus, EventKind};
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::ConversationId;
use crate::validate;

const MAX_NAME_CHARS: usize = 100;
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Every field is optional: `{}` opens an empty conversation in the default group.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWidgetSession {
    /// At most 100 characters. Accepted but not stored: operators never see the customer's
    /// identity.
    pub name: Option<String>,
    /// A group (department) by name, ignoring case; the default group when absent.
    pub group: Option<String>,
    /// A language tag such as `en` (2 to 10 letters, digits or `-`); `en` when absent.
    pub language: Option<String>,
    /// The first message (event seq 1); not blank, at most `max_text_chars` characters.
    pub message: Option<String>,
    /// A JSON object of at most 16 KiB, stored with the conversation.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The widget token of an earlier conversation: the customer is returning, keeps their
    /// alias, and a `sticky` group routes them back to their last operator.
    pub contact_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetSessionCreated {
    /// The widget token: `hello` on `/ws/visitor`, and bearer for the history endpoint.
    pub token: String,
    pub conversation_id: ConversationId,
    pub ticket: String,
    pub status: ConversationStatus,
}

impl NewWidgetSession {
    fn validate(&self, max_text: usize) -> AppResult<()> {
        // What PostgreSQL cannot store (or look up): the group is queried by name, the rest
        // is stored. The contact token is only ever looked up as a hash.
        validate::opt_text("name", self.name.as_deref())?;
        validate::opt_text("group", self.group.as_deref())?;
        validate::opt_text("message", self.message.as_deref())?;
        if let Some(meta) = &self.metadata {
            validate::json("metadata", meta)?;
        }
        if self
            .name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
        {
            return Err(AppError::invalid(
                "name",
                format!("name must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if self
            .group
            .as_ref()
            .is_some_and(|g| g.is_empty() || g.len() > 64)
        {
            return Err(AppError::invalid(
                "group",
                "group must be 1 to 64 characters",
            ));
        }
        if let Some(lang) = &self.language {
            let ok = (2..=10).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(AppError::invalid(
                    "language",
                    "language must be a language tag such as 'en'",
                ));
            }
        }
        if let Some(message) = &self.message {
            if message.trim().is_empty() {
                return Err(AppError::invalid("message", "message must not be empty"));
            }
            if message.chars().count() > max_text {
                return Err(AppError::TooLong(format!(
                    "message is longer than {max_text} characters"
                )));
            }
        }
        if let Some(meta) = &self.metadata {
            if !meta.is_object() {
                return Err(AppError::invalid(
                    "metadata",
                    "metadata must be a JSON object",
                ));
            }
            if meta.to_string().len() > MAX_METADATA_BYTES {
                return Err(AppError::invalid(
                    "metadata",
                    "metadata is larger than 16 KiB",
                ));
            }
        }
        Ok(())
    }
}

/// `POST /api/v1/widget/sessions`
#[utoipa::path(
    post,
    path = "/api/v1/widget/sessions",
    operation_id = "create_widget_session",
    tag = "widget",
    request_body = NewWidgetSession,
    responses(
        (status = 201, description = "The conversation is open and waits for an operator", body = WidgetSessionCreated),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "`invalid_request` naming `name`, `group` (also an unknown group), `language`, `message`, `metadata` or `contact_token` (unknown or expired); `too_long` for a `message` over `max_text_chars`", body = ApiError),
        (status = 429, description = "`rate_limited`: too many sessions from this address (`sessions_per_ip_per_min`); `Retry-After` gives the seconds to wait", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    )
)]
pub async fn create_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<NewWidgetSession>,
) -> AppResult<HttpResponse> {
    super::throttle::check(&state.session_limiter, &client_ip(&req))?;
    let body = body.into_inner();
    body.validate(state.config.max_text_chars)?;
    let opened = conversation::open(
        state.registry.deps(),
        OpenRequest {
            group: body.group,
            channel: Channel::Web,
            language: body
                .language
                .unwrap_or_else(|| "en".to_owned())
                .to_ascii_lowercase(),
            metadata: body.metadata.unwrap_or_else(|| serde_json::json!({})),
            first: body.message.map(|text| First::Message {
                text,
                client_id: None,
                data: None,
            }),
            customer: Customer::Widget {
                returning_token: body.contact_token,
                token_ttl: chrono::Duration::days(state.config.widget_token_ttl_days),
            },
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(WidgetSessionCreated {
        token: opened.token.unwrap_or_default(),
        conversation_id: opened.summary.id,
        ticket: opened.summary.ticket,
        status: opened.summary.status,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Events after this seq, oldest first (no `next`).
    pub after: Option<i64>,
    /// Events before this seq: the `next` of the previous page.
    pub before: Option<i64>,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
}

impl HistoryQuery {
    pub fn limit(&self) -> AppResult<i64> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=100).contains(&n) => Ok(n),
            Some(_) => Err(AppError::invalid("limit", "limit must be 1 to 100")),
        }
    }
}

/// An event as a visitor sees it: never a note, operators under the support name.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub author: Author,
    /// The visitor's alias, the support name (or an operator's first name), or `System`.
    pub name: String,
    pub text: String,
    pub at: DateTime<Utc>,
    /// System events only: what happened (`assigned`, `transferred`, `unassigned`,
    /// `resolved`, `closed`, `reopened`), for wording it in the visitor's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// One page of a list, in the order the endpoint names.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `before` (history) or `cursor` (lists) to get the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /api/v1/widget/conversations/{id}/events` with the widget token as bearer.
#[utoipa::path(
    get,
    path = "/api/v1/widget/conversations/{id}/events",
    operation_id = "widget_history",
    tag = "widget",
    params(
        ("id" = ConversationId, Path, description = "The widget token's own conversation"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "A page of the visitor's history in ascending `seq`: no notes, operators under the support name", body = Page<VisitorEvent>),
        (status = 400, description = "Malformed query string", body = ApiError),
        (status = 401, description = "Missing, unknown or expired widget token", body = ApiError),
        (status = 403, description = "The token belongs to another conversation", body = ApiError),
        (status = 404, description = "The id is not a conversation id", body = ApiError),
        (status = 422, description = "Invalid `limit`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("widget" = []))
)]
pub async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<ConversationId>,
    query: web::Query<HistoryQuery>,
) -> AppResult<HttpResponse> {
    let token = super::auth::bearer(&req)
        .ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
    let limit = query.limit()?;
    let mut conn = state.pool.get().await?;
    let (conversation, _contact) =
        sessions::widget_by_token(&mut conn, &hash_token(&token), Utc::now())
            .await?
            .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
    if conversation != *path {
        return Err(AppError::Forbidden("not your conversation".into()));
    }
    let rows = match (query.after, query.before) {
        (Some(after), _) => events::after(&mut conn, conversation, after, limit).await?,
        (None, Some(before)) => events::before(&mut conn, conversation, before, limit).await?,
        (None, None) => events::before(&mut conn, conversation, i64::MAX, limit).await?,
    };
    let next = (rows.len() as i64 == limit && query.after.is_none())
        .then(|| rows.first().map(|r| r.seq.to_string()))
        .flatten();
    let items = rows
        .iter()
        .filter(|e| visible_to_visitor(e))
        .map(|e| VisitorEvent {
            seq: e.seq,
            kind: e.kind,
            author: e.author,
            name: visitor_facing_name(&state.config, e),
            text: e.body.clone(),
            at: e.created_at,
            action: visitor_action(e).map(str::to_owned),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { items, next }))
}
