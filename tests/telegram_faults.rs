//! The Telegram channel when things go wrong: flood control, restarts with undelivered calls,
//! a migrated support group, customers who blocked the bot, the per-customer limits, long
//! polling, start-up refusals, the bot token staying secret, and who may act from the group.

mod common;

use std::time::Duration;

use common::fake_bot::{BotCall, Failure};
use common::telegram::{
    group_chat, next_message_id, next_update_id, telegram_config, Tg, TgUser, GROUP, SECRET, TOKEN,
};
use common::{test_config, TestDb, TestServer};
use secrecy::SecretString;
use serde_json::json;
use switchboard::config::Config;
use switchboard::domain::Role;

/// A short pause to prove that something does NOT happen.
const QUIET: Duration = Duration::from_millis(400);

/// `sendMessage` calls to `chat` whose text contains `needle` (failed ones included: the fake
/// records every call it answers).
fn sends_to(calls: &[BotCall], chat: i64, needle: &str) -> Vec<BotCall> {
    calls
        .iter()
        .filter(|c| {
            c.method == "sendmessage" && c.chat() == Some(chat) && c.text().contains(needle)
        })
        .cloned()
        .collect()
}

/// The outbox rows whose text contains `needle`, as SQL.
fn outbox_rows(needle: &str, condition: &str) -> String {
    format!(
        "SELECT count(*) AS n FROM telegram_outbox WHERE lane LIKE 'contact:%' \
         AND payload->>'text' LIKE '%{needle}%' AND {condition}"
    )
}

/// Stops the server and starts a new one on the same database, key, fake and config.
async fn restart(tg: &mut Tg) {
    tg.server.stop().await;
    let db = TestDb {
        name: tg.server.db.name.clone(),
        url: tg.server.db.url.clone(),
    };
    let config = telegram_config(test_config(&db.url), &tg.bot, &tg.key);
    tg.server = TestServer::start_on(db, config).await;
}

async fn fact(tg: &Tg, key: &str) -> Option<String> {
    let n = tg
        .server
        .scalar(&format!(
            "SELECT count(*) AS n FROM telegram_state WHERE key = '{key}'"
        ))
        .await;
    if n == 0 {
        return None;
    }
    Some(
        tg.server
            .text(&format!(
                "SELECT value FROM telegram_state WHERE key = '{key}'"
            ))
            .await,
    )
}

// 1. Flood control.

#[actix_rt::test]
async fn a_429_is_waited_out_and_the_reply_is_delivered_exactly_once() {
    let tg = Tg::start().await;
    let sup = tg
        .server
        .add_operator("Sam Super", Role::Supervisor, 5)
        .await;
    let user = TgUser::new(7101, "en");
    let conversation = tg.customer_writes(&user, "Card declined twice").await;
    tg.settled().await;
    tg.outbox_quiet().await;

    tg.bot
        .fail_next("sendMessage", Some(user.id), Failure::RetryAfter(2));
    tg.operator_says(&sup, &conversation, "r1", "Please try again now")
        .await;

    let calls = tg
        .bot
        .wait_for("the reply sent again after the 429", |calls| {
            sends_to(calls, user.id, "Please try again now").len() >= 2
        })
        .await;
    let tries = sends_to(&calls, user.id, "Please try again now");
    let (refused, delivered) = (&tries[0], &tries[1]);
    let waited = delivered.at.duration_since(refused.at);
    assert!(
        waited >= Duration::from_millis(1900),
        "the retry came {waited:?} after the 429 asking for 2 s"
    );
    assert_eq!(delivered.text(), "Live Support: Please try again now");

    tg.server
        .eventually("the reply is marked delivered", || async {
            tg.server
                .scalar(&outbox_rows(
                    "Please try again now",
                    "delivered_at IS NOT NULL",
                ))
                .await
                == 1
        })
        .await;
    tokio::time::sleep(QUIET).await;
    let tries = sends_to(&tg.bot.calls(), user.id, "Please try again now");
    assert_eq!(
        tries.len(),
        2,
        "one refused call and one delivery: {tries:#?}"
    );
    tg.stop().await;
}

// 2. Restart with undelivered rows.

#[actix_rt::test]
async fn an_undelivered_reply_survives_a_restart_and_arrives_once() {
    let mut tg = Tg::start().await;
    let sup = tg
        .server
        .add_operator("Sam Super", Role::Supervisor, 5)
        .await;
    let user = TgUser::new(7102, "en");
    let conversation = tg.customer_writes(&user, "Where is my refund").await;
    tg.settled().await;
    tg.outbox_quiet().await;

    tg.bot.set_down(true);
    tg.operator_says(&sup, &conversation, "r1", "Refund is on its way")
        .await;
    // Telegram answered 500 (teloxide then holds the call for 10 s before it returns): the
    // server goes down meanwhile, with the reply still undelivered.
    tg.bot
        .wait_for("the reply tried while Telegram is down", |calls| {
            !sends_to(calls, user.id, "Refund is on its way").is_empty()
        })
        .await;
    assert_eq!(
        tg.server
            .scalar(&outbox_rows(
                "Refund is on its way",
                "delivered_at IS NULL AND failed_at IS NULL"
            ))
            .await,
        1
    );
    assert!(
        tg.server
            .scalar("SELECT count(*) AS n FROM telegram_outbox WHERE delivered_at IS NULL")
            .await
            > 0
    );

    tg.server.stop().await;
    tg.bot.set_down(false);
    let up_from = tg.bot.calls().len();
    restart(&mut tg).await;

    tg.bot
        .wait_for("the reply delivered after the restart", |calls| {
            !sends_to(&calls[up_from..], user.id, "Refund is on its way").is_empty()
        })
        .await;
    tg.server
        .eventually("the reply is marked delivered", || async {
            tg.server
                .scalar(&outbox_rows(
                    "Refund is on its way",
                    "delivered_at IS NOT NULL",
                ))
                .await
                == 1
        })
        .await;
    tokio::time::sleep(QUIET).await;
    let calls = tg.bot.calls();
    let delivered = sends_to(&calls[up_from..], user.id, "Refund is on its way");
    assert_eq!(delivered.len(), 1, "delivered exactly once: {delivered:#?}");
    assert_eq!(delivered[0].text(), "Live Support: Refund is on its way");

    // The same key after the restart: the customer is recognised and stays in their ticket.
    assert_eq!(tg.send(&user.text("Thanks, got it")).await, 200);
    tg.bot.wait_sent(GROUP, "Thanks, got it").await;
    assert_eq!(tg.conversation_of_latest().await, conversation);
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM conversations")
            .await,
        1
    );
    tg.stop().await;
}

// 3. The support group migrated.

#[actix_rt::test]
async fn a_migrated_group_is_followed_on_send_and_after_a_restart() {
    const NEW: i64 = -1009876543210;
    let mut tg = Tg::start().await;
    let user = TgUser::new(7103, "en");
    tg.bot
        .fail_next("sendMessage", Some(GROUP), Failure::Migrate(NEW));
    assert_eq!(tg.send(&user.text("First words")).await, 200);
    tg.bot.wait_sent(NEW, "First words").await;
    let conversation = tg.conversation_of_latest().await;
    let to_old: Vec<_> = tg
        .bot
        .calls()
        .into_iter()
        .filter(|c| c.method == "sendmessage" && c.chat() == Some(GROUP))
        .collect();
    assert_eq!(
        to_old.len(),
        1,
        "only the refused call went to the old id: {to_old:?}"
    );
    assert_eq!(fact(&tg, "support_chat_id").await, Some(NEW.to_string()));

    assert_eq!(tg.send(&user.text("Second words")).await, 200);
    tg.bot.wait_sent(NEW, "Second words").await;
    tg.post_of(&conversation).await;
    assert_eq!(
        tg.server
            .scalar(&format!(
                "SELECT count(*) AS n FROM telegram_posts WHERE chat_id = {GROUP}"
            ))
            .await,
        0,
        "posts are recorded under the new id"
    );

    // The configuration still names the old group: the stored id wins after a restart.
    restart(&mut tg).await;
    assert_eq!(tg.send(&user.text("Third words")).await, 200);
    tg.bot.wait_sent(NEW, "Third words").await;
    tokio::time::sleep(QUIET).await;
    for text in ["Second words", "Third words"] {
        assert!(
            sends_to(&tg.bot.calls(), GROUP, text).is_empty(),
            "{text:?} went to the old group id"
        );
    }
    // The card once, and each message once.
    assert_eq!(
        tg.bot.sent_to(NEW).len(),
        4,
        "each message posted once: {:#?}",
        tg.bot.sent_to(NEW)
    );
    assert!(tg.bot.sent_to(NEW)[0].text().starts_with("🎫"));
    tg.stop().await;
}

#[actix_rt::test]
async fn a_migration_notice_in_the_group_is_followed() {
    const NEW: i64 = -1005550001111;
    let tg = Tg::start().await;
    let admin = TgUser::new(9101, "en");
    let notice = json!({
        "update_id": next_update_id(),
        "message": {
            "message_id": next_message_id(),
            "from": admin.user_json(),
            "chat": {"id": GROUP, "title": "Support team", "type": "group"},
            "date": 1764590400,
            "migrate_to_chat_id": NEW
        }
    });
    assert_eq!(tg.send(&notice).await, 200);
    tg.settled().await;
    assert_eq!(fact(&tg, "support_chat_id").await, Some(NEW.to_string()));

    let user = TgUser::new(7104, "en");
    assert_eq!(tg.send(&user.text("Hello after the move")).await, 200);
    tg.bot.wait_sent(NEW, "Hello after the move").await;
    tokio::time::sleep(QUIET).await;
    assert!(
        tg.bot.sent_to(GROUP).is_empty(),
        "nothing goes to the old group: {:#?}",
        tg.bot.sent_to(GROUP)
    );
    tg.stop().await;
}

// 4. A customer who blocked the bot.

#[actix_rt::test]
async fn a_customer_who_blocked_the_bot_is_not_written_to_and_operators_are_told() {
    let tg = Tg::start().await;
    let sup = tg
        .server
        .add_operator("Sam Super", Role::Supervisor, 5)
        .await;
    let user = TgUser::new(7105, "en");
    let conversation = tg.customer_writes(&user, "Help with my order").await;
    tg.settled().await;
    tg.outbox_quiet().await;

    assert_eq!(tg.send(&user.kicked()).await, 200);
    tg.settled().await;
    let sql = format!(
        "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' \
         AND kind = 'system' AND data->>'action' = 'unreachable'"
    );
    tg.server
        .eventually(
            "the conversation notes the customer is unreachable",
            || async { tg.server.scalar(&sql).await == 1 },
        )
        .await;
    let before = tg.bot.sent_to(user.id).len();

    tg.operator_says(&sup, &conversation, "r1", "Are you still there")
        .await;
    tg.server
        .eventually("the reply is given up", || async {
            tg.server
                .scalar(&outbox_rows("Are you still there", "failed_at IS NOT NULL"))
                .await
                == 1
        })
        .await;
    tokio::time::sleep(QUIET).await;
    let after = tg.bot.sent_to(user.id);
    assert_eq!(
        after.len(),
        before,
        "nothing sent to a customer who blocked the bot: {:#?}",
        &after[before..]
    );
    assert_eq!(tg.server.scalar(&sql).await, 1, "told once");
    tg.stop().await;
}

#[actix_rt::test]
async fn a_403_marks_the_customer_unreachable_and_stops_further_attempts() {
    let tg = Tg::start().await;
    let sup = tg
        .server
        .add_operator("Sam Super", Role::Supervisor, 5)
        .await;
    let user = TgUser::new(7106, "en");
    let conversation = tg.customer_writes(&user, "Package is damaged").await;
    tg.settled().await;
    tg.outbox_quiet().await;

    tg.bot.block(user.id);
    tg.operator_says(&sup, &conversation, "r1", "Send a photo please")
        .await;
    tg.server
        .eventually("the refused reply is given up", || async {
            tg.server
                .scalar(&outbox_rows("Send a photo please", "failed_at IS NOT NULL"))
                .await
                == 1
        })
        .await;
    assert_eq!(
        sends_to(&tg.bot.calls(), user.id, "Send a photo please").len(),
        1,
        "a 403 is not retried"
    );

    // Operators see why in the conversation's history.
    let path = format!("/api/v1/conversations/{conversation}/events?limit=100");
    let mut seen = false;
    for _ in 0..250 {
        let (code, page) = tg.server.get(&path, &sup.token).await;
        assert_eq!(code, 200, "{page}");
        seen = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "system" && e["data"]["action"] == "unreachable");
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(seen, "operators are told the customer is unreachable");

    let before = tg.bot.sent_to(user.id).len();
    tg.operator_says(&sup, &conversation, "r2", "Hello again")
        .await;
    tg.server
        .eventually("the next reply is given up", || async {
            tg.server
                .scalar(&outbox_rows("Hello again", "failed_at IS NOT NULL"))
                .await
                == 1
        })
        .await;
    tokio::time::sleep(QUIET).await;
    let after = tg.bot.sent_to(user.id);
    assert_eq!(
        after.len(),
        before,
        "the next reply is not even attempted: {:#?}",
        &after[before..]
    );
    tg.stop().await;
}

// 5. Limits.

#[actix_rt::test]
async fn over_the_daily_ticket_limit_a_customer_is_refused_politely_once() {
    let tg = Tg::start_with(|c| Config {
        telegram_tickets_per_day: 1,
        ..c
    })
    .await;
    let sup = tg
        .server
        .add_operator("Sam Super", Role::Supervisor, 5)
        .await;
    let user = TgUser::new(7107, "en");
    let conversation = tg.customer_writes(&user, "First problem").await;
    let (code, body) = tg
        .server
        .post(
            &format!("/api/v1/conversations/{conversation}/close"),
            &sup.token,
            json!({}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    tg.bot.wait_sent(user.id, "is closed").await;
    tg.settled().await;
    let events = tg.server.event_count(&conversation).await;

    assert_eq!(tg.send(&user.text("Second problem")).await, 200);
    tg.bot.wait_sent(user.id, "many tickets today").await;
    assert_eq!(tg.send(&user.text("Third problem")).await, 200);
    tg.settled().await;
    tokio::time::sleep(QUIET).await;

    let refusals = tg
        .bot
        .sent_to(user.id)
        .into_iter()
        .filter(|c| c.text().contains("many tickets today"))
        .count();
    assert_eq!(refusals, 1, "told once, not on every message");
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM conversations")
            .await,
        1,
        "no new ticket"
    );
    assert_eq!(tg.server.event_count(&conversation).await, events);
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM events WHERE body LIKE '%problem' AND body <> 'First problem'")
            .await,
        0,
        "nothing the refused customer wrote is stored"
    );
    for text in ["Second problem", "Third problem"] {
        assert!(sends_to(&tg.bot.calls(), GROUP, text).is_empty());
    }
    tg.stop().await;
}

#[actix_rt::test]
async fn over_the_hourly_message_limit_messages_are_refused_politely_once() {
    let tg = Tg::start_with(|c| Config {
        telegram_messages_per_hour: 3,
        ..c
    })
    .await;
    let user = TgUser::new(7108, "en");
    let conversation = tg.customer_writes(&user, "Message one").await;
    for text in ["Message two", "Message three"] {
        assert_eq!(tg.send(&user.text(text)).await, 200);
    }
    tg.bot.wait_sent(GROUP, "Message three").await;
    for text in ["Message four", "Message five"] {
        assert_eq!(tg.send(&user.text(text)).await, 200);
    }
    tg.bot.wait_sent(user.id, "too fast").await;
    tg.settled().await;
    tokio::time::sleep(QUIET).await;

    let refusals = tg
        .bot
        .sent_to(user.id)
        .into_iter()
        .filter(|c| c.text().contains("too fast"))
        .count();
    assert_eq!(refusals, 1, "told once");
    assert_eq!(
        tg.server
            .scalar(&format!(
                "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' AND author = 'visitor'"
            ))
            .await,
        3
    );
    for text in ["Message four", "Message five"] {
        assert!(
            sends_to(&tg.bot.calls(), GROUP, text).is_empty(),
            "{text:?} reached the group"
        );
    }
    tg.stop().await;
}

// 6. Long polling.

#[actix_rt::test]
async fn long_polling_takes_updates_and_keeps_the_offset() {
    let tg = Tg::start_with(|c| Config {
        telegram_polling: true,
        telegram_webhook_secret: None,
        ..c
    })
    .await;
    let user = TgUser::new(7109, "en");
    let update = user.text("via polling");
    let update_id = update["update_id"].as_i64().unwrap();
    tg.bot.queue_update(update);
    tg.bot.wait_sent(GROUP, "via polling").await;
    let want = (update_id + 1).to_string();
    tg.server
        .eventually("the offset is stored", || async {
            fact(&tg, "polling_offset").await.as_deref() == Some(want.as_str())
        })
        .await;

    let calls = tg.bot.calls();
    let delete = calls.iter().position(|c| c.method == "deletewebhook");
    let poll = calls.iter().position(|c| c.method == "getupdates");
    assert!(
        matches!((delete, poll), (Some(d), Some(p)) if d < p),
        "deleteWebhook comes before getUpdates: {delete:?} {poll:?}"
    );
    // The offset goes with later polls, and nothing is taken twice.
    tg.bot
        .wait_for("a poll with the new offset", |calls| {
            calls
                .iter()
                .any(|c| c.method == "getupdates" && c.body["offset"] == json!(update_id + 1))
        })
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM events WHERE body = 'via polling'")
            .await,
        1
    );
    assert_eq!(sends_to(&tg.bot.calls(), GROUP, "via polling").len(), 1);
    // Without a secret the webhook lets nobody in.
    assert_eq!(tg.send(&user.text("via webhook")).await, 401);
    tg.stop().await;
}

// 7. Start-up refusal.

#[actix_rt::test]
async fn a_token_without_a_usable_identity_key_is_refused_at_start() {
    let bot = common::fake_bot::FakeBot::start(TOKEN).await;
    let db = TestDb::create().await;
    let base = telegram_config(test_config(&db.url), &bot, "unused");
    let missing = Config {
        identity_key: None,
        ..base.clone()
    };
    match switchboard::server::start(missing).await {
        Ok(running) => {
            running.stop().await;
            panic!("started with a token and no identity key");
        }
        Err(e) => assert!(
            e.to_string().contains("SWITCHBOARD_IDENTITY_KEY"),
            "the error names the setting: {e}"
        ),
    }
    for bad in ["c2hvcnQ=", "not base64 at all!", "   "] {
        let config = Config {
            identity_key: Some(SecretString::from(bad.to_owned())),
            ..base.clone()
        };
        match switchboard::server::start(config).await {
            Ok(running) => {
                running.stop().await;
                panic!("started with the identity key {bad:?}");
            }
            Err(e) => assert!(
                e.to_string().contains("SWITCHBOARD_IDENTITY_KEY"),
                "the error for {bad:?} names the setting: {e}"
            ),
        }
    }
    bot.stop().await;

    // No token: the channel is off and its endpoints are not there.
    let mut server = TestServer::start().await;
    let status = server
        .http
        .post(server.url("/telegram/webhook"))
        .header("content-type", "application/json")
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body(TgUser::new(7110, "en").text("hello").to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 404);
    let op = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let (code, _) = server
        .post("/api/v1/operators/me/telegram-link", &op.token, json!({}))
        .await;
    assert_eq!(code, 404);
    server.stop().await;
}

// 8. The token never leaks.

#[actix_rt::test]
async fn the_bot_token_never_appears_in_public_answers_or_stored_errors() {
    let mut tg = Tg::start().await;
    let sup = tg
        .server
        .add_operator("Sam Super", Role::Supervisor, 5)
        .await;
    let user = TgUser::new(7111, "en");
    let conversation = tg.customer_writes(&user, "Token test").await;
    // Telegram unreachable: a network error names the URL, which holds the token.
    tg.bot.stop().await;
    tg.operator_says(&sup, &conversation, "r1", "Answer during an outage")
        .await;
    assert_eq!(tg.send(&user.text("Anyone there")).await, 200);
    tg.server
        .eventually("the network error is recorded", || async {
            tg.server
                .scalar(&outbox_rows(
                    "Answer during an outage",
                    "error IS NOT NULL AND attempts >= 1",
                ))
                .await
                > 0
        })
        .await;

    let secret_part = TOKEN.split_once(':').unwrap().1;
    let mut bodies = Vec::new();
    for path in ["/api/openapi.json", "/health", "/metrics"] {
        let res = tg
            .server
            .http
            .get(tg.server.url(path))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert!(status == 200, "{path}: {status}");
        bodies.push((path.to_owned(), body));
    }
    let (_, events) = tg
        .server
        .get(
            &format!("/api/v1/conversations/{conversation}/events?limit=100"),
            &sup.token,
        )
        .await;
    bodies.push(("events".into(), events.to_string()));
    let errors = tg
        .server
        .text("SELECT coalesce(string_agg(coalesce(error, ''), ' | '), '') AS value FROM telegram_outbox")
        .await;
    assert!(!errors.is_empty());
    bodies.push(("telegram_outbox.error".into(), errors));
    let state = tg
        .server
        .text("SELECT coalesce(string_agg(key || '=' || value, ' | '), '') AS value FROM telegram_state")
        .await;
    bodies.push(("telegram_state".into(), state));
    for (what, body) in &bodies {
        assert!(!body.contains(TOKEN), "{what} holds the bot token");
        assert!(
            !body.contains(secret_part),
            "{what} holds the token's secret part"
        );
        assert!(!body.contains(SECRET), "{what} holds the webhook secret");
    }
    tg.server.stop().await;
}

// 9. Who may act from the support group.

#[actix_rt::test]
async fn only_linked_operators_act_from_the_group_and_only_on_what_is_theirs() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let alice = s.add_operator("Alice Agent", Role::Agent, 5).await;
    let bob = s.add_operator("Bob Agent", Role::Agent, 5).await;
    let alice_tg = TgUser::new(9201, "en");
    let bob_tg = TgUser::new(9202, "en");
    let stranger = TgUser::new(9203, "en");
    tg.link(&alice, &alice_tg).await;
    tg.link(&bob, &bob_tg).await;

    let user = TgUser::new(7112, "en");
    let conversation = tg.customer_writes(&user, "My parcel is lost").await;
    let post = tg.post_of(&conversation).await;

    // An unlinked member of the group: an alert, and nothing changes.
    let press = stranger.press(&format!("take:{conversation}"), Some(group_chat()), post);
    let query_id = press["callback_query"]["id"].clone();
    assert_eq!(tg.send(&press).await, 200);
    let calls = tg
        .bot
        .wait_for("the stranger's press is answered", |calls| {
            calls.iter().any(|c| {
                c.method == "answercallbackquery" && c.body["callback_query_id"] == query_id
            })
        })
        .await;
    let answer = calls
        .iter()
        .find(|c| c.method == "answercallbackquery" && c.body["callback_query_id"] == query_id)
        .unwrap();
    assert_eq!(answer.body["show_alert"], true, "{:?}", answer.body);
    assert!(
        answer.body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Link"),
        "{:?}",
        answer.body
    );
    tg.settled().await;
    assert_eq!(s.assignee(&conversation).await, None);

    assert_eq!(
        tg.send(&stranger.group_reply(post, "I am not staff")).await,
        200
    );
    tg.settled().await;
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM events WHERE body = 'I am not staff'")
            .await,
        0
    );

    // A linked agent takes it.
    let press = alice_tg.press(&format!("take:{conversation}"), Some(group_chat()), post);
    let query_id = press["callback_query"]["id"].clone();
    assert_eq!(tg.send(&press).await, 200);
    s.wait_assignee(&conversation, Some(&alice.id)).await;
    let calls = tg
        .bot
        .wait_for("alice's press is answered", |calls| {
            calls.iter().any(|c| {
                c.method == "answercallbackquery" && c.body["callback_query_id"] == query_id
            })
        })
        .await;
    let answer = calls
        .iter()
        .find(|c| c.method == "answercallbackquery" && c.body["callback_query_id"] == query_id)
        .unwrap();
    assert_ne!(answer.body["show_alert"], true, "{:?}", answer.body);

    // Another agent cannot answer a conversation that is not theirs.
    assert_eq!(
        tg.send(&bob_tg.group_reply(post, "Hijacked answer")).await,
        200
    );
    tg.bot.wait_sent(GROUP, "Not sent:").await;
    tg.settled().await;
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM events WHERE body = 'Hijacked answer'")
            .await,
        0
    );

    // Its assignee can.
    assert_eq!(
        tg.send(&alice_tg.group_reply(post, "Found it, arriving tomorrow"))
            .await,
        200
    );
    let reply = tg
        .bot
        .wait_sent(user.id, "Found it, arriving tomorrow")
        .await;
    assert_eq!(reply.text(), "Live Support: Found it, arriving tomorrow");
    tokio::time::sleep(QUIET).await;
    assert!(
        tg.bot
            .sent_to(user.id)
            .iter()
            .all(|c| !c.text().contains("Hijacked") && !c.text().contains("not staff")),
        "the customer received a refused reply: {:#?}",
        tg.bot.sent_to(user.id)
    );
    tg.stop().await;
}

// The queue notice, told once.

#[actix_rt::test]
async fn a_new_ticket_tells_the_customer_their_place_in_the_queue_once() {
    let tg = Tg::start().await;
    let user = TgUser::new(7113, "en");
    tg.customer_writes(&user, "Is anyone there").await;
    tg.settled().await;
    tg.outbox_quiet().await;
    let told: Vec<String> = tg
        .bot
        .sent_to(user.id)
        .iter()
        .map(BotCall::text)
        .filter(|t| t.contains("Your place in the queue"))
        .collect();
    assert_eq!(
        told.len(),
        1,
        "the place did not change, yet the customer was told it again: {told:#?}"
    );
    tg.stop().await;
}
