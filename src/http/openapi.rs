//! The OpenAPI 3 document, generated from the handlers' annotations and served at
//! `/api/openapi.json`. Each HTTP module contributes its part; they are merged here.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

use super::content;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Live-chat customer support: widget sessions, operators, conversations."
    ),
    components(schemas(crate::error::ApiError, crate::error::ApiErrorDetail))
)]
struct CoreApi;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = CoreApi::openapi();
    doc.merge(content::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc
}

/// `GET /api/openapi.json`
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
