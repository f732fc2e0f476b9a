//! Tags, canned responses, search, statistics, the audit log and contact history: the team's
//! shared content and the read-only views over conversations.

pub mod audit;
pub mod canned;
pub mod contact;
pub(crate) mod db_errors;
mod params;
pub mod search;
pub mod stats;
pub mod tags;

use actix_web::web;
use utoipa::OpenApi;

/// Routes under `/api/v1`. A method a resource does not route answers 405 in the API's error
/// shape (`super::method_not_allowed_body`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tags")
            .route(web::get().to(tags::list))
            .route(web::post().to(tags::create)),
    )
    .service(
        web::resource("/tags/{id}")
            .route(web::get().to(tags::get))
            .route(web::patch().to(tags::update))
            .route(web::delete().to(tags::delete)),
    )
    .service(
        web::resource("/canned-responses")
            .route(web::get().to(canned::list))
            .route(web::post().to(canned::create)),
    )
    .service(
        web::resource("/canned-responses/{id}")
            .route(web::get().to(canned::get))
            .route(web::patch().to(canned::update))
            .route(web::delete().to(canned::delete)),
    )
    .service(web::resource("/search").route(web::get().to(search::search)))
    .service(web::resource("/conversations/{id}/contact").route(web::get().to(contact::contact)))
    .service(
        web::resource("/contacts/{id}/block")
            .route(web::post().to(contact::block))
            .route(web::delete().to(contact::unblock)),
    )
    .service(web::resource("/stats").route(web::get().to(stats::stats)))
    .service(web::resource("/audit").route(web::get().to(audit::list)));
}

#[derive(OpenApi)]
#[openapi(
    paths(
        tags::list,
        tags::get,
        tags::create,
        tags::update,
        tags::delete,
        canned::list,
        canned::get,
        canned::create,
        canned::update,
        canned::delete,
        search::search,
        contact::contact,
        contact::block,
        contact::unblock,
        stats::stats,
        audit::list,
    ),
    components(schemas(
        tags::Tag,
        tags::TagList,
        tags::NewTagRequest,
        tags::TagPatch,
        canned::CannedResponse,
        canned::CannedList,
        canned::NewCannedRequest,
        canned::CannedPatch,
        search::SearchResult,
        search::SearchPage,
        contact::ContactHistory,
        contact::BlockView,
        contact::BlockRequest,
        stats::Stats,
        stats::Volume,
        stats::ByStatus,
        stats::ByChannel,
        stats::Durations,
        stats::Satisfaction,
        stats::OperatorStats,
        audit::AuditItem,
        audit::AuditPage,
    )),
    tags(
        (name = "tags", description = "Labels on conversations; admins manage them"),
        (name = "canned-responses", description = "Reply templates by shortcut and language; admins manage them"),
        (name = "search", description = "Full-text search over messages and notes"),
        (name = "conversations", description = "Conversations and their customers"),
        (name = "statistics", description = "Volume, response times and satisfaction; supervisors and admins"),
        (name = "audit", description = "Every operator action; admins"),
    )
)]
struct ContentApi;

/// This module's part of the API document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ContentApi::openapi()
}
