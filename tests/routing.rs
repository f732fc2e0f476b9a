//! Routing v1: queue positions for waiting visitors, least-loaded assignment under each
//! operator's capacity, oldest-first backfill, and live queue updates for operators.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, Widget};
use serde_json::json;
use switchboard::domain::Role;

async fn assignees(server: &TestServer, widgets: &[Widget]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for w in widgets {
        out.push(server.assignee(&w.conversation_id).await);
    }
    out
}

async fn active_for(server: &TestServer, operator: &str) -> i64 {
    server
        .scalar(&format!(
            "SELECT count(*) AS n FROM conversations WHERE status = 'active' AND assignee_id = '{operator}'"
        ))
        .await
}

#[actix_rt::test]
async fn queue_positions_update_as_conversations_are_assigned() {
    let mut server = TestServer::start().await;
    let mut widgets = Vec::new();
    let mut visitors = Vec::new();
    for _ in 0..3 {
        let w = server.open_chat("Hello").await;
        let (v, welcome) = server.visitor(&w, None).await;
        assert_eq!(welcome["status"], "pending");
        widgets.push(w);
        visitors.push(v);
    }
    for (i, v) in visitors.iter_mut().enumerate() {
        let q = v.recv_type("queue").await;
        assert_eq!(q["position"], i + 1, "visitor {i} is told its place");
    }

    // One operator with room for one chat comes online: the oldest is assigned.
    let ann = server.add_operator("Ann Agent", Role::Agent, 1).await;
    let (_op, _) = server.operator_ws(&ann).await;
    let status = visitors[0].recv_type("status").await;
    assert_eq!(status["status"], "active");
    assert_eq!(visitors[1].recv_type("queue").await["position"], 1);
    assert_eq!(visitors[2].recv_type("queue").await["position"], 2);
    assert_eq!(
        assignees(&server, &widgets).await,
        vec![Some(ann.id.clone()), None, None]
    );

    // Capacity frees up when the chat is resolved: the next oldest moves in.
    let (s, _) = server
        .post(
            &format!(
                "/api/v1/conversations/{}/resolve",
                widgets[0].conversation_id
            ),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(visitors[1].recv_type("status").await["status"], "active");
    assert_eq!(visitors[2].recv_type("queue").await["position"], 1);
    server.stop().await;
}

#[actix_rt::test]
async fn least_loaded_assignment_respects_max_concurrent() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 2).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 2).await;
    let (_a, _) = server.operator_ws(&ann).await;
    let (_b, _) = server.operator_ws(&bob).await;

    let mut widgets = Vec::new();
    for n in 1..=5 {
        widgets.push(server.open_chat("hello").await);
        let expected_assigned = n.min(4);
        server
            .eventually("assignments settle", || async {
                server
                    .scalar("SELECT count(*) AS n FROM conversations WHERE status = 'active'")
                    .await
                    == expected_assigned as i64
            })
            .await;
        let a = active_for(&server, &ann.id).await;
        let b = active_for(&server, &bob.id).await;
        assert!(
            (a - b).abs() <= 1,
            "least loaded first: ann {a}, bob {b} after {n} conversations"
        );
        assert!(
            a <= 2 && b <= 2,
            "never above max concurrent: ann {a}, bob {b}"
        );
    }
    // Four were active before the fifth arrived: only once the router has queued it and has
    // no assignment in flight does "unassigned" show that it was refused.
    server.router_settled(1).await;
    let got = assignees(&server, &widgets).await;
    assert!(got[4].is_none(), "the fifth waits: both operators are full");
    assert_eq!(
        server
            .scalar("SELECT count(*) AS n FROM assignments WHERE kind = 'auto'")
            .await,
        4
    );
    server.stop().await;
}

#[actix_rt::test]
async fn busy_or_away_operators_get_nothing_and_online_again_backfills_oldest_first() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 1).await;
    let (mut op, _) = server.operator_ws(&ann).await;
    op.send(json!({"type": "presence", "status": "away"})).await;
    assert_eq!(op.recv_type("presence").await["status"], "away");
    let older = server.open_chat("Hello").await;
    let newer = server.open_chat("Hello").await;
    server.router_settled(2).await;
    assert_eq!(
        assignees(&server, &[older.clone(), newer.clone()]).await,
        vec![None, None]
    );

    // Back online with room for one: the older conversation is the one assigned.
    op.send(json!({"type": "presence", "status": "online"}))
        .await;
    server
        .eventually("one assigned", || async {
            server
                .scalar("SELECT count(*) AS n FROM conversations WHERE status = 'active'")
                .await
                == 1
        })
        .await;
    server.router_settled(1).await;
    assert_eq!(
        assignees(&server, &[older.clone(), newer.clone()]).await,
        vec![Some(ann.id.clone()), None],
        "the oldest conversation is assigned first"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn operators_see_new_pending_conversations_live() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let (mut op, welcome) = server.operator_ws(&ann).await;
    assert_eq!(welcome["operator"]["name"], "Ann Agent");
    assert_eq!(welcome["conversations"].as_array().unwrap().len(), 0);
    let w = server
        .open_widget(json!({"message": "anyone there?"}))
        .await;
    let queued = op.recv_type("conversation").await;
    assert_eq!(queued["id"], w.conversation_id.as_str());
    assert_eq!(queued["status"], "pending");
    assert_eq!(queued["last_seq"], 1);
    let first = op.recv_type("event").await;
    assert_eq!(first["text"], "anyone there?");

    // A second socket of another agent sees the same queue on connect.
    let bob = server.add_operator("Bob Agent", Role::Agent, 0).await;
    let (_b, welcome) = server.operator_ws(&bob).await;
    let listed: Vec<_> = welcome["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(listed, vec![json!(w.conversation_id)]);
    server.stop().await;
}

#[actix_rt::test]
async fn agents_are_told_when_a_queued_conversation_is_taken_by_someone_else() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 1).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 0).await;
    let (mut bob_ws, _) = server.operator_ws(&bob).await;
    let (_ann_ws, _) = server.operator_ws(&ann).await;
    let w = server.open_chat("Hello").await;
    server
        .wait_assignee(&w.conversation_id, Some(&ann.id))
        .await;
    // Bob saw it queue up, so he must see it leave the queue too.
    let gone = loop {
        let frame = bob_ws.recv_type("conversation").await;
        if frame["id"] == w.conversation_id.as_str() && frame["status"] == "active" {
            break frame;
        }
    };
    assert_eq!(gone["assignee"], ann.id.as_str());
    server.stop().await;
}
