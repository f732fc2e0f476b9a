//! Operator login and logout, and the extractor that turns a bearer token (or the panel's
//! cookie) into the signed-in operator: refusing cookie-borne changes from other sites (CSRF)
//! and holding each token to the operator API's rate limit.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::json::Json;
use super::throttle;
use super::{client_ip, AppState};
use crate::actors::router::{Revoked, RevokedTokens};
use crate::auth::{hash_token, new_token, verify_password, OperatorIdentity};
use crate::config::Config;
use crate::db::operators::{self, OperatorRow};
use crate::db::sessions::{self, NewOperatorSession};
use crate::domain::Role;
use crate::error::{ApiError, AppError, AppResult};
use crate::protocol::OperatorView;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The cookie the operator panel may use instead of an Authorization header. The `__Host-`
/// prefix makes browsers take it only from this host over HTTPS, with `Path=/` and no
/// `Domain`, so a sibling subdomain can neither read nor plant it.
pub const SESSION_COOKIE: &str = "__Host-sb_session";
/// Its name with `cookie_secure = false` (plain-HTTP development; browsers refuse `__Host-`
/// cookies without `Secure`).
pub const DEV_SESSION_COOKIE: &str = "sb_session";

/// The session cookie's name under this configuration.
pub fn session_cookie_name(config: &Config) -> &'static str {
    if config.cookie_secure {
        SESSION_COOKIE
    } else {
        DEV_SESSION_COOKIE
    }
}

/// The token in the request's session cookie, if it carries one.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    let name = req
        .app_data::<web::Data<AppState>>()
        .map_or(SESSION_COOKIE, |state| session_cookie_name(&state.config));
    req.cookie(name).map(|c| c.value().to_owned())
}

fn new_session_cookie(config: &Config, value: String) -> Cookie<'static> {
    Cookie::build(session_cookie_name(config), value)
        .path("/")
        .http_only(true)
        .secure(config.cookie_secure)
        .same_site(SameSite::Strict)
        .finish()
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    Header,
    /// Browsers attach cookies to requests other sites make, so these need an origin check.
    Cookie,
}

fn credentials(req: &HttpRequest) -> Option<(String, TokenSource)> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| (t.trim().to_owned(), TokenSource::Header));
    header.or_else(|| session_cookie(req).map(|t| (t, TokenSource::Cookie)))
}

/// The token from `Authorization: Bearer …`, or the session cookie.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    credentials(req).map(|(token, _)| token)
}

/// Whether the browser says the request comes from this server's own pages:
/// `Sec-Fetch-Site: same-origin`, or an `Origin` equal to the scheme and host the request was
/// made to (as `ConnectionInfo` sees them, behind a proxy from its forwarding headers, which a
/// page on another site cannot set). Neither header: not shown, so not believed.
fn from_own_origin(req: &HttpRequest) -> bool {
    let fetch_site = req.headers().get("sec-fetch-site");
    if fetch_site.is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"same-origin")) {
        return true;
    }
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let info = req.connection_info();
    let own = origin_of(info.scheme(), info.host());
    let Some((scheme, host)) = origin.trim_end_matches('/').split_once("://") else {
        return false;
    };
    origin_of(scheme, host) == own
}

/// `scheme://host[:port]` in lower case, without the scheme's default port.
fn origin_of(scheme: &str, host: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" | "wss" => ":443",
        "http" | "ws" => ":80",
        _ => "",
    };
    let host = if default_port.is_empty() {
        host.as_str()
    } else {
        host.strip_suffix(default_port).unwrap_or(&host)
    };
    format!("{scheme}://{host}")
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The signed-in operator of a request; rejects with 401 otherwise, with 403 a change
/// carried by the cookie from another site, and with 429 a token over its API rate limit.
pub struct AuthOperator {
    pub operator: OperatorIdentity,
    pub token_hash: Vec<u8>,
}

impl FromRequest for AuthOperator {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Self>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let credentials = credentials(req);
        let cross_site_change = changes_state(req.method()) && !from_own_origin(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (token, source) =
                credentials.ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
            if source == TokenSource::Cookie && cross_site_change {
                return Err(AppError::Forbidden(
                    "a change made with the session cookie must come from this server's own \
                     pages (Origin or Sec-Fetch-Site); other clients send the token as a \
                     Bearer header"
                        .into(),
                ));
            }
            let state = state.ok_or(AppError::Internal)?;
            let token_hash = hash_token(&token);
            let mut conn = state.pool.get().await?;
            let row = sessions::operator_by_token(&mut conn, &token_hash, Utc::now())
                .await?
                .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
            drop(conn);
            // Counted once the token is known good: unknown tokens add no keys to the map.
            throttle::check(&state.api_limiter, &token_hash)?;
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
        (status = 200, description = "Signed in; the token is also set as the `__Host-sb_session` cookie (`sb_session` with `cookie_secure = false`)", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "`__Host-sb_session=<token>`; Secure, HttpOnly, Path=/, SameSite=Strict, for the operator panel"))),
        (status = 400, description = "Malformed body", body = ApiError),
        (status = 401, description = "Wrong email or password (or a deleted operator)", body = ApiError),
        (status = 413, description = "`too_long`: the body is over `max_body_bytes`", body = ApiError),
        (status = 422, description = "A missing or mistyped `email` or `password`", body = ApiError),
        (status = 429, description = "`rate_limited`: too many attempts from this address (`logins_per_ip_per_min`), or five failed ones for this email (known or not; the wait doubles with each further failure, up to 15 minutes, and a success resets it); `Retry-After` gives the seconds to wait", body = ApiError,
            headers(("Retry-After" = u64, description = "Seconds until an attempt is accepted"))),
        (status = 503, description = "Storage unavailable; retry", body = ApiError),
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<LoginRequest>,
) -> AppResult<HttpResponse> {
    throttle::check(&state.login_limiter, &client_ip(&req))?;
    let email = body.email.trim().to_lowercase();
    // No operator can have such an email, so refusing it tells nothing; it keeps what the
    // backoff remembers per email small, and a NUL away from the database.
    crate::validate::text("email", &email)?;
    if email.len() > MAX_EMAIL_BYTES {
        return Err(AppError::invalid(
            "email",
            "a valid email address is required",
        ));
    }
    let backoff_key = URL_SAFE_NO_PAD.encode(hash_token(&email));
    let mut conn = state.pool.get().await?;
    let row = operators::find_by_email(&mut conn, &email).await?;
    // Charged after the lookup, so that an outage does not count against the account; and for
    // unknown emails too, so that the 429 tells nothing about which exist.
    state
        .login_backoff
        .charge(backoff_key.clone(), state.clock.now())
        .map_err(AppError::RateLimited)?;
    let password = body.password.clone();
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let valid = web::block(move || verify_password(&password, hash_to_check(stored.as_deref())))
        .await
        .map_err(|_| AppError::Internal)?;
    let Some(row) = row.filter(|_| valid) else {
        return Err(AppError::Unauthorized("wrong email or password".into()));
    };
    state.login_backoff.clear(&backoff_key);
    open_session(&state, &mut conn, &row).await
}

/// The hash a login verifies the password against: the operator's, or for an unknown email
/// a dummy one, so that both cost one argon2 verification and time tells nothing.
fn hash_to_check(stored: Option<&str>) -> &str {
    match stored {
        Some(hash) => hash,
        None => dummy_hash(),
    }
}

/// The longest email an operator can have (RFC 5321's path limit).
pub(super) const MAX_EMAIL_BYTES: usize = 254;

/// An argon2id hash, with the parameters of real ones (`Argon2::default()`), of 32 random
/// bytes that were thrown away: nothing verifies against it, and checking costs what checking
/// a real hash costs. A constant, so no login and no start-up pays for making it.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$xYbDy52mRs1wlw8fhyYkEA$mfxaGNfRJpGvRVyw4MW+LEGaClHWOBHRYDcB5c9LTO4";

fn dummy_hash() -> &'static str {
    DUMMY_HASH
}

/// A new session for a signed-in operator: the token in the body and in the cookie.
pub(super) async fn open_session(
    state: &AppState,
    conn: &mut diesel_async::AsyncPgConnection,
    row: &OperatorRow,
) -> AppResult<HttpResponse> {
    let (token, token_hash) = new_token();
    let expires_at = Utc::now() + chrono::Duration::hours(state.config.operator_token_ttl_hours);
    sessions::insert_operator_session(
        conn,
        &NewOperatorSession {
            id: Uuid::now_v7(),
            operator_id: row.id,
            token_hash: &token_hash,
            expires_at,
        },
    )
    .await?;
    let operator = OperatorIdentity::from(row).view();
    let mut cookie = new_session_cookie(&state.config, token.clone());
    cookie.set_max_age(CookieDuration::hours(state.config.operator_token_ttl_hours));
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
    // Awaited: the sockets are told before the client hears that it is done.
    let _ = state
        .router
        .send(Revoked {
            operator: auth.operator.id,
            tokens: RevokedTokens::Only(auth.token_hash.clone()),
        })
        .await;
    // Browsers take a `__Host-` removal only with the same Secure and Path as the cookie.
    let mut gone = new_session_cookie(&state.config, String::new());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_password;
    use argon2::password_hash::PasswordHash;

    #[test]
    fn an_unknown_email_is_checked_against_a_real_argon2_hash() {
        let dummy = hash_to_check(None);
        let parsed = PasswordHash::new(dummy).expect("the dummy is a PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let real = hash_password("correct horse battery").unwrap();
        let real_params = PasswordHash::new(&real).unwrap().params;
        assert_eq!(parsed.params, real_params, "the same cost as a real hash");
        assert!(!verify_password("", dummy));
        assert!(!verify_password("correct horse battery", dummy));
    }

    #[test]
    fn a_known_email_is_checked_against_its_own_hash() {
        let real = hash_password("correct horse battery").unwrap();
        assert_eq!(hash_to_check(Some(&real)), real);
        assert!(verify_password(
            "correct horse battery",
            hash_to_check(Some(&real))
        ));
    }

    #[test]
    fn origins_compare_without_default_ports_or_case() {
        assert_eq!(origin_of("HTTPS", "Example.com:443"), "https://example.com");
        assert_eq!(origin_of("http", "127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_ne!(
            origin_of("http", "example.com"),
            origin_of("https", "example.com")
        );
    }
}
