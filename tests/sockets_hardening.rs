//! Sockets under abuse and revocation: revoked or changed operators, slow readers, socket caps,
//! typing floods, shared message limits, failed hellos, and unauthenticated sockets per address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Client, Operator, TestServer, Widget};
use serde_json::{json, Value};
use switchboard::domain::Role;

/// A visitor message on a socket and its ack.
async fn say(v: &mut Client, client_id: &str, text: &str) -> Value {
    v.send(json!({"type": "message", "client_id": client_id, "text": text}))
        .await;
    let frame = loop {
        let f = v.recv().await;
        if f["type"] == "ack" || f["type"] == "error" {
            break f;
        }
    };
    assert_eq!(frame["type"], "ack", "{frame}");
    frame
}

/// A token whose socket is open: an operator frame on it must be refused, and it closes 4401.
async fn expect_revoked(server: &TestServer, socket: &mut Client, w: &Widget) {
    assert_eq!(socket.closed_with().await, 4401, "{:?}", socket.closed);
    let events = server.event_count(&w.conversation_id).await;
    assert_eq!(events, 1, "nothing written after the revocation");
}

async fn take(server: &TestServer, op: &Operator, w: &Widget) {
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{}/take", w.conversation_id),
            &op.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[actix_rt::test]
async fn a_deleted_operators_open_socket_is_closed_and_can_no_longer_write() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = server.open_chat("hello").await;
    let (mut socket, _) = server.operator_ws(&sue).await;

    let (status, _) = server
        .delete(&format!("/api/v1/operators/{}", sue.id), &admin.token)
        .await;
    assert_eq!(status, 204);
    // Whatever the socket still sends is not stored: it is closed with 4401.
    socket
        .send(
            json!({"type": "message", "conversation_id": w.conversation_id,
                      "client_id": "after-delete", "text": "still here?"}),
        )
        .await;
    expect_revoked(&server, &mut socket, &w).await;
    server.stop().await;
}

#[actix_rt::test]
async fn revoking_sessions_or_an_admin_password_change_closes_every_socket_of_the_operator() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = server.open_chat("hello").await;

    let (mut first, _) = server.operator_ws(&sue).await;
    let (mut second, _) = server.operator_ws(&sue).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/operators/{}/revoke-sessions", sue.id),
            &admin.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    expect_revoked(&server, &mut first, &w).await;
    expect_revoked(&server, &mut second, &w).await;

    // A new login, then an admin sets a new password: signed out everywhere again.
    let (status, body) = server
        .post(
            "/api/v1/auth/login",
            "",
            json!({"email": sue.email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sue = Operator {
        token: body["token"].as_str().unwrap().into(),
        ..sue
    };
    let (mut third, _) = server.operator_ws(&sue).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/operators/{}/password", sue.id),
            &admin.token,
            json!({"new_password": "another long password"}),
        )
        .await;
    assert_eq!(status, 204);
    expect_revoked(&server, &mut third, &w).await;
    server.stop().await;
}

#[actix_rt::test]
async fn ones_own_password_change_closes_the_other_sessions_sockets_only() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let (status, body) = server
        .post(
            "/api/v1/auth/login",
            "",
            json!({"email": ann.email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, 200);
    let other_token = body["token"].as_str().unwrap().to_owned();
    let other = Operator {
        id: ann.id.clone(),
        email: ann.email.clone(),
        token: other_token,
    };
    let (mut mine, _) = server.operator_ws(&ann).await;
    let (mut theirs, _) = server.operator_ws(&other).await;
    let (status, body) = server
        .post(
            &format!("/api/v1/operators/{}/password", ann.id),
            &ann.token,
            json!({"current_password": "correct horse battery", "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(theirs.closed_with().await, 4401);
    // The socket of the token that made the change stays open and working.
    mine.send(json!({"type": "presence", "status": "away"}))
        .await;
    let presence = mine.recv_type("presence").await;
    assert_eq!(presence["status"], "away");
    server.stop().await;
}

#[actix_rt::test]
async fn a_socket_closes_when_its_token_expires() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    server
        .execute("UPDATE operator_sessions SET expires_at = now() + interval '2 seconds'")
        .await;
    let (mut socket, _) = server.operator_ws(&ann).await;
    assert_eq!(socket.closed_with().await, 4401);
    server.stop().await;
}

#[actix_rt::test]
async fn a_demoted_supervisor_is_told_and_loses_what_the_role_allowed_at_once() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 0).await;
    let w = server.open_chat("hello").await;
    take(&server, &bob, &w).await;
    let (mut socket, _) = server.operator_ws(&sue).await;

    // As a supervisor, Sue may add a note to Bob's conversation.
    socket
        .send(json!({"type": "note", "conversation_id": w.conversation_id,
                      "client_id": "n1", "text": "as a supervisor"}))
        .await;
    assert_eq!(socket.recv_type("ack").await["client_id"], "n1");

    let (status, _) = server
        .patch(
            &format!("/api/v1/operators/{}", sue.id),
            &admin.token,
            json!({"role": "agent"}),
        )
        .await;
    assert_eq!(status, 200);
    let pushed = socket.recv_type("operator").await;
    assert_eq!(pushed["operator"]["role"], "agent", "{pushed}");
    // The same socket now acts as an agent: Bob's conversation is not hers to see.
    socket
        .send(json!({"type": "note", "conversation_id": w.conversation_id,
                      "client_id": "n2", "text": "as an agent"}))
        .await;
    let err = socket.recv_type("error").await;
    assert_eq!(err["code"], "forbidden", "{err}");
    assert_eq!(err["client_id"], "n2");
    assert_eq!(server.event_count(&w.conversation_id).await, 3);
    server.stop().await;
}

#[actix_rt::test]
async fn a_revoked_operator_gets_no_more_assignments() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 3).await;
    let (mut socket, _) = server.operator_ws(&ann).await;
    let first = server.open_chat("first").await;
    server
        .wait_assignee(&first.conversation_id, Some(&ann.id))
        .await;
    let (status, _) = server
        .post(
            &format!("/api/v1/operators/{}/revoke-sessions", ann.id),
            &admin.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(socket.closed_with().await, 4401);
    let second = server.open_chat("second").await;
    server.router_settled(1).await;
    assert_eq!(server.assignee(&second.conversation_id).await, None);
    server.stop().await;
}

#[actix_rt::test]
async fn the_welcome_misses_no_conversation_opened_while_it_is_read() {
    let mut server = TestServer::start().await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let earlier = server.open_chat("earlier").await;

    // Hold the tag tables, so the welcome's read stops half-way (after the open conversations
    // are listed, while their tags are looked up).
    let mut blocker = server.db.conn().await;
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let hold = tokio::spawn(async move {
        blocker
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                diesel::sql_query("LOCK TABLE tags, conversation_tags IN ACCESS EXCLUSIVE MODE")
                    .execute(conn)
                    .await?;
                let _ = locked_tx.send(());
                let _ = release_rx.await;
                Ok(())
            })
            .await
            .unwrap();
    });
    locked_rx.await.unwrap();

    let mut socket = Client::connect(&format!("{}/ws/operator", server.ws_base)).await;
    socket
        .send(json!({"type": "hello", "token": sue.token}))
        .await;
    server
        .eventually("the welcome waits on the lock", || async {
            server
                .scalar(
                    "SELECT count(*) AS n FROM pg_locks \
                     WHERE NOT granted AND database = (SELECT oid FROM pg_database \
                       WHERE datname = current_database()) \
                       AND relation IN ('tags'::regclass, 'conversation_tags'::regclass)",
                )
                .await
                > 0
        })
        .await;
    let opened = server.open_chat("opened meanwhile").await;
    release_tx.send(()).unwrap();
    hold.await.unwrap();

    let welcome = socket.recv_type("welcome").await;
    let listed: Vec<String> = welcome["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(listed.contains(&earlier.conversation_id));
    if !listed.contains(&opened.conversation_id) {
        let pushed = socket.recv_type("conversation").await;
        assert_eq!(
            pushed["id"], opened.conversation_id,
            "the conversation opened during the welcome is pushed"
        );
    }
    server.stop().await;
}

/// A socket whose client reads nothing until told to: its receive buffer is tiny, so the
/// server's writes back up quickly.
async fn stalled_operator_socket(server: &TestServer, op: &Operator) -> Client {
    let addr = server.running.as_ref().unwrap().addr;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let url = format!("{}/ws/operator", server.ws_base);
    let mut client = Client::over(stream, &url).await;
    client
        .send(json!({"type": "hello", "token": op.token}))
        .await;
    client.recv_type("welcome").await;
    client
}

#[actix_rt::test]
async fn a_reader_that_falls_behind_is_closed_with_1008_and_others_get_everything() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        socket_queue_frames: 20,
        socket_queue_bytes: 256 * 1024,
        max_text_chars: 50_000,
        visitor_messages_per_sec: 10_000,
        visitor_burst: 10_000,
        ..c
    })
    .await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let kim = server.add_operator("Kim Super", Role::Supervisor, 0).await;
    let w = server.open_chat("hello").await;
    let mut slow = stalled_operator_socket(&server, &sue).await;
    let (mut healthy, _) = server.operator_ws(&kim).await;
    let (mut v, _) = server.visitor(&w, None).await;

    // 200 messages of 40 KB: 8 MB for each operator socket, more than the kernel buffers hold.
    // The visitor sends the next once the last is acked, and the healthy operator is read all
    // along, so only the stalled socket falls behind.
    let big = "x".repeat(40_000);
    let sent = 200;
    let message = |n: usize| json!({"type": "message", "client_id": format!("m{n}"), "text": big});
    v.send(message(0)).await;
    let mut acked = 0;
    let mut seen_by_healthy = 0;
    while acked < sent || seen_by_healthy < sent {
        tokio::select! {
            f = v.recv() => {
                assert_ne!(f["type"], "error", "{f}");
                if f["type"] == "ack" {
                    acked += 1;
                    if acked < sent {
                        v.send(message(acked)).await;
                    }
                }
            }
            f = healthy.recv() => {
                if f["type"] == "event" && f["author"] == "visitor" { seen_by_healthy += 1; }
            }
        }
    }
    assert_eq!(
        seen_by_healthy, sent,
        "the reading operator got every event"
    );

    // The stalled client now reads: what was queued, then a close telling it to resume.
    let mut events = 0;
    while let Some(f) = slow.next(Duration::from_secs(30)).await {
        if f["type"] == "event" {
            events += 1;
        }
    }
    let code = slow.closed.as_ref().map(|(c, _)| *c);
    assert_eq!(code, Some(1008), "closed as too slow");
    assert!(
        events < sent,
        "the slow socket was dropped, not fed forever ({events})"
    );
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("switchboard_slow_sockets_closed_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok());
    assert_eq!(refused, Some(1.0), "exactly the stalled socket: {metrics}");
    server.stop().await;
}

#[actix_rt::test]
async fn widget_tokens_and_operators_have_a_socket_cap() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        sockets_per_widget_token: 2,
        sockets_per_operator: 2,
        ..c
    })
    .await;
    let w = server.open_chat("hello").await;
    let (_v1, _) = server.visitor(&w, None).await;
    let (_v2, _) = server.visitor(&w, None).await;
    let mut third = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    third.send(json!({"type": "hello", "token": w.token})).await;
    let err = third.recv_type("error").await;
    assert_eq!(err["code"], "too_many_sockets", "{err}");
    assert_eq!(third.closed_with().await, 4429);

    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let (_o1, _) = server.operator_ws(&ann).await;
    let (o2, _) = server.operator_ws(&ann).await;
    let mut o3 = Client::connect(&format!("{}/ws/operator", server.ws_base)).await;
    o3.send(json!({"type": "hello", "token": ann.token})).await;
    assert_eq!(o3.closed_with().await, 4429);
    // A socket that closes makes room again.
    o2.close().await;
    let (_o4, welcome) = server.operator_ws(&ann).await;
    assert_eq!(welcome["type"], "welcome");
    server.stop().await;
}

#[actix_rt::test]
async fn a_typing_flood_reaches_operators_as_at_most_one_frame_per_two_seconds() {
    let mut server = TestServer::start().await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = server.open_chat("hello").await;
    let (mut op, _) = server.operator_ws(&sue).await;
    let (mut v, _) = server.visitor(&w, None).await;
    for n in 0..100 {
        v.send(json!({"type": "typing", "active": n % 2 == 0}))
            .await;
    }
    v.send(json!({"type": "typing", "active": false})).await;
    let frames = op.drain_type("typing", Duration::from_millis(3000)).await;
    assert!(
        (1..=2).contains(&frames.len()),
        "a flood of 101 typing frames became {} frames",
        frames.len()
    );
    assert_eq!(
        frames.last().unwrap()["active"],
        false,
        "the indicator ends in the last state sent"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn the_message_limit_is_per_conversation_not_per_socket() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        visitor_messages_per_sec: 1,
        visitor_burst: 5,
        ..c
    })
    .await;
    let w = server.open_chat("hello").await;
    let (mut a, _) = server.visitor(&w, None).await;
    let (mut b, _) = server.visitor(&w, None).await;
    for n in 0..5 {
        a.send(json!({"type": "message", "client_id": format!("a{n}"), "text": "x"}))
            .await;
        b.send(json!({"type": "message", "client_id": format!("b{n}"), "text": "x"}))
            .await;
    }
    let mut acks = 0;
    let mut limited = 0;
    for client in [&mut a, &mut b] {
        while let Some(f) = client.next(Duration::from_millis(1500)).await {
            if f["type"] == "ack" && f["client_id"] != Value::Null {
                acks += 1;
            }
            if f["type"] == "error" && f["code"] == "rate_limited" {
                limited += 1;
            }
        }
    }
    assert!(
        acks <= 7,
        "two sockets did not double the limit: {acks} acks"
    );
    assert!(limited >= 3, "{limited} refused");
    server.stop().await;
}

#[actix_rt::test]
async fn three_failed_hellos_close_the_socket() {
    let mut server = TestServer::start().await;
    let mut v = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    for _ in 0..3 {
        v.send(json!({"type": "hello", "token": "guess"})).await;
    }
    let mut errors = 0;
    while let Some(f) = v.next(Duration::from_secs(5)).await {
        if f["type"] == "error" {
            errors += 1;
        }
    }
    assert_eq!(errors, 3);
    assert_eq!(v.closed.as_ref().map(|(c, _)| *c), Some(4401));

    let mut o = Client::connect(&format!("{}/ws/operator", server.ws_base)).await;
    for _ in 0..3 {
        o.send(json!({"type": "hello", "token": "guess"})).await;
    }
    assert_eq!(o.closed_with().await, 4401);
    server.stop().await;
}

#[actix_rt::test]
async fn unauthenticated_sockets_are_capped_per_address() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        unauthenticated_sockets_per_ip: 3,
        ..c
    })
    .await;
    let url = format!("{}/ws/visitor", server.ws_base);
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(Client::connect(&url).await);
    }
    let refused = Client::connect_with_origin(&url, &server.base).await;
    assert_eq!(refused.err(), Some(429));
    // A socket that says hello frees its place.
    let w = server.open_chat("hello").await;
    let mut first = idle.remove(0);
    first.send(json!({"type": "hello", "token": w.token})).await;
    first.recv_type("welcome").await;
    let again = Client::connect_with_origin(&url, &server.base).await;
    assert!(again.is_ok(), "room again after a hello");
    server.stop().await;
}

#[actix_rt::test]
async fn operator_messages_and_frames_are_rate_limited_per_token_across_sockets() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        operator_messages_per_sec: 1,
        operator_burst: 10,
        operator_frames_per_sec: 1,
        operator_frames_burst: 30,
        ..c
    })
    .await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = server.open_chat("hello").await;
    let (mut first, _) = server.operator_ws(&sue).await;
    let (mut second, _) = server.operator_ws(&sue).await;
    for n in 0..20 {
        for (socket, side) in [(&mut first, "a"), (&mut second, "b")] {
            socket
                .send(json!({"type": "note", "conversation_id": w.conversation_id,
                              "client_id": format!("{side}{n}"), "text": "note"}))
                .await;
        }
    }
    let mut acks = 0;
    let mut limited = 0;
    for socket in [&mut first, &mut second] {
        while let Some(f) = socket.next(Duration::from_millis(1500)).await {
            if f["type"] == "ack" {
                acks += 1;
            }
            if f["type"] == "error" {
                assert_eq!(f["code"], "rate_limited", "{f}");
                limited += 1;
            }
        }
    }
    assert!(
        acks <= 14,
        "{acks} of 40 notes acked over two sockets of one token"
    );
    assert_eq!(acks + limited, 40);
    // Any other frame counts too: a flood of presence frames is cut off.
    for _ in 0..40 {
        first
            .send(json!({"type": "presence", "status": "busy"}))
            .await;
    }
    let mut answered = 0;
    let mut refused = 0;
    while let Some(f) = first.next(Duration::from_millis(1500)).await {
        match f["type"].as_str() {
            Some("presence") => answered += 1,
            Some("error") if f["code"] == "rate_limited" => refused += 1,
            _ => {}
        }
    }
    assert!(
        refused >= 20,
        "{refused} of 40 presence frames refused ({answered} answered)"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn renaming_or_deleting_a_tag_reaches_live_conversations_at_once() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let w = server.open_chat("hello").await;
    let (status, tag) = server
        .post("/api/v1/tags", &admin.token, json!({"name": "billing"}))
        .await;
    assert_eq!(status, 201, "{tag}");
    let tag_id = tag["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{}/tags", w.conversation_id);
    let (status, body) = server
        .post(&path, &admin.token, json!({"tag_id": tag_id}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (mut op, _) = server.operator_ws(&admin).await;

    let (status, _) = server
        .patch(
            &format!("/api/v1/tags/{tag_id}"),
            &admin.token,
            json!({"name": "invoices"}),
        )
        .await;
    assert_eq!(status, 200);
    let pushed = op.recv_type("conversation").await;
    assert_eq!(pushed["tags"], json!(["invoices"]), "{pushed}");
    let (_, live) = server
        .get(
            &format!("/api/v1/conversations/{}", w.conversation_id),
            &admin.token,
        )
        .await;
    assert_eq!(live["tags"], json!(["invoices"]), "{live}");

    let (status, _) = server
        .delete(&format!("/api/v1/tags/{tag_id}"), &admin.token)
        .await;
    assert_eq!(status, 204);
    let pushed = op.recv_type("conversation").await;
    assert_eq!(pushed["tags"], json!([]), "{pushed}");
    // The next change to the conversation does not bring the tag back.
    let (status, summary) = server
        .post(
            &format!("/api/v1/conversations/{}/priority", w.conversation_id),
            &admin.token,
            json!({"priority": "high"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(summary["tags"], json!([]), "{summary}");
    server.stop().await;
}

#[actix_rt::test]
async fn empty_chats_cost_no_capacity_until_the_customer_writes() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 3).await;
    let (mut op, welcome) = server.operator_ws(&ann).await;
    assert_eq!(welcome["conversations"], json!([]));
    let mut empty = Vec::new();
    for _ in 0..3 {
        empty.push(server.open_widget(json!({})).await);
    }
    server.router_settled(0).await;
    for w in &empty {
        assert_eq!(server.assignee(&w.conversation_id).await, None);
    }
    let (_, list) = server
        .get("/api/v1/conversations?status=pending", &ann.token)
        .await;
    assert_eq!(list["items"], json!([]), "nobody sees an empty chat queued");
    assert!(op.next(Duration::from_millis(300)).await.is_none());

    // The customer writes: now it is queued, and assigned.
    let (mut v, _) = server.visitor(&empty[0], None).await;
    say(&mut v, "first", "I need help").await;
    server
        .wait_assignee(&empty[0].conversation_id, Some(&ann.id))
        .await;
    // The other two are still free capacity: two more real chats are assigned.
    let a = server.open_chat("one").await;
    let b = server.open_chat("two").await;
    server
        .wait_assignee(&a.conversation_id, Some(&ann.id))
        .await;
    server
        .wait_assignee(&b.conversation_id, Some(&ann.id))
        .await;
    server.stop().await;
}

#[actix_rt::test]
async fn unused_widget_sessions_expire() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        empty_conversation_ttl_secs: 1,
        ..c
    })
    .await;
    let unused = server.open_widget(json!({})).await;
    let used = server.open_widget(json!({})).await;
    let (mut v, _) = server.visitor(&used, None).await;
    say(&mut v, "c1", "hello").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.sweep().await;
    server
        .eventually("the unused conversation is deleted", || async {
            server
                .scalar(&format!(
                    "SELECT count(*) AS n FROM conversations WHERE id = '{}'",
                    unused.conversation_id
                ))
                .await
                == 0
        })
        .await;
    let mut late = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    late.send(json!({"type": "hello", "token": unused.token}))
        .await;
    assert_eq!(late.recv_type("error").await["code"], "unauthorized");
    assert_eq!(server.event_count(&used.conversation_id).await, 1);
    server.stop().await;
}

#[actix_rt::test]
async fn the_operators_online_gauge_follows_sockets_and_presence() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 3).await;
    let gauge = |text: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with("switchboard_operators_online"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
    };
    let read = || async {
        server
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (op, _) = server.operator_ws(&ann).await;
    assert_eq!(gauge(&read().await), Some(1.0));
    op.close().await;
    server
        .eventually("the gauge drops", || async {
            gauge(&read().await) == Some(0.0)
        })
        .await;
    server.stop().await;
}

#[actix_rt::test]
async fn logging_out_closes_the_sockets_of_that_token() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let (mut socket, _) = server.operator_ws(&ann).await;
    let (status, _) = server
        .post("/api/v1/auth/logout", &ann.token, json!({}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(socket.closed_with().await, 4401);
    server.stop().await;
}

/// The seqs of the `event` frames a client receives until it has seen `last`.
async fn seqs_until(client: &mut Client, last: i64) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        let f = client.recv().await;
        if f["type"] == "event" {
            seqs.push(f["seq"].as_i64().unwrap());
        }
    }
    seqs
}

#[actix_rt::test]
async fn a_replay_of_many_pages_arrives_whole_and_in_order_while_live_events_continue() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        visitor_messages_per_sec: 10_000,
        visitor_burst: 10_000,
        ..c
    })
    .await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = server.open_chat("m0").await;
    let (mut writer, _) = server.visitor(&w, None).await;
    // Three pages and a half of history.
    for n in 1..700 {
        say(&mut writer, &format!("h{n}"), &format!("m{n}")).await;
    }
    // A second visitor socket and an operator catch up from the start while the first keeps
    // writing: each must see 1..=710 once, in order.
    let mut reader = Client::connect(&format!("{}/ws/visitor", server.ws_base)).await;
    reader
        .send(json!({"type": "hello", "token": w.token, "last_seq": 0}))
        .await;
    let (mut op, _) = server.operator_ws(&sue).await;
    op.send(json!({"type": "resume", "conversation_id": w.conversation_id, "last_seq": 0}))
        .await;
    for n in 700..710 {
        say(&mut writer, &format!("h{n}"), &format!("m{n}")).await;
    }
    let expected: Vec<i64> = (1..=710).collect();
    assert_eq!(
        seqs_until(&mut reader, 710).await,
        expected,
        "visitor replay"
    );
    assert_eq!(seqs_until(&mut op, 710).await, expected, "operator replay");
    server.stop().await;
}

#[actix_rt::test]
async fn a_socket_that_reads_nothing_for_the_stall_time_is_dropped() {
    let mut server = TestServer::start_with(|c| switchboard::config::Config {
        socket_stall_secs: 2,
        // Only the stall can end it: the queue itself is never full here.
        socket_queue_frames: 1_000_000,
        socket_queue_bytes: 1 << 30,
        max_text_chars: 50_000,
        visitor_messages_per_sec: 10_000,
        visitor_burst: 10_000,
        ..c
    })
    .await;
    let sue = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = server.open_chat("hello").await;
    let mut slow = stalled_operator_socket(&server, &sue).await;
    let (mut v, _) = server.visitor(&w, None).await;
    // 8 MB: more than the kernel buffers between the two ends hold (4 MB at most here).
    let big = "x".repeat(40_000);
    for n in 0..200 {
        say(&mut v, &format!("m{n}"), &big).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    say(&mut v, "late", "after the stall").await;

    let mut events = 0;
    while let Some(f) = slow.next(Duration::from_secs(10)).await {
        if f["type"] == "event" {
            events += 1;
        }
    }
    assert!(
        slow.ended,
        "the stalled socket was dropped ({events} events read)"
    );
    assert!(events < 201, "it was not fed everything: {events}");
    server.stop().await;
}
