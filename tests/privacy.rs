//! Privacy operations as admins and customers see them: a contact's export (never a Telegram
//! identity), erasing a contact, deleting a conversation, retention purges, the command line,
//! and what bad input gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use chrono::Utc;
use common::telegram::{Tg, TgUser};
use common::{Operator, TestDb, TestServer, Widget};
use serde_json::{json, Value};
use switchboard::domain::Role;

/// The contact behind a conversation, as the panel's contact view gives it.
async fn contact_of(server: &TestServer, op: &Operator, conversation: &str) -> String {
    let (status, body) = server
        .get(
            &format!("/api/v1/conversations/{conversation}/contact"),
            &op.token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn say(server: &TestServer, op: &Operator, conversation: &str, client_id: &str, text: &str) {
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &op.token,
            json!({"client_id": client_id, "text": text}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn act(server: &TestServer, op: &Operator, conversation: &str, action: &str) -> Value {
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{conversation}/{action}"),
            &op.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// The texts of every event in an export, in order.
fn texts(export: &Value) -> Vec<String> {
    export["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["events"].as_array().unwrap().iter())
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn audited(server: &TestServer, action: &str, target: &str) -> i64 {
    server
        .scalar(&format!(
            "SELECT count(*) AS n FROM audit_log WHERE action = '{action}' AND target_id = '{target}'"
        ))
        .await
}

/// A web customer's chat: their message, an admin's answer and an internal note.
async fn web_chat(server: &TestServer, admin: &Operator) -> Widget {
    let widget = server
        .open_widget(json!({
            "message": "My order to Zanzibar never arrived",
            "metadata": {"order": "zanzibar-1", "plan": "gold"}
        }))
        .await;
    act(server, admin, &widget.conversation_id, "take").await;
    say(
        server,
        admin,
        &widget.conversation_id,
        "r1",
        "Sorry about the Zanzibar order, checking now",
    )
    .await;
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{}/notes", widget.conversation_id),
            &admin.token,
            json!({"client_id": "n1", "text": "customer sounds upset about zanzibar"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    widget
}

#[actix_rt::test]
async fn export_holds_every_conversation_and_event_of_the_contact_for_admins_only() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 5).await;
    let sup = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let widget = web_chat(&server, &admin).await;
    let (status, body) = server
        .post("/api/v1/tags", &admin.token, json!({"name": "late"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{}/tags", widget.conversation_id),
            &admin.token,
            json!({"name": "late"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let contact = contact_of(&server, &admin, &widget.conversation_id).await;
    let path = format!("/api/v1/contacts/{contact}/export");

    let (status, body) = server.get(&path, &sup.token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(audited(&server, "contact.export", &contact).await, 0);

    let (status, export) = server.get(&path, &admin.token).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["contact"]["id"], contact.as_str());
    assert!(export["contact"]["alias"]
        .as_str()
        .unwrap()
        .starts_with("User-"));
    assert_eq!(export["contact"]["erased_at"], Value::Null);
    assert_eq!(export["identities"], json!([]));
    let conversations = export["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 1);
    let c = &conversations[0];
    assert_eq!(c["id"], widget.conversation_id.as_str());
    assert_eq!(c["ticket"], widget.ticket.as_str());
    assert_eq!(c["status"], "active");
    assert_eq!(
        c["metadata"],
        json!({"order": "zanzibar-1", "plan": "gold"})
    );
    assert_eq!(c["tags"], json!(["late"]));
    let all = texts(&export);
    for expected in [
        "My order to Zanzibar never arrived",
        "Sorry about the Zanzibar order, checking now",
        "customer sounds upset about zanzibar",
    ] {
        assert!(all.iter().any(|t| t == expected), "{expected} in {all:?}");
    }
    let events = c["events"].as_array().unwrap();
    let first = &events[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["kind"], "message");
    assert_eq!(first["author"], "visitor");
    assert!(events
        .iter()
        .any(|e| e["author"] == "operator" && e["name"] == "Ada Admin"));
    assert!(events.iter().any(|e| e["kind"] == "note"));
    assert_eq!(audited(&server, "contact.export", &contact).await, 1);
}

#[actix_rt::test]
async fn a_telegram_customers_export_never_names_their_telegram_identity() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let admin = s.add_operator("Ada Admin", Role::Admin, 5).await;
    let user = TgUser::new(5_550_123_987, "en");
    let conversation = tg.customer_writes(&user, "Where is my parcel 8812?").await;
    tg.take(&admin, &conversation).await;
    tg.operator_says(&admin, &conversation, "r1", "Checking parcel 8812")
        .await;
    let contact = contact_of(s, &admin, &conversation).await;
    let (status, export) = s
        .get(&format!("/api/v1/contacts/{contact}/export"), &admin.token)
        .await;
    assert_eq!(status, 200, "{export}");
    let all = texts(&export);
    assert!(
        all.iter().any(|t| t == "Where is my parcel 8812?"),
        "{all:?}"
    );
    assert!(all.iter().any(|t| t == "Checking parcel 8812"), "{all:?}");
    // The channel is named, never the identity.
    let identities = export["identities"].as_array().unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["channel"], "telegram");
    let keys: Vec<&String> = identities[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["channel", "created_at"]);
    let text = export.to_string();
    for secret in [
        user.id.to_string(),
        user.username.clone(),
        user.first_name.clone(),
        user.last_name.clone(),
    ] {
        assert!(!text.contains(&secret), "{secret} leaked: {text}");
    }
    tg.stop().await;
}

#[actix_rt::test]
async fn erase_leaves_no_text_nor_token_and_statistics_still_count_the_conversation() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 5).await;
    let widget = web_chat(&server, &admin).await;
    let id = widget.conversation_id.clone();
    act(&server, &admin, &id, "resolve").await;
    let (mut visitor, _) = server.visitor(&widget, None).await;
    visitor
        .send(json!({"type": "rate", "score": 5, "comment": "Ann in Zanzibar was kind"}))
        .await;
    assert_eq!(visitor.recv_type("rated").await["score"], 5);
    let contact = contact_of(&server, &admin, &id).await;
    // Found before, so that "found nothing" below means something.
    let (status, found) = server.get("/api/v1/search?q=zanzibar", &admin.token).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"].as_array().unwrap().len(), 3, "{found}");
    let messages_before = server
        .scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{id}' AND kind IN ('message', 'note')"
        ))
        .await;
    assert_eq!(messages_before, 3);

    let (status, erased) = server
        .post(
            &format!("/api/v1/contacts/{contact}/erase"),
            &admin.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["contact_id"], contact.as_str());
    assert_eq!(erased["conversations"], 1);
    let erased_at = erased["erased_at"].as_str().unwrap().to_owned();

    // The events stay (the history keeps its shape), with no text left in any of them.
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM events WHERE conversation_id = '{id}' AND kind IN ('message', 'note')"
            ))
            .await,
        messages_before
    );
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM events WHERE conversation_id = '{id}' \
                 AND kind IN ('message', 'note') AND (body <> '' OR client_id IS NOT NULL \
                      OR data <> '{{\"erased\": true}}'::jsonb)"
            ))
            .await,
        0
    );
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM events WHERE conversation_id = '{id}' AND body ILIKE '%zanzibar%'"
            ))
            .await,
        0
    );
    let (status, found) = server.get("/api/v1/search?q=zanzibar", &admin.token).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"], json!([]), "{found}");
    assert_eq!(
        server
            .text(&format!(
                "SELECT metadata::text || '|' || coalesce(rating_comment, 'none') || '|' || rating::text \
                 || '|' || status AS value FROM conversations WHERE id = '{id}'"
            ))
            .await,
        "{}|none|5|closed"
    );
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM channel_identities WHERE contact_id = '{contact}'"
            ))
            .await,
        0
    );
    // The widget token is dead: no history, no socket.
    let (status, _) = server
        .get(
            &format!("/api/v1/widget/conversations/{id}/events"),
            &widget.token,
        )
        .await;
    assert_eq!(status, 401);
    let mut again = common::Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    again
        .send(json!({"type": "hello", "token": widget.token}))
        .await;
    assert_eq!(again.recv_type("error").await["code"], "unauthorized");
    // Statistics still count it, with its rating score.
    let (status, stats) = server.get("/api/v1/stats", &admin.token).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["conversations"]["total"], 1, "{stats}");
    assert_eq!(stats["conversations"]["by_status"]["closed"], 1, "{stats}");
    assert_eq!(stats["csat"]["count"], 1, "{stats}");
    assert_eq!(audited(&server, "contact.erase", &contact).await, 1);

    // The export shows what is left: the shape, no words.
    let (_, export) = server
        .get(&format!("/api/v1/contacts/{contact}/export"), &admin.token)
        .await;
    assert_eq!(export["contact"]["erased_at"], erased_at.as_str());
    assert!(
        !export.to_string().to_lowercase().contains("zanzibar"),
        "{export}"
    );

    // Erasing again is harmless: the same answer, nothing more removed.
    let events_before = server.event_count(&id).await;
    let (status, twice) = server
        .post(
            &format!("/api/v1/contacts/{contact}/erase"),
            &admin.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{twice}");
    assert_eq!(twice["erased_at"], erased_at.as_str());
    assert_eq!(server.event_count(&id).await, events_before);
}

#[actix_rt::test]
async fn erasing_a_telegram_customer_deletes_the_link_and_closes_their_conversation() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let admin = s.add_operator("Ada Admin", Role::Admin, 5).await;
    let user = TgUser::new(5_550_777_111, "en");
    let conversation = tg.customer_writes(&user, "My passport is X123").await;
    tg.take(&admin, &conversation).await;
    let (_, photo) = user.photo("scan of X123");
    assert_eq!(tg.send(&photo).await, 200);
    tg.settled().await;
    let contact = contact_of(s, &admin, &conversation).await;
    let links =
        format!("SELECT count(*) AS n FROM channel_identities WHERE contact_id = '{contact}'");
    assert_eq!(s.scalar(&links).await, 1);
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' AND data ? 'telegram_message_id'"
        ))
        .await,
        1
    );

    let (status, body) = s
        .post(
            &format!("/api/v1/contacts/{contact}/erase"),
            &admin.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.scalar(&links).await, 0);
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' \
             AND (body LIKE '%X123%' OR data ?| array['telegram_message_id', 'media', 'caption', 'media_group_id'])"
        ))
        .await,
        0
    );
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM telegram_outbox WHERE lane = 'contact:{contact}' OR conversation_id = '{conversation}'"
        ))
        .await,
        0
    );
    let (status, summary) = s
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["status"], "closed");
    // The same Telegram user writing again is a stranger: a new contact, a new ticket.
    assert_eq!(tg.send(&user.text("hello again")).await, 200);
    tg.settled().await;
    let latest = tg.conversation_of_latest().await;
    assert_ne!(latest, conversation);
    assert_ne!(contact_of(s, &admin, &latest).await, contact);
    tg.stop().await;
}

/// Closes `conversation` and moves its closing `days` back.
async fn closed_days_ago(server: &TestServer, admin: &Operator, conversation: &str, days: i64) {
    act(server, admin, conversation, "close").await;
    server
        .execute(&format!(
            "UPDATE conversations SET closed_at = now() - interval '{days} days' WHERE id = '{conversation}'"
        ))
        .await;
}

#[actix_rt::test]
async fn purge_removes_exactly_the_conversations_closed_past_the_limit() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 5).await;
    // One customer with a single old conversation: it and the customer go.
    let lone = server.open_chat("old and alone").await;
    closed_days_ago(&server, &admin, &lone.conversation_id, 40).await;
    let lone_contact = contact_of(&server, &admin, &lone.conversation_id).await;
    // A returning customer: the old conversation goes, the recent one and the customer stay.
    let first = server.open_chat("first visit").await;
    let second = server
        .open_widget(json!({"message": "second visit", "contact_token": first.token}))
        .await;
    let regular = contact_of(&server, &admin, &first.conversation_id).await;
    assert_eq!(
        contact_of(&server, &admin, &second.conversation_id).await,
        regular
    );
    closed_days_ago(&server, &admin, &first.conversation_id, 31).await;
    closed_days_ago(&server, &admin, &second.conversation_id, 29).await;
    // Still open, however old.
    let open = server.open_chat("still waiting").await;
    server
        .execute(&format!(
            "UPDATE conversations SET created_at = now() - interval '90 days' WHERE id = '{}'",
            open.conversation_id
        ))
        .await;

    let pool = server.running.as_ref().unwrap().pool.clone();
    assert_eq!(
        switchboard::retention::purge(&pool, Utc::now(), 0)
            .await
            .unwrap(),
        0
    );
    let purged = switchboard::retention::purge(&pool, Utc::now(), 30)
        .await
        .unwrap();
    assert_eq!(purged, 2);

    let exists = |id: &str| format!("SELECT count(*) AS n FROM conversations WHERE id = '{id}'");
    assert_eq!(server.scalar(&exists(&lone.conversation_id)).await, 0);
    assert_eq!(server.scalar(&exists(&first.conversation_id)).await, 0);
    assert_eq!(server.scalar(&exists(&second.conversation_id)).await, 1);
    assert_eq!(server.scalar(&exists(&open.conversation_id)).await, 1);
    for gone in [&lone.conversation_id, &first.conversation_id] {
        for table in [
            "events",
            "widget_sessions",
            "assignments",
            "conversation_tags",
        ] {
            assert_eq!(
                server
                    .scalar(&format!(
                        "SELECT count(*) AS n FROM {table} WHERE conversation_id = '{gone}'"
                    ))
                    .await,
                0,
                "{table}"
            );
        }
    }
    let contact = |id: &str| format!("SELECT count(*) AS n FROM contacts WHERE id = '{id}'");
    assert_eq!(server.scalar(&contact(&lone_contact)).await, 0);
    assert_eq!(server.scalar(&contact(&regular)).await, 1);
    assert!(server.event_count(&second.conversation_id).await > 0);
    let (status, _) = server
        .get(
            &format!("/api/v1/conversations/{}", first.conversation_id),
            &admin.token,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        server
            .scalar("SELECT count(*) AS n FROM audit_log WHERE action = 'retention.purge' AND details->>'conversations' = '2'")
            .await,
        1
    );
    // Nothing more to do the second time.
    assert_eq!(
        switchboard::retention::purge(&pool, Utc::now(), 30)
            .await
            .unwrap(),
        0
    );
}

#[actix_rt::test]
async fn a_server_with_retention_purges_old_closed_conversations_at_start() {
    let mut before = TestServer::start().await;
    let admin = before.add_operator("Ada Admin", Role::Admin, 5).await;
    let old = before.open_chat("long ago").await;
    closed_days_ago(&before, &admin, &old.conversation_id, 10).await;
    let recent = before.open_chat("yesterday").await;
    closed_days_ago(&before, &admin, &recent.conversation_id, 1).await;
    before.stop().await;
    let TestServer { db, .. } = before;
    let config = switchboard::config::Config {
        retention_days: 7,
        ..common::test_config(&db.url)
    };
    let server = TestServer::start_on(db, config).await;
    let exists = |id: &str| format!("SELECT count(*) AS n FROM conversations WHERE id = '{id}'");
    let sql = exists(&old.conversation_id);
    server
        .eventually("the old conversation is purged", || async {
            server.scalar(&sql).await == 0
        })
        .await;
    assert_eq!(server.scalar(&exists(&recent.conversation_id)).await, 1);
}

#[actix_rt::test]
async fn deleting_a_conversation_closes_it_for_everyone_and_keeps_it_for_statistics() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 5).await;
    let sup = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let widget = web_chat(&server, &admin).await;
    let id = widget.conversation_id.clone();
    let (mut visitor, _) = server.visitor(&widget, None).await;
    let (mut panel, _) = server.operator_ws(&sup).await;
    let path = format!("/api/v1/conversations/{id}");
    let events = server.event_count(&id).await;
    assert!(events >= 3);

    // Only admins; a refusal changes nothing.
    let (status, body) = server.delete(&path, &sup.token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(server.event_count(&id).await, events);
    let (status, _) = server.get(&path, &sup.token).await;
    assert_eq!(status, 200);

    let (status, _) = server.delete(&path, &admin.token).await;
    assert_eq!(status, 204);

    // The visitor is told, then their socket closes.
    let status_frame = loop {
        let frame = visitor.recv_type("status").await;
        if frame["reason"] == "deleted" {
            break frame;
        }
    };
    assert_eq!(status_frame["status"], "closed");
    assert_eq!(visitor.closed_with().await, 1000, "{:?}", visitor.closed);
    // Operators see it closed.
    loop {
        let frame = panel.recv_type("conversation").await;
        if frame["id"] == id.as_str() && frame["status"] == "closed" {
            break;
        }
    }

    assert_eq!(server.event_count(&id).await, 0);
    assert_eq!(
        server
            .text(&format!(
                "SELECT status || '|' || (deleted_at IS NOT NULL)::text || '|' || (closed_at IS NOT NULL)::text \
                 || '|' || metadata::text AS value FROM conversations WHERE id = '{id}'"
            ))
            .await,
        "closed|true|true|{}"
    );
    for table in [
        "conversation_tags",
        "widget_sessions",
        "deadlines",
        "telegram_outbox",
    ] {
        assert_eq!(
            server
                .scalar(&format!(
                    "SELECT count(*) AS n FROM {table} WHERE conversation_id = '{id}'"
                ))
                .await,
            0,
            "{table}"
        );
    }
    let (status, body) = server.get(&path, &admin.token).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = server.get(&format!("{path}/events"), &admin.token).await;
    assert_eq!(status, 404);
    let (status, list) = server.get("/api/v1/conversations", &admin.token).await;
    assert_eq!(status, 200);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != id.as_str()),
        "{list}"
    );
    let (_, found) = server.get("/api/v1/search?q=zanzibar", &admin.token).await;
    assert_eq!(found["items"], json!([]), "{found}");
    let (status, _) = server
        .get(
            &format!("/api/v1/widget/conversations/{id}/events"),
            &widget.token,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = server.delete(&path, &admin.token).await;
    assert_eq!(status, 404);
    let (status, stats) = server.get("/api/v1/stats", &admin.token).await;
    assert_eq!(status, 200);
    assert_eq!(stats["conversations"]["total"], 1, "{stats}");
    assert_eq!(stats["conversations"]["by_status"]["closed"], 1, "{stats}");
    assert_eq!(audited(&server, "conversation.delete", &id).await, 1);
}

#[actix_rt::test]
async fn unknown_and_malformed_ids_are_refused_in_the_error_shape() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 5).await;
    let unknown = uuid::Uuid::now_v7();
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/api/v1/contacts/{unknown}/export"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/contacts/{unknown}/erase"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/conversations/{unknown}"),
        ),
    ] {
        let body = (method == reqwest::Method::POST).then(|| json!({}));
        let (status, answer) = server.call(method.clone(), &path, &admin.token, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
        assert!(answer["error"]["message"].is_string());
    }
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/contacts/not-a-uuid/export"),
        (reqwest::Method::POST, "/api/v1/contacts/12345/erase"),
        (
            reqwest::Method::DELETE,
            "/api/v1/conversations/SUPP-20261122-7KQ2MX",
        ),
    ] {
        let body = (method == reqwest::Method::POST).then(|| json!({}));
        let (status, answer) = server.call(method.clone(), path, &admin.token, body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request");
        assert!(answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UUID"));
    }
    // Without a token: 401, whatever the id.
    let (status, answer) = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/contacts/{unknown}/export"),
            "not-a-token",
            None,
        )
        .await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(
        server
            .scalar("SELECT count(*) AS n FROM audit_log WHERE action LIKE 'contact.%' OR action = 'conversation.delete'")
            .await,
        0
    );
}

/// Runs the real binary against `db`; whether it succeeded, and its standard output and error.
async fn switchboard(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env("DATABASE_URL", &db.url)
        .env("NO_COLOR", "1")
        .env_remove("SWITCHBOARD_RETENTION_DAYS")
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[actix_rt::test]
async fn the_command_line_exports_erases_and_purges() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 5).await;
    let widget = web_chat(&server, &admin).await;
    let id = widget.conversation_id.clone();
    let contact = contact_of(&server, &admin, &id).await;

    let (ok, out, err) = switchboard(&server.db, &["contacts", "export", &contact]).await;
    assert!(ok, "{out}{err}");
    let export: Value = serde_json::from_str(&out).expect("the export is JSON");
    assert_eq!(export["contact"]["id"], contact.as_str());
    assert!(texts(&export).contains(&"My order to Zanzibar never arrived".to_owned()));

    let (ok, out, err) = switchboard(&server.db, &["contacts", "erase", &contact]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("contact {contact} erased")), "{out}");
    assert!(out.contains("(1 conversation(s))"), "{out}");
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM events WHERE conversation_id = '{id}' AND body ILIKE '%zanzibar%'"
            ))
            .await,
        0
    );
    assert_eq!(
        server
            .text(&format!(
                "SELECT status || '|' || metadata::text AS value FROM conversations WHERE id = '{id}'"
            ))
            .await,
        "closed|{}"
    );
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM widget_sessions WHERE conversation_id = '{id}'"
            ))
            .await,
        0
    );
    assert_eq!(audited(&server, "contact.erase", &contact).await, 1);

    let unknown = uuid::Uuid::now_v7().to_string();
    let (ok, out, err) = switchboard(&server.db, &["contacts", "export", &unknown]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("not found"), "{err}");
    let (ok, _, err) = switchboard(&server.db, &["contacts", "erase", "not-a-uuid"]).await;
    assert!(!ok);
    assert!(err.contains("invalid value"), "{err}");

    // Retention off by default: purge says so; with --days it purges.
    let (ok, _, err) = switchboard(&server.db, &["purge"]).await;
    assert!(!ok);
    assert!(err.contains("retention_days"), "{err}");
    server
        .execute(&format!(
            "UPDATE conversations SET closed_at = now() - interval '3 days' WHERE id = '{id}'"
        ))
        .await;
    let (ok, out, err) = switchboard(&server.db, &["purge", "--days", "2"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("1 conversation(s) purged"), "{out}");
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM conversations WHERE id = '{id}'"
            ))
            .await,
        0
    );
}
