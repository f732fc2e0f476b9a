//! Issue 11's automation, with time driven through a manual clock and the scheduler fired by
//! hand: offline auto-replies by intent and language, escalation by rule (unanswered
//! messages, keywords, the first-response SLA) with its notifications, auto-close, the reopen
//! window, business hours, and deadlines that survive a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::{Duration, Timelike};
use common::{Client, Operator, TestDb, TestServer, Widget};
use serde_json::{json, Value};
use switchboard::clock::ManualClock;
use switchboard::config::Config;
use switchboard::domain::Role;

async fn start(clock: &Arc<ManualClock>) -> TestServer {
    TestServer::start_with_clock(
        |c| Config {
            automation: true,
            ..c
        },
        clock.clone(),
    )
    .await
}

/// Fires every deadline due by the manual clock now.
async fn fire(server: &TestServer) -> usize {
    let scheduler = server.running.as_ref().unwrap().scheduler.clone();
    scheduler.fire_due().await.unwrap()
}

/// A widget chat in `language` opened with its first message.
async fn chat(server: &TestServer, language: &str, text: &str) -> Widget {
    server
        .open_widget(json!({"message": text, "language": language}))
        .await
}

/// The conversation's system events with `action`, as (body, data).
async fn actions(server: &TestServer, conversation: &str, action: &str) -> Vec<(String, Value)> {
    let mut conn = server.db.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        body: String,
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        data: Value,
    }
    use diesel_async::RunQueryDsl;
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT body, data FROM events WHERE conversation_id = '{conversation}' \
         AND kind = 'system' AND data->>'action' = '{action}' ORDER BY seq"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| (r.body, r.data)).collect()
}

async fn wait_actions(server: &TestServer, conversation: &str, action: &str, n: usize) {
    server
        .eventually(&format!("{n} '{action}' events"), || async {
            actions(server, conversation, action).await.len() == n
        })
        .await;
}

async fn summary(server: &TestServer, op: &Operator, conversation: &str) -> Value {
    let (s, body) = server
        .get(&format!("/api/v1/conversations/{conversation}"), &op.token)
        .await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn say(visitor: &mut Client, client_id: &str, text: &str) {
    visitor
        .send(json!({"type": "message", "client_id": client_id, "text": text}))
        .await;
    let ack = visitor.recv_type("ack").await;
    assert_eq!(ack["client_id"], client_id, "{ack}");
}

/// The next visitor `event` frame that is a system event.
async fn system_frame(visitor: &mut Client) -> Value {
    loop {
        let frame = visitor.recv_type("event").await;
        if frame["kind"] == "system" {
            return frame;
        }
    }
}

#[actix_rt::test]
async fn an_offline_team_auto_replies_once_per_offline_period_in_the_customers_language() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;

    // Roman Urdu keyword, Urdu customer: the order template, in Urdu.
    let w = chat(&server, "ur", "mera order kahan hai?").await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    let (body, data) = actions(&server, &w.conversation_id, "auto_reply")
        .await
        .remove(0);
    assert!(body.contains("آرڈر"), "an Urdu reply: {body}");
    assert_eq!(data["category"], "order");
    let s = summary(&server, &boss, &w.conversation_id).await;
    assert_eq!(
        (s["priority"].as_str(), s["category"].as_str()),
        (Some("high"), Some("order"))
    );

    // The customer sees it, and writing again brings no second reply while nobody came online.
    let (mut visitor, _) = server.visitor(&w, Some(0)).await;
    let frame = system_frame(&mut visitor).await;
    assert_eq!(frame["text"].as_str(), Some(body.as_str()));
    say(&mut visitor, "c2", "I want a refund").await;
    say(&mut visitor, "c3", "hello?").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        actions(&server, &w.conversation_id, "auto_reply")
            .await
            .len(),
        1
    );

    // An operator of the group comes online and goes: the next message is answered again,
    // and the category the first reply found stays.
    let ann = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let automation = server.running.as_ref().unwrap().automation.clone();
    let group: switchboard::ids::GroupId = server
        .text("SELECT id::text AS value FROM groups WHERE is_default")
        .await
        .parse()
        .unwrap();
    let (ws, _) = server.operator_ws(&ann).await;
    server
        .eventually("the router counts ann at work", || async {
            automation.group_presence(group).online
        })
        .await;
    clock.advance(Duration::minutes(1));
    ws.close().await;
    // Once the router has seen the socket go, the next message is answered again.
    server
        .eventually("the router saw the team go offline", || async {
            !automation.group_presence(group).online
        })
        .await;
    say(&mut visitor, "c4", "payment problem").await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 2).await;
    let replies = actions(&server, &w.conversation_id, "auto_reply").await;
    assert_eq!(replies[1].1["category"], "payment", "{:?}", replies[1]);
    let s = summary(&server, &boss, &w.conversation_id).await;
    assert_eq!(s["category"], "order");
}

#[actix_rt::test]
async fn the_intent_is_found_by_keyword_in_each_language_and_operators_can_change_it() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let cases = [
        (
            "en",
            "I was CHARGED twice, I want a refund",
            "payment",
            "payment",
        ),
        ("ru", "Где мой заказ? Уже неделя", "order", "заказ"),
        ("ur", "میرا آرڈر كہاں ہے؟", "order", "آرڈر"),
        ("ru", "приложение не работает", "technical", "проблеме"),
        ("de", "Guten Tag", "general", "Thank you for your message"),
    ];
    for (language, text, category, reply) in cases {
        let w = chat(&server, language, text).await;
        wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
        let (body, data) = actions(&server, &w.conversation_id, "auto_reply")
            .await
            .remove(0);
        assert_eq!(data["category"], category, "{text}");
        assert!(body.contains(reply), "{language}: {body}");
        // Lists filter by category, and an operator may change it.
        let (s, list) = server
            .get(
                &format!("/api/v1/conversations?category={category}"),
                &admin.token,
            )
            .await;
        assert_eq!(s, 200, "{list}");
        assert!(list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == w.conversation_id.as_str()));
    }
    let w = chat(&server, "en", "my parcel is late").await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    let path = format!("/api/v1/conversations/{}/category", w.conversation_id);
    let (s, body) = server
        .post(&path, &admin.token, json!({"category": "delivery"}))
        .await;
    assert_eq!(
        (s, body["category"].as_str()),
        (200, Some("delivery")),
        "{body}"
    );
    let (s, body) = server
        .post(&path, &admin.token, json!({"category": "Bad Name"}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );
    assert_eq!(
        summary(&server, &admin, &w.conversation_id).await["category"],
        "delivery"
    );
}

#[actix_rt::test]
async fn unanswered_messages_escalate_once_per_level_and_the_customer_is_reassured_once() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let (mut sup, _) = server.operator_ws(&boss).await;
    let w = chat(&server, "en", "hello").await;
    let (mut visitor, _) = server.visitor(&w, None).await;
    say(&mut visitor, "m2", "anyone?").await;
    assert!(actions(&server, &w.conversation_id, "escalated")
        .await
        .is_empty());
    say(&mut visitor, "m3", "still waiting").await;

    // The third unanswered message: L2, urgent, supervisors told, the customer reassured.
    let note = sup.recv_type("escalation").await;
    assert_eq!(
        (
            note["conversation_id"].as_str(),
            note["level"].as_i64(),
            note["trigger"].as_str()
        ),
        (
            Some(w.conversation_id.as_str()),
            Some(1),
            Some("unanswered")
        ),
        "{note}"
    );
    assert_eq!(note["priority"], "urgent");
    assert!(note.get("ip").is_none() && note["alias"].as_str().unwrap().starts_with("User-"));
    let told = system_frame(&mut visitor).await;
    assert_eq!(
        told["text"],
        "Your case has been prioritised to senior support."
    );
    let s = summary(&server, &boss, &w.conversation_id).await;
    assert_eq!(
        (s["level"].as_i64(), s["priority"].as_str()),
        (Some(1), Some("urgent"))
    );

    // Counting starts again at L2: two more do nothing, the third escalates to L3.
    say(&mut visitor, "m4", "four").await;
    say(&mut visitor, "m5", "five").await;
    assert_eq!(
        actions(&server, &w.conversation_id, "escalated")
            .await
            .len(),
        1
    );
    say(&mut visitor, "m6", "six").await;
    let note = sup.recv_type("escalation").await;
    assert_eq!(note["level"].as_i64(), Some(2));
    // Never past L3, and the customer is told only once.
    for i in 7..12 {
        say(&mut visitor, &format!("m{i}"), "more").await;
    }
    assert_eq!(
        actions(&server, &w.conversation_id, "escalated")
            .await
            .len(),
        2
    );
    assert_eq!(
        actions(&server, &w.conversation_id, "prioritised")
            .await
            .len(),
        1
    );
    assert_eq!(
        summary(&server, &boss, &w.conversation_id).await["level"],
        2
    );
}

#[actix_rt::test]
async fn trigger_keywords_escalate_and_admins_edit_them() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let agent = server.add_operator("Ann Agent", Role::Agent, 0).await;

    // The defaults: a Russian complaint escalates at once.
    let w = chat(&server, "ru", "У меня ЖАЛОБА на курьера").await;
    wait_actions(&server, &w.conversation_id, "escalated", 1).await;
    let (text, data) = actions(&server, &w.conversation_id, "escalated")
        .await
        .remove(0);
    assert_eq!(data["trigger"], "keyword", "{text}");
    let (told, _) = actions(&server, &w.conversation_id, "prioritised")
        .await
        .remove(0);
    assert!(told.contains("старшим"), "told in Russian: {told}");

    // Admins change the rules; agents may not; bad rules change nothing.
    let (s, _) = server
        .get("/api/v1/settings/escalation", &agent.token)
        .await;
    assert_eq!(s, 403);
    let rules = json!({"unanswered_messages": 0, "keywords": ["manager please"],
                       "first_response_minutes_urgent": 5, "first_response_minutes": 15});
    let (s, body) = server
        .put("/api/v1/settings/escalation", &agent.token, rules.clone())
        .await;
    assert_eq!(s, 403, "{body}");
    let mut bad = rules.clone();
    bad["keywords"] = json!(["   "]);
    let (s, body) = server
        .put("/api/v1/settings/escalation", &admin.token, bad)
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );
    let (s, body) = server
        .put(
            "/api/v1/settings/escalation",
            &admin.token,
            json!({"keywords": []}),
        )
        .await;
    assert!(s == 400 || s == 422, "{s} {body}");
    let (_, unchanged) = server
        .get("/api/v1/settings/escalation", &admin.token)
        .await;
    assert_eq!(
        unchanged["unanswered_messages"], 3,
        "refused rules change nothing"
    );
    let (s, body) = server
        .put("/api/v1/settings/escalation", &admin.token, rules.clone())
        .await;
    assert_eq!((s, &body), (200, &rules));

    // The old keywords are gone, and a phrase matches only as a whole.
    let w = chat(&server, "en", "a complaint: the manager will please you").await;
    let v = chat(&server, "en", "Manager please!").await;
    wait_actions(&server, &v.conversation_id, "escalated", 1).await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    assert!(actions(&server, &w.conversation_id, "escalated")
        .await
        .is_empty());
    let (s, got) = server
        .get("/api/v1/settings/escalation", &admin.token)
        .await;
    assert_eq!((s, got), (200, rules));
}

#[actix_rt::test]
async fn a_missed_first_response_sla_escalates_and_an_answer_stops_it() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let late = chat(&server, "en", "hello").await;
    let answered = chat(&server, "en", "hello too").await;
    wait_actions(&server, &answered.conversation_id, "auto_reply", 1).await;
    // An operator answers one of them in time.
    let path = format!("/api/v1/conversations/{}/take", answered.conversation_id);
    assert_eq!(server.post(&path, &boss.token, json!({})).await.0, 200);
    let path = format!(
        "/api/v1/conversations/{}/messages",
        answered.conversation_id
    );
    let (s, _) = server
        .post(
            &path,
            &boss.token,
            json!({"client_id": "r1", "text": "Hi!"}),
        )
        .await;
    assert_eq!(s, 201);

    clock.advance(Duration::minutes(14));
    fire(&server).await;
    assert!(actions(&server, &late.conversation_id, "escalated")
        .await
        .is_empty());
    let (mut sup, _) = server.operator_ws(&boss).await;
    clock.advance(Duration::minutes(2));
    fire(&server).await;
    let (text, data) = actions(&server, &late.conversation_id, "escalated")
        .await
        .remove(0);
    assert_eq!(data["trigger"], "first_response", "{text}");
    let note = sup.recv_type("escalation").await;
    assert_eq!(note["trigger"], "first_response");
    assert!(actions(&server, &answered.conversation_id, "escalated")
        .await
        .is_empty());

    // Urgent now: five more minutes without a reply is the next level.
    clock.advance(Duration::minutes(5) + Duration::seconds(1));
    fire(&server).await;
    assert_eq!(
        actions(&server, &late.conversation_id, "escalated")
            .await
            .len(),
        2
    );
    clock.advance(Duration::hours(1));
    fire(&server).await;
    assert_eq!(
        actions(&server, &late.conversation_id, "escalated")
            .await
            .len(),
        2
    );
}

#[actix_rt::test]
async fn outside_business_hours_the_reply_says_when_the_team_is_back_and_the_sla_waits() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let (_, groups) = server.get("/api/v1/groups", &admin.token).await;
    let group = groups[0]["id"].as_str().unwrap().to_owned();
    // Open from the hour of `back` (20 hours from now) to midnight, that weekday only: closed
    // now, and open before the conversation would close for idleness (24 h).
    let back = clock_now(&server, &clock) + Duration::hours(20);
    let day = back.format("%a").to_string().to_lowercase();
    let hours =
        json!({"time_zone": "UTC", "days": {day: [[back.format("%H:00").to_string(), "24:00"]]}});
    let path = format!("/api/v1/groups/{group}/business-hours");
    let (s, body) = server
        .put(
            &path,
            &admin.token,
            json!({"time_zone": "Mars/Base", "days": {}}),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );
    let (s, body) = server.put(&path, &admin.token, hours).await;
    assert_eq!(
        (s, body["open_now"].as_bool()),
        (200, Some(false)),
        "{body}"
    );

    let w = chat(&server, "en", "where is my order").await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    let (body, _) = actions(&server, &w.conversation_id, "auto_reply")
        .await
        .remove(0);
    let date = back.format("%Y-%m-%d").to_string();
    assert!(
        body.contains(&format!(
            "We are back on {date} at {}",
            back.format("%H:00")
        )),
        "{body}"
    );
    // The first-response clock (15 minutes, the conversation being high now) runs only from
    // the opening.
    let opens = back
        .with_minute(0)
        .unwrap()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    let now = clock_now(&server, &clock);
    clock.advance(opens - now + Duration::minutes(14));
    fire(&server).await;
    assert!(actions(&server, &w.conversation_id, "escalated")
        .await
        .is_empty());
    clock.advance(Duration::minutes(2));
    fire(&server).await;
    let (_, data) = actions(&server, &w.conversation_id, "escalated")
        .await
        .remove(0);
    assert_eq!(data["trigger"], "first_response");
}

fn clock_now(_server: &TestServer, clock: &Arc<ManualClock>) -> chrono::DateTime<chrono::Utc> {
    use switchboard::clock::Clock;
    clock.now()
}

#[actix_rt::test]
async fn idle_conversations_close_and_resolved_ones_close_after_the_reopen_window() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let idle = chat(&server, "ru", "привет").await;
    let resolved = chat(&server, "en", "hello").await;
    let (mut visitor, _) = server.visitor(&idle, None).await;
    let path = format!("/api/v1/conversations/{}/resolve", resolved.conversation_id);
    assert_eq!(server.post(&path, &boss.token, json!({})).await.0, 200);

    clock.advance(Duration::hours(23));
    fire(&server).await;
    assert_eq!(
        summary(&server, &boss, &idle.conversation_id).await["status"],
        "pending"
    );
    clock.advance(Duration::hours(1) + Duration::seconds(1));
    fire(&server).await;
    // Closed, and the customer told in Russian.
    let status = visitor.recv_type("status").await;
    assert_eq!(status["status"], "closed");
    let told = system_frame(&mut visitor).await;
    assert!(told["text"].as_str().unwrap().contains("закрыто"), "{told}");
    assert!(
        told.get("action").is_none() || told["action"].is_null(),
        "{told}"
    );
    // Resolved 24 h ago: still in its 72 h window.
    assert_eq!(
        summary(&server, &boss, &resolved.conversation_id).await["status"],
        "resolved"
    );
    clock.advance(Duration::hours(48));
    fire(&server).await;
    assert_eq!(
        summary(&server, &boss, &resolved.conversation_id).await["status"],
        "closed"
    );
    let (_, data) = actions(&server, &resolved.conversation_id, "closed")
        .await
        .remove(0);
    assert_eq!(
        (data["reason"].as_str(), data["internal"].as_bool()),
        (Some("reopen_window"), Some(true))
    );
    // Nothing is left to fire.
    assert_eq!(
        server.scalar("SELECT count(*) AS n FROM deadlines").await,
        0,
        "closed conversations keep no deadlines"
    );
}

#[actix_rt::test]
async fn a_deadline_that_passed_while_the_server_was_down_fires_exactly_once() {
    let clock = ManualClock::new();
    let mut server = start(&clock).await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = chat(&server, "en", "hello").await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    server
        .eventually("the idle deadline is stored", || async {
            server
                .scalar(&format!(
                    "SELECT count(*) AS n FROM deadlines WHERE conversation_id = '{}' AND kind = 'idle'",
                    w.conversation_id
                ))
                .await
                == 1
        })
        .await;
    server.stop().await;
    clock.advance(Duration::hours(25));
    let db = TestDb {
        name: server.db.name.clone(),
        url: server.db.url.clone(),
    };
    let config = Config {
        automation: true,
        ..common::test_config(&db.url)
    };
    let server = TestServer::start_on_with_clock(db, config, clock.clone()).await;
    // Re-armed at start: the scheduler fires it without being asked. Its first-response
    // deadline had passed too: one escalation, then the closing.
    wait_actions(&server, &w.conversation_id, "closed", 1).await;
    let left = format!(
        "SELECT count(*) AS n FROM deadlines WHERE conversation_id = '{}'",
        w.conversation_id
    );
    assert_eq!(server.scalar(&left).await, 0, "fired deadlines are gone");
    fire(&server).await;
    clock.advance(Duration::hours(25));
    fire(&server).await;
    assert_eq!(
        actions(&server, &w.conversation_id, "closed").await.len(),
        1
    );
    assert_eq!(
        actions(&server, &w.conversation_id, "escalated")
            .await
            .len(),
        1
    );
    // Sign-ins survive the restart too.
    assert_eq!(
        summary(&server, &boss, &w.conversation_id).await["status"],
        "closed"
    );
}

#[actix_rt::test]
async fn auto_reply_templates_are_edited_by_admins_only_and_take_effect() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let agent = server.add_operator("Ann Agent", Role::Agent, 0).await;
    let (s, list) = server.get("/api/v1/auto-replies", &admin.token).await;
    assert_eq!(s, 200);
    let categories: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["category"].as_str().unwrap())
        .collect();
    for c in ["order", "payment", "delivery", "technical", "general"] {
        assert!(categories.contains(&c), "{categories:?}");
    }
    let body = json!({"category": "warranty", "keywords": {"en": ["warranty"], "ur": ["ضمانت"]},
                      "replies": {"en": "Warranty questions are answered within a day."}});
    let (s, _) = server
        .post("/api/v1/auto-replies", &agent.token, body.clone())
        .await;
    assert_eq!(s, 403);
    let (s, bad) = server
        .post(
            "/api/v1/auto-replies",
            &admin.token,
            json!({"category": "x", "replies": {}}),
        )
        .await;
    assert_eq!(
        (s, bad["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{bad}"
    );
    let (s, created) = server
        .post("/api/v1/auto-replies", &admin.token, body.clone())
        .await;
    assert_eq!(s, 201, "{created}");
    let (s, clash) = server
        .post("/api/v1/auto-replies", &admin.token, body)
        .await;
    assert_eq!(
        (s, clash["error"]["code"].as_str()),
        (409, Some("category_exists"))
    );

    let w = chat(&server, "en", "is this under WARRANTY?").await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    let (reply, data) = actions(&server, &w.conversation_id, "auto_reply")
        .await
        .remove(0);
    assert_eq!(
        (reply.as_str(), data["category"].as_str()),
        (
            "Warranty questions are answered within a day.",
            Some("warranty")
        )
    );

    // Deactivated: the fallback answers instead.
    let id = created["id"].as_str().unwrap();
    let mut off = created.clone();
    for k in ["id", "created_at", "updated_at"] {
        off.as_object_mut().unwrap().remove(k);
    }
    off["active"] = json!(false);
    let (s, body) = server
        .put(&format!("/api/v1/auto-replies/{id}"), &admin.token, off)
        .await;
    assert_eq!(s, 200, "{body}");
    let w = chat(&server, "en", "warranty?").await;
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    assert_eq!(
        actions(&server, &w.conversation_id, "auto_reply").await[0].1["category"],
        "general"
    );
    let (s, _) = server
        .delete(&format!("/api/v1/auto-replies/{id}"), &admin.token)
        .await;
    assert_eq!(s, 204);
    let (s, _) = server
        .delete(&format!("/api/v1/auto-replies/{id}"), &admin.token)
        .await;
    assert_eq!(s, 404);
}

#[actix_rt::test]
async fn an_operator_reply_starts_the_unanswered_count_again() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let boss = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let w = chat(&server, "en", "one").await;
    let (mut visitor, _) = server.visitor(&w, None).await;
    say(&mut visitor, "m2", "two").await;
    say(&mut visitor, "m3", "three").await;
    wait_actions(&server, &w.conversation_id, "escalated", 1).await;
    let take = format!("/api/v1/conversations/{}/take", w.conversation_id);
    assert_eq!(server.post(&take, &boss.token, json!({})).await.0, 200);
    let reply = format!("/api/v1/conversations/{}/messages", w.conversation_id);
    let body = json!({"client_id": "r1", "text": "Looking into it"});
    assert_eq!(server.post(&reply, &boss.token, body).await.0, 201);
    // Two after the reply: not yet; the third: L3.
    say(&mut visitor, "m4", "four").await;
    say(&mut visitor, "m5", "five").await;
    assert_eq!(
        actions(&server, &w.conversation_id, "escalated")
            .await
            .len(),
        1
    );
    say(&mut visitor, "m6", "six").await;
    wait_actions(&server, &w.conversation_id, "escalated", 2).await;
}

#[actix_rt::test]
async fn a_first_message_gets_its_automation_even_when_an_operator_takes_it_at_once() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let (_ws, _) = server.operator_ws(&ann).await;
    let w = chat(&server, "en", "I have a complaint about my order").await;
    server
        .wait_assignee(&w.conversation_id, Some(&ann.id))
        .await;
    // Ann is at work: no auto-reply, but the keyword escalates.
    wait_actions(&server, &w.conversation_id, "escalated", 1).await;
    assert!(actions(&server, &w.conversation_id, "auto_reply")
        .await
        .is_empty());
    // And its first-response deadline is set.
    server
        .eventually("the first-response deadline is stored", || async {
            server
                .scalar(&format!(
                    "SELECT count(*) AS n FROM deadlines WHERE conversation_id = '{}' \
                     AND kind = 'first_response'",
                    w.conversation_id
                ))
                .await
                == 1
        })
        .await;
}

#[actix_rt::test]
async fn a_retried_message_is_acked_with_its_own_seq_not_the_auto_replys() {
    let clock = ManualClock::new();
    let server = start(&clock).await;
    let w = server.open_widget(json!({"language": "en"})).await;
    let (mut visitor, _) = server.visitor(&w, None).await;
    let send = json!({"type": "message", "client_id": "c1", "text": "where is my order"});
    visitor.send(send.clone()).await;
    let ack = visitor.recv_type("ack").await;
    assert_eq!(ack["seq"], 1, "{ack}");
    wait_actions(&server, &w.conversation_id, "auto_reply", 1).await;
    visitor.send(send).await;
    let again = visitor.recv_type("ack").await;
    assert_eq!(
        (again["seq"].as_i64(), again["client_id"].as_str()),
        (Some(1), Some("c1"))
    );
    assert_eq!(
        server.event_count(&w.conversation_id).await,
        2,
        "stored once, one auto-reply"
    );
}
