//! `/metrics`: Prometheus text, with pool and actor gauges taken at scrape time.

use actix_web::{web, HttpResponse};

use super::AppState;
use crate::telemetry;

/// `GET /metrics`
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition (the names are listed in the README)", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "No metrics recorder could be installed in this process", body = String, content_type = "text/plain"),
    )
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let Some(handle) = telemetry::handle() else {
        return actix_web::ResponseError::error_response(&crate::error::AppError::Unavailable);
    };
    let pool = state.pool.status();
    metrics::gauge!(telemetry::DB_POOL_SIZE).set(pool.size as f64);
    metrics::gauge!(telemetry::DB_POOL_AVAILABLE).set(pool.available as f64);
    metrics::gauge!(telemetry::DB_POOL_WAITING).set(pool.waiting as f64);
    metrics::gauge!(telemetry::CONVERSATIONS_LIVE).set(state.registry.live_count() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
