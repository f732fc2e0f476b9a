//! The web faces of the product, served from `static/` and embedded into the binary: the
//! visitor widget (`/widget.js`, demo page `/widget`) and the operator panel (`/admin`).
//!
//! Release builds carry the files inside the executable; debug builds read them from the
//! source tree on each request, so the UI can be edited without rebuilding.

use std::borrow::Cow;
use std::sync::Arc;

use actix_cors::Cors;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Compress;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rust_embed::{EmbeddedFile, RustEmbed};

use crate::error::AppError;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

/// The panel may only talk to its own server; nothing is fetched from anywhere else.
const PANEL_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; media-src 'self' data:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The demo page embeds the widget like any customer site would.
const DEMO_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'";

/// Files are compressed when the browser accepts it (the widget script to about 40% of its size).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let file = |path: &str| web::resource(path.to_owned()).wrap(Compress::default());
    cfg.route("/", web::get().to(root))
        .service(file("/widget.js").route(web::get().to(widget_script)))
        .service(file("/widget").route(web::get().to(widget_demo)))
        .service(file("/admin").route(web::get().to(panel)))
        .service(file("/admin/{tail:.*}").route(web::get().to(panel)))
        .service(file("/static/{path:.*}").route(web::get().to(asset)));
}

async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/admin"))
        .finish()
}

async fn widget_script(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let mut res = serve(&req, "widget.js")?;
    // Any site may load the script; what it may then open is decided by the Origin checks.
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(res)
}

async fn widget_demo(req: HttpRequest) -> Result<HttpResponse, AppError> {
    page(&req, "widget.html", DEMO_CSP)
}

/// Every panel path answers the same document; the panel routes on the URL fragment.
async fn panel(req: HttpRequest) -> Result<HttpResponse, AppError> {
    page(&req, "admin/index.html", PANEL_CSP)
}

/// Scripts, styles and images. Pages are served only under their own paths, with their
/// security headers: an HTML file is not served from here.
async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    if path.ends_with(".html") {
        return Err(AppError::NotFound("no such file".into()));
    }
    serve(&req, &path)
}

fn page(req: &HttpRequest, name: &str, csp: &'static str) -> Result<HttpResponse, AppError> {
    let mut res = serve(req, name)?;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    Ok(res)
}

/// Sites on the allow-list embed the widget, whose script then calls the widget endpoints
/// from the site's origin. Only those endpoints answer cross-origin, and only to those sites;
/// other requests pass through untouched (the panel is same-origin).
pub fn widget_cors(origins: Arc<Vec<String>>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            head.uri.path().starts_with("/api/v1/widget/")
                && origin
                    .to_str()
                    .is_ok_and(|o| origins.iter().any(|allowed| allowed == o))
        })
        .allowed_methods(["GET", "POST"])
        .allowed_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(3600)
        .block_on_origin_mismatch(false)
}

/// One embedded file, revalidated by its content hash: browsers always ask, and an unchanged
/// file costs a 304.
fn serve(req: &HttpRequest, path: &str) -> Result<HttpResponse, AppError> {
    let file = lookup(path).ok_or_else(|| AppError::NotFound("no such file".into()))?;
    let etag = format!(
        "\"{}\"",
        URL_SAFE_NO_PAD.encode(&file.metadata.sha256_hash()[..16])
    );
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        return Ok(res.finish());
    }
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    Ok(res
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(match file.data {
            Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
            Cow::Owned(bytes) => web::Bytes::from(bytes),
        }))
}

/// Paths are looked up verbatim among the embedded files, so `..` can never leave `static/`.
fn lookup(path: &str) -> Option<EmbeddedFile> {
    if path
        .split('/')
        .any(|part| part == ".." || part.starts_with('.'))
    {
        return None;
    }
    Static::get(path)
}
