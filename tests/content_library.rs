//! The team's shared content over the HTTP API: tags and canned responses (admins manage,
//! everyone reads, every change audited), the audit log's filters and paging, and the API
//! document covering these endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use switchboard::domain::Role;

/// Any method, with an optional JSON body: (status, body or null).
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server
        .http
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn error(body: &Value) -> (Option<&str>, Option<&str>) {
    (
        body["error"]["code"].as_str(),
        body["error"]["field"].as_str(),
    )
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("a list")
}

#[actix_rt::test]
async fn admins_manage_tags_and_every_change_is_audited() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;

    let (status, billing) = call(
        &server,
        Method::POST,
        "/api/v1/tags",
        &admin.token,
        Some(json!({"name": "  Billing ", "color": "#1E90FF"})),
    )
    .await;
    assert_eq!(status, 201, "{billing}");
    assert_eq!(billing["name"], "Billing");
    assert_eq!(billing["color"], "#1e90ff");
    let billing_id = billing["id"].as_str().unwrap().to_owned();
    let (status, vip) = call(
        &server,
        Method::POST,
        "/api/v1/tags",
        &admin.token,
        Some(json!({"name": "vip"})),
    )
    .await;
    assert_eq!(status, 201, "{vip}");
    assert_eq!(vip["color"], Value::Null);
    let vip_id = vip["id"].as_str().unwrap().to_owned();

    // Names are unique ignoring case.
    let (status, body) = call(
        &server,
        Method::POST,
        "/api/v1/tags",
        &admin.token,
        Some(json!({"name": "BILLING"})),
    )
    .await;
    assert_eq!((status, error(&body).0), (409, Some("tag_exists")));

    // Renaming onto another tag's name clashes too; recolouring and clearing work.
    let billing_path = format!("/api/v1/tags/{billing_id}");
    let (status, body) = call(
        &server,
        Method::PATCH,
        &format!("/api/v1/tags/{vip_id}"),
        &admin.token,
        Some(json!({"name": "billing"})),
    )
    .await;
    assert_eq!((status, error(&body).0), (409, Some("tag_exists")));
    let (status, renamed) = call(
        &server,
        Method::PATCH,
        &billing_path,
        &admin.token,
        Some(json!({"name": "Payments"})),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        (renamed["name"].as_str(), renamed["color"].as_str()),
        (Some("Payments"), Some("#1e90ff")),
        "a patch changes only what it names"
    );
    let (status, cleared) = call(
        &server,
        Method::PATCH,
        &billing_path,
        &admin.token,
        Some(json!({"color": null})),
    )
    .await;
    assert_eq!((status, &cleared["color"]), (200, &Value::Null));

    // Everyone reads them, alphabetically ignoring case.
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let (status, list) = call(&server, Method::GET, "/api/v1/tags", &ann.token, None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = items(&list)
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Payments", "vip"]);
    let (status, one) = call(&server, Method::GET, &billing_path, &ann.token, None).await;
    assert_eq!((status, one["name"].as_str()), (200, Some("Payments")));

    // Deleting a tag takes it off every conversation that had it.
    let w = server.open_widget(json!({})).await;
    server
        .execute(&format!(
            "INSERT INTO conversation_tags (conversation_id, tag_id) VALUES ('{}', '{billing_id}'), ('{}', '{vip_id}')",
            w.conversation_id, w.conversation_id
        ))
        .await;
    let (status, _) = call(&server, Method::DELETE, &billing_path, &admin.token, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM conversation_tags WHERE conversation_id = '{}'",
                w.conversation_id
            ))
            .await,
        1,
        "only the deleted tag left the conversation"
    );
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let (status, body) = call(
            &server,
            method.clone(),
            &billing_path,
            &admin.token,
            Some(json!({"name": "again"})),
        )
        .await;
        assert_eq!(
            (status, error(&body).0),
            (404, Some("not_found")),
            "{method}"
        );
    }
    let (status, body) = call(&server, Method::PUT, &billing_path, &admin.token, None).await;
    assert_eq!(
        (status, error(&body).0),
        (405, Some("method_not_allowed")),
        "unsupported methods answer in the error shape too"
    );
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/tags/not-a-uuid",
        &admin.token,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // One audit entry per change, by whom, in order; the deletion remembers where it was used.
    let actions = server
        .text(&format!(
            "SELECT string_agg(action, ',' ORDER BY id) AS value FROM audit_log \
             WHERE target_type = 'tag' AND operator_id = '{}'",
            admin.id
        ))
        .await;
    assert_eq!(
        actions,
        "tag.create,tag.create,tag.update,tag.update,tag.delete"
    );
    let used = server
        .text(&format!(
            "SELECT details->>'conversations' AS value FROM audit_log \
             WHERE action = 'tag.delete' AND target_id = '{billing_id}'"
        ))
        .await;
    assert_eq!(used, "1");
    server.stop().await;
}

#[actix_rt::test]
async fn tag_input_is_validated_field_by_field() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(41)}), "name"),
        (json!({"color": "#fff"}), "name"),
        (json!({"name": "ok", "color": "blue"}), "color"),
        (json!({"name": "ok", "color": "#12345g"}), "color"),
    ];
    for (body, field) in cases {
        let (status, answer) = call(
            &server,
            Method::POST,
            "/api/v1/tags",
            &admin.token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, error(&answer)),
            (422, (Some("invalid_request"), Some(field))),
            "{body}"
        );
    }
    let (status, forty) = call(
        &server,
        Method::POST,
        "/api/v1/tags",
        &admin.token,
        Some(json!({"name": "ж".repeat(40)})),
    )
    .await;
    assert_eq!(
        status, 201,
        "40 characters are allowed, whatever their bytes"
    );
    let (status, answer) = call(
        &server,
        Method::PATCH,
        &format!("/api/v1/tags/{}", forty["id"].as_str().unwrap()),
        &admin.token,
        Some(json!({"color": "red"})),
    )
    .await;
    assert_eq!((status, error(&answer).1), (422, Some("color")));
    assert_eq!(
        server.scalar("SELECT count(*) AS n FROM tags").await,
        1,
        "nothing invalid was stored"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn agents_and_supervisors_cannot_change_tags_or_canned_responses() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let (_, tag) = call(
        &server,
        Method::POST,
        "/api/v1/tags",
        &admin.token,
        Some(json!({"name": "vip"})),
    )
    .await;
    let (_, canned) = call(
        &server,
        Method::POST,
        "/api/v1/canned-responses",
        &admin.token,
        Some(json!({"shortcut": "hello", "title": "Greeting", "body": "Hello!"})),
    )
    .await;
    let tag_path = format!("/api/v1/tags/{}", tag["id"].as_str().unwrap());
    let canned_path = format!(
        "/api/v1/canned-responses/{}",
        canned["id"].as_str().unwrap()
    );
    let audited = server.scalar("SELECT count(*) AS n FROM audit_log").await;

    let agent = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let supervisor = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    for who in [&agent, &supervisor] {
        let attempts = [
            (
                Method::POST,
                "/api/v1/tags".to_owned(),
                json!({"name": "new"}),
            ),
            (Method::PATCH, tag_path.clone(), json!({"name": "renamed"})),
            (Method::DELETE, tag_path.clone(), json!({})),
            (
                Method::POST,
                "/api/v1/canned-responses".to_owned(),
                json!({"shortcut": "bye", "title": "Bye", "body": "Bye!"}),
            ),
            (Method::PATCH, canned_path.clone(), json!({"body": "Hi."})),
            (Method::DELETE, canned_path.clone(), json!({})),
        ];
        for (method, path, body) in attempts {
            let (status, answer) =
                call(&server, method.clone(), &path, &who.token, Some(body)).await;
            assert_eq!(
                (status, error(&answer).0),
                (403, Some("forbidden")),
                "{method} {path}"
            );
        }
        // Reading is for everyone.
        for path in [
            "/api/v1/tags",
            "/api/v1/canned-responses",
            &tag_path,
            &canned_path,
        ] {
            let (status, _) = call(&server, Method::GET, path, &who.token, None).await;
            assert_eq!(status, 200, "{path}");
        }
    }
    let (_, tag_now) = call(&server, Method::GET, &tag_path, &admin.token, None).await;
    assert_eq!(tag_now["name"], "vip");
    let (_, canned_now) = call(&server, Method::GET, &canned_path, &admin.token, None).await;
    assert_eq!(canned_now["body"], "Hello!");
    assert_eq!(server.scalar("SELECT count(*) AS n FROM tags").await, 1);
    assert_eq!(
        server
            .scalar("SELECT count(*) AS n FROM canned_responses")
            .await,
        1
    );
    assert_eq!(
        server.scalar("SELECT count(*) AS n FROM audit_log").await,
        audited,
        "refused requests leave no audit entry"
    );

    let res = server
        .http
        .get(server.url("/api/v1/tags"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "signing in is required even to read");
    server.stop().await;
}

#[actix_rt::test]
async fn canned_responses_have_unique_shortcuts_per_language_and_are_found_by_prefix() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let create = |body: Value| {
        let token = admin.token.clone();
        let server = &server;
        async move {
            call(
                server,
                Method::POST,
                "/api/v1/canned-responses",
                &token,
                Some(body),
            )
            .await
        }
    };

    let (status, refund) = create(json!({
        "shortcut": "/Refund",
        "title": "Refund policy",
        "body": "Refunds take 5 business days.",
    }))
    .await;
    assert_eq!(status, 201, "{refund}");
    assert_eq!(
        (refund["shortcut"].as_str(), refund["language"].as_str()),
        (Some("refund"), Some("en")),
        "stored lowercase without the slash, English by default"
    );
    let (status, body) = create(json!({"shortcut": "REFUND", "title": "Again", "body": "x"})).await;
    assert_eq!((status, error(&body).0), (409, Some("shortcut_exists")));
    let (status, refund_ru) = create(json!({
        "shortcut": "refund",
        "language": "RU",
        "title": "Возврат средств",
        "body": "Возврат занимает 5 рабочих дней.",
    }))
    .await;
    assert_eq!(
        status, 201,
        "the same shortcut in another language: {refund_ru}"
    );
    assert_eq!(refund_ru["language"], "ru");
    let (status, _) = create(json!({
        "shortcut": "thanks",
        "title": "Thank you",
        "body": "Thank you for waiting!",
    }))
    .await;
    assert_eq!(status, 201);
    let (status, _) = create(json!({
        "shortcut": "delay",
        "title": "Refunds delayed",
        "body": "Sorry, refunds are slow this week.",
    }))
    .await;
    assert_eq!(status, 201);

    let invalid = [
        (
            json!({"shortcut": "has space", "title": "t", "body": "b"}),
            "shortcut",
        ),
        (
            json!({"shortcut": "/", "title": "t", "body": "b"}),
            "shortcut",
        ),
        (
            json!({"shortcut": "x".repeat(33), "title": "t", "body": "b"}),
            "shortcut",
        ),
        (
            json!({"shortcut": "ok", "language": "e", "title": "t", "body": "b"}),
            "language",
        ),
        (
            json!({"shortcut": "ok", "title": " ", "body": "b"}),
            "title",
        ),
        (
            json!({"shortcut": "ok", "title": "t", "body": "б".repeat(2001)}),
            "body",
        ),
        (
            json!({"shortcut": "ok", "title": "t", "body": "  "}),
            "body",
        ),
        (json!({"shortcut": "ok", "title": "t"}), "body"),
    ];
    for (body, field) in invalid {
        let (status, answer) = create(body.clone()).await;
        assert_eq!((status, error(&answer).1), (422, Some(field)), "{body}");
    }
    let (status, _) =
        create(json!({"shortcut": "long", "title": "t", "body": "б".repeat(2000)})).await;
    assert_eq!(status, 201, "2000 characters fit");

    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let shortcuts = |body: &Value| {
        items(body)
            .iter()
            .map(|c| {
                format!(
                    "{}/{}",
                    c["shortcut"].as_str().unwrap(),
                    c["language"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    let (_, all) = call(
        &server,
        Method::GET,
        "/api/v1/canned-responses",
        &ann.token,
        None,
    )
    .await;
    assert_eq!(
        shortcuts(&all),
        ["delay/en", "long/en", "refund/en", "refund/ru", "thanks/en"]
    );
    let (_, typed) = call(
        &server,
        Method::GET,
        "/api/v1/canned-responses?q=%2FRef",
        &ann.token,
        None,
    )
    .await;
    assert_eq!(
        shortcuts(&typed),
        ["delay/en", "refund/en", "refund/ru"],
        "by shortcut prefix, or title prefix ('Refunds delayed')"
    );
    let (_, russian) = call(
        &server,
        Method::GET,
        "/api/v1/canned-responses?language=ru",
        &ann.token,
        None,
    )
    .await;
    assert_eq!(shortcuts(&russian), ["refund/ru"]);
    let (_, by_title) = call(
        &server,
        Method::GET,
        "/api/v1/canned-responses?q=%D0%B2%D0%BE%D0%B7%D0%B2",
        &ann.token,
        None,
    )
    .await;
    assert_eq!(
        shortcuts(&by_title),
        ["refund/ru"],
        "'возв' matches 'Возврат…'"
    );
    let (_, wildcard) = call(
        &server,
        Method::GET,
        "/api/v1/canned-responses?q=%25",
        &ann.token,
        None,
    )
    .await;
    assert!(items(&wildcard).is_empty(), "a typed % is not a wildcard");
    let (status, body) = call(
        &server,
        Method::GET,
        "/api/v1/canned-responses?language=%21",
        &ann.token,
        None,
    )
    .await;
    assert_eq!((status, error(&body).1), (422, Some("language")));

    // Editing: only what is named changes; clashes and unknown ids are refused.
    let refund_path = format!(
        "/api/v1/canned-responses/{}",
        refund["id"].as_str().unwrap()
    );
    let (status, edited) = call(
        &server,
        Method::PATCH,
        &refund_path,
        &admin.token,
        Some(json!({"body": "Refunds take 3 business days."})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["title"], "Refund policy");
    assert_eq!(edited["body"], "Refunds take 3 business days.");
    assert!(edited["updated_at"].as_str() > refund["updated_at"].as_str());
    let (status, body) = call(
        &server,
        Method::PATCH,
        &refund_path,
        &admin.token,
        Some(json!({"shortcut": "/Thanks"})),
    )
    .await;
    assert_eq!((status, error(&body).0), (409, Some("shortcut_exists")));
    let (status, body) = call(
        &server,
        Method::PATCH,
        &refund_path,
        &admin.token,
        Some(json!({"title": ""})),
    )
    .await;
    assert_eq!((status, error(&body).1), (422, Some("title")));
    let (_, unchanged) = call(&server, Method::GET, &refund_path, &ann.token, None).await;
    assert_eq!(unchanged["shortcut"], "refund");

    let (status, _) = call(&server, Method::DELETE, &refund_path, &admin.token, None).await;
    assert_eq!(status, 204);
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let (status, body) = call(
            &server,
            method.clone(),
            &refund_path,
            &admin.token,
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!(
            (status, error(&body).0),
            (404, Some("not_found")),
            "{method}"
        );
    }

    let actions = server
        .text(&format!(
            "SELECT string_agg(action, ',' ORDER BY id) AS value FROM audit_log \
             WHERE target_type = 'canned_response' AND operator_id = '{}'",
            admin.id
        ))
        .await;
    assert_eq!(
        actions,
        [
            "canned_response.create",
            "canned_response.create",
            "canned_response.create",
            "canned_response.create",
            "canned_response.create",
            "canned_response.update",
            "canned_response.delete",
        ]
        .join(",")
    );
    server.stop().await;
}

#[actix_rt::test]
async fn the_audit_log_filters_and_pages_newest_first_for_admins_only() {
    let mut server = TestServer::start().await;
    let ada = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let max = server.add_operator("Max Admin", Role::Admin, 0).await;
    let mut tag_ids = Vec::new();
    for i in 0..5 {
        let (status, tag) = call(
            &server,
            Method::POST,
            "/api/v1/tags",
            &ada.token,
            Some(json!({"name": format!("tag-{i}")})),
        )
        .await;
        assert_eq!(status, 201);
        tag_ids.push(tag["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = call(
        &server,
        Method::PATCH,
        &format!("/api/v1/tags/{}", tag_ids[0]),
        &max.token,
        Some(json!({"color": "#000000"})),
    )
    .await;
    assert_eq!(status, 200);
    // Only our six entries are looked at, whatever else the server records.
    let ours = "action=tag.create";

    // Pages of two, newest first, with no overlap and nothing missed.
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(b) => format!("/api/v1/audit?{ours}&limit=2&before={b}"),
            None => format!("/api/v1/audit?{ours}&limit=2"),
        };
        let (status, page) = call(&server, Method::GET, &path, &ada.token, None).await;
        assert_eq!(status, 200, "{page}");
        assert!(items(&page).len() <= 2);
        seen.extend(items(&page).iter().cloned());
        match page["next"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    let targets: Vec<&str> = seen
        .iter()
        .map(|e| e["target_id"].as_str().unwrap())
        .collect();
    let mut newest_first: Vec<&str> = tag_ids.iter().map(String::as_str).collect();
    newest_first.reverse();
    assert_eq!(targets, newest_first);
    let first = &seen[0];
    assert_eq!(first["operator_id"], ada.id.as_str());
    assert_eq!(first["operator_name"], "Ada Admin");
    assert_eq!(first["target_type"], "tag");
    assert_eq!(first["details"]["name"], "tag-4");
    assert!(first["at"].as_str().is_some());

    let count = |body: &Value| items(body).len();
    let (_, by_max) = call(
        &server,
        Method::GET,
        &format!("/api/v1/audit?operator={}", max.id),
        &ada.token,
        None,
    )
    .await;
    assert_eq!(count(&by_max), 1);
    assert_eq!(items(&by_max)[0]["action"], "tag.update");
    assert_eq!(items(&by_max)[0]["details"]["after"]["color"], "#000000");
    let (_, on_first) = call(
        &server,
        Method::GET,
        &format!("/api/v1/audit?target={}", tag_ids[0]),
        &ada.token,
        None,
    )
    .await;
    assert_eq!(count(&on_first), 2, "its creation and its update");

    // A time window; an offset written with an unencoded '+' still parses.
    server
        .execute(&format!(
            "UPDATE audit_log SET created_at = '2025-03-01T12:00:00Z' WHERE target_id = '{}' AND action = 'tag.create'",
            tag_ids[2]
        ))
        .await;
    let (status, window) = call(
        &server,
        Method::GET,
        "/api/v1/audit?from=2025-03-01T12:00:00+01:00&to=2025-03-02T00:00:00Z",
        &ada.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{window}");
    assert_eq!(count(&window), 1);
    assert_eq!(items(&window)[0]["target_id"], tag_ids[2].as_str());
    let (_, after_it) = call(
        &server,
        Method::GET,
        &format!("/api/v1/audit?{ours}&from=2025-03-01T12:00:01Z"),
        &ada.token,
        None,
    )
    .await;
    assert_eq!(count(&after_it), 4);

    for (query, field) in [
        ("operator=someone", "operator"),
        ("from=yesterday", "from"),
        ("to=2025-13-01T00:00:00Z", "to"),
        ("before=abc", "before"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
    ] {
        let (status, body) = call(
            &server,
            Method::GET,
            &format!("/api/v1/audit?{query}"),
            &ada.token,
            None,
        )
        .await;
        assert_eq!((status, error(&body).1), (422, Some(field)), "{query}");
    }

    let sam = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    for who in [&sam, &ann] {
        let (status, body) = call(&server, Method::GET, "/api/v1/audit", &who.token, None).await;
        assert_eq!((status, error(&body).0), (403, Some("forbidden")));
    }
    server.stop().await;
}

#[actix_rt::test]
async fn content_endpoints_are_in_the_api_document() {
    let mut server = TestServer::start().await;
    let doc: Value = server
        .http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = [
        ("/api/v1/tags", "get"),
        ("/api/v1/tags", "post"),
        ("/api/v1/tags/{id}", "get"),
        ("/api/v1/tags/{id}", "patch"),
        ("/api/v1/tags/{id}", "delete"),
        ("/api/v1/canned-responses", "get"),
        ("/api/v1/canned-responses", "post"),
        ("/api/v1/canned-responses/{id}", "get"),
        ("/api/v1/canned-responses/{id}", "patch"),
        ("/api/v1/canned-responses/{id}", "delete"),
        ("/api/v1/search", "get"),
        ("/api/v1/conversations/{id}/contact", "get"),
        ("/api/v1/stats", "get"),
        ("/api/v1/audit", "get"),
    ];
    let schemas = &doc["components"]["schemas"];
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert_eq!(op["security"][0]["bearer"], json!([]), "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("401"),
            "{method} {path} documents 401"
        );
        for (code, response) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ApiError",
                    "{method} {path} {code}"
                );
            }
        }
        // Every schema the operation refers to exists.
        let mut refs = Vec::new();
        collect_refs(op, &mut refs);
        for r in refs {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas[name].is_object(), "{method} {path}: {r} is defined");
        }
    }
    server.stop().await;
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
