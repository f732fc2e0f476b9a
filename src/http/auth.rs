//! Operator login and logout, and the extractor that turns a bearer token (or the panel's
//! cookie) into the signed-in operator.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{client_ip, AppState};
use crate::auth::{hash_token, new_token, verify_password, OperatorIdentity};
use crate::db::operators;
use crate::db::sessions::{self, NewOperatorSession};
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::protocol::OperatorView;

/// The cookie the operator panel may use instead of an Authorization header.
pub const SESSION_COOKIE: &str = "sb_session";

/// The token from `Authorization: Bearer …`, or the session cookie.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    header.or_else(|| req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()))
}

/// The signed-in operator of a request; rejects with 401 otherwise.
pub struct AuthOperator {
    pub operator: OperatorIdentity,
    pub token_hash: Vec<u8>,
}

impl FromRequest for AuthOperator {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Self>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token =
                token.ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
            let state = state.ok_or(AppError::Internal)?;
            let token_hash = hash_token(&token);
            let mut conn = state.pool.get().await?;
            let row = sessions::operator_by_token(&mut conn, &token_hash, Utc::now())
                .await?
                .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
            Ok(AuthOperator {
                operator: OperatorIdentity::from(&row),
                token_hash,
            })
        })
    }
}

impl AuthOperator {
    /// 403 unless the operator's role is at least `role`.
    pub fn require(&self, role: Role) -> AppResult<()> {
        if self.operator.role.rank() >= role.rank() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("this needs the {role} role")))
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Ignoring case and surrounding spaces.
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>` and in the operator socket's `hello`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub operator: OperatorView,
}

/// `POST /api/v1/auth/login`
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    operation_id = "login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the token is also set as the `sb_session` cookie", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "`sb_session=<token>`; HttpOnly, SameSite=Strict, for the operator panel"))),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Wrong email or password (or a deleted operator)", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "A missing or mistyped `email` or `password`", body = ApiError),
        (status = 429, description = "`rate_limited`: too many attempts from this address (`logins_per_ip_per_min`); `Retry-After: 1`", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> AppResult<HttpResponse> {
    if state.login_limiter.check_key(&client_ip(&req)).is_err() {
        return Err(AppError::RateLimited);
    }
    let wrong = || AppError::Unauthorized("wrong email or password".into());
    let mut conn = state.pool.get().await?;
    let row = operators::find_by_email(&mut conn, body.email.trim())
        .await?
        .ok_or_else(wrong)?;
    let (password, hash) = (body.password.clone(), row.password_hash.clone());
    let valid = web::block(move || verify_password(&password, &hash))
        .await
        .map_err(|_| AppError::Internal)?;
    if !valid {
        return Err(wrong());
    }
    let (token, token_hash) = new_token();
    let expires_at = Utc::now() + chrono::Duration::hours(state.config.operator_token_ttl_hours);
    sessions::insert_operator_session(
        &mut conn,
        &NewOperatorSession {
            id: Uuid::now_v7(),
            operator_id: row.id,
            token_hash: &token_hash,
            expires_at,
        },
    )
    .await?;
    let operator = OperatorIdentity::from(&row).view();
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::hours(state.config.operator_token_ttl_hours))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse {
        token,
        expires_at,
        operator,
    }))
}

/// `POST /api/v1/auth/logout`: revokes the token used for this request.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "logout",
    tag = "auth",
    responses(
        (status = 204, description = "The token stops working and the cookie is removed"),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn logout(state: web::Data<AppState>, auth: AuthOperator) -> AppResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    sessions::revoke_operator_session(&mut conn, &auth.token_hash, Utc::now()).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// `GET /api/v1/auth/me`
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    operation_id = "me",
    tag = "auth",
    responses(
        (status = 200, description = "The signed-in operator", body = OperatorView),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn me(auth: AuthOperator) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(auth.operator.view()))
}
