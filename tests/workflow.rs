//! Issue 3's operator workflow, with time driven explicitly: routing strategies, tier
//! preference, presence timeout and redistribution, reassignment of unanswered conversations,
//! transfers, and the system event and audit entry every action leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use common::{Operator, TestServer, Widget};
use serde_json::{json, Value};
use switchboard::clock::ManualClock;
use switchboard::config::Config;
use switchboard::domain::Role;

async fn admin(server: &TestServer) -> Operator {
    server.add_operator("Ada Admin", Role::Admin, 0).await
}

/// A group with the given strategy and members; returns its id.
async fn group(
    server: &TestServer,
    admin: &Operator,
    name: &str,
    strategy: &str,
    members: &[&Operator],
) -> String {
    let (status, body) = server
        .post(
            "/api/v1/groups",
            &admin.token,
            json!({"name": name, "strategy": strategy}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    for m in members {
        let (status, body) = server
            .put(
                &format!("/api/v1/groups/{id}/members/{}", m.id),
                &admin.token,
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

/// A conversation in `group` that the customer has written in, so it is routed at once.
async fn widget_in(server: &TestServer, group: &str) -> Widget {
    server
        .open_widget(json!({"group": group, "message": "Hello"}))
        .await
}

async fn audit_actions(server: &TestServer, conversation: &str) -> String {
    server
        .text(&format!(
            "SELECT coalesce(string_agg(action, ',' ORDER BY id), '') AS value FROM audit_log WHERE target_id = '{conversation}'"
        ))
        .await
}

async fn event_actions(server: &TestServer, conversation: &str) -> String {
    server
        .text(&format!(
            "SELECT coalesce(string_agg(data->>'action', ',' ORDER BY seq), '') AS value FROM events \
             WHERE conversation_id = '{conversation}' AND kind = 'system'"
        ))
        .await
}

#[actix_rt::test]
async fn round_robin_takes_turns_in_a_fixed_order() {
    let mut server = TestServer::start().await;
    let boss = admin(&server).await;
    let ops = [
        server.add_operator("Op One", Role::Agent, 10).await,
        server.add_operator("Op Two", Role::Agent, 10).await,
        server.add_operator("Op Three", Role::Agent, 10).await,
    ];
    let gid = group(
        &server,
        &boss,
        "Sales",
        "round_robin",
        &[&ops[0], &ops[1], &ops[2]],
    )
    .await;
    let mut sockets = Vec::new();
    for op in &ops {
        sockets.push(server.operator_ws(op).await.0);
    }
    let mut order = Vec::new();
    for _ in 0..6 {
        let w = widget_in(&server, "sales").await;
        server
            .eventually("assigned", || async {
                server.assignee(&w.conversation_id).await.is_some()
            })
            .await;
        order.push(server.assignee(&w.conversation_id).await.unwrap());
    }
    let mut ids: Vec<String> = ops.iter().map(|o| o.id.clone()).collect();
    ids.sort();
    let expected: Vec<String> = ids.iter().chain(ids.iter()).cloned().collect();
    assert_eq!(
        order, expected,
        "round robin cycles through the group in a fixed order"
    );
    let in_group = server
        .scalar(&format!(
            "SELECT count(*) AS n FROM conversations WHERE group_id = '{gid}'"
        ))
        .await;
    assert_eq!(in_group, 6);
    server.stop().await;
}

#[actix_rt::test]
async fn only_members_of_the_group_are_eligible() {
    let mut server = TestServer::start().await;
    let boss = admin(&server).await;
    let billing = server.add_operator("Bill Ing", Role::Agent, 5).await;
    let general = server.add_operator("Gene Ral", Role::Agent, 5).await;
    group(&server, &boss, "Billing", "least_loaded", &[&billing]).await;
    let (_b, _) = server.operator_ws(&billing).await;
    let (_g, _) = server.operator_ws(&general).await;
    let w = widget_in(&server, "Billing").await;
    server
        .wait_assignee(&w.conversation_id, Some(&billing.id))
        .await;
    let res = server
        .http
        .post(server.url("/api/v1/widget/sessions"))
        .json(&json!({"group": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["field"],
        "group"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn sticky_sends_a_returning_customer_back_to_their_operator() {
    let mut server = TestServer::start().await;
    let boss = admin(&server).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;
    group(&server, &boss, "Care", "sticky", &[&ann, &bob]).await;
    let (_a, _) = server.operator_ws(&ann).await;
    let first = widget_in(&server, "care").await;
    server
        .wait_assignee(&first.conversation_id, Some(&ann.id))
        .await;
    let (_b, _) = server.operator_ws(&bob).await;
    // Ann is now the busier one, so least-loaded alone would pick Bob.
    let other = widget_in(&server, "care").await;
    server
        .wait_assignee(&other.conversation_id, Some(&bob.id))
        .await;
    let (s, _) = server
        .post(
            &format!("/api/v1/conversations/{}/resolve", first.conversation_id),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = server
        .post("/api/v1/conversations/x/take", &ann.token, json!({}))
        .await;
    assert_eq!(s, 404);
    let extra = widget_in(&server, "care").await;
    server
        .wait_assignee(&extra.conversation_id, Some(&ann.id))
        .await;

    // The same customer comes back: to Ann, although Bob has fewer chats now.
    let back = server
        .open_widget(json!({"group": "care", "contact_token": first.token, "message": "Me again"}))
        .await;
    server
        .wait_assignee(&back.conversation_id, Some(&ann.id))
        .await;
    let alias = |id: &str| {
        format!("SELECT c.alias AS value FROM contacts c JOIN conversations v ON v.contact_id = c.id WHERE v.id = '{id}'")
    };
    assert_eq!(
        server.text(&alias(&back.conversation_id)).await,
        server.text(&alias(&first.conversation_id)).await
    );

    // When their operator cannot take it, it goes to the least loaded instead.
    let (s, _) = server
        .patch(
            &format!("/api/v1/operators/{}", ann.id),
            &boss.token,
            json!({"accepting": false}),
        )
        .await;
    assert_eq!(s, 200);
    let again = server
        .open_widget(json!({"group": "care", "contact_token": first.token, "message": "Me again"}))
        .await;
    server
        .wait_assignee(&again.conversation_id, Some(&bob.id))
        .await;
    server.stop().await;
}

#[actix_rt::test]
async fn urgent_and_escalated_conversations_go_to_the_highest_tier_available() {
    let mut server = TestServer::start().await;
    let junior = server
        .add_operator_tier("June Junior", Role::Agent, 5, 1)
        .await;
    let senior = server
        .add_operator_tier("Sen Senior", Role::Agent, 5, 3)
        .await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let (_s, _) = server.operator_ws(&senior).await;
    let busy = server.open_chat("Hello").await;
    server
        .wait_assignee(&busy.conversation_id, Some(&senior.id))
        .await;
    let (_j, _) = server.operator_ws(&junior).await;

    // A normal conversation goes to the least loaded: the junior.
    let w = server.open_chat("Hello").await;
    server
        .wait_assignee(&w.conversation_id, Some(&junior.id))
        .await;
    // Escalated, it goes to the senior although the junior is freer: re-routed at once.
    let (s, body) = server
        .post(
            &format!("/api/v1/conversations/{}/escalate", w.conversation_id),
            &boss.token,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, body["level"].as_i64(), body["priority"].as_str()),
        (200, Some(1), Some("urgent")),
        "{body}"
    );
    server
        .wait_assignee(&w.conversation_id, Some(&senior.id))
        .await;
    let reason = server
        .text(&format!(
            "SELECT data->>'reason' AS value FROM events WHERE conversation_id = '{}' \
             AND data->>'action' = 'assigned' ORDER BY seq DESC LIMIT 1",
            w.conversation_id
        ))
        .await;
    assert_eq!(reason, "escalated");
    // Back in the queue, escalated, it goes to the senior too.
    let group = body["group_id"].as_str().unwrap().to_owned();
    let (s, body) = server
        .post(
            &format!("/api/v1/conversations/{}/transfer", w.conversation_id),
            &boss.token,
            json!({"group_id": group}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    server
        .wait_assignee(&w.conversation_id, Some(&senior.id))
        .await;

    // An ordinary one right after still goes to the least loaded.
    let plain = server.open_chat("Hello").await;
    server
        .wait_assignee(&plain.conversation_id, Some(&junior.id))
        .await;
    server.stop().await;
}

#[actix_rt::test]
async fn a_silent_operator_goes_offline_and_their_conversations_are_redistributed() {
    let clock = ManualClock::new();
    let mut server = TestServer::start_with_clock(|c| c, clock.clone()).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;
    let (ann_ws, _) = server.operator_ws(&ann).await;
    let w = server.open_chat("Hello").await;
    server
        .wait_assignee(&w.conversation_id, Some(&ann.id))
        .await;
    let (_bob_ws, _) = server.operator_ws(&bob).await;
    let (mut visitor, _) = server.visitor(&w, None).await;

    ann_ws.close().await;
    // The grace period starts when the router sees the socket go; wait for that first.
    server
        .eventually("the router saw ann leave", || async {
            let health: Value = server
                .http
                .get(server.url("/health"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            health["operators_online"] == 1
        })
        .await;
    clock.advance(Duration::seconds(60));
    server.sweep().await;
    assert_eq!(
        server.assignee(&w.conversation_id).await,
        Some(ann.id.clone()),
        "within the grace period nothing moves"
    );

    clock.advance(Duration::seconds(61));
    server.sweep().await;
    server
        .wait_assignee(&w.conversation_id, Some(&bob.id))
        .await;
    let actions = event_actions(&server, &w.conversation_id).await;
    assert_eq!(actions, "assigned,unassigned,assigned");
    let reason = server
        .text(&format!("SELECT data->>'reason' AS value FROM events WHERE conversation_id = '{}' AND data->>'action' = 'unassigned'", w.conversation_id))
        .await;
    assert_eq!(reason, "operator_offline");
    assert!(audit_actions(&server, &w.conversation_id)
        .await
        .contains("conversation.unassign"));
    // The customer is told, without any operator's name.
    let notice = loop {
        let e = visitor.recv_type("event").await;
        if e["kind"] == "system" && e["text"].as_str().unwrap().contains("waiting") {
            break e;
        }
    };
    assert!(!notice.to_string().contains("Ann"));
    server.stop().await;
}

#[actix_rt::test]
async fn an_assignee_who_does_not_answer_in_time_loses_the_conversation() {
    let clock = ManualClock::new();
    let mut server = TestServer::start_with_clock(
        |c| Config {
            reassign_after_secs: 120,
            ..c
        },
        clock.clone(),
    )
    .await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;
    let (_a, _) = server.operator_ws(&ann).await;
    let quiet = server.open_widget(json!({"message": "hello?"})).await;
    server
        .wait_assignee(&quiet.conversation_id, Some(&ann.id))
        .await;
    let answered = server.open_widget(json!({"message": "hi"})).await;
    server
        .wait_assignee(&answered.conversation_id, Some(&ann.id))
        .await;
    let (s, _) = server
        .post(
            &format!(
                "/api/v1/conversations/{}/messages",
                answered.conversation_id
            ),
            &ann.token,
            json!({"client_id": "r1", "text": "Hello!"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_b, _) = server.operator_ws(&bob).await;

    clock.advance(Duration::seconds(100));
    server.sweep().await;
    assert_eq!(
        server.assignee(&quiet.conversation_id).await,
        Some(ann.id.clone())
    );
    clock.advance(Duration::seconds(30));
    server.sweep().await;
    server
        .wait_assignee(&quiet.conversation_id, Some(&bob.id))
        .await;
    assert_eq!(
        server.assignee(&answered.conversation_id).await,
        Some(ann.id.clone()),
        "an answered conversation stays"
    );
    assert!(audit_actions(&server, &quiet.conversation_id)
        .await
        .ends_with("conversation.reassign"));
    let reason = server
        .text(&format!("SELECT data->>'reason' AS value FROM events WHERE conversation_id = '{}' ORDER BY seq DESC LIMIT 1", quiet.conversation_id))
        .await;
    assert_eq!(reason, "no_answer");
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) AS n FROM assignments WHERE conversation_id = '{}'",
                quiet.conversation_id
            ))
            .await,
        2
    );
    server.stop().await;
}

#[actix_rt::test]
async fn transfers_to_operators_and_groups_and_their_refusals() {
    let mut server = TestServer::start().await;
    let boss = admin(&server).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;
    let vip = server.add_operator("Vic Vip", Role::Agent, 5).await;
    let vip_group = group(&server, &boss, "VIP", "least_loaded", &[&vip]).await;
    let empty_group = group(&server, &boss, "Nobody", "least_loaded", &[]).await;
    let (_a, _) = server.operator_ws(&ann).await;
    let w = server.open_chat("Hello").await;
    server
        .wait_assignee(&w.conversation_id, Some(&ann.id))
        .await;
    let path = format!("/api/v1/conversations/{}/transfer", w.conversation_id);

    let (s, body) = server
        .post(&path, &ann.token, json!({"operator_id": bob.id}))
        .await;
    assert_eq!(
        (s, body["assignee"].as_str()),
        (200, Some(bob.id.as_str())),
        "{body}"
    );
    let kind = server
        .text(&format!("SELECT kind AS value FROM assignments WHERE conversation_id = '{}' ORDER BY id DESC LIMIT 1", w.conversation_id))
        .await;
    assert_eq!(kind, "transfer");
    let (s, _) = server
        .post(&path, &ann.token, json!({"operator_id": ann.id}))
        .await;
    assert_eq!(s, 403, "ann no longer has it");

    let (s, body) = server
        .post(&path, &bob.token, json!({"group_id": empty_group}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("group_empty"))
    );
    let (s, _) = server
        .delete(&format!("/api/v1/operators/{}", ann.id), &boss.token)
        .await;
    assert_eq!(s, 204);
    let (s, body) = server
        .post(&path, &bob.token, json!({"operator_id": ann.id}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("operator_deleted"))
    );
    let (s, body) = server.post(&path, &bob.token, json!({})).await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (422, Some("operator_id"))
    );
    assert_eq!(
        server.assignee(&w.conversation_id).await,
        Some(bob.id.clone()),
        "refusals changed nothing"
    );

    let (_v, _) = server.operator_ws(&vip).await;
    let (s, body) = server
        .post(&path, &bob.token, json!({"group_id": vip_group}))
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    server
        .wait_assignee(&w.conversation_id, Some(&vip.id))
        .await;
    assert_eq!(
        event_actions(&server, &w.conversation_id).await,
        "assigned,assigned,transferred,assigned"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn every_action_leaves_a_system_event_and_an_audit_entry() {
    let mut server = TestServer::start().await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let adm = admin(&server).await;
    let (s, tag) = server
        .post("/api/v1/tags", &adm.token, json!({"name": "VIP"}))
        .await;
    assert_eq!(s, 201, "{tag}");
    let w = server.open_widget(json!({"message": "help"})).await;
    let (mut visitor, _) = server.visitor(&w, None).await;
    let id = &w.conversation_id;
    let p = |what: &str| format!("/api/v1/conversations/{id}/{what}");

    let steps: Vec<(&str, &Operator, Value)> = vec![
        ("take", &ann, json!({})),
        ("assign", &boss, json!({"operator_id": boss.id})),
        ("transfer", &boss, json!({"operator_id": ann.id})),
        ("escalate", &ann, json!({})),
        ("priority", &ann, json!({"priority": "high"})),
        ("tags", &ann, json!({"name": "vip"})),
        ("resolve", &ann, json!({})),
        ("reopen", &ann, json!({})),
        ("close", &boss, json!({})),
    ];
    for (what, who, body) in &steps {
        let (s, out) = server.post(&p(what), &who.token, body.clone()).await;
        assert_eq!(s, 200, "{what}: {out}");
    }
    let (s, out) = server
        .delete(
            &format!(
                "/api/v1/conversations/{id}/tags/{}",
                tag["id"].as_str().unwrap()
            ),
            &ann.token,
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["tags"], json!([]));

    assert_eq!(
        event_actions(&server, id).await,
        "assigned,assigned,assigned,escalated,prioritised,priority,tagged,resolved,reopened,closed,untagged"
    );
    assert_eq!(
        audit_actions(&server, id).await,
        "conversation.take,conversation.assign,conversation.transfer,conversation.escalate,conversation.priority,\
         conversation.tag_add,conversation.resolve,conversation.reopen,conversation.close,conversation.tag_remove"
    );
    let kinds = server
        .text(&format!("SELECT string_agg(kind, ',' ORDER BY id) AS value FROM assignments WHERE conversation_id = '{id}'"))
        .await;
    assert_eq!(kinds, "take,manual,transfer,manual");
    let who = server
        .scalar(&format!("SELECT count(*) AS n FROM audit_log WHERE target_id = '{id}' AND operator_id IS NOT NULL"))
        .await;
    assert_eq!(who, 10, "every entry names who acted");

    // The customer saw the status changes but none of the internal ones.
    let seen: Vec<String> = visitor
        .drain_type("event", std::time::Duration::from_millis(500))
        .await
        .iter()
        .filter(|e| e["kind"] == "system")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        seen.iter()
            .all(|t| !t.contains("VIP") && !t.contains("Priority") && !t.contains("Escalated")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|t| t.contains("resolved")));

    // Nor does the history the widget reads over HTTP show them.
    let (s, history) = server
        .get(
            &format!("/api/v1/widget/conversations/{id}/events?after=0&limit=100"),
            &w.token,
        )
        .await;
    assert_eq!(s, 200);
    let texts = history.to_string();
    assert!(
        texts.contains("resolved") && !texts.contains("Tagged") && !texts.contains("Priority"),
        "{texts}"
    );

    // Invalid transitions are refused with 409 and change nothing.
    let (s, body) = server.post(&p("close"), &boss.token, json!({})).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("already_closed"))
    );
    let (s, body) = server.post(&p("escalate"), &boss.token, json!({})).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("conversation_closed"))
    );
    let (s, body) = server
        .post(&p("priority"), &boss.token, json!({"priority": "extreme"}))
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(audit_actions(&server, id).await.split(',').count(), 10);
    server.stop().await;
}

#[actix_rt::test]
async fn waiting_visitors_get_an_estimated_wait_once_the_queue_moves() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 2).await;
    let mut visitors = Vec::new();
    let mut widgets = Vec::new();
    for _ in 0..4 {
        let w = server.open_chat("Hello").await;
        visitors.push(server.visitor(&w, None).await.0);
        widgets.push(w);
    }
    let (_op, _) = server.operator_ws(&ann).await;
    server
        .eventually("two assigned", || async {
            server
                .scalar("SELECT count(*) AS n FROM conversations WHERE status = 'active'")
                .await
                == 2
        })
        .await;
    // Freeing a slot moves the queue and everyone left is told their place and wait.
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
    let q = loop {
        let q = visitors[3].recv_type("queue").await;
        if q["position"] == 1 {
            break q;
        }
    };
    assert!(q["estimated_wait_secs"].as_u64().is_some(), "{q}");
    server.stop().await;
}

#[actix_rt::test]
async fn operators_are_created_changed_deleted_restored_and_signed_out_by_admins() {
    let mut server = TestServer::start().await;
    let boss = admin(&server).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let new = json!({"email": "zed@example.test", "name": "Zed New", "password": "a long password", "role": "agent", "tier": 2});
    let (s, zed) = server
        .post("/api/v1/operators", &boss.token, new.clone())
        .await;
    assert_eq!(s, 201, "{zed}");
    assert_eq!(
        (zed["tier"].as_i64(), zed["status"].as_str()),
        (Some(2), Some("offline"))
    );
    assert_eq!(
        zed["groups"].as_array().unwrap().len(),
        1,
        "new operators join the default group"
    );
    assert!(zed.get("password_hash").is_none());
    let zed_id = zed["id"].as_str().unwrap().to_owned();
    let (s, body) = server.post("/api/v1/operators", &boss.token, new).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("email_taken"))
    );
    let (s, body) = server
        .patch(
            &format!("/api/v1/operators/{zed_id}"),
            &boss.token,
            json!({"email": ann.email}),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("email_taken"))
    );
    let (s, body) = server
        .patch(
            &format!("/api/v1/operators/{zed_id}"),
            &boss.token,
            json!({"tier": 7}),
        )
        .await;
    assert_eq!((s, body["error"]["field"].as_str()), (422, Some("tier")));
    let (s, body) = server
        .patch(
            &format!("/api/v1/operators/{zed_id}"),
            &boss.token,
            json!({"max_concurrent": 9, "role": "supervisor"}),
        )
        .await;
    assert_eq!(
        (s, body["max_concurrent"].as_i64(), body["role"].as_str()),
        (200, Some(9), Some("supervisor"))
    );

    // Passwords: one's own needs the current one; an admin's reset signs the operator out.
    let (s, body) = server
        .post(
            &format!("/api/v1/operators/{}/password", ann.id),
            &ann.token,
            json!({"current_password": "wrong", "new_password": "brand new secret"}),
        )
        .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (422, Some("current_password"))
    );
    let (s, _) = server
        .post(
            &format!("/api/v1/operators/{}/password", ann.id),
            &boss.token,
            json!({"new_password": "brand new secret"}),
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(server.get("/api/v1/auth/me", &ann.token).await.0, 401);
    let login = |password: &'static str| {
        let server = &server;
        let email = ann.email.clone();
        async move {
            server
                .http
                .post(server.url("/api/v1/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(login("correct horse battery").await.status(), 401);
    let fresh: Value = login("brand new secret").await.json().await.unwrap();
    let fresh_token = fresh["token"].as_str().unwrap().to_owned();
    let (s, body) = server
        .post(
            &format!("/api/v1/operators/{}/revoke-sessions", ann.id),
            &boss.token,
            json!({}),
        )
        .await;
    assert_eq!((s, body["revoked"].as_i64()), (200, Some(1)));
    assert_eq!(server.get("/api/v1/auth/me", &fresh_token).await.0, 401);

    // Soft delete and restore.
    let (s, body) = server
        .delete(&format!("/api/v1/operators/{}", boss.id), &boss.token)
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("cannot_delete_self"))
    );
    let (s, _) = server
        .delete(&format!("/api/v1/operators/{}", ann.id), &boss.token)
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        login("brand new secret").await.status(),
        401,
        "deleted operators cannot log in"
    );
    let (_, listed) = server.get("/api/v1/operators", &boss.token).await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["id"] != ann.id.as_str()));
    let (_, all) = server
        .get("/api/v1/operators?include_deleted=true", &boss.token)
        .await;
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["id"] == ann.id.as_str() && o["deleted"] == true));
    let (s, body) = server
        .post(
            &format!("/api/v1/operators/{}/restore", ann.id),
            &boss.token,
            json!({}),
        )
        .await;
    assert_eq!((s, body["deleted"].as_bool()), (200, Some(false)));
    assert_eq!(
        body["groups"].as_array().unwrap().len(),
        1,
        "restored with their groups"
    );
    assert_eq!(login("brand new secret").await.status(), 200);

    let actions = server
        .text("SELECT string_agg(action, ',' ORDER BY id) AS value FROM audit_log WHERE target_type = 'operator'")
        .await;
    assert_eq!(
        actions,
        "operator.create,operator.update,operator.password,operator.revoke_sessions,operator.delete,operator.restore"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn groups_are_renamed_made_default_and_deleted_only_when_safe() {
    let mut server = TestServer::start().await;
    let boss = admin(&server).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let sales = group(&server, &boss, "Sales", "least_loaded", &[&ann]).await;
    let spare = group(&server, &boss, "Spare", "least_loaded", &[]).await;
    let (s, body) = server
        .post("/api/v1/groups", &boss.token, json!({"name": "sales"}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("group_exists"))
    );
    let (s, body) = server
        .patch(
            &format!("/api/v1/groups/{sales}"),
            &boss.token,
            json!({"name": "Sales EU", "strategy": "round_robin"}),
        )
        .await;
    assert_eq!(
        (s, body["strategy"].as_str(), body["name"].as_str()),
        (200, Some("round_robin"), Some("Sales EU"))
    );

    let w = server.open_widget(json!({"group": "Sales EU"})).await;
    let (s, body) = server
        .delete(&format!("/api/v1/groups/{sales}"), &boss.token)
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("group_in_use"))
    );
    let (s, _) = server
        .post(
            &format!("/api/v1/conversations/{}/close", w.conversation_id),
            &boss.token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);

    // Making Sales the default takes the flag from General; the default cannot be deleted.
    let (s, body) = server
        .patch(
            &format!("/api/v1/groups/{sales}"),
            &boss.token,
            json!({"is_default": true}),
        )
        .await;
    assert_eq!((s, body["is_default"].as_bool()), (200, Some(true)));
    let (_, all) = server.get("/api/v1/groups", &boss.token).await;
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .filter(|g| g["is_default"] == true)
            .count(),
        1
    );
    let (s, body) = server
        .delete(&format!("/api/v1/groups/{sales}"), &boss.token)
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("default_group"))
    );
    let plain = server.open_widget(json!({})).await;
    let in_sales = server
        .scalar(&format!(
            "SELECT count(*) AS n FROM conversations WHERE id = '{}' AND group_id = '{sales}'",
            plain.conversation_id
        ))
        .await;
    assert_eq!(
        in_sales, 1,
        "conversations without a group go to the new default"
    );

    let (s, _) = server
        .delete(&format!("/api/v1/groups/{spare}"), &boss.token)
        .await;
    assert_eq!(s, 204);
    let res = server
        .http
        .post(server.url("/api/v1/widget/sessions"))
        .json(&json!({"group": "Spare"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        422,
        "a deleted group takes no new conversations"
    );
    server.stop().await;
}
