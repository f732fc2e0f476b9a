//! WebSocket upgrades: the Origin check, then one session actor per socket.

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use super::auth::session_cookie;
use super::AppState;
use crate::actors::operator_session::OperatorSession;
use crate::actors::socket::AdmissionGuard;
use crate::actors::visitor_session::VisitorSession;
use crate::error::{ApiError, AppError, AppResult};

/// Browsers always send Origin on a socket upgrade; it must be the server's own, or for the
/// visitor socket a site on the allow-list (sites embed the widget, never the panel: a script
/// on such a site must not reach an operator's socket with the operator's cookie). Non-browser
/// clients that send none are let through (they could forge it anyway).
fn check_origin(req: &HttpRequest, state: &AppState, listed_sites: bool) -> AppResult<()> {
    let Some(origin) = req.headers().get("origin") else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| AppError::Forbidden("origin not allowed".into()))?
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let own_host = req.connection_info().host().to_ascii_lowercase();
    let same_origin = origin
        .split_once("://")
        .is_some_and(|(_, host)| host == own_host);
    if same_origin || (listed_sites && state.config.allowed_origins().contains(&origin)) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "origin {origin} is not allowed"
        )))
    }
}

/// A place among the client address's unauthenticated sockets, or 429 when it has its fill.
fn admit(req: &HttpRequest, state: &AppState) -> AppResult<AdmissionGuard> {
    let ip = super::client_ip(req);
    state
        .admission
        .enter(ip, state.config.unauthenticated_sockets_per_ip.max(1))
        .ok_or_else(AppError::rate_limited_soon)
}

fn upgrade_error(e: actix_web::Error) -> AppError {
    AppError::InvalidRequest {
        message: format!("not a WebSocket upgrade: {e}"),
        field: None,
    }
}

/// `GET /ws/visitor`
#[utoipa::path(
    get,
    path = "/ws/visitor",
    operation_id = "visitor_socket",
    tag = "websocket",
    description = "The visitor's WebSocket. The first frame must be `hello` with the widget token \
        from `POST /api/v1/widget/sessions`; every frame is described in the README \
        (WebSocket protocol).",
    responses(
        (status = 101, description = "Switching Protocols: the socket is open"),
        (status = 403, description = "The `Origin` is neither the server's own nor in `allowed_origins`", body = ApiError),
        (status = 429, description = "`rate_limited`: this address already holds `unauthenticated_sockets_per_ip` sockets that have not said a valid `hello`", body = ApiError),
        (status = 422, description = "Not a WebSocket upgrade request", body = ApiError),
    )
)]
pub async fn visitor(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    check_origin(&req, &state, true)?;
    let admission = admit(&req, &state)?;
    ws::WsResponseBuilder::new(
        VisitorSession::new(state.session_deps(), admission),
        &req,
        stream,
    )
    .frame_size(state.config.max_body_bytes)
    .start()
    .map_err(upgrade_error)
}

/// `GET /ws/operator`
#[utoipa::path(
    get,
    path = "/ws/operator",
    operation_id = "operator_socket",
    tag = "websocket",
    description = "The operator's WebSocket. The first frame must be `hello` with the token from \
        `POST /api/v1/auth/login` (or none, when the session cookie came with the upgrade); \
        every frame is described in the README (WebSocket protocol).",
    responses(
        (status = 101, description = "Switching Protocols: the socket is open"),
        (status = 403, description = "The `Origin` is not the server's own (sites in `allowed_origins` embed the widget, not the panel)", body = ApiError),
        (status = 429, description = "`rate_limited`: this address already holds `unauthenticated_sockets_per_ip` sockets that have not said a valid `hello`", body = ApiError),
        (status = 422, description = "Not a WebSocket upgrade request", body = ApiError),
    )
)]
pub async fn operator(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    check_origin(&req, &state, false)?;
    let admission = admit(&req, &state)?;
    let cookie = session_cookie(&req);
    ws::WsResponseBuilder::new(
        OperatorSession::new(state.session_deps(), cookie, admission),
        &req,
        stream,
    )
    .frame_size(state.config.max_body_bytes)
    .start()
    .map_err(upgrade_error)
}
