//! The messaging backbone end to end: delivery both ways, acks after commit, idempotent
//! retries, replay on reconnect, and one order seen by everyone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;
use switchboard::config::Config;
use switchboard::domain::Role;

#[actix_rt::test]
async fn visitor_message_reaches_assigned_operator_and_reply_reaches_visitor() {
    let mut server = TestServer::start().await;
    let alice = server.add_operator("Alice Smith", Role::Agent, 5).await;
    let (mut op, _) = server.operator_ws(&alice).await;
    let widget = server.open_chat("Hello").await;

    // The only online operator gets the new conversation.
    let assigned = loop {
        let frame = op.recv_type("conversation").await;
        if frame["status"] == "active" {
            break frame;
        }
    };
    assert_eq!(assigned["id"], widget.conversation_id.as_str());
    assert_eq!(assigned["assignee"], alice.id.as_str());
    assert!(assigned["alias"].as_str().unwrap().starts_with("User-"));

    let (mut visitor, welcome) = server.visitor(&widget, None).await;
    assert_eq!(welcome["ticket"], widget.ticket.as_str());
    assert_eq!(welcome["status"], "active");

    visitor
        .send(json!({"type": "message", "client_id": "v-1", "text": "My order is late"}))
        .await;
    let ack = visitor.recv_type("ack").await;
    assert_eq!(ack["client_id"], "v-1");

    let event = loop {
        let e = op.recv_type("event").await;
        if e["kind"] == "message" {
            break e;
        }
    };
    assert_eq!(event["text"], "My order is late");
    assert_eq!(event["author"], "visitor");
    assert_eq!(event["seq"], ack["seq"]);
    assert_eq!(event["conversation_id"], widget.conversation_id.as_str());
    assert!(
        event["name"].as_str().unwrap().starts_with("User-"),
        "operators see only the alias"
    );

    op.send(json!({"type": "message", "conversation_id": widget.conversation_id, "client_id": "o-1", "text": "Let me check"}))
        .await;
    let op_ack = op.recv_type("ack").await;
    let reply = loop {
        let e = visitor.recv_type("event").await;
        if e["author"] == "operator" {
            break e;
        }
    };
    assert_eq!(reply["text"], "Let me check");
    assert_eq!(
        reply["name"], "Live Support",
        "operators appear as the team to customers"
    );
    assert_eq!(reply["seq"], op_ack["seq"]);
    assert!(
        !reply.to_string().contains("Alice"),
        "no operator personal data reaches the visitor"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn ack_is_sent_only_after_the_row_is_committed() {
    let mut server = TestServer::start_with(|c| Config {
        visitor_burst: 100,
        ..c
    })
    .await;
    let widget = server.open_widget(json!({})).await;
    let (mut visitor, _) = server.visitor(&widget, None).await;
    for i in 0..20 {
        let client_id = format!("c-{i}");
        visitor
            .send(
                json!({"type": "message", "client_id": client_id, "text": format!("message {i}")}),
            )
            .await;
        let ack = visitor.recv_type("ack").await;
        // A separate connection sees the row the moment the ack arrives.
        let stored = server
            .scalar(&format!(
                "SELECT count(*) AS n FROM events WHERE conversation_id = '{}' AND client_id = '{client_id}' AND seq = {}",
                widget.conversation_id, ack["seq"]
            ))
            .await;
        assert_eq!(stored, 1, "ack {ack} arrived before its row was visible");
    }
    server.stop().await;
}

#[actix_rt::test]
async fn retry_with_same_client_id_is_stored_once_and_reacked() {
    let mut server = TestServer::start().await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let (mut op, _) = server.operator_ws(&boss).await;
    let widget = server.open_widget(json!({})).await;
    let (mut visitor, _) = server.visitor(&widget, None).await;

    visitor
        .send(json!({"type": "message", "client_id": "same", "text": "hello"}))
        .await;
    let first = visitor.recv_type("ack").await;
    visitor
        .send(json!({"type": "message", "client_id": "same", "text": "hello"}))
        .await;
    let second = visitor.recv_type("ack").await;
    assert_eq!(first, second, "a retry gets the original ack");

    // And again from a new socket, as after a reconnect.
    visitor.close().await;
    let (mut again, _) = server.visitor(&widget, None).await;
    again
        .send(json!({"type": "message", "client_id": "same", "text": "hello"}))
        .await;
    assert_eq!(again.recv_type("ack").await, first);

    // The same over HTTP for an operator.
    let path = format!("/api/v1/conversations/{}/messages", widget.conversation_id);
    let (s1, a1) = server
        .post(
            &path,
            &boss.token,
            json!({"client_id": "op-x", "text": "hi"}),
        )
        .await;
    let (s2, a2) = server
        .post(
            &path,
            &boss.token,
            json!({"client_id": "op-x", "text": "hi"}),
        )
        .await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(a1, a2);

    // The supervisor was auto-assigned (a system event); then one visitor and one operator message.
    let messages = server
        .scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{}' AND kind = 'message'",
            widget.conversation_id
        ))
        .await;
    assert_eq!(messages, 2);
    let hellos: Vec<_> = op
        .drain_type("event", Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|e| e["text"] == "hello")
        .collect();
    assert_eq!(
        hellos.len(),
        1,
        "the operator saw the message once: {hellos:?}"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn reconnect_with_last_seq_replays_exactly_the_missed_events() {
    let mut server = TestServer::start().await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let widget = server.open_widget(json!({"message": "first"})).await;
    let (mut visitor, welcome) = server.visitor(&widget, Some(0)).await;
    assert_eq!(welcome["last_seq"], 1);
    let replayed = visitor.recv_type("event").await;
    assert_eq!(
        (replayed["seq"].as_i64(), replayed["text"].as_str()),
        (Some(1), Some("first"))
    );
    visitor
        .send(json!({"type": "message", "client_id": "a", "text": "second"}))
        .await;
    let ack = visitor.recv_type("ack").await;
    assert_eq!(ack["seq"], 2);
    visitor.close().await;

    let path = format!("/api/v1/conversations/{}/messages", widget.conversation_id);
    for (i, text) in ["third", "fourth", "fifth"].iter().enumerate() {
        let (status, _) = server
            .post(
                &path,
                &boss.token,
                json!({"client_id": format!("o{i}"), "text": text}),
            )
            .await;
        assert_eq!(status, 201);
    }
    // A note is stored but never replayed to the visitor.
    let (status, _) = server
        .post(
            &path,
            &boss.token,
            json!({"client_id": "n", "text": "internal only", "kind": "note"}),
        )
        .await;
    assert_eq!(status, 201);

    let (mut back, welcome) = server.visitor(&widget, Some(2)).await;
    assert_eq!(welcome["last_seq"], 6);
    let events = back.drain_type("event", Duration::from_millis(500)).await;
    let got: Vec<(i64, String)> = events
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "third".into()),
            (4, "fourth".into()),
            (5, "fifth".into())
        ]
    );

    // Live events continue after the replay.
    let (status, _) = server
        .post(
            &path,
            &boss.token,
            json!({"client_id": "o9", "text": "live"}),
        )
        .await;
    assert_eq!(status, 201);
    let live = back.recv_type("event").await;
    assert_eq!(
        (live["seq"].as_i64(), live["text"].as_str()),
        (Some(7), Some("live"))
    );
    server.stop().await;
}

#[actix_rt::test]
async fn two_operators_and_a_visitor_see_the_same_order() {
    let mut server = TestServer::start_with(|c| Config {
        visitor_burst: 100,
        ..c
    })
    .await;
    let agent = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let widget = server.open_chat("Hello").await;
    let (mut agent_ws, _) = server.operator_ws(&agent).await;
    server
        .eventually("the agent is assigned", || async {
            server
                .scalar(&format!(
                    "SELECT count(*) AS n FROM conversations WHERE id = '{}' AND status = 'active'",
                    widget.conversation_id
                ))
                .await
                == 1
        })
        .await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let (mut boss_ws, _) = server.operator_ws(&boss).await;
    let (mut visitor, welcome) = server.visitor(&widget, None).await;
    let start = welcome["last_seq"].as_i64().unwrap();

    const EACH: usize = 15;
    for i in 0..EACH {
        visitor
            .send(json!({"type": "message", "client_id": format!("v{i}"), "text": format!("v{i}")}))
            .await;
        agent_ws
            .send(json!({"type": "message", "conversation_id": widget.conversation_id, "client_id": format!("a{i}"), "text": format!("a{i}")}))
            .await;
        boss_ws
            .send(json!({"type": "message", "conversation_id": widget.conversation_id, "client_id": format!("s{i}"), "text": format!("s{i}")}))
            .await;
    }
    let total = 3 * EACH;
    let collect = |events: Vec<serde_json::Value>| -> Vec<(i64, String)> {
        events
            .into_iter()
            .filter(|e| e["kind"] == "message")
            .map(|e| {
                (
                    e["seq"].as_i64().unwrap(),
                    e["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let seen_visitor = collect(
        visitor
            .drain_type("event", Duration::from_millis(800))
            .await,
    );
    let seen_agent = collect(
        agent_ws
            .drain_type("event", Duration::from_millis(300))
            .await,
    );
    let seen_boss = collect(
        boss_ws
            .drain_type("event", Duration::from_millis(300))
            .await,
    );
    assert_eq!(seen_visitor.len(), total);
    assert_eq!(seen_visitor, seen_agent);
    assert_eq!(seen_visitor, seen_boss);
    let seqs: Vec<i64> = seen_visitor.iter().map(|(s, _)| *s).collect();
    let expected: Vec<i64> = (start + 1..=start + total as i64).collect();
    assert_eq!(seqs, expected, "seq is contiguous, without gaps");
    assert_eq!(
        server.event_count(&widget.conversation_id).await,
        start + total as i64
    );
    server.stop().await;
}

#[actix_rt::test]
async fn a_busy_supervisor_receives_every_event_of_a_burst() {
    // Regression: fan-out used to give up on (and forget) a socket whose mailbox was full.
    let mut server = TestServer::start_with(|c| Config {
        visitor_burst: 100,
        ..c
    })
    .await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 0).await;
    let (mut op, _) = server.operator_ws(&boss).await;
    const VISITORS: usize = 12;
    const EACH: usize = 25;
    let mut visitors = Vec::new();
    for _ in 0..VISITORS {
        let w = server.open_widget(json!({})).await;
        visitors.push(server.visitor(&w, None).await.0);
    }
    for i in 0..EACH {
        for (n, v) in visitors.iter_mut().enumerate() {
            v.send(json!({"type": "message", "client_id": format!("{n}-{i}"), "text": format!("{n}-{i}")})).await;
        }
    }
    let mut per_conversation: std::collections::HashMap<String, Vec<i64>> =
        std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut received = 0;
    while received < VISITORS * EACH && std::time::Instant::now() < deadline {
        let Some(frame) = op.next(Duration::from_secs(5)).await else {
            break;
        };
        if frame["type"] == "event" && frame["kind"] == "message" {
            received += 1;
            per_conversation
                .entry(frame["conversation_id"].as_str().unwrap().to_owned())
                .or_default()
                .push(frame["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(
        received,
        VISITORS * EACH,
        "every message reached the supervisor"
    );
    for seqs in per_conversation.values() {
        assert_eq!(
            *seqs,
            (1..=EACH as i64).collect::<Vec<_>>(),
            "in order, without gaps"
        );
    }
    server.stop().await;
}

#[actix_rt::test]
async fn typing_and_read_marks_travel_both_ways() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let (mut op, _) = server.operator_ws(&ann).await;
    let w = server.open_widget(json!({"message": "hello"})).await;
    server
        .wait_assignee(&w.conversation_id, Some(&ann.id))
        .await;
    let (mut visitor, _) = server.visitor(&w, None).await;

    visitor
        .send(json!({"type": "typing", "active": true}))
        .await;
    let typing = op.recv_type("typing").await;
    assert_eq!(
        (typing["author"].as_str(), typing["active"].as_bool()),
        (Some("visitor"), Some(true))
    );
    assert_eq!(typing["conversation_id"], w.conversation_id.as_str());
    op.send(json!({"type": "typing", "conversation_id": w.conversation_id, "active": true}))
        .await;
    let typing = visitor.recv_type("typing").await;
    assert_eq!(
        (typing["author"].as_str(), typing["active"].as_bool()),
        (Some("operator"), Some(true))
    );
    assert!(
        typing.get("name").is_none(),
        "no operator identity in typing frames"
    );

    op.send(json!({"type": "read", "conversation_id": w.conversation_id, "seq": 1}))
        .await;
    let read = visitor.recv_type("read").await;
    assert_eq!(
        (read["author"].as_str(), read["seq"].as_i64()),
        (Some("operator"), Some(1))
    );
    visitor.send(json!({"type": "read", "seq": 2})).await;
    // The operator also hears their own read mark first; the visitor's follows.
    let read = loop {
        let read = op.recv_type("read").await;
        if read["author"] == "visitor" {
            break read;
        }
    };
    assert_eq!(read["seq"].as_i64(), Some(2));
    visitor.send(json!({"type": "read", "seq": 99})).await;
    assert_eq!(
        visitor.recv_type("error").await["code"],
        "invalid_request",
        "beyond the last event"
    );
    server.stop().await;
}
