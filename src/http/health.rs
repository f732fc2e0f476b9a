//! `/health`: is the database answering and is the router running?

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::actors::router::Stats;
use crate::db;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The router's figures are absent when it did not answer within the probe timeout.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    status: &'static str,
    /// `ok` or `unreachable`.
    database: &'static str,
    /// `ok` or `not running`.
    router: &'static str,
    /// Running conversation actors.
    conversations_live: usize,
    /// The router has loaded the open conversations.
    #[serde(skip_serializing_if = "Option::is_none")]
    loaded: Option<bool>,
    /// Connected operators who are not offline.
    #[serde(skip_serializing_if = "Option::is_none")]
    operators_online: Option<usize>,
    /// Conversations waiting for an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_length: Option<usize>,
}

/// `GET /health`
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "operations",
    responses(
        (status = 200, description = "PostgreSQL answers and the router has loaded", body = Health),
        (status = 503, description = "`status` is `degraded`: PostgreSQL does not answer within 2 s, or the router is not running", body = Health),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database_ok = db::ping(&state.pool, PROBE_TIMEOUT).await;
    let stats = tokio::time::timeout(PROBE_TIMEOUT, state.router.send(Stats))
        .await
        .ok()
        .and_then(Result::ok);
    let router_ok = stats.is_some_and(|s| s.loaded);
    let body = Health {
        status: if database_ok && router_ok {
            "ok"
        } else {
            "degraded"
        },
        database: if database_ok { "ok" } else { "unreachable" },
        router: if router_ok { "ok" } else { "not running" },
        conversations_live: state.registry.live_count(),
        loaded: stats.map(|s| s.loaded),
        operators_online: stats.map(|s| s.operators_online),
        queue_length: stats.map(|s| s.queue_length),
    };
    if database_ok && router_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
