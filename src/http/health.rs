//! `/health`: is the database answering and is the router running?

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::AppState;
use crate::actors::router::{RouterStats, Stats};
use crate::db;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
    router: &'static str,
    conversations_live: usize,
    #[serde(flatten)]
    stats: Option<RouterStats>,
}

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
        stats,
    };
    if database_ok && router_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
