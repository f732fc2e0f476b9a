//! The operator's HTTP API and CLI: login and logout, lists with filters and cursors, history
//! paging, messages, take / resolve / close with their conflicts, and `switchboard operator add`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;
use serde_json::{json, Value};
use switchboard::domain::Role;

#[actix_rt::test]
async fn login_me_and_logout() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let (status, me) = server.get("/api/v1/auth/me", &ann.token).await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("Ann Agent"), Some("agent"))
    );
    assert!(me.get("password_hash").is_none() && me.get("email").is_none());

    let res = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": ann.email, "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );
    let stored = server
        .text("SELECT encode(token_hash, 'hex') AS value FROM operator_sessions LIMIT 1")
        .await;
    assert!(!stored.contains(&ann.token), "tokens are stored hashed");

    let (status, _) = server
        .post("/api/v1/auth/logout", &ann.token, json!({}))
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.get("/api/v1/auth/me", &ann.token).await;
    assert_eq!(status, 401, "a logged-out token no longer works");
    server.stop().await;
}

#[actix_rt::test]
async fn lists_filter_by_status_and_assignee_and_page_with_a_cursor() {
    let mut server = TestServer::start().await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 0).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(server.open_chat("Hello").await.conversation_id);
    }
    // Ann takes two; the boss closes one of them.
    for id in &ids[..2] {
        let (status, body) = server
            .post(
                &format!("/api/v1/conversations/{id}/take"),
                &ann.token,
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["assignee"], ann.id.as_str());
    }
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{}/close", ids[1]),
            &boss.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    // Newest first, three at a time, with no overlap and nothing missed.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/conversations?limit=3&cursor={c}"),
            None => "/api/v1/conversations?limit=3".to_owned(),
        };
        let (status, page) = server.get(&path, &boss.token).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let (_, pending) = server
        .get("/api/v1/conversations?status=pending", &boss.token)
        .await;
    assert_eq!(count(&pending), 5);
    let (_, closed) = server
        .get("/api/v1/conversations?status=closed", &boss.token)
        .await;
    assert_eq!(count(&closed), 1);
    let (_, anns) = server
        .get(
            &format!("/api/v1/conversations?assignee={}", ann.id),
            &boss.token,
        )
        .await;
    assert_eq!(count(&anns), 2);
    let (_, mine) = server
        .get(
            "/api/v1/conversations?assignee=me&status=active",
            &ann.token,
        )
        .await;
    assert_eq!(count(&mine), 1);
    let (_, unassigned) = server
        .get("/api/v1/conversations?assignee=none", &boss.token)
        .await;
    assert_eq!(count(&unassigned), 5);

    // An agent sees the queue and their own, not other people's.
    let bob = server.add_operator("Bob Agent", Role::Agent, 0).await;
    let (_, bobs) = server.get("/api/v1/conversations", &bob.token).await;
    assert_eq!(count(&bobs), 5, "bob sees only the queue");

    let (status, body) = server
        .get("/api/v1/conversations?status=sleeping", &boss.token)
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("status"))
    );
    let (status, _) = server
        .get("/api/v1/conversations?limit=1000", &boss.token)
        .await;
    assert_eq!(status, 422);
    let (status, _) = server
        .get("/api/v1/conversations?cursor=garbage", &boss.token)
        .await;
    assert_eq!(status, 422);
    let (status, body) = server
        .get(
            &format!("/api/v1/conversations/{}", uuid::Uuid::new_v4()),
            &boss.token,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = server
        .get("/api/v1/conversations/not-a-uuid", &boss.token)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[actix_rt::test]
async fn history_pages_fifty_at_a_time_upward_and_forward() {
    let mut server = TestServer::start().await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 0).await;
    let w = server.open_widget(json!({})).await;
    let path = format!("/api/v1/conversations/{}/messages", w.conversation_id);
    for i in 1..=120 {
        let (status, ack) = server
            .post(
                &path,
                &boss.token,
                json!({"client_id": format!("c{i}"), "text": format!("m{i}")}),
            )
            .await;
        assert_eq!(status, 201, "{ack}");
        assert_eq!(ack["seq"], i);
    }
    let events = format!("/api/v1/conversations/{}/events", w.conversation_id);
    let (_, newest) = server.get(&events, &boss.token).await;
    let seqs = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&newest), (71..=120).collect::<Vec<_>>());
    let before = newest["next"].as_str().unwrap();
    let (_, older) = server
        .get(&format!("{events}?before={before}"), &boss.token)
        .await;
    assert_eq!(seqs(&older), (21..=70).collect::<Vec<_>>());
    let (_, oldest) = server
        .get(
            &format!("{events}?before={}", older["next"].as_str().unwrap()),
            &boss.token,
        )
        .await;
    assert_eq!(seqs(&oldest), (1..=20).collect::<Vec<_>>());
    assert!(oldest.get("next").is_none());
    let (_, forward) = server
        .get(&format!("{events}?after=100&limit=10"), &boss.token)
        .await;
    assert_eq!(seqs(&forward), (101..=110).collect::<Vec<_>>());
    assert_eq!(
        forward["items"][0]["name"], "Sam Super",
        "operators see who wrote"
    );

    // The visitor's own history shows the team name, never the operator's.
    let (status, mine) = server
        .get(
            &format!(
                "/api/v1/widget/conversations/{}/events?after=0&limit=5",
                w.conversation_id
            ),
            &w.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(mine["items"][0]["name"], "Live Support");
    assert!(!mine.to_string().contains("Sam"));
    server.stop().await;
}

#[actix_rt::test]
async fn take_resolve_close_leave_system_events_and_refuse_invalid_transitions() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 0).await;
    let w = server.open_widget(json!({"message": "help"})).await;
    let (mut v, _) = server.visitor(&w, None).await;
    let id = &w.conversation_id;
    let act = |what: &str| format!("/api/v1/conversations/{id}/{what}");

    let (status, body) = server.post(&act("take"), &ann.token, json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")));
    assert_eq!(v.recv_type("status").await["status"], "active");
    let joined = v.recv_type("event").await;
    assert_eq!(joined["kind"], "system");
    assert!(
        !joined["text"].as_str().unwrap().contains("Ann"),
        "system events do not name operators to visitors"
    );

    let (status, body) = server.post(&act("take"), &bob.token, json!({})).await;
    assert_eq!(status, 403, "bob may not see ann's conversation: {body}");
    let (status, _) = server.post(&act("resolve"), &ann.token, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(v.recv_type("status").await["status"], "resolved");
    let (status, body) = server.post(&act("resolve"), &ann.token, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_resolved"))
    );

    // The customer writing again reopens it and it is queued again.
    v.send(json!({"type": "message", "client_id": "again", "text": "one more thing"}))
        .await;
    v.recv_type("ack").await;
    assert_eq!(v.recv_type("status").await["status"], "pending");
    let (status, _) = server.post(&act("close"), &ann.token, json!({})).await;
    assert_eq!(status, 403, "no longer ann's once reopened and unassigned");
    let (status, _) = server.post(&act("take"), &ann.token, json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = server.post(&act("close"), &ann.token, json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = server.post(&act("close"), &ann.token, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_closed"))
    );
    v.send(json!({"type": "message", "client_id": "late", "text": "hello?"}))
        .await;
    assert_eq!(v.recv_type("error").await["code"], "conversation_closed");

    let kinds = server
        .text(&format!(
            "SELECT string_agg(coalesce(data->>'action', kind), ',' ORDER BY seq) AS value FROM events WHERE conversation_id = '{id}'"
        ))
        .await;
    assert_eq!(
        kinds,
        "message,assigned,resolved,reopened,message,assigned,closed"
    );
    assert_eq!(
        server.scalar(&format!("SELECT count(*) AS n FROM assignments WHERE conversation_id = '{id}' AND unassigned_at IS NULL")).await,
        0
    );
    assert_eq!(server.scalar(&format!("SELECT count(*) AS n FROM assignments WHERE conversation_id = '{id}' AND kind = 'take'")).await, 2);

    // Rating is taken once the conversation is over.
    v.send(json!({"type": "rate", "score": 6})).await;
    assert_eq!(v.recv_type("error").await["code"], "invalid_request");
    v.send(json!({"type": "rate", "score": 5, "comment": "quick and kind"}))
        .await;
    assert_eq!(v.recv_type("rated").await["score"], 5);
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT rating::bigint AS n FROM conversations WHERE id = '{id}'"
            ))
            .await,
        5
    );
    server.stop().await;
}

#[actix_rt::test]
async fn first_operator_reply_is_recorded_for_statistics() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let w = server.open_widget(json!({"message": "hi"})).await;
    let id = &w.conversation_id;
    server
        .post(
            &format!("/api/v1/conversations/{id}/take"),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT unanswered::bigint AS n FROM conversations WHERE id = '{id}'"
            ))
            .await,
        1
    );
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &ann.token,
            json!({"client_id": "r", "text": "hello"}),
        )
        .await;
    assert_eq!(status, 201);
    let answered = server
        .scalar(&format!(
            "SELECT count(*) AS n FROM assignments a JOIN conversations c ON c.id = a.conversation_id \
             WHERE a.conversation_id = '{id}' AND a.first_response_at IS NOT NULL AND c.first_response_at IS NOT NULL AND c.unanswered = 0"
        ))
        .await;
    assert_eq!(answered, 1);
    server.stop().await;
}

#[actix_rt::test]
async fn the_cli_adds_operators_who_can_log_in() {
    let mut server = TestServer::start().await;
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let mut child = Command::new(bin)
        .args([
            "operator",
            "add",
            "--email",
            "cli@example.test",
            "--name",
            "Cleo Cli",
            "--role",
            "supervisor",
        ])
        .env("DATABASE_URL", &server.db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-long-enough-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("cli@example.test") && !printed.contains("a-long-enough-password"));

    let res = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "CLI@example.test", "password": "a-long-enough-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["operator"]["role"],
        "supervisor"
    );

    let again = Command::new(bin)
        .args([
            "operator",
            "add",
            "--email",
            "cli@example.test",
            "--name",
            "Dup",
            "--role",
            "agent",
        ])
        .env("DATABASE_URL", &server.db.url)
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert!(!again.status.success(), "a duplicate email is refused");
    let bad_role = Command::new(bin)
        .args([
            "operator",
            "add",
            "--email",
            "x@example.test",
            "--name",
            "X",
            "--role",
            "overlord",
        ])
        .env("DATABASE_URL", &server.db.url)
        .output()
        .unwrap();
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("overlord"));
    server.stop().await;
}

#[actix_rt::test]
async fn lists_filter_by_priority_channel_and_tag() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada", Role::Admin, 0).await;
    let plain = server.open_chat("Hello").await;
    let urgent = server.open_chat("Hello").await;
    let tagged = server.open_chat("Hello").await;
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{}/priority", urgent.conversation_id),
            &admin.token,
            json!({"priority": "urgent"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, tag) = server
        .post("/api/v1/tags", &admin.token, json!({"name": "refund"}))
        .await;
    assert_eq!(status, 201);
    let tag_id = tag["id"].as_str().unwrap().to_owned();
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{}/tags", tagged.conversation_id),
            &admin.token,
            json!({"tag_id": tag_id}),
        )
        .await;
    assert_eq!(status, 200);

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = server
        .get("/api/v1/conversations?priority=urgent", &admin.token)
        .await;
    assert_eq!(ids(&page), vec![urgent.conversation_id.clone()]);
    let (_, page) = server
        .get(&format!("/api/v1/conversations?tag={tag_id}"), &admin.token)
        .await;
    assert_eq!(ids(&page), vec![tagged.conversation_id.clone()]);
    let (_, page) = server
        .get(
            "/api/v1/conversations?channel=web&priority=medium",
            &admin.token,
        )
        .await;
    assert_eq!(
        ids(&page),
        [
            tagged.conversation_id.clone(),
            plain.conversation_id.clone()
        ]
    );
    let (_, page) = server
        .get("/api/v1/conversations?channel=telegram", &admin.token)
        .await;
    assert_eq!(ids(&page), Vec::<String>::new());

    for (query, field) in [
        ("priority=huge", "priority"),
        ("channel=fax", "channel"),
        ("tag=not-a-uuid", "tag"),
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/conversations?{query}"), &admin.token)
            .await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
}

#[actix_rt::test]
async fn summaries_carry_how_far_each_side_has_read() {
    let server = TestServer::start().await;
    let admin = server.add_operator("Ada", Role::Admin, 0).await;
    let widget = server.open_widget(json!({"message": "Hello"})).await;
    let path = format!("/api/v1/conversations/{}", widget.conversation_id);
    let (status, _) = server
        .post(
            &format!("{path}/messages"),
            &admin.token,
            json!({"client_id": "r1", "text": "Hi there"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, before) = server.get(&path, &admin.token).await;
    assert_eq!(before["visitor_read_seq"], 0);
    let (mut visitor, _) = server.visitor(&widget, None).await;
    visitor.send(json!({"type": "read", "seq": 2})).await;
    let (mut op, _) = server.operator_ws(&admin).await;
    op.send(json!({"type": "read", "conversation_id": widget.conversation_id, "seq": 1}))
        .await;
    server
        .eventually("both read marks show in the summary", || async {
            let (_, now) = server.get(&path, &admin.token).await;
            now["visitor_read_seq"] == 2 && now["operator_read_seq"] == 1
        })
        .await;
}
