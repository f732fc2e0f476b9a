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
    if state.config.telegram_polling {
        return Err(AppError::conflict(
            "webhook_not_set",
            "this server takes updates by long polling; a webhook would stop them",
        ));
    }
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

#[derive(Debug, Serialize, ToSchema)]
pub struct BotText {
    /// What it is for, e.g. `ticket_created`.
    pub key: String,
    /// `en`, `ru`, or any language an admin wrote texts in (e.g. `ur`).
    pub language: String,
    pub text: String,
    /// An admin wrote it (false: the built-in text).
    pub custom: bool,
    /// What the text must keep, in braces: `{ticket}`.
    pub placeholders: Vec<String>,
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotTextChange {
    /// 1 to 1000 characters, keeping every placeholder of the key.
    pub text: String,
}

const MAX_BOT_TEXT_CHARS: usize = 1000;

/// `GET /api/v1/admin/telegram/texts`
#[utoipa::path(
    get,
    path = "/api/v1/admin/telegram/texts",
    operation_id = "list_bot_texts",
    tag = "telegram",
    responses(
        (status = 200, description = "Every text the bot says to customers, in English, Russian and every language admins wrote texts in", body = Vec<BotText>),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn texts(state: web::Data<AppState>, auth: AuthOperator) -> AppResult<HttpResponse> {
    use crate::telegram::texts::{Say, KEYS};
    auth.require(Role::Admin)?;
    let custom = {
        let mut conn = state.pool.get().await?;
        store::custom_texts(&mut conn).await?
    };
    let mut languages: Vec<String> = vec!["en".into(), "ru".into()];
    for (_, language, _) in &custom {
        if !languages.contains(language) {
            languages.push(language.clone());
        }
    }
    let mut items = Vec::new();
    for language in &languages {
        for (key, placeholders) in KEYS {
            let written = custom
                .iter()
                .find(|(k, l, _)| k == key && l == language)
                .map(|(_, _, t)| t.clone());
            let text = written
                .clone()
                .or_else(|| Say::default_text(key, language))
                .unwrap_or_default();
            items.push(BotText {
                key: (*key).to_owned(),
                language: language.clone(),
                text,
                custom: written.is_some(),
                placeholders: placeholders.iter().map(|p| format!("{{{p}}}")).collect(),
            });
        }
    }
    Ok(HttpResponse::Ok().json(items))
}

/// The key's placeholders, or 404 for an unknown key.
fn placeholders_of(key: &str) -> AppResult<&'static [&'static str]> {
    crate::telegram::texts::KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, p)| *p)
        .ok_or_else(|| AppError::not_found("bot text"))
}

fn check_language(language: &str) -> AppResult<()> {
    let ok = (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "language",
            "a language is two or three lowercase letters (ISO 639), e.g. en, ru, ur",
        ))
    }
}

/// `PUT /api/v1/admin/telegram/texts/{key}/{language}`
#[utoipa::path(
    put,
    path = "/api/v1/admin/telegram/texts/{key}/{language}",
    operation_id = "set_bot_text",
    tag = "telegram",
    params(
        ("key" = String, Path, description = "e.g. `ticket_created`"),
        ("language" = String, Path, description = "Two or three lowercase letters, e.g. `ur`"),
    ),
    request_body = BotTextChange,
    responses(
        (status = 200, description = "Saved; the bot says it from now on; audited", body = BotText),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such key", body = ApiError),
        (status = 422, description = "`invalid_request` naming `language` or `text` (empty, too long, a placeholder missing or unknown)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn set_text(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<(String, String)>,
    body: super::json::Json<BotTextChange>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let (key, language) = path.into_inner();
    let placeholders = placeholders_of(&key)?;
    check_language(&language)?;
    let text = body.into_inner().text;
    crate::validate::text("text", &text)?;
    let length = text.trim().chars().count();
    if length == 0 || length > MAX_BOT_TEXT_CHARS {
        return Err(AppError::invalid(
            "text",
            format!("text must be 1 to {MAX_BOT_TEXT_CHARS} characters"),
        ));
    }
    for p in placeholders {
        if !text.contains(&format!("{{{p}}}")) {
            return Err(AppError::invalid(
                "text",
                format!("the text must keep {{{p}}}"),
            ));
        }
    }
    let unknown = text
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .find(|name| !placeholders.contains(name));
    if let Some(name) = unknown {
        return Err(AppError::invalid(
            "text",
            format!("{{{name}}} is not a placeholder of {key}"),
        ));
    }
    {
        use diesel_async::AsyncConnection;
        let mut conn = state.pool.get().await?;
        conn.transaction::<_, AppError, _>(async |conn| {
            store::set_text(conn, &key, &language, &text).await?;
            let details = serde_json::json!({"key": key, "language": language});
            audit::record(
                conn,
                &[AuditEntry::new(
                    Some(auth.operator.id),
                    "telegram.text_set",
                    "bot_text",
                    &key,
                    details,
                )],
            )
            .await?;
            Ok(())
        })
        .await?;
    }
    reload(&state).await?;
    Ok(HttpResponse::Ok().json(BotText {
        key,
        language,
        text,
        custom: true,
        placeholders: placeholders.iter().map(|p| format!("{{{p}}}")).collect(),
    }))
}

/// `DELETE /api/v1/admin/telegram/texts/{key}/{language}`
#[utoipa::path(
    delete,
    path = "/api/v1/admin/telegram/texts/{key}/{language}",
    operation_id = "reset_bot_text",
    tag = "telegram",
    params(
        ("key" = String, Path, description = "e.g. `ticket_created`"),
        ("language" = String, Path, description = "e.g. `ur`"),
    ),
    responses(
        (status = 204, description = "Back to the built-in text (or English where there is none); audited"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only", body = ApiError),
        (status = 404, description = "No such key", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn reset_text(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    auth.require(Role::Admin)?;
    let (key, language) = path.into_inner();
    placeholders_of(&key)?;
    check_language(&language)?;
    {
        let mut conn = state.pool.get().await?;
        if store::delete_text(&mut conn, &key, &language).await? {
            let details = serde_json::json!({"key": key, "language": language});
            audit::record(
                &mut conn,
                &[AuditEntry::new(
                    Some(auth.operator.id),
                    "telegram.text_reset",
                    "bot_text",
                    &key,
                    details,
                )],
            )
            .await?;
        }
    }
    reload(&state).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The bot says the changed text from now on (every Conversation actor shares the store).
async fn reload(state: &AppState) -> AppResult<()> {
    let mut conn = state.pool.get().await?;
    let texts = store::custom_texts(&mut conn).await?;
    state.registry.deps().telegram_texts.replace(texts);
    Ok(())
}
