//! Sign-in with a one-time code the bot sends to the operator's linked Telegram account.
//! Asking for a code always answers 202, whoever the email belongs to; a code works once, for
//! five minutes; five wrong codes in 15 minutes lock code sign-in for that operator and for
//! that address. Every request and attempt is audited.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::Json;
use super::{client_ip, throttle, AppState};
use crate::db::audit::{self, AuditEntry};
use crate::db::operators::{self, OperatorRow};
use crate::error::{ApiError, AppError, AppResult};
use crate::telegram::login::{self, CODE_DIGITS};
use crate::telegram::outbox::{self, Call, NewCall};
use crate::telegram::{store, Intake};

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeSignIn {
    pub email: String,
    /// The six digits the bot sent.
    pub code: String,
}

fn intake(state: &AppState) -> AppResult<&Intake> {
    state
        .telegram
        .as_ref()
        .ok_or_else(|| AppError::NotFound("the Telegram channel is off".into()))
}

fn normalise(email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    crate::validate::text("email", &email)?;
    if email.is_empty() || email.len() > super::auth::MAX_EMAIL_BYTES {
        return Err(AppError::invalid(
            "email",
            "a valid email address is required",
        ));
    }
    Ok(email)
}

fn code_hash(intake: &Intake, operator: &OperatorRow, code: &str) -> Vec<u8> {
    intake.key.mac(
        login::SPACE,
        format!("{}:{}", operator.id, code.trim()).as_bytes(),
    )
}

/// `POST /api/v1/auth/otp/request`
#[utoipa::path(
    post,
    path = "/api/v1/auth/otp/request",
    operation_id = "request_login_code",
    tag = "auth",
    request_body = CodeRequest,
    responses(
        (status = 202, description = "Accepted, whoever the email belongs to: if it is an operator with a linked Telegram account (who has started the bot), the bot sends them a six-digit code valid for 5 minutes; an earlier code stops working"),
        (status = 404, description = "The Telegram channel is off", body = ApiError),
        (status = 422, description = "A missing or malformed `email`", body = ApiError),
        (status = 429, description = "`rate_limited`: too many sign-in attempts from this address (`logins_per_ip_per_min`)", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    )
)]
pub async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<CodeRequest>,
) -> AppResult<HttpResponse> {
    let intake = intake(&state)?;
    let ip = client_ip(&req);
    throttle::check(&state.login_limiter, &ip)?;
    let email = normalise(&body.email)?;
    let account = intake.key.mac(login::ACCOUNT_SPACE, email.as_bytes());
    let now = Utc::now();
    let mut conn = state.pool.get().await?;
    let row = operators::find_by_email(&mut conn, &email).await?;
    let locked = login::locked_until(&mut conn, &account, &ip.to_string(), now)
        .await?
        .is_some();
    if let Some(row) = row {
        let linked = store::operator_chat(&mut conn, row.id).await?.is_some();
        // Asking again within a minute keeps the code on its way: nobody can flood an
        // operator's chat, nor void their code, by asking for them.
        let recent = login::code_made_at(&mut conn, row.id, now)
            .await?
            .is_some_and(|at| {
                now - at < chrono::Duration::seconds(state.config.otp_resend_secs as i64)
            });
        let send = linked && !locked && !recent;
        let code = login::new_code();
        let hash = code_hash(intake, &row, &code);
        let text = format!(
            "Your Switchboard sign-in code: {code}\nIt works once, for 5 minutes. If you did not ask for it, ignore this message."
        );
        let call = NewCall::new(outbox::operator_lane(row.id), None, &Call::text(text));
        use diesel_async::AsyncConnection;
        conn.transaction::<_, AppError, _>(async |conn| {
            if send {
                login::store_code(conn, row.id, &hash, now).await?;
                outbox::insert(conn, std::slice::from_ref(&call)).await?;
            }
            let details = serde_json::json!({
                "sent": send, "linked": linked, "locked": locked, "resend_too_soon": recent,
                "client": ip.to_string(),
            });
            audit::record(
                conn,
                &[AuditEntry::new(
                    Some(row.id),
                    "operator.otp_request",
                    "operator",
                    row.id,
                    details,
                )],
            )
            .await?;
            Ok(())
        })
        .await?;
        if send {
            state.registry.deps().telegram_outbox.notify_one();
        }
    }
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "status": "accepted",
        "message": "If this operator has linked Telegram and started the bot, a code is on its way.",
    })))
}

/// `POST /api/v1/auth/otp/verify`
#[utoipa::path(
    post,
    path = "/api/v1/auth/otp/verify",
    operation_id = "sign_in_with_code",
    tag = "auth",
    request_body = CodeSignIn,
    responses(
        (status = 200, description = "Signed in, as with `POST /auth/login`: the token, also set as the session cookie", body = super::auth::LoginResponse),
        (status = 401, description = "Wrong, used or expired code (or no such operator)", body = ApiError),
        (status = 404, description = "The Telegram channel is off", body = ApiError),
        (status = 422, description = "A missing or malformed `email` or `code`", body = ApiError),
        (status = 429, description = "`rate_limited`: five wrong codes in 15 minutes for this operator or from this address; `Retry-After` says when code sign-in opens again", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    )
)]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<CodeSignIn>,
) -> AppResult<HttpResponse> {
    let intake = intake(&state)?;
    let ip = client_ip(&req);
    throttle::check(&state.login_limiter, &ip)?;
    let email = normalise(&body.email)?;
    let code = body.code.trim();
    crate::validate::text("code", code)?;
    if code.len() > 32 {
        return Err(AppError::invalid("code", "the code has six digits"));
    }
    let client = ip.to_string();
    let account = intake.key.mac(login::ACCOUNT_SPACE, email.as_bytes());
    let now = Utc::now();
    let mut conn = state.pool.get().await?;
    let row = operators::find_by_email(&mut conn, &email).await?;
    let operator = row.as_ref().map(|r| r.id);
    let audit_entry = |action: &str, reason: &str| {
        let target = operator.map_or_else(|| "unknown".to_owned(), |id| id.to_string());
        let details = serde_json::json!({"client": client, "reason": reason});
        AuditEntry::new(operator, action, "operator", target, details)
    };
    if let Some(until) = login::locked_until(&mut conn, &account, &client, now).await? {
        audit::record(&mut conn, &[audit_entry("operator.otp_locked", "locked")]).await?;
        let wait = (until - now).to_std().unwrap_or_default();
        return Err(AppError::RateLimited(wait));
    }
    let well_formed = code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit());
    let valid = match (&row, well_formed) {
        (Some(row), true) => {
            login::redeem(&mut conn, row.id, &code_hash(intake, row, code), now).await?
        }
        _ => false,
    };
    let Some(row) = row.filter(|_| valid) else {
        login::record_failure(&mut conn, &account, &client).await?;
        let reason = if !well_formed {
            "malformed"
        } else if operator.is_none() {
            "unknown email"
        } else {
            "wrong, used or expired"
        };
        audit::record(&mut conn, &[audit_entry("operator.otp_failed", reason)]).await?;
        return Err(AppError::Unauthorized("wrong, used or expired code".into()));
    };
    audit::record(&mut conn, &[audit_entry("operator.otp_login", "signed in")]).await?;
    super::auth::open_session(&state, &mut conn, &row).await
}
