//! The API document at `/api/openapi.json`: every route wired in `src/http` is in it (and
//! nothing else), each operation documents its success and, when signed in, its 401, every
//! reference resolves; and real answers carry a documented status and a body of the documented
//! shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};

use common::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use switchboard::domain::Role;

/// The routes as wired, read from the source so that a route added without documentation
/// fails here.
const HTTP_MOD: &str = include_str!("../src/http/mod.rs");
const CONTENT_MOD: &str = include_str!("../src/http/content/mod.rs");

/// The body of `fn name` in `source`: from its signature to the first closing brace at the
/// start of a line.
fn function_body<'a>(source: &'a str, name: &str) -> &'a str {
    let start = source
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("fn {name} is in the source"));
    let rest = &source[start..];
    let end = rest.find("\n}").expect("the function ends");
    &rest[..end]
}

/// The text between `open` and the next `close`, for each occurrence, with its offset.
fn quoted_after<'a>(text: &'a str, open: &str, close: &str) -> Vec<(usize, &'a str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(open) {
        let start = from + i + open.len();
        let end = start + text[start..].find(close).expect("closed");
        found.push((start, &text[start..end]));
        from = end;
    }
    found
}

/// `.route("/path", web::get().to(handler))` calls in a function body, as (method, path).
fn routes_in(body: &str, prefix: &str) -> Vec<(String, String)> {
    quoted_after(body, ".route(\"", "\"")
        .into_iter()
        .map(|(at, path)| {
            let rest = &body[at..];
            let start = rest.find("web::").expect("a method") + "web::".len();
            let method = &rest[start..start + rest[start..].find("()").expect("a method")];
            (method.to_owned(), format!("{prefix}{path}"))
        })
        .collect()
}

/// Every (method, path) the server routes, as OpenAPI writes it (`{id}` is the same in both).
fn wired_routes() -> BTreeSet<(String, String)> {
    let configure = function_body(HTTP_MOD, "configure");
    let api_v1 = function_body(HTTP_MOD, "api_v1");
    let scope = quoted_after(configure, "web::scope(\"", "\"");
    assert_eq!(scope.len(), 1, "one scope in configure");
    assert!(
        configure.contains(".configure(api_v1)"),
        "api_v1 is the scope"
    );
    let v1 = scope[0].1;
    let mut routes: BTreeSet<_> = routes_in(configure, "").into_iter().collect();
    routes.extend(routes_in(api_v1, v1));

    // The content module wires `resource("/path").route(web::get()...)...` under /api/v1.
    assert!(api_v1.contains(".configure(content::configure)"));
    let content = function_body(CONTENT_MOD, "configure");
    let resources = quoted_after(content, "resource(\"", "\"");
    for (i, (at, path)) in resources.iter().enumerate() {
        let end = resources
            .get(i + 1)
            .map_or(content.len(), |(next, _)| *next);
        for (_, method) in quoted_after(&content[*at..end], ".route(web::", "()") {
            routes.insert((method.to_owned(), format!("{v1}{path}")));
        }
    }
    routes
}

/// Every (method, path) the document describes.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn schema_ref(name: &str) -> Value {
    json!(format!("#/components/schemas/{name}"))
}

async fn fetch_document(server: &TestServer) -> Value {
    let res = server
        .http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    res.json().await.unwrap()
}

#[actix_rt::test]
async fn every_route_is_documented_and_every_reference_resolves() {
    let mut server = TestServer::start().await;
    let doc = fetch_document(&server).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let wired = wired_routes();
    assert!(
        wired.len() >= 50,
        "the source was read ({} routes found)",
        wired.len()
    );
    assert!(wired.contains(&("get".into(), "/api/v1/conversations/{id}".into())));
    assert!(wired.contains(&("delete".into(), "/api/v1/canned-responses/{id}".into())));
    assert!(wired.contains(&("get".into(), "/metrics".into())));
    let documented = documented_routes(&doc);
    let undocumented: Vec<_> = wired.difference(&documented).collect();
    assert!(undocumented.is_empty(), "not documented: {undocumented:?}");
    let stale: Vec<_> = documented.difference(&wired).collect();
    assert!(stale.is_empty(), "documented but not routed: {stale:?}");

    let schemas = &doc["components"]["schemas"];
    let schemes = &doc["components"]["securitySchemes"];
    let mut operation_ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        let what = format!("{method} {path}");
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(
            operation_ids.insert(id.to_owned()),
            "{what}: {id} is unique"
        );
        assert!(op["tags"][0].is_string(), "{what} has a tag");

        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses
                .keys()
                .any(|code| code.starts_with('2') || code == "101"),
            "{what} documents its success"
        );
        let security = op["security"].as_array().cloned().unwrap_or_default();
        for requirement in &security {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(schemes[scheme].is_object(), "{what}: scheme {scheme}");
            }
        }
        if !security.is_empty() {
            assert_eq!(
                responses
                    .get("401")
                    .map(|r| &r["content"]["application/json"]["schema"]["$ref"]),
                Some(&schema_ref("ApiError")),
                "{what} needs a token, so it documents 401 with the error body"
            );
        }
        // Errors answer in the one error shape; `/health` is a probe whose 503 is its report.
        if path != "/health" {
            for (code, response) in responses {
                let json_body = &response["content"]["application/json"];
                if (code.starts_with('4') || code.starts_with('5')) && json_body.is_object() {
                    assert_eq!(
                        json_body["schema"]["$ref"],
                        schema_ref("ApiError"),
                        "{what} {code}"
                    );
                }
            }
        }
        // Every `{param}` of the path is declared as a path parameter.
        for (_, name) in quoted_after(path, "{", "}") {
            let declared = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
            });
            assert!(declared, "{what}: path parameter {name}");
        }
    }

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r} points into components/schemas"));
        assert!(schemas[name].is_object(), "{r} is defined");
    }
    server.stop().await;
}

/// Does `value` conform to `schema`? `Err` names where it does not. Understands what the
/// document uses: `$ref`, `oneOf`/`anyOf`/`allOf`, `type` (one or a list), `enum`,
/// `required`, `properties` (no undocumented ones) and `items`.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            if !options.iter().any(|s| conforms(doc, s, value, at).is_ok()) {
                return Err(format!("{at}: {value} matches none of {key}"));
            }
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            conforms(doc, s, value, at)?;
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let fits = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            return Err(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: the required `{name}` is missing"));
            }
        }
        for (name, field) in object {
            let Some(property) = properties.get(name) else {
                return Err(format!("{at}: `{name}` is not documented"));
            };
            conforms(doc, property, field, &format!("{at}.{name}"))?;
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Calls the API and checks the answer against the operation `method path` (the path as
/// documented, `{id}` and all): the status is one it lists, and the body is of the shape it
/// gives for that status (or empty where it gives none).
struct Checker {
    doc: Value,
    seen: HashMap<(String, String), BTreeSet<u16>>,
}

impl Checker {
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &mut self,
        server: &TestServer,
        method: Method,
        documented_path: &str,
        real_path: &str,
        token: Option<&str>,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let mut req = server.http.request(method.clone(), server.url(real_path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let what = format!("{method} {real_path}");
        assert_eq!(status, expected, "{what}: {text}");

        let m = method.as_str().to_ascii_lowercase();
        let op = &self.doc["paths"][documented_path][&m];
        assert!(op.is_object(), "{m} {documented_path} is documented");
        let response = &op["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{what} answered {status}, which {m} {documented_path} does not list"
        );
        let body = match response["content"]["application/json"].get("schema") {
            Some(schema) => {
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{what}: a JSON body ({e}): {text}"));
                if let Err(e) = conforms(&self.doc, schema, &body, "body") {
                    panic!("{what} {status} differs from the document: {e}\n{body}");
                }
                body
            }
            None => {
                assert!(
                    text.is_empty(),
                    "{what} {status}: no body documented: {text}"
                );
                Value::Null
            }
        };
        self.seen
            .entry((m, documented_path.to_owned()))
            .or_default()
            .insert(status);
        body
    }
}

#[actix_rt::test]
async fn the_api_answers_as_documented() {
    let mut server = TestServer::start().await;
    let doc = fetch_document(&server).await;
    let mut api = Checker {
        doc,
        seen: HashMap::new(),
    };
    let ada = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let nobody = "00000000-0000-7000-8000-00000000dead";

    // Public: signing in, opening a conversation, health.
    let login = api
        .call(
            &server,
            Method::POST,
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "ann.agent@example.test", "password": "correct horse battery"})),
            200,
        )
        .await;
    assert_eq!(login["operator"]["role"], "agent");
    api.call(
        &server,
        Method::POST,
        "/api/v1/auth/login",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "ann.agent@example.test", "password": "wrong horse"})),
        401,
    )
    .await;
    let session = api
        .call(
            &server,
            Method::POST,
            "/api/v1/widget/sessions",
            "/api/v1/widget/sessions",
            None,
            Some(json!({"message": "Hello, my parcel is late", "language": "en"})),
            201,
        )
        .await;
    let widget_token = session["token"].as_str().unwrap().to_owned();
    let id = session["conversation_id"].as_str().unwrap().to_owned();
    let invalid = api
        .call(
            &server,
            Method::POST,
            "/api/v1/widget/sessions",
            "/api/v1/widget/sessions",
            None,
            Some(json!({"language": "!"})),
            422,
        )
        .await;
    assert_eq!(invalid["error"]["field"], "language");
    api.call(
        &server,
        Method::GET,
        "/api/v1/widget/conversations/{id}/events",
        &format!("/api/v1/widget/conversations/{id}/events"),
        Some(&widget_token),
        None,
        200,
    )
    .await;
    api.call(&server, Method::GET, "/health", "/health", None, None, 200)
        .await;

    // Signed in: reading, the 401 without a token, 404 for an unknown id, 403 for a role.
    api.call(
        &server,
        Method::GET,
        "/api/v1/auth/me",
        "/api/v1/auth/me",
        Some(&ann.token),
        None,
        200,
    )
    .await;
    let list = api
        .call(
            &server,
            Method::GET,
            "/api/v1/conversations",
            "/api/v1/conversations",
            Some(&ann.token),
            None,
            200,
        )
        .await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == id.as_str()));
    api.call(
        &server,
        Method::GET,
        "/api/v1/conversations",
        "/api/v1/conversations",
        None,
        None,
        401,
    )
    .await;
    api.call(
        &server,
        Method::GET,
        "/api/v1/conversations",
        "/api/v1/conversations?limit=0",
        Some(&ann.token),
        None,
        422,
    )
    .await;
    api.call(
        &server,
        Method::GET,
        "/api/v1/conversations/{id}",
        &format!("/api/v1/conversations/{nobody}"),
        Some(&ann.token),
        None,
        404,
    )
    .await;
    api.call(
        &server,
        Method::GET,
        "/api/v1/operators",
        "/api/v1/operators",
        Some(&ann.token),
        None,
        403,
    )
    .await;
    api.call(
        &server,
        Method::POST,
        "/api/v1/groups",
        "/api/v1/groups",
        Some(&ann.token),
        Some(json!({"name": "Billing"})),
        403,
    )
    .await;

    // Working a conversation: take, write, note, history, an invalid transition.
    api.call(
        &server,
        Method::POST,
        "/api/v1/conversations/{id}/take",
        &format!("/api/v1/conversations/{id}/take"),
        Some(&ann.token),
        None,
        200,
    )
    .await;
    api.call(
        &server,
        Method::POST,
        "/api/v1/conversations/{id}/messages",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&ann.token),
        Some(json!({"client_id": "m-1", "text": "Let me check"})),
        201,
    )
    .await;
    api.call(
        &server,
        Method::POST,
        "/api/v1/conversations/{id}/notes",
        &format!("/api/v1/conversations/{id}/notes"),
        Some(&ann.token),
        Some(json!({"client_id": "n-1", "text": "Courier delay"})),
        201,
    )
    .await;
    api.call(
        &server,
        Method::GET,
        "/api/v1/conversations/{id}/events",
        &format!("/api/v1/conversations/{id}/events"),
        Some(&ann.token),
        None,
        200,
    )
    .await;
    api.call(
        &server,
        Method::POST,
        "/api/v1/conversations/{id}/escalate",
        &format!("/api/v1/conversations/{id}/escalate"),
        Some(&ann.token),
        None,
        200,
    )
    .await;
    api.call(
        &server,
        Method::POST,
        "/api/v1/conversations/{id}/close",
        &format!("/api/v1/conversations/{id}/close"),
        Some(&ann.token),
        None,
        200,
    )
    .await;
    let closed = api
        .call(
            &server,
            Method::POST,
            "/api/v1/conversations/{id}/close",
            &format!("/api/v1/conversations/{id}/close"),
            Some(&ann.token),
            None,
            409,
        )
        .await;
    assert_eq!(closed["error"]["code"], "already_closed");

    // Administration: the team, groups, statuses, sessions.
    api.call(
        &server,
        Method::GET,
        "/api/v1/operators",
        "/api/v1/operators",
        Some(&ada.token),
        None,
        200,
    )
    .await;
    let group = api
        .call(
            &server,
            Method::POST,
            "/api/v1/groups",
            "/api/v1/groups",
            Some(&ada.token),
            Some(json!({"name": "Billing", "strategy": "round_robin"})),
            201,
        )
        .await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    api.call(
        &server,
        Method::PUT,
        "/api/v1/groups/{id}/members/{operator_id}",
        &format!("/api/v1/groups/{group_id}/members/{}", ann.id),
        Some(&ada.token),
        None,
        200,
    )
    .await;
    api.call(
        &server,
        Method::GET,
        "/api/v1/groups",
        "/api/v1/groups",
        Some(&ann.token),
        None,
        200,
    )
    .await;
    api.call(
        &server,
        Method::PUT,
        "/api/v1/operators/me/status",
        "/api/v1/operators/me/status",
        Some(&ann.token),
        Some(json!({"status": "away"})),
        200,
    )
    .await;
    api.call(
        &server,
        Method::GET,
        "/api/v1/operators/{id}",
        &format!("/api/v1/operators/{}", ann.id),
        Some(&ann.token),
        None,
        200,
    )
    .await;
    api.call(
        &server,
        Method::POST,
        "/api/v1/operators/{id}/revoke-sessions",
        &format!("/api/v1/operators/{}/revoke-sessions", ann.id),
        Some(&ada.token),
        None,
        200,
    )
    .await;
    api.call(
        &server,
        Method::POST,
        "/api/v1/auth/logout",
        "/api/v1/auth/logout",
        Some(&ada.token),
        None,
        204,
    )
    .await;

    // The sample covered what the test is about.
    for (method, path, status) in [
        ("post", "/api/v1/auth/login", 200),
        ("post", "/api/v1/widget/sessions", 201),
        ("get", "/api/v1/conversations", 200),
        ("get", "/api/v1/conversations/{id}", 404),
        ("get", "/api/v1/operators", 403),
        ("post", "/api/v1/widget/sessions", 422),
    ] {
        assert!(
            api.seen[&(method.to_owned(), path.to_owned())].contains(&status),
            "{method} {path} {status} was checked"
        );
    }
    server.stop().await;
}

#[test]
fn a_body_that_differs_from_its_schema_is_noticed() {
    let doc = json!({"components": {"schemas": {
        "Role": {"type": "string", "enum": ["agent", "admin"]},
        "Op": {"type": "object", "required": ["id", "role"], "properties": {
            "id": {"type": "string"},
            "role": {"$ref": "#/components/schemas/Role"},
            "note": {"type": ["string", "null"]},
        }},
    }}});
    let schema = json!({"type": "array", "items": {"$ref": "#/components/schemas/Op"}});
    let ok = json!([{"id": "a", "role": "agent", "note": null}]);
    assert!(conforms(&doc, &schema, &ok, "body").is_ok());
    for bad in [
        json!([{"id": "a"}]),
        json!([{"id": "a", "role": "Agent"}]),
        json!([{"id": 1, "role": "agent"}]),
        json!([{"id": "a", "role": "agent", "extra": true}]),
        json!({"id": "a", "role": "agent"}),
    ] {
        assert!(conforms(&doc, &schema, &bad, "body").is_err(), "{bad}");
    }
}

#[test]
fn the_route_reader_finds_both_styles_of_wiring() {
    let routes = wired_routes();
    for (method, path) in [
        ("post", "/api/v1/widget/sessions"),
        ("put", "/api/v1/operators/me/status"),
        ("delete", "/api/v1/groups/{id}/members/{operator_id}"),
        ("get", "/api/openapi.json"),
        ("get", "/ws/visitor"),
        ("patch", "/api/v1/tags/{id}"),
        ("get", "/api/v1/audit"),
    ] {
        assert!(
            routes.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path}"
        );
    }
}
