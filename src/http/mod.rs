//! HTTP and WebSocket endpoints. Handlers only translate between HTTP and the actors or
//! read-only queries; every route is wired in `configure`, so the whole surface reads here.

pub mod actions;
pub mod assets;
pub mod auth;
pub mod automation;
pub mod client_ip;
pub mod content;
pub mod conversations;
pub mod groups;
pub mod health;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod operators;
pub mod otp;
pub mod privacy;
pub mod telegram;
pub mod telegram_admin;
pub mod throttle;
pub mod widget;
pub mod ws;

use std::net::IpAddr;
use std::sync::Arc;

use actix::Addr;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest, HttpResponse};
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use tokio::sync::watch;

use crate::actors::registry::ConversationRegistry;
use crate::actors::router::Router;
use crate::actors::visitor_session::SessionDeps;
use crate::clock::SharedClock;
use crate::config::{quota_per_minute, quota_per_second, Config};
use crate::db::DbPool;
use crate::error::AppError;
use crate::ids::OperatorId;
pub use client_ip::client_ip;
use client_ip::TrustedProxies;
use throttle::{Backoff, LOGIN_POLICY, PASSWORD_CHECK_POLICY};

/// Everything handlers share; one instance for all workers.
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub router: Addr<Router>,
    pub registry: Arc<ConversationRegistry>,
    pub shutdown: watch::Receiver<bool>,
    /// Widget sessions opened per client IP.
    pub session_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Login attempts per client IP.
    pub login_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Operator API requests per token (keyed by the token's hash).
    pub api_limiter: DefaultKeyedRateLimiter<Vec<u8>>,
    /// Failed logins per email (known or not, so that it tells nothing).
    pub login_backoff: Backoff<String>,
    /// Wrong current passwords per operator, on a password change.
    pub password_backoff: Backoff<OperatorId>,
    pub trusted_proxies: TrustedProxies,
    /// Sockets per client IP that have not said a valid `hello` yet.
    pub admission: Arc<crate::actors::socket::Admission>,
    /// Frames per operator token over the operator sockets.
    pub operator_limits: Arc<crate::actors::operator_session::OperatorFrameLimits>,
    /// The time the backoffs go by (tests move a manual clock).
    pub clock: SharedClock,
    /// Where the Telegram webhook stores updates; None when the channel is off.
    pub telegram: Option<crate::telegram::Intake>,
    /// The automation rules in force (auto-replies, escalation, business hours).
    pub automation: Arc<crate::automation::Automation>,
    pub scheduler: Option<Arc<crate::automation::scheduler::Scheduler>>,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        pool: DbPool,
        router: Addr<Router>,
        registry: Arc<ConversationRegistry>,
        shutdown: watch::Receiver<bool>,
        trusted_proxies: TrustedProxies,
        clock: SharedClock,
    ) -> Self {
        AppState {
            session_limiter: RateLimiter::keyed(quota_per_minute(config.sessions_per_ip_per_min)),
            login_limiter: RateLimiter::keyed(quota_per_minute(config.logins_per_ip_per_min)),
            api_limiter: RateLimiter::keyed(quota_per_second(
                config.api_requests_per_sec,
                config.api_burst,
            )),
            login_backoff: Backoff::new(LOGIN_POLICY),
            password_backoff: Backoff::new(PASSWORD_CHECK_POLICY),
            trusted_proxies,
            admission: Arc::default(),
            operator_limits: Arc::new(crate::actors::operator_session::OperatorFrameLimits::new(
                &config,
            )),
            clock,
            telegram: None,
            automation: Arc::default(),
            scheduler: None,
            config,
            pool,
            router,
            registry,
            shutdown,
        }
    }

    /// Forgets the limits of clients that went quiet, so the maps hold only active ones.
    pub fn prune_limits(&self) {
        throttle::prune_limiter(&self.session_limiter);
        throttle::prune_limiter(&self.login_limiter);
        throttle::prune_limiter(&self.api_limiter);
        throttle::prune_limiter(&self.operator_limits.frames);
        throttle::prune_limiter(&self.operator_limits.messages);
        let now = self.clock.now();
        self.login_backoff.prune(now);
        self.password_backoff.prune(now);
    }

    pub fn session_deps(&self) -> SessionDeps {
        SessionDeps {
            pool: self.pool.clone(),
            registry: self.registry.clone(),
            router: self.router.clone(),
            config: self.config.clone(),
            shutdown: self.shutdown.clone(),
            operator_limits: self.operator_limits.clone(),
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body_bytes)
            .error_handler(|err, _req| json_error(err).into()),
    )
    .app_data(web::PayloadConfig::default().limit(max_body_bytes))
    .app_data(web::PathConfig::default().error_handler(|err, _req| path_error(err).into()))
    .app_data(web::QueryConfig::default().error_handler(|err, _req| query_error(err).into()))
    .service(web::scope("/api/v1").configure(api_v1))
    .route("/api/openapi.json", web::get().to(openapi::serve))
    .route("/ws/visitor", web::get().to(ws::visitor))
    .route("/ws/operator", web::get().to(ws::operator))
    .route("/telegram/webhook", web::post().to(telegram::webhook))
    .route("/health", web::get().to(health::health))
    .route("/metrics", web::get().to(metrics::metrics))
    .configure(assets::configure)
    .default_service(web::to(not_found));
}

#[rustfmt::skip]
fn api_v1(cfg: &mut web::ServiceConfig) {
    cfg
        .route("/widget/sessions", web::post().to(widget::create_session))
        .route("/widget/conversations/{id}/events", web::get().to(widget::events))
        .route("/auth/login", web::post().to(auth::login))
        .route("/auth/logout", web::post().to(auth::logout))
        .route("/auth/me", web::get().to(auth::me))
        .route("/auth/otp/request", web::post().to(otp::request))
        .route("/auth/otp/verify", web::post().to(otp::verify))
        .route("/conversations", web::get().to(conversations::list))
        .route("/conversations/{id}", web::get().to(conversations::get))
        .route("/conversations/{id}/events", web::get().to(conversations::events))
        .route("/conversations/{id}/messages", web::post().to(conversations::post_message))
        .route("/conversations/{id}/notes", web::post().to(actions::note))
        .route("/conversations/{id}/take", web::post().to(actions::take))
        .route("/conversations/{id}/assign", web::post().to(actions::assign))
        .route("/conversations/{id}/transfer", web::post().to(actions::transfer))
        .route("/conversations/{id}/escalate", web::post().to(actions::escalate))
        .route("/conversations/{id}/priority", web::post().to(actions::priority))
        .route("/conversations/{id}/resolve", web::post().to(actions::resolve))
        .route("/conversations/{id}/reopen", web::post().to(actions::reopen))
        .route("/conversations/{id}/close", web::post().to(actions::close))
        .route("/conversations/{id}/tags", web::post().to(actions::add_tag))
        .route("/conversations/{id}/tags/{tag_id}", web::delete().to(actions::remove_tag))
        .route("/conversations/{id}", web::delete().to(privacy::delete_conversation))
        .route("/contacts/{id}/export", web::get().to(privacy::export))
        .route("/contacts/{id}/erase", web::post().to(privacy::erase))
        .route("/conversations/{id}/category", web::post().to(actions::category))
        .route("/auto-replies", web::get().to(automation::list))
        .route("/auto-replies", web::post().to(automation::create))
        .route("/auto-replies/{id}", web::get().to(automation::get))
        .route("/auto-replies/{id}", web::put().to(automation::update))
        .route("/auto-replies/{id}", web::delete().to(automation::delete))
        .route("/settings/escalation", web::get().to(automation::get_escalation))
        .route("/settings/escalation", web::put().to(automation::put_escalation))
        .route("/groups/{id}/business-hours", web::get().to(automation::get_hours))
        .route("/groups/{id}/business-hours", web::put().to(automation::put_hours))
        .route("/groups/{id}/business-hours", web::delete().to(automation::delete_hours))
        .route("/admin/telegram", web::get().to(telegram_admin::settings))
        .route("/admin/telegram/webhook", web::post().to(telegram_admin::register_webhook))
        .route("/admin/telegram/texts", web::get().to(telegram_admin::texts))
        .route("/admin/telegram/texts/{key}/{language}", web::put().to(telegram_admin::set_text))
        .route("/admin/telegram/texts/{key}/{language}", web::delete().to(telegram_admin::reset_text))
        .route("/operators", web::get().to(operators::list))
        .route("/operators", web::post().to(operators::create))
        .route("/operators/me", web::get().to(operators::me))
        .route("/operators/me/status", web::put().to(operators::set_status))
        .route("/operators/me/telegram-link", web::post().to(telegram::create_link_code))
        .route("/operators/me/telegram-link", web::delete().to(telegram::unlink_me))
        .route("/operators/{id}/telegram-link", web::delete().to(telegram::unlink_operator))
        .route("/operators/{id}", web::get().to(operators::get))
        .route("/operators/{id}", web::patch().to(operators::update))
        .route("/operators/{id}", web::delete().to(operators::delete))
        .route("/operators/{id}/restore", web::post().to(operators::restore))
        .route("/operators/{id}/password", web::post().to(operators::password))
        .route("/operators/{id}/revoke-sessions", web::post().to(operators::revoke_sessions))
        .route("/groups", web::get().to(groups::list))
        .route("/groups", web::post().to(groups::create))
        .route("/groups/{id}", web::patch().to(groups::update))
        .route("/groups/{id}", web::delete().to(groups::delete))
        .route("/groups/{id}/members/{operator_id}", web::put().to(groups::add_member))
        .route("/groups/{id}/members/{operator_id}", web::delete().to(groups::remove_member))
        .configure(content::configure);
}

/// Nothing answered: 405 when the path is routed but not for this method, 404 otherwise.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    if req.resource_map().has_resource(req.path()) {
        return Ok(method_not_allowed());
    }
    Err(AppError::NotFound("no such endpoint".into()))
}

pub(crate) fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(serde_json::json!({
        "error": {
            "code": "method_not_allowed",
            "message": "this endpoint does not support that method",
        }
    }))
}

/// Every 405 carries the API's error body (actix's own has none).
pub fn method_not_allowed_body<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let res = method_not_allowed();
    Ok(actix_web::middleware::ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, res).map_into_right_body(),
    ))
}

fn json_error(err: JsonPayloadError) -> AppError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => {
            AppError::PayloadTooLarge(format!("request bodies are limited to {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            AppError::Malformed("expected Content-Type: application/json".into())
        }
        // Bodies are read as a `Value` first (`json::Json`), so only syntax fails here; a body
        // of the wrong shape is refused by `json::Json`, naming the field.
        JsonPayloadError::Deserialize(e) => AppError::Malformed(format!("malformed JSON: {e}")),
        other => AppError::Malformed(format!("unreadable body: {other}")),
    }
}

fn path_error(_err: PathError) -> AppError {
    AppError::NotFound("no such resource".into())
}

fn query_error(err: QueryPayloadError) -> AppError {
    AppError::Malformed(format!("invalid query string: {err}"))
}
