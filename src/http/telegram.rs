//! Telegram over HTTP: the webhook Telegram calls with updates, and operators' links between
//! their account and a Telegram account.

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::auth::AuthOperator;
use super::AppState;
use crate::db::audit::{self, AuditEntry};
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::ids::OperatorId;
use crate::telegram::{store, update};

pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// How long a link code works.
const LINK_CODE_MINUTES: i64 = 10;
const LINK_CODE_LEN: usize = 8;
const LINK_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// `POST /telegram/webhook`
#[utoipa::path(
    post,
    path = "/telegram/webhook",
    operation_id = "telegram_webhook",
    tag = "telegram",
    params(("X-Telegram-Bot-Api-Secret-Token" = String, Header, description = "The webhook secret (`TELEGRAM_WEBHOOK_SECRET`)")),
    request_body(content = Object, description = "A Telegram `Update`, as Telegram sends it", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or already stored): it is handled from the inbox. Any content gets 200, so Telegram never re-sends it forever"),
        (status = 401, description = "Wrong or missing secret token; nothing stored", body = ApiError),
        (status = 404, description = "The Telegram channel is off", body = ApiError),
        (status = 503, description = "The update could not be stored; Telegram delivers it again later", body = ApiError),
    )
)]
/// Telegram's calls. The secret header is checked in constant time;
/// an accepted update is stored (sealed) before the answer, and handled from the store. Any
/// content is answered 200 (Telegram would re-send a refused one forever); only a failure to
/// store answers 503, so that Telegram delivers it again.
pub async fn webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(intake) = state.telegram.as_ref() else {
        return AppError::NotFound("the Telegram channel is off".into()).error_response();
    };
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = intake.secret.as_deref().unwrap_or_default().as_bytes();
    // No secret configured: nobody gets in (an open webhook would let anyone pose as Telegram).
    // Digests are compared, in constant time, so that not even the length is told.
    let matches =
        !expected.is_empty() && bool::from(Sha256::digest(given).ct_eq(&Sha256::digest(expected)));
    if !matches {
        return AppError::Unauthorized("wrong or missing secret token".into()).error_response();
    }
    let raw = String::from_utf8_lossy(&body);
    let update_id = update::update_id_of(&raw);
    if update_id.is_none() {
        tracing::debug!("a webhook call without a readable update_id; stored as it is");
    }
    let sealed = intake.key.encrypt(&body);
    let stored = async {
        let mut conn = state.pool.get().await?;
        Ok::<_, AppError>(store::store_update(&mut conn, update_id, &sealed).await?)
    }
    .await;
    match stored {
        Ok(true) => {
            intake.ready.notify_one();
            HttpResponse::Ok().json(serde_json::json!({}))
        }
        Ok(false) => {
            tracing::debug!("a re-sent telegram update; already stored");
            HttpResponse::Ok().json(serde_json::json!({}))
        }
        Err(e) => {
            tracing::warn!(error = %e, "telegram update not stored; Telegram will re-send it");
            AppError::Unavailable.error_response()
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramLinkCode {
    /// Send `/link CODE` to the bot in a private chat; works once, for 10 minutes.
    pub code: String,
    pub expires_at: DateTime<Utc>,
    /// The exact message to send to the bot.
    pub command: String,
}

/// `POST /api/v1/operators/me/telegram-link`
#[utoipa::path(
    post,
    path = "/api/v1/operators/me/telegram-link",
    operation_id = "create_telegram_link_code",
    tag = "operators",
    responses(
        (status = 201, description = "A one-time code to send to the bot as `/link CODE`", body = TelegramLinkCode),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 404, description = "The Telegram channel is off", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn create_link_code(
    state: web::Data<AppState>,
    auth: AuthOperator,
) -> AppResult<HttpResponse> {
    if state.telegram.is_none() {
        return Err(AppError::NotFound("the Telegram channel is off".into()));
    }
    let code: String = {
        let mut rng = rand::rng();
        (0..LINK_CODE_LEN)
            .map(|_| char::from(LINK_ALPHABET[rng.random_range(0..LINK_ALPHABET.len())]))
            .collect()
    };
    let expires_at = Utc::now() + chrono::Duration::minutes(LINK_CODE_MINUTES);
    let mut conn = state.pool.get().await?;
    store::new_link_code(
        &mut conn,
        auth.operator.id,
        &crate::auth::hash_token(&code),
        expires_at,
    )
    .await?;
    Ok(HttpResponse::Created().json(TelegramLinkCode {
        command: format!("/link {code}"),
        code,
        expires_at,
    }))
}

/// `DELETE /api/v1/operators/me/telegram-link`
#[utoipa::path(
    delete,
    path = "/api/v1/operators/me/telegram-link",
    operation_id = "delete_own_telegram_link",
    tag = "operators",
    responses(
        (status = 204, description = "Unlinked (or was not linked)"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn unlink_me(state: web::Data<AppState>, auth: AuthOperator) -> AppResult<HttpResponse> {
    unlink(&state, auth.operator.id, auth.operator.id).await
}

/// `DELETE /api/v1/operators/{id}/telegram-link` (admins)
#[utoipa::path(
    delete,
    path = "/api/v1/operators/{id}/telegram-link",
    operation_id = "delete_telegram_link",
    tag = "operators",
    params(("id" = OperatorId, Path, description = "Operator id")),
    responses(
        (status = 204, description = "Unlinked (or was not linked)"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Admins only (or oneself)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn unlink_operator(
    state: web::Data<AppState>,
    auth: AuthOperator,
    path: web::Path<OperatorId>,
) -> AppResult<HttpResponse> {
    if *path != auth.operator.id {
        auth.require(Role::Admin)?;
    }
    unlink(&state, auth.operator.id, *path).await
}

async fn unlink(state: &AppState, by: OperatorId, who: OperatorId) -> AppResult<HttpResponse> {
    use diesel_async::AsyncConnection;
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        if store::unlink(conn, who).await? {
            audit::record(
                conn,
                &[AuditEntry::new(
                    Some(by),
                    "operator.telegram_unlink",
                    "operator",
                    who,
                    serde_json::json!({}),
                )],
            )
            .await?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
