//! WebSocket upgrades: the Origin check, then one session actor per socket.

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use super::auth::SESSION_COOKIE;
use super::AppState;
use crate::actors::operator_session::OperatorSession;
use crate::actors::visitor_session::VisitorSession;
use crate::error::{AppError, AppResult};

/// Browsers always send Origin on a socket upgrade; it must be the server's own or a listed
/// one. Non-browser clients that send none are let through (they could forge it anyway).
fn check_origin(req: &HttpRequest, state: &AppState) -> AppResult<()> {
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
    if same_origin || state.config.allowed_origins().contains(&origin) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "origin {origin} is not allowed"
        )))
    }
}

fn upgrade_error(e: actix_web::Error) -> AppError {
    AppError::InvalidRequest {
        message: format!("not a WebSocket upgrade: {e}"),
        field: None,
    }
}

/// `GET /ws/visitor`
pub async fn visitor(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    check_origin(&req, &state)?;
    ws::WsResponseBuilder::new(VisitorSession::new(state.session_deps()), &req, stream)
        .frame_size(state.config.max_body_bytes)
        .start()
        .map_err(upgrade_error)
}

/// `GET /ws/operator`
pub async fn operator(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    check_origin(&req, &state)?;
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    ws::WsResponseBuilder::new(
        OperatorSession::new(state.session_deps(), cookie),
        &req,
        stream,
    )
    .frame_size(state.config.max_body_bytes)
    .start()
    .map_err(upgrade_error)
}
