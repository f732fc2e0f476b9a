//! Faults: a Conversation actor stopped for idleness or killed resumes from its snapshot,
//! PostgreSQL going away yields `unavailable` and a retry succeeds once it is back (no loss, no
//! duplicate), `/health` tells the truth, and shutdown tells sockets to reconnect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::proxy::PgProxy;
use common::{test_config, TestDb, TestServer};
use serde_json::{json, Value};
use switchboard::actors::conversation::Kill;
use switchboard::config::Config;
use switchboard::domain::Role;
use switchboard::ids::ConversationId;

fn conv_id(s: &str) -> ConversationId {
    s.parse().unwrap()
}

#[actix_rt::test]
async fn an_idle_conversation_actor_stops_and_resumes_from_its_snapshot() {
    let mut server = TestServer::start_with(|c| Config {
        conversation_idle_secs: 1,
        ..c
    })
    .await;
    let w = server.open_widget(json!({"message": "one"})).await;
    let id = conv_id(&w.conversation_id);
    let (mut v, _) = server.visitor(&w, None).await;
    v.send(json!({"type": "message", "client_id": "two", "text": "two"}))
        .await;
    assert_eq!(v.recv_type("ack").await["seq"], 2);
    v.send(json!({"type": "read", "seq": 2})).await;
    v.close().await;

    let registry = server.running.as_ref().unwrap().registry.clone();
    server
        .eventually("the idle actor stops", || {
            let registry = registry.clone();
            async move { registry.running(id).is_none() }
        })
        .await;
    let snapshot = server
        .scalar(&format!(
            "SELECT last_seq AS n FROM conversations WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(snapshot, 2);
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT visitor_read_seq AS n FROM conversations WHERE id = '{id}'"
            ))
            .await,
        2,
        "read marks are flushed when the actor stops"
    );

    let (mut back, welcome) = server.visitor(&w, None).await;
    assert_eq!(welcome["last_seq"], 2);
    back.send(json!({"type": "message", "client_id": "three", "text": "three"}))
        .await;
    assert_eq!(
        back.recv_type("ack").await["seq"],
        3,
        "the next seq follows the snapshot"
    );
    back.send(json!({"type": "message", "client_id": "two", "text": "two"}))
        .await;
    assert_eq!(
        back.recv_type("ack").await["seq"],
        2,
        "a retry from before the stop is still recognised"
    );
    assert_eq!(server.event_count(&w.conversation_id).await, 3);
    server.stop().await;
}

#[actix_rt::test]
async fn a_killed_conversation_actor_is_restarted_and_sockets_rebind() {
    let mut server = TestServer::start().await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let (mut op, _) = server.operator_ws(&boss).await;
    let w = server.open_chat("Hello").await;
    // Assigned before the visitor writes, so no system event lands between the seqs compared.
    server
        .wait_assignee(&w.conversation_id, Some(&boss.id))
        .await;
    let id = conv_id(&w.conversation_id);
    let (mut v, _) = server.visitor(&w, None).await;
    v.send(json!({"type": "message", "client_id": "a", "text": "before the crash"}))
        .await;
    let before = v.recv_type("ack").await["seq"].as_i64().unwrap();

    let registry = server.running.as_ref().unwrap().registry.clone();
    let victim = registry.running(id).expect("the actor is live");
    victim.do_send(Kill);
    server
        .eventually(
            "the old actor is gone and the visitor rebound to a new one",
            || {
                let (registry, victim) = (registry.clone(), victim.clone());
                async move { !victim.connected() && registry.running(id).is_some() }
            },
        )
        .await;

    // The operator's reply reaches the visitor through the new actor.
    op.send(json!({"type": "message", "conversation_id": w.conversation_id, "client_id": "o", "text": "after the crash"}))
        .await;
    let ack = op.recv_type("ack").await;
    assert_eq!(
        ack["seq"].as_i64().unwrap(),
        before + 1,
        "the restarted actor continues the sequence"
    );
    let reply = loop {
        let e = v.recv_type("event").await;
        if e["text"] == "after the crash" {
            break e;
        }
    };
    assert_eq!(reply["seq"], ack["seq"]);
    v.send(json!({"type": "message", "client_id": "b", "text": "and me"}))
        .await;
    assert_eq!(
        v.recv_type("ack").await["seq"].as_i64().unwrap(),
        before + 2
    );
    server.stop().await;
}

#[actix_rt::test]
async fn postgres_going_away_answers_unavailable_and_the_retry_succeeds_once() {
    let db = TestDb::create().await;
    let mut proxy = PgProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let config = test_config(&proxy.url(&db.name));
    let mut server = TestServer::start_on(db, config).await;
    let boss = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let (mut op, _) = server.operator_ws(&boss).await;
    let w = server.open_chat("Hello").await;
    // Assigned before the database goes: no assignment is in flight during the outage, and no
    // system event lands between the seqs compared.
    server
        .wait_assignee(&w.conversation_id, Some(&boss.id))
        .await;
    let (mut v, _) = server.visitor(&w, None).await;
    v.send(json!({"type": "message", "client_id": "m1", "text": "first"}))
        .await;
    let first = v.recv_type("ack").await;

    proxy.down();
    v.send(json!({"type": "message", "client_id": "m2", "text": "second"}))
        .await;
    let err = v.recv_type("error").await;
    assert_eq!(err["code"], "unavailable");
    assert_eq!(err["client_id"], "m2");
    let res = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["database"],
        "unreachable"
    );
    // The server is still up and answering.
    let res = server
        .http
        .get(server.url("/api/v1/conversations"))
        .bearer_auth(&boss.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "unavailable"
    );

    proxy.up().await;
    // The client retries with the same client_id until storage is back.
    let ack = loop {
        v.send(json!({"type": "message", "client_id": "m2", "text": "second"}))
            .await;
        let frame = v.recv().await;
        match frame["type"].as_str() {
            Some("ack") => break frame,
            Some("error") => {
                assert_eq!(frame["code"], "unavailable");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => {}
        }
    };
    assert_eq!(
        ack["seq"].as_i64().unwrap(),
        first["seq"].as_i64().unwrap() + 1,
        "no gap"
    );
    v.send(json!({"type": "message", "client_id": "m2", "text": "second"}))
        .await;
    assert_eq!(
        v.recv_type("ack").await,
        ack,
        "a further retry is not stored again"
    );

    let stored = server
        .scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{}' AND client_id IN ('m1', 'm2')",
            w.conversation_id
        ))
        .await;
    assert_eq!(stored, 2, "nothing lost, nothing duplicated");
    let seen: Vec<_> = op
        .drain_type("event", Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, vec!["Hello", "first", "second"]);
    let res = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    server.stop().await;
}

#[actix_rt::test]
async fn health_reports_database_and_router() {
    let mut server = TestServer::start().await;
    let res = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["router"], "ok");
    server.stop().await;
}

#[actix_rt::test]
async fn shutdown_tells_sockets_to_reconnect_and_persists_snapshots() {
    let mut server = TestServer::start().await;
    let w = server.open_widget(json!({"message": "hello"})).await;
    let (mut v, _) = server.visitor(&w, None).await;
    v.send(json!({"type": "read", "seq": 1})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let (mut op, _) = server.operator_ws(&ann).await;

    let stopping = server.running.take().unwrap();
    let stop = actix_rt::spawn(async move { stopping.stop().await });
    assert_eq!(v.closed_with().await, 1012);
    assert_eq!(op.closed_with().await, 1012);
    stop.await.unwrap();
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT visitor_read_seq AS n FROM conversations WHERE id = '{}'",
                w.conversation_id
            ))
            .await,
        1
    );
    assert!(
        server.http.get(server.url("/health")).send().await.is_err(),
        "no longer listening"
    );
}

#[actix_rt::test]
async fn metrics_report_sockets_events_queue_and_pool() {
    let mut server = TestServer::start().await;
    let w = server.open_chat("Hello").await;
    let (mut v, _) = server.visitor(&w, None).await;
    v.send(json!({"type": "message", "client_id": "m", "text": "counted"}))
        .await;
    v.recv_type("ack").await;
    let res = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
    };
    assert!(value("switchboard_sockets_open{kind=\"visitor\"}") >= 1.0);
    assert!(value("switchboard_events_stored_total") >= 1.0);
    assert!(
        value("switchboard_queue_length") >= 1.0,
        "the conversation waits: nobody is online"
    );
    assert!(value("switchboard_db_pool_connections") >= 1.0);
    assert!(text.contains("switchboard_conversation_actors"));
    server.stop().await;
}
