//! The satisfaction survey in Telegram end to end: a resolved conversation's message carries
//! buttons 1–5, a press by its customer rates it, the next text is the rating's comment (not
//! a reopened conversation), and ratings from the widget and from Telegram count alike in
//! CSAT, overall, per operator and per group.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fake_bot::BotCall;
use common::telegram::{group_chat, telegram_config, Tg, TgUser, GROUP};
use common::{test_config, Operator, TestDb, TestServer};
use serde_json::{json, Value};
use switchboard::domain::Role;

/// A short pause to prove that something does NOT happen.
const QUIET: Duration = Duration::from_millis(400);

fn close_to(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-3)
}

/// `op` takes the conversation and resolves it; the customer's "resolved" message, once sent.
async fn resolve(tg: &Tg, op: &Operator, user: &TgUser, conversation: &str) -> BotCall {
    let (code, body) = tg
        .server
        .post(
            &format!("/api/v1/conversations/{conversation}/resolve"),
            &op.token,
            json!({}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let rating_buttons = |c: &BotCall| {
        c.method == "sendmessage"
            && c.chat() == Some(user.id)
            && c.buttons().iter().any(|b| b.contains(conversation))
    };
    tg.bot
        .wait_for("the customer is asked for a rating", |calls| {
            calls.iter().any(rating_buttons)
        })
        .await
        .into_iter()
        .find(rating_buttons)
        .unwrap()
}

/// A customer's first message opens their ticket (in any language); its conversation.
async fn customer_writes(tg: &Tg, user: &TgUser, text: &str) -> String {
    assert_eq!(tg.send(&user.text(text)).await, 200);
    tg.bot.wait_sent(GROUP, text).await;
    tg.bot.wait_sent(user.id, "SUPP-").await;
    tg.conversation_of_latest().await
}

/// The customer's Telegram conversation, taken by `op` and resolved.
async fn resolved_conversation(tg: &Tg, op: &Operator, user: &TgUser, text: &str) -> String {
    let conversation = customer_writes(tg, user, text).await;
    tg.take(op, &conversation).await;
    resolve(tg, op, user, &conversation).await;
    conversation
}

async fn rating(tg: &Tg, conversation: &str) -> Option<i64> {
    let sql = format!(
        "SELECT count(*) AS n FROM conversations WHERE id = '{conversation}' AND rating IS NOT NULL"
    );
    if tg.server.scalar(&sql).await == 0 {
        return None;
    }
    Some(
        tg.server
            .scalar(&format!(
                "SELECT rating::bigint AS n FROM conversations WHERE id = '{conversation}'"
            ))
            .await,
    )
}

async fn comment(tg: &Tg, conversation: &str) -> String {
    tg.server
        .text(&format!(
            "SELECT coalesce(rating_comment, '<none>') AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await
}

async fn status(tg: &Tg, conversation: &str) -> String {
    tg.server
        .text(&format!(
            "SELECT status AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await
}

fn answers(calls: &[BotCall]) -> Vec<BotCall> {
    calls
        .iter()
        .filter(|c| c.method == "answercallbackquery")
        .cloned()
        .collect()
}

/// Sends `press` and waits for its answer (every press is answered); the answer.
async fn press(tg: &Tg, press: Value) -> BotCall {
    let id = press["callback_query"]["id"].as_str().unwrap().to_owned();
    assert_eq!(tg.send(&press).await, 200);
    let calls = tg
        .bot
        .wait_for("the press is answered", |calls| {
            answers(calls)
                .iter()
                .any(|c| c.body["callback_query_id"] == id.as_str())
        })
        .await;
    answers(&calls)
        .into_iter()
        .find(|c| c.body["callback_query_id"] == id.as_str())
        .unwrap()
}

async fn stats(tg: &Tg, sup: &Operator) -> Value {
    let (code, stats) = tg.server.get("/api/v1/stats", &sup.token).await;
    assert_eq!(code, 200, "{stats}");
    stats
}

/// How many messages to `chat` contain `needle`.
fn sent_count(tg: &Tg, chat: i64, needle: &str) -> usize {
    tg.bot
        .sent_to(chat)
        .iter()
        .filter(|c| c.text().contains(needle))
        .count()
}

#[actix_rt::test]
async fn a_press_rates_and_the_next_message_is_a_comment_not_a_reopening() {
    let tg = Tg::start().await;
    let ann = tg.server.add_operator("Ann Agent", Role::Agent, 5).await;
    let sup = tg
        .server
        .add_operator("Sam Super", Role::Supervisor, 0)
        .await;
    let user = TgUser::new(7201, "en");
    let conversation = tg.customer_writes(&user, "My order is late").await;
    tg.take(&ann, &conversation).await;
    let resolved = resolve(&tg, &ann, &user, &conversation).await;

    // Five buttons under the "resolved" message, each naming the conversation and a score.
    let expected: Vec<String> = (1..=5)
        .map(|n| format!("rate:{conversation}:{n}"))
        .collect();
    assert_eq!(resolved.buttons(), expected);
    assert!(resolved.buttons().iter().all(|b| b.len() <= 64));
    assert!(
        resolved.text().contains("Rate our help from 1 to 5"),
        "{}",
        resolved.text()
    );

    let answer = press(
        &tg,
        user.press(&format!("rate:{conversation}:4"), None, 901),
    )
    .await;
    assert!(
        answer.body.get("show_alert").is_none(),
        "accepted quietly: {answer:?}"
    );
    assert_eq!(rating(&tg, &conversation).await, Some(4));
    let figures = stats(&tg, &sup).await;
    assert_eq!(figures["csat"]["count"], 1, "{figures}");
    assert!(close_to(&figures["csat"]["average"], 4.0), "{figures}");
    // The message shows the score given; its buttons stay, the choice marked.
    let edit = tg
        .bot
        .wait_for("the rated message is edited", |calls| {
            calls
                .iter()
                .any(|c| c.method == "editmessagetext" && c.chat() == Some(user.id))
        })
        .await
        .into_iter()
        .find(|c| c.method == "editmessagetext" && c.chat() == Some(user.id))
        .unwrap();
    assert_eq!(edit.body["message_id"], 901);
    assert!(
        edit.text().contains("Your rating: 4 of 5"),
        "{}",
        edit.text()
    );
    assert_eq!(edit.buttons(), expected);
    let marked = edit
        .body
        .pointer("/reply_markup/inline_keyboard/0/3/text")
        .and_then(Value::as_str)
        .unwrap();
    assert!(marked.starts_with('✅'), "{marked}");
    tg.bot
        .wait_sent(
            user.id,
            "Thank you! If you want, write a comment as your next message, or send /skip.",
        )
        .await;

    // The next text is the comment: stored with the rating, and the conversation stays
    // resolved (nothing new in it, nothing posted to the group).
    let events_before = tg.server.event_count(&conversation).await;
    assert_eq!(tg.send(&user.text("Quick and kind, thanks")).await, 200);
    tg.bot
        .wait_sent(user.id, "Thank you for your feedback!")
        .await;
    assert_eq!(comment(&tg, &conversation).await, "Quick and kind, thanks");
    assert_eq!(rating(&tg, &conversation).await, Some(4));
    assert_eq!(status(&tg, &conversation).await, "resolved");
    assert_eq!(tg.server.event_count(&conversation).await, events_before);
    tokio::time::sleep(QUIET).await;
    assert_eq!(sent_count(&tg, GROUP, "Quick and kind"), 0);

    // The comment was the one awaited: the message after it reopens the conversation.
    assert_eq!(tg.send(&user.text("Actually, one more thing")).await, 200);
    tg.bot.wait_sent(GROUP, "Actually, one more thing").await;
    assert_eq!(tg.conversation_of_latest().await, conversation);
    assert_ne!(status(&tg, &conversation).await, "resolved");

    // Reopened, it cannot be rated: the customer is told why, and nothing changes.
    let refused = press(
        &tg,
        user.press(&format!("rate:{conversation}:1"), None, 901),
    )
    .await;
    assert_eq!(refused.body["show_alert"], true, "{refused:?}");
    assert!(refused.text().contains("open again"), "{}", refused.text());
    assert_eq!(rating(&tg, &conversation).await, Some(4));
    tg.stop().await;
}

#[actix_rt::test]
async fn skip_ends_the_survey_without_a_comment() {
    let tg = Tg::start().await;
    let ann = tg.server.add_operator("Ann Agent", Role::Agent, 5).await;
    let user = TgUser::new(7202, "ru");
    let conversation = resolved_conversation(&tg, &ann, &user, "Не работает оплата").await;
    let resolved = tg.bot.wait_sent(user.id, "решено").await;
    assert!(
        resolved.text().contains("Оцените нашу помощь"),
        "{}",
        resolved.text()
    );
    press(
        &tg,
        user.press(&format!("rate:{conversation}:5"), None, 902),
    )
    .await;
    // In the customer's language.
    tg.bot.wait_sent(user.id, "отправьте /skip").await;
    assert_eq!(tg.send(&user.text("/skip")).await, 200);
    tg.bot.wait_sent(user.id, "Комментарий не обязателен").await;
    assert_eq!(rating(&tg, &conversation).await, Some(5));
    assert_eq!(comment(&tg, &conversation).await, "<none>");
    assert_eq!(status(&tg, &conversation).await, "resolved");
    // After /skip a message is a message again: it reopens the conversation.
    assert_eq!(tg.send(&user.text("Ещё вопрос")).await, 200);
    tg.bot.wait_sent(GROUP, "Ещё вопрос").await;
    assert_ne!(status(&tg, &conversation).await, "resolved");
    assert_eq!(comment(&tg, &conversation).await, "<none>");
    tg.stop().await;
}

#[actix_rt::test]
async fn a_second_press_replaces_the_first_and_strangers_and_forgeries_change_nothing() {
    let tg = Tg::start().await;
    let ann = tg.server.add_operator("Ann Agent", Role::Agent, 5).await;
    let user = TgUser::new(7203, "en");
    let other = TgUser::new(7204, "en");
    let conversation = resolved_conversation(&tg, &ann, &user, "Refund please").await;
    let others = tg.customer_writes(&other, "My own question").await;

    press(
        &tg,
        user.press(&format!("rate:{conversation}:4"), None, 903),
    )
    .await;
    assert_eq!(rating(&tg, &conversation).await, Some(4));
    press(
        &tg,
        user.press(&format!("rate:{conversation}:2"), None, 903),
    )
    .await;
    assert_eq!(rating(&tg, &conversation).await, Some(2));

    // Another Telegram user (a known customer, and one never seen) pressing its buttons is
    // refused politely.
    let stranger = TgUser::new(7299, "en");
    for who in [&other, &stranger] {
        let refused = press(&tg, who.press(&format!("rate:{conversation}:5"), None, 903)).await;
        assert_eq!(refused.body["show_alert"], true, "{refused:?}");
        assert!(
            refused.text().contains("Only the customer of this ticket"),
            "{}",
            refused.text()
        );
    }
    assert_eq!(rating(&tg, &conversation).await, Some(2));
    // The stranger was not made a customer by pressing.
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM channel_identities")
            .await,
        2
    );

    // Forged data: answered, never stored, never a crash.
    let forged = [
        "rate:not-a-uuid:4".to_owned(),
        format!("rate:{conversation}:9"),
        format!("rate:{conversation}:0"),
        format!("rate:{conversation}:-3"),
        format!("rate:{conversation}:5:5"),
        format!("rate:{conversation}"),
        "rate:".to_owned(),
        format!("rate:{}:3", uuid::Uuid::now_v7()),
        // Someone else's conversation (not resolved either).
        format!("rate:{others}:5"),
        format!("rate:{}:5", "x".repeat(300)),
    ];
    for data in &forged {
        press(&tg, user.press(data, None, 903)).await;
    }
    // In the support group, a rating button means nothing.
    press(
        &tg,
        user.press(&format!("rate:{conversation}:5"), Some(group_chat()), 903),
    )
    .await;
    tg.settled().await;
    assert_eq!(rating(&tg, &conversation).await, Some(2));
    assert_eq!(
        tg.server
            .scalar(&format!(
                "SELECT count(*) AS n FROM conversations WHERE id = '{others}' AND rating IS NOT NULL"
            ))
            .await,
        0
    );
    assert_eq!(status(&tg, &others).await, "pending");
    let (code, _) = tg.server.get("/health", "").await;
    assert_eq!(code, 200);
    // The survey still works after all that.
    assert_eq!(tg.send(&user.text("Slow, but fine")).await, 200);
    tg.bot
        .wait_sent(user.id, "Thank you for your feedback!")
        .await;
    assert_eq!(comment(&tg, &conversation).await, "Slow, but fine");
    assert_eq!(rating(&tg, &conversation).await, Some(2));
    tg.stop().await;
}

#[actix_rt::test]
async fn an_awaited_comment_survives_a_restart() {
    let mut tg = Tg::start().await;
    let ann = tg.server.add_operator("Ann Agent", Role::Agent, 5).await;
    let user = TgUser::new(7205, "en");
    let conversation = resolved_conversation(&tg, &ann, &user, "Broken zipper").await;
    press(
        &tg,
        user.press(&format!("rate:{conversation}:3"), None, 905),
    )
    .await;
    tg.bot.wait_sent(user.id, "or send /skip").await;
    tg.settled().await;

    tg.server.stop().await;
    let db = TestDb {
        name: tg.server.db.name.clone(),
        url: tg.server.db.url.clone(),
    };
    let config = telegram_config(test_config(&db.url), &tg.bot, &tg.key);
    tg.server = TestServer::start_on(db, config).await;

    assert_eq!(tg.send(&user.text("Fixed in the end")).await, 200);
    tg.bot
        .wait_sent(user.id, "Thank you for your feedback!")
        .await;
    assert_eq!(comment(&tg, &conversation).await, "Fixed in the end");
    assert_eq!(status(&tg, &conversation).await, "resolved");
    tg.stop().await;
}

#[actix_rt::test]
async fn a_customer_back_in_an_open_ticket_is_not_asked_for_a_comment() {
    let tg = Tg::start().await;
    let ann = tg.server.add_operator("Ann Agent", Role::Agent, 5).await;
    let user = TgUser::new(7206, "en");
    let conversation = resolved_conversation(&tg, &ann, &user, "Wrong size").await;
    press(
        &tg,
        user.press(&format!("rate:{conversation}:5"), None, 906),
    )
    .await;
    tg.bot.wait_sent(user.id, "or send /skip").await;
    // The operator reopens it: the customer's next message is for support, not a comment.
    let (code, body) = tg
        .server
        .post(
            &format!("/api/v1/conversations/{conversation}/reopen"),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(tg.send(&user.text("Still wrong, sorry")).await, 200);
    tg.bot.wait_sent(GROUP, "Still wrong, sorry").await;
    assert_eq!(comment(&tg, &conversation).await, "<none>");
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM telegram_surveys")
            .await,
        0
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn widget_and_telegram_ratings_count_alike_in_csat_per_operator_and_group() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let ann = s.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = s.add_operator("Bob Agent", Role::Agent, 5).await;
    let sup = s.add_operator("Sam Super", Role::Supervisor, 0).await;

    // Nothing rated yet: CSAT is null, not 0.
    let empty = stats(&tg, &sup).await;
    assert_eq!(empty["csat"]["count"], 0);
    assert!(empty["csat"]["share"].is_null(), "{empty}");
    assert!(empty["groups"][0]["csat_share"].is_null(), "{empty}");

    // A web visitor rates Ann's help 5 with the widget's `rate` frame.
    let widget = s.open_chat("Hello from the website").await;
    let web = widget.conversation_id.clone();
    tg.take(&ann, &web).await;
    let (code, body) = s
        .post(
            &format!("/api/v1/conversations/{web}/resolve"),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (mut visitor, _) = s.visitor(&widget, None).await;
    visitor
        .send(json!({"type": "rate", "score": 5, "comment": "great"}))
        .await;
    assert_eq!(visitor.recv_type("rated").await["score"], 5);

    // Two Telegram customers rate Ann's help 4 and 2.
    for (id, score) in [(7207, 4), (7208, 2)] {
        let user = TgUser::new(id, "en");
        let conversation = resolved_conversation(&tg, &ann, &user, "Help me").await;
        press(
            &tg,
            user.press(&format!("rate:{conversation}:{score}"), None, 907),
        )
        .await;
        assert_eq!(rating(&tg, &conversation).await, Some(score));
    }

    let figures = stats(&tg, &sup).await;
    let csat = &figures["csat"];
    assert_eq!(csat["count"], 3, "{figures}");
    assert_eq!(csat["satisfied"], 2, "{figures}");
    assert!(close_to(&csat["share"], 2.0 / 3.0), "{figures}");
    assert!(close_to(&csat["average"], 11.0 / 3.0), "{figures}");
    let row = |id: &str| {
        figures["operators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == id)
            .cloned()
            .unwrap()
    };
    let ann_row = row(&ann.id);
    assert_eq!(ann_row["rated"], 3, "{ann_row}");
    assert_eq!(ann_row["satisfied"], 2, "{ann_row}");
    assert!(close_to(&ann_row["csat_share"], 2.0 / 3.0), "{ann_row}");
    assert!(close_to(&ann_row["csat"], 11.0 / 3.0), "{ann_row}");
    let bob_row = row(&bob.id);
    assert_eq!(bob_row["rated"], 0);
    assert!(bob_row["csat_share"].is_null(), "{bob_row}");
    let groups = figures["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{figures}");
    let default = &groups[0];
    assert_eq!(default["handled"], 3, "{default}");
    assert_eq!(default["rated"], 3, "{default}");
    assert_eq!(default["satisfied"], 2, "{default}");
    assert!(close_to(&default["csat_share"], 2.0 / 3.0), "{default}");
    assert!(close_to(&default["average"], 11.0 / 3.0), "{default}");
    tg.stop().await;
}

#[actix_rt::test]
async fn a_long_comment_is_cut_to_what_the_conversation_keeps() {
    let tg = Tg::start().await;
    let ann = tg.server.add_operator("Ann Agent", Role::Agent, 5).await;
    let user = TgUser::new(7209, "en");
    let conversation = resolved_conversation(&tg, &ann, &user, "Long story").await;
    press(
        &tg,
        user.press(&format!("rate:{conversation}:1"), None, 909),
    )
    .await;
    tg.bot.wait_sent(user.id, "or send /skip").await;
    let long = "very bad ".repeat(300);
    assert_eq!(tg.send(&user.text(&long)).await, 200);
    tg.bot
        .wait_sent(user.id, "Thank you for your feedback!")
        .await;
    let kept = comment(&tg, &conversation).await;
    assert_eq!(kept.chars().count(), 1000);
    assert!(long.starts_with(&kept));
    assert_eq!(rating(&tg, &conversation).await, Some(1));
    assert_eq!(status(&tg, &conversation).await, "resolved");
    tg.stop().await;
}
