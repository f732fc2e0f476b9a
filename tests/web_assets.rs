//! The widget script, its demo page and the operator panel are served by the server itself:
//! content types, revalidation, security headers, nothing outside `static/`, and cross-origin
//! access to the widget endpoints for allowed sites only.

mod common;

use common::TestServer;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, LOCATION, ORIGIN,
};
use reqwest::{redirect, Client, Method, StatusCode};
use serde_json::{json, Value};

const SHOP: &str = "https://shop.example";

fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(res: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[actix_rt::test]
async fn the_widget_script_is_served_with_its_type_and_revalidated_by_etag() {
    let server = TestServer::start().await;
    let http = client();
    let res = http.get(server.url("/widget.js")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = header(&res, CONTENT_TYPE).unwrap();
    assert!(content_type.contains("javascript"), "{content_type}");
    assert_eq!(
        header(&res, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    assert_eq!(header(&res, CACHE_CONTROL).as_deref(), Some("no-cache"));
    let etag = header(&res, ETAG).unwrap();
    let body = res.text().await.unwrap();
    assert!(body.contains("window.Switchboard"), "the widget itself");

    let again = http
        .get(server.url("/widget.js"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    let gzipped = http
        .get(server.url("/widget.js"))
        .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&gzipped, reqwest::header::CONTENT_ENCODING).as_deref(),
        Some("gzip")
    );
    let packed = gzipped.bytes().await.unwrap().len();
    assert!(packed * 2 < body.len(), "{packed} of {} bytes", body.len());

    let stale = http
        .get(server.url("/widget.js"))
        .header(IF_NONE_MATCH, "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn pages_carry_a_content_security_policy_and_the_panel_answers_every_path() {
    let server = TestServer::start().await;
    let http = client();

    let demo = http.get(server.url("/widget")).send().await.unwrap();
    assert_eq!(demo.status(), StatusCode::OK);
    assert!(header(&demo, CONTENT_TYPE)
        .unwrap()
        .starts_with("text/html"));
    assert!(header(&demo, CONTENT_SECURITY_POLICY)
        .unwrap()
        .contains("script-src 'self'"));
    assert!(demo
        .text()
        .await
        .unwrap()
        .contains(r#"<script src="/widget.js">"#));

    let panel = http.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(panel.status(), StatusCode::OK);
    let csp = header(&panel, CONTENT_SECURITY_POLICY).unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let panel_html = panel.text().await.unwrap();
    for path in ["/admin/", "/admin/queue", "/admin/c/123"] {
        let res = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.text().await.unwrap(), panel_html, "{path}");
    }

    let root = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::FOUND);
    assert_eq!(header(&root, LOCATION).as_deref(), Some("/admin"));
}

#[actix_rt::test]
async fn nothing_outside_the_static_folder_is_served() {
    let server = TestServer::start().await;
    let http = client();
    let ok = http
        .get(server.url("/static/widget.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/admin/../../src/main.rs",
        "/static/.hidden",
        "/static/missing.js",
        "/static/",
        // Pages only under their own paths, with their CSP (the panel may not be framed).
        "/static/admin/index.html",
        "/static/widget.html",
    ] {
        let res = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

#[actix_rt::test]
async fn only_allowed_sites_may_call_the_widget_endpoints_cross_origin() {
    let server = TestServer::start_with(|mut c| {
        c.allowed_origins = SHOP.into();
        c
    })
    .await;
    let http = client();
    let preflight = |origin: &'static str| {
        http.request(Method::OPTIONS, server.url("/api/v1/widget/sessions"))
            .header(ORIGIN, origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let allowed = preflight(SHOP).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(SHOP)
    );
    let foreign = preflight("https://evil.example").await.unwrap();
    assert_eq!(header(&foreign, ACCESS_CONTROL_ALLOW_ORIGIN), None);

    let open = |origin: String| {
        http.post(server.url("/api/v1/widget/sessions"))
            .header(ORIGIN, origin)
            .json(&json!({}))
            .send()
    };
    let from_shop = open(SHOP.into()).await.unwrap();
    assert_eq!(from_shop.status(), StatusCode::CREATED);
    assert_eq!(
        header(&from_shop, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(SHOP)
    );
    // The demo page on the server's own origin is not blocked.
    let own = open(server.url("")).await.unwrap();
    assert_eq!(own.status(), StatusCode::CREATED);

    // The operator API is never opened to other sites.
    let login = http
        .post(server.url("/api/v1/auth/login"))
        .header(ORIGIN, SHOP)
        .json(&json!({"email": "nobody@example.com", "password": "whatever-long"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&login, ACCESS_CONTROL_ALLOW_ORIGIN), None);
}
