//! Tags, canned responses, search, statistics, the audit log and contact history: the team's
//! shared content and the read-only views over conversations.

use actix_web::web;

/// Routes under `/api/v1`.
pub fn configure(_cfg: &mut web::ServiceConfig) {}

/// This module's part of the API document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}
