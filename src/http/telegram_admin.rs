//! `GET /api/v1/admin/telegram`: the Telegram channel as admins see it (is it on, the bot,
//! the support group, the webhook at Telegram, who is linked), and
//! `POST /api/v1/admin/telegram/webhook` to register the webhook again. Admins only.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::AuthOperator;
use super::AppState;
use crate::db::audit::{self, AuditEntry};
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::OperatorId;
use crate::telegram::{polling, store, webhook};

#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramSettings {
    /// A bot token is configured.
    pub enabled: bool,
    /// The bot's @username, when Telegram answered.
    pub bot_username: Option<String>,
    pub support_chat: Option<SupportChat>,
    pub webhook: Option<WebhookStatus>,
    /// Updates are taken by long polling instead of the webhook.
    pub polling: bool,
    /// Operators who can answer from Telegram.
    pub linked_operators: Vec<LinkedOperator>,
    /// What Telegram did not answer, if anything (the rest is shown as known).
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupportChat {
    pub id: i64,
    pub title: Option<String>,
    /// A forum: each conversation gets its own topic.
    pub forum: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookStatus {
    pub url: Option<String>,
    pub pending_update_count: i64,
    pub last_error_message: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedOperator {
    pub id: OperatorId,
    pub name: String,
}

/// `GET /api/v1/admin/telegram`
#[utoipa::path(
    get,
    path = "/api/v1/admin/telegram",
    operation_id = "telegram_settings",
    tag = "telegram",
    responses(
        (status = 200, description = "The Telegram channel's settings and state (Telegram is asked live; what it does not answer is listed in `problems`)", body = TelegramSettings),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn settings(state: web::Data<AppState>, auth: AuthOperator) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let linked_operators = {
        let mut conn = state.pool.get().await?;
        store::linked_operator_names(&mut conn)
            .await?
            .into_iter()
            .map(|(id, name)| LinkedOperator { id, name })
            .collect()
    };
    let Some(intake) = state.telegram.as_ref() else {
        return Ok(HttpResponse::Ok().json(TelegramSettings {
            enabled: false,
            bot_username: None,
            support_chat: None,
            webhook: None,
            polling: false,
            linked_operators,
            problems: Vec::new(),
        }));
    };
    let tg = &intake.telegram;
    let mut problems = Vec::new();
    let mut ask = async |method: &str, body: Value| match polling::raw_call(tg, method, body).await
    {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{method}: {e}"));
            None
        }
    };
    let me = ask("getMe", serde_json::json!({})).await;
    let info = ask("getWebhookInfo", serde_json::json!({})).await;
    let group = tg.support_group();
    let chat = match group {
        Some(id) => ask("getChat", serde_json::json!({"chat_id": id})).await,
        None => None,
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let settings = TelegramSettings {
        enabled: true,
        bot_username: me.as_ref().and_then(|m| text(m, "username")),
        support_chat: group.map(|id| SupportChat {
            id,
            title: chat.as_ref().and_then(|c| text(c, "title")),
            forum: chat
                .as_ref()
                .and_then(|c| c.get("is_forum").and_then(Value::as_bool))
                .unwrap_or(false),
        }),
        webhook: info.as_ref().map(|w| WebhookStatus {
            url: text(w, "url").filter(|u| !u.is_empty()),
            pending_update_count: w
                .get("pending_update_count")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            last_error_message: text(w, "last_error_message"),
            last_error_at: w
                .get("last_error_date")
                .and_then(Value::as_i64)
                .and_then(|t| DateTime::from_timestamp(t, 0)),
        }),
        polling: state.config.telegram_polling,
        linked_operators,
        problems,
    };
    Ok(HttpResponse::Ok().json(settings))
}

/// `POST /api/v1/admin/telegram/webhook`
#[utoipa::path(
    post,
    path = "/api/v1/admin/telegram/webhook",
    operation_id = "register_telegram_webhook",
    tag = "telegram",
    responses(
        (status = 200, description = "The webhook is registered again (`setWebhook` with the secret and the update kinds used); audited"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "The Telegram channel is off", body = ApiError),
        (status = 409, description = "`webhook_not_set`: Telegram refused, or `public_url` or the webhook secret is missing; the message says which", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn register_webhook(
    state: web::Data<AppState>,
    auth: AuthOperator,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let intake = state
        .telegram
        .as_ref()
        .ok_or_else(|| AppError::NotFound("the Telegram channel is off".into()))?;
    let done = webhook::run_with(intake.telegram.bot(), &state.config, webhook::Action::Set)
        .await
        .map_err(|why| AppError::conflict("webhook_not_set", why))?;
    let mut conn = state.pool.get().await?;
    audit::record(
        &mut conn,
        &[AuditEntry::new(
            Some(auth.operator.id),
            "telegram.webhook_set",
            "telegram",
            "webhook",
            serde_json::json!({}),
        )],
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "message": done })))
}
