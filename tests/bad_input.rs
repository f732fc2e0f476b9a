//! Every kind of bad input gets its error code, stores nothing, and leaves the socket usable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Client, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use switchboard::domain::Role;
use tokio_tungstenite::tungstenite::Message;

/// After an error the socket still works: a valid message is acknowledged.
async fn still_usable(visitor: &mut Client, client_id: &str) {
    visitor
        .send(json!({"type": "message", "client_id": client_id, "text": "still here"}))
        .await;
    let ack = visitor.recv_type("ack").await;
    assert_eq!(ack["client_id"], client_id);
}

async fn expect_error(client: &mut Client, code: &str) -> Value {
    let err = client.recv_type("error").await;
    assert_eq!(err["code"], code, "{err}");
    assert!(!err["message"].as_str().unwrap_or("").is_empty());
    err
}

#[actix_rt::test]
async fn malformed_unknown_oversized_and_binary_frames_are_refused_and_change_nothing() {
    let mut server = TestServer::start().await;
    let w = server.open_widget(json!({})).await;
    let (mut v, _) = server.visitor(&w, None).await;

    v.send_raw(Message::text("{not json")).await;
    expect_error(&mut v, "invalid_frame").await;
    v.send(json!({"type": "dance"})).await;
    let err = expect_error(&mut v, "invalid_frame").await;
    assert!(err["message"].as_str().unwrap().contains("dance"));
    v.send(json!({"type": "message", "text": "no client id"}))
        .await;
    expect_error(&mut v, "invalid_frame").await;

    let long = "x".repeat(2001);
    v.send(json!({"type": "message", "client_id": "long", "text": long}))
        .await;
    let err = expect_error(&mut v, "too_long").await;
    assert_eq!(err["client_id"], "long");
    v.send(json!({"type": "message", "client_id": "blank", "text": "   "}))
        .await;
    expect_error(&mut v, "invalid_request").await;
    v.send(json!({"type": "message", "client_id": "x".repeat(65), "text": "hi"}))
        .await;
    expect_error(&mut v, "invalid_request").await;

    // A frame over 64 KiB (but under the hard 1 MiB limit) is refused; the socket lives on.
    let huge = json!({"type": "message", "client_id": "huge", "text": "y".repeat(70 * 1024)});
    v.send(huge).await;
    expect_error(&mut v, "too_long").await;
    v.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    expect_error(&mut v, "invalid_frame").await;

    assert_eq!(
        server.event_count(&w.conversation_id).await,
        0,
        "nothing was stored"
    );
    still_usable(&mut v, "ok-1").await;
    assert_eq!(server.event_count(&w.conversation_id).await, 1);
    server.stop().await;
}

#[actix_rt::test]
async fn frames_beyond_the_hard_limit_close_the_socket_with_1009() {
    let mut server = TestServer::start().await;
    let w = server.open_widget(json!({})).await;
    let (mut v, _) = server.visitor(&w, None).await;
    v.send_raw(Message::text("z".repeat(2 * 1024 * 1024))).await;
    assert_eq!(v.closed_with().await, 1009);
    // The server is fine: a new socket works.
    let (mut again, _) = server.visitor(&w, None).await;
    still_usable(&mut again, "after-close").await;
    server.stop().await;
}

#[actix_rt::test]
async fn wrong_or_expired_tokens_are_refused() {
    let mut server = TestServer::start().await;
    let w = server.open_widget(json!({})).await;

    let mut v = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    v.send(json!({"type": "message", "client_id": "early", "text": "before hello"}))
        .await;
    expect_error(&mut v, "unauthorized").await;
    v.send(json!({"type": "hello", "token": "not-a-token"}))
        .await;
    expect_error(&mut v, "unauthorized").await;
    // The same socket can still say hello properly.
    v.send(json!({"type": "hello", "token": w.token})).await;
    v.recv_type("welcome").await;
    still_usable(&mut v, "after-bad-hello").await;

    server
        .execute("UPDATE widget_sessions SET expires_at = now() - interval '1 minute'")
        .await;
    let mut expired = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    expired
        .send(json!({"type": "hello", "token": w.token}))
        .await;
    expect_error(&mut expired, "unauthorized").await;

    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let (status, body) = server.get("/api/v1/conversations", "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    server
        .execute("UPDATE operator_sessions SET expires_at = now() - interval '1 minute'")
        .await;
    let (status, _) = server.get("/api/v1/conversations", &ann.token).await;
    assert_eq!(status, 401, "an expired operator token is refused");
    let mut op = Client::connect(&format!("{}/ws/operator", server.ws_base)).await;
    op.send(json!({"type": "hello", "token": ann.token})).await;
    expect_error(&mut op, "unauthorized").await;
    server.stop().await;
}

#[actix_rt::test]
async fn no_hello_within_ten_seconds_closes_with_4401() {
    let mut server = TestServer::start().await;
    let mut v = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    let started = std::time::Instant::now();
    assert_eq!(v.closed_with().await, 4401);
    assert!(started.elapsed() >= Duration::from_secs(9));
    server.stop().await;
}

#[actix_rt::test]
async fn a_visitor_cannot_reach_another_conversation() {
    let mut server = TestServer::start().await;
    let mine = server.open_widget(json!({})).await;
    let theirs = server.open_widget(json!({"message": "private"})).await;

    let mut v = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    v.send(
        json!({"type": "hello", "token": mine.token, "conversation_id": theirs.conversation_id}),
    )
    .await;
    expect_error(&mut v, "forbidden").await;
    v.send(json!({"type": "hello", "token": mine.token})).await;
    v.recv_type("welcome").await;
    v.send(json!({"type": "message", "client_id": "m1", "text": "hi", "conversation_id": theirs.conversation_id}))
        .await;
    expect_error(&mut v, "forbidden").await;

    let path = format!(
        "/api/v1/widget/conversations/{}/events",
        theirs.conversation_id
    );
    let (status, body) = server.get(&path, &mine.token).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(!body.to_string().contains("private"));
    let (status, body) = server
        .get(
            &format!(
                "/api/v1/widget/conversations/{}/events",
                mine.conversation_id
            ),
            &mine.token,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    assert_eq!(server.event_count(&theirs.conversation_id).await, 1);
    assert_eq!(server.event_count(&mine.conversation_id).await, 0);
    still_usable(&mut v, "m2").await;
    server.stop().await;
}

#[actix_rt::test]
async fn an_operator_cannot_act_on_a_conversation_they_may_not_see() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let (mut ann_ws, _) = server.operator_ws(&ann).await;
    let w = server.open_chat("Hello").await;
    server
        .eventually("ann has it", || async {
            server
                .scalar("SELECT count(*) AS n FROM conversations WHERE status = 'active'")
                .await
                == 1
        })
        .await;
    drop(ann_ws.drain_type("event", Duration::from_millis(200)).await);
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;
    let (mut bob_ws, _) = server.operator_ws(&bob).await;
    let before = server.event_count(&w.conversation_id).await;

    bob_ws
        .send(json!({"type": "message", "conversation_id": w.conversation_id, "client_id": "b1", "text": "mine now"}))
        .await;
    let err = expect_error(&mut bob_ws, "forbidden").await;
    assert_eq!(err["client_id"], "b1");
    bob_ws.send(json!({"type": "note", "conversation_id": w.conversation_id, "client_id": "b2", "text": "psst"})).await;
    expect_error(&mut bob_ws, "forbidden").await;
    bob_ws
        .send(json!({"type": "resume", "conversation_id": w.conversation_id, "last_seq": 0}))
        .await;
    expect_error(&mut bob_ws, "forbidden").await;

    let id = &w.conversation_id;
    for path in [
        format!("/api/v1/conversations/{id}"),
        format!("/api/v1/conversations/{id}/events"),
    ] {
        let (status, body) = server.get(&path, &bob.token).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    for action in ["take", "resolve", "close"] {
        let (status, _) = server
            .post(
                &format!("/api/v1/conversations/{id}/{action}"),
                &bob.token,
                json!({}),
            )
            .await;
        assert_eq!(status, 403, "{action}");
    }
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &bob.token,
            json!({"client_id": "b3", "text": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(server.event_count(id).await, before, "nothing was stored");
    assert_eq!(
        server
            .text(&format!(
                "SELECT status AS value FROM conversations WHERE id = '{id}'"
            ))
            .await,
        "active"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn a_visitor_sending_too_fast_is_rate_limited() {
    let mut server = TestServer::start().await;
    let w = server.open_widget(json!({})).await;
    let (mut v, _) = server.visitor(&w, None).await;
    for i in 0..20 {
        v.send(json!({"type": "message", "client_id": format!("r{i}"), "text": "spam"}))
            .await;
    }
    let mut acks = 0;
    let mut limited = 0;
    while let Some(frame) = v.next(Duration::from_millis(500)).await {
        match frame["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => {
                assert_eq!(frame["code"], "rate_limited");
                limited += 1;
            }
            _ => {}
        }
    }
    assert_eq!(acks + limited, 20);
    assert!(
        limited >= 5,
        "burst 10 at 5/s: most of a 20-message burst is refused ({limited})"
    );
    assert_eq!(server.event_count(&w.conversation_id).await, acks);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    still_usable(&mut v, "later").await;
    server.stop().await;
}

#[actix_rt::test]
async fn a_foreign_origin_is_refused_and_allowed_ones_pass() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        allowed_origins: "https://shop.example".into(),
        ..c
    })
    .await;
    let url = format!("{}/ws/visitor", server.ws_base);
    assert_eq!(
        Client::connect_with_origin(&url, "https://evil.example")
            .await
            .err(),
        Some(403)
    );
    assert!(Client::connect_with_origin(&url, "https://shop.example")
        .await
        .is_ok());
    assert!(
        Client::connect_with_origin(&url, &server.base)
            .await
            .is_ok(),
        "own origin always allowed"
    );
    // Listed sites embed the widget; the operator socket is the panel's, on its own origin.
    let operator = format!("{}/ws/operator", server.ws_base);
    assert_eq!(
        Client::connect_with_origin(&operator, "https://shop.example")
            .await
            .err(),
        Some(403)
    );
    assert!(Client::connect_with_origin(&operator, &server.base)
        .await
        .is_ok());
    server.stop().await;
}

#[actix_rt::test]
async fn bad_http_bodies_get_clear_errors() {
    let mut server = TestServer::start().await;
    let url = server.url("/api/v1/widget/sessions");
    let big = json!({"metadata": {"blob": "q".repeat(1024 * 1024 + 10)}});
    let res = server.http.post(&url).json(&big).send().await.unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_long");

    let res = server
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_request"
    );

    let res = server
        .http
        .post(&url)
        .json(&json!({"message": "m".repeat(2001)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "too_long"
    );
    let res = server
        .http
        .post(&url)
        .json(&json!({"metadata": [1, 2]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "metadata");

    let res = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "x@y.z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "password");

    assert_eq!(
        server
            .scalar("SELECT count(*) AS n FROM conversations")
            .await,
        0,
        "nothing was created"
    );
    let (status, body) = server.get("/api/v1/nowhere", "t").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    server.stop().await;
}

#[actix_rt::test]
async fn a_wrong_method_on_a_routed_path_is_405_and_an_unknown_path_404() {
    let mut server = TestServer::start().await;
    let conversation = "/api/v1/conversations/01a20123-8b79-7308-974f-5f067b8a3682";
    for (method, path) in [
        (Method::PUT, "/api/v1/conversations".to_owned()),
        (Method::DELETE, "/health".to_owned()),
        (Method::GET, format!("{conversation}/take")),
        (Method::PATCH, "/api/v1/operators/me/status".to_owned()),
        (Method::POST, "/widget.js".to_owned()),
    ] {
        let res = server
            .http
            .request(method.clone(), server.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "method_not_allowed",
            "{method} {path}"
        );
    }
    for path in ["/api/v1/nope", "/nowhere", "/api/v2/conversations"] {
        let res = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    server.stop().await;
}
